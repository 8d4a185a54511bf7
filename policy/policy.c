/*
 * policy.c - the pipeline that runs the checks of one stage (see policy.h, check.h).
 *
 * The check table below is the order in which checks run. A request walks the table;
 * for each row that applies to the stage and profile it calls run(). A synchronous
 * check returns CHECK_DONE and the walk goes on; an asynchronous one returns
 * CHECK_PENDING and the walk continues from policy_req_resume(). The walk stops early
 * when every verdict is already a refusal.
 */
#include "policy/check.h"

#include "lib/xalloc.h"

#include <jansson.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct policy_check *const policy_checks[] = {
    &check_submission_auth,
    &check_relay_access,
    &check_ratelimit,
};
#define NCHECKS (sizeof(policy_checks) / sizeof(policy_checks[0]))

struct policy {
    const struct policy_conf *conf;
    struct policy_deps deps;
};

struct policy_req {
    struct policy *p;
    const struct policy_ctx *ctx;
    struct policy_result *res;
    size_t next;              /* index of the next check to run */
    bool async;               /* the caller was given the handle */
    bool cancelled;
    policy_done_fn cb;
    void *arg;
};

struct policy *policy_new(const struct policy_conf *conf, const struct policy_deps *deps)
{
    struct policy *p = xcalloc(1, sizeof(*p));
    p->conf = conf;
    if (deps)
        p->deps = *deps;
    return p;
}

const struct policy_deps *policy_deps_of(const struct policy *p)
{
    return &p->deps;
}

void policy_event(struct policy *p, const char *type, struct json_t *data)
{
    if (p->deps.event)
        p->deps.event(p->deps.event_arg, type, data);
    else
        json_decref(data);
}

void policy_free(struct policy *p)
{
    free(p);
}

const struct policy_ctx *policy_req_ctx(const struct policy_req *r) { return r->ctx; }
struct policy_result *policy_req_result(struct policy_req *r) { return r->res; }
const struct policy_conf *policy_conf_of(const struct policy *p) { return p->conf; }

int policy_rcpt_refused(struct policy_req *r, size_t i)
{
    return r->res->verdicts[i].action != POLICY_PASS;
}

static bool all_refused(const struct policy_result *res)
{
    size_t i;
    for (i = 0; i < res->n; i++)
        if (res->verdicts[i].action == POLICY_PASS)
            return false;
    return true;
}

/* Run checks from r->next on. Returns true when the walk is complete. */
static bool policy_walk(struct policy_req *r)
{
    unsigned stage_bit = 1u << r->ctx->stage, profile_bit = 1u << r->ctx->profile;

    while (r->next < NCHECKS && !all_refused(r->res)) {
        const struct policy_check *c = policy_checks[r->next++];
        if (!(c->stages & stage_bit) || !(c->profiles & profile_bit))
            continue;
        if (c->run(r->p, r) == CHECK_PENDING)
            return false;
    }
    return true;
}

struct policy_req *policy_run(struct policy *p, const struct policy_ctx *ctx,
                              struct policy_result *res, policy_done_fn cb, void *arg)
{
    struct policy_req *r = xcalloc(1, sizeof(*r));
    size_t i;

    res->n = ctx->stage == POLICY_RCPT ? ctx->nrcpt : 1;
    res->note[0] = '\0';
    res->quota_left = -1;
    for (i = 0; i < res->n; i++)
        memset(&res->verdicts[i], 0, sizeof(res->verdicts[i]));
    r->p = p;
    r->ctx = ctx;
    r->res = res;
    r->cb = cb;
    r->arg = arg;
    if (policy_walk(r)) {
        free(r);
        return NULL;
    }
    r->async = true;
    return r;
}

void policy_req_resume(struct policy_req *r)
{
    if (!r->cancelled && !policy_walk(r))
        return; /* another check went asynchronous */
    if (!r->cancelled)
        r->cb(r->arg, r->res);
    free(r);
}

int policy_req_cancelled(const struct policy_req *r)
{
    return r->cancelled;
}

void policy_cancel(struct policy_req *r)
{
    /* The pending check still holds r; it sees policy_req_cancelled() and resumes, which
     * frees r without calling back. */
    r->cancelled = true;
}

void policy_verdict_set(struct policy_verdict *v, enum policy_action action, const char *check,
                        int code, const char *ecode, const char *fmt, ...)
{
    va_list ap;
    v->action = action;
    v->code = code;
    snprintf(v->ecode, sizeof(v->ecode), "%s", ecode);
    v->check = check;
    va_start(ap, fmt);
    vsnprintf(v->text, sizeof(v->text), fmt, ap);
    va_end(ap);
}
