/*
 * check_account.c - the account check: a suspended login (policy/account_breaker.h, the compromised-
 * account breaker) cannot send: 450 4.7.1 at MAIL, temporary so its mail client keeps the
 * messages until an admin has looked (`posternctl account release LOGIN`).
 * The node's account cache (policy/account_cache.h) answers when it knows the login's
 * state (kept exact by a Redis key watch); otherwise one HGET, whose answer it remembers.
 * Redis down: the unsure rule (accept: a Redis outage must not stop every user's mail)
 * with ACCOUNT_UNAVAILABLE.
 */
#include "policy/checks/checks.h"

#include "lib/redis.h"
#include "lib/smtp_replies.h"
#include "lib/xalloc.h"
#include "policy/account_cache.h"
#include "policy/outage.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

static const struct symbol_def account_symbols[] = {
    { "ACCOUNT_SUSPENDED", 0, "the login is suspended by the compromised-account breaker" },
    { "ACCOUNT_UNAVAILABLE", 0, "Redis did not answer: suspension unknown" },
    { NULL, 0, NULL }
};

struct account_wait {
    struct redis_req *req;
    unsigned long long epoch;      /* of the account cache when asked */
};

static void suspended(struct check_call *c)
{
    check_symbol(c, CHECK_ALL, "ACCOUNT_SUSPENDED", 1.0, NULL);
    check_verdict(c, CHECK_ALL, VERDICT_REFUSE_NOW, R_ACCOUNT_SUSPENDED);
}

static void on_reply(enum redis_result res, const redisReply *reply, void *arg)
{
    struct check_call *c = arg;
    struct account_wait *w = check_call_priv(c);
    const struct engine_env *env = check_call_env(c);

    w->req = NULL;
    if (res != REDIS_RESULT_OK) {
        outage_down(env->outages, "redis", "account",
                    res == REDIS_RESULT_TIMEOUT ? "timeout" : "down");
        check_unsure(c, CHECK_ALL, "ACCOUNT_UNAVAILABLE");
    } else {
        bool susp = reply->type == REDIS_REPLY_STRING && strcmp(reply->str, "1") == 0;

        outage_up(env->outages, "redis");
        if (env->accounts != NULL)
            account_cache_put(env->accounts, check_call_login(c), susp, w->epoch,
                              account_cache_now_ms());
        if (susp)
            suspended(c);
    }
    free(w);
    check_call_set_priv(c, NULL);
    check_done(c);
}

static enum call_status account_run(struct check_call *c)
{
    const struct engine_env *env = check_call_env(c);
    const char *login = check_call_login(c);
    struct account_wait *w;
    char *tag, *key;
    const char *argv[3];

    if (login == NULL || env->redis == NULL)
        return CALL_DONE;
    if (env->accounts != NULL) {
        enum account_known k = account_cache_get(env->accounts, login,
                                                 account_cache_now_ms());
        if (k == ACCOUNT_SUSPENDED)
            suspended(c);
        if (k != ACCOUNT_UNKNOWN)
            return CALL_DONE;
    }
    tag = redis_key_escape(login);
    key = xasprintf("pt:acct:{%s}", tag);
    argv[0] = "HGET";
    argv[1] = key;
    argv[2] = "suspended";
    w = xcalloc(1, sizeof(*w));
    if (env->accounts != NULL)
        w->epoch = account_cache_epoch(env->accounts);
    check_call_set_priv(c, w);
    w->req = redis_command_argv(env->redis, 3, argv, NULL, on_reply, c);
    free(key);
    free(tag);
    return CALL_PENDING;
}

static void account_cancel(struct check_call *c)
{
    struct account_wait *w = check_call_priv(c);

    if (w == NULL)
        return;
    if (w->req != NULL)
        redis_cancel(w->req);
    free(w);
    check_call_set_priv(c, NULL);
}

const struct check_def check_account = {
    .name = "account",
    .description = "a login suspended by the compromised-account breaker cannot send",
    .stages = STAGE_BIT(STAGE_MAIL),
    .directions = DIR_SUBMISSION,
    .group = 15,
    .async = true,
    .unsure = UNSURE_ACCEPT,
    .reason = "account_suspended",
    .unsure_reason = "redis_unavailable",  /* its store is in Redis */
    .symbols = account_symbols,
    .run = account_run,
    .cancel = account_cancel,
};
