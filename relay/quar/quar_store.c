/*
 * quar_store.c - this node's quarantine files (see quar_store.h): writing an entry from a
 * queued message, reading its index fields back, releasing it into the queue in four
 * crash-safe steps, deleting it, and finishing what a crash interrupted.
 *
 * Called on the worker pool by the queue runner (relay/queue/queue.c: entries are made
 * while a message is loaded) and by relay/quar/quar_runner.c (releases, deletes, startup).
 */
#include "relay/quar/quar_store.h"

#include "lib/fileio.h"
#include "lib/header_edit.h"
#include "lib/xalloc.h"
#include "policy/result_record.h"
#include "relay/queue/queue_file.h"
#include "relay/spool/spool.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 65536              /* bytes read for From and Subject */
#define COPY_BUF 65536

int quar_store_open(const char *spool_dir)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", spool_dir, QUAR_STORE_DIR);
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        return -1;
    return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* A growing string (malloc'd p, length len). */
struct qsbuf {
    char *p;
    size_t len;
};

/* Append s and free it. */
static void sb_take(struct qsbuf *b, char *s)
{
    size_t n = strlen(s);

    b->p = xrealloc(b->p, b->len + n + 1);
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
    free(s);
}

static int sync_fd(int fd)
{
    return fsync(fd);
}

/* ---- pure helpers -------------------------------------------------------------------------- */

char *quar_header_value(const char *h, size_t len, const char *name)
{
    size_t nl = strlen(name), i = 0, o = 0;
    char *out = xmalloc(QUAR_FIELD_MAX + 1);

    while (i < len) {
        size_t eol = i;
        while (eol < len && h[eol] != '\n')
            eol++;
        if (eol - i > nl && strncasecmp(h + i, name, nl) == 0 && h[i + nl] == ':') {
            size_t p = i + nl + 1;
            while (p < eol && (h[p] == ' ' || h[p] == '\t'))
                p++;
            for (;;) {
                for (; p < eol && o < QUAR_FIELD_MAX; p++) {
                    unsigned char c = (unsigned char)h[p];
                    if (c == '\r')
                        continue;
                    out[o++] = c < ' ' || c == 0x7f ? ' ' : (char)c;
                }
                /* continuation lines */
                if (eol + 1 < len && (h[eol + 1] == ' ' || h[eol + 1] == '\t')) {
                    p = eol + 1;
                    eol = p;
                    while (eol < len && h[eol] != '\n')
                        eol++;
                    continue;
                }
                break;
            }
            break;
        }
        i = eol + 1;
    }
    out[o] = '\0';
    /* trim */
    {
        char *s = out;
        while (*s == ' ')
            s++;
        memmove(out, s, strlen(s) + 1);
        o = strlen(out);
        while (o > 0 && out[o - 1] == ' ')
            out[--o] = '\0';
    }
    return out;
}

/* The envelope of a one-recipient queue file copied from qf (docs/spool.md). */
static char *envelope_text(const struct queue_file *qf, const char *id, double arrival,
                           const char *rcpt, unsigned long long size)
{
    struct qsbuf b = { 0 };
    char *line;

#define LINE(k, v)                                                                           \
    do {                                                                                     \
        if ((v) != NULL) {                                                                   \
            line = xasprintf("%s %s\n", k, v);                                               \
            sb_take(&b, line);                                                              \
        }                                                                                    \
    } while (0)
    sb_take(&b, xasprintf("%s\nsize %016llu\nid %s\ntime %.6f\n", SPOOL_MAGIC, size, id,
                           arrival));
    LINE("client", qf->client ? qf->client : "127.0.0.1");
    LINE("client_name", qf->client_name ? qf->client_name : "unknown");
    LINE("helo", qf->helo ? qf->helo : "unknown");
    LINE("listener", qf->listener ? qf->listener : "quarantine");
    LINE("profile", qf->profile);
    LINE("proto", qf->proto ? qf->proto : "ESMTP");
    LINE("auth", qf->auth);
    LINE("body", qf->body);
    if (qf->smtputf8)
        LINE("smtputf8", "1");
    sb_take(&b, xasprintf("from %s\n", qf->sender));
    LINE("rcpt", rcpt);
    sb_take(&b, xstrdup("data\n"));
#undef LINE
    return b.p;
}

/* The policy record of r as recipient 0, with disposition disp. */
static char *record_as(const struct rcpt_result *r, enum disposition disp)
{
    struct rcpt_result k = *r;

    k.rcpt = 0;
    k.disp = disp;
    return result_record_format(&k);
}

/* Copy n bytes of src from off into dst. */
static int copy_range(int dst, int src, unsigned long long off, unsigned long long n)
{
    char *buf = xmalloc(COPY_BUF);
    int rc = 0;

    while (n > 0) {
        size_t want = n < COPY_BUF ? (size_t)n : COPY_BUF;
        size_t got = pread_all(src, buf, want, off);
        if (got != want) {
            if (errno == 0)
                errno = EIO;
            rc = -1;
            break;
        }
        if (write_all(dst, buf, got) < 0) {
            rc = -1;
            break;
        }
        off += got;
        n -= got;
    }
    free(buf);
    return rc;
}

/* From and Subject of the message at fd[off, off + size). */
static void read_fields(int fd, unsigned long long off, unsigned long long size,
                        struct quar_entry *e)
{
    size_t n = size < HEAD_MAX ? (size_t)size : HEAD_MAX, flen, body;
    char *h = xmalloc(n + 1);

    n = pread_all(fd, h, n, off);
    hdr_split(h, n, &flen, &body);
    e->from = quar_header_value(h, flen, "From");
    e->subject = quar_header_value(h, flen, "Subject");
    free(h);
}

/* The index fields of recipient idx of qf. */
static void fill_entry(const struct queue_file *qf, int fd, size_t idx, const char *id,
                       long long date, struct quar_entry *e)
{
    const struct rcpt_result *r = qf->rcpts[idx].policy;
    struct qsbuf syms = { 0 };
    size_t i;

    memset(e, 0, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->rcpt = xstrdup(qf->rcpts[idx].addr);
    e->sender = xstrdup(qf->sender);
    read_fields(fd, qf->msg_offset, qf->msg_size, e);
    e->detail = xstrdup(r && r->reason ? r->reason : "");
    for (i = 0; r && i < r->nsyms; i++)
        sb_take(&syms, xasprintf("%s%s(%.2f)", i ? " " : "", r->syms[i].name,
                                  r->syms[i].score));
    e->symbols = syms.p ? syms.p : xstrdup("");
    e->reason = xstrdup(quar_reason_of(e->detail, e->symbols));
    e->node = xstrdup("");
    e->qid = xstrdup(qf->qid);
    e->score = r ? r->score : 0;
    e->date = date;
    e->size = qf->msg_size;
}

/* Write a file in dir: tmp name, contents from the parts, fdatasync, rename to name, fsync
 * dir. fd_out (when not NULL) gets the open descriptor of the new file. */
static int write_durable(int dir, const char *tmp, const char *name, const char *env,
                         int src, unsigned long long off, unsigned long long n,
                         const char *pre, const char *recs)
{
    int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0)
        return -1;
    if (write_all(fd, env, strlen(env)) < 0 || (pre && write_all(fd, pre, strlen(pre)) < 0) ||
        copy_range(fd, src, off, n) < 0 || (recs && write_all(fd, recs, strlen(recs)) < 0) ||
        fdatasync(fd) < 0)
        goto fail;
    close(fd);
    if (renameat(dir, tmp, dir, name) < 0 || sync_fd(dir) < 0) {
        int e = errno;
        unlinkat(dir, tmp, 0);
        errno = e;
        return -1;
    }
    return 0;
fail:
    {
        int e = errno;
        close(fd);
        unlinkat(dir, tmp, 0);
        errno = e;
    }
    return -1;
}

int quar_store_put(int qdir, const struct queue_file *qf, int fd, size_t idx, long long now,
                   struct quar_entry *out)
{
    char id[QUAR_ID_MAX], tmp[QUAR_ID_MAX + 8], *env, *rec;
    int rc;

    snprintf(id, sizeof(id), "%s.%zu", qf->qid, idx);
    snprintf(tmp, sizeof(tmp), "%s.tmp", id);
    env = envelope_text(qf, qf->qid, qf->arrival, qf->rcpts[idx].addr, qf->msg_size);
    rec = qf->rcpts[idx].policy ? record_as(qf->rcpts[idx].policy, DISP_QUARANTINE) : NULL;
    rc = write_durable(qdir, tmp, id, env, fd, qf->msg_offset, qf->msg_size, NULL, rec);
    free(env);
    free(rec);
    if (rc == 0)
        fill_entry(qf, fd, idx, id, now, out);
    return rc;
}

int quar_store_read(int qdir, const char *id, struct quar_entry *out)
{
    struct stat st;
    int fd = -1;
    struct queue_file *qf;

    if (!quar_id_valid(id)) {
        errno = ENOENT;
        return -1;
    }
    qf = queue_file_load(qdir, id, &fd);
    if (qf == NULL)
        return -1;
    if (qf->nrcpt != 1 || fstat(fd, &st) < 0) {
        close(fd);
        queue_file_free(qf);
        errno = EINVAL;
        return -1;
    }
    fill_entry(qf, fd, 0, id, (long long)st.st_mtime, out);
    close(fd);
    queue_file_free(qf);
    return 0;
}

/* An entry's name: QID.IDX (one dot, both parts alphanumeric). */
static bool entry_name(const char *s)
{
    const char *dot = strchr(s, '.');
    return dot && dot != s && dot[1] && strchr(dot + 1, '.') == NULL && quar_id_valid(s);
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a > b && strcmp(s + a - b, suf) == 0;
}

/* Names in dir that pass keep(), or with suffix suf when keep is NULL. */
static char **list_names(int dir, bool (*keep)(const char *), const char *suf, size_t *n)
{
    int fd = dup(dir);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    char **v = NULL;

    *n = 0;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    rewinddir(d);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (keep ? !keep(de->d_name) : !has_suffix(de->d_name, suf))
            continue;
        v = xrealloc(v, (*n + 1) * sizeof(*v));
        v[(*n)++] = xstrdup(de->d_name);
    }
    closedir(d);
    return v;
}

char **quar_store_list(int qdir, size_t *n)
{
    return list_names(qdir, entry_name, NULL, n);
}

/* Steps 3 and 4 for rel ("ENTRY.rel"): the entry goes, the new file joins the queue. */
static int finish_release(int qdir, int queue_dir, const char *rel, char newqid[QID_MAX])
{
    char entry[QUAR_ID_MAX + 8];
    int fd = -1;
    struct queue_file *qf = queue_file_load(qdir, rel, &fd);

    if (qf == NULL)
        return -1;
    close(fd);
    snprintf(newqid, QID_MAX, "%s", qf->qid);
    queue_file_free(qf);
    snprintf(entry, sizeof(entry), "%.*s", (int)(strlen(rel) - 4), rel);
    if (unlinkat(qdir, entry, 0) == 0) {
        if (sync_fd(qdir) < 0)
            return -1;
    } else if (errno != ENOENT) {
        return -1;
    }
    if (getenv(QUAR_TEST_CRASH_ENV) && strcmp(getenv(QUAR_TEST_CRASH_ENV), "1") == 0)
        _exit(137);
    if (renameat(qdir, rel, queue_dir, newqid) < 0 || sync_fd(queue_dir) < 0 ||
        sync_fd(qdir) < 0)
        return -1;
    return 0;
}

int quar_store_release(int qdir, int queue_dir, const char *id, const char *by, long long now,
                       char newqid[QID_MAX])
{
    char tmp[QUAR_ID_MAX + 16], rel[QUAR_ID_MAX + 8], *env, *rec = NULL, *hdr, date[64];
    struct queue_file *qf;
    struct timeval tv;
    struct stat st;
    struct tm tm;
    time_t t = (time_t)now;
    int fd = -1, out, rc;

    if (!entry_name(id)) {
        errno = ENOENT;
        return -1;
    }
    snprintf(rel, sizeof(rel), "%s.rel", id);
    if (faccessat(qdir, rel, F_OK, 0) == 0)       /* decided before a crash */
        return finish_release(qdir, queue_dir, rel, newqid);
    qf = queue_file_load(qdir, id, &fd);
    if (qf == NULL)
        return -1;
    snprintf(tmp, sizeof(tmp), "%s.rel.tmp", id);
    /* the new queue ID comes from the inode of the file that becomes the queue file */
    out = openat(qdir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0 || fstat(out, &st) < 0)
        goto fail;
    gettimeofday(&tv, NULL);
    qid_format(newqid, (uint64_t)tv.tv_sec, (uint32_t)tv.tv_usec, (uint64_t)st.st_ino);
    close(out);
    out = -1;
    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    hdr = xasprintf("X-Postern-Released: from quarantine entry %s by %s; %s\r\n", id, by, date);
    env = envelope_text(qf, newqid, (double)tv.tv_sec + tv.tv_usec / 1e6, qf->rcpts[0].addr,
                        qf->msg_size + strlen(hdr));
    if (qf->rcpts[0].policy)
        rec = record_as(qf->rcpts[0].policy, DISP_PASS);
    rc = write_durable(qdir, tmp, rel, env, fd, qf->msg_offset, qf->msg_size, hdr, rec);
    free(env);
    free(rec);
    free(hdr);
    close(fd);
    queue_file_free(qf);
    if (rc < 0)
        return -1;
    return finish_release(qdir, queue_dir, rel, newqid);
fail:
    {
        int e = errno;
        if (out >= 0)
            close(out);
        close(fd);
        queue_file_free(qf);
        errno = e;
    }
    return -1;
}

int quar_store_delete(int qdir, const char *id)
{
    if (!entry_name(id)) {
        errno = ENOENT;
        return -1;
    }
    if (unlinkat(qdir, id, 0) < 0)
        return errno == ENOENT ? 0 : -1;
    return sync_fd(qdir);
}

char **quar_store_recover(int qdir, int queue_dir, size_t *n)
{
    size_t ntmp = 0, nrel = 0, i;
    char **tmps = list_names(qdir, NULL, ".tmp", &ntmp);
    char **rels = list_names(qdir, NULL, ".rel", &nrel);
    char **done = NULL;

    *n = 0;
    for (i = 0; i < ntmp; i++) {
        unlinkat(qdir, tmps[i], 0);
        free(tmps[i]);
    }
    free(tmps);
    for (i = 0; i < nrel; i++) {
        char qid[QID_MAX];
        if (finish_release(qdir, queue_dir, rels[i], qid) == 0) {
            done = xrealloc(done, (*n + 1) * sizeof(*done));
            done[(*n)++] = xasprintf("%s %.*s", qid, (int)(strlen(rels[i]) - 4), rels[i]);
        }
        free(rels[i]);
    }
    free(rels);
    return done;
}

char *quar_store_message(int qdir, const char *id, size_t max, size_t *len)
{
    int fd = -1;
    struct queue_file *qf;
    char *buf;
    size_t n;

    if (!entry_name(id)) {
        errno = ENOENT;
        return NULL;
    }
    qf = queue_file_load(qdir, id, &fd);
    if (qf == NULL)
        return NULL;
    n = qf->msg_size < max ? (size_t)qf->msg_size : max;
    buf = xmalloc(n + 1);
    *len = pread_all(fd, buf, n, qf->msg_offset);
    buf[*len] = '\0';
    close(fd);
    queue_file_free(qf);
    return buf;
}
