/*
 * check_backscatter.c - refuse bounces to our users for mail they never sent through us, and
 * block the hosts that send many of them.
 *
 * Backscatter is the flood of DSNs and auto-replies that a spam run with forged senders
 * causes: the forged addresses are ours, the bounces come back to us. Per served domain
 * and opt-in (domains.D.backscatter_protection: users who also send through other
 * servers would lose their real bounces):
 *   - submission, END: the Message-ID of every message submitted by a sender of a
 *     protected domain is remembered in Redis (pt:msgid:{ID}, `remember` long, default
 *     30 days);
 *   - inbound, END: a bounce (null sender, or a header that says report/auto-reply:
 *     policy/bounce_refs.h) to a protected recipient must quote one of those Message-IDs
 *     (the quoted header of a DSN, In-Reply-To, References); if none is known it is
 *     refused with 550 5.7.1 (symbol BACKSCATTER) and counted for the client address;
 *   - a client address (not its /24: big providers' pools share networks) with more than
 *     `limit` such bounces within `period` is blocked for bounces for `block_time`
 *     (554 5.7.1 at RCPT for null-sender mail from it to protected recipients; one
 *     backscatter.blocked event per block), then forgotten. State: pt:bs:{IP}.
 * The body is read on the check pool (up to `scan_limit` bytes, a dup'd descriptor); the
 * Redis lookups are asynchronous. Redis down: the unsure rule (accept) with
 * BACKSCATTER_UNAVAILABLE. postmaster@ and abuse@ are not protected (role bypass).
 */
#include "policy/checks/checks.h"

#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/redis.h"
#include "lib/smtp_replies.h"
#include "lib/xalloc.h"
#include "policy/bounce_refs.h"
#include "policy/outage.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct bs_settings {
    long long limit;
    long long period_ms;
    long long block_ms;
    long long remember_ms;
    unsigned long long scan_limit;
};

#define BS(f) offsetof(struct bs_settings, f)
static const struct conf_key bs_keys[] = {
    { .name = "limit", .type = CONF_INT, .offset = BS(limit), .def = "5", .min = 1,
      .max = 1000000, .help = "backscatter bounces from one client address within period "
                              "before it is blocked for bounces" },
    { .name = "period", .type = CONF_DURATION, .offset = BS(period_ms), .def = "1d",
      .min = 1000, .max = 30 * 86400000LL, .help = "the window of limit" },
    { .name = "block_time", .type = CONF_DURATION, .offset = BS(block_ms), .def = "4d",
      .min = 1000, .max = 365 * 86400000LL,
      .help = "how long a blocked address's bounces are refused at RCPT" },
    { .name = "remember", .type = CONF_DURATION, .offset = BS(remember_ms), .def = "30d",
      .min = 1000, .max = 365 * 86400000LL,
      .help = "how long the Message-ID of a submitted message is remembered" },
    { .name = "scan_limit", .type = CONF_SIZE, .offset = BS(scan_limit), .def = "256K",
      .min = 1024, .max = 16 << 20, .help = "how much of a bounce is read for quoted "
                                            "Message-IDs" },
    { .name = NULL }
};
static const struct conf_section bs_section = { .name = "backscatter", .keys = bs_keys };

static const struct symbol_def bs_symbols[] = {
    { "BOUNCE_VALID", 0, "a bounce that quotes a message sent through Postern" },
    { "BACKSCATTER", 0, "a bounce for a message never sent through Postern: refused" },
    { "BACKSCATTER_BLOCKED", 0, "the client sent too much backscatter: its bounces are refused" },
    { "BACKSCATTER_UNAVAILABLE", 0, "Redis did not answer: the bounce could not be checked" },
    { NULL, 0, NULL }
};

/* KEYS[1] pt:bs:{IP}; ARGV limit, period, block (ms). Returns 1 when this bounce blocked
 * the address (the event fires once), else 0. */
static const char count_lua[] =
    "local n = redis.call('HINCRBY', KEYS[1], 'n', 1)\n"
    "if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
    "if n > tonumber(ARGV[1]) and redis.call('HSETNX', KEYS[1], 'blocked', 1) == 1 then\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

struct bs_state {
    struct redis_script *count;
};

static int bs_init(const struct engine_env *env, const void *settings, void **state)
{
    struct bs_state *st = xcalloc(1, sizeof(*st));

    (void)settings;
    if (env->redis != NULL)
        st->count = redis_script_new(env->redis, count_lua);
    *state = st;
    return 0;
}

static void bs_free(void *state)
{
    free(state);
}

static bool protected_rcpt(const struct check_call *c, size_t i)
{
    const struct policy_settings *s = check_call_rcpt_settings(c, i);

    return s->kind != DOMAIN_OTHER && s->domain != NULL && s->domain->backscatter_protection;
}

static bool any_protected(const struct check_call *c)
{
    size_t i;

    for (i = 0; i < check_call_nrcpt(c); i++)
        if (protected_rcpt(c, i))
            return true;
    return false;
}

static char *ip_key(const struct check_call *c)
{
    char *tag = redis_key_escape(check_call_client_ip(c));
    char *key = xasprintf("pt:bs:{%s}", tag);

    free(tag);
    return key;
}

/* ---- the wait of one call -------------------------------------------------------------- */

/* One Redis request of a call: reqs[0] at RCPT, one per quoted Message-ID at END. */
struct bs_lookup {
    struct check_call *c;
    struct redis_req *req;
};

struct bs_wait {
    struct bs_lookup look[BOUNCE_IDS_MAX];
    size_t pending;
    bool found, failed;
    struct redis_req *count;
};

static void wait_end(struct check_call *c)
{
    free(check_call_priv(c));
    check_call_set_priv(c, NULL);
    check_done(c);
}

static void unsure_all(struct check_call *c)
{
    size_t i;

    outage_down(check_call_env(c)->outages, "redis", "backscatter", "no answer");
    for (i = 0; i < check_call_nrcpt(c); i++)
        if (protected_rcpt(c, i))
            check_unsure(c, (ssize_t)i, "BACKSCATTER_UNAVAILABLE");
}

/* RCPT: is the client blocked for bounces? */
static void on_blocked(enum redis_result res, const redisReply *reply, void *arg)
{
    struct check_call *c = arg;
    struct bs_wait *w = check_call_priv(c);
    size_t i;

    w->look[0].req = NULL;
    if (res != REDIS_RESULT_OK) {
        unsure_all(c);
    } else if (reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "1") == 0) {
        for (i = 0; i < check_call_nrcpt(c); i++) {
            if (!protected_rcpt(c, i))
                continue;
            check_symbol(c, (ssize_t)i, "BACKSCATTER_BLOCKED", 1.0, NULL);
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, R_BACKSCATTER_BLOCKED,
                          check_call_client_ip(c));
        }
    }
    wait_end(c);
}

static enum call_status run_rcpt(struct check_call *c)
{
    const struct engine_env *env = check_call_env(c);
    const char *sender = check_call_sender(c);
    struct bs_wait *w;
    char *key;
    const char *argv[3];

    if (sender == NULL || sender[0] != '\0' || env->redis == NULL || !any_protected(c))
        return CALL_DONE;
    key = ip_key(c);
    argv[0] = "HGET";
    argv[1] = key;
    argv[2] = "blocked";
    w = xcalloc(1, sizeof(*w));
    check_call_set_priv(c, w);
    w->pending = 1;
    w->look[0].req = redis_command_argv(env->redis, 3, argv, NULL, on_blocked, c);
    free(key);
    return CALL_PENDING;
}

/* END: the verdict once every Message-ID lookup answered. */
static void on_counted(enum redis_result res, const redisReply *reply, void *arg)
{
    struct check_call *c = arg;
    struct bs_wait *w = check_call_priv(c);
    const struct bs_settings *bs = check_call_settings(c);

    w->count = NULL;
    if (res == REDIS_RESULT_OK && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1) {
        log_warn("backscatter", "client %s sent more than %lld backscatter bounces: its "
                 "bounces are refused for %llds", check_call_client_ip(c), bs->limit,
                 bs->block_ms / 1000);
        check_event(c, "backscatter.blocked",
                    json_pack("{s:s, s:I, s:I}", "client_ip", check_call_client_ip(c),
                              "limit", (json_int_t)bs->limit,
                              "block_s", (json_int_t)(bs->block_ms / 1000)));
    }
    wait_end(c);
}

static void judge(struct check_call *c, struct bs_wait *w)
{
    const struct engine_env *env = check_call_env(c);
    const struct bs_settings *bs = check_call_settings(c);
    const struct bs_state *st = check_call_state(c);
    size_t i;

    if (w->failed) {
        unsure_all(c);
        wait_end(c);
        return;
    }
    outage_up(env->outages, "redis");
    for (i = 0; i < check_call_nrcpt(c); i++) {
        if (!protected_rcpt(c, i))
            continue;
        if (w->found) {
            check_symbol(c, (ssize_t)i, "BOUNCE_VALID", 1.0, NULL);
        } else {
            check_symbol(c, (ssize_t)i, "BACKSCATTER", 1.0, NULL);
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, R_BACKSCATTER);
        }
    }
    if (!w->found && st->count != NULL) {
        char *key = ip_key(c), a[3][24];
        const char *keys[1] = { key }, *args[3] = { a[0], a[1], a[2] };
        snprintf(a[0], sizeof(a[0]), "%lld", bs->limit);
        snprintf(a[1], sizeof(a[1]), "%lld", bs->period_ms);
        snprintf(a[2], sizeof(a[2]), "%lld", bs->block_ms);
        w->count = redis_script_call(env->redis, st->count, 1, keys, 3, args, on_counted, c);
        free(key);
        return;
    }
    wait_end(c);
}

static void on_exists(enum redis_result res, const redisReply *reply, void *arg)
{
    struct bs_lookup *l = arg;
    struct check_call *c = l->c;
    struct bs_wait *w = check_call_priv(c);

    l->req = NULL;
    if (res != REDIS_RESULT_OK)
        w->failed = true;
    else if (reply->type == REDIS_REPLY_INTEGER && reply->integer > 0)
        w->found = true;
    if (--w->pending == 0)
        judge(c, w);
}

/* ---- reading the bounce on the check pool -------------------------------------------- */

struct bs_job {
    int fd;
    unsigned long long offset, size;
    size_t nids;
    char ids[BOUNCE_IDS_MAX][BOUNCE_ID_MAX + 1];
};

static void job_work(void *p)
{
    struct bs_job *j = p;
    char *buf = xmalloc(j->size ? j->size : 1);
    size_t got;

    got = pread_all(j->fd, buf, j->size, j->offset);
    j->nids = bounce_quoted_ids(buf, got, j->ids, BOUNCE_IDS_MAX);
    free(buf);
}

static void job_free(void *p)
{
    struct bs_job *j = p;

    close(j->fd);
    free(j);
}

static void job_done(struct check_call *c, void *p)
{
    struct bs_job *j = p;
    const struct engine_env *env = check_call_env(c);
    struct bs_wait *w = xcalloc(1, sizeof(*w));
    size_t k;

    check_call_set_priv(c, w);
    if (j->nids == 0) {
        judge(c, w);
        return;
    }
    w->pending = j->nids;
    for (k = 0; k < j->nids; k++) {
        char *tag = redis_key_escape(j->ids[k]);
        char *key = xasprintf("pt:msgid:{%s}", tag);
        const char *argv[2] = { "EXISTS", key };
        w->look[k].c = c;
        w->look[k].req = redis_command_argv(env->redis, 2, argv, NULL, on_exists, &w->look[k]);
        free(key);
        free(tag);
    }
}

/* ---- END ----------------------------------------------------------------------------- */

/* Submission: remember the message's Message-ID. */
static enum call_status remember(struct check_call *c)
{
    const struct engine_env *env = check_call_env(c);
    const struct engine_message *m = check_call_message(c);
    const struct bs_settings *bs = check_call_settings(c);
    char id[BOUNCE_ID_MAX + 1], ms[24], *tag, *key;
    const char *argv[5];

    /* on submission the settings are the sender's: only a protected domain's mail is
       remembered (its bounces are the ones checked) */
    if (env->redis == NULL || m == NULL || m->head == NULL || !any_protected(c) ||
        !bounce_own_id(m->head, m->head_len, id))
        return CALL_DONE;
    tag = redis_key_escape(id);
    key = xasprintf("pt:msgid:{%s}", tag);
    snprintf(ms, sizeof(ms), "%lld", bs->remember_ms);
    argv[0] = "SET";
    argv[1] = key;
    argv[2] = "1";
    argv[3] = "PX";
    argv[4] = ms;
    redis_command_argv(env->redis, 5, argv, NULL, redis_reply_ignore, NULL);
    free(key);
    free(tag);
    return CALL_DONE;
}

static enum call_status run_end(struct check_call *c)
{
    const struct engine_env *env = check_call_env(c);
    const struct engine_message *m = check_call_message(c);
    const struct bs_settings *bs = check_call_settings(c);
    const char *sender = check_call_sender(c);
    struct bs_job *j;

    if (check_call_submission(c))
        return remember(c);
    if (env->redis == NULL || m == NULL || !any_protected(c))
        return CALL_DONE;
    if (!(sender != NULL && sender[0] == '\0') &&
        !(m->head != NULL && bounce_header_is_auto(m->head, m->head_len)))
        return CALL_DONE;
    j = xcalloc(1, sizeof(*j));
    if ((j->fd = fcntl(m->fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        free(j);
        return CALL_DONE;
    }
    j->offset = m->offset;
    j->size = m->size < bs->scan_limit ? m->size : bs->scan_limit;
    return check_work_submit(c, j, job_work, job_done, job_free) == 0 ? CALL_PENDING
                                                                      : CALL_DONE;
}

static enum call_status bs_run(struct check_call *c)
{
    return check_call_stage(c) == STAGE_RCPT ? run_rcpt(c) : run_end(c);
}

static void bs_cancel(struct check_call *c)
{
    struct bs_wait *w = check_call_priv(c);
    size_t k;

    if (w == NULL)
        return;   /* the worker job, if any, is detached by the engine */
    for (k = 0; k < BOUNCE_IDS_MAX; k++)
        if (w->look[k].req != NULL)
            redis_cancel(w->look[k].req);
    if (w->count != NULL)
        redis_cancel(w->count);
    free(w);
    check_call_set_priv(c, NULL);
}

const struct check_def check_backscatter = {
    .name = "backscatter",
    .description = "refuse bounces for mail never sent through Postern; block their sources",
    .stages = STAGE_BIT(STAGE_RCPT) | STAGE_BIT(STAGE_END),
    .directions = DIR_INBOUND | DIR_BACKUP | DIR_SUBMISSION,
    .group = 70,
    .async = true,
    .flags = CHECK_ROLE_BYPASS | CHECK_USES_SETTINGS | CHECK_NEEDS_HEADER,
    .unsure = UNSURE_ACCEPT,
    .reason = "backscatter",
    .unsure_reason = "redis_unavailable",  /* its store is in Redis */
    .symbols = bs_symbols,
    .settings = &bs_section,
    .settings_size = sizeof(struct bs_settings),
    .init = bs_init,
    .free = bs_free,
    .run = bs_run,
    .cancel = bs_cancel,
};
