/*
 * authfail.c - failed-login counters in Redis (see authfail.h).
 *
 * One small Lua script does both operations, so that a counter and its TTL are always
 * written together (Haraka's INCR-then-EXPIRE can leave a counter without a TTL when the
 * client dies between the two). A window is fixed: it starts at the first failure and the
 * TTL is not extended by later failures, so "blocked" always ends.
 * Threading: loop thread only.
 */
#include "auth/authfail.h"

#include "lib/log.h"
#include "lib/redis.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#define AF_LOG "authfail"
#define AF_KEY_IP "pt:authfail:ip:"
#define AF_KEY_LOGIN "pt:authfail:login:"
#define AF_NUM_MAX 24
#define AF_MAX_KEYS 2
#define AF_REPLY_PER_KEY 2        /* count, pttl */
#define AF_IP_TEXT_MAX (INET6_ADDRSTRLEN + sizeof("/128"))
#define AF_V4_MAPPED_PREFIX_LEN 12
#define AF_MS_PER_S 1000
#define AF_IPV6_BITS 128
#define AF_BITS_PER_BYTE 8

static const char af_script_source[] =
"-- Postern failed-login counters: fixed windows, counter and TTL written together.\n"
"-- KEYS: the counters (client address, and the login when known)\n"
"-- ARGV[1] 'fail' (count one failure) or 'check' (read only); ARGV[2] window in ms\n"
"-- Reply: per key { failures in the window, ms until the window ends (0: none) }\n"
"local out = {}\n"
"for i, key in ipairs(KEYS) do\n"
"  local n\n"
"  if ARGV[1] == 'fail' then\n"
"    n = redis.call('INCR', key)\n"
"    if n == 1 or redis.call('PTTL', key) < 0 then\n"
"      redis.call('PEXPIRE', key, ARGV[2])  -- the window starts at the first failure\n"
"    end\n"
"  else\n"
"    n = tonumber(redis.call('GET', key)) or 0\n"
"  end\n"
"  out[#out + 1] = n\n"
"  out[#out + 1] = math.max(0, redis.call('PTTL', key))\n"
"end\n"
"return out\n";

static const char *const af_error_text[] = {
    [AUTHFAIL_OK] = "ok", [AUTHFAIL_ERR_TIMEOUT] = "timeout",
    [AUTHFAIL_ERR_DOWN] = "unavailable", [AUTHFAIL_ERR_SCRIPT] = "script error",
};

struct authfail {
    const struct authfail_conf *conf;
    struct redis *redis;
    const struct redis_script *script;
    struct authfail_req *reqs;
};

struct authfail_req {
    struct authfail *af;
    struct authfail_req *prev, *next;
    struct redis_req *rreq;
    authfail_done_fn cb;
    void *arg;
    int record;                   /* 1: fail, 0: check */
    int has_login;
    char ip[AF_IP_TEXT_MAX];      /* for the log line */
};

int authfail_ip_text(const char *ip, int ipv6_prefix, char *buf, size_t len)
{
    static const unsigned char v4_mapped[AF_V4_MAPPED_PREFIX_LEN] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    unsigned char a[sizeof(struct in6_addr)];
    char text[INET6_ADDRSTRLEN];
    int i, bits;

    if (inet_pton(AF_INET, ip, a) == 1)
        return snprintf(buf, len, "%s", ip) < (int)len ? 0 : -1;
    if (inet_pton(AF_INET6, ip, a) != 1)
        return -1;
    if (memcmp(a, v4_mapped, sizeof(v4_mapped)) == 0) {
        inet_ntop(AF_INET, a + AF_V4_MAPPED_PREFIX_LEN, text, sizeof(text));
        return snprintf(buf, len, "%s", text) < (int)len ? 0 : -1;
    }
    bits = ipv6_prefix < 0 ? 0 : ipv6_prefix > AF_IPV6_BITS ? AF_IPV6_BITS : ipv6_prefix;
    for (i = 0; i < (int)sizeof(a); i++) {
        int keep = bits - i * AF_BITS_PER_BYTE;
        if (keep <= 0)
            a[i] = 0;
        else if (keep < AF_BITS_PER_BYTE)
            a[i] &= (unsigned char)(0xff << (AF_BITS_PER_BYTE - keep));
    }
    inet_ntop(AF_INET6, a, text, sizeof(text));
    return snprintf(buf, len, "%s/%d", text, bits) < (int)len ? 0 : -1;
}

struct authfail *authfail_new(const struct authfail_conf *conf, struct redis *redis)
{
    struct authfail *af = xcalloc(1, sizeof(*af));

    af->conf = conf;
    af->redis = redis;
    af->script = redis_script_new(redis, af_script_source);
    return af;
}

static void af_req_free(struct authfail_req *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        q->af->reqs = q->next;
    if (q->next)
        q->next->prev = q->prev;
    free(q);
}

void authfail_cancel(struct authfail_req *q)
{
    if (q == NULL)
        return;
    redis_cancel(q->rreq);
    af_req_free(q);
}

void authfail_free(struct authfail *af)
{
    if (af == NULL)
        return;
    while (af->reqs != NULL)
        authfail_cancel(af->reqs);
    free(af);
}

static enum authfail_error af_error_of(enum redis_result res)
{
    switch (res) {
    case REDIS_RESULT_OK:
        return AUTHFAIL_OK;
    case REDIS_RESULT_TIMEOUT:
        return AUTHFAIL_ERR_TIMEOUT;
    case REDIS_RESULT_DOWN:
        return AUTHFAIL_ERR_DOWN;
    default:
        return AUTHFAIL_ERR_SCRIPT;
    }
}

static int af_parse(const redisReply *r, int nkeys, long long *v)
{
    size_t i;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)nkeys * AF_REPLY_PER_KEY)
        return -1;
    for (i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_INTEGER)
            return -1;
        v[i] = r->element[i]->integer;
    }
    return 0;
}

/* Decide from the counters: v = { ip count, ip ms left, login count, login ms left }. */
static void af_decide(const struct authfail_conf *conf, int record, int has_login,
                      const long long *v, struct authfail_result *res)
{
    long long t = conf->threshold;

    res->ip_failures = v[0];
    res->login_failures = has_login ? v[AF_REPLY_PER_KEY] : 0;
    if (res->ip_failures >= t) {
        res->by = AUTHFAIL_IP;
        res->retry_s = (v[1] + AF_MS_PER_S - 1) / AF_MS_PER_S;
    } else if (has_login && res->login_failures >= t) {
        res->by = AUTHFAIL_LOGIN;
        res->retry_s = (v[AF_REPLY_PER_KEY + 1] + AF_MS_PER_S - 1) / AF_MS_PER_S;
    }
    res->blocked = res->by != AUTHFAIL_NONE;
    res->crossed_ip = record && res->ip_failures == t;
    res->crossed_login = record && has_login && res->login_failures == t;
    res->crossed = res->crossed_ip || res->crossed_login;
}

/* Redis answered (or failed). Loop thread. */
static void af_done(enum redis_result rres, const redisReply *reply, void *arg)
{
    struct authfail_req *q = arg;
    const struct authfail_conf *conf = q->af->conf;
    struct authfail_result res = { .error = af_error_of(rres) };
    long long v[AF_MAX_KEYS * AF_REPLY_PER_KEY];

    if (res.error == AUTHFAIL_OK && af_parse(reply, 1 + q->has_login, v) < 0)
        res.error = AUTHFAIL_ERR_SCRIPT;
    if (res.error == AUTHFAIL_OK) {
        af_decide(conf, q->record, q->has_login, v, &res);
    } else {
        res.blocked = conf->fail_mode == AUTHFAIL_FAIL_CLOSED;
        log_warn(AF_LOG, "redis %s%s%s: %s AUTH from %s", af_error_text[res.error],
                 rres == REDIS_RESULT_REPLY_ERROR ? ": " : "",
                 rres == REDIS_RESULT_REPLY_ERROR ? reply->str : "",
                 res.blocked ? "refusing" : "allowing", q->ip);
    }
    q->rreq = NULL;
    q->cb(&res, q->arg);
    af_req_free(q);
}

static struct authfail_req *af_start(struct authfail *af, const char *ip, const char *login,
                                     int record, authfail_done_fn cb, void *arg)
{
    struct authfail_req *q = xcalloc(1, sizeof(*q));
    char window[AF_NUM_MAX], *tag;
    char *keys[AF_MAX_KEYS];
    const char *args[] = { record ? "fail" : "check", window };
    int nkeys = 0, i;

    q->af = af;
    q->cb = cb;
    q->arg = arg;
    q->record = record;
    q->has_login = login != NULL;
    if (authfail_ip_text(ip, (int)af->conf->ipv6_prefix, q->ip, sizeof(q->ip)) < 0)
        log_sanitize(q->ip, sizeof(q->ip), ip, strlen(ip));
    tag = redis_key_escape(q->ip);
    keys[nkeys++] = xasprintf("%s{%s}", AF_KEY_IP, tag);
    free(tag);
    if (login != NULL) {
        tag = redis_key_escape(login);
        keys[nkeys++] = xasprintf("%s{%s}", AF_KEY_LOGIN, tag);
        free(tag);
    }
    snprintf(window, sizeof(window), "%lld", af->conf->window_ms);
    q->next = af->reqs;
    if (af->reqs)
        af->reqs->prev = q;
    af->reqs = q;
    q->rreq = redis_script_call(af->redis, af->script, nkeys, (const char *const *)keys,
                                (int)(sizeof(args) / sizeof(args[0])), args, af_done, q);
    for (i = 0; i < nkeys; i++)
        free(keys[i]);
    return q;
}

struct authfail_req *authfail_check(struct authfail *af, const char *ip, const char *login,
                                    authfail_done_fn cb, void *arg)
{
    return af_start(af, ip, login, 0, cb, arg);
}

struct authfail_req *authfail_record_failure(struct authfail *af, const char *ip,
                                             const char *login, authfail_done_fn cb,
                                             void *arg)
{
    return af_start(af, ip, login, 1, cb, arg);
}
