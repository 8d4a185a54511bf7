/*
 * queue_file.c - parse queue files and append status records (see queue_file.h).
 *
 * Used by the queue runner (relay/queue/queue.c, always through the worker pool for the I/O
 * functions) and by posternctl, which reads the spool directly. The parsers take bytes and
 * never touch a file; the loader reads the envelope in growing chunks until the "data" line,
 * then the records after the message with one pread.
 */
#include "relay/queue/queue_file.h"

#include "lib/xalloc.h"
#include "policy/result_record.h"
#include "relay/spool/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QF_READ_CHUNK    16384
#define QF_ENVELOPE_MAX  (64u << 20)   /* 100000 recipients of 320 bytes fit comfortably */
#define QF_RECORDS_MAX   (64u << 20)

/* ---- envelope ---------------------------------------------------------------------------- */

static void set_str(char **field, const char *v, size_t n)
{
    free(*field);
    *field = xstrndup(v, n);
}

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;
    if (n == 0 || n > 20)
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

static void add_rcpt(struct queue_file *qf, const char *v, size_t n)
{
    if ((qf->nrcpt & (qf->nrcpt - 1)) == 0) /* 0, 1, 2, 4, ...: grow to the next power */
        qf->rcpts = xrealloc(qf->rcpts, (qf->nrcpt ? qf->nrcpt * 2 : 1) * sizeof(*qf->rcpts));
    memset(&qf->rcpts[qf->nrcpt], 0, sizeof(*qf->rcpts));
    qf->rcpts[qf->nrcpt++].addr = xstrndup(v, n);
}

enum qf_parse queue_file_parse_envelope(const char *buf, size_t len, struct queue_file *qf,
                                        size_t *env_len, const char **why)
{
    size_t pos = 0, magic = strlen(SPOOL_MAGIC);
    bool have_size = false;
    uint64_t size = 0;

    *why = NULL;
    if (len < magic + 1) {
        if (memcmp(buf, SPOOL_MAGIC, len < magic ? len : magic) == 0)
            return QF_PARSE_MORE;
        *why = "not a queue file";
        return QF_PARSE_BAD;
    }
    if (memcmp(buf, SPOOL_MAGIC "\n", magic + 1) != 0) {
        *why = "not a version 1 queue file";
        return QF_PARSE_BAD;
    }
    pos = magic + 1;
    for (;;) {
        const char *line = buf + pos, *nl = memchr(line, '\n', len - pos), *sp;
        size_t n, klen, vlen;
        const char *v;
        if (nl == NULL)
            return QF_PARSE_MORE;
        n = (size_t)(nl - line);
        pos += n + 1;
        if (n == 4 && memcmp(line, "data", 4) == 0)
            break;
        sp = memchr(line, ' ', n);
        if (sp == NULL) {
            *why = "envelope line without a value";
            return QF_PARSE_BAD;
        }
        klen = (size_t)(sp - line);
        v = sp + 1;
        vlen = n - klen - 1;
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(line, k, klen) == 0)
        if (KEY("size")) {
            if (parse_u64(v, vlen, &size) < 0) {
                *why = "bad size";
                return QF_PARSE_BAD;
            }
            have_size = true;
        } else if (KEY("id")) {
            if (vlen >= QID_MAX) {
                *why = "bad id";
                return QF_PARSE_BAD;
            }
            memcpy(qf->qid, v, vlen);
            qf->qid[vlen] = '\0';
        } else if (KEY("time")) {
            char tmp[40];
            snprintf(tmp, sizeof(tmp), "%.*s", (int)(vlen < 39 ? vlen : 39), v);
            qf->arrival = strtod(tmp, NULL);
        } else if (KEY("client")) {
            set_str(&qf->client, v, vlen);
        } else if (KEY("client_name")) {
            set_str(&qf->client_name, v, vlen);
        } else if (KEY("helo")) {
            set_str(&qf->helo, v, vlen);
        } else if (KEY("listener")) {
            set_str(&qf->listener, v, vlen);
        } else if (KEY("profile")) {
            set_str(&qf->profile, v, vlen);
        } else if (KEY("proto")) {
            set_str(&qf->proto, v, vlen);
        } else if (KEY("auth")) {
            set_str(&qf->auth, v, vlen);
        } else if (KEY("body")) {
            set_str(&qf->body, v, vlen);
        } else if (KEY("smtputf8")) {
            qf->smtputf8 = vlen == 1 && v[0] == '1';
        } else if (KEY("from")) {
            set_str(&qf->sender, v, vlen);
        } else if (KEY("rcpt")) {
            add_rcpt(qf, v, vlen);
        }
        /* other keys: written by a newer version, not needed for delivery */
#undef KEY
    }
    if (!have_size || qf->sender == NULL || qf->nrcpt == 0 || qf->qid[0] == '\0') {
        *why = !have_size ? "no size" : qf->sender == NULL ? "no sender"
               : qf->nrcpt == 0 ? "no recipient" : "no id";
        return QF_PARSE_BAD;
    }
    if (size > QF_MSG_SIZE_MAX) { /* also keeps msg_offset + msg_size from overflowing */
        *why = "bad size";
        return QF_PARSE_BAD;
    }
    *env_len = pos;
    qf->msg_offset = pos;
    qf->msg_size = size;
    return QF_PARSE_OK;
}

/* ---- records ----------------------------------------------------------------------------- */

/* Split the next space-separated word off [*p, end). */
static bool word(const char **p, const char *end, const char **w, size_t *n)
{
    const char *s = *p, *e;
    if (s >= end)
        return false;
    e = memchr(s, ' ', (size_t)(end - s));
    if (e == NULL)
        e = end;
    *w = s;
    *n = (size_t)(e - s);
    *p = e < end ? e + 1 : end;
    return *n > 0;
}

static bool word_num(const char **p, const char *end, uint64_t *out)
{
    const char *w;
    size_t n;
    return word(p, end, &w, &n) && parse_u64(w, n, out) == 0;
}

static bool apply_rcpt(struct queue_file *qf, enum qf_state state, bool deferred,
                       const char *p, const char *end)
{
    uint64_t idx, t;
    const char *dsn, *relay;
    size_t dlen, rlen;
    struct qf_rcpt *r;

    if (!word_num(&p, end, &idx) || !word_num(&p, end, &t) || !word(&p, end, &dsn, &dlen) ||
        !word(&p, end, &relay, &rlen) || idx >= qf->nrcpt || dlen >= QF_DSN_MAX)
        return false;
    r = &qf->rcpts[idx];
    if (r->state != QF_PENDING && deferred)
        return true; /* a late "deferred" never reopens a final recipient */
    r->state = state;
    r->deferred = deferred;
    r->time = (long long)t;
    memcpy(r->dsn, dsn, dlen);
    r->dsn[dlen] = '\0';
    set_str(&r->relay, relay, rlen);
    set_str(&r->text, p, (size_t)(end - p));
    return true;
}

static bool apply_line(struct queue_file *qf, const char *line, size_t n)
{
    const char *p = line, *end = line + n, *kind;
    size_t klen;
    uint64_t a, b;

    if (!word(&p, end, &kind, &klen))
        return false;
#define IS(k) (klen == sizeof(k) - 1 && memcmp(kind, k, klen) == 0)
    if (IS("done"))
        return apply_rcpt(qf, QF_DONE, false, p, end);
    if (IS("bounced"))
        return apply_rcpt(qf, QF_BOUNCED, false, p, end);
    if (IS("deferred"))
        return apply_rcpt(qf, QF_PENDING, true, p, end);
    if (IS("policy")) {
        struct rcpt_result *res = xcalloc(1, sizeof(*res));
        if (result_record_parse(line, n, res) < 0 || res->rcpt >= qf->nrcpt) {
            rcpt_result_clear(res);
            free(res);
            return false;
        }
        if (qf->rcpts[res->rcpt].policy) {
            rcpt_result_clear(qf->rcpts[res->rcpt].policy);
            free(qf->rcpts[res->rcpt].policy);
        }
        qf->rcpts[res->rcpt].policy = res;
        return true;
    }
    if (IS("released")) {
        if (!word_num(&p, end, &a) || !word_num(&p, end, &b) || a >= qf->nrcpt)
            return false;
        qf->rcpts[a].released = true;
        return true;
    }
    if (IS("verp")) {
        const char *addr;
        size_t alen;
        if (!word_num(&p, end, &a) || a >= qf->nrcpt || !word(&p, end, &addr, &alen) ||
            p != end)
            return false;
        set_str(&qf->rcpts[a].verp, addr, alen);
        return true;
    }
    if (IS("sender_auth")) {
        const char *how;
        size_t hlen;
        if (!word(&p, end, &how, &hlen) || hlen >= sizeof(qf->sender_auth))
            return false;
        memcpy(qf->sender_auth, how, hlen);
        qf->sender_auth[hlen] = '\0';
        return true;
    }
    if (IS("try")) {
        if (!word_num(&p, end, &a) || !word_num(&p, end, &b))
            return false;
        qf->tries = (unsigned)a;
        qf->next_try = (long long)b;
        return true;
    }
    if (IS("suspended") || IS("unsuspended")) {
        if (!word_num(&p, end, &a) || a > INT64_MAX)
            return false;
        if (IS("suspended") && !qf->suspended) {
            qf->suspended = true;
            qf->suspended_since = (long long)a;
        } else if (IS("unsuspended") && qf->suspended) {
            if ((long long)a > qf->suspended_since)
                qf->suspended_s += (long long)a - qf->suspended_since;
            qf->suspended = false;
        }
        return true;
    }
    if (IS("hold") || IS("release") || IS("warned")) {
        if (!word_num(&p, end, &a))
            return false;
        if (IS("warned"))
            qf->warned = true;
        else
            qf->held = IS("hold");
        return true;
    }
#undef IS
    return false;
}

void queue_file_apply_records(struct queue_file *qf, const char *buf, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t n;
        if (nl == NULL)
            break; /* cut by a crash: ignored */
        n = (size_t)(nl - (buf + pos));
        if (n > 0 && !apply_line(qf, buf + pos, n))
            qf->bad_records++;
        pos += n + 1;
    }
}

bool queue_file_rcpt_held(const struct qf_rcpt *r)
{
    return r->state == QF_PENDING && r->policy && !r->released &&
           r->policy->disp == DISP_QUARANTINE;
}

char *queue_file_rec_released(size_t idx, long long t)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "released %zu %lld\n", idx, t);
    return xstrdup(buf);
}

size_t queue_file_pending(const struct queue_file *qf)
{
    size_t i, n = 0;
    for (i = 0; i < qf->nrcpt; i++)
        n += qf->rcpts[i].state == QF_PENDING;
    return n;
}

/* Copy src into dst (dst_len bytes) as one record word or text: printable ASCII only,
 * spaces allowed only when text is true. */
static void clean(char *dst, size_t dst_len, const char *src, bool text)
{
    size_t i = 0;
    for (; src && *src && i + 1 < dst_len; src++) {
        unsigned char c = (unsigned char)*src;
        dst[i++] = (c < 0x20 || c > 0x7e || (c == ' ' && !text)) ? '?' : (char)c;
    }
    dst[i] = '\0';
}

char *queue_file_rec_rcpt(const char *kind, size_t idx, long long t, const char *dsn,
                          const char *relay, const char *text)
{
    char d[QF_DSN_MAX], r[QF_RELAY_MAX], x[QF_TEXT_MAX];
    clean(d, sizeof(d), dsn && *dsn ? dsn : "4.0.0", false);
    clean(r, sizeof(r), relay && *relay ? relay : "none", false);
    clean(x, sizeof(x), text && *text ? text : "-", true);
    return xasprintf("%s %zu %lld %s %s %s\n", kind, idx, t, d, r, x);
}

char *queue_file_rec_try(unsigned count, long long next)
{
    return xasprintf("try %u %lld\n", count, next);
}

char *queue_file_rec_mark(const char *kind, long long t)
{
    return xasprintf("%s %lld\n", kind, t);
}

long long queue_file_age(const struct queue_file *qf, long long now)
{
    long long age = now - (long long)qf->arrival - qf->suspended_s;

    if (qf->suspended && now > qf->suspended_since)
        age -= now - qf->suspended_since;
    return age;
}

const char *queue_file_rcpt_sender(const struct queue_file *qf, size_t idx)
{
    return qf->rcpts[idx].verp ? qf->rcpts[idx].verp : qf->sender;
}


void queue_file_free(struct queue_file *qf)
{
    size_t i;
    if (qf == NULL)
        return;
    for (i = 0; i < qf->nrcpt; i++) {
        free(qf->rcpts[i].addr);
        free(qf->rcpts[i].relay);
        free(qf->rcpts[i].text);
        free(qf->rcpts[i].verp);
        if (qf->rcpts[i].policy) {
            rcpt_result_clear(qf->rcpts[i].policy);
            free(qf->rcpts[i].policy);
        }
    }
    free(qf->rcpts);
    free(qf->client);
    free(qf->client_name);
    free(qf->helo);
    free(qf->listener);
    free(qf->profile);
    free(qf->proto);
    free(qf->auth);
    free(qf->body);
    free(qf->sender);
    free(qf);
}

/* ---- I/O --------------------------------------------------------------------------------- */

static ssize_t pread_full(int fd, char *buf, size_t n, off_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, off + (off_t)got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

struct queue_file *queue_file_load(int dirfd, const char *qid, int *fd_out)
{
    struct queue_file *qf = xcalloc(1, sizeof(*qf));
    size_t cap = QF_READ_CHUNK, len = 0, env_len = 0;
    char *buf = xmalloc(cap);
    const char *why;
    struct stat st;
    int fd, e = EINVAL;
    enum qf_parse st_parse = QF_PARSE_MORE;

    fd = openat(dirfd, qid, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        e = errno;
        goto fail;
    }
    while (st_parse == QF_PARSE_MORE) {
        ssize_t r;
        if (len == cap) {
            if (cap >= QF_ENVELOPE_MAX)
                goto fail;
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        r = pread_full(fd, buf + len, cap - len, (off_t)len);
        if (r < 0) {
            e = errno;
            goto fail;
        }
        if (r == 0)
            goto fail; /* EOF before the "data" line */
        len += (size_t)r;
        st_parse = queue_file_parse_envelope(buf, len, qf, &env_len, &why);
        if (st_parse == QF_PARSE_MORE) {
            /* a fresh parse of the longer buffer: drop what the partial one collected */
            struct queue_file *fresh = xcalloc(1, sizeof(*fresh));
            queue_file_free(qf);
            qf = fresh;
        }
    }
    if (st_parse != QF_PARSE_OK)
        goto fail;
    if ((uint64_t)st.st_size > qf->msg_offset + qf->msg_size) {
        uint64_t rlen = (uint64_t)st.st_size - qf->msg_offset - qf->msg_size;
        char *recs;
        ssize_t r;
        if (rlen > QF_RECORDS_MAX)
            rlen = QF_RECORDS_MAX;
        recs = xmalloc((size_t)rlen);
        r = pread_full(fd, recs, (size_t)rlen, (off_t)(qf->msg_offset + qf->msg_size));
        if (r > 0)
            queue_file_apply_records(qf, recs, (size_t)r);
        free(recs);
    } else if ((uint64_t)st.st_size < qf->msg_offset + qf->msg_size) {
        goto fail; /* truncated: never produced by the spool */
    }
    free(buf);
    if (fd_out)
        *fd_out = fd;
    else
        close(fd);
    return qf;
fail:
    free(buf);
    queue_file_free(qf);
    if (fd >= 0)
        close(fd);
    errno = e;
    return NULL;
}

int queue_file_append(int dirfd, const char *qid, const char *recs, size_t len)
{
    int fd = openat(dirfd, qid, O_WRONLY | O_APPEND | O_CLOEXEC), e;
    struct stat st;
    char last;
    size_t off = 0;

    if (fd < 0)
        return -1;
    /* A record cut by a crash: end it, so that ours starts on a line of its own. */
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        int rfd = openat(dirfd, qid, O_RDONLY | O_CLOEXEC);
        if (rfd >= 0) {
            if (pread(rfd, &last, 1, st.st_size - 1) == 1 && last != '\n' &&
                write(fd, "\n", 1) != 1) {
                e = errno;
                close(rfd);
                close(fd);
                errno = e;
                return -1;
            }
            close(rfd);
        }
    }
    while (off < len) {
        ssize_t w = write(fd, recs + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            goto fail;
        }
        off += (size_t)w;
    }
    if (fdatasync(fd) < 0)
        goto fail;
    return close(fd);
fail:
    e = errno;
    close(fd);
    errno = e;
    return -1;
}

int queue_file_remove(int dirfd, const char *qid)
{
    if (unlinkat(dirfd, qid, 0) < 0 && errno != ENOENT)
        return -1;
    return fsync(dirfd);
}

int queue_file_quarantine(int dirfd, int corrupt_fd, const char *qid)
{
    if (renameat(dirfd, qid, corrupt_fd, qid) < 0)
        return -1;
    if (fsync(corrupt_fd) < 0)
        return -1;
    return fsync(dirfd);
}
