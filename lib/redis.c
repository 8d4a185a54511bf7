/*
 * redis.c - asynchronous Redis client with deadlines, reconnects and script calls
 * (see redis.h for the contract).
 *
 * How the pieces fit:
 *   - struct redis owns at most one redisAsyncContext (r->ac). r->ac is cleared BEFORE the
 *     context goes away, whoever frees it (hiredis after a failed connect or a lost
 *     connection, or redis_drop() for a stuck one), so a stale context is never used.
 *     hiredis contexts are freed only from our own timers or by hiredis itself, never from
 *     inside a hiredis callback (spikes.md section 5).
 *   - struct redis_req is one request. hiredis keeps a pointer to it (privdata) until it
 *     answers or the connection dies, even if the request timed out or was cancelled, so a
 *     request is freed only when both sides are done with it: the caller (cb == NULL after
 *     delivery or cancel) and hiredis (in_hiredis == 0).
 *   - Each request has one timer: its deadline, or a zero-delay "no connection" notice, so
 *     a callback never runs inside the call that issued the request.
 * Threading: loop thread only.
 */
#include "lib/errout.h"
#include "lib/redis.h"
#include "lib/redis_sentinel.h"

#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REDIS_LOG "redis"
#define REDIS_SHA_HEX_LEN 40
#define REDIS_NOSCRIPT "NOSCRIPT"
#define REDIS_PORT_MAX 65535
#define REDIS_NUM_MAX 24            /* room for a decimal int */
#define REDIS_SCRIPT_FIXED_ARGS 3   /* EVALSHA sha nkeys */
#define REDIS_SCRIPT_BORROWED 2     /* argv[0..1] of a script call point to constants */

struct redis_script {
    struct redis_script *next;
    char *source;
    char sha[REDIS_SHA_HEX_LEN + 1];
};

struct redis_req {
    struct redis *r;
    struct redis_req *prev, *next;    /* r->reqs: every request not yet freed */
    redis_reply_fn cb;                /* NULL once delivered or cancelled */
    void *arg;
    struct event *timer;              /* deadline, or the zero-delay DOWN notice */
    enum redis_result timer_result;   /* what the timer reports */
    int in_hiredis;                   /* hiredis holds this request as privdata */
    unsigned long long replies_at_send; /* r->replies when sent: detects a stuck link */
    const struct redis_script *script;/* script calls: retried as EVAL on NOSCRIPT */
    int argc;                         /* script calls: the command vector; strings */
    const char **argv;                /* from REDIS_SCRIPT_BORROWED on are owned */
    double sent_at;                   /* monotonic s of the last send (metrics) */
};

struct redis {
    struct event_base *base;
    const struct redis_conf *conf;
    redis_state_fn state_fn;
    void *state_arg;
    redisAsyncContext *ac;            /* NULL while there is no connection */
    enum redis_state state;
    int state_known;                  /* a state has been reported */
    long long backoff_ms;             /* delay of the next reconnect */
    struct event *reconnect;
    struct timeval deadline;
    const struct timeval *deadline_tv;/* libevent common timeout for deadlines */
    unsigned long long replies;       /* replies received on any connection */
    struct redis_req *reqs;
    struct redis_script *scripts;
    char host[INET6_ADDRSTRLEN];
    int port;
    char *where;                      /* for log lines: socket path or address */
    struct sentinel_query *sq;        /* asking the sentinels, or NULL */
    int resolved;                     /* sentinel mode: host/port is the current master */
    struct event *drop_ev;            /* drops the connection outside hiredis */
    const char *drop_why;
    char *watch_prefix;               /* a key watch (redis_watch_new), else NULL */
    redis_watch_fn watch_cb;
    void *watch_arg;
};

static int sentinel_mode(const struct redis *r)
{
    return r->conf->sentinels.n > 0 && r->conf->socket == NULL;
}

static void redis_connect(struct redis *r);
static void redis_drop(struct redis *r, const char *why);
static int redis_req_send(struct redis_req *q, int argc, const char **argv,
                          const size_t *argvlen);

static struct timeval redis_ms_to_tv(long long ms)
{
    struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
    return tv;
}

/* ---- requests ---- */

static void redis_req_free(struct redis_req *q)
{
    struct redis *r = q->r;
    int i;

    if (q->prev)
        q->prev->next = q->next;
    else
        r->reqs = q->next;
    if (q->next)
        q->next->prev = q->prev;
    event_free(q->timer);
    for (i = REDIS_SCRIPT_BORROWED; q->argv && i < q->argc; i++)
        free((void *)q->argv[i]);
    free(q->argv);
    free(q);
}

/* Hand the result to the owner (once), then free the request if hiredis is done too. */
static double redis_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Metrics of a finished request: errors by kind, the round trip of an answered one. */
static void redis_req_count(const struct redis_req *q, enum redis_result res)
{
    if (res == REDIS_RESULT_OK || res == REDIS_RESULT_REPLY_ERROR) {
        if (q->sent_at > 0)
            metrics_observe(M_REDIS_SECONDS, redis_mono_s() - q->sent_at);
        if (res == REDIS_RESULT_OK)
            return;
    }
    metrics_inc1(M_REDIS_ERRORS, res == REDIS_RESULT_TIMEOUT ? "timeout"
                                 : res == REDIS_RESULT_REPLY_ERROR ? "error_reply"
                                 : "unavailable");
}

static void redis_req_finish(struct redis_req *q, enum redis_result res,
                             const redisReply *reply)
{
    redis_reply_fn cb = q->cb;

    if (cb != NULL) {
        redis_req_count(q, res);
        q->cb = NULL;
        event_del(q->timer);
        cb(res, reply, q->arg);
    }
    if (!q->in_hiredis)
        redis_req_free(q);
}

/* Deadline or "no connection" notice. Loop thread (libevent timer). */
static void redis_req_timer_cb(evutil_socket_t fd, short what, void *p)
{
    struct redis_req *q = p;
    struct redis *r = q->r;
    int stuck = q->timer_result == REDIS_RESULT_TIMEOUT && q->in_hiredis &&
                r->replies == q->replies_at_send;

    (void)fd;
    (void)what;
    redis_req_finish(q, q->timer_result, NULL);
    if (stuck && r->ac != NULL)
        redis_drop(r, "no reply within the command timeout");
}

static int redis_is_noscript(const redisReply *reply)
{
    return reply->type == REDIS_REPLY_ERROR && reply->str != NULL &&
           strncmp(reply->str, REDIS_NOSCRIPT, strlen(REDIS_NOSCRIPT)) == 0;
}

/* Retry a script call as EVAL (the cache is empty after a Redis restart). */
static int redis_req_resend_eval(struct redis_req *q)
{
    q->argv[0] = "EVAL";
    q->argv[1] = q->script->source;
    return redis_req_send(q, q->argc, q->argv, NULL);
}

/* Drop the connection from a zero-delay timer (never inside hiredis's callbacks). */
static void redis_drop_soon(struct redis *r, const char *why)
{
    static const struct timeval now = { 0, 0 };

    r->drop_why = why;
    evtimer_add(r->drop_ev, &now);
}

static void redis_drop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct redis *r = arg;

    (void)fd;
    (void)what;
    if (r->ac != NULL)
        redis_drop(r, r->drop_why);
}

/* hiredis answer (reply == NULL: the connection is gone). Loop thread, inside hiredis. */
static void redis_reply_cb(redisAsyncContext *ac, void *reply_p, void *priv)
{
    struct redis_req *q = priv;
    const redisReply *reply = reply_p;

    (void)ac;
    q->in_hiredis = 0;
    if (reply == NULL) {
        redis_req_finish(q, REDIS_RESULT_DOWN, NULL);
        return;
    }
    q->r->replies++;
    if (reply->type == REDIS_REPLY_ERROR && reply->str != NULL &&
        strncmp(reply->str, "READONLY", 8) == 0)
        redis_drop_soon(q->r, "READONLY: the server is a replica now (failover)");
    if (q->cb != NULL && q->script != NULL && redis_is_noscript(reply)) {
        if (redis_req_resend_eval(q) == 0)
            return;
        redis_req_finish(q, REDIS_RESULT_DOWN, NULL);
        return;
    }
    redis_req_finish(q, reply->type == REDIS_REPLY_ERROR ? REDIS_RESULT_REPLY_ERROR
                                                         : REDIS_RESULT_OK, reply);
}

static int redis_req_send(struct redis_req *q, int argc, const char **argv,
                          const size_t *argvlen)
{
    struct redis *r = q->r;

    if (r->ac == NULL ||
        redisAsyncCommandArgv(r->ac, redis_reply_cb, q, argc, argv, argvlen) != REDIS_OK)
        return -1;
    q->in_hiredis = 1;
    q->replies_at_send = r->replies;
    q->sent_at = redis_mono_s();
    metrics_inc(M_REDIS_REQUESTS);
    return 0;
}

static struct redis_req *redis_req_new(struct redis *r, redis_reply_fn cb, void *arg)
{
    struct redis_req *q = xcalloc(1, sizeof(*q));

    q->r = r;
    q->cb = cb;
    q->arg = arg;
    q->timer = evtimer_new(r->base, redis_req_timer_cb, q);
    if (q->timer == NULL)
        abort(); /* libevent allocation failure: treated like OOM */
    q->next = r->reqs;
    if (r->reqs)
        r->reqs->prev = q;
    r->reqs = q;
    return q;
}

/* Send q now, or schedule its DOWN notice; arm the deadline. */
static struct redis_req *redis_req_start(struct redis_req *q, int argc, const char **argv,
                                         const size_t *argvlen)
{
    static const struct timeval now = { 0, 0 };

    if (redis_req_send(q, argc, argv, argvlen) == 0) {
        q->timer_result = REDIS_RESULT_TIMEOUT;
        evtimer_add(q->timer, q->r->deadline_tv);
    } else {
        q->timer_result = REDIS_RESULT_DOWN;
        evtimer_add(q->timer, &now);
    }
    return q;
}

struct redis_req *redis_command_argv(struct redis *r, int argc, const char *const *argv,
                                     const size_t *argvlen, redis_reply_fn cb, void *arg)
{
    struct redis_req *q = redis_req_new(r, cb, arg);
    return redis_req_start(q, argc, (const char **)argv, argvlen);
}

void redis_reply_ignore(enum redis_result res, const redisReply *reply, void *arg)
{
    (void)res;
    (void)reply;
    (void)arg;
}

void redis_cancel(struct redis_req *q)
{
    if (q == NULL || q->cb == NULL)
        return;
    q->cb = NULL;
    event_del(q->timer);
    if (!q->in_hiredis)
        redis_req_free(q);
}

/* ---- scripts ---- */

struct redis_script *redis_script_new(struct redis *r, const char *source)
{
    struct redis_script *s = xcalloc(1, sizeof(*s)), *known;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;

    s->source = xstrdup(source);
    if (EVP_Digest(source, strlen(source), md, &mdlen, EVP_sha1(), NULL) != 1 ||
        mdlen * 2 != REDIS_SHA_HEX_LEN)
        abort(); /* SHA-1 is always available in OpenSSL's default provider */
    for (i = 0; i < mdlen; i++)
        snprintf(s->sha + 2 * i, 3, "%02x", md[i]);
    for (known = r->scripts; known; known = known->next) {
        if (strcmp(known->sha, s->sha) == 0) {  /* registered before (config reload) */
            free(s->source);
            free(s);
            return known;
        }
    }
    s->next = r->scripts;
    r->scripts = s;
    return s;
}

const char *redis_script_sha(const struct redis_script *s)
{
    return s->sha;
}

struct redis_req *redis_script_call(struct redis *r, const struct redis_script *s,
                                    int nkeys, const char *const *keys,
                                    int nargs, const char *const *args,
                                    redis_reply_fn cb, void *arg)
{
    struct redis_req *q = redis_req_new(r, cb, arg);
    char num[REDIS_NUM_MAX];
    int i, n = REDIS_SCRIPT_FIXED_ARGS;

    q->script = s;
    q->argc = REDIS_SCRIPT_FIXED_ARGS + nkeys + nargs;
    q->argv = xcalloc((size_t)q->argc, sizeof(*q->argv));
    q->argv[0] = "EVALSHA";
    q->argv[1] = s->sha;
    snprintf(num, sizeof(num), "%d", nkeys);
    q->argv[2] = xstrdup(num);
    for (i = 0; i < nkeys; i++)
        q->argv[n++] = xstrdup(keys[i]);
    for (i = 0; i < nargs; i++)
        q->argv[n++] = xstrdup(args[i]);
    return redis_req_start(q, q->argc, q->argv, NULL);
}

/* ---- connection state ---- */

static void redis_report(struct redis *r, enum redis_state state, const char *why)
{
    if (r->state_known && r->state == state)
        return;
    r->state_known = 1;
    r->state = state;
    if (state == REDIS_STATE_UP)
        log_info(REDIS_LOG, "connected to %s", r->where);
    else
        log_warn(REDIS_LOG, "%s unavailable: %s", r->where, why);
    if (r->state_fn)
        r->state_fn(state, why, r->state_arg);
}

static void redis_went_down(struct redis *r, const char *why)
{
    struct timeval tv = redis_ms_to_tv(r->backoff_ms);

    r->resolved = 0;   /* sentinel mode: ask again where the master is */
    redis_report(r, REDIS_STATE_DOWN, why);
    evtimer_add(r->reconnect, &tv);
    r->backoff_ms *= 2;
    if (r->backoff_ms > r->conf->reconnect_max_ms)
        r->backoff_ms = r->conf->reconnect_max_ms;
}

/* Free a connection that stopped answering. Only from our own timers. */
static void redis_drop(struct redis *r, const char *why)
{
    redisAsyncContext *ac = r->ac;

    r->ac = NULL;
    redisAsyncFree(ac);   /* pending requests get REDIS_RESULT_DOWN */
    redis_went_down(r, why);
}

/* hiredis connect result. Loop thread, inside hiredis; on failure hiredis frees ac. */
static void redis_on_connect(const redisAsyncContext *ac, int status)
{
    struct redis *r = ac->data;

    if (r->ac != ac || status == REDIS_OK)
        return;  /* success is reported by the PING answer */
    r->ac = NULL;
    redis_went_down(r, ac->errstr ? ac->errstr : "connect failed");
}

/* hiredis lost the connection (pending requests already failed). Loop thread. */
static void redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis *r = ac->data;

    if (r->ac != ac)
        return;  /* we dropped it ourselves */
    r->ac = NULL;
    redis_went_down(r, status == REDIS_OK || ac->errstr == NULL ? "connection closed"
                                                                : ac->errstr);
}

/* Answer to CONFIG GET maxmemory-policy: Postern keeps state that must last in Redis
 * (per-user policy, suppression lists, the classifier); an evicting server loses it. */
static void redis_policy_cb(enum redis_result res, const redisReply *reply, void *arg)
{
    struct redis *r = arg;

    if (res == REDIS_RESULT_OK && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[1]->type == REDIS_REPLY_STRING &&
        strcmp(reply->element[1]->str, "noeviction") != 0)
        log_warn(REDIS_LOG, "%s has maxmemory-policy %s: it may evict keys Postern needs to "
                 "keep (per-user policy, suppression lists, the spam model); set noeviction",
                 r->where, reply->element[1]->str);
}

/* Answer to the handshake PING. Loop thread. */
static void redis_ping_cb(enum redis_result res, const redisReply *reply, void *arg)
{
    struct redis *r = arg;

    if (res == REDIS_RESULT_OK) {
        r->backoff_ms = r->conf->reconnect_min_ms;
        redis_report(r, REDIS_STATE_UP, "connected");
    } else if (res == REDIS_RESULT_REPLY_ERROR) {
        log_error(REDIS_LOG, "%s: PING refused: %s", r->where, reply->str);
    }
    /* TIMEOUT and DOWN: the timer or hiredis has already dropped the connection */
}

/* Answer to SCRIPT LOAD. Loop thread. */
static void redis_script_loaded_cb(enum redis_result res, const redisReply *reply,
                                   void *arg)
{
    struct redis_script *s = arg;

    if (res == REDIS_RESULT_REPLY_ERROR)
        log_error(REDIS_LOG, "SCRIPT LOAD %s failed: %s", s->sha, reply->str);
    else if (res == REDIS_RESULT_OK && (reply->str == NULL || strcmp(reply->str, s->sha)))
        log_error(REDIS_LOG, "SCRIPT LOAD %s: Redis named it %s", s->sha,
                  reply->str ? reply->str : "(nothing)");
}

/* Answer to AUTH. Loop thread. */
static void redis_auth_cb(enum redis_result res, const redisReply *reply, void *arg)
{
    struct redis *r = arg;

    if (res == REDIS_RESULT_REPLY_ERROR) {
        log_error(REDIS_LOG, "%s: AUTH refused: %s", r->where, reply->str);
        redis_drop_soon(r, "AUTH refused (redis.username / redis.password)");
    }
}

/* Sentinel mode: the handshake ends with ROLE instead of PING; only a master is UP. */
static void redis_role_cb(enum redis_result res, const redisReply *reply, void *arg)
{
    struct redis *r = arg;

    if (res != REDIS_RESULT_OK)
        return;   /* as for PING */
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(reply->element[0]->str, "master") == 0) {
        redis_ping_cb(res, reply, arg);
        return;
    }
    log_warn(REDIS_LOG, "%s is not the master (failover in progress): asking the sentinels "
             "again", r->where);
    redis_drop_soon(r, "not the master");
}

/* ---- key watch: CLIENT TRACKING BCAST redirected to itself, SUBSCRIBE ---- */

#define REDIS_INVALIDATE "__redis__:invalidate"

/* Every reply of the subscription (hiredis keeps this callback for the channel): the
 * subscribe confirmation makes the watch UP; each message names the keys that changed
 * (a nil payload: Redis flushed). reply NULL: the connection is gone (the disconnect
 * callback reports DOWN). Loop thread, inside hiredis. */
static void redis_watch_msg_cb(redisAsyncContext *ac, void *reply_p, void *priv)
{
    struct redis *r = priv;
    const redisReply *reply = reply_p, *kind, *data;
    size_t i;

    if (reply == NULL || r->ac != ac || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements < 3 || reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    r->replies++;
    kind = reply->element[0];
    data = reply->element[2];
    if (strcmp(kind->str, "subscribe") == 0) {
        r->backoff_ms = r->conf->reconnect_min_ms;
        r->watch_cb(NULL, 0, r->watch_arg);  /* what was learned before may be stale */
        redis_report(r, REDIS_STATE_UP, "watching");
    } else if (strcmp(kind->str, "message") == 0) {
        if (data->type != REDIS_REPLY_ARRAY) {
            r->watch_cb(NULL, 0, r->watch_arg);
            return;
        }
        for (i = 0; i < data->elements; i++)
            if (data->element[i]->type == REDIS_REPLY_STRING)
                r->watch_cb(data->element[i]->str, data->element[i]->len, r->watch_arg);
    }
}

/* Answer to CLIENT TRACKING: subscribe to the invalidation channel. */
static void redis_watch_tracking_cb(enum redis_result res, const redisReply *reply, void *arg)
{
    struct redis *r = arg;

    if (res == REDIS_RESULT_REPLY_ERROR) {
        log_error(REDIS_LOG, "%s: CLIENT TRACKING refused (Redis 6 or later is needed to "
                  "watch keys; every lookup goes to Redis): %s", r->where, reply->str);
        redis_drop_soon(r, "CLIENT TRACKING refused");
        return;
    }
    if (res != REDIS_RESULT_OK || r->ac == NULL)
        return;
    if (redisAsyncCommand(r->ac, redis_watch_msg_cb, r, "SUBSCRIBE " REDIS_INVALIDATE) !=
        REDIS_OK)
        redis_drop_soon(r, "SUBSCRIBE failed");
}

/* Answer to CLIENT ID: turn tracking on, redirected to this very connection. */
static void redis_watch_id_cb(enum redis_result res, const redisReply *reply, void *arg)
{
    struct redis *r = arg;
    char id[REDIS_NUM_MAX];

    if (res == REDIS_RESULT_REPLY_ERROR || (res == REDIS_RESULT_OK &&
                                            reply->type != REDIS_REPLY_INTEGER)) {
        redis_drop_soon(r, "CLIENT ID failed");
        return;
    }
    if (res != REDIS_RESULT_OK)
        return;
    snprintf(id, sizeof(id), "%lld", reply->integer);
    {
        const char *argv[] = { "CLIENT", "TRACKING", "on", "REDIRECT", id, "BCAST",
                               "PREFIX", r->watch_prefix };
        redis_req_start(redis_req_new(r, redis_watch_tracking_cb, r),
                        (int)(sizeof(argv) / sizeof(argv[0])), argv, NULL);
    }
}

/* Sentinel mode: a watch follows the master too. */
static void redis_watch_role_cb(enum redis_result res, const redisReply *reply, void *arg)
{
    struct redis *r = arg;

    if (res == REDIS_RESULT_OK && !(reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                                    reply->element[0]->type == REDIS_REPLY_STRING &&
                                    strcmp(reply->element[0]->str, "master") == 0))
        redis_drop_soon(r, "not the master");
}

/* Queue the handshake: AUTH, every script, the eviction check, then PING or ROLE
 * (commands may precede the connect; the state is UP only after the last answer).
 * A watch: AUTH, ROLE (sentinel mode), CLIENT ID, then the replies chain to SUBSCRIBE. */
static void redis_handshake(struct redis *r)
{
    static const char *ping[] = { "PING" }, *role[] = { "ROLE" };
    static const char *policy[] = { "CONFIG", "GET", "maxmemory-policy" };
    static const char *client_id[] = { "CLIENT", "ID" };
    struct redis_script *s;

    if (r->conf->password != NULL) {
        const char *auth[] = { "AUTH", r->conf->username ? r->conf->username
                                                         : r->conf->password,
                               r->conf->password };
        redis_req_start(redis_req_new(r, redis_auth_cb, r), r->conf->username ? 3 : 2, auth,
                        NULL);
    }
    if (r->watch_prefix != NULL) {
        if (sentinel_mode(r))
            redis_req_start(redis_req_new(r, redis_watch_role_cb, r), 1, role, NULL);
        redis_req_start(redis_req_new(r, redis_watch_id_cb, r), 2, client_id, NULL);
        return;
    }
    for (s = r->scripts; s; s = s->next) {
        const char *load[] = { "SCRIPT", "LOAD", s->source };
        redis_req_start(redis_req_new(r, redis_script_loaded_cb, s),
                        (int)(sizeof(load) / sizeof(load[0])), load, NULL);
    }
    redis_req_start(redis_req_new(r, redis_policy_cb, r), 3, policy, NULL);
    if (sentinel_mode(r))
        redis_req_start(redis_req_new(r, redis_role_cb, r), 1, role, NULL);
    else
        redis_req_start(redis_req_new(r, redis_ping_cb, r), 1, ping, NULL);
}

static void redis_connect(struct redis *r);

/* The sentinels answered (host NULL: none knew). Loop thread. */
static void redis_on_master(const char *host_in, int port, const char *why_in, void *arg)
{
    struct redis *r = arg;
    char host[INET6_ADDRSTRLEN], why[128];

    /* both point into the query, which is freed here */
    snprintf(host, sizeof(host), "%s", host_in ? host_in : "");
    snprintf(why, sizeof(why), "%s", why_in ? why_in : "");
    sentinel_cancel(r->sq);
    r->sq = NULL;
    if (host_in == NULL) {
        redis_went_down(r, why);
        return;
    }
    if (strcmp(host, r->host) != 0 || port != r->port)
        log_info(REDIS_LOG, "sentinels: master %s is at %s%s%s:%d", r->conf->master_name,
                 strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
    snprintf(r->host, sizeof(r->host), "%s", host);
    r->port = port;
    free(r->where);
    r->where = xasprintf("%s%s%s:%d (master %s)", strchr(host, ':') ? "[" : "", host,
                         strchr(host, ':') ? "]" : "", port, r->conf->master_name);
    r->resolved = 1;
    redis_connect(r);
}

static void redis_connect(struct redis *r)
{
    redisAsyncContext *ac;
    char err[sizeof(ac->c.errstr)];

    if (sentinel_mode(r) && !r->resolved) {
        if (r->sq == NULL)
            r->sq = sentinel_ask(r->base, r->conf->sentinels.v, r->conf->sentinels.n,
                                 r->conf->master_name, r->conf->timeout_ms, redis_on_master,
                                 r);
        return;
    }
    if (r->conf->socket != NULL)
        ac = redisAsyncConnectUnix(r->conf->socket);
    else if (r->port > 0)
        ac = redisAsyncConnect(r->host, r->port);
    else {
        redis_went_down(r, "redis.address is not an IP literal with a port");
        return;
    }
    if (ac == NULL) {
        redis_went_down(r, "cannot allocate a connection");
        return;
    }
    if (ac->err) {
        snprintf(err, sizeof(err), "%s", ac->errstr);
        redisAsyncFree(ac);  /* not attached yet: no callback runs */
        redis_went_down(r, err);
        return;
    }
    ac->data = r;
    if (redisLibeventAttach(ac, r->base) != REDIS_OK)
        abort(); /* a fresh context always attaches */
    redisAsyncSetConnectCallback(ac, redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, redis_on_disconnect);
    r->ac = ac;
    redis_handshake(r);
}

/* Reconnect timer (also the first connect). Loop thread. */
static void redis_reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    redis_connect(arg);
}

/* ---- lifetime ---- */

struct redis *redis_new(struct event_base *base, const struct redis_conf *conf,
                        redis_state_fn state_fn, void *state_arg)
{
    static const struct timeval now = { 0, 0 };
    struct redis *r = xcalloc(1, sizeof(*r));

    r->base = base;
    r->conf = conf;
    r->state_fn = state_fn;
    r->state_arg = state_arg;
    r->state = REDIS_STATE_DOWN;
    r->backoff_ms = conf->reconnect_min_ms;
    r->deadline = redis_ms_to_tv(conf->timeout_ms);
    r->deadline_tv = event_base_init_common_timeout(base, &r->deadline);
    if (r->deadline_tv == NULL)
        r->deadline_tv = &r->deadline;
    if (conf->socket != NULL)
        r->where = xasprintf("unix:%s", conf->socket);
    else if (conf->sentinels.n > 0)
        r->where = xasprintf("master %s (sentinels)", conf->master_name);
    else {
        r->where = xstrdup(conf->address ? conf->address : "(no address)");
        if (conf->address == NULL ||
            redis_parse_address(conf->address, r->host, sizeof(r->host), &r->port) < 0)
            r->port = 0;
    }
    r->reconnect = evtimer_new(base, redis_reconnect_cb, r);
    r->drop_ev = evtimer_new(base, redis_drop_cb, r);
    if (r->reconnect == NULL || r->drop_ev == NULL)
        abort(); /* libevent allocation failure: treated like OOM */
    evtimer_add(r->reconnect, &now);
    return r;
}

void redis_watch_sync(struct redis *r)
{
    struct pollfd p;

    if (r == NULL || r->ac == NULL || r->watch_prefix == NULL)
        return;
    p.fd = r->ac->c.fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
        redisAsyncHandleRead(r->ac);   /* may report DOWN (the watch is lost) */
}

struct redis *redis_watch_new(struct event_base *base, const struct redis_conf *conf,
                              const char *prefix, redis_watch_fn cb,
                              redis_state_fn state_fn, void *arg)
{
    struct redis *r = redis_new(base, conf, state_fn, arg);

    r->watch_prefix = xstrdup(prefix);
    r->watch_cb = cb;
    r->watch_arg = arg;
    return r;
}

void redis_free(struct redis *r)
{
    struct redis_req *q, *next;
    struct redis_script *s;

    if (r == NULL)
        return;
    for (q = r->reqs; q; q = next) {
        next = q->next;
        redis_cancel(q);
    }
    event_free(r->reconnect);
    event_free(r->drop_ev);
    sentinel_cancel(r->sq);
    if (r->ac != NULL) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        redisAsyncFree(ac);  /* frees the requests hiredis still held */
    }
    while ((s = r->scripts) != NULL) {
        r->scripts = s->next;
        free(s->source);
        free(s);
    }
    free(r->where);
    free(r->watch_prefix);
    free(r);
}

enum redis_state redis_state(const struct redis *r)
{
    return r->state;
}

const char *redis_where(const struct redis *r)
{
    return r->where;
}

/* ---- helpers ---- */

int redis_parse_address(const char *text, char *host, size_t hostlen, int *port)
{
    const char *colon, *h = text;
    size_t hlen;
    char buf[INET6_ADDRSTRLEN];
    unsigned char bin[sizeof(struct in6_addr)];
    char *end;
    long p;
    int v6 = text[0] == '[';

    if (v6) {
        const char *close = strchr(text, ']');
        if (close == NULL || close[1] != ':')
            return -1;
        h = text + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (colon == NULL)
            return -1;
        hlen = (size_t)(colon - text);
    }
    if (hlen == 0 || hlen >= sizeof(buf) || hlen >= hostlen)
        return -1;
    memcpy(buf, h, hlen);
    buf[hlen] = '\0';
    if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, bin) != 1)
        return -1;
    errno = 0;
    p = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno || p < 1 || p > REDIS_PORT_MAX)
        return -1;
    memcpy(host, buf, hlen + 1);
    *port = (int)p;
    return 0;
}

struct redisContext *redis_connect_blocking(const struct redis_conf *conf)
{
    struct timeval tv = redis_ms_to_tv(conf->timeout_ms);
    char host[INET6_ADDRSTRLEN];
    int port;
    redisContext *c;

    if (conf->socket != NULL)
        c = redisConnectUnixWithTimeout(conf->socket, tv);
    else if (conf->sentinels.n > 0) {
        if (sentinel_ask_blocking(conf->sentinels.v, conf->sentinels.n, conf->master_name,
                                  conf->timeout_ms, host, sizeof(host), &port) < 0)
            return NULL;
        c = redisConnectWithTimeout(host, port, tv);
    } else if (conf->address != NULL &&
             redis_parse_address(conf->address, host, sizeof(host), &port) == 0)
        c = redisConnectWithTimeout(host, port, tv);
    else {
        fprintf(errout(), "redis: address is not an IP literal with a port\n");
        return NULL;
    }
    if (c == NULL || c->err) {
        fprintf(errout(), "redis: cannot connect to %s: %s\n",
                conf->socket ? conf->socket : conf->address,
                c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        fprintf(errout(), "redis: cannot set the I/O timeout\n");
        redisFree(c);
        return NULL;
    }
    if (conf->password != NULL) {
        redisReply *a = conf->username
                            ? redisCommand(c, "AUTH %s %s", conf->username, conf->password)
                            : redisCommand(c, "AUTH %s", conf->password);
        int ok = a != NULL && a->type != REDIS_REPLY_ERROR;
        if (!ok)
            fprintf(errout(), "redis: AUTH refused: %s\n", a ? a->str : c->errstr);
        freeReplyObject(a);
        if (!ok) {
            redisFree(c);
            return NULL;
        }
    }
    return c;
}
