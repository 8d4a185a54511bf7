/*
 * redis_sentinel.c - where is the master? (see redis_sentinel.h)
 */
#include "lib/redis_sentinel.h"

#include "lib/log.h"
#include "lib/redis.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENTINEL_LOG "redis"

struct sentinel_query {
    struct event_base *base;
    char *const *sentinels;
    size_t n, next;                 /* next sentinel to ask */
    char *master;
    long long timeout_ms;
    sentinel_fn cb;
    void *arg;
    redisAsyncContext *ac;          /* the sentinel being asked, or NULL */
    struct event *timer;            /* its deadline, or the zero-delay result */
    char host[INET6_ADDRSTRLEN];
    int port;
    char why[128];
    int done;                       /* the result is ready: the timer delivers it */
};

static void ask_next(struct sentinel_query *q);

/* Parse an answer: ["IP", "PORT"]. */
static int parse_answer(const redisReply *r, char *host, size_t hostlen, int *port)
{
    unsigned char buf[sizeof(struct in6_addr)];
    long p;
    char *end;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING)
        return -1;
    if (inet_pton(AF_INET, r->element[0]->str, buf) != 1 &&
        inet_pton(AF_INET6, r->element[0]->str, buf) != 1)
        return -1;   /* sentinels announce IPs; a name would need a blocking lookup */
    p = strtol(r->element[1]->str, &end, 10);
    if (*end != '\0' || p < 1 || p > 65535)
        return -1;
    snprintf(host, hostlen, "%s", r->element[0]->str);
    *port = (int)p;
    return 0;
}

/* Leave the current sentinel (never from inside its callbacks: use finish_soon). */
static void drop_sentinel(struct sentinel_query *q)
{
    if (q->ac != NULL) {
        redisAsyncContext *ac = q->ac;
        q->ac = NULL;
        ac->data = NULL;
        redisAsyncFree(ac);
    }
}

/* Deliver or go on from the timer, outside hiredis. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel_query *q = arg;

    (void)fd;
    (void)what;
    drop_sentinel(q);
    if (q->done) {
        q->cb(q->host[0] ? q->host : NULL, q->port, q->why, q->arg);
        return;   /* the owner frees q (sentinel_cancel) */
    }
    if (q->why[0] == '\0')
        snprintf(q->why, sizeof(q->why), "sentinel %s did not answer",
                 q->sentinels[q->next - 1]);
    ask_next(q);
}

static void finish_soon(struct sentinel_query *q)
{
    static const struct timeval now = { 0, 0 };

    evtimer_del(q->timer);
    evtimer_add(q->timer, &now);
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct sentinel_query *q = priv;

    if (ac->data == NULL)
        return;   /* dropped by us */
    if (parse_answer(reply, q->host, sizeof(q->host), &q->port) == 0) {
        q->done = 1;
    } else {
        q->host[0] = '\0';
        snprintf(q->why, sizeof(q->why), "sentinel %s does not know master %s",
                 q->sentinels[q->next - 1], q->master);
    }
    finish_soon(q);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct sentinel_query *q = ac->data;

    if (q == NULL || status == REDIS_OK)
        return;
    q->ac = NULL;   /* hiredis frees it */
    snprintf(q->why, sizeof(q->why), "sentinel %s: %s", q->sentinels[q->next - 1],
             ac->errstr);
    finish_soon(q);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct sentinel_query *q = ac->data;

    (void)status;
    if (q != NULL && q->ac == ac)
        q->ac = NULL;
}

static void ask_next(struct sentinel_query *q)
{
    struct timeval tv = { q->timeout_ms / 1000, (q->timeout_ms % 1000) * 1000 };
    char host[INET6_ADDRSTRLEN];
    int port;
    const char *argv[3] = { "SENTINEL", "get-master-addr-by-name", q->master };

    while (q->next < q->n) {
        const char *s = q->sentinels[q->next++];
        redisAsyncContext *ac;
        if (redis_parse_address(s, host, sizeof(host), &port) < 0)
            continue;   /* refused by the config check; skipped here */
        ac = redisAsyncConnect(host, port);
        if (ac == NULL || ac->err) {
            if (ac != NULL)
                redisAsyncFree(ac);
            continue;
        }
        ac->data = q;
        if (redisLibeventAttach(ac, q->base) != REDIS_OK)
            abort();
        redisAsyncSetConnectCallback(ac, on_connect);
        redisAsyncSetDisconnectCallback(ac, on_disconnect);
        q->ac = ac;
        q->why[0] = '\0';
        redisAsyncCommandArgv(ac, on_reply, q, 3, argv, NULL);
        evtimer_add(q->timer, &tv);
        return;
    }
    q->done = 1;
    q->host[0] = '\0';
    if (q->why[0] == '\0')
        snprintf(q->why, sizeof(q->why), "no sentinel to ask");
    finish_soon(q);
}

struct sentinel_query *sentinel_ask(struct event_base *base, char *const *sentinels, size_t n,
                                    const char *master, long long timeout_ms, sentinel_fn cb,
                                    void *arg)
{
    struct sentinel_query *q = xcalloc(1, sizeof(*q));

    q->base = base;
    q->sentinels = sentinels;
    q->n = n;
    q->master = xstrdup(master);
    q->timeout_ms = timeout_ms;
    q->cb = cb;
    q->arg = arg;
    q->timer = evtimer_new(base, on_timer, q);
    if (q->timer == NULL)
        abort();
    ask_next(q);
    return q;
}

void sentinel_cancel(struct sentinel_query *q)
{
    if (q == NULL)
        return;
    drop_sentinel(q);
    event_free(q->timer);
    free(q->master);
    free(q);
}

int sentinel_ask_blocking(char *const *sentinels, size_t n, const char *master,
                          long long timeout_ms, char *host, size_t hostlen, int *port)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    char h[INET6_ADDRSTRLEN];
    int p;
    size_t i;

    for (i = 0; i < n; i++) {
        redisContext *c;
        redisReply *r;
        if (redis_parse_address(sentinels[i], h, sizeof(h), &p) < 0)
            continue;
        c = redisConnectWithTimeout(h, p, tv);
        if (c == NULL || c->err || redisSetTimeout(c, tv) != REDIS_OK) {
            redisFree(c);
            continue;
        }
        r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", master);
        if (parse_answer(r, host, hostlen, port) == 0) {
            freeReplyObject(r);
            redisFree(c);
            return 0;
        }
        freeReplyObject(r);
        redisFree(c);
    }
    fprintf(stderr, "redis: no sentinel knows master %s\n", master);
    return -1;
}
