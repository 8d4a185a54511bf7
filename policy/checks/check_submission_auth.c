/*
 * check_submission_auth.c - submission needs a login (MAIL, submission profiles, group 10):
 * 530 5.7.0 Authentication required, as the answer to MAIL, unless the session is
 * authenticated or the client is in relay.trusted_networks. A listener with
 * "auth": "optional" (session fact smtpd.auth) lets MAIL through without a login.
 */
#include "policy/checks/checks.h"

#include "lib/smtp_replies.h"
#include "policy/policy.h"

#include <jansson.h>
#include <stddef.h>
#include <string.h>

static enum call_status submission_auth_run(struct check_call *c)
{
    const struct engine_env *env = check_call_env(c);
    json_t *mode = check_fact(c, "smtpd.auth");

    if (json_is_string(mode) && strcmp(json_string_value(mode), "optional") == 0)
        return CALL_DONE;
    if (check_call_login(c) == NULL &&
        !(env->relay != NULL && policy_client_trusted(env->relay, check_call_client_ip(c))))
        check_verdict(c, CHECK_ALL, VERDICT_REFUSE_NOW, R_AUTH_REQUIRED);
    return CALL_DONE;
}

const struct check_def check_submission_auth = {
    .name = "submission_auth",
    .description = "submitted mail needs AUTH (or a trusted network)",
    .stages = STAGE_BIT(STAGE_MAIL),
    .directions = DIR_SUBMISSION,
    .group = 10,
    .unsure = UNSURE_DEFER,
    .reason = "auth",
    .run = submission_auth_run,
};
