/*
 * queue_int.h - private to the queue runner (relay/queue/queue*.c).
 *
 *   queue.c         the message table, scheduling, loading, the end of an attempt
 *                   (expiry, records, unlink or the next try), start and stop
 *   queue_route.c   routing the pending recipients of a loaded message to the delivery
 *                   agents, and taking their per-recipient results
 *   queue_result.c  what a result becomes: the Postfix-shaped log line, its DSN status
 *                   and text, and the DSNs queued to the sender
 *   queue_admin.c   posternctl's operations and ETRN: flush, hold, release, delete,
 *                   status
 *   queue_index.c   the index domain -> messages with a recipient pending there
 *   queue_account.c the mail of logins suspended by the compromised-account breaker:
 *                   held at load, scheduled when the login is released
 *   queue_verp.c    a 5xx to a newsletter recipient's VERP copy: a hard bounce for the
 *                   suppression list and sender health (policy/newsletter_feed.h)
 *
 * Everything runs on the loop thread; file work goes to the worker pool.
 */
#ifndef POSTERN_QUEUE_INT_H
#define POSTERN_QUEUE_INT_H

#include "lib/dsn.h"
#include "lib/qid.h"
#include "relay/deliver/deliver.h"
#include "relay/queue/queue.h"
#include "relay/queue/queue_policy.h"
#include "relay/queue/route.h"

#include <stdbool.h>
#include <stddef.h>

struct event;
struct config;
struct conf_strlist;
struct queue_file;

#define QUEUE_LOG_TEXT   700      /* a reply as it goes into logs and records */
#define QUEUE_DEST_MAX   (ROUTE_HOST_MAX + PATH_MAX + 16)

struct sbuf {
    char *p;
    size_t len, cap;
};

enum qm_state { QM_IDLE, QM_LOADING, QM_ACTIVE, QM_FINISHING };

struct qres {
    bool have;                    /* a result came in this attempt */
    bool bounce;                  /* to be returned to the sender now */
    bool expired;
    struct smtp_result r;
    char relay[DELIVER_RELAY_MAX];
    char *remote_host;
};

struct qmsg;
struct qacct;
struct qverp;
struct redis_req;
struct qlink;
struct qdomain;
struct qetrn;

struct qjob {
    struct qjob *next;
    struct qmsg *m;
    struct deliver_job *dj;
    enum route_kind kind;
    size_t *idx;
    const char **rcpts;
    size_t n;
};

struct qop {
    struct qop *next;
    queue_op_fn cb;
    void *arg;
};

struct qmsg {
    struct qmsg *hnext;           /* hash chain */
    struct qmsg *rnext;           /* ready FIFO */
    bool in_ready;
    struct queue *q;
    char qid[QID_MAX];
    enum qm_state state;
    bool held;
    bool parked;                  /* only held recipients are pending: no retries until
                                     posternctl held release|delete (queue_policy.c) */
    bool unpark;                  /* such an admin change came during an attempt: the
                                     attempt's view is stale, so do not park after it */
    bool acct_held;               /* its login is suspended: not delivered until released
                                     (queue_account.c) */
    char *login;                  /* its auth login once loaded (NULL: none, or not yet) */
    struct redis_req *acct_req;   /* asking Redis whether login is suspended */
    unsigned long long acct_epoch; /* the account cache's epoch when asked */
    bool gone;                    /* removed or being removed: no new work */
    bool removing;                /* delivered: its file is being unlinked or recycled */
    bool forgotten;               /* out of the table; freed when busy drops to 0 */
    unsigned busy;
    unsigned tries;
    long long next_try;
    struct event *timer;
    struct qop *delete_ops;       /* admins waiting for a delete */
    /* the current attempt */
    struct config *cf;
    struct queue_file *qf;
    int fd;
    char *head;
    size_t head_len;
    struct qpolicy pol;           /* the recipients' copies (queue_policy.c) */
    struct qjob *jobs;
    unsigned jobs_pending;
    struct qres *res;
    struct sbuf recs;
    double t_attempt;
    unsigned dsn_pending;
    bool bounce_dsn_failed, warn_dsn_ok;
    /* the index (queue_index.c): one link per domain with a pending recipient */
    struct qlink *links;
    size_t nlinks;
    unsigned index_visit;         /* the last qindex_each that visited it */
};

struct queue {
    struct queue_deps d;             /* loop, pool, spool, resolver, config, event sink */
    struct deliver *dlv;
    int dirfd;
    int corrupt_fd;               /* spool_dir/corrupt: unparsable files are moved here */
    struct qmsg **hash;
    size_t nbuckets, nmsgs;
    struct qmsg *ready_head, **ready_tail;
    unsigned nactive;
    struct event *wake;           /* while paused: look again for a reload */
    bool admin_paused;            /* posternctl pause (until resume) */
    unsigned busy;                /* sum of every m->busy, plus the start-up scan */
    bool stopping;                /* SIGTERM: nothing new */
    bool final;                   /* the loop is gone: drop, never submit */
    struct qdomain **domains;     /* the index (queue_index.c) */
    size_t ndbuckets, ndomains;
    unsigned index_visit;
    struct qetrn *etrn;           /* per domain: the last ETRN flush (queue_admin.c) */
    struct qacct *acct;           /* suspended logins with held mail (queue_account.c) */
    struct qverp *verp_feeds;     /* hard bounces being counted in Redis (queue_verp.c) */
};

/* ---- queue.c ---------------------------------------------------------------------------- */

double queue_now(void);                                  /* unix time, microseconds */
const struct queue_conf *queue_conf_now(const struct queue *q); /* of the running config */
void qsb_take(struct sbuf *b, char *s);                  /* append s and free it */
void qsb_free(struct sbuf *b);

/* True when domain is in l (case-insensitive): relay.local_domains, backup_domains. */
bool qmsg_domain_listed(const struct conf_strlist *l, const char *domain);
struct qmsg *qmsg_get(const struct queue *q, const char *qid);
/* Out of the table; freed now, or by qmsg_unbusy() when its last operation returns. */
void qmsg_forget(struct qmsg *m);
/* Count an asynchronous operation that holds m / its end. qmsg_unbusy() returns false
 * when m must not be used any more (forgotten and freed, or the loop is gone). */
void qmsg_busy(struct qmsg *m);
bool qmsg_unbusy(struct qmsg *m);
void qmsg_ready(struct qmsg *m);                         /* into the ready FIFO */
void qmsg_unready(struct qmsg *m);
void qmsg_schedule(struct qmsg *m, long long when);      /* timer at unix time `when` */
void queue_pump(struct queue *q);                        /* start what active_max allows */
void qmsg_attempt_clear(struct qmsg *m);                 /* release the attempt's state */
void qmsg_cancel_jobs(struct qmsg *m);                   /* cancel deliveries in flight */
void qmsg_attempt_close(struct qmsg *m);                 /* back to IDLE, next try */
void qmsg_attempt_end(struct qmsg *m);                   /* every job is done */
void qmsg_attempt_write(struct qmsg *m);                 /* every DSN is committed */

/* ---- queue_route.c ------------------------------------------------------------------------- */

void qmsg_attempt_route(struct qmsg *m);                 /* the message is loaded */

/* ---- queue_result.c ------------------------------------------------------------------------ */

const char *qres_domain(const char *addr);
/* The DSN status of a result ("4.4.1"); buf (QF_DSN_MAX) is used when it is derived. */
const char *qres_dsn(const struct smtp_result *r, char *buf, size_t len);
/* The text of a log line's parentheses and of a record: Postfix's wording. */
void qres_learn(const struct qmsg *m, const char *rcpt);  /* delivered: a known recipient */
void qres_log_text(char *buf, size_t len, const struct smtp_result *r, const char *relay);
/* The record line ("done", "deferred", "bounced") for recipient idx and result r. */
char *qres_record(const char *kind, size_t idx, long long t, const struct smtp_result *r,
                  const char *relay);
const char *qres_component(enum route_kind k);           /* "smtp", "lmtp", "virtual" */
void qres_log(const struct qmsg *m, const char *component, const char *rcpt,
              const struct deliver_report *rep, const struct smtp_result *r,
              const char *status);
/* Queue a DSN about the bounced (DSN_FAILED) or still pending (DSN_DELAYED) recipients;
 * qmsg_attempt_write() follows when the last commit is in. False when none was started. */
bool qmsg_bounce(struct qmsg *m, enum dsn_action action);

/* ---- queue_admin.c ------------------------------------------------------------------------- */

void qmsg_delete_now(struct qmsg *m);                    /* answer m->delete_ops */
void qetrn_free(struct queue *q);                        /* the ETRN limits (queue_free) */

/* ---- queue_account.c ----------------------------------------------------------------------- */

void qacct_new(struct queue *q);                         /* queue_new */
/* The message is loaded: hold it if its login is suspended (maybe after asking Redis),
 * else route it (qmsg_attempt_route). */
void qacct_route(struct qmsg *m);
void qacct_stop(struct queue *q);                        /* cancel Redis requests */
void qacct_free(struct queue *q);

/* ---- queue_verp.c -------------------------------------------------------------------------- */

/* Recipient idx of m is recorded "bounced" with result qr: a newsletter hard bounce when
 * its copy had a VERP sender and the recipient's server refused it (5xx). */
void qverp_bounced(struct qmsg *m, size_t idx, const struct qres *qr);
void qverp_stop(struct queue *q);                        /* cancel what is in Redis */

/* ---- queue_index.c ------------------------------------------------------------------------- */

/* File m under these domains (its pending recipients'; duplicates and "" are skipped),
 * instead of the ones it had. */
void qindex_set(struct qmsg *m, const char *const *domains, size_t n,
                unsigned long long bytes);
/* The same with the domains of the recipients of qf still pending. */
void qindex_set_file(struct qmsg *m, const struct queue_file *qf);
void qindex_clear(struct qmsg *m);                       /* out of the index */
/* fn(m, arg) once for each message filed under domain (with subdomains: under it or a
 * domain below it). fn must not change the index. */
typedef void (*qindex_fn)(struct qmsg *m, void *arg);
void qindex_each(struct queue *q, const char *domain, bool subdomains, qindex_fn fn,
                 void *arg);
void qindex_free(struct queue *q);                       /* after every message is freed */

/* The current configuration, and an event through the daemon's sink (takes data). */
static inline struct config *queue_cf(const struct queue *q)
{
    return *q->d.cf;
}

static inline void queue_event(struct queue *q, const char *type, struct json_t *data)
{
    q->d.event(q->d.event_arg, type, data);
}

#endif
