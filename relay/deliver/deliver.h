/*
 * deliver.h - the delivery agents behind the queue runner.
 *
 * The queue runner (relay/queue/queue.c) decides *what* to deliver and *when*; the agents here
 * decide *how*, and report one result per recipient:
 *
 *   deliver_smtp.c     SMTP to MX hosts or a smarthost, and LMTP (TCP or unix socket), on
 *                      top of relay/deliver/smtp_client: MX lookup and ordering (skipping
 *                      ourselves), failover to the next address, per-destination and total
 *                      concurrency limits, and reuse of a connection for the next message
 *                      waiting for the same destination.
 *   deliver_maildir.c  a copy per recipient into a Maildir, on the worker pool.
 *
 * A job is one message and some of its recipients, all for one destination (the queue
 * runner groups them). Its callback runs exactly once on the loop thread, unless the job
 * is cancelled first; results come as struct smtp_result (protocol-neutral enough for
 * every agent: 2xx sent, 4xx/timeouts temporary, 5xx permanent).
 */
#ifndef POSTERN_DELIVER_H
#define POSTERN_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "relay/queue/route.h"
#include "relay/deliver/smtp_client.h"

struct event_base;
struct workpool;
struct dns;
struct config;
struct deliver;
struct deliver_job;

#define DELIVER_RELAY_MAX 320

/* The message part of a job: borrowed, valid until the callback runs or the job is
 * cancelled. The body is fd[offset, offset + length) in wire form. */
struct deliver_msg {
    const char *qid;
    const char *sender;                /* "" for <> */
    const char *const *rcpts;
    size_t nrcpts;
    int fd;
    off_t offset;
    size_t length;
    unsigned flags;                    /* SMTP_MSG_8BIT, SMTP_MSG_SMTPUTF8 */
};

struct deliver_report {
    const struct smtp_result *rcpt;    /* one per msg->rcpts, same order */
    size_t nrcpts;
    const char *relay;                 /* "host[ip]:port", "maildir", "none" */
    const char *remote_host;           /* the MX/relay host name (DSN Remote-MTA), or NULL */
    double t_queued;                   /* when the job was submitted (unix time) */
    double t_started;                  /* when it got a connection slot */
    double t_ready;                    /* when the session was ready (or failed) */
    double t_done;
};

/* Runs on the loop thread, once. rep and what it points to are valid during the call. */
typedef void (*deliver_done_fn)(void *arg, const struct deliver_report *rep);

/* Limits and names the manager reads from the config given with each job. */
struct deliver_limits {
    long long total;                   /* SMTP/LMTP connections at once (maildir jobs are
                                          bounded by the worker pool instead) */
    long long per_destination;         /* connections to one destination at once */
    long long mx_addresses;            /* addresses tried per attempt */
    long long cache_ms;                /* an idle connection waits this long for a job */
};

/* The manager: destinations, their waiting jobs and connections. */
struct deliver *deliver_new(struct event_base *base, struct workpool *wp, struct dns *dns);

/* Cancel everything (no callback runs afterwards) and free. */
void deliver_free(struct deliver *d);

/*
 * Deliver msg over route. dest is the destination key that groups jobs for connection
 * reuse and concurrency ("mx:example.com", "relay:[smtp.example]:587", ...); domain is the
 * recipient domain (MX lookups). cf is referenced for the life of the job and its
 * connection (timeouts, hostname, listeners, transport options). Never calls cb before
 * returning. The handle is valid until cb starts or deliver_cancel().
 */
struct deliver_job *deliver_submit(struct deliver *d, struct config *cf,
                                   const struct deliver_limits *lim, const char *dest,
                                   const struct route *route, const char *domain,
                                   const struct deliver_msg *msg, deliver_done_fn cb,
                                   void *arg);

/* The callback of job will not run; the job's resources are released (a connection it was
 * using is closed). */
void deliver_cancel(struct deliver_job *job);

/* ---- deliver_maildir.c (used by deliver_smtp.c's dispatcher) ----------------------------- */

struct maildir_job;
typedef void (*maildir_done_fn)(void *arg, const struct smtp_result *res, size_t n);

/* Write one copy per recipient into dir (created with tmp/ new/ cur/ when missing), on the
 * worker pool: Return-Path and Delivered-To prepended, CRLF turned into LF, tmp/ file
 * fsynced, renamed into new/, new/ fsynced. hostname goes into the unique file names. */
struct maildir_job *maildir_deliver(struct workpool *wp, const char *dir, const char *hostname,
                                    const struct deliver_msg *msg, maildir_done_fn cb,
                                    void *arg);

/* cb will not run. The copy being written on the worker completes regardless. */
void maildir_cancel(struct maildir_job *j);

#endif
