/*
 * deliver.c - the delivery manager (see deliver.h): jobs, destinations, limits.
 *
 * Jobs wait in a FIFO per destination (struct ddest). A destination may have at most
 * limits.per_destination connections and the manager at most limits.total; connections
 * (relay/deliver/deliver_smtp.c) are started from the "kick" event, never inside a caller's call
 * or one of our callbacks, so a job's callback never runs before deliver_submit()
 * returns. A connection takes the first waiting job and, when it is done, the next job
 * waiting for the same destination (connection reuse); with nothing waiting it stays open
 * for queue.connection_cache_time, idle, for the next job to that destination (an idle
 * connection gives its place up when another destination needs one under limits.total).
 * Maildir jobs go straight to
 * deliver_maildir.c (the worker pool is their limit). Each job holds a config reference.
 * Loop thread only.
 */
#include "relay/deliver/deliver_int.h"

#include "lib/xalloc.h"
#include "relay/relay_conf.h"

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

double deliver_now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

void deliver_result(struct smtp_result *r, enum smtp_stage stage, int code, const char *enh,
                    const char *fmt, ...)
{
    va_list ap;
    memset(r, 0, sizeof(*r));
    r->status = code / 100 == 5 ? SMTP_PERMFAIL : code / 100 == 2 ? SMTP_SENT : SMTP_TEMPFAIL;
    r->stage = stage;
    r->local = true;
    r->session = true;
    r->code = code;
    snprintf(r->enhanced, sizeof(r->enhanced), "%s", enh);
    va_start(ap, fmt);
    vsnprintf(r->text, sizeof(r->text), fmt, ap);
    va_end(ap);
}

/* ---- manager ---------------------------------------------------------------------------- */

static void on_kick(evutil_socket_t fd, short what, void *arg);

struct deliver *deliver_new(struct event_base *base, struct workpool *wp, struct dns *dns)
{
    struct deliver *d = xcalloc(1, sizeof(*d));
    d->base = base;
    d->wp = wp;
    d->dns = dns;
    d->kick = event_new(base, -1, 0, on_kick, d);
    return d;
}

static struct ddest *dest_get(struct deliver *d, const char *key)
{
    struct ddest *t;
    for (t = d->dests; t; t = t->next)
        if (strcmp(t->key, key) == 0)
            return t;
    t = xcalloc(1, sizeof(*t));
    t->key = xstrdup(key);
    t->wait_tail = &t->wait_head;
    t->next = d->dests;
    d->dests = t;
    return t;
}

/* Forget destinations with nothing waiting and nothing running. */
static void dest_gc(struct deliver *d)
{
    struct ddest **pp = &d->dests, *t;
    while ((t = *pp) != NULL) {
        if (t->wait_head == NULL && t->active == 0) {
            *pp = t->next;
            free(t->key);
            free(t);
        } else {
            pp = &t->next;
        }
    }
}

static void wait_remove(struct deliver_job *j)
{
    struct ddest *t = j->dest;
    struct deliver_job **pp;
    for (pp = &t->wait_head; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            if (t->wait_tail == &j->next)
                t->wait_tail = pp;
            break;
        }
    j->next = NULL;
    j->waiting = false;
}

struct deliver_job *deliver_wait_pop(struct ddest *t)
{
    struct deliver_job *j = t->wait_head;
    if (j)
        wait_remove(j);
    return j;
}

void deliver_job_free(struct deliver_job *j)
{
    j->d->jobs--;
    config_unref(j->cf);
    free(j->domain);
    free(j);
}

/* Report and free the job. The callback may submit or cancel other jobs. */
void deliver_job_finish(struct deliver_job *j, const struct smtp_result *res, size_t n,
                       const char *relay, const char *remote_host)
{
    struct deliver_report rep;
    memset(&rep, 0, sizeof(rep));
    rep.rcpt = res;
    rep.nrcpts = n;
    rep.relay = relay ? relay : "none";
    rep.remote_host = remote_host;
    rep.t_queued = j->t_queued;
    rep.t_started = j->t_started ? j->t_started : deliver_now();
    rep.t_ready = j->t_ready ? j->t_ready : deliver_now();
    rep.t_done = deliver_now();
    j->conn = NULL;
    j->cb(j->arg, &rep);
    deliver_job_free(j);
}

/* Every recipient of j gets the same result. */
void deliver_job_fail_all(struct deliver_job *j, const struct smtp_result *why,
                          const char *relay, const char *remote_host)
{
    struct smtp_result *res = xcalloc(j->msg.nrcpts, sizeof(*res));
    size_t i;
    for (i = 0; i < j->msg.nrcpts; i++)
        res[i] = *why;
    deliver_job_finish(j, res, j->msg.nrcpts, relay, remote_host);
    free(res);
}

/* ---- maildir ---------------------------------------------------------------------------- */

static void on_maildir_done(void *arg, const struct smtp_result *res, size_t n)
{
    struct deliver_job *j = arg;
    j->mj = NULL;
    j->t_ready = j->t_started;
    deliver_job_finish(j, res, n, "maildir", NULL);
}

/* Start connections while limits allow, from a fresh loop turn: never inside a caller's
 * call (deliver_submit) or a callback of ours. */
void deliver_kick(struct deliver *d)
{
    event_active(d->kick, 0, 0);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct deliver *d = arg;
    struct ddest *t;
    bool started = true;

    (void)fd;
    (void)what;
    while (started) {
        started = false;
        for (t = d->dests; t; t = t->next) {
            struct deliver_job *j = t->wait_head;
            if (j == NULL)
                continue;
            if (dconn_take_idle(d, t)) {
                started = true;
                break;
            }
            if (t->active >= (unsigned)j->lim.per_destination)
                continue;
            if (d->total >= (unsigned)j->lim.total) {
                if (dconn_evict_idle(d)) { /* a place is free now: look again */
                    started = true;
                    break;
                }
                continue;
            }
            deliver_wait_pop(t);
            dconn_start(d, t, j);
            started = true;
            break; /* the list may have changed under conn_start's callbacks: start over */
        }
    }
    dest_gc(d);
}

struct deliver_job *deliver_submit(struct deliver *d, struct config *cf,
                                   const struct deliver_limits *lim, const char *dest,
                                   const struct route *route, const char *domain,
                                   const struct deliver_msg *msg, deliver_done_fn cb,
                                   void *arg)
{
    struct deliver_job *j = xcalloc(1, sizeof(*j));

    j->d = d;
    j->cf = config_ref(cf);
    j->lim = *lim;
    j->route = *route;
    j->domain = xstrdup(domain);
    j->msg = *msg;
    j->cb = cb;
    j->arg = arg;
    j->t_queued = deliver_now();
    d->jobs++;
    if (route->kind == ROUTE_MAILDIR) {
        j->t_started = j->t_queued;
        j->mj = maildir_deliver(d->wp, route->path, cf->c.hostname, msg, on_maildir_done, j);
        return j;
    }
    j->dest = dest_get(d, dest);
    j->waiting = true;
    *j->dest->wait_tail = j;
    j->dest->wait_tail = &j->next;
    deliver_kick(d);
    return j;
}

void deliver_cancel(struct deliver_job *j)
{
    if (j == NULL)
        return;
    if (j->mj) {
        maildir_cancel(j->mj);
    } else if (j->waiting) {
        wait_remove(j);
    } else if (j->conn) {
        dconn_close(j->conn);
    }
    deliver_job_free(j);
}

void deliver_free(struct deliver *d)
{
    struct ddest *t;

    if (d == NULL)
        return;
    /* drop waiting jobs first, so that ending connections starts nothing new */
    for (t = d->dests; t; t = t->next) {
        struct deliver_job *j;
        while ((j = deliver_wait_pop(t)) != NULL)
            deliver_job_free(j);
    }
    while (d->conns) {
        struct deliver_job *j = dconn_close(d->conns);
        if (j)
            deliver_job_free(j);
    }
    dest_gc(d);
    event_free(d->kick);
    ssl_cache_clear(&d->ssl);
    deliver_self_free(&d->self);
    free(d);
}

