/*
 * check_bulk.c - bulk detection: the fuzzy fingerprints of a message body
 * (content/spam_bulk.h) counted in Redis across every recipient and node over a sliding
 * window. A body seen by more than `recipients` distinct recipients is bulk:
 *   BULK_SOLICITED  the sender's mail carries List-Unsubscribe and a valid DKIM signature
 *                   of its From domain or a parent (the "dkim.pass_domains" fact of dkim)
 *   BULK            else, from `senders` or more unrelated sender domains (a campaign)
 *   BULK_SINGLE     else (one sender, no unsubscribe or no DKIM)
 * Keys: pt:bulk:{FP}:r (recipients, hashed) and pt:bulk:{FP}:s (sender domains), sorted
 * sets scored by time, expiring with the window, at most BULK_ZSET_MAX members each.
 * Fingerprints are computed on the check pool; the counting is one Lua call per
 * fingerprint (its two keys share a hash tag, so it runs on a Redis Cluster too).
 */
#include "content/spam_bulk.h"
#include "content/spam_tok.h"
#include "lib/redis.h"
#include "lib/xalloc.h"
#include "policy/checks/checks.h"
#include "policy/outage.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define BULK_READ_MAX  (256 * 1024)
#define BULK_ZSET_MAX  "10000"

static const char bulk_lua[] =
    "local now, win, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "for k = 1, 2 do\n"
    "  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', now - win)\n"
    "end\n"
    "redis.call('ZADD', KEYS[2], now, ARGV[4])\n"
    "for i = 5, #ARGV do redis.call('ZADD', KEYS[1], now, ARGV[i]) end\n"
    "for k = 1, 2 do\n"
    "  local n = redis.call('ZCARD', KEYS[k])\n"
    "  if n > cap then redis.call('ZREMRANGEBYRANK', KEYS[k], 0, n - cap - 1) end\n"
    "  redis.call('PEXPIRE', KEYS[k], win)\n"
    "end\n"
    "return {redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])}\n";

static const struct symbol_def bulk_symbols[] = {
    { "BULK", 3.0, "the body was sent to many recipients by unrelated senders" },
    { "BULK_SINGLE", 1.0, "the body was sent to many recipients, one sender, not solicited" },
    { "BULK_SOLICITED", 0.5, "bulk with List-Unsubscribe and a valid DKIM signature" },
    { NULL, 0, NULL }
};

struct bulk_settings {
    long long recipients;
    long long senders;
    long long window_ms;
};

#define BS(f) offsetof(struct bulk_settings, f)
static const struct conf_key bulk_keys[] = {
    { .name = "recipients", .type = CONF_INT, .offset = BS(recipients), .def = "20",
      .min = 1, .max = 1000000,
      .help = "a body seen by more distinct recipients than this within the window is bulk" },
    { .name = "senders", .type = CONF_INT, .offset = BS(senders), .def = "3", .min = 1,
      .max = 10000, .help = "distinct sender domains from which bulk counts as a campaign "
                            "(BULK rather than BULK_SINGLE)" },
    { .name = "window", .type = CONF_DURATION, .offset = BS(window_ms), .def = "1h",
      .min = 1000, .max = 7 * 86400000LL, .help = "the sliding window of the counts" },
    { .name = NULL }
};
static const struct conf_section bulk_section = { .name = "bulk check", .keys = bulk_keys };

struct bulk_state {
    const struct engine_env *env;
    struct redis_script *script;
};

struct bulk_job {
    char *rcpt0;
    struct spam_bulk_info info;
};

struct bulk_slot {
    struct check_call *c;
    size_t i;
};

struct bulk_wait {
    struct redis_req *req[SPAM_BULK_FPS];
    struct bulk_slot slot[SPAM_BULK_FPS];
    size_t pending;
    long long max_r, max_s;
    bool failed;
    bool list_unsubscribe;
    char from_domain[128];
};

static int bulk_init(const struct engine_env *env, const void *settings, void **state)
{
    struct bulk_state *st = xcalloc(1, sizeof(*st));

    (void)settings;
    st->env = env;
    if (env->redis)
        st->script = redis_script_new(env->redis, bulk_lua);
    *state = st;
    return 0;
}

static void bulk_free(void *state)
{
    free(state);
}

/* ---- the fingerprints (worker) ----------------------------------------------------------- */

static void job_work(void *arg, const char *msg, size_t len)
{
    struct bulk_job *j = arg;

    if (msg != NULL)
        spam_bulk_analyze(msg, len, j->rcpt0, &j->info);
}

static void job_free(void *arg)
{
    struct bulk_job *j = arg;

    free(j->rcpt0);
    free(j);
}

/* ---- counting (loop) ------------------------------------------------------------------------ */

static bool dkim_signed(const struct check_call *c, const char *domain)
{
    json_t *v = check_fact(c, "dkim.pass_domains"), *d;
    size_t i, dl = strlen(domain);

    if (!json_is_array(v) || dl == 0)
        return false;
    json_array_foreach(v, i, d) {
        const char *s = json_string_value(d);
        size_t sl = s ? strlen(s) : 0;
        /* the From domain itself, or a parent of it (relaxed alignment) */
        if (sl > 0 && (strcasecmp(s, domain) == 0 ||
                       (dl > sl + 1 && domain[dl - sl - 1] == '.' &&
                        strcasecmp(domain + dl - sl, s) == 0)))
            return true;
    }
    return false;
}

static void finish(struct check_call *c)
{
    const struct bulk_settings *bs = check_call_settings(c);
    const struct bulk_state *st = check_call_state(c);
    struct bulk_wait *w = check_call_priv(c);
    char text[64];

    if (w->failed) {
        outage_down(st->env->outages, "redis", "bulk", "no answer");
        check_unsure(c, CHECK_ALL, NULL);
    } else {
        outage_up(st->env->outages, "redis");
        if (w->max_r > bs->recipients) {
            snprintf(text, sizeof(text), "%lld recipients, %lld senders", w->max_r, w->max_s);
            if (w->list_unsubscribe && dkim_signed(c, w->from_domain))
                check_symbol(c, CHECK_ALL, "BULK_SOLICITED", 1.0, text);
            else if (w->max_s >= bs->senders)
                check_symbol(c, CHECK_ALL, "BULK", 1.0, text);
            else
                check_symbol(c, CHECK_ALL, "BULK_SINGLE", 1.0, text);
        }
    }
    check_call_set_priv(c, NULL);
    free(w);
    check_done(c);
}

static void on_count(enum redis_result res, const struct redisReply *r, void *arg)
{
    struct bulk_slot *slot = arg;
    struct check_call *c = slot->c;
    struct bulk_wait *w = check_call_priv(c);

    w->req[slot->i] = NULL;
    if (res == REDIS_RESULT_OK && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        if (r->element[0]->integer > w->max_r)
            w->max_r = r->element[0]->integer;
        if (r->element[1]->integer > w->max_s)
            w->max_s = r->element[1]->integer;
    } else {
        w->failed = true;
    }
    if (--w->pending == 0)
        finish(c);
}

static void job_done(struct check_call *c, void *arg, bool read_ok)
{
    struct bulk_job *j = arg;
    const struct bulk_settings *bs = check_call_settings(c);
    const struct bulk_state *st = check_call_state(c);
    struct bulk_wait *w;
    const char *sender = check_call_sender(c), *at;
    char now[32], win[32], dom[160], key_r[64], key_s[64];
    char **rc;
    size_t i, n = check_call_nrcpt(c);
    struct timeval tv;

    if (!read_ok) {
        check_unsure(c, CHECK_ALL, NULL);
        check_done(c);
        return;
    }
    if (j->info.nfp == 0 || st->script == NULL) {
        if (st->script == NULL && j->info.nfp > 0)
            check_unsure(c, CHECK_ALL, NULL);
        check_done(c);
        return;
    }
    gettimeofday(&tv, NULL);
    snprintf(now, sizeof(now), "%lld", (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000);
    snprintf(win, sizeof(win), "%lld", bs->window_ms);
    at = sender ? strrchr(sender, '@') : NULL;
    snprintf(dom, sizeof(dom), "%s", at ? at + 1 : j->info.from_domain);
    for (i = 0; dom[i]; i++)
        dom[i] = (char)(dom[i] >= 'A' && dom[i] <= 'Z' ? dom[i] + 32 : dom[i]);
    w = xcalloc(1, sizeof(*w));
    w->list_unsubscribe = j->info.list_unsubscribe;
    snprintf(w->from_domain, sizeof(w->from_domain), "%s", j->info.from_domain);
    check_call_set_priv(c, w);
    rc = xcalloc(n + 4, sizeof(*rc));
    rc[0] = now;
    rc[1] = win;
    rc[2] = (char *)BULK_ZSET_MAX;
    rc[3] = dom;
    for (i = 0; i < n; i++) {
        const char *a = check_call_rcpt(c, i);
        rc[4 + i] = xasprintf("%016llx", (unsigned long long)spam_hash(a, strlen(a), 0));
    }
    for (i = 0; i < j->info.nfp; i++) {
        const char *keys[2] = { key_r, key_s };
        snprintf(key_r, sizeof(key_r), "pt:bulk:{%016llx}:r", (unsigned long long)j->info.fp[i]);
        snprintf(key_s, sizeof(key_s), "pt:bulk:{%016llx}:s", (unsigned long long)j->info.fp[i]);
        w->slot[i] = (struct bulk_slot){ .c = c, .i = i };
        w->req[i] = redis_script_call(st->env->redis, st->script, 2, keys, (int)(n + 4),
                                      (const char *const *)rc, on_count, &w->slot[i]);
        w->pending++;
    }
    for (i = 0; i < n; i++)
        free(rc[4 + i]);
    free(rc);
}

static enum call_status bulk_run(struct check_call *c)
{
    const struct bulk_state *st = check_call_state(c);
    struct bulk_job *j;

    if (check_call_nrcpt(c) == 0 || st->script == NULL)
        return CALL_DONE;       /* no Redis (tests, posternctl check): nothing to count */
    j = xcalloc(1, sizeof(*j));
    j->rcpt0 = xstrdup(check_call_rcpt(c, 0));
    return check_message_submit(c, BULK_READ_MAX, j, job_work, job_done, job_free);
}

static void bulk_cancel(struct check_call *c)
{
    struct bulk_wait *w = check_call_priv(c);
    size_t i;

    if (w == NULL)
        return;          /* still on the pool: the engine detaches the job */
    for (i = 0; i < SPAM_BULK_FPS; i++)
        if (w->req[i])
            redis_cancel(w->req[i]);
    check_call_set_priv(c, NULL);
    free(w);
}

const struct check_def check_bulk = {
    .name = "bulk",
    .description = "bulk detection: fuzzy body fingerprints counted in Redis across "
                   "recipients and nodes",
    .stages = STAGE_BIT(STAGE_END),
    .directions = DIR_ALL,
    .group = 80,          /* after the dkim check (60): it reads dkim.pass_domains */
    .async = true,
    .flags = CHECK_NEEDS_REDIS,
    .unsure = UNSURE_ACCEPT,
    .reason = "bulk",
    .symbols = bulk_symbols,
    .settings = &bulk_section,
    .settings_size = sizeof(struct bulk_settings),
    .init = bulk_init,
    .free = bulk_free,
    .run = bulk_run,
    .cancel = bulk_cancel,
};
