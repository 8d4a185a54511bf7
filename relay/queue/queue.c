/*
 * queue.c - the queue runner (see queue.h): the message table, scheduling, loading, the
 * end of an attempt, start and stop. Routing, results and admin operations are in
 * queue_route.c, queue_result.c and queue_admin.c (queue_int.h).
 *
 * One struct qmsg per queue file, in a hash by queue ID. Its life:
 *
 *   IDLE --timer or flush--> ready FIFO --(active_max allows)--> LOADING (worker: read the
 *   envelope, records and the first header bytes; keep the file open) --> ACTIVE (one
 *   deliver job per destination and per rcpts_per_transaction recipients) --last job
 *   done--> FINISHING: queue DSNs (spool commit), then append the records and, when no
 *   recipient is pending, unlink (one worker job) --> IDLE with a timer at the next try,
 *   or gone.
 *
 * Ordering that makes it safe: a "bounced" record is written only after its DSN is
 * durable in the spool; a message is unlinked only after its records are fsynced; a
 * recipient whose outcome was not recorded before a crash is simply tried again.
 *
 * m->busy counts the asynchronous operations that hold m (worker jobs, spool commits);
 * a message that is gone is freed when the last one returns. Timers and deliver jobs are
 * cancelled instead. Loop thread only.
 */
#include "relay/quar/quar_runner.h"
#include "relay/queue/queue_int.h"
#include "relay/queue/queue_quar.h"

#include "lib/log.h"
#include "lib/redis.h"
#include "lib/workpool.h"
#include "lib/xalloc.h"
#include "relay/queue/queue_file.h"
#include "relay/relay_conf.h"
#include "relay/spool/spool.h"
#include "webhooks/event.h"

#include <dirent.h>
#include <jansson.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define QUEUE_HASH_MIN   256
#define QUEUE_PAUSE_CHECK_S 1     /* while paused, how often a reload is looked for */

/* ---- config ----------------------------------------------------------------------------- */

#define QC(f) offsetof(struct queue_conf, f)
static int queue_conf_validate(void *obj, const char *pointer, struct conf_errors *errs);
static const struct conf_key queue_keys[] = {
    { .name = "retry_min", .type = CONF_DURATION, .offset = QC(retry_min_ms), .def = "5m",
      .min = 100, .max = 86400000LL, .help = "first retry of a deferred message after this" },
    { .name = "retry_max", .type = CONF_DURATION, .offset = QC(retry_max_ms), .def = "1h",
      .min = 100, .max = 86400000LL, .help = "the retry interval doubles up to this" },
    { .name = "lifetime", .type = CONF_DURATION, .offset = QC(lifetime_ms), .def = "5d",
      .min = 1000, .max = 90LL * 86400000LL,
      .help = "a message still undeliverable after this is returned to the sender" },
    { .name = "backup_lifetime", .type = CONF_DURATION, .offset = QC(backup_lifetime_ms),
      .def = "8d", .min = 1000, .max = 90LL * 86400000LL,
      .help = "the same for recipients in relay.backup_domains (waiting for the primary)" },
    { .name = "delay_warning", .type = CONF_DURATION, .offset = QC(delay_warning_ms),
      .def = "0", .min = 0, .max = 90LL * 86400000LL,
      .help = "tell the sender once that a message is delayed after this (0: never; "
              "e.g. \"4h\")" },
    { .name = "active_max", .type = CONF_INT, .offset = QC(active_max), .def = "200",
      .min = 1, .max = 100000, .help = "messages being delivered at once" },
    { .name = "concurrency", .type = CONF_INT, .offset = QC(concurrency), .def = "50",
      .min = 1, .max = 10000, .help = "outgoing connections at once, in total" },
    { .name = "destination_concurrency", .type = CONF_INT,
      .offset = QC(destination_concurrency), .def = "5", .min = 1, .max = 1000,
      .help = "outgoing connections at once to one destination (domain or relay)" },
    { .name = "rcpts_per_transaction", .type = CONF_INT, .offset = QC(rcpts_per_transaction),
      .def = "50", .min = 1, .max = 1000, .help = "recipients sent in one SMTP transaction" },
    { .name = "backup_probe_interval", .type = CONF_DURATION,
      .offset = QC(backup_probe_interval_ms), .def = "60s", .min = 0, .max = 86400000,
      .help = "how often the primary MX of each relay.backup_domains domain is probed "
              "(backup.primary_down/up alerts; its queue is delivered when it is back); "
              "0: never" },
    { .name = "etrn_interval", .type = CONF_DURATION, .offset = QC(etrn_interval_ms),
      .def = "1m", .min = 0, .max = 86400000,
      .help = "at most one ETRN flush per domain in this time; a request during it is "
              "answered 250 and served once it is over" },
    { .name = "connection_cache_time", .type = CONF_DURATION,
      .offset = QC(connection_cache_ms), .def = "2s", .min = 0, .max = 300000,
      .help = "an outgoing connection with nothing more to send waits this long for the "
              "next message to the same destination (0: close it at once)" },
    { .name = "mx_addresses", .type = CONF_INT, .offset = QC(mx_addresses), .def = "5",
      .min = 1, .max = 100, .help = "MX/relay addresses tried in one delivery attempt" },
    { .name = "bounce_headers_max", .type = CONF_SIZE, .offset = QC(bounce_headers_max),
      .def = "16K", .min = 512, .max = 1 << 20,
      .help = "most bytes of the original header section attached to a DSN" },
    { .name = "paused", .type = CONF_BOOL, .offset = QC(paused), .def = "false",
      .help = "accept and queue mail but start no delivery (like smtpctl pause mta); "
              "set it to false and reload to resume" },
    { NULL }
};
const struct conf_section queue_conf_section = { "queue", queue_keys, queue_conf_validate };

static int queue_conf_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct queue_conf *c = obj;
    if (c->retry_max_ms < c->retry_min_ms)
        return conf_error(errs, pointer, "retry_max must not be less than retry_min");
    return 0;
}

double queue_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

const struct queue_conf *queue_conf_now(const struct queue *q)
{
    return &queue_cf(q)->c.queue;
}

static void qsb_add(struct sbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap = b->cap ? b->cap * 2 : 512;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

void qsb_take(struct sbuf *b, char *s)
{
    qsb_add(b, s);
    free(s);
}

void qsb_free(struct sbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---- the message table ------------------------------------------------------------------ */

static size_t hash_qid(const char *s, size_t n)
{
    size_t h = 5381;
    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h & (n - 1);
}

struct qmsg *qmsg_get(const struct queue *q, const char *qid)
{
    struct qmsg *m;
    for (m = q->hash[hash_qid(qid, q->nbuckets)]; m; m = m->hnext)
        if (strcmp(m->qid, qid) == 0)
            return m;
    return NULL;
}

static void hash_grow(struct queue *q)
{
    size_t n = q->nbuckets * 2, i;
    struct qmsg **h = xcalloc(n, sizeof(*h));
    for (i = 0; i < q->nbuckets; i++) {
        struct qmsg *m = q->hash[i], *next;
        for (; m; m = next) {
            size_t b = hash_qid(m->qid, n);
            next = m->hnext;
            m->hnext = h[b];
            h[b] = m;
        }
    }
    free(q->hash);
    q->hash = h;
    q->nbuckets = n;
}

static void on_timer(evutil_socket_t fd, short what, void *arg);

static struct qmsg *qmsg_new(struct queue *q, const char *qid)
{
    struct qmsg *m = xcalloc(1, sizeof(*m));
    size_t b;

    if (q->nmsgs >= q->nbuckets * 2)
        hash_grow(q);
    snprintf(m->qid, sizeof(m->qid), "%s", qid);
    m->q = q;
    m->fd = -1;
    m->timer = evtimer_new(q->d.base, on_timer, m);
    b = hash_qid(qid, q->nbuckets);
    m->hnext = q->hash[b];
    q->hash[b] = m;
    q->nmsgs++;
    return m;
}

void qmsg_unready(struct qmsg *m)
{
    struct queue *q = m->q;
    struct qmsg **pp;
    if (!m->in_ready)
        return;
    for (pp = &q->ready_head; *pp; pp = &(*pp)->rnext)
        if (*pp == m) {
            *pp = m->rnext;
            if (q->ready_tail == &m->rnext)
                q->ready_tail = pp;
            break;
        }
    m->rnext = NULL;
    m->in_ready = false;
}

void qmsg_cancel_jobs(struct qmsg *m)
{
    struct qjob *j;
    while ((j = m->jobs) != NULL) {
        m->jobs = j->next;
        deliver_cancel(j->dj);
        free(j->idx);
        free(j->rcpts);
        free(j);
    }
    m->jobs_pending = 0;
}

void qmsg_attempt_clear(struct qmsg *m)
{
    size_t i;
    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
    if (m->res && m->qf)
        for (i = 0; i < m->qf->nrcpt; i++)
            free(m->res[i].remote_host);
    free(m->res);
    m->res = NULL;
    queue_file_free(m->qf);
    m->qf = NULL;
    free(m->head);
    m->head = NULL;
    m->head_len = 0;
    qpolicy_free(&m->pol);
    qsb_free(&m->recs);
    if (m->cf)
        config_unref(m->cf);
    m->cf = NULL;
}

static void qmsg_free(struct qmsg *m)
{
    qindex_clear(m);
    qmsg_attempt_clear(m);
    if (m->acct_req)
        redis_cancel(m->acct_req);
    free(m->login);
    if (m->timer)
        event_free(m->timer);
    free(m);
}

/* Take m out of the table; it is freed now or when its last async operation returns. */
void qmsg_forget(struct qmsg *m)
{
    struct queue *q = m->q;
    struct qmsg **pp = &q->hash[hash_qid(m->qid, q->nbuckets)];
    for (; *pp; pp = &(*pp)->hnext)
        if (*pp == m) {
            *pp = m->hnext;
            q->nmsgs--;
            break;
        }
    qmsg_unready(m);
    qindex_clear(m);
    evtimer_del(m->timer);
    m->gone = true;
    m->forgotten = true;
    if (m->busy == 0)
        qmsg_free(m);
}

/* An async operation of m returned. True when m may still be used (it is not forgotten
 * and the loop is still running); a forgotten message is freed with its last operation. */
bool qmsg_unbusy(struct qmsg *m)
{
    m->busy--;
    m->q->busy--;
    if (m->forgotten) {
        if (m->busy == 0)
            qmsg_free(m);
        return false;
    }
    return !m->q->final;
}

void qmsg_busy(struct qmsg *m)
{
    m->busy++;
    m->q->busy++;
}

/* ---- scheduling ----------------------------------------------------------------------- */

void qmsg_ready(struct qmsg *m)
{
    struct queue *q = m->q;
    if (m->in_ready || m->gone || m->held || m->acct_held || m->state != QM_IDLE ||
        q->stopping)
        return;
    m->in_ready = true;
    m->rnext = NULL;
    *q->ready_tail = m;
    q->ready_tail = &m->rnext;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct qmsg *m = arg;
    (void)fd;
    (void)what;
    qmsg_ready(m);
    queue_pump(m->q);
}

void qmsg_schedule(struct qmsg *m, long long when)
{
    struct timeval tv = { 0, 0 };
    double delta = (double)when - queue_now();

    if (m->gone || m->held || m->acct_held || m->q->stopping)
        return;
    m->next_try = when;
    if (delta > 0) {
        tv.tv_sec = (time_t)delta;
        tv.tv_usec = (suseconds_t)((delta - (double)tv.tv_sec) * 1e6);
    }
    evtimer_add(m->timer, &tv);
}

/* Backoff after `tries` attempts: retry_min doubled (tries - 1) times, at most retry_max. */
static long long backoff_ms(const struct queue_conf *c, unsigned tries)
{
    long long d = c->retry_min_ms;
    unsigned i;
    for (i = 1; i < tries && d < c->retry_max_ms; i++)
        d *= 2;
    return d < c->retry_max_ms ? d : c->retry_max_ms;
}

/* ---- loading ---------------------------------------------------------------------------- */

struct load_job {
    struct qmsg *m;
    int dirfd, corrupt_fd;
    char qid[QID_MAX];
    size_t head_max;
    struct queue_file *qf;
    int fd;
    int err;
    bool quarantined;             /* unparsable: moved to corrupt/ */
    char *head;
    size_t head_len;
    struct qpolicy pol;
    char hostname[256];
    int quar_dirfd;               /* the quarantine store (-1: none) */
    struct quar_entry *qe;        /* entries made for quarantined recipients */
    size_t nqe;
    char quar_err[200];
};

static void load_work(void *arg)
{
    struct load_job *lj = arg;
    lj->fd = -1;
    lj->qf = queue_file_load(lj->dirfd, lj->qid, &lj->fd);
    if (lj->qf == NULL) {
        lj->err = errno;
        if (lj->err == EINVAL) {
            struct stat st;
            if (fstatat(lj->dirfd, lj->qid, &st, 0) == 0 && st.st_size == 0) {
                /* never written by the spool: a recycled file's name after a crash */
                unlinkat(lj->dirfd, lj->qid, 0);
                lj->err = ENOENT;
            } else if (queue_file_quarantine(lj->dirfd, lj->corrupt_fd, lj->qid) == 0) {
                lj->quarantined = true;
            } else {
                lj->err = errno;
            }
        }
        return;
    }
    if (lj->qf->msg_size > 0) {
        size_t n = lj->qf->msg_size < lj->head_max ? (size_t)lj->qf->msg_size : lj->head_max;
        ssize_t r;
        lj->head = xmalloc(n);
        r = pread(lj->fd, lj->head, n, (off_t)lj->qf->msg_offset);
        lj->head_len = r > 0 ? (size_t)r : 0;
    }
    qquar_take(lj->quar_dirfd, lj->dirfd, lj->qf, lj->fd, &lj->qe, &lj->nqe, lj->quar_err,
               sizeof(lj->quar_err));
    qpolicy_build(&lj->pol, lj->qf, lj->fd, lj->hostname);
}

void qmsg_attempt_route(struct qmsg *m);
void qmsg_delete_now(struct qmsg *m);

/* Back to IDLE after an attempt (or a load that came to nothing). */
void qmsg_attempt_close(struct qmsg *m)
{
    struct queue *q = m->q;
    qmsg_attempt_clear(m);
    m->state = QM_IDLE;
    q->nactive--;
    if (m->delete_ops) {
        qmsg_delete_now(m);
    } else if (!m->held && !m->parked && !m->acct_held && !q->stopping) {
        qmsg_schedule(m, m->next_try);
    }
    queue_pump(q);
}

/* The end of an attempt whose file is gone (delivered, vanished, moved to corrupt/): out
 * of the table; admins waiting to delete it get text. */
static void qmsg_leave_queue(struct qmsg *m, const char *text)
{
    struct queue *q = m->q;
    qmsg_attempt_clear(m);
    m->state = QM_IDLE;
    q->nactive--;
    while (m->delete_ops) {
        struct qop *op = m->delete_ops;
        m->delete_ops = op->next;
        op->cb(op->arg, 0, text);
        free(op);
    }
    qmsg_forget(m);
    queue_pump(q);
}

static void load_done(void *arg)
{
    struct load_job *lj = arg;
    struct qmsg *m = lj->m;
    bool alive = qmsg_unbusy(m);
    int err = lj->err;
    bool quarantined = lj->quarantined;
    size_t i;

    if (lj->quar_err[0])
        log_error("qmgr", "%s: %s", m->qid, lj->quar_err);
    for (i = 0; i < lj->nqe; i++)
        log_info("qmgr", "%s: to=<%s>, status=quarantined (%s) entry=%s", m->qid,
                 lj->qe[i].rcpt, lj->qe[i].detail[0] ? lj->qe[i].detail : lj->qe[i].reason,
                 lj->qe[i].id);
    if (lj->nqe && (*m->q->d.quarrun))
        quar_runner_added((*m->q->d.quarrun), lj->qe, lj->nqe);
    for (i = 0; i < lj->nqe; i++)
        quar_entry_clear(&lj->qe[i]);
    free(lj->qe);
    lj->qe = NULL;

    if (!alive) {
        if (lj->fd >= 0)
            close(lj->fd);
        queue_file_free(lj->qf);
        free(lj->head);
        qpolicy_free(&lj->pol);
        free(lj);
        return;
    }
    qpolicy_free(&m->pol);
    m->pol = lj->pol;
    m->qf = lj->qf;
    m->fd = lj->fd;
    m->head = lj->head;
    m->head_len = lj->head_len;
    free(lj);
    if (m->qf == NULL) {
        struct queue *q = m->q;
        if (quarantined) {
            log_error("qmgr", "%s: queue file is corrupt (cannot be parsed); moved to %s/%s",
                      m->qid, spool_corrupt_dir(q->d.spool), m->qid);
            queue_event(q, "queue.corrupt",
                         json_pack("{s:s, s:s}", "queue_id", m->qid, "moved_to",
                                   spool_corrupt_dir(q->d.spool)));
        }
        if (err == ENOENT || quarantined) {
            if (!quarantined)
                log_warn("qmgr", "%s: queue file vanished", m->qid);
            qmsg_leave_queue(m, quarantined ? "moved to corrupt/" : "removed");
            return;
        }
        log_error("qmgr", "%s: cannot read queue file: %s; trying again later", m->qid,
                  strerror(err));
        m->next_try = (long long)queue_now() + queue_conf_now(q)->retry_max_ms / 1000;
        qmsg_attempt_close(m);
        return;
    }
    m->tries = m->qf->tries;
    if (m->qf->held)
        m->held = true;
    qindex_set_file(m, m->qf);
    if (m->delete_ops || m->held || m->q->stopping) {
        qmsg_attempt_close(m);
        return;
    }
    qacct_route(m);   /* held when its login is suspended, else routed */
}

static void qmsg_attempt_start(struct qmsg *m)
{
    struct queue *q = m->q;
    struct load_job *lj = xcalloc(1, sizeof(*lj));

    m->state = QM_LOADING;
    q->nactive++;
    m->cf = config_ref(queue_cf(q));
    m->t_attempt = queue_now();
    lj->m = m;
    lj->dirfd = q->dirfd;
    lj->corrupt_fd = q->corrupt_fd;
    snprintf(lj->qid, sizeof(lj->qid), "%s", m->qid);
    lj->head_max = (size_t)m->cf->c.queue.bounce_headers_max;
    snprintf(lj->hostname, sizeof(lj->hostname), "%s", m->cf->c.hostname);
    lj->quar_dirfd = (*q->d.quarrun) ? quar_runner_dirfd((*q->d.quarrun)) : -1;
    qmsg_busy(m);
    workpool_submit(q->d.wp, load_work, load_done, lj);
}

enum queue_pause queue_paused(const struct queue *q)
{
    if (queue_conf_now(q)->paused)
        return QUEUE_PAUSED_CONFIG;
    return q->admin_paused ? QUEUE_PAUSED_ADMIN : QUEUE_RUNNING;
}

void queue_set_paused(struct queue *q, bool paused)
{
    if (q->admin_paused == paused)
        return;
    q->admin_paused = paused;
    log_info("qmgr", "delivery %s by the admin", paused ? "paused" : "resumed");
    if (!paused)
        queue_pump(q);
}

void queue_pump(struct queue *q)
{
    if (queue_paused(q) != QUEUE_RUNNING) {
        struct timeval tv = { QUEUE_PAUSE_CHECK_S, 0 };
        if (q->ready_head && !q->stopping && !evtimer_pending(q->wake, NULL))
            evtimer_add(q->wake, &tv);
        return;
    }
    while (!q->stopping && q->ready_head && q->nactive < (unsigned)queue_conf_now(q)->active_max) {
        struct qmsg *m = q->ready_head;
        qmsg_unready(m);
        if (m->state == QM_IDLE && !m->held && !m->acct_held && !m->gone)
            qmsg_attempt_start(m);
    }
}

/* ---- the end of an attempt: DSNs, records, unlink or reschedule ----------------------- */

bool qmsg_domain_listed(const struct conf_strlist *l, const char *domain)
{
    size_t i;
    for (i = 0; i < l->n; i++)
        if (strcasecmp(l->v[i], domain) == 0)
            return true;
    return false;
}

static long long qmsg_lifetime_s(const struct qmsg *m, const char *rcpt)
{
    if (qmsg_domain_listed(&m->cf->c.relay.backup_domains, qres_domain(rcpt)))
        return m->cf->c.queue.backup_lifetime_ms / 1000;
    return m->cf->c.queue.lifetime_ms / 1000;
}

void qmsg_attempt_end(struct qmsg *m)
{
    struct queue_file *qf = m->qf;
    const struct queue_conf *qc = &m->cf->c.queue;
    long long now = (long long)queue_now(), age = queue_file_age(qf, now);
    size_t i, nbounce = 0, npending = 0;
    bool expired = false;

    if (m->fd >= 0) {
        close(m->fd);
        m->fd = -1;
    }
    m->state = QM_FINISHING;
    m->bounce_dsn_failed = false;
    m->warn_dsn_ok = false;
    for (i = 0; i < qf->nrcpt; i++) {
        struct qres *qr = &m->res[i];
        if (qf->rcpts[i].state != QF_PENDING || queue_file_rcpt_held(&qf->rcpts[i]))
            continue; /* held: never expires, no delay warning (queue_policy.h) */
        if (qr->have && !qr->bounce && qr->r.status == SMTP_TEMPFAIL &&
            age >= qmsg_lifetime_s(m, qf->rcpts[i].addr)) {
            qr->bounce = qr->expired = true;
            expired = true;
        }
        if (qr->bounce)
            nbounce++;
        else
            npending++;
    }
    if (expired)
        log_info("qmgr", "%s: from=<%s>, status=expired, returned to sender", m->qid,
                 qf->sender);
    if (nbounce && qf->sender[0] != '\0')
        qmsg_bounce(m, DSN_FAILED);
    else if (nbounce)
        log_info("bounce", "%s: no notification: the sender is <>", m->qid);
    if (npending && qc->delay_warning_ms > 0 && !qf->warned && qf->sender[0] != '\0' &&
        age * 1000 >= qc->delay_warning_ms)
        qmsg_bounce(m, DSN_DELAYED);
    if (m->dsn_pending == 0)
        qmsg_attempt_write(m);
}

struct write_job {
    struct qmsg *m;
    int dirfd;
    char qid[QID_MAX];
    char *recs;
    size_t len;
    bool remove;
    bool keep_records;            /* a DSN was queued: record it durably before the unlink */
    bool recycle;                 /* the file goes back to the spool (spool_recycle_file) */
    struct spool *spool;
    struct spool_spare spare;
    int err;
    bool removed, reusable;
};

static void write_work(void *arg)
{
    struct write_job *w = arg;
    if (w->remove && !w->keep_records) { /* nothing to remember: no fsync (as Postfix) */
        int r = w->recycle ? spool_recycle_file(w->spool, w->qid, &w->spare)
                           : unlinkat(w->dirfd, w->qid, 0) < 0 && errno != ENOENT ? -1 : 0;
        if (r < 0)
            w->err = errno;
        else
            w->removed = true;
        w->reusable = r == 1;
        return;
    }
    if (w->len && queue_file_append(w->dirfd, w->qid, w->recs, w->len) < 0) {
        w->err = errno;
        return;
    }
    if (w->remove) {
        if (queue_file_remove(w->dirfd, w->qid) < 0)
            w->err = errno;
        else
            w->removed = true;
    }
}

static void write_done(void *arg)
{
    struct write_job *w = arg;
    struct qmsg *m = w->m;
    int err = w->err;
    bool removed = w->removed;

    if (w->recycle)
        spool_recycle_done(w->spool, w->reusable ? &w->spare : NULL);
    free(w->recs);
    free(w);
    if (!qmsg_unbusy(m))
        return;
    if (err)
        log_error("qmgr", "%s: cannot update queue file: %s", m->qid, strerror(err));
    if (removed) {
        log_info("qmgr", "%s: removed", m->qid);
        qmsg_leave_queue(m, "removed");
        return;
    }
    m->removing = false; /* the unlink failed: it stays, and takes admin operations again */
    qmsg_attempt_close(m);
}

/* The address in a relay text "host[ip]:port" into ip; false for "maildir", "none" and
 * unix sockets ("host[/path]"). */
static bool relay_ip(const char *relay, char *ip, size_t len)
{
    const char *a = strrchr(relay, '['), *b = a ? strchr(a, ']') : NULL;

    if (b == NULL || b[1] != ':' || (size_t)(b - a) > len)
        return false;
    snprintf(ip, len, "%.*s", (int)(b - a - 1), a + 1);
    return true;
}

/* The outcome of one recipient as an alert: message.bounced, or message.deferred with the
 * time of the next try (next_try > 0). remote_* name the server that gave the reply. */
static void qmsg_event(struct qmsg *m, const char *type, size_t i, const struct qres *qr,
                       unsigned tries, long long next_try)
{
    const struct queue_file *qf = m->qf;
    char queued[WH_TIMESTAMP_SIZE], next[WH_TIMESTAMP_SIZE], ip[DELIVER_RELAY_MAX];
    bool have_ip = qr->remote_host && relay_ip(qr->relay, ip, sizeof(ip));

    wh_event_timestamp(queued, (long long)(qf->arrival * 1000));
    wh_event_timestamp(next, next_try * 1000);
    queue_event(m->q, type,
                 wh_pack("{s:s, s:s, s:s, s:s*, s:s*, s:i, s:s*, s:s, s:s*, s:s*, s:s*, s:s*,"
                           " s:I, s:s*, s:s}",
                           "queue_id", m->qid, "sender", qf->sender,
                           "recipient", qf->rcpts[i].addr, "login", qf->auth,
                           "listener", qf->listener, "code", qr->r.code,
                           "enhanced_code", qr->r.enhanced[0] ? qr->r.enhanced : NULL,
                           "text", qr->r.text,
                           "bounce_type", qr->bounce ? qr->expired ? "expired" : "permanent"
                                                     : NULL,
                           "remote_host", qr->remote_host, "remote_ip", have_ip ? ip : NULL,
                           "relay", qr->relay[0] ? qr->relay : NULL,
                           "attempts", (json_int_t)tries,
                           "next_attempt", next_try > 0 ? next : NULL, "queued_at", queued));
}

void qmsg_attempt_write(struct qmsg *m)
{
    struct queue_file *qf = m->qf;
    struct queue *q = m->q;
    struct write_job *w = xcalloc(1, sizeof(*w));
    long long now = (long long)queue_now();
    long long next_try = now + (backoff_ms(&m->cf->c.queue, qf->tries + 1) + 999) / 1000;
    size_t i, pending = 0, held = 0;

    for (i = 0; i < qf->nrcpt; i++) {
        struct qres *qr = &m->res[i];
        if (qf->rcpts[i].state != QF_PENDING)
            continue;
        if (queue_file_rcpt_held(&qf->rcpts[i]))
            held++;
        if (qr->bounce && !m->bounce_dsn_failed) {
            qsb_take(&m->recs, qres_record("bounced", i, now, &qr->r, qr->relay));
            w->keep_records = true;
            qf->rcpts[i].state = QF_BOUNCED;
            qmsg_event(m, "message.bounced", i, qr, qf->tries + 1, 0);
            qverp_bounced(m, i, qr);
        } else {
            if (qr->have && !qr->bounce &&
                qf->tries + 1 == (unsigned)m->cf->c.webhooks.deferred_after_tries)
                qmsg_event(m, "message.deferred", i, qr, qf->tries + 1, next_try);
            if (qr->bounce) /* its DSN could not be queued: bounce it on the next try */
                qsb_take(&m->recs, qres_record("deferred", i, now, &qr->r, qr->relay));
            pending++;
        }
    }
    if (pending)
        qindex_set_file(m, qf);   /* delivered and bounced recipients drop out */
    else
        qindex_clear(m);
    if (m->warn_dsn_ok)
        qsb_take(&m->recs, queue_file_rec_mark("warned", now));
    m->parked = pending > 0 && pending == held && !m->unpark;
    m->unpark = false;
    if (pending && !m->parked) {
        m->tries = qf->tries + 1;
        m->next_try = next_try;
        qsb_take(&m->recs, queue_file_rec_try(m->tries, m->next_try));
    }
    w->m = m;
    w->dirfd = q->dirfd;
    snprintf(w->qid, sizeof(w->qid), "%s", m->qid);
    w->recs = m->recs.p;
    w->len = m->recs.len;
    memset(&m->recs, 0, sizeof(m->recs));
    w->remove = pending == 0;
    w->spool = q->d.spool;
    m->removing = w->remove;
    /* an admin append still in flight (hold, release) may write into the file: then its
     * inode must not carry another message, so it is only unlinked */
    w->recycle = w->remove && !w->keep_records && m->busy == 0 &&
                 spool_recycle_reserve(w->spool);
    qmsg_busy(m);
    workpool_submit(q->d.wp, write_work, write_done, w);
}

/* ---- start and stop ----------------------------------------------------------------------- */

struct scan_item {
    char qid[QID_MAX];
    long long next_try;
    unsigned tries;
    bool held;
    unsigned long long size;      /* the message's size (the index's backlog bytes) */
    char **domains;               /* of its pending recipients (for the index) */
    size_t ndomains;
};

struct scan_job {
    struct queue *q;
    int dirfd;
    struct scan_item *items;
    size_t n;
    int err;
};

static void scan_work(void *arg)
{
    struct scan_job *s = arg;
    /* its own open file description: a dup() would share the read position of q->dirfd
     * with whoever else reads the directory through it */
    int fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;
    size_t cap = 0;

    if (d == NULL) {
        s->err = errno;
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        struct queue_file *qf;
        if (!qid_valid(e->d_name))
            continue;
        if (s->n == cap) {
            cap = cap ? cap * 2 : 64;
            s->items = xrealloc(s->items, cap * sizeof(*s->items));
        }
        memset(&s->items[s->n], 0, sizeof(s->items[s->n]));
        snprintf(s->items[s->n].qid, sizeof(s->items[s->n].qid), "%.*s", QID_MAX - 1,
                 e->d_name);
        qf = queue_file_load(s->dirfd, e->d_name, NULL);
        if (qf) {
            struct scan_item *it = &s->items[s->n];
            size_t i;
            it->next_try = qf->next_try;
            it->tries = qf->tries;
            it->held = qf->held;
            it->size = qf->msg_size;
            it->domains = xcalloc(qf->nrcpt + 1, sizeof(char *));
            for (i = 0; i < qf->nrcpt; i++)
                if (qf->rcpts[i].state == QF_PENDING)
                    it->domains[it->ndomains++] = xstrdup(qres_domain(qf->rcpts[i].addr));
            queue_file_free(qf);
        }
        s->n++;
    }
    closedir(d);
}

static void scan_done(void *arg)
{
    struct scan_job *s = arg;
    struct queue *q = s->q;
    size_t i, held = 0;

    q->busy--;
    if (!q->final) {
        if (s->err)
            log_error("qmgr", "cannot scan the queue: %s", strerror(s->err));
        for (i = 0; i < s->n; i++) {
            struct qmsg *m;
            if (qmsg_get(q, s->items[i].qid))
                continue; /* queued while the scan ran: already scheduled */
            m = qmsg_new(q, s->items[i].qid);
            m->tries = s->items[i].tries;
            m->next_try = s->items[i].next_try;
            m->held = s->items[i].held;
            qindex_set(m, (const char *const *)s->items[i].domains, s->items[i].ndomains,
                       s->items[i].size);
            held += m->held;
            qmsg_schedule(m, m->next_try);
        }
        log_info("qmgr", "queue scan: %zu messages scheduled, %zu held", s->n - held, held);
    }
    for (i = 0; i < s->n; i++) {
        size_t k;
        for (k = 0; k < s->items[i].ndomains; k++)
            free(s->items[i].domains[k]);
        free(s->items[i].domains);
    }
    free(s->items);
    free(s);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    queue_pump(arg);
}

struct queue *queue_new(const struct queue_deps *deps)
{
    struct queue *q = xcalloc(1, sizeof(*q));
    q->d = *deps;
    q->dirfd = open(spool_queue_dir(q->d.spool), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    q->corrupt_fd = open(spool_corrupt_dir(q->d.spool), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (q->dirfd < 0 || q->corrupt_fd < 0) {
        log_error("qmgr", "cannot open %s or %s: %s", spool_queue_dir(q->d.spool),
                  spool_corrupt_dir(q->d.spool), strerror(errno));
        if (q->dirfd >= 0)
            close(q->dirfd);
        free(q);
        return NULL;
    }
    q->nbuckets = QUEUE_HASH_MIN;
    q->hash = xcalloc(q->nbuckets, sizeof(*q->hash));
    q->ready_tail = &q->ready_head;
    q->dlv = deliver_new(q->d.base, q->d.wp, q->d.dns);
    q->wake = evtimer_new(q->d.base, on_wake, q);
    qacct_new(q);
    return q;
}

void queue_start(struct queue *q)
{
    struct scan_job *s = xcalloc(1, sizeof(*s));
    s->q = q;
    s->dirfd = q->dirfd;
    q->busy++;
    workpool_submit(q->d.wp, scan_work, scan_done, s);
}

void queue_add(struct queue *q, const char *qid)
{
    struct qmsg *m;
    if (q->final)
        return;
    m = qmsg_get(q, qid);
    if (m == NULL)
        m = qmsg_new(q, qid);
    if (q->stopping)
        return;
    if (m->state == QM_IDLE) {
        evtimer_del(m->timer);
        qmsg_ready(m);
        queue_pump(q);
    }
}

void queue_queued_hook(void *q, const char *qid)
{
    queue_add(q, qid);
}

void queue_shutdown(struct queue *q)
{
    size_t i;
    if (q == NULL || q->stopping)
        return;
    q->stopping = true;
    evtimer_del(q->wake);
    while (q->ready_head)
        qmsg_unready(q->ready_head);
    for (i = 0; i < q->nbuckets; i++) {
        struct qmsg *m, *next;
        for (m = q->hash[i]; m; m = next) {
            next = m->hnext;
            evtimer_del(m->timer);
            if (m->state == QM_ACTIVE && m->jobs) {
                /* cancelled recipients stay pending; the outcomes already known are written */
                qmsg_cancel_jobs(m);
                qmsg_attempt_end(m);
            }
        }
    }
}

bool queue_idle(const struct queue *q)
{
    return q == NULL || q->busy == 0;
}

void queue_stop(struct queue *q)
{
    size_t i;
    if (q == NULL)
        return;
    queue_shutdown(q);
    q->final = true;
    qacct_stop(q);
    qverp_stop(q);
    for (i = 0; i < q->nbuckets; i++) {
        struct qmsg *m;
        for (m = q->hash[i]; m; m = m->hnext)
            qmsg_cancel_jobs(m);
    }
    deliver_free(q->dlv);
    q->dlv = NULL;
}

void queue_free(struct queue *q)
{
    size_t i;
    if (q == NULL)
        return;
    if (q->dlv)
        queue_stop(q);
    qacct_free(q);                /* walks the messages: before they are freed */
    for (i = 0; i < q->nbuckets; i++) {
        struct qmsg *m = q->hash[i], *next;
        for (; m; m = next) {
            next = m->hnext;
            while (m->delete_ops) {
                struct qop *op = m->delete_ops;
                m->delete_ops = op->next;
                free(op);
            }
            qmsg_free(m);
        }
    }
    free(q->hash);
    qindex_free(q);
    qetrn_free(q);
    event_free(q->wake);
    close(q->dirfd);
    close(q->corrupt_fd);
    free(q);
}

