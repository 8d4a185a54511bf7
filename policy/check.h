/*
 * check.h - the interface between the pipeline (policy.c) and each check.
 *
 * A check is a row {name, stages, profiles, run}. run() looks at the request's context,
 * sets verdicts for what it objects to, and returns CHECK_DONE, or CHECK_PENDING when it
 * started asynchronous work; it must then call policy_req_resume() exactly once, on the
 * loop thread, unless the pipeline cancels it first (check_cancel_fn).
 */
#ifndef POSTERN_POLICY_CHECK_H
#define POSTERN_POLICY_CHECK_H

#include "policy/policy.h"

enum check_status { CHECK_DONE, CHECK_PENDING };

struct policy_req;

struct policy_check {
    const char *name;
    unsigned stages;      /* bit (1u << POLICY_*) for each stage it runs at */
    unsigned profiles;    /* bit (1u << PROFILE_*) for each profile it applies to */
    enum check_status (*run)(struct policy *p, struct policy_req *r);
};

/* What a check may read and write while it runs. */
const struct policy_ctx *policy_req_ctx(const struct policy_req *r);
struct policy_result *policy_req_result(struct policy_req *r);
const struct policy_conf *policy_conf_of(const struct policy *p);

const struct policy_deps *policy_deps_of(const struct policy *p);

/* Raise an event (takes the reference of data). */
void policy_event(struct policy *p, const char *type, struct json_t *data);

/* An asynchronous check finished: continue with the next check. Loop thread. */
void policy_req_resume(struct policy_req *r);

/* True once the session cancelled the request: an asynchronous check must then not touch
 * the context or the result any more, and just call policy_req_resume(). */
int policy_req_cancelled(const struct policy_req *r);

/* True for recipients that an earlier check already refused (skip them). */
int policy_rcpt_refused(struct policy_req *r, size_t i);

/* The checks, defined in their own files. */
extern const struct policy_check check_submission_auth;
extern const struct policy_check check_relay_access;
extern const struct policy_check check_ratelimit;

#endif
