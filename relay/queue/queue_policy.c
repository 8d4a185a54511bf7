/*
 * queue_policy.c - the delivery side of the policy engine (see queue_policy.h): the
 * per-recipient copies made from the "policy" records, and discard (quarantined recipients
 * go to the quarantine store: queue_quar.c).
 *
 * Called by queue.c (qpolicy_build on the worker pool while loading a file) and by
 * queue_route.c (which copy each recipient gets; discard).
 */
#include "relay/queue/queue_policy.h"

#include "content/wrap.h"
#include "lib/header_edit.h"
#include "lib/xalloc.h"
#include "mailauth/authres.h"
#include "policy/result_record.h"
#include "policy/spam_report.h"
#include "relay/queue/queue_file.h"
#include "relay/queue/queue_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

char *qpolicy_header(const char *fields, size_t len, const struct rcpt_result *r,
                     bool released, const char *authserv_id, size_t *out_len)
{
    struct hdr_edit h;
    char *spam;
    size_t i;

    hdr_init(&h, fields, len);
    /* RFC 8601 5: only we write Authentication-Results with our authserv-id; copies that
     * came from outside go before ours (a hdr= field of the record) is added */
    if (authserv_id != NULL)
        h.len = authres_strip_forged(h.p, h.len, authserv_id);
    if (r == NULL) {
        *out_len = h.len;
        return h.p;
    }
    hdr_remove_prefix(&h, "X-Spam-"); /* never trust the ones that came from outside */
    if (r->disp == DISP_MARK && !released && r->subject_prefix && r->subject_prefix[0])
        hdr_subject_prefix(&h, r->subject_prefix);
    /* below Postern's own Received: (the first field of a stored message) */
    for (i = r->nadd; i > 0; i--)
        hdr_insert_after_first(&h, "Received", r->add_headers[i - 1]);
    spam = spam_headers_format(r);
    hdr_insert_after_first(&h, "Received", spam);
    free(spam);
    *out_len = h.len;
    return h.p;
}

bool qpolicy_discard(const struct queue_file *qf, size_t idx)
{
    const struct qf_rcpt *r = &qf->rcpts[idx];
    return r->state == QF_PENDING && r->policy && r->policy->disp == DISP_DISCARD;
}

/* The record text that decides a copy: the record without its IDX, plus "released"; a
 * wrapped copy is the recipient's own (its To:). Recipients without a record share the
 * copy "-" (the stored header without forged Authentication-Results). */
static char *variant_key(const struct qf_rcpt *r)
{
    struct rcpt_result k;
    char *rec, *key;

    if (r->policy == NULL)
        return xstrdup("-");
    k = *r->policy;
    k.rcpt = 0;
    rec = result_record_format(&k);
    key = xasprintf("%d %s %s", r->released ? 1 : 0,
                    r->policy->disp == DISP_WRAP ? r->addr : "", rec);
    free(rec);
    return key;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A memfd holding hdr then src[off, off + n). -1 with errno on failure. */
static int make_copy(const char *hdr, size_t hlen, int src, off_t off, size_t n)
{
    int fd = memfd_create("postern-copy", MFD_CLOEXEC);
    char buf[65536];

    if (fd < 0)
        return -1;
    if (write_all(fd, hdr, hlen) < 0)
        goto fail;
    while (n > 0) {
        ssize_t r = pread(src, buf, n < sizeof(buf) ? n : sizeof(buf), off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            goto fail;
        }
        if (write_all(fd, buf, (size_t)r) < 0)
            goto fail;
        off += r;
        n -= (size_t)r;
    }
    return fd;
fail:
    {
        int e = errno;
        close(fd);
        errno = e;
    }
    return -1;
}

/* A memfd holding a[0..alen) then b[0..blen). */
static int make_copy2(const char *a, size_t alen, const char *b, size_t blen)
{
    int fd = memfd_create("postern-copy", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if (write_all(fd, a, alen) < 0 || write_all(fd, b, blen) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The wrapped message for r (content/wrap.h) with the record's header fields. */
static int wrap_copy(const struct queue_file *qf, int fd, const struct qf_rcpt *r,
                     const char *hostname, size_t *len)
{
    struct wrap_params wp = { 0 };
    char *msg, *w, *h;
    size_t n = (size_t)qf->msg_size, wlen, flen, body, hlen;
    ssize_t got = 0;
    int cfd;

    if (qf->msg_size > QPOLICY_WRAP_MAX) {
        errno = EFBIG;
        return -1;
    }
    msg = xmalloc(n + 1);
    while ((size_t)got < n) {
        ssize_t k = pread(fd, msg + got, n - (size_t)got, (off_t)qf->msg_offset + got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            free(msg);
            if (k == 0)
                errno = EIO;
            return -1;
        }
        got += k;
    }
    wp.reason = r->policy->reason ? r->policy->reason : "dangerous content";
    wp.virus = strncmp(wp.reason, "virus", 5) == 0;
    wp.hostname = hostname;
    wp.rcpt = r->addr;
    wp.qid = qf->qid;
    wp.date = (long long)queue_now();
    w = wrap_message(msg, n, &wp, &wlen, NULL);
    free(msg);
    hdr_split(w, wlen, &flen, &body);
    h = qpolicy_header(w, flen, r->policy, false, NULL, &hlen);
    cfd = make_copy2(h, hlen, w + flen, wlen - flen);
    *len = hlen + wlen - flen;
    free(h);
    free(w);
    return cfd;
}

void qpolicy_build(struct qpolicy *p, const struct queue_file *qf, int fd,
                   const char *hostname)
{
    char **keys = NULL, *head = NULL;
    size_t i, k, flen = 0, body = 0, n = 0;
    bool have_head = false, head_long = false, forged = false;

    memset(p, 0, sizeof(*p));
    p->nrcpt = qf->nrcpt;
    p->rcpt_variant = xcalloc(qf->nrcpt ? qf->nrcpt : 1, sizeof(int));
    for (i = 0; i < qf->nrcpt; i++) {
        const struct qf_rcpt *r = &qf->rcpts[i];
        char *key;

        p->rcpt_variant[i] = -1;
        if (r->state != QF_PENDING || queue_file_rcpt_held(r) ||
            (r->policy != NULL && r->policy->disp == DISP_DISCARD) || p->err[0])
            continue;
        if (!have_head && !head_long) {
            ssize_t got;
            n = qf->msg_size < QPOLICY_HEADER_MAX ? (size_t)qf->msg_size : QPOLICY_HEADER_MAX;
            free(head);
            head = xmalloc(n + 1);
            got = pread(fd, head, n, (off_t)qf->msg_offset);
            if (got < 0 || (size_t)got != n) {
                snprintf(p->err, sizeof(p->err), "cannot read the message: %s",
                         got < 0 ? strerror(errno) : "short read");
                continue;
            }
            hdr_split(head, n, &flen, &body);
            head_long = flen == n && n < qf->msg_size;
            have_head = !head_long;
            forged = have_head && hostname != NULL &&
                     authres_find_forged(head, flen, hostname, NULL, 0) > 0;
        }
        if (head_long) {              /* too long to edit: only the stored bytes can go */
            if (r->policy != NULL)
                snprintf(p->err, sizeof(p->err), "header section over %d bytes",
                         QPOLICY_HEADER_MAX);
            continue;
        }
        if (r->policy == NULL && !forged)
            continue;                 /* the stored bytes as they are */
        key = variant_key(r);
        for (k = 0; k < p->nv; k++)
            if (strcmp(keys[k], key) == 0)
                break;
        if (k == p->nv) {
            size_t hlen, clen;
            int cfd;
            if (r->policy != NULL && r->policy->disp == DISP_WRAP) {
                cfd = wrap_copy(qf, fd, r, hostname, &clen);
            } else {
                char *h = qpolicy_header(head, flen, r->policy, r->released,
                                         forged ? hostname : NULL, &hlen);
                cfd = make_copy(h, hlen, fd, (off_t)(qf->msg_offset + flen),
                                (size_t)qf->msg_size - flen);
                clen = hlen + (size_t)qf->msg_size - flen;
                free(h);
            }
            if (cfd < 0) {
                snprintf(p->err, sizeof(p->err), "cannot make the recipient's copy: %s",
                         strerror(errno));
                free(key);
                continue;
            }
            keys = xrealloc(keys, (p->nv + 1) * sizeof(*keys));
            p->v = xrealloc(p->v, (p->nv + 1) * sizeof(*p->v));
            keys[p->nv] = key;
            p->v[p->nv].fd = cfd;
            p->v[p->nv].len = clen;
            p->nv++;
        } else {
            free(key);
        }
        p->rcpt_variant[i] = (int)k;
    }
    for (k = 0; k < p->nv; k++)
        free(keys[k]);
    free(keys);
    free(head);
}

void qpolicy_free(struct qpolicy *p)
{
    size_t k;
    for (k = 0; k < p->nv; k++)
        if (p->v[k].fd >= 0)
            close(p->v[k].fd);
    free(p->v);
    free(p->rcpt_variant);
    memset(p, 0, sizeof(*p));
}
