/*
 * queue_admin.c - the queue operations behind posternctl (relay/admin.c calls them) and
 * ETRN: flush (all, one message, or a domain's), hold, release, delete, the status dump.
 *
 * hold and release append a record and answer once it is fsynced; delete unlinks the
 * file (and fsyncs the directory) first. A message being loaded or finishing an attempt
 * is deleted when that step returns; one being delivered has its jobs cancelled (what
 * was delivered stays delivered; no DSN is sent for the rest).
 */
#include "relay/queue_int.h"

#include "lib/log.h"
#include "lib/workpool.h"
#include "lib/xalloc.h"
#include "relay/queue_file.h"
#include "relay/server.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *const qm_state_names[] = { "idle", "loading", "active", "finishing" };

struct op_job {
    struct qmsg *m;
    int dirfd;
    char qid[QID_MAX];
    char *rec;                    /* record to append; NULL: remove the file */
    int err;
    queue_op_fn cb;
    void *arg;
    int kind;                     /* 0 hold, 1 release, 2 delete */
};

static void op_work(void *arg)
{
    struct op_job *o = arg;
    int rc = o->rec ? queue_file_append(o->dirfd, o->qid, o->rec, strlen(o->rec))
                    : queue_file_remove(o->dirfd, o->qid);
    o->err = rc < 0 ? errno : 0;
}

static void op_done(void *arg)
{
    struct op_job *o = arg;
    struct qmsg *m = o->m;
    bool alive = qmsg_unbusy(m);
    static const char *const done_text[] = { "held", "released", "removed" };

    if (alive && o->err == 0) {
        if (o->kind == 0) {
            m->held = true;
            evtimer_del(m->timer);
            qmsg_unready(m);
            log_info("qmgr", "%s: held by the admin", m->qid);
        } else if (o->kind == 1) {
            m->held = false;
            log_info("qmgr", "%s: released by the admin", m->qid);
            if (m->state == QM_IDLE)
                qmsg_schedule(m, m->next_try); /* back on its retry schedule; flush: now */
        } else {
            log_info("qmgr", "%s: removed", m->qid);
            qmsg_forget(m);
        }
    } else if (alive && o->kind == 2) {
        m->gone = false; /* the delete failed: the message stays */
        qmsg_schedule(m, m->next_try);
    }
    if (o->cb)
        o->cb(o->arg, o->err, o->err ? strerror(o->err) : done_text[o->kind]);
    free(o->rec);
    free(o);
}

static void op_submit(struct qmsg *m, int kind, char *rec, queue_op_fn cb, void *arg)
{
    struct op_job *o = xcalloc(1, sizeof(*o));
    o->m = m;
    o->dirfd = m->q->dirfd;
    snprintf(o->qid, sizeof(o->qid), "%s", m->qid);
    o->rec = rec;
    o->cb = cb;
    o->arg = arg;
    o->kind = kind;
    qmsg_busy(m);
    workpool_submit(m->q->srv->wp, op_work, op_done, o);
}

/* Remove an idle message now; admins waiting in m->delete_ops are answered. */
static void on_delete_done(void *arg, int err, const char *text)
{
    struct qmsg *m = arg;
    (void)m;
    (void)err;
    (void)text;
}

void qmsg_delete_now(struct qmsg *m)
{
    struct qop *ops = m->delete_ops;
    m->delete_ops = NULL;
    m->gone = true;
    evtimer_del(m->timer);
    qmsg_unready(m);
    /* answer every waiting admin when the unlink is done: chain them on one op */
    if (ops && ops->next == NULL) {
        op_submit(m, 2, NULL, ops->cb, ops->arg);
        free(ops);
        return;
    }
    op_submit(m, 2, NULL, on_delete_done, m);
    while (ops) {
        struct qop *next = ops->next;
        ops->cb(ops->arg, 0, "removal in progress");
        free(ops);
        ops = next;
    }
}

/* Deliver m now if it waits for its next try; true when it was scheduled. */
static bool qmsg_flush_now(struct qmsg *m)
{
    if (m->state != QM_IDLE || m->held || m->gone || m->in_ready)
        return false;
    evtimer_del(m->timer);
    qmsg_ready(m);
    return true;
}

int queue_flush(struct queue *q, const char *qid, unsigned *count)
{
    size_t i;
    *count = 0;
    if (qid) {
        struct qmsg *m = qmsg_get(q, qid);
        if (m == NULL || m->gone)
            return ENOENT;
        if (m->held)
            return EPERM;
        *count += qmsg_flush_now(m);
        queue_pump(q);
        return 0;
    }
    for (i = 0; i < q->nbuckets; i++) {
        struct qmsg *m;
        for (m = q->hash[i]; m; m = m->hnext)
            *count += qmsg_flush_now(m);
    }
    queue_pump(q);
    return 0;
}

/* Flush by domain: a worker reads the envelopes, the loop schedules what matched. */
struct domain_job {
    struct queue *q;
    int dirfd;
    char *domain;
    bool subdomains;
    char (*qids)[QID_MAX];
    size_t n, cap;
    queue_count_fn cb;
    void *arg;
};

static bool domain_matches(const char *addr, const char *domain, bool subdomains)
{
    const char *at = strrchr(addr, '@');
    size_t len, dlen = strlen(domain);
    if (at == NULL)
        return false;
    at++;
    if (strcasecmp(at, domain) == 0)
        return true;
    len = strlen(at);
    return subdomains && len > dlen && at[len - dlen - 1] == '.' &&
           strcasecmp(at + len - dlen, domain) == 0;
}

static void domain_work(void *arg)
{
    struct domain_job *j = arg;
    /* its own open file description: a dup() would share the read position with the
     * start-up scan or another flush running on another worker */
    int fd = openat(j->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;

    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        struct queue_file *qf;
        size_t i;
        if (!qid_valid(e->d_name) || (qf = queue_file_load(j->dirfd, e->d_name, NULL)) == NULL)
            continue;
        for (i = 0; i < qf->nrcpt; i++)
            if (qf->rcpts[i].state == QF_PENDING &&
                domain_matches(qf->rcpts[i].addr, j->domain, j->subdomains))
                break;
        if (i < qf->nrcpt) {
            if (j->n == j->cap) {
                j->cap = j->cap ? j->cap * 2 : 64;
                j->qids = xrealloc(j->qids, j->cap * sizeof(*j->qids));
            }
            snprintf(j->qids[j->n++], QID_MAX, "%.*s", QID_MAX - 1, e->d_name);
        }
        queue_file_free(qf);
    }
    closedir(d);
}

static void domain_done(void *arg)
{
    struct domain_job *j = arg;
    struct queue *q = j->q;
    unsigned count = 0;
    size_t i;

    q->busy--;
    if (!q->final) {
        for (i = 0; i < j->n; i++) {
            struct qmsg *m = qmsg_get(q, j->qids[i]);
            if (m && !m->held && !m->gone) {
                qmsg_flush_now(m);
                count++; /* scheduled now, or already on its way */
            }
        }
        log_info("qmgr", "flush of %s%s: %u messages scheduled", j->subdomains ? "@" : "",
                 j->domain, count);
        queue_pump(q);
    }
    if (j->cb)
        j->cb(j->arg, count);
    free(j->qids);
    free(j->domain);
    free(j);
}

void queue_flush_domain(struct queue *q, const char *domain, bool subdomains,
                        queue_count_fn cb, void *arg)
{
    struct domain_job *j = xcalloc(1, sizeof(*j));
    j->q = q;
    j->dirfd = q->dirfd;
    j->domain = xstrdup(domain);
    j->subdomains = subdomains;
    j->cb = cb;
    j->arg = arg;
    q->busy++;
    workpool_submit(q->srv->wp, domain_work, domain_done, j);
}

static struct qmsg *op_target(struct queue *q, const char *qid, queue_op_fn cb, void *arg)
{
    struct qmsg *m = qid_valid(qid) ? qmsg_get(q, qid) : NULL;
    if (m == NULL || m->gone) {
        cb(arg, ENOENT, "no such message");
        return NULL;
    }
    return m;
}

/* hold and release append to the file: not to one that is leaving the queue (its inode
 * may already carry another message, relay/spool.h "Recycling"). */
static struct qmsg *op_target_append(struct queue *q, const char *qid, queue_op_fn cb,
                                     void *arg)
{
    struct qmsg *m = op_target(q, qid, cb, arg);
    if (m && m->removing) {
        cb(arg, ENOENT, "delivered: the message is leaving the queue");
        return NULL;
    }
    return m;
}

void queue_hold(struct queue *q, const char *qid, queue_op_fn cb, void *arg)
{
    struct qmsg *m = op_target_append(q, qid, cb, arg);
    if (m)
        op_submit(m, 0, queue_file_rec_mark("hold", (long long)queue_now()), cb, arg);
}

void queue_release(struct queue *q, const char *qid, queue_op_fn cb, void *arg)
{
    struct qmsg *m = op_target_append(q, qid, cb, arg);
    if (m)
        op_submit(m, 1, queue_file_rec_mark("release", (long long)queue_now()), cb, arg);
}

void queue_delete(struct queue *q, const char *qid, queue_op_fn cb, void *arg)
{
    struct qmsg *m = op_target(q, qid, cb, arg);
    struct qop *op;

    if (m == NULL)
        return;
    op = xcalloc(1, sizeof(*op));
    op->cb = cb;
    op->arg = arg;
    op->next = m->delete_ops;
    m->delete_ops = op;
    switch (m->state) {
    case QM_IDLE:
        m->gone = true;
        qmsg_delete_now(m);
        break;
    case QM_ACTIVE:
        /* stop delivering; what was delivered stays delivered, the rest is dropped */
        qmsg_cancel_jobs(m);
        m->gone = true;
        qmsg_attempt_clear(m);
        m->state = QM_IDLE;
        q->nactive--;
        qmsg_delete_now(m);
        queue_pump(q);
        break;
    case QM_LOADING:
    case QM_FINISHING:
        break; /* answered when the load or the write returns (attempt_close) */
    }
}

void queue_dump(const struct queue *q, void (*line)(void *arg, const char *text), void *arg)
{
    size_t i;
    for (i = 0; i < q->nbuckets; i++) {
        const struct qmsg *m;
        for (m = q->hash[i]; m; m = m->hnext) {
            char buf[QID_MAX + 64];
            snprintf(buf, sizeof(buf), "%s %s %u %lld", m->qid,
                     m->held && m->state == QM_IDLE ? "held" : qm_state_names[m->state],
                     m->tries, m->next_try);
            line(arg, buf);
        }
    }
}

