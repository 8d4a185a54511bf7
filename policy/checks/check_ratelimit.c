/*
 * check_ratelimit.c - per-user recipient and message limits (MAIL and RCPT, every direction,
 * group 20: after relay access, so refused recipients spend nothing).
 *
 * Applies to authenticated sessions only (inbound sessions are not authenticated, so it
 * never costs them a Redis round trip). The class: the login's in ratelimit.users, else
 * the listener's rate_class (session fact ratelimit.endpoint_class: a newsletter
 * endpoint's), else ratelimit.default_class. The limiter and its config are policy/ratelimit.h
 * (the "ratelimit" section); this file is its place in the engine.
 *   MAIL  rl_check_mail: refuse (450 4.7.1 with the retry time, as the answer to MAIL)
 *         when the user's recipient quota is already spent, and spend one message token
 *         when the class has a messages-per-hour limit. Skipped when the session's
 *         previous RCPT batch left quota (session fact ratelimit.quota_left) and the class
 *         has no message limit (RCPT still enforces the bound).
 *   RCPT  the recipients that earlier groups let through: first the per-message cap
 *         (452 4.5.3), then ONE Redis round trip for all of them (rl_take_rcpt with k =
 *         their number); the first `granted` pass, the rest get 450 4.7.1. The remaining
 *         quota goes into the final 250 (check_note).
 * Redis errors follow ratelimit.fail_mode (tempfail: 451 4.3.0; open: accept and log), and
 * mark Redis down for policy.check_unavailable (once per outage). The first refusal of a
 * user in a window raises one sender.rate_limited event.
 */
#include "policy/checks/checks.h"

#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/xalloc.h"
#include "policy/outage.h"
#include "policy/ratelimit.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#define RL_REASON_UNAVAILABLE "redis_unavailable"

struct rl_state {
    const struct engine_env *env;
    struct rl *rl;
};

struct rl_wait {
    struct rl_req *req;
    unsigned k;                    /* recipients asked for (the first k of the call) */
};

static int ratelimit_init(const struct engine_env *env, const void *settings, void **state)
{
    struct rl_state *st = xcalloc(1, sizeof(*st));

    (void)settings;
    st->env = env;
    if (env->redis != NULL && env->ratelimit != NULL && env->ratelimit->enabled)
        st->rl = rl_new(env->ratelimit, env->redis);
    *state = st;
    return 0;
}

static void ratelimit_free(void *state)
{
    struct rl_state *st = state;

    if (st != NULL && st->rl != NULL)
        rl_free(st->rl);
    free(st);
}

static void raise_event(struct check_call *c, const struct rl_result *res)
{
    const struct rl_quota *q = res->limited_by == RL_LIMIT_MESSAGES ? &res->msg : &res->rcpt;
    const char *login = check_call_login(c);
    char window[32];

    rl_window_text(window, sizeof(window), q->window_ms);
    log_info("ratelimit", "%s: user=%s, class=%s, limit=%s %lld/%s, client=%s",
             "limit reached", login, res->cls->name,
             res->limited_by == RL_LIMIT_MESSAGES ? "messages" : "recipients", q->limit, window,
             check_call_client_ip(c));
    check_event(c, "sender.rate_limited",
                json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s*, s:s, s:s*}",
                          "login", login,
                          "class", res->cls->name,
                          "limit_type", res->limited_by == RL_LIMIT_MESSAGES ? "messages"
                                                                            : "recipients",
                          "limit", (json_int_t)q->limit,
                          "window_s", (json_int_t)((q->window_ms + 999) / 1000),
                          "retry_after_s", (json_int_t)res->retry_s,
                          "sender", check_call_sender(c),
                          "client_ip", check_call_client_ip(c),
                          "listener", check_call_listener(c)));
}

/* A Redis error, by fail mode: true when the recipients may pass. */
static bool error_allows(struct check_call *c, const struct rl_result *res)
{
    const struct engine_env *env = check_call_env(c);

    if (res->error == RL_OK) {
        if (env->outages != NULL)
            outage_up(env->outages, "redis");
        return false;
    }
    if (env->outages != NULL)
        outage_down(env->outages, "redis", "ratelimit",
                    res->error == RL_ERR_TIMEOUT ? "timeout" : "unavailable");
    log_warn("ratelimit", "redis %s; fail_mode=%s", res->error == RL_ERR_TIMEOUT ? "timeout" :
             res->error == RL_ERR_DOWN ? "unavailable" : "script error",
             env->ratelimit->fail_mode == RL_FAIL_OPEN ? "open: accepting" : "tempfail");
    return rl_accept_count(env->ratelimit, res) > 0;
}

static void refuse(struct check_call *c, ssize_t i, enum verdict_kind kind,
                   const struct rl_reply *rep)
{
    check_verdict(c, i, kind, rep->code, rep->ecode, "%s", rep->text);
}

/* Redis could not say (down, timeout, script error): message.rejected says so, not
 * rate_limited, so an alert on it is not mistaken for a user over their limit. */
static void refuse_unavailable(struct check_call *c, ssize_t i, enum verdict_kind kind,
                               const struct rl_reply *rep)
{
    check_verdict_reason(c, i, kind, RL_REASON_UNAVAILABLE, rep->code, rep->ecode, "%s",
                         rep->text);
}

static void mail_done(const struct rl_result *res, void *arg)
{
    struct check_call *c = arg;
    struct rl_reply rep;

    free(check_call_priv(c));
    check_call_set_priv(c, NULL);
    if (res->error != RL_OK) {
        if (!error_allows(c, res)) {
            rl_reply_tempfail(&rep);
            refuse_unavailable(c, CHECK_ALL, VERDICT_REFUSE_NOW, &rep);
        }
    } else if (res->granted == 0) {
        (void)error_allows(c, res);
        rl_reply_refused(&rep, res, check_call_login(c), RL_STAGE_MAIL);
        metrics_inc1(M_RATELIMIT_REFUSED, "mail");
        refuse(c, CHECK_ALL, VERDICT_REFUSE_NOW, &rep);
        if (res->first_refusal)
            raise_event(c, res);
    } else {
        (void)error_allows(c, res);
    }
    check_done(c);
}

static void rcpt_done(const struct rl_result *res, void *arg)
{
    struct check_call *c = arg;
    struct rl_wait *w = check_call_priv(c);
    unsigned ok = res->error == RL_OK ? res->granted : error_allows(c, res) ? w->k : 0, i;
    long long left = -1;
    struct rl_reply rep;
    char note[64];

    if (res->error != RL_OK) {
        rl_reply_tempfail(&rep);
    } else {
        (void)error_allows(c, res);
        rl_reply_refused(&rep, res, check_call_login(c), RL_STAGE_RCPT);
    }
    for (i = ok; i < w->k; i++)
        (res->error != RL_OK ? refuse_unavailable : refuse)(c, (ssize_t)i, VERDICT_REFUSE, &rep);
    if (res->error == RL_OK && ok < w->k) metrics_add1(M_RATELIMIT_REFUSED, "rcpt", (long long)(w->k - ok));
    if (res->error == RL_OK) {
        rl_quota_text(note, sizeof(note), &res->rcpt);
        check_note(c, note);
        left = res->rcpt.remaining;
        if (res->granted < w->k && res->first_refusal)
            raise_event(c, res);
    }
    check_fact_set(c, FACT_SESSION, "ratelimit.quota_left", json_integer(left));
    free(w);
    check_call_set_priv(c, NULL);
    check_done(c);
}

static enum call_status ratelimit_run(struct check_call *c)
{
    struct rl_state *st = check_call_state(c);
    const char *login = check_call_login(c);
    const struct rl_class_conf *cls;
    struct rl_wait *w;
    struct rl_req *req;
    struct rl_reply cap;
    const char *endpoint;
    size_t i, n;

    if (st == NULL || st->rl == NULL || login == NULL)
        return CALL_DONE;
    endpoint = json_string_value(check_fact(c, "ratelimit.endpoint_class"));
    cls = rl_class_for(st->env->ratelimit, login, endpoint);
    w = xcalloc(1, sizeof(*w));
    check_call_set_priv(c, w);
    if (check_call_stage(c) == STAGE_MAIL) {
        /* The MAIL check only refuses early when the quota is already spent; RCPT enforces
         * the limit exactly. When this session just saw quota left and the class counts
         * no messages, skip the round trip. */
        if (json_integer_value(check_fact(c, "ratelimit.quota_left")) > 0 &&
            cls->messages_per_hour == 0) {
            free(w);
            check_call_set_priv(c, NULL);
            return CALL_DONE;
        }
        req = rl_check_mail_at(st->rl, login, endpoint, mail_done, c);
        if ((w = check_call_priv(c)) != NULL) /* NULL: it answered at once */
            w->req = req;
        return CALL_PENDING;
    }
    /* RCPT: the per-message cap first, then one round trip for what is left */
    n = check_call_nrcpt(c);
    w->k = rl_cap_allow(cls, (unsigned)check_call_accepted(c), (unsigned)n);
    rl_reply_cap(&cap, cls);
    for (i = w->k; i < n; i++)
        refuse(c, (ssize_t)i, VERDICT_REFUSE, &cap);
    if (w->k == 0) {
        free(w);
        check_call_set_priv(c, NULL);
        return CALL_DONE;
    }
    req = rl_take_rcpt_at(st->rl, login, endpoint, w->k, rcpt_done, c);
    if ((w = check_call_priv(c)) != NULL)
        w->req = req;
    return CALL_PENDING;
}

static void ratelimit_cancel(struct check_call *c)
{
    struct rl_wait *w = check_call_priv(c);

    if (w != NULL) {
        rl_cancel(w->req);
        free(w);
    }
    check_call_set_priv(c, NULL);
}

const struct check_def check_ratelimit = {
    .name = "ratelimit",
    .description = "per-user recipient and message limits of authenticated senders",
    .stages = STAGE_BIT(STAGE_MAIL) | STAGE_BIT(STAGE_RCPT),
    .directions = DIR_ALL,
    .group = 20,
    .async = true,
    .unsure = UNSURE_DEFER,
    .reason = "rate_limited",
    .unsure_reason = RL_REASON_UNAVAILABLE,
    .init = ratelimit_init,
    .free = ratelimit_free,
    .run = ratelimit_run,
    .cancel = ratelimit_cancel,
};
