/*
 * deliver_maildir.c - Maildir delivery on the worker pool (see deliver.h).
 *
 * For each recipient: create tmp/UNIQUE, write "Return-Path: <sender>" and
 * "Delivered-To: rcpt", then the message with CRLF turned into LF, fsync, rename into
 * new/UNIQUE, fsync new/. UNIQUE is "SEC.MUSECPPIDQSEQ.HOST" (the Maildir convention; '/'
 * and ':' in the host name are written as \057 and \072). Only this file's job structure
 * crosses threads: the worker fills results[], the loop reads them in the done function.
 * Everything the worker needs is copied into the job, and the body is read through a dup()
 * of the queue file's descriptor, so a cancelled job never touches freed memory.
 */
#include "relay/deliver/deliver.h"

#include "lib/fileio.h"
#include "lib/workpool.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define MAILDIR_CHUNK 65536

struct maildir_job {
    char *dir, *host, *sender, *qid;
    char **rcpts;
    size_t n;
    int fd;
    off_t offset;
    size_t length;
    struct smtp_result *res;
    bool cancelled;
    maildir_done_fn cb;
    void *arg;
};

static unsigned long maildir_seq;   /* atomically incremented: unique names per process */

static void result_set(struct smtp_result *r, enum smtp_status st, int code, const char *enh,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void result_set(struct smtp_result *r, enum smtp_status st, int code, const char *enh,
                       const char *fmt, ...)
{
    va_list ap;
    memset(r, 0, sizeof(*r));
    r->status = st;
    r->stage = SMTP_STAGE_DATA_END;
    r->local = true;
    r->code = code;
    snprintf(r->enhanced, sizeof(r->enhanced), "%s", enh);
    va_start(ap, fmt);
    vsnprintf(r->text, sizeof(r->text), fmt, ap);
    va_end(ap);
}

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    size_t i, n = strlen(path);
    if (n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0700) < 0 && errno != EEXIST)
                return -1;
            buf[i] = c;
        }
    }
    return 0;
}

/* Copy the body, CRLF -> LF. A CR at the end of a chunk waits for the next byte. */
static int copy_body(struct maildir_job *j, int out)
{
    char in[MAILDIR_CHUNK], conv[MAILDIR_CHUNK + 1];
    size_t done = 0;
    bool cr_pending = false;

    while (done < j->length) {
        size_t want = j->length - done < sizeof(in) ? j->length - done : sizeof(in), i, o = 0;
        ssize_t r = pread(j->fd, in, want, j->offset + (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO; /* the queue file is shorter than its size field says */
            return -1;
        }
        for (i = 0; i < (size_t)r; i++) {
            if (cr_pending) {
                cr_pending = false;
                if (in[i] != '\n')
                    conv[o++] = '\r';
            }
            if (in[i] == '\r')
                cr_pending = true;
            else
                conv[o++] = in[i];
        }
        if (write_all(out, conv, o) < 0)
            return -1;
        done += (size_t)r;
    }
    if (cr_pending && write_all(out, "\r", 1) < 0)
        return -1;
    return 0;
}

static void host_for_name(char *dst, size_t len, const char *host)
{
    size_t o = 0;
    for (; *host && o + 5 < len; host++) {
        if (*host == '/')
            o += (size_t)snprintf(dst + o, len - o, "\\057");
        else if (*host == ':')
            o += (size_t)snprintf(dst + o, len - o, "\\072");
        else
            dst[o++] = *host;
    }
    dst[o] = '\0';
}

/* Worker: one copy for recipient i. 0, or -1 with errno. */
static int deliver_one(struct maildir_job *j, size_t i, int tmp_fd, int new_fd, char *name,
                       size_t name_len)
{
    struct timeval tv;
    char host[256];
    char *head;
    int fd, e;

    gettimeofday(&tv, NULL);
    host_for_name(host, sizeof(host), j->host);
    snprintf(name, name_len, "%lld.M%ldP%ldQ%lu.%s", (long long)tv.tv_sec, (long)tv.tv_usec,
             (long)getpid(), __atomic_add_fetch(&maildir_seq, 1, __ATOMIC_RELAXED), host);
    fd = openat(tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    head = xasprintf("Return-Path: <%s>\nDelivered-To: %s\n", j->sender, j->rcpts[i]);
    if (write_all(fd, head, strlen(head)) < 0 || copy_body(j, fd) < 0 || fsync(fd) < 0)
        goto fail;
    free(head);
    head = NULL;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (renameat(tmp_fd, name, new_fd, name) < 0 || fsync(new_fd) < 0)
        goto fail;
    return 0;
fail:
    e = errno;
    free(head);
    if (fd >= 0)
        close(fd);
    unlinkat(tmp_fd, name, 0);
    errno = e;
    return -1;
}

static void maildir_work(void *arg)
{
    struct maildir_job *j = arg;
    char *tmp = xasprintf("%s/tmp", j->dir), *new = xasprintf("%s/new", j->dir);
    char *cur = xasprintf("%s/cur", j->dir), name[512];
    int tmp_fd = -1, new_fd = -1;
    size_t i;

    if (mkdir_p(tmp) < 0 || mkdir_p(new) < 0 || mkdir_p(cur) < 0 ||
        (tmp_fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        (new_fd = open(new, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        int e = errno;
        for (i = 0; i < j->n; i++)
            result_set(&j->res[i], SMTP_TEMPFAIL, 451, "4.3.0", "cannot open maildir %s: %s",
                       j->dir, strerror(e));
        goto out;
    }
    for (i = 0; i < j->n; i++) {
        if (deliver_one(j, i, tmp_fd, new_fd, name, sizeof(name)) == 0)
            result_set(&j->res[i], SMTP_SENT, 250, "2.0.0", "delivered to maildir as %s",
                       name);
        else if (errno == ENOSPC || errno == EDQUOT)
            result_set(&j->res[i], SMTP_TEMPFAIL, 452, "4.2.2",
                       "mailbox full: cannot write to maildir %s: %s", j->dir,
                       strerror(errno));
        else
            result_set(&j->res[i], SMTP_TEMPFAIL, 451, "4.3.0",
                       "cannot write to maildir %s: %s", j->dir, strerror(errno));
    }
out:
    if (tmp_fd >= 0)
        close(tmp_fd);
    if (new_fd >= 0)
        close(new_fd);
    free(tmp);
    free(new);
    free(cur);
}

static void maildir_nothing(void *arg)
{
    (void)arg; /* the results were decided before submitting */
}

static void maildir_job_free(struct maildir_job *j)
{
    size_t i;
    for (i = 0; i < j->n; i++)
        free(j->rcpts[i]);
    free(j->rcpts);
    free(j->res);
    free(j->dir);
    free(j->host);
    free(j->sender);
    free(j->qid);
    if (j->fd >= 0)
        close(j->fd);
    free(j);
}

static void maildir_done(void *arg)
{
    struct maildir_job *j = arg;
    if (!j->cancelled)
        j->cb(j->arg, j->res, j->n);
    maildir_job_free(j);
}

struct maildir_job *maildir_deliver(struct workpool *wp, const char *dir, const char *hostname,
                                    const struct deliver_msg *msg, maildir_done_fn cb,
                                    void *arg)
{
    struct maildir_job *j = xcalloc(1, sizeof(*j));
    size_t i;

    j->dir = xstrdup(dir);
    j->host = xstrdup(hostname);
    j->sender = xstrdup(msg->sender);
    j->qid = xstrdup(msg->qid);
    j->n = msg->nrcpts;
    j->rcpts = xcalloc(j->n, sizeof(*j->rcpts));
    for (i = 0; i < j->n; i++)
        j->rcpts[i] = xstrdup(msg->rcpts[i]);
    j->res = xcalloc(j->n, sizeof(*j->res));
    j->fd = dup(msg->fd);
    j->offset = msg->offset;
    j->length = msg->length;
    j->cb = cb;
    j->arg = arg;
    if (j->fd < 0)
        for (i = 0; i < j->n; i++)
            result_set(&j->res[i], SMTP_TEMPFAIL, 451, "4.3.0", "cannot read the queue file: %s",
                       strerror(errno));
    workpool_submit(wp, j->fd < 0 ? maildir_nothing : maildir_work, maildir_done, j);
    return j;
}

void maildir_cancel(struct maildir_job *j)
{
    j->cancelled = true;
}
