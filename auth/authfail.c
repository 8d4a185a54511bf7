/*
 * authfail.c - failed-login counters in Redis (see authfail.h).
 *
 * Two small Lua scripts, one per Redis Cluster slot: the address's counter and its alert
 * marker (hash tag {ADDR}), and the login's two counters (hash tag {LOGIN}). Each script
 * writes a counter and its TTL together (Haraka's INCR-then-EXPIRE can leave a counter
 * without a TTL when the client dies between the two), and decides atomically, so that
 * racing sessions and nodes see one sequence of counts. A window is fixed: it starts at
 * the first count and later counts do not extend it, so a block always ends.
 * An end runs the login's script first (it decides whether this attempt counts as a
 * failure), then the address's (count it, or give the reservation back).
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
#define AF_KEY_IP_ALERTED ":alerted"
#define AF_KEY_LOGIN "pt:authfail:login:"
#define AF_KEY_PAIR_IP ":ip:"
#define AF_NUM_MAX 24
#define AF_IP_REPLY 3             /* count, ms left, flag */
#define AF_LOGIN_REPLY 6          /* login count, ms left, pair count, ms left, blocked,
                                     counted */
#define AF_REPLY_MAX AF_LOGIN_REPLY
#define AF_IP_TEXT_MAX (INET6_ADDRSTRLEN + sizeof("/128"))
#define AF_V4_MAPPED_PREFIX_LEN 12
#define AF_MS_PER_S 1000
#define AF_IPV6_BITS 128
#define AF_BITS_PER_BYTE 8
#define AF_DELAY_DOUBLINGS_MAX 40 /* 2^40 times any delay is past any cap */

static const char af_ip_script_source[] =
"-- Postern failed logins, per client address (one hash tag: one cluster slot).\n"
"-- KEYS[1] the address's counter: attempts that failed or are running, in a fixed\n"
"-- window; KEYS[2] its alert marker. ARGV[1] 'begin' | 'fail' | 'release',\n"
"-- ARGV[2] window ms, ARGV[3] threshold, ARGV[4] '1' when the attempt was reserved.\n"
"-- begin: refuse at the threshold, else reserve (count) the attempt; fail: count it\n"
"-- unless reserved; release: give a reservation back.\n"
"-- Reply { count, ms until the window ends, flag }: begin: 1 = blocked;\n"
"-- fail: 1 = the threshold is reached and nobody raised the alert in this window yet.\n"
"local key, limit = KEYS[1], tonumber(ARGV[3])\n"
"local n = tonumber(redis.call('GET', key)) or 0\n"
"local flag = 0\n"
"local function count()\n"
"  n = redis.call('INCR', key)\n"
"  if n == 1 or redis.call('PTTL', key) < 0 then\n"
"    redis.call('PEXPIRE', key, ARGV[2])  -- the window starts at the first count\n"
"  end\n"
"end\n"
"if ARGV[1] == 'begin' then\n"
"  if n >= limit then flag = 1 else count() end\n"
"elseif ARGV[1] == 'release' then\n"
"  if n > 0 then n = redis.call('DECR', key) end\n"
"else\n"
"  if n == 0 or ARGV[4] ~= '1' then count() end  -- n == 0: its window ended meanwhile\n"
"  local ttl = redis.call('PTTL', key)\n"
"  if n >= limit and ttl > 0 and redis.call('SET', KEYS[2], '1', 'PX', ttl, 'NX') then\n"
"    flag = 1\n"
"  end\n"
"end\n"
"return { n, math.max(0, redis.call('PTTL', key)), flag }\n";

static const char af_login_script_source[] =
"-- Postern failed logins, per login (one hash tag: one cluster slot).\n"
"-- KEYS[1] the login's counter (every address), KEYS[2] the (login, address) counter.\n"
"-- ARGV[1] 'fail' | 'ok' (the SASL verdict), ARGV[2] window ms, ARGV[3] the pair's\n"
"-- threshold. A pair at its threshold is blocked whatever the verdict, and then even\n"
"-- a right password counts as a failure, so that nothing tells it apart.\n"
"-- Reply { login count, ms left, pair count, ms left, blocked, counted }\n"
"local blocked = (tonumber(redis.call('GET', KEYS[2])) or 0) >= tonumber(ARGV[3])\n"
"local out, counted = {}, 0\n"
"if ARGV[1] == 'fail' or blocked then counted = 1 end\n"
"for i, key in ipairs(KEYS) do\n"
"  local n\n"
"  if counted == 1 then\n"
"    n = redis.call('INCR', key)\n"
"    if n == 1 or redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, ARGV[2]) end\n"
"  else\n"
"    n = tonumber(redis.call('GET', key)) or 0\n"
"  end\n"
"  out[#out + 1] = n\n"
"  out[#out + 1] = math.max(0, redis.call('PTTL', key))\n"
"end\n"
"out[#out + 1] = blocked and 1 or 0\n"
"out[#out + 1] = counted\n"
"return out\n";

static const char *const af_error_text[] = {
    [AUTHFAIL_OK] = "ok", [AUTHFAIL_ERR_TIMEOUT] = "timeout",
    [AUTHFAIL_ERR_DOWN] = "unavailable", [AUTHFAIL_ERR_SCRIPT] = "script error",
};

struct authfail {
    const struct authfail_conf *conf;
    struct redis *redis;
    const struct redis_script *ip_script, *login_script;
    struct authfail_req *reqs;
};

enum af_step { AF_BEGIN, AF_LOGIN, AF_IP_FAIL, AF_RELEASE };

struct authfail_req {
    struct authfail *af;
    struct authfail_req *prev, *next;
    struct redis_req *rreq;
    authfail_done_fn cb;          /* NULL: a release nobody waits for */
    void *arg;
    enum af_step step;
    bool success, reserved;
    char *ip_tag;                 /* the address, escaped for a key */
    char *login_tag;              /* the login, escaped; NULL without one */
    char ip[AF_IP_TEXT_MAX];      /* for the log line */
    struct authfail_result res;
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

long long authfail_delay_ms(const struct authfail_conf *conf, long long failures)
{
    long long over = failures - conf->login_threshold, d = conf->login_delay_ms;

    if (over < 0 || d <= 0)
        return 0;
    if (over > AF_DELAY_DOUBLINGS_MAX)
        over = AF_DELAY_DOUBLINGS_MAX;
    while (over-- > 0 && d < conf->login_delay_max_ms)
        d *= 2;
    return d < conf->login_delay_max_ms ? d : conf->login_delay_max_ms;
}

struct authfail *authfail_new(const struct authfail_conf *conf, struct redis *redis)
{
    struct authfail *af = xcalloc(1, sizeof(*af));

    af->conf = conf;
    af->redis = redis;
    af->ip_script = redis_script_new(redis, af_ip_script_source);
    af->login_script = redis_script_new(redis, af_login_script_source);
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
    free(q->ip_tag);
    free(q->login_tag);
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

static int af_parse(const redisReply *r, size_t n, long long *v)
{
    size_t i;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != n)
        return -1;
    for (i = 0; i < n; i++) {
        if (r->element[i]->type != REDIS_REPLY_INTEGER)
            return -1;
        v[i] = r->element[i]->integer;
    }
    return 0;
}

static long long af_ms_to_s(long long ms)
{
    return (ms + AF_MS_PER_S - 1) / AF_MS_PER_S;
}

static void af_count_set(struct authfail_count *c, long long count, long long left_ms)
{
    c->count = count;
    c->left_s = af_ms_to_s(left_ms);
}

/* The address's script answered: v = { count, ms left, flag }. */
static void af_decide_ip(enum af_step step, const long long *v, struct authfail_result *res)
{
    af_count_set(&res->ip, v[0], v[1]);
    if (step == AF_BEGIN) {
        res->refused = v[2] != 0;
        res->reserved = !res->refused;
        if (res->refused) {
            res->blocked_by = AUTHFAIL_IP;
            res->retry_s = res->ip.left_s;
        }
    } else if (step == AF_IP_FAIL) {
        res->ip.crossed = v[2] != 0;
    }
}

/* The login's script answered: v = { login count, ms left, pair count, ms left, blocked,
 * counted }. Returns whether this attempt counts as a failure. */
static bool af_decide_login(const struct authfail_conf *conf, const long long *v,
                            struct authfail_result *res)
{
    bool counted = v[5] != 0;

    af_count_set(&res->login, v[0], v[1]);
    af_count_set(&res->login_ip, v[2], v[3]);
    res->login.crossed = counted && v[0] == conf->login_threshold;
    res->login_ip.crossed = counted && v[2] == conf->login_ip_threshold;
    res->delay_ms = authfail_delay_ms(conf, v[0] - counted);
    if (v[4] != 0) {
        res->refused = true;
        res->blocked_by = AUTHFAIL_LOGIN_IP;
        res->retry_s = res->login_ip.left_s;
    }
    return counted;
}

static void af_call(struct authfail_req *q);

/* The request is over: report (unless nobody waits) and free it. */
static void af_finish(struct authfail_req *q)
{
    q->rreq = NULL;
    if (q->cb != NULL)
        q->cb(&q->res, q->arg);
    af_req_free(q);
}

/* Redis failed (detail: its error text, or NULL): log once, and apply fail_mode to what
 * is not decided yet. */
static void af_failed(struct authfail_req *q, enum redis_result rres, const char *detail)
{
    const struct authfail_conf *conf = q->af->conf;
    enum authfail_error e = af_error_of(rres);
    bool undecided = q->step == AF_BEGIN || q->step == AF_LOGIN ||
                     (q->step == AF_IP_FAIL && q->login_tag == NULL);

    if (undecided) {
        q->res.error = e;
        q->res.refused = conf->fail_mode == AUTHFAIL_FAIL_CLOSED;
        q->res.blocked_by = AUTHFAIL_NONE;
        q->res.reserved = false;
        q->res.delay_ms = 0;
    }
    log_warn(AF_LOG, "redis %s%s%s: %s AUTH from %s", af_error_text[e], detail ? ": " : "",
             detail ? detail : "",
             !undecided ? "not counting" : q->res.refused ? "refusing" : "allowing", q->ip);
}

/* A script answered (or failed). Loop thread. */
static void af_done(enum redis_result rres, const redisReply *reply, void *arg)
{
    struct authfail_req *q = arg;
    const struct authfail_conf *conf = q->af->conf;
    long long v[AF_REPLY_MAX];
    size_t n = q->step == AF_LOGIN ? AF_LOGIN_REPLY : AF_IP_REPLY;

    q->rreq = NULL;
    if (rres != REDIS_RESULT_OK || af_parse(reply, n, v) < 0) {
        af_failed(q, rres == REDIS_RESULT_OK ? REDIS_RESULT_REPLY_ERROR : rres,
                  rres == REDIS_RESULT_REPLY_ERROR ? reply->str
                  : rres == REDIS_RESULT_OK ? "unexpected reply" : NULL);
        af_finish(q);
        return;
    }
    if (q->step != AF_LOGIN) {
        af_decide_ip(q->step, v, &q->res);
        af_finish(q);
        return;
    }
    if (af_decide_login(conf, v, &q->res))
        q->step = AF_IP_FAIL;
    else if (q->reserved)
        q->step = AF_RELEASE;
    else {
        af_finish(q);
        return;
    }
    af_call(q);
}

/* Run the script of q's current step. */
static void af_call(struct authfail_req *q)
{
    const struct authfail_conf *conf = q->af->conf;
    static const char *const ip_mode[] = {
        [AF_BEGIN] = "begin", [AF_IP_FAIL] = "fail", [AF_RELEASE] = "release" };
    char window[AF_NUM_MAX], limit[AF_NUM_MAX];
    const char *args[] = { NULL, window, limit, q->reserved ? "1" : "0" };
    char *keys[2];

    snprintf(window, sizeof(window), "%lld", conf->window_ms);
    if (q->step == AF_LOGIN) {
        keys[0] = xasprintf("%s{%s}", AF_KEY_LOGIN, q->login_tag);
        keys[1] = xasprintf("%s{%s}%s%s", AF_KEY_LOGIN, q->login_tag, AF_KEY_PAIR_IP,
                            q->ip_tag);
        args[0] = q->success ? "ok" : "fail";
        snprintf(limit, sizeof(limit), "%lld", conf->login_ip_threshold);
    } else {
        keys[0] = xasprintf("%s{%s}", AF_KEY_IP, q->ip_tag);
        keys[1] = xasprintf("%s{%s}%s", AF_KEY_IP, q->ip_tag, AF_KEY_IP_ALERTED);
        args[0] = ip_mode[q->step];
        snprintf(limit, sizeof(limit), "%lld", conf->ip_threshold);
    }
    q->rreq = redis_script_call(q->af->redis,
                                q->step == AF_LOGIN ? q->af->login_script : q->af->ip_script,
                                2, (const char *const *)keys,
                                (int)(sizeof(args) / sizeof(args[0])), args, af_done, q);
    free(keys[0]);
    free(keys[1]);
}

static struct authfail_req *af_start(struct authfail *af, const char *ip, const char *login,
                                     enum af_step step, authfail_done_fn cb, void *arg)
{
    struct authfail_req *q = xcalloc(1, sizeof(*q));

    q->af = af;
    q->cb = cb;
    q->arg = arg;
    q->step = step;
    if (authfail_ip_text(ip, (int)af->conf->ipv6_prefix, q->ip, sizeof(q->ip)) < 0)
        log_sanitize(q->ip, sizeof(q->ip), ip, strlen(ip));
    q->ip_tag = redis_key_escape(q->ip);
    q->login_tag = login ? redis_key_escape(login) : NULL;
    q->next = af->reqs;
    if (af->reqs)
        af->reqs->prev = q;
    af->reqs = q;
    return q;
}

struct authfail_req *authfail_begin(struct authfail *af, const char *ip, authfail_done_fn cb,
                                    void *arg)
{
    struct authfail_req *q = af_start(af, ip, NULL, AF_BEGIN, cb, arg);

    af_call(q);
    return q;
}

struct authfail_req *authfail_end(struct authfail *af, const char *ip, const char *login,
                                  bool success, bool reserved, authfail_done_fn cb,
                                  void *arg)
{
    struct authfail_req *q = af_start(af, ip, login, login ? AF_LOGIN : AF_IP_FAIL, cb, arg);

    q->success = success;
    q->reserved = reserved;
    af_call(q);
    return q;
}

void authfail_release(struct authfail *af, const char *ip)
{
    struct authfail_req *q = af_start(af, ip, NULL, AF_RELEASE, NULL, NULL);

    q->reserved = true;
    af_call(q);
}
