/*
 * account_breaker.c - the compromised-account breaker's Redis side (see account_breaker.h).
 */
#include "policy/account_breaker.h"

#include "lib/errout.h"
#include "lib/redis.h"
#include "lib/xalloc.h"

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct conf_key account_keys[] = {
    { .name = "strikes", .type = CONF_INT, .offset = offsetof(struct account_conf, strikes),
      .def = "3", .min = 0, .max = 1000,
      .help = "refusals of a login's mail as spam or virus within window that suspend it "
              "(450 4.7.1 until posternctl account release); 0: never" },
    { .name = "window", .type = CONF_DURATION,
      .offset = offsetof(struct account_conf, window_ms), .def = "10m", .min = 1000,
      .max = 7 * 86400000LL, .help = "the window of strikes" },
    { .name = "cache", .type = CONF_DURATION,
      .offset = offsetof(struct account_conf, cache_ms), .def = "10s", .min = 0,
      .max = 3600000LL,
      .help = "how long a node remembers a login's suspension state between transactions; "
              "a change in Redis (by any node or posternctl) is seen at once through a key "
              "watch (Redis 6 or later), this bounds it when the watch itself is stale; "
              "0: ask Redis at every MAIL" },
    { .name = NULL }
};
const struct conf_section account_conf_section = { .name = "account", .keys = account_keys };

/* KEYS[1] pt:acct:{L}, KEYS[2] pt:acct:{L}:strikes; ARGV mode ("strike"|"suspend"),
 * reason, limit, window (ms). Returns 1 when this call suspended the login, else 0. */
static const char account_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "if redis.call('HGET', KEYS[1], 'suspended') == '1' then return 0 end\n"
    "if ARGV[1] == 'strike' then\n"
    "  local window = tonumber(ARGV[4])\n"
    "  redis.call('ZADD', KEYS[2], now, now .. ':' .. math.random(1000000))\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)\n"
    "  redis.call('PEXPIRE', KEYS[2], window)\n"
    "  if redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[3]) then return 0 end\n"
    "end\n"
    "redis.call('HDEL', KEYS[1], 'dropped')\n"
    "redis.call('PERSIST', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 'suspended', '1', 'reason', ARGV[2], 'since', now)\n"
    "return 1\n";

struct redis_script *account_script(struct redis *r)
{
    return redis_script_new(r, account_lua);
}

int account_reply(enum redis_result res, const redisReply *reply)
{
    if (res != REDIS_RESULT_OK || reply->type != REDIS_REPLY_INTEGER)
        return -1;
    return reply->integer == 1 ? 1 : 0;
}

static void keys_of(const char *login, char **k1, char **k2)
{
    char *tag = redis_key_escape(login);

    *k1 = xasprintf("pt:acct:{%s}", tag);
    *k2 = xasprintf("pt:acct:{%s}:strikes", tag);
    free(tag);
}

static struct redis_req *call(struct redis *r, struct redis_script *script, const char *login,
                              const char *mode, const char *reason, long long limit,
                              long long window_ms, redis_reply_fn cb, void *arg)
{
    char *k1, *k2, lim[24], win[24];
    const char *keys[2], *args[4];
    struct redis_req *req;

    keys_of(login, &k1, &k2);
    snprintf(lim, sizeof(lim), "%lld", limit);
    snprintf(win, sizeof(win), "%lld", window_ms);
    keys[0] = k1;
    keys[1] = k2;
    args[0] = mode;
    args[1] = reason;
    args[2] = lim;
    args[3] = win;
    req = redis_script_call(r, script, 2, keys, 4, args, cb, arg);
    free(k1);
    free(k2);
    return req;
}

struct redis_req *account_strike(struct redis *r, struct redis_script *script,
                                 const char *login, const char *reason, long long limit,
                                 long long window_ms, redis_reply_fn cb, void *arg)
{
    return call(r, script, login, "strike", reason, limit, window_ms, cb, arg);
}

struct redis_req *account_suspend(struct redis *r, struct redis_script *script,
                                  const char *login, const char *reason, redis_reply_fn cb,
                                  void *arg)
{
    return call(r, script, login, "suspend", reason, 1, 1, cb, arg);
}

static int redis_failed(redisContext *c, redisReply *r)
{
    fprintf(errout(), "posternctl: Redis: %s\n",
            r != NULL && r->type == REDIS_REPLY_ERROR ? r->str
            : c->err                                  ? c->errstr
                                                      : "unexpected reply");
    freeReplyObject(r);
    return -1;
}

int account_admin_show(struct redisContext *c, const char *login, FILE *out)
{
    char *k1, *k2;
    redisReply *h, *n;
    int rc = 0;

    keys_of(login, &k1, &k2);
    h = redisCommand(c, "HMGET %s suspended reason since", k1);
    n = redisCommand(c, "ZCARD %s", k2);
    if (h == NULL || h->type != REDIS_REPLY_ARRAY || h->elements != 3 || n == NULL ||
        n->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(n);
        rc = redis_failed(c, h);
    } else {
        bool susp = h->element[0]->type == REDIS_REPLY_STRING &&
                    strcmp(h->element[0]->str, "1") == 0;
        fprintf(out, "%s %s", login, susp ? "suspended" : "active");
        if (susp && h->element[1]->type == REDIS_REPLY_STRING &&
            h->element[2]->type == REDIS_REPLY_STRING) {
            time_t t = (time_t)(strtoll(h->element[2]->str, NULL, 10) / 1000);
            char since[32];
            strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
            fprintf(out, " reason=%s since=%s", h->element[1]->str, since);
        }
        fprintf(out, " strikes=%lld\n", n->integer);
        freeReplyObject(h);
        freeReplyObject(n);
    }
    free(k1);
    free(k2);
    return rc;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int account_admin_release(struct redisContext *c, const char *login, bool drop_queued,
                          FILE *out)
{
    char *k1, *k2;
    redisReply *r;
    int rc = 0;

    keys_of(login, &k1, &k2);
    if (!drop_queued) {
        r = redisCommand(c, "DEL %s %s", k1, k2);
    } else {
        /* one transaction: the watch sees one change with dropped already set */
        r = redisCommand(c, "EVAL %s 2 %s %s %lld %lld",
                         "redis.call('DEL', KEYS[1], KEYS[2])\n"
                         "redis.call('HSET', KEYS[1], 'suspended', '0', 'dropped', ARGV[1])\n"
                         "redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                         "return 1\n",
                         k1, k2, now_ms(), ACCOUNT_DROP_TTL_MS);
    }
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        rc = redis_failed(c, r);
    else {
        fprintf(out, "%s released: it may send again%s\n", login,
                drop_queued ? "; its held mail is deleted on every node (no DSN)" : "");
        freeReplyObject(r);
    }
    free(k1);
    free(k2);
    return rc;
}

int account_admin_suspend(struct redisContext *c, const char *login, const char *reason,
                          FILE *out)
{
    char *k1, *k2;
    redisReply *r;
    int rc = 0;

    keys_of(login, &k1, &k2);
    r = redisCommand(c, "EVAL %s 1 %s %s %lld",
                     "redis.call('HDEL', KEYS[1], 'dropped')\n"
                     "redis.call('PERSIST', KEYS[1])\n"
                     "redis.call('HSET', KEYS[1], 'suspended', '1', 'reason', ARGV[1], "
                     "'since', ARGV[2])\n"
                     "return 1\n",
                     k1, reason ? reason : "admin", now_ms());
    if (r == NULL || r->type != REDIS_REPLY_INTEGER)
        rc = redis_failed(c, r);
    else {
        fprintf(out, "%s suspended: new mail gets 450 4.7.1, queued mail is held on every "
                "node until posternctl account release\n", login);
        freeReplyObject(r);
    }
    free(k1);
    free(k2);
    return rc;
}
