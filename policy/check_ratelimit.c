/*
 * check_ratelimit.c - the rate-limit check: per-user recipient and message limits.
 *
 * Applies to authenticated sessions on every profile (inbound sessions are not
 * authenticated, so it never costs them a Redis round trip).
 *   MAIL  rl_check_mail: refuse (450 4.7.1, with the retry time) when the user's recipient
 *         quota is already spent, and spend one message token when the class has a
 *         messages-per-hour limit. Skipped when the session's previous RCPT batch left
 *         quota and the class has no message limit (RCPT still enforces the bound).
 *   RCPT  the recipients of the batch that earlier checks let through: first the
 *         per-message cap (452 4.5.3), then ONE Redis round trip for all of them
 *         (rl_take_rcpt with k = their number); the first `granted` pass, the rest get
 *         450 4.7.1. The remaining quota goes into res->note for the final 250.
 * Redis errors follow ratelimit.fail_mode (tempfail: 451 4.3.0; open: accept and log).
 * The first refusal of a user in a window raises one sender.rate_limited event.
 */
#include "policy/check.h"

#include "lib/log.h"
#include "lib/xalloc.h"
#include "policy/ratelimit.h"
#include "lib/metrics.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

struct rl_wait {
    struct policy *p;
    struct policy_req *r;
    size_t idx[POLICY_BATCH_MAX];   /* verdict index of each recipient sent to Redis */
    unsigned k;
};

static void refuse(struct policy_verdict *v, const struct rl_reply *rep)
{
    policy_verdict_set(v, POLICY_REFUSE, "ratelimit", rep->code, rep->ecode, "%s", rep->text);
}

static void raise_event(struct policy *p, const struct policy_ctx *ctx,
                        const struct rl_result *res)
{
    const struct rl_quota *q = res->limited_by == RL_LIMIT_MESSAGES ? &res->msg : &res->rcpt;
    char window[32];
    rl_window_text(window, sizeof(window), q->window_ms);
    log_info("ratelimit", "%s: user=%s, class=%s, limit=%s %lld/%s, client=%s",
             "limit reached", ctx->auth_login, res->cls->name,
             res->limited_by == RL_LIMIT_MESSAGES ? "messages" : "recipients", q->limit, window,
             ctx->client_ip);
    policy_event(p, "sender.rate_limited",
                 json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s*, s:s, s:s*}",
                           "login", ctx->auth_login,
                           "class", res->cls->name,
                           "limit_type", res->limited_by == RL_LIMIT_MESSAGES ? "messages"
                                                                             : "recipients",
                           "limit", (json_int_t)q->limit,
                           "window_s", (json_int_t)((q->window_ms + 999) / 1000),
                           "retry_after_s", (json_int_t)res->retry_s,
                           "sender", ctx->sender ? ctx->sender->addr : NULL,
                           "client_ip", ctx->client_ip,
                           "listener", ctx->listener));
}

/* Handle a Redis error by fail mode; returns true when the recipients may pass. */
static bool rl_error_allows(const struct policy_deps *d, const struct rl_result *res)
{
    if (res->error == RL_OK)
        return false;
    log_warn("ratelimit", "redis %s; fail_mode=%s", res->error == RL_ERR_TIMEOUT ? "timeout" :
             res->error == RL_ERR_DOWN ? "unavailable" : "script error",
             d->rl_conf->fail_mode == RL_FAIL_OPEN ? "open: accepting" : "tempfail");
    return rl_accept_count(d->rl_conf, res) > 0;
}

static void mail_done(const struct rl_result *res, void *arg)
{
    struct rl_wait *w = arg;
    if (!policy_req_cancelled(w->r)) {
        const struct policy_ctx *ctx = policy_req_ctx(w->r);
        struct policy_verdict *v = &policy_req_result(w->r)->verdicts[0];
        struct rl_reply rep;
        if (res->error != RL_OK) {
            if (!rl_error_allows(policy_deps_of(w->p), res)) {
                rl_reply_tempfail(&rep);
                refuse(v, &rep);
            }
        } else if (res->granted == 0) {
            rl_reply_refused(&rep, res, ctx->auth_login, RL_STAGE_MAIL);
            metrics_inc1(M_RATELIMIT_REFUSED, "mail");
            refuse(v, &rep);
            if (res->first_refusal)
                raise_event(w->p, ctx, res);
        }
    }
    policy_req_resume(w->r);
    free(w);
}

static void rcpt_done(const struct rl_result *res, void *arg)
{
    struct rl_wait *w = arg;
    if (!policy_req_cancelled(w->r)) {
        const struct policy_ctx *ctx = policy_req_ctx(w->r);
        struct policy_result *out = policy_req_result(w->r);
        unsigned ok = res->error == RL_OK ? res->granted
                      : rl_error_allows(policy_deps_of(w->p), res) ? w->k : 0;
        struct rl_reply rep;
        unsigned i;

        if (res->error != RL_OK)
            rl_reply_tempfail(&rep);
        else
            rl_reply_refused(&rep, res, ctx->auth_login, RL_STAGE_RCPT);
        for (i = ok; i < w->k; i++)
            refuse(&out->verdicts[w->idx[i]], &rep);
        if (res->error == RL_OK && ok < w->k) metrics_add1(M_RATELIMIT_REFUSED, "rcpt", (long long)(w->k - ok));
        if (res->error == RL_OK) {
            rl_quota_text(out->note, sizeof(out->note), &res->rcpt);
            out->quota_left = res->rcpt.remaining;
            if (res->granted < w->k && res->first_refusal)
                raise_event(w->p, ctx, res);
        }
    }
    policy_req_resume(w->r);
    free(w);
}

static enum check_status ratelimit_run(struct policy *p, struct policy_req *r)
{
    const struct policy_deps *d = policy_deps_of(p);
    const struct policy_ctx *ctx = policy_req_ctx(r);
    struct rl_wait *w;
    size_t i;

    if (d->rl == NULL || !d->rl_conf->enabled || ctx->auth_login == NULL)
        return CHECK_DONE;
    w = xcalloc(1, sizeof(*w));
    w->p = p;
    w->r = r;
    if (ctx->stage == POLICY_MAIL) {
        /* The MAIL check only refuses early when the quota is already spent; RCPT enforces
         * the limit exactly. When this session just saw quota left and the class counts no
         * messages, skip the round trip. */
        if (ctx->quota_left > 0 &&
            rl_class_for_user(d->rl_conf, ctx->auth_login)->messages_per_hour == 0) {
            free(w);
            return CHECK_DONE;
        }
        rl_check_mail(d->rl, ctx->auth_login, mail_done, w);
        return CHECK_PENDING;
    }
    /* RCPT: the per-message cap first, then one round trip for what is left */
    {
        const struct rl_class_conf *cls = rl_class_for_user(d->rl_conf, ctx->auth_login);
        unsigned passing = 0, allowed;
        struct rl_reply cap;
        for (i = 0; i < ctx->nrcpt && passing < POLICY_BATCH_MAX; i++)
            if (!policy_rcpt_refused(r, i))
                w->idx[passing++] = i;
        allowed = rl_cap_allow(cls, (unsigned)ctx->rcpts_accepted, passing);
        rl_reply_cap(&cap, cls);
        for (i = allowed; i < passing; i++)
            refuse(&policy_req_result(r)->verdicts[w->idx[i]], &cap);
        w->k = allowed;
    }
    if (w->k == 0) {
        free(w);
        return CHECK_DONE;
    }
    rl_take_rcpt(d->rl, ctx->auth_login, w->k, rcpt_done, w);
    return CHECK_PENDING;
}

const struct policy_check check_ratelimit = {
    .name = "ratelimit",
    .stages = (1u << POLICY_MAIL) | (1u << POLICY_RCPT),
    .profiles = (1u << PROFILE_INBOUND) | (1u << PROFILE_SUBMISSION) | (1u << PROFILE_SUBMISSIONS),
    .run = ratelimit_run,
};
