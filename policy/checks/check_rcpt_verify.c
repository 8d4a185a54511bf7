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
 *                       submitted message), in the Redis set pt:rcpt:{DOMAIN}:learned;
 *                       not definite: a recipient it lacks gets recipients_unsure
 * recipients_unsure (defer: 450 4.1.1; accept) also applies when Redis does not answer.
 * The harvest guard: each unknown recipient counts for the client address in
 * pt:dha:{IP} over `harvest_window`; past `harvest_limit` the session is closed with
 * 421 4.7.0 and one `recipient.harvest` event fires per window and address.
 * postmaster@ and abuse@ are never refused (RFC 5321 4.5.1, RFC 2142).
 * Not yet: callouts to the next hop (RCPT probes) and learning from successful deliveries.
 */
#include "policy/checks/checks.h"

#include "lib/log.h"
#include "lib/redis.h"
#include "lib/smtp_replies.h"
#include "lib/xalloc.h"
#include "policy/outage.h"
#include "policy/rcpt_list.h"

#include <errno.h>
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
    { .name = NULL }
};
static const struct conf_section verify_section = { .name = "rcpt_verify",
                                                    .keys = verify_keys };

static const struct symbol_def verify_symbols[] = {
    { "RCPT_VERIFIED", 0, "the recipient is known to a verification source" },
    { "RCPT_UNKNOWN", 0, "no such recipient: refused" },
    { "RCPT_UNVERIFIED", 0, "no source could confirm the recipient" },
    { "RCPT_HARVEST", 0, "the client tried too many unknown recipients" },
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

enum rcpt_state { R_SKIP, R_KNOWN, R_UNKNOWN, R_ASK };

/* One SISMEMBER in flight: for which recipient of which call. */
struct verify_ask {
    struct check_call *c;
    size_t i;
    struct redis_req *req;
};

struct verify_wait {
    size_t n;                   /* recipients of the call */
    enum rcpt_state *state;
    bool *definite;             /* a static list already said no */
    struct verify_ask *asks;    /* per recipient; req NULL when none is in flight */
    size_t pending;
    size_t unknown;             /* unknown recipients to count for the harvest guard */
    struct redis_req *harvest;
};

static void wait_free(struct check_call *c, struct verify_wait *w)
{
    free(w->state);
    free(w->definite);
    free(w->asks);
    free(w);
    check_call_set_priv(c, NULL);
}

static void refuse_unknown(struct check_call *c, size_t i)
{
    check_symbol(c, (ssize_t)i, "RCPT_UNKNOWN", 1.0, NULL);
    check_verdict(c, (ssize_t)i, VERDICT_REFUSE, R_RCPT_UNKNOWN, check_call_rcpt(c, i));
}

static void unverified(struct check_call *c, size_t i)
{
    const struct policy_settings *s = check_call_rcpt_settings(c, i);

    check_symbol(c, (ssize_t)i, "RCPT_UNVERIFIED", 1.0, NULL);
    if (s->domain == NULL || s->domain->recipients_unsure == 0)
        check_verdict(c, (ssize_t)i, VERDICT_REFUSE, R_RCPT_UNVERIFIED, check_call_rcpt(c, i));
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
        if (w->state[i] == R_KNOWN) {
            check_symbol(c, (ssize_t)i, "RCPT_VERIFIED", 1.0, NULL);
        } else if (w->state[i] == R_UNKNOWN) {
            if (w->definite[i]) {
                refuse_unknown(c, i);
                w->unknown++;
            } else {
                unverified(c, i);
            }
        }
    }
}

static void on_member(enum redis_result res, const redisReply *reply, void *arg)
{
    struct verify_ask *ask = arg;
    struct check_call *c = ask->c;
    struct verify_wait *w = check_call_priv(c);
    const struct engine_env *env = check_call_env(c);

    ask->req = NULL;
    if (res == REDIS_RESULT_OK && reply->type == REDIS_REPLY_INTEGER) {
        outage_up(env->outages, "redis");
        w->state[ask->i] = reply->integer == 1 ? R_KNOWN : R_UNKNOWN;
    } else {
        outage_down(env->outages, "redis", "rcpt_verify",
                    res == REDIS_RESULT_TIMEOUT ? "timeout" : "down");
        w->state[ask->i] = R_UNKNOWN;
        w->definite[ask->i] = false;
    }
    if (--w->pending > 0)
        return;
    finish(c, w);
    if (count_harvest(c, w))
        return;
    wait_free(c, w);
    check_done(c);
}

static enum call_status verify_run(struct check_call *c)
{
    struct verify_state *st = check_call_state(c);
    const struct engine_env *env = check_call_env(c);
    size_t i, n = check_call_nrcpt(c);
    struct verify_wait *w;

    if (n == 0)
        return CALL_DONE;
    w = xcalloc(1, sizeof(*w));
    w->n = n;
    w->state = xcalloc(n, sizeof(*w->state));
    w->definite = xcalloc(n, sizeof(*w->definite));
    w->asks = xcalloc(n, sizeof(*w->asks));
    check_call_set_priv(c, w);
    for (i = 0; i < n; i++) {
        const struct policy_settings *s = check_call_rcpt_settings(c, i);
        const struct domain_conf *d = s->domain;
        const char *addr = check_call_rcpt(c, i);
        const struct rcpt_list *l;

        w->state[i] = R_SKIP;
        if (d == NULL || s->kind == DOMAIN_OTHER ||
            (d->recipients_file == NULL && !d->recipients_learned))
            continue;
        if (d->recipients_file != NULL && (l = list_for(st, d->recipients_file)) != NULL) {
            if (rcpt_list_has(l, addr)) {
                w->state[i] = R_KNOWN;
                continue;
            }
            w->definite[i] = true;
        }
        w->state[i] = R_UNKNOWN;
        if (d->recipients_learned && env->redis != NULL) {
            const char *at = strrchr(addr, '@');
            char *tag = redis_key_escape(at ? at + 1 : "");
            char *key = xasprintf("pt:rcpt:{%s}:learned", tag);
            char *member = redis_key_escape(addr);
            const char *argv[3] = { "SISMEMBER", key, member };
            w->state[i] = R_ASK;
            w->asks[i] = (struct verify_ask){ .c = c, .i = i };
            w->asks[i].req = redis_command_argv(env->redis, 3, argv, NULL, on_member,
                                                &w->asks[i]);
            w->pending++;
            free(member);
            free(key);
            free(tag);
        }
    }
    if (w->pending > 0)
        return CALL_PENDING;
    finish(c, w);
    if (count_harvest(c, w))
        return CALL_PENDING;
    wait_free(c, w);
    return CALL_DONE;
}

/* END of a submitted message: its sender becomes a known recipient of its domain. */
static enum call_status learn_sender(struct check_call *c)
{
    const struct engine_env *env = check_call_env(c);
    const char *sender = check_call_sender(c), *at;
    const struct policy_settings *s = check_call_nrcpt(c) ? check_call_rcpt_settings(c, 0)
                                                          : NULL;
    char *tag, *key, *member;
    const char *argv[3];

    if (env->redis == NULL || sender == NULL || (at = strrchr(sender, '@')) == NULL ||
        s == NULL || s->domain == NULL || !s->domain->recipients_learned ||
        s->kind == DOMAIN_OTHER)
        return CALL_DONE;
    tag = redis_key_escape(at + 1);
    key = xasprintf("pt:rcpt:{%s}:learned", tag);
    member = redis_key_escape(sender);
    argv[0] = "SADD";
    argv[1] = key;
    argv[2] = member;
    /* fire and forget: a lost update only means one address less learned */
    redis_command_argv(env->redis, 3, argv, NULL, redis_reply_ignore, NULL);
    free(member);
    free(key);
    free(tag);
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
    size_t i;

    if (w == NULL)
        return;
    for (i = 0; i < w->n; i++)
        if (w->asks[i].req != NULL)
            redis_cancel(w->asks[i].req);
    if (w->harvest != NULL)
        redis_cancel(w->harvest);
    wait_free(c, w);
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
