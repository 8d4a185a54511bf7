/*
 * check_rcpt_verify.c - recipient verification: is there such a user? Refuse unknown recipients
 * at RCPT (550 5.1.1) instead of accepting mail that can only bounce later (backscatter),
 * and stop clients that harvest addresses.
 *
 * Sources, per served domain (domain_conf.h; none set: the domain is not verified):
 *   recipients_file     a static list (policy/rcpt_list.h), read when the config is
 *                       activated (at start and on SIGHUP), each file once; definite: a
 *                       recipient it lacks is unknown (550 5.1.1) unless learned
 *   recipients_learned  addresses that sent mail through submission (SADD at END of a
 *                       submitted message) or that received a successful delivery (the
 *                       queue, relay/queue/queue_result.c), in the Redis set
 *                       pt:rcpt:{DOMAIN}:learned; not definite: a recipient it lacks gets
 *                       recipients_unsure
 *   recipients_callout  the next hop (policy/callout.h: MAIL FROM:<callout_sender>, RCPT,
 *                       never DATA; STARTTLS and AUTH as delivery; failover to the next
 *                       address or MX host), asked when no other source knows the
 *                       recipient; its answers cached in pt:rcpt:{DOMAIN}:co:ADDR ("1" for
 *                       callout_valid_ttl, "0" for callout_invalid_ttl); a 5xx to RCPT is
 *                       definite (550 5.1.1), anything else (4xx, no connection, no answer
 *                       within callout_timeout, a backup domain's primary known down) is
 *                       recipients_unsure and never cached. With a callout, a static list's
 *                       "no" is not definite: the next hop decides.
 * recipients_unsure (defer: 450 4.1.1; accept) also applies when Redis does not answer.
 * The harvest guard: each unknown recipient counts for the client address in
 * pt:dha:{IP} over `harvest_window`; past `harvest_limit` the session is closed with
 * 421 4.7.0 and one `recipient.harvest` event fires per window and address.
 * With `harvest_tarpit`, the guard also marks the client's network (pt:tarpit:{NET}, /24
 * or /64, for harvest_window): each RCPT batch from it then waits that long before the
 * sources are asked (symbol RCPT_TARPIT).
 * postmaster@ and abuse@ are never refused (RFC 5321 4.5.1, RFC 2142).
 */
#include "policy/checks/checks.h"

#include "lib/log.h"
#include "lib/redis.h"
#include "lib/smtp_replies.h"
#include "lib/xalloc.h"
#include "policy/callout.h"
#include "policy/greylist_key.h"
#include "policy/outage.h"
#include "policy/rcpt_list.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIST_FILE_MAX (64u << 20)   /* a recipients_file larger than this is refused */

struct verify_settings {
    long long harvest_limit;
    long long harvest_window_ms;
    long long harvest_tarpit_ms;
    long long callout_timeout_ms;
    long long callout_valid_ttl_ms;
    long long callout_invalid_ttl_ms;
    char *callout_sender;
};

#define VS(f) offsetof(struct verify_settings, f)
static const struct conf_key verify_keys[] = {
    { .name = "harvest_limit", .type = CONF_INT, .offset = VS(harvest_limit), .def = "20",
      .min = 0, .max = 1000000,
      .help = "unknown recipients from one client address in harvest_window before its "
              "sessions are closed (421 4.7.0); 0: no guard" },
    { .name = "harvest_window", .type = CONF_DURATION, .offset = VS(harvest_window_ms),
      .def = "10m", .min = 1000, .max = 86400000LL,
      .help = "the window of harvest_limit" },
    { .name = "harvest_tarpit", .type = CONF_DURATION, .offset = VS(harvest_tarpit_ms),
      .def = "0", .min = 0, .max = 60000,
      .help = "after the guard closed a client's session, every RCPT from its network "
              "(/24, /64) waits this long for its reply for the rest of harvest_window "
              "(a tarpit); keep it below the profile's deadline; 0: no tarpit" },
    { .name = "callout_timeout", .type = CONF_DURATION, .offset = VS(callout_timeout_ms),
      .def = "8s", .min = 100, .max = 300000,
      .help = "a callout (recipients_callout) not answered within this is a temporary "
              "failure (450 4.1.1 or accept, per recipients_unsure); keep it below the "
              "profile's deadline. Up to 3 connections (next address, next MX) fit in "
              "it: each connect waits at most a third of it" },
    { .name = "callout_valid_ttl", .type = CONF_DURATION, .offset = VS(callout_valid_ttl_ms),
      .def = "7d", .min = 1000, .max = 365 * 86400000LL,
      .help = "how long a recipient the next hop accepted is remembered as valid" },
    { .name = "callout_invalid_ttl", .type = CONF_DURATION,
      .offset = VS(callout_invalid_ttl_ms), .def = "3h", .min = 1000, .max = 30 * 86400000LL,
      .help = "how long a recipient the next hop refused (5xx) is remembered as unknown" },
    { .name = "callout_sender", .type = CONF_STRING, .offset = VS(callout_sender), .def = "",
      .help = "the MAIL FROM of callouts; empty: the null sender <> (RFC 5321 4.5.5)" },
    { .name = NULL }
};
static const struct conf_section verify_section = { .name = "rcpt_verify",
                                                    .keys = verify_keys };

static const struct symbol_def verify_symbols[] = {
    { "RCPT_VERIFIED", 0, "the recipient is known to a verification source" },
    { "RCPT_UNKNOWN", 0, "no such recipient: refused" },
    { "RCPT_UNVERIFIED", 0, "no source could confirm the recipient" },
    { "RCPT_HARVEST", 0, "the client tried too many unknown recipients" },
    { "RCPT_TARPIT", 0, "the client's network harvested addresses: its replies are slowed" },
    { NULL, 0, NULL }
};

/* ---- instance state: the lists, each file read once ------------------------------------ */

struct loaded_list {
    char *path;
    struct rcpt_list *list;     /* NULL when the file could not be read */
};

struct verify_state {
    const struct engine_env *env;
    struct redis_script *harvest_script;
    struct loaded_list *lists;
    size_t nlists;
};

/* KEYS[1] pt:dha:{IP}, ARGV count to add, window (ms): the new count. */
static const char harvest_lua[] =
    "local n = redis.call('INCRBY', KEYS[1], ARGV[1])\n"
    "if n == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
    "return n\n";

static int verify_init(const struct engine_env *env, const void *settings, void **state)
{
    struct verify_state *st = xcalloc(1, sizeof(*st));

    (void)settings;
    st->env = env;
    if (env->redis != NULL)
        st->harvest_script = redis_script_new(env->redis, harvest_lua);
    *state = st;
    return 0;
}

static void verify_free(void *state)
{
    struct verify_state *st = state;
    size_t i;

    for (i = 0; i < st->nlists; i++) {
        free(st->lists[i].path);
        rcpt_list_free(st->lists[i].list);
    }
    free(st->lists);
    free(st);
}

/* Read a list file (once per activated config: a blocking read of a local file). */
static struct rcpt_list *read_list(const char *path)
{
    struct rcpt_list *l = NULL;
    struct stat sb;
    char *text;
    size_t skipped = 0, got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &sb) != 0 || (size_t)sb.st_size > LIST_FILE_MAX) {
        log_error("rcpt_verify", "cannot read recipients_file %s: %s", path,
                  fd < 0 ? strerror(errno) : "too large or unreadable");
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    text = xmalloc((size_t)sb.st_size + 1);
    while (got < (size_t)sb.st_size) {
        ssize_t n = read(fd, text + got, (size_t)sb.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    l = rcpt_list_parse(text, got, &skipped);
    free(text);
    log_info("rcpt_verify", "recipients_file %s: %zu entries%s", path, rcpt_list_count(l),
             skipped ? ", some lines skipped (not an address or local part)" : "");
    return l;
}

static const struct rcpt_list *list_for(struct verify_state *st, const char *path)
{
    size_t i;

    for (i = 0; i < st->nlists; i++)
        if (strcmp(st->lists[i].path, path) == 0)
            return st->lists[i].list;
    st->lists = xrealloc(st->lists, (st->nlists + 1) * sizeof(*st->lists));
    st->lists[st->nlists].path = xstrdup(path);
    st->lists[st->nlists].list = read_list(path);
    return st->lists[st->nlists++].list;
}

/* ---- one RCPT batch ------------------------------------------------------------------ */

/* A recipient goes through the sources in order: the static list (in memory), then one
 * Redis round trip (the learned set and the callout cache, asked together), then, when
 * its domain has recipients_callout and nothing knew it yet, a callout to the next hop
 * (all the recipients of one domain in one probe). */
enum rcpt_state { R_SKIP, R_KNOWN, R_UNKNOWN };

struct verify_wait;

/* One Redis command in flight: for which recipient, and what it asks. */
struct verify_ask {
    struct check_call *c;
    size_t i;
    bool cache;                 /* GET of the callout cache (else SISMEMBER learned) */
    struct redis_req *req;
};

/* One callout in flight: a domain's recipients. */
struct verify_probe {
    struct check_call *c;
    size_t *idx;
    size_t n;
    struct callout_req *req;
};

struct verify_rcpt {
    enum rcpt_state state;
    bool definite;              /* unknown for sure: a static list alone, or the next hop */
    bool callout;               /* ask the next hop when nothing else knows it */
    bool answered;              /* the callout cache had an answer */
    const char *source;         /* what made it known or unknown (for the symbol) */
    struct verify_ask ask[2];   /* learned, cache */
};

struct verify_wait {
    size_t n;                   /* recipients of the call */
    struct verify_rcpt *r;
    size_t pending;             /* Redis commands, then callouts, in flight */
    bool probing;               /* the callout step has started */
    struct verify_probe *probes;
    size_t nprobes;
    size_t unknown;             /* unknown recipients to count for the harvest guard */
    struct redis_req *harvest;
    struct redis_req *tarpit;   /* is the client's network tarpitted? */
    struct event *tarpit_timer;
};

static void wait_free(struct check_call *c, struct verify_wait *w)
{
    size_t k;

    for (k = 0; k < w->nprobes; k++)
        free(w->probes[k].idx);
    if (w->tarpit_timer != NULL)
        event_free(w->tarpit_timer);
    free(w->probes);
    free(w->r);
    free(w);
    check_call_set_priv(c, NULL);
}

static void refuse_unknown(struct check_call *c, size_t i, const char *source)
{
    check_symbol(c, (ssize_t)i, "RCPT_UNKNOWN", 1.0, source);
    check_verdict(c, (ssize_t)i, VERDICT_REFUSE, R_RCPT_UNKNOWN, check_call_rcpt(c, i));
}

static void unverified(struct check_call *c, size_t i, const char *source)
{
    const struct policy_settings *s = check_call_rcpt_settings(c, i);

    check_symbol(c, (ssize_t)i, "RCPT_UNVERIFIED", 1.0, source);
    if (s->domain == NULL || s->domain->recipients_unsure == 0)
        check_verdict(c, (ssize_t)i, VERDICT_REFUSE, R_RCPT_UNVERIFIED, check_call_rcpt(c, i));
}

/* ---- the tarpit ------------------------------------------------------------------------ */

/* pt:tarpit:{NET} of the client (the caller frees it), or NULL for a non-IP client. */
static char *tarpit_key(const struct check_call *c)
{
    char net[64], *tag, *key;

    if (greylist_network(check_call_client_ip(c), 24, 64, net, sizeof(net)) != 0)
        return NULL;
    tag = redis_key_escape(net);
    key = xasprintf("pt:tarpit:{%s}", tag);
    free(tag);
    return key;
}

/* The guard closed this client's session: slow its network down for the window. */
static void tarpit_mark(struct check_call *c)
{
    const struct verify_settings *vs = check_call_settings(c);
    const struct engine_env *env = check_call_env(c);
    char *key = tarpit_key(c), ms[24];
    const char *argv[5];

    if (key == NULL)
        return;
    snprintf(ms, sizeof(ms), "%lld", vs->harvest_window_ms);
    argv[0] = "SET";
    argv[1] = key;
    argv[2] = "1";
    argv[3] = "PX";
    argv[4] = ms;
    redis_command_argv(env->redis, 5, argv, NULL, redis_reply_ignore, NULL);
    free(key);
}

static void on_harvest(enum redis_result res, const redisReply *reply, void *arg)
{
    struct check_call *c = arg;
    struct verify_wait *w = check_call_priv(c);
    const struct verify_settings *vs = check_call_settings(c);
    const struct engine_env *env = check_call_env(c);

    w->harvest = NULL;
    if (res == REDIS_RESULT_OK && reply->type == REDIS_REPLY_INTEGER) {
        long long count = reply->integer;
        long long before = count - (long long)w->unknown;
        if (count > vs->harvest_limit) {
            check_symbol(c, CHECK_ALL, "RCPT_HARVEST", 1.0, NULL);
            check_verdict(c, CHECK_ALL, VERDICT_DISCONNECT, R_HARVEST,
                          env->hostname ? env->hostname : "localhost");
            if (vs->harvest_tarpit_ms > 0)
                tarpit_mark(c);
            if (before <= vs->harvest_limit) {
                log_warn("rcpt_verify", "client %s tried %lld unknown recipients: closing its "
                         "sessions for the rest of the window", check_call_client_ip(c), count);
                check_event(c, "recipient.harvest",
                            json_pack("{s:s, s:I, s:I}", "client_ip", check_call_client_ip(c),
                                      "unknown_recipients", (json_int_t)count,
                                      "window_s", (json_int_t)(vs->harvest_window_ms / 1000)));
            }
        }
    }
    wait_free(c, w);
    check_done(c);
}

/* Count this batch's unknown recipients for the client; then the call is done. */
static bool count_harvest(struct check_call *c, struct verify_wait *w)
{
    const struct verify_settings *vs = check_call_settings(c);
    const struct engine_env *env = check_call_env(c);
    const struct verify_state *st = check_call_state(c);
    char *tag, *key, n[24], ms[24];
    const char *keys[1], *args[2];

    if (w->unknown == 0 || vs->harvest_limit == 0 || env->redis == NULL ||
        st->harvest_script == NULL)
        return false;
    tag = redis_key_escape(check_call_client_ip(c));
    key = xasprintf("pt:dha:{%s}", tag);
    snprintf(n, sizeof(n), "%zu", w->unknown);
    snprintf(ms, sizeof(ms), "%lld", vs->harvest_window_ms);
    keys[0] = key;
    args[0] = n;
    args[1] = ms;
    w->harvest = redis_script_call(env->redis, st->harvest_script, 1, keys, 2, args,
                                   on_harvest, c);
    free(key);
    free(tag);
    return true;
}

static void finish(struct check_call *c, struct verify_wait *w)
{
    size_t i;

    for (i = 0; i < w->n; i++) {
        const struct verify_rcpt *r = &w->r[i];
        if (r->state == R_KNOWN) {
            check_symbol(c, (ssize_t)i, "RCPT_VERIFIED", 1.0, r->source);
        } else if (r->state == R_UNKNOWN) {
            if (r->definite) {
                refuse_unknown(c, i, r->source);
                w->unknown++;
            } else {
                unverified(c, i, r->source);
            }
        }
    }
}

/* Every answer is in: decide, count for the harvest guard, done. Returns CALL_PENDING
 * while the harvest count is in flight (it ends the call). */
static enum call_status conclude(struct check_call *c, struct verify_wait *w)
{
    finish(c, w);
    if (count_harvest(c, w))
        return CALL_PENDING;
    wait_free(c, w);
    return CALL_DONE;
}

/* Remember a callout's answer (fire and forget: a lost write costs one more callout). */
static void cache_answer(struct check_call *c, const char *addr, bool valid)
{
    const struct engine_env *env = check_call_env(c);
    const struct verify_settings *vs = check_call_settings(c);
    char *key, ttl[24];
    const char *argv[5];

    if (env->redis == NULL)
        return;
    key = rcpt_callout_key(addr);
    snprintf(ttl, sizeof(ttl), "%lld", valid ? vs->callout_valid_ttl_ms
                                             : vs->callout_invalid_ttl_ms);
    argv[0] = "SET";
    argv[1] = key;
    argv[2] = valid ? "1" : "0";
    argv[3] = "PX";
    argv[4] = ttl;
    redis_command_argv(env->redis, 5, argv, NULL, redis_reply_ignore, NULL);
    free(key);
}

static void on_callout(void *arg, const struct callout_result *res, size_t n)
{
    struct verify_probe *p = arg;
    struct check_call *c = p->c;
    struct verify_wait *w = check_call_priv(c);
    size_t k;

    p->req = NULL;
    for (k = 0; k < n && k < p->n; k++) {
        struct verify_rcpt *r = &w->r[p->idx[k]];
        const char *addr = check_call_rcpt(c, p->idx[k]);
        if (res[k].answer == CALLOUT_VALID) {
            r->state = R_KNOWN;
            r->source = "callout";
            cache_answer(c, addr, true);
        } else if (res[k].answer == CALLOUT_INVALID) {
            r->definite = true;     /* the next hop said no: 550, never guessed */
            r->source = "callout";
            cache_answer(c, addr, false);
        } else {
            r->definite = false;    /* a temporary failure never turns into a 5xx */
            r->source = "callout_tempfail";
        }
    }
    if (--w->pending > 0)
        return;
    if (conclude(c, w) == CALL_DONE)
        check_done(c);
}

/* The recipients nothing knew yet whose domain asks its next hop: one probe per domain.
 * Returns true when a callout is in flight. */
static bool start_callouts(struct check_call *c, struct verify_wait *w)
{
    const struct engine_env *env = check_call_env(c);
    const struct verify_settings *vs = check_call_settings(c);
    size_t i, j, k;

    w->probing = true;
    if (env->callout == NULL)
        return false;
    w->probes = xcalloc(w->n, sizeof(*w->probes));
    for (i = 0; i < w->n; i++) {
        const char *d, *at;
        if (w->r[i].state != R_UNKNOWN || !w->r[i].callout || w->r[i].answered)
            continue;
        at = strrchr(check_call_rcpt(c, i), '@');
        d = at ? at + 1 : "";
        for (k = 0; k < w->nprobes; k++) {
            const char *o = strrchr(check_call_rcpt(c, w->probes[k].idx[0]), '@');
            if (o != NULL && strcasecmp(o + 1, d) == 0)
                break;
        }
        if (k == w->nprobes) {
            w->probes[k].c = c;
            w->probes[k].idx = xcalloc(w->n, sizeof(size_t));
            w->nprobes++;
        }
        w->probes[k].idx[w->probes[k].n++] = i;
    }
    /* pending first: a callback never runs inside start */
    w->pending = w->nprobes;
    for (k = 0; k < w->nprobes; k++) {
        struct verify_probe *p = &w->probes[k];
        const char **rcpts = xcalloc(p->n, sizeof(*rcpts));
        const char *at = strrchr(check_call_rcpt(c, p->idx[0]), '@');
        for (j = 0; j < p->n; j++)
            rcpts[j] = check_call_rcpt(c, p->idx[j]);
        p->req = env->callout->start(env->callout->svc, at + 1, vs->callout_sender, rcpts,
                                     p->n, vs->callout_timeout_ms, on_callout, p);
        free(rcpts);
    }
    return w->nprobes > 0;
}

static void on_lookup(enum redis_result res, const redisReply *reply, void *arg)
{
    struct verify_ask *ask = arg;
    struct check_call *c = ask->c;
    struct verify_wait *w = check_call_priv(c);
    struct verify_rcpt *r = &w->r[ask->i];
    const struct engine_env *env = check_call_env(c);

    ask->req = NULL;
    if (res == REDIS_RESULT_OK && reply->type != REDIS_REPLY_ERROR) {
        outage_up(env->outages, "redis");
        if (ask->cache && reply->type == REDIS_REPLY_STRING && r->state != R_KNOWN) {
            r->answered = true;
            r->source = "callout_cache";
            if (reply->str[0] == '1')
                r->state = R_KNOWN;
            else
                r->definite = true;
        } else if (!ask->cache && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
            r->state = R_KNOWN;
            r->source = "learned";
        }
    } else {
        outage_down(env->outages, "redis", "rcpt_verify",
                    res == REDIS_RESULT_TIMEOUT ? "timeout" : "down");
        if (!ask->cache)
            r->definite = false;        /* it may be a learned address: never a 5xx */
    }
    if (--w->pending > 0)
        return;
    if (start_callouts(c, w))
        return;
    if (conclude(c, w) == CALL_DONE)
        check_done(c);
}

static void ask_redis(struct check_call *c, struct verify_wait *w, size_t i, bool cache)
{
    const struct engine_env *env = check_call_env(c);
    const char *addr = check_call_rcpt(c, i);
    char *member = redis_key_escape(addr);
    struct verify_ask *ask = &w->r[i].ask[cache ? 1 : 0];
    char *key = cache ? rcpt_callout_key(addr) : rcpt_learned_key(addr);

    *ask = (struct verify_ask){ .c = c, .i = i, .cache = cache };
    if (cache) {
        const char *argv[2] = { "GET", key };
        ask->req = redis_command_argv(env->redis, 2, argv, NULL, on_lookup, ask);
    } else {
        const char *argv[3] = { "SISMEMBER", key, member };
        ask->req = redis_command_argv(env->redis, 3, argv, NULL, on_lookup, ask);
    }
    w->pending++;
    free(key);
    free(member);
}

/* The sources, for every recipient of the call. */
static enum call_status verify_begin(struct check_call *c, struct verify_wait *w)
{
    struct verify_state *st = check_call_state(c);
    const struct engine_env *env = check_call_env(c);
    size_t i, n = w->n;

    for (i = 0; i < n; i++) {
        const struct policy_settings *s = check_call_rcpt_settings(c, i);
        const struct domain_conf *d = s->domain;
        const char *addr = check_call_rcpt(c, i);
        struct verify_rcpt *r = &w->r[i];
        const struct rcpt_list *l;

        r->state = R_SKIP;
        if (d == NULL || s->kind == DOMAIN_OTHER ||
            (d->recipients_file == NULL && !d->recipients_learned && !d->recipients_callout))
            continue;
        r->state = R_UNKNOWN;
        r->callout = d->recipients_callout;
        if (d->recipients_file != NULL && (l = list_for(st, d->recipients_file)) != NULL) {
            if (rcpt_list_has(l, addr)) {
                r->state = R_KNOWN;
                r->source = "list";
                continue;
            }
            /* the list is the whole truth unless the next hop is asked too */
            r->definite = !r->callout;
            r->source = "list";
        }
        if (env->redis == NULL)
            continue;
        if (d->recipients_learned)
            ask_redis(c, w, i, false);
        if (r->callout)
            ask_redis(c, w, i, true);
    }
    if (w->pending > 0)
        return CALL_PENDING;
    if (start_callouts(c, w))
        return CALL_PENDING;
    return conclude(c, w);
}

static void on_tarpit_timer(evutil_socket_t fd, short what, void *arg)
{
    struct check_call *c = arg;
    struct verify_wait *w = check_call_priv(c);

    (void)fd;
    (void)what;
    event_free(w->tarpit_timer);
    w->tarpit_timer = NULL;
    if (verify_begin(c, w) == CALL_DONE)
        check_done(c);
}

static void on_tarpit(enum redis_result res, const redisReply *reply, void *arg)
{
    struct check_call *c = arg;
    struct verify_wait *w = check_call_priv(c);
    const struct verify_settings *vs = check_call_settings(c);
    const struct engine_env *env = check_call_env(c);

    w->tarpit = NULL;
    if (res == REDIS_RESULT_OK && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        struct timeval tv = { (time_t)(vs->harvest_tarpit_ms / 1000),
                              (suseconds_t)(vs->harvest_tarpit_ms % 1000) * 1000 };
        check_symbol(c, CHECK_ALL, "RCPT_TARPIT", 1.0, NULL);
        log_info("rcpt_verify", "%s: client %s is in a tarpit (harvesting network): RCPT "
                 "reply delayed %lldms", check_call_queue_id(c) ? check_call_queue_id(c)
                                                                 : "NOQUEUE",
                 check_call_client_ip(c), vs->harvest_tarpit_ms);
        w->tarpit_timer = evtimer_new(env->base, on_tarpit_timer, c);
        evtimer_add(w->tarpit_timer, &tv);
        return;
    }
    if (verify_begin(c, w) == CALL_DONE)
        check_done(c);
}

static enum call_status verify_run(struct check_call *c)
{
    const struct verify_settings *vs = check_call_settings(c);
    const struct engine_env *env = check_call_env(c);
    size_t n = check_call_nrcpt(c);
    struct verify_wait *w;
    char *key;

    if (n == 0)
        return CALL_DONE;
    w = xcalloc(1, sizeof(*w));
    w->n = n;
    w->r = xcalloc(n, sizeof(*w->r));
    check_call_set_priv(c, w);
    if (vs->harvest_tarpit_ms > 0 && env->redis != NULL && env->base != NULL &&
        (key = tarpit_key(c)) != NULL) {
        const char *argv[2] = { "EXISTS", key };
        w->tarpit = redis_command_argv(env->redis, 2, argv, NULL, on_tarpit, c);
        free(key);
        return CALL_PENDING;
    }
    return verify_begin(c, w);
}

/* END of a submitted message: its sender becomes a known recipient of its domain. */
static enum call_status learn_sender(struct check_call *c)
{
    const struct engine_env *env = check_call_env(c);
    const char *sender = check_call_sender(c), *at;
    const struct policy_settings *s = check_call_nrcpt(c) ? check_call_rcpt_settings(c, 0)
                                                          : NULL;
    char *key, *member;
    const char *argv[3];

    if (env->redis == NULL || sender == NULL || (at = strrchr(sender, '@')) == NULL ||
        s == NULL || s->domain == NULL || !s->domain->recipients_learned ||
        s->kind == DOMAIN_OTHER)
        return CALL_DONE;
    key = rcpt_learned_key(sender);
    member = redis_key_escape(sender);
    argv[0] = "SADD";
    argv[1] = key;
    argv[2] = member;
    /* fire and forget: a lost update only means one address less learned */
    redis_command_argv(env->redis, 3, argv, NULL, redis_reply_ignore, NULL);
    free(member);
    free(key);
    return CALL_DONE;
}

static enum call_status verify_dispatch(struct check_call *c)
{
    if (check_call_stage(c) == STAGE_END)
        return check_call_submission(c) ? learn_sender(c) : CALL_DONE;
    return check_call_submission(c) ? CALL_DONE : verify_run(c);
}

static void verify_cancel(struct check_call *c)
{
    struct verify_wait *w = check_call_priv(c);
    const struct engine_env *env = check_call_env(c);
    size_t i, k;

    if (w == NULL)
        return;
    for (i = 0; i < w->n; i++)
        for (k = 0; k < 2; k++)
            if (w->r[i].ask[k].req != NULL)
                redis_cancel(w->r[i].ask[k].req);
    for (k = 0; k < w->nprobes; k++)
        if (w->probes[k].req != NULL)
            env->callout->cancel(w->probes[k].req);
    if (w->harvest != NULL)
        redis_cancel(w->harvest);
    if (w->tarpit != NULL)
        redis_cancel(w->tarpit);
    wait_free(c, w);   /* and the tarpit timer */
}

const struct check_def check_rcpt_verify = {
    .name = "rcpt_verify",
    .description = "refuse recipients that do not exist; close sessions that harvest",
    .stages = STAGE_BIT(STAGE_RCPT) | STAGE_BIT(STAGE_END),
    .directions = DIR_INBOUND | DIR_BACKUP | DIR_SUBMISSION,
    .group = 30,
    .async = true,
    .flags = CHECK_ROLE_BYPASS | CHECK_USES_SETTINGS,
    .unsure = UNSURE_DEFER,
    .reason = "unknown_recipient",
    .symbols = verify_symbols,
    .settings = &verify_section,
    .settings_size = sizeof(struct verify_settings),
    .init = verify_init,
    .free = verify_free,
    .run = verify_dispatch,
    .cancel = verify_cancel,
};
