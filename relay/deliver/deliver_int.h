/*
 * deliver_int.h - private to the delivery manager (relay/deliver/deliver.c) and its SMTP/LMTP
 * agent (relay/deliver/deliver_smtp.c).
 *
 * deliver.c owns the jobs and destinations: the FIFO of waiting jobs per destination, the
 * concurrency limits, the "kick" that starts connections from a fresh loop turn, reporting
 * and cancelling jobs, and the maildir dispatch. deliver_smtp.c owns the connections
 * (struct dconn, opaque here): resolving the next hop, connecting, sending, failover and
 * reuse. Loop thread only.
 */
#ifndef POSTERN_DELIVER_INT_H
#define POSTERN_DELIVER_INT_H

#include "relay/deliver/deliver.h"
#include "relay/deliver/deliver_self.h"
#include "relay/deliver/ssl_cache.h"

struct event;
struct ssl_ctx_st;


struct ddest;
struct dconn;

struct deliver {
    struct event_base *base;
    struct workpool *wp;
    struct dns *dns;
    struct event *kick;           /* starts connections from a fresh loop turn */
    struct ddest *dests;
    struct dconn *conns;          /* running, doubly linked */
    unsigned total;               /* connections running */
    unsigned jobs;                /* submitted and not finished */
    struct ssl_cache ssl;          /* client TLS contexts by CA file */
    struct deliver_self self;     /* this host's addresses, for loop detection */
};

struct ddest {
    struct ddest *next;
    char *key;
    struct deliver_job *wait_head, **wait_tail;
    unsigned active;
};

struct deliver_job {
    struct deliver *d;
    struct ddest *dest;
    struct deliver_job *next;     /* in dest's waiting FIFO */
    bool waiting;
    struct config *cf;
    struct deliver_limits lim;
    struct route route;
    char *domain;
    struct deliver_msg msg;       /* borrowed */
    struct smtp_client_msg cm;    /* what the client reads until its sent callback */
    deliver_done_fn cb;
    void *arg;
    struct dconn *conn;           /* serving it */
    struct maildir_job *mj;
    double t_queued, t_started, t_ready;
};



/* ---- deliver.c, for deliver_smtp.c -------------------------------------------------------- */

double deliver_now(void);
/* A result we decided ourselves (session-level: another host may do better). */
void deliver_result(struct smtp_result *r, enum smtp_stage stage, int code, const char *enh,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The client TLS context for a trust-anchor file (NULL: system store); NULL on failure.
 * Contexts live as long as the manager. */
/* The next job waiting for destination t (taken out of the FIFO), or NULL. */
struct deliver_job *deliver_wait_pop(struct ddest *t);
/* Report the results of j to its owner and free j (the callback may submit or cancel
 * other jobs); every recipient gets *why with deliver_job_fail_all(). */
void deliver_job_finish(struct deliver_job *j, const struct smtp_result *res, size_t n,
                        const char *relay, const char *remote_host);
void deliver_job_fail_all(struct deliver_job *j, const struct smtp_result *why,
                          const char *relay, const char *remote_host);
void deliver_job_free(struct deliver_job *j);           /* without a report */
void deliver_kick(struct deliver *d);                   /* start what the limits allow */

/* ---- deliver_smtp.c, for deliver.c -------------------------------------------------------- */

/* Start a connection to t for job j (counted in t->active and d->total). */
void dconn_start(struct deliver *d, struct ddest *t, struct deliver_job *j);
/* Close c now; returns the job it was serving (not reported: the caller's), or NULL. */
struct deliver_job *dconn_close(struct dconn *c);
/* Connection cache: give the next job waiting for t to an idle connection to t (true), or
 * close one idle connection to any destination to free a place under limits.total. */
bool dconn_take_idle(struct deliver *d, struct ddest *t);
bool dconn_evict_idle(struct deliver *d);

#endif
