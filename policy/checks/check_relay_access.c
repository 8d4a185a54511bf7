/*
 * check_relay_access.c - the anti-open-relay rule (RCPT, every direction, group 10).
 *
 * A recipient in a local or backup domain (relay.local_domains, relay.backup_domains),
 * or the bare <postmaster> (kept as postmaster@ relay.postmaster_domain), is allowed; any
 * other domain only for authenticated clients or clients in relay.trusted_networks; else
 * 554 5.7.1 Relay access denied. From other clients, a local part with %, ! or a quoted @
 * is refused (550 5.7.1) unless its domain allows it (domains.D.allow_routing_characters):
 * a next hop that reads them as routing would relay (Postfix's allow_untrusted_routing =
 * no). Every profile must run it (postern -n says so when one does not).
 */
#include "policy/checks/checks.h"

#include "lib/smtp_replies.h"
#include "policy/domain_conf.h"
#include "policy/policy.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

static bool list_has(const struct conf_strlist *l, const char *domain)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (strcasecmp(l->v[i], domain) == 0)
            return true;
    return false;
}

/* A local part a next hop could read as a route: user%host, host!user, "user@host". */
static bool routing_refused(const struct engine_env *env, const char *addr, const char *at)
{
    static const struct conf_array none;
    static const struct domain_conf no_defaults;
    const struct domain_conf *dc;

    if (strcspn(addr, "%!@") >= (size_t)(at - addr))
        return false;
    dc = domain_conf_find(env->domains ? env->domains : &none,
                          env->domain_defaults ? env->domain_defaults : &no_defaults, at + 1);
    return !dc->allow_routing_characters;
}

static enum call_status relay_access_run(struct check_call *c)
{
    const struct engine_env *env = check_call_env(c);
    const struct policy_conf *rc = env->relay;
    const char *pm;
    size_t i, n = check_call_nrcpt(c);

    if (rc == NULL || check_call_login(c) != NULL ||
        policy_client_trusted(rc, check_call_client_ip(c)))
        return CALL_DONE;
    pm = policy_postmaster_domain(rc, env->hostname ? env->hostname : "");
    for (i = 0; i < n; i++) {
        const char *addr = check_call_rcpt(c, i), *at = strrchr(addr, '@');
        if (at == NULL)
            continue;
        if (!list_has(&rc->local_domains, at + 1) && !list_has(&rc->backup_domains, at + 1) &&
            !(strcasecmp(at + 1, pm) == 0 && (size_t)(at - addr) == 10 &&
              strncasecmp(addr, "postmaster", 10) == 0))
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, R_RELAY_DENIED, addr);
        else if (routing_refused(env, addr, at))
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, R_ROUTING_DENIED, addr);
    }
    return CALL_DONE;
}

const struct check_def check_relay_access = {
    .name = "relay_access",
    .description = "only served domains, unless the client is authenticated or trusted",
    .stages = STAGE_BIT(STAGE_RCPT),
    .directions = DIR_ALL,
    .group = 10,
    .unsure = UNSURE_DEFER,
    .reason = "relay",
    .run = relay_access_run,
};
