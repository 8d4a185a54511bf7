/*
 * queue.h - the queue runner: what is delivered when, retries, bounces, expiry.
 *
 * Every file in SPOOL/queue/ is a message to deliver. The runner keeps a small record of
 * each one in memory (ID, next try, held), loads a message when it is due (on the worker
 * pool), routes each pending recipient by its domain (relay/queue/route.h), hands groups of
 * recipients to the delivery agents (relay/deliver/deliver.h), and writes the outcome as records
 * appended to the queue file (relay/queue/queue_file.h), fsynced before anything depends on it:
 *
 *   2xx        "done"       (never delivered again)
 *   5xx        a DSN to the sender is queued first (RFC 3464, lib/dsn.h; none for the
 *              null sender, nor for inbound mail to a domain whose "bounces" setting
 *              forbids it: message.bounce_suppressed), then "bounced"
 *   4xx, I/O   "deferred"; the message is tried again after a backoff that starts at
 *              queue.retry_min and doubles up to queue.retry_max, until queue.lifetime
 *              (queue.backup_lifetime for relay.backup_domains) is over: then it bounces
 *
 * A message whose auth login is suspended by the compromised-account breaker
 * (policy/account_breaker.h) is not delivered: it stays queued, held ("account
 * suspended"), and is scheduled at once when the login is released on any node
 * (queue_account.c); its hold does not count towards queue.lifetime.
 *
 * A message with no pending recipient left is unlinked (and the directory fsynced); "QID:
 * removed" is logged. After a restart every file is scheduled again at its recorded next
 * try, so nothing is lost and a recipient is delivered at least once.
 *
 * Everything runs on the loop thread; file work goes to the worker pool.
 */
#ifndef POSTERN_QUEUE_H
#define POSTERN_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/conf.h"

struct event_base;
struct workpool;
struct spool;
struct dns;
struct config;
struct json_t;
struct redis;
struct quar_runner;
struct account_cache;
struct queue;

/* The "queue" config section (keys in queue.c). */
struct queue_conf {
    long long retry_min_ms;            /* first retry after this */
    long long retry_max_ms;            /* the backoff doubles up to this */
    long long lifetime_ms;             /* then bounce */
    long long backup_lifetime_ms;      /* for recipients in relay.backup_domains */
    long long delay_warning_ms;        /* warn the sender once after this; 0: never */
    long long active_max;              /* messages being delivered at once */
    long long concurrency;             /* connections at once, in total */
    long long destination_concurrency; /* connections to one destination at once */
    long long rcpts_per_transaction;   /* recipients per SMTP transaction */
    long long mx_addresses;            /* addresses tried per delivery attempt */
    long long connection_cache_ms;     /* idle outgoing connections kept this long */
    long long backup_probe_interval_ms; /* primary MX probes of backup domains; 0: off */
    long long etrn_interval_ms;        /* one ETRN flush per domain in this time */
    unsigned long long bounce_headers_max; /* bytes of the original headers in a DSN */
    bool paused;                       /* queue mail, deliver nothing (until reload) */
};

extern const struct conf_section queue_conf_section;

/* What the runner is given by the composition root (relay/server.c), not the daemon. */
struct queue_deps {
    struct event_base *base;
    struct workpool *wp;             /* queue-file loads and writes */
    struct spool *spool;
    struct dns *dns;
    struct redis *redis;             /* NULL when nothing needs Redis */
    struct account_cache *accounts;  /* logins' suspensions (policy/account_cache.h): the
                                        mail of a suspended login is held (queue_account.c);
                                        NULL: asked of Redis (when there is one) */
    struct quar_runner *const *quarrun; /* where this node's quarantine is (made after the
                                        queue; NULL inside when there is none) */
    struct config *const *cf;        /* where the current configuration is (swapped on
                                        reload); read at each attempt */
    /* events for the alert layer; takes the reference of data */
    void (*event)(void *arg, const char *type, struct json_t *data);
    void *event_arg;
};

/* Create the runner (deps is copied). */
struct queue *queue_new(const struct queue_deps *deps);

/* Scan the queue directory (on the worker pool) and schedule every message. */
void queue_start(struct queue *q);

/* A new message became durable (spool queued hook): deliver it now. Loop thread. */
void queue_add(struct queue *q, const char *qid);

/* The same, shaped as a spool_queued_fn: spool_set_queued_hook(sp, queue_queued_hook, q). */
void queue_queued_hook(void *q, const char *qid);

/* The queued backlog of a recipient domain: messages with a recipient of it still pending
 * that the runner has read (at start-up, or since they were queued), and their sizes
 * (from the queue file's envelope, also for messages known only from the start-up scan).
 * The backup-domain cap (policy/checks/check_backlog.c) reads it. */
void queue_backlog(struct queue *q, const char *domain, unsigned long long *msgs,
                   unsigned long long *bytes);

/* SIGTERM: start nothing new, cancel deliveries in progress (their recipients stay
 * pending), and let what was already decided reach the disk. */
void queue_shutdown(struct queue *q);

/* True when nothing of the runner's is in flight (the server's drain waits for it). */
bool queue_idle(const struct queue *q);

/* The loop has ended: drop everything still in flight without starting new work (called
 * before the worker pool finishes its jobs). */
void queue_stop(struct queue *q);

/* Free the runner (after the worker pool is gone). NULL is a no-op. */
void queue_free(struct queue *q);

/* ---- admin operations (relay/admin.c) ------------------------------------------------ */

/* The result of an operation, once it is durable: err 0 or an errno value (ENOENT: no
 * such message), text a short explanation for the admin. Loop thread. */
typedef void (*queue_op_fn)(void *arg, int err, const char *text);

/* Deliver now: one message (qid) or, with qid NULL, every message that is not held.
 * Synchronous: returns 0 or ENOENT. count receives the number of messages scheduled. */
int queue_flush(struct queue *q, const char *qid, unsigned *count);

/* Deliver now every message that is not held and still has a recipient in domain (with
 * subdomains: in domain or below it), like Postfix's "postqueue -s": from the runner's
 * index of the recipients' domains, without reading a file. Returns the number of
 * messages scheduled (or already being delivered). */
unsigned queue_flush_domain(struct queue *q, const char *domain, bool subdomains);

/* The same for ETRN (RFC 1985), at most once per domain per queue.etrn_interval:
 * returns 0 after a flush (*count set), or 1 when one ran less than the interval ago:
 * then one more runs when the interval is over (whatever the number of requests
 * meanwhile), and nothing is done now. */
int queue_etrn(struct queue *q, const char *domain, bool subdomains, unsigned *count);

/* Hold, release or delete one message; cb runs once the change is on disk. */
void queue_hold(struct queue *q, const char *qid, queue_op_fn cb, void *arg);
void queue_release(struct queue *q, const char *qid, queue_op_fn cb, void *arg);
void queue_delete(struct queue *q, const char *qid, queue_op_fn cb, void *arg);

/* What the runner holds, for posternctl status: messages known, being delivered (loaded
 * or in an attempt), deferred (tried before, waiting for their next try), held (by an
 * admin, or only policy-held recipients left), and the oldest arrival (unix s, -1 when
 * empty). One walk over the in-memory table, no I/O. */
struct queue_counts {
    unsigned messages, active, deferred, held;
    unsigned held_account;        /* of held: because their login is suspended */
    long long oldest_arrival;
};
void queue_counts_get(const struct queue *q, struct queue_counts *out);

/* Messages of login (its auth, case-insensitive) in this node's queue that the runner has
 * loaded at least once (nearly all: a message is loaded when it arrives), for the
 * evidence of account.suspended: the mail the suspension now holds here. One walk. */
unsigned queue_login_queued(const struct queue *q, const char *login);

/* Files moved to SPOOL/corrupt because they could not be parsed (a directory read). */
unsigned queue_corrupt_count(const struct queue *q);

/* Delivery paused at run time (posternctl pause; resume starts what is due). Mail is still
 * accepted and queued. Not kept across a restart: queue.paused in the config is. */
void queue_set_paused(struct queue *q, bool paused);

/* Why delivery is paused: QUEUE_RUNNING, QUEUE_PAUSED_ADMIN or QUEUE_PAUSED_CONFIG. */
enum queue_pause { QUEUE_RUNNING, QUEUE_PAUSED_ADMIN, QUEUE_PAUSED_CONFIG };
enum queue_pause queue_paused(const struct queue *q);

/* Call line() once per message known to the runner with "QID STATE TRIES NEXT" (state:
 * idle, active or held; NEXT unix time, 0 when none), for posternctl's view of what the
 * daemon is doing right now. */
void queue_dump(const struct queue *q, void (*line)(void *arg, const char *text), void *arg);

#endif
