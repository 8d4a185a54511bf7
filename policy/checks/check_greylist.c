/*
 * check_greylist.c - the greylisting check: first contact of a (client network, sender,
 * recipient) triplet is deferred; a retry after the delay passes, and the triplet passes
 * from then on. State in Redis, shared by every node.
 *
 * Runs at RCPT, for recipients whose settings turn greylisting on (domain_defaults,
 * domains.D.greylisting, or the user's override), on inbound and backup profiles; or,
 * for domains with greylist_stage "data", after the message (END: the whole message's
 * score is known; a deferral there defers the message when every recipient would be
 * deferred, otherwise the others' acceptance delivers it to the greylisted ones too). It
 * runs last in its stage (group 90): with the recipient's level's greylist_score, only
 * recipients scoring at least that much are greylisted (GREYLIST_SKIP_SCORE otherwise).
 * One Redis round trip (one Lua script) decides every recipient of a pipelined batch.
 * Keys (DESIGN.md), all in the client network's hash slot:
 *   pt:gl:{NET}:SENDER:RCPT  hash first, passed, awl (ms times), ttl: the retry
 *                            window while waiting, `pass_ttl` once passed (refreshed)
 *   pt:awl:{NET}             hash n: passes counted (one per triplet per hour); a network
 *                            with `awl_after` passes skips greylisting; allow: 1 when an
 *                            admin allowed it (posternctl greylist allow, no expiry)
 * Times come from the Redis server's clock (TIME), so nodes with skewed clocks agree.
 *
 * Skips, each a symbol: authenticated session (GREYLIST_SKIP_AUTH), whitelisted sender
 * (GREYLIST_SKIP_WHITELIST), forward-confirmed reverse DNS under a domain of
 * `skip_rdns_domains` (fact rdns.name, set by the rdns check only when confirmed:
 * GREYLIST_SKIP_RDNS), SPF pass for a domain of `skip_spf_domains` (facts spf.result and
 * spf.domain: GREYLIST_SKIP_SPF), a DNSWL listing (fact dnswl.listed: GREYLIST_SKIP_DNSWL),
 * a user whose override turns it off on a domain that has it on (GREYLIST_SKIP_USER),
 * an auto-allowlisted network (GREYLIST_AWL). postmaster@ and abuse@ bypass it.
 * Redis down or slow: the unsure rule (default accept) with GREYLIST_UNAVAILABLE.
 */
#include "policy/checks/checks.h"

#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/redis.h"
#include "lib/smtp_replies.h"
#include "lib/xalloc.h"
#include "policy/greylist_key.h"
#include "policy/outage.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- settings ------------------------------------------------------------------------ */

struct greylist_settings {
    long long delay_ms;
    long long retry_window_ms;
    long long pass_ttl_ms;
    long long awl_after;
    long long ipv4_prefix;
    long long ipv6_prefix;
    struct conf_strlist skip_rdns_domains;
    struct conf_strlist skip_spf_domains;
};

/* Big senders that retry from other addresses of a pool, or not at all. */
#define BIG_SENDERS                                                                        \
    "[\"google.com\", \"googlemail.com\", \"outlook.com\", \"hotmail.com\", "             \
    "\"protection.outlook.com\", \"yahoo.com\", \"yahoo.net\", \"icloud.com\", "          \
    "\"me.com\", \"amazonses.com\", \"sendgrid.net\", \"mailgun.org\", \"mcsv.net\", "    \
    "\"mandrillapp.com\", \"sparkpostmail.com\", \"facebookmail.com\", \"linkedin.com\", " \
    "\"gmx.net\", \"web.de\", \"mail.ru\", \"yandex.net\", \"zoho.com\", \"fastmail.com\", " \
    "\"messagingengine.com\", \"protonmail.ch\"]"

#define GS(f) offsetof(struct greylist_settings, f)
static const struct conf_key greylist_keys[] = {
    { .name = "delay", .type = CONF_DURATION, .offset = GS(delay_ms), .def = "5m",
      .min = 0, .max = 86400000LL, .help = "how long a first contact must wait before a retry passes" },
    { .name = "retry_window", .type = CONF_DURATION, .offset = GS(retry_window_ms),
      .def = "2d", .min = 1000, .max = 30 * 86400000LL,
      .help = "a retry later than this after the first contact starts over" },
    { .name = "pass_ttl", .type = CONF_DURATION, .offset = GS(pass_ttl_ms), .def = "35d",
      .min = 1000, .max = 365 * 86400000LL,
      .help = "how long a passed triplet (and an allowlisted network) stays valid unused" },
    { .name = "awl_after", .type = CONF_INT, .offset = GS(awl_after), .def = "5", .min = 0,
      .max = 1000000, .help = "passes of a network (one per triplet per hour) after which it "
                              "skips greylisting; 0: no auto-allowlist" },
    { .name = "ipv4_prefix", .type = CONF_INT, .offset = GS(ipv4_prefix), .def = "24",
      .min = 8, .max = 32, .help = "IPv4 clients are grouped by this network size" },
    { .name = "ipv6_prefix", .type = CONF_INT, .offset = GS(ipv6_prefix), .def = "64",
      .min = 16, .max = 128, .help = "IPv6 clients are grouped by this network size" },
    { .name = "skip_rdns_domains", .type = CONF_STRLIST, .offset = GS(skip_rdns_domains),
      .def = BIG_SENDERS, .help = "clients whose confirmed reverse DNS name is in one of "
                                  "these domains are not greylisted" },
    { .name = "skip_spf_domains", .type = CONF_STRLIST, .offset = GS(skip_spf_domains),
      .def = BIG_SENDERS, .help = "senders of these domains with SPF pass are not greylisted" },
    { .name = NULL }
};
static const struct conf_section greylist_section = { .name = "greylist",
                                                      .keys = greylist_keys };

static const struct symbol_def greylist_symbols[] = {
    { "GREYLIST_NEW", 0, "first contact of the triplet: deferred" },
    { "GREYLIST_EARLY", 0, "retried before the delay was over: deferred again" },
    { "GREYLIST_PASSED", 0, "retried after the delay: passes from now on" },
    { "GREYLIST_KNOWN", 0, "the triplet passed before" },
    { "GREYLIST_AWL", 0, "the client network is auto-allowlisted" },
    { "GREYLIST_ALLOWED", 0, "the client network is allowed by posternctl greylist allow" },
    { "GREYLIST_SKIP_AUTH", 0, "authenticated session: not greylisted" },
    { "GREYLIST_SKIP_WHITELIST", 0, "whitelisted sender: not greylisted" },
    { "GREYLIST_SKIP_RDNS", 0, "a big sender by its confirmed reverse DNS: not greylisted" },
    { "GREYLIST_SKIP_SPF", 0, "SPF pass for an allowlisted sender domain: not greylisted" },
    { "GREYLIST_SKIP_DNSWL", 0, "listed on a DNS allowlist: not greylisted" },
    { "GREYLIST_SKIP_USER", 0, "the recipient turned greylisting off" },
    { "GREYLIST_SKIP_SCORE", 0, "the score is below the level's greylist_score: not greylisted" },
    { "GREYLIST_UNAVAILABLE", 0, "Redis did not answer: greylisting could not decide" },
    { NULL, 0, NULL }
};

/* ---- the Redis side ------------------------------------------------------------------ */

/* KEYS[1] the network's AWL hash, KEYS[2..] triplets; ARGV retry window, pass ttl
 * (milliseconds), awl_after, then the delay (ms) of each triplet in KEYS order (the
 * recipient's domain may have its own). Returns {"allowed"} (posternctl greylist allow), {"awl"}, or
 * {"ok", r2, r3, ...} with each triplet's
 * "known", "passed", "new:SECONDS" or "early:SECONDS" (seconds still to wait, rounded up).
 * Times in milliseconds of the server's clock; one AWL count per triplet per hour. */
static const char greylist_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local retry, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local awl_after = tonumber(ARGV[3])\n"
    "local function wait(ms) return math.max(1, math.ceil(ms / 1000)) end\n"
    "if redis.call('HGET', KEYS[1], 'allow') == '1' then return {'allowed'} end\n"
    "if awl_after > 0 and tonumber(redis.call('HGET', KEYS[1], 'n') or '0') >= awl_after then\n"
    "  redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "  return {'awl'}\n"
    "end\n"
    "local function count(k)\n"
    "  local last = tonumber(redis.call('HGET', k, 'awl') or '-3600000')\n"
    "  if now - last >= 3600000 then\n"
    "    redis.call('HSET', k, 'awl', now)\n"
    "    redis.call('HINCRBY', KEYS[1], 'n', 1)\n"
    "    redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "  end\n"
    "end\n"
    "local out = {'ok'}\n"
    "for i = 2, #KEYS do\n"
    "  local k, delay = KEYS[i], tonumber(ARGV[i + 2])\n"
    "  local first = tonumber(redis.call('HGET', k, 'first') or '-1')\n"
    "  if redis.call('HEXISTS', k, 'passed') == 1 then\n"
    "    redis.call('PEXPIRE', k, ttl)\n"
    "    count(k)\n"
    "    out[i] = 'known'\n"
    "  elseif first < 0 or now - first > retry then\n"
    "    redis.call('HSET', k, 'first', now)\n"
    "    redis.call('PEXPIRE', k, retry + delay)\n"
    "    out[i] = 'new:' .. wait(delay)\n"
    "  elseif now - first < delay then\n"
    "    out[i] = 'early:' .. wait(delay - (now - first))\n"
    "  else\n"
    "    redis.call('HSET', k, 'passed', now)\n"
    "    redis.call('PEXPIRE', k, ttl)\n"
    "    count(k)\n"
    "    out[i] = 'passed'\n"
    "  end\n"
    "end\n"
    "return out\n";

struct greylist_state {
    const struct engine_env *env;
    struct redis_script *script;
};

/* One pending round trip: which call recipient each triplet key is for. */
struct greylist_wait {
    struct redis_req *req;
    size_t n;
    size_t *idx;
};

static int greylist_init(const struct engine_env *env, const void *settings, void **state)
{
    struct greylist_state *st = xcalloc(1, sizeof(*st));

    (void)settings;
    st->env = env;
    if (env->redis != NULL)
        st->script = redis_script_new(env->redis, greylist_lua);
    *state = st;
    return 0;
}

static void greylist_free(void *state)
{
    free(state);   /* the script belongs to the Redis client */
}

/* ---- skip reasons -------------------------------------------------------------------- */

/* Is name equal to, or under, one of the domains? */
static bool in_domains(const char *name, const struct conf_strlist *l)
{
    size_t i, n = strlen(name);

    if (n > 0 && name[n - 1] == '.')
        n--;
    for (i = 0; i < l->n; i++) {
        size_t d = strlen(l->v[i]);
        if (d > n || strncasecmp(name + n - d, l->v[i], d) != 0)
            continue;
        if (d == n || name[n - d - 1] == '.')
            return true;
    }
    return false;
}

static const char *fact_string(const struct check_call *c, const char *key)
{
    json_t *v = check_fact(c, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A skip symbol that holds for the whole session or transaction, or NULL. */
static const char *session_skip(const struct check_call *c, const struct greylist_settings *gs)
{
    const char *rdns = fact_string(c, "rdns.name");
    const char *spf = fact_string(c, "spf.result");
    const char *spf_domain = fact_string(c, "spf.domain");

    if (check_call_login(c) != NULL)
        return "GREYLIST_SKIP_AUTH";
    if (rdns != NULL && in_domains(rdns, &gs->skip_rdns_domains))
        return "GREYLIST_SKIP_RDNS";
    if (spf != NULL && strcmp(spf, "pass") == 0 && spf_domain != NULL &&
        in_domains(spf_domain, &gs->skip_spf_domains))
        return "GREYLIST_SKIP_SPF";
    if (json_is_true(check_fact(c, "dnswl.listed")))
        return "GREYLIST_SKIP_DNSWL";
    return NULL;
}

/* ---- run ----------------------------------------------------------------------------- */

static void on_reply(enum redis_result res, const redisReply *reply, void *arg)
{
    struct check_call *c = arg;
    struct greylist_wait *w = check_call_priv(c);
    const struct engine_env *env = check_call_env(c);
    size_t k;

    w->req = NULL;
    if (res != REDIS_RESULT_OK || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_STRING) {
        const char *why = res == REDIS_RESULT_TIMEOUT ? "timeout"
                          : res == REDIS_RESULT_DOWN  ? "down"
                                                      : "bad reply";
        if (res == REDIS_RESULT_REPLY_ERROR)
            log_warn("greylist", "redis error: %s", reply->str);
        outage_down(env->outages, "redis", "greylist", why);
        metrics_add1(M_GREYLIST_RESULTS, "unavailable", (long long)w->n);
        for (k = 0; k < w->n; k++)
            check_unsure(c, (ssize_t)w->idx[k], "GREYLIST_UNAVAILABLE");
        goto done;
    }
    outage_up(env->outages, "redis");
    if (strcmp(reply->element[0]->str, "ok") != 0) {
        const char *sym = strcmp(reply->element[0]->str, "awl") == 0 ? "GREYLIST_AWL"
                                                                     : "GREYLIST_ALLOWED";
        metrics_add1(M_GREYLIST_RESULTS, "known", (long long)w->n);
        for (k = 0; k < w->n; k++)
            check_symbol(c, (ssize_t)w->idx[k], sym, 1.0, NULL);
        goto done;
    }
    for (k = 0; k < w->n; k++) {
        const redisReply *e = k + 1 < reply->elements ? reply->element[k + 1] : NULL;
        ssize_t i = (ssize_t)w->idx[k];
        long wait;

        if (e == NULL || e->type != REDIS_REPLY_STRING) {
            metrics_inc1(M_GREYLIST_RESULTS, "unavailable");
            check_unsure(c, i, "GREYLIST_UNAVAILABLE");
        } else if (strcmp(e->str, "known") == 0) {
            metrics_inc1(M_GREYLIST_RESULTS, "known");
            check_symbol(c, i, "GREYLIST_KNOWN", 1.0, NULL);
        } else if (strcmp(e->str, "passed") == 0) {
            metrics_inc1(M_GREYLIST_RESULTS, "passed");
            check_symbol(c, i, "GREYLIST_PASSED", 1.0, NULL);
        } else {
            metrics_inc1(M_GREYLIST_RESULTS, "greylisted");
            bool first = strncmp(e->str, "new:", 4) == 0;
            wait = strtol(strchr(e->str, ':') ? strchr(e->str, ':') + 1 : "0", NULL, 10);
            if (wait < 1)
                wait = 1;
            check_symbol(c, i, first ? "GREYLIST_NEW" : "GREYLIST_EARLY", 1.0, NULL);
            check_verdict(c, i, VERDICT_REFUSE, R_GREYLISTED, wait);
            log_info("greylist", "%s: action=greylist, reason=%s, client_address=%s, "
                     "sender=<%s>, recipient=<%s>, retry_in=%lds",
                     check_call_queue_id(c) ? check_call_queue_id(c) : "NOQUEUE",
                     first ? "new" : "early", check_call_client_ip(c),
                     check_call_sender(c) ? check_call_sender(c) : "",
                     check_call_rcpt(c, (size_t)i), wait);
        }
    }
done:
    free(w->idx);
    free(w);
    check_call_set_priv(c, NULL);
    check_done(c);
}

static void free_vec(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static enum call_status greylist_run(struct check_call *c)
{
    const struct greylist_settings *gs = check_call_settings(c);
    const struct greylist_state *st = check_call_state(c);
    const struct engine_env *env = check_call_env(c);
    size_t i, n = check_call_nrcpt(c), nkeys = 0;
    const char *skip = n ? session_skip(c, gs) : NULL;
    char net[64], sender[320], **keys, **args;
    char *tag;
    struct greylist_wait *w;

    if (n == 0)
        return CALL_DONE;
    if (greylist_network(check_call_client_ip(c), (int)gs->ipv4_prefix,
                         (int)gs->ipv6_prefix, net, sizeof(net)) != 0)
        return CALL_DONE;   /* not an IP client (a test harness): nothing to group by */
    greylist_sender(check_call_sender(c), sender, sizeof(sender));
    tag = redis_key_escape(net);
    keys = xcalloc(n + 1, sizeof(*keys));
    args = xcalloc(n + 3, sizeof(*args));
    w = xcalloc(1, sizeof(*w));
    w->idx = xcalloc(n, sizeof(*w->idx));
    for (i = 0; i < n; i++) {
        const struct policy_settings *s = check_call_rcpt_settings(c, i);
        int when = s->domain != NULL ? s->domain->greylist_stage : GREYLIST_AT_RCPT;
        if (when != (check_call_stage(c) == STAGE_END ? GREYLIST_AFTER_DATA : GREYLIST_AT_RCPT))
            continue;               /* decided at the other stage */
        if (!s->greylisting) {
            if (s->domain != NULL && s->domain->greylisting)
                check_symbol(c, (ssize_t)i, "GREYLIST_SKIP_USER", 1.0, NULL);
            continue;
        }
        if (skip != NULL) {
            metrics_inc1(M_GREYLIST_RESULTS, "skipped");
            check_symbol(c, (ssize_t)i, skip, 1.0, NULL);
            continue;
        }
        if (check_call_rcpt_whitelisted(c, i)) {
            metrics_inc1(M_GREYLIST_RESULTS, "skipped");
            check_symbol(c, (ssize_t)i, "GREYLIST_SKIP_WHITELIST", 1.0, NULL);
            continue;
        }
        if (s->level != NULL && check_call_rcpt_score(c, i) < s->level->greylist_score) {
            check_symbol(c, (ssize_t)i, "GREYLIST_SKIP_SCORE", 1.0, NULL);
            continue;
        }
        if (nkeys == 0)
            keys[nkeys++] = xasprintf("pt:awl:{%s}", tag);
        char *r = redis_key_escape(check_call_rcpt(c, i));
        keys[nkeys] = xasprintf("pt:gl:{%s}:%s:%s", tag, sender, r);
        args[nkeys + 2] = xasprintf("%lld", s->domain != NULL && s->domain->greylist_delay_ms > 0
                                                 ? s->domain->greylist_delay_ms
                                                 : gs->delay_ms);
        nkeys++;
        free(r);
        w->idx[w->n++] = i;
    }
    free(tag);
    if (w->n > 0 && (env->redis == NULL || st->script == NULL)) {
        for (i = 0; i < w->n; i++)
            check_unsure(c, (ssize_t)w->idx[i], "GREYLIST_UNAVAILABLE");
        w->n = 0;
    }
    if (w->n == 0) {
        free_vec(keys, nkeys);
        free_vec(args, n + 3);
        free(w->idx);
        free(w);
        return CALL_DONE;
    }
    args[0] = xasprintf("%lld", gs->retry_window_ms);
    args[1] = xasprintf("%lld", gs->pass_ttl_ms);
    args[2] = xasprintf("%lld", gs->awl_after);
    check_call_set_priv(c, w);
    w->req = redis_script_call(env->redis, st->script, (int)nkeys, (const char *const *)keys,
                               (int)nkeys + 2, (const char *const *)args, on_reply, c);
    free_vec(keys, nkeys);
    free_vec(args, n + 3);
    return CALL_PENDING;
}

static void greylist_cancel(struct check_call *c)
{
    struct greylist_wait *w = check_call_priv(c);

    if (w == NULL)
        return;
    if (w->req != NULL)
        redis_cancel(w->req);
    free(w->idx);
    free(w);
    check_call_set_priv(c, NULL);
}

const struct check_def check_greylist = {
    .name = "greylist",
    .description = "defer the first contact of a client network, sender and recipient",
    .stages = STAGE_BIT(STAGE_RCPT) | STAGE_BIT(STAGE_END),
    .directions = DIR_INBOUND | DIR_BACKUP,
    .group = 90,          /* after every other check of the stage: their scores count */
    .async = true,
    .flags = CHECK_ROLE_BYPASS | CHECK_USES_SETTINGS,
    .unsure = UNSURE_ACCEPT,
    .reason = "greylisted",
    .unsure_reason = "redis_unavailable",  /* its store is in Redis */
    .mixed = DISP_PASS,   /* after DATA, a message others take is delivered to it too */
    .symbols = greylist_symbols,
    .settings = &greylist_section,
    .settings_size = sizeof(struct greylist_settings),
    .init = greylist_init,
    .free = greylist_free,
    .run = greylist_run,
    .cancel = greylist_cancel,
};
