/*
 * check_sender_owner.c - an authenticated login sends only as itself (submission profiles,
 * group 10).
 *   MAIL  the envelope sender must be an address the login owns (auth.senders,
 *         auth.sender_map); the null sender is allowed (an application's bounces,
 *         vacation replies): else 553 5.7.1, as the answer to MAIL.
 *   END   with auth.header_from_must_match, the message needs exactly one From: field
 *         (550 5.7.1 otherwise) holding one address the login owns (550 5.7.1). The
 *         session gives the header's From: as facts: message.from_count (integer) and
 *         message.from (the unfolded value; absent when cut at its bound).
 */
#include "policy/checks/checks.h"

#include "auth/auth_conf.h"
#include "auth/sender_owner.h"
#include "lib/smtp_replies.h"

#include <jansson.h>
#include <stddef.h>

static enum call_status sender_owner_run(struct check_call *c)
{
    const struct auth_conf *ac = check_call_env(c)->auth;
    const char *login = check_call_login(c), *sender = check_call_sender(c);
    json_t *count, *from;

    if (ac == NULL || login == NULL)
        return CALL_DONE;
    if (check_call_stage(c) == STAGE_MAIL) {
        if (sender != NULL && sender[0] != '\0' && !sender_owned(ac, login, sender))
            check_verdict(c, CHECK_ALL, VERDICT_REFUSE_NOW, R_SENDER_NOT_OWNED, sender, login);
        return CALL_DONE;
    }
    if (!ac->header_from_must_match)
        return CALL_DONE;
    count = check_fact(c, "message.from_count");
    from = check_fact(c, "message.from");
    if (json_integer_value(count) > 1)
        check_verdict(c, CHECK_ALL, VERDICT_REFUSE, R_HEADER_FROM_MANY,
                      (unsigned)json_integer_value(count));
    else if (json_integer_value(count) == 0 || !json_is_string(from) ||
             !sender_header_from_matches(ac, login, json_string_value(from),
                                         json_string_length(from)))
        check_verdict(c, CHECK_ALL, VERDICT_REFUSE, R_HEADER_FROM_NOT_OWNED, login);
    return CALL_DONE;
}

const struct check_def check_sender_owner = {
    .name = "sender_owner",
    .description = "an authenticated login sends only from (and as) addresses it owns",
    .stages = STAGE_BIT(STAGE_MAIL) | STAGE_BIT(STAGE_END),
    .directions = DIR_SUBMISSION,
    .group = 10,
    .unsure = UNSURE_DEFER,
    .reason = "auth",
    .run = sender_owner_run,
};
