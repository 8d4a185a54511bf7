/*
 * server_health.c - /readyz rules and scrape-time gauges for the admin HTTP listener.
 *
 * Ready means: the SMTP listeners are bound and not closed for a shutdown, the spool was
 * recovered (both hold once server_start got this far), and Redis answers when the
 * configuration needs it (a listener with authenticated users). The gauges set here are
 * read from what the queue, the webhooks and the worker pools already keep.
 */
#include "relay/server_health.h"

#include "lib/dns.h"
#include "lib/metrics.h"
#include "lib/redis.h"
#include "lib/workpool.h"
#include "relay/admin.h"
#include "relay/admin_http.h"
#include "relay/queue/queue_metrics.h"
#include "relay/relay_conf.h"
#include "relay/server.h"
#include "webhooks/webhooks.h"

#include <stdio.h>
#include <time.h>

static struct admin_http *health_http;    /* one daemon per process */
static long long health_started;

static void health_collect(void *arg)
{
    struct server *srv = arg;
    struct webhooks_stats ws;
    unsigned long long n;
    long long oldest, now = (long long)time(NULL);

    queue_metrics_get(srv->queue, &n, &oldest);
    metrics_set(M_QUEUE_MESSAGES, (long long)n);
    metrics_set(M_QUEUE_OLDEST, oldest < 0 || oldest > now ? 0 : now - oldest);
    {
        unsigned long long admin, policy, account;
        queue_metrics_held(srv->queue, &admin, &policy, &account);
        metrics_set1(M_QUEUE_HELD, "admin", (long long)admin);
        metrics_set1(M_QUEUE_HELD, "policy", (long long)policy);
        metrics_set1(M_QUEUE_HELD, "account", (long long)account);
    }
    if (srv->webhooks) {
        webhooks_get_stats(srv->webhooks, &ws);
        metrics_set1(M_WEBHOOK_DELIVERIES, "delivered", (long long)ws.delivered);
        metrics_set1(M_WEBHOOK_DELIVERIES, "failed", (long long)ws.failed);
        metrics_set1(M_WEBHOOK_DELIVERIES, "refused", (long long)ws.refused);
        metrics_set(M_WEBHOOK_OUTBOX, (long long)ws.pending);
    }
    if (srv->wp)
        metrics_set1(M_WORKPOOL_QUEUED, "workers", (long long)workpool_pending(srv->wp));
    if (srv->syncwp)
        metrics_set1(M_WORKPOOL_QUEUED, "sync", (long long)workpool_pending(srv->syncwp));
    if (srv->checkwp)
        metrics_set1(M_WORKPOOL_QUEUED, "checks", (long long)workpool_pending(srv->checkwp));
    metrics_set(M_UP_SECONDS, now - health_started);
    if (srv->dns) {
        struct dns_stats ds;
        dns_get_stats(srv->dns, &ds);
        metrics_set1(M_DNS_CACHE, "hit", (long long)ds.cache_hits);
        metrics_set1(M_DNS_CACHE, "miss", (long long)(ds.sent + ds.coalesced));
    }
}

static int health_ready(void *arg, char *why, size_t len)
{
    struct server *srv = arg;

    if (srv->shutting_down) {
        snprintf(why, len, "shutting down: listeners closed");
        return 0;
    }
    if (srv->spool == NULL) {
        snprintf(why, len, "spool not recovered");
        return 0;
    }
    if (srv->redis != NULL && redis_state(srv->redis) != REDIS_STATE_UP) {
        snprintf(why, len, "Redis at %s is unreachable (needed for authenticated users)",
                 redis_where(srv->redis));
        return 0;
    }
    return 1;
}

static void health_command(void *arg, int argc, char **argv, admin_answer_fn answer,
                           void *answer_arg)
{
    admin_command(arg, argc, argv, answer, answer_arg);
}

int server_health_start(struct server *srv)
{
    struct admin_http_deps deps = { .base = srv->base, .collect = health_collect,
                                    .ready = health_ready, .command = health_command,
                                    .arg = srv,
                                    .cert = srv->cf->c.tls.cert, .key = srv->cf->c.tls.key };
    int failed;

    health_started = (long long)time(NULL);
    health_http = admin_http_new(&srv->cf->c.admin.http, &deps, &failed);
    return failed ? -1 : 0;
}

void server_health_stop(void)
{
    admin_http_free(health_http);
    health_http = NULL;
}
