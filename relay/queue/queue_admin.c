/*
 * queue_admin.c - the queue operations behind posternctl (relay/admin.c calls them) and
 * ETRN: flush (all, one message, or a domain's, from the index), hold, release, delete,
 * the status dump; and the ETRN limit (one flush per domain per queue.etrn_interval).
 *
 * hold and release append a record and answer once it is fsynced; delete unlinks the
 * file (and fsyncs the directory) first. A message being loaded or finishing an attempt
 * is deleted when that step returns; one being delivered has its jobs cancelled (what
 * was delivered stays delivered; no DSN is sent for the rest).
 */
#include "relay/queue/queue_int.h"

#include "lib/log.h"
#include "lib/qid.h"
#include "lib/workpool.h"
#include "lib/xalloc.h"
#include "relay/queue/queue_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>
#include <time.h>

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
    workpool_submit(m->q->d.wp, op_work, op_done, o);
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
    if (m->state != QM_IDLE || m->held || m->acct_held || m->gone || m->in_ready)
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

/* Flush by domain: the index (queue_index.c) knows the messages; no file is read. */
static void flush_indexed(struct qmsg *m, void *arg)
{
    unsigned *count = arg;
    if (!m->held && !m->gone) {
        qmsg_flush_now(m);
        (*count)++; /* scheduled now, or already on its way */
    }
}

unsigned queue_flush_domain(struct queue *q, const char *domain, bool subdomains)
{
    unsigned count = 0;

    qindex_each(q, domain, subdomains, flush_indexed, &count);
    log_info("qmgr", "flush of %s%s: %u messages scheduled", subdomains ? "@" : "", domain,
             count);
    queue_pump(q);
    return count;
}

/* ---- ETRN: one flush per domain per queue.etrn_interval ---- */

struct qetrn {
    struct qetrn *next;
    struct queue *q;
    char *domain;
    double last;                  /* unix time of its last flush */
    bool subdomains;              /* the flush at the end of the interval includes them */
    struct event *timer;          /* a request came during the interval: flush at its end */
};

static void on_etrn_timer(evutil_socket_t fd, short what, void *arg)
{
    struct qetrn *e = arg;
    (void)fd;
    (void)what;
    if (e->q->stopping)
        return;
    e->last = queue_now();
    log_info("qmgr", "ETRN %s%s: the flush asked for during the last interval", e->subdomains
             ? "@" : "", e->domain);
    queue_flush_domain(e->q, e->domain, e->subdomains);
}

int queue_etrn(struct queue *q, const char *domain, bool subdomains, unsigned *count)
{
    double now = queue_now(), interval = (double)queue_conf_now(q)->etrn_interval_ms / 1000;
    struct qetrn *e;
    struct timeval tv;

    for (e = q->etrn; e && strcasecmp(e->domain, domain) != 0; e = e->next)
        ;
    if (e == NULL) {
        e = xcalloc(1, sizeof(*e));
        e->q = q;
        e->domain = xstrdup(domain);
        e->timer = evtimer_new(q->d.base, on_etrn_timer, e);
        e->next = q->etrn;
        q->etrn = e;
    } else if (now - e->last < interval) {
        if (!evtimer_pending(e->timer, NULL)) {
            double wait = e->last + interval - now;
            e->subdomains = subdomains;
            tv.tv_sec = (time_t)wait;
            tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6);
            evtimer_add(e->timer, &tv);
        } else {
            e->subdomains |= subdomains;
        }
        return 1;
    }
    evtimer_del(e->timer);        /* the interval is over: this flush replaces it */
    e->last = now;
    *count = queue_flush_domain(q, domain, subdomains);
    return 0;
}

void qetrn_free(struct queue *q)
{
    while (q->etrn) {
        struct qetrn *e = q->etrn;
        q->etrn = e->next;
        event_free(e->timer);
        free(e->domain);
        free(e);
    }
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
 * may already carry another message, relay/spool/spool.h "Recycling"). */
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
            char buf[QID_MAX + 96];
            snprintf(buf, sizeof(buf), "%s %s %u %lld%s", m->qid,
                     (m->held || m->acct_held) && m->state == QM_IDLE
                         ? "held" : qm_state_names[m->state],
                     m->tries, m->next_try,
                     m->acct_held && m->state == QM_IDLE ? " (account suspended)" : "");
            line(arg, buf);
        }
    }
}


void queue_counts_get(const struct queue *q, struct queue_counts *out)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    out->oldest_arrival = -1;
    for (i = 0; q && i < q->nbuckets; i++) {
        const struct qmsg *m;
        for (m = q->hash[i]; m; m = m->hnext) {
            long long t = qid_arrival(m->qid);
            out->messages++;
            if (m->state != QM_IDLE)
                out->active++;
            else if (m->held || m->parked || m->acct_held)
                out->held++;
            if (m->acct_held && m->state == QM_IDLE)
                out->held_account++;
            else if (m->tries > 0)
                out->deferred++;
            if (t >= 0 && (out->oldest_arrival < 0 || t < out->oldest_arrival))
                out->oldest_arrival = t;
        }
    }
}

unsigned queue_corrupt_count(const struct queue *q)
{
    unsigned n = 0;
    struct dirent *e;
    DIR *d;
    int fd;

    if (q == NULL || q->corrupt_fd < 0 || (fd = dup(q->corrupt_fd)) < 0)
        return 0;
    if ((d = fdopendir(fd)) == NULL) {
        close(fd);
        return 0;
    }
    rewinddir(d);
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}
