/*
 * check_backlog.c - the backlog cap of a backup-MX domain: while the mail queued for the
 * domain (its primary is down, or slow) is over domains.D.backlog_max_messages or
 * backlog_max_bytes, new mail for it gets 452 4.3.1 at RCPT; the sending MTAs keep it in
 * their own queues while ours drains. The global free-disk floor is the spool's.
 *
 * The queue's count comes through engine_env.backlog (relay/queue/queue.h,
 * queue_backlog): messages with a recipient of the domain still pending, and their sizes.
 * Synchronous (an in-memory lookup); recipients of other domains, and domains without a
 * cap, are not looked at.
 */
#include "policy/checks/checks.h"

#include "lib/log.h"
#include "lib/smtp_replies.h"

#include <string.h>

static const struct symbol_def backlog_symbols[] = {
    { "BACKLOG_FULL", 0, "the recipient's backup domain has more mail queued than its cap" },
    { NULL, 0, NULL }
};

static enum call_status backlog_run(struct check_call *c)
{
    const struct engine_env *env = check_call_env(c);
    size_t i, n = check_call_nrcpt(c);

    if (env->backlog == NULL)
        return CALL_DONE;
    for (i = 0; i < n; i++) {
        const struct policy_settings *s = check_call_rcpt_settings(c, i);
        const struct domain_conf *d = s->domain;
        const char *addr = check_call_rcpt(c, i), *at = strrchr(addr, '@');
        unsigned long long msgs = 0, bytes = 0;

        if (s->kind != DOMAIN_BACKUP || d == NULL || at == NULL ||
            (d->backlog_max_messages == 0 && d->backlog_max_bytes == 0))
            continue;
        env->backlog(env->backlog_arg, at + 1, &msgs, &bytes);
        if ((d->backlog_max_messages > 0 && msgs >= (unsigned long long)d->backlog_max_messages) ||
            (d->backlog_max_bytes > 0 && bytes >= d->backlog_max_bytes)) {
            check_symbol(c, (ssize_t)i, "BACKLOG_FULL", 1.0, NULL);
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, R_BACKLOG_FULL, addr, at + 1);
            log_info("backlog", "%s: backup domain %s has %llu messages (%llu bytes) queued: "
                     "over its cap, recipient <%s> deferred",
                     check_call_queue_id(c) ? check_call_queue_id(c) : "NOQUEUE", at + 1,
                     msgs, bytes, addr);
        }
    }
    return CALL_DONE;
}

const struct check_def check_backlog = {
    .name = "backlog",
    .description = "defer mail for a backup domain whose queued backlog is over its cap",
    .stages = STAGE_BIT(STAGE_RCPT),
    .directions = DIR_BACKUP,
    .group = 15,
    .flags = CHECK_USES_SETTINGS,
    .unsure = UNSURE_ACCEPT,
    .reason = "backlog_full",
    .symbols = backlog_symbols,
    .run = backlog_run,
};
