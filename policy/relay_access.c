/*
 * relay_access.c - who may send mail where: the anti-open-relay checks.
 *
 *   submission_auth  (MAIL, submission profiles)  530 5.7.0 unless authenticated or the
 *                    client is in trusted_networks.
 *   relay_access     (RCPT, every profile)        a recipient in a local or backup domain
 *                    (or a bare <postmaster>) is allowed; any other domain only for
 *                    authenticated or trusted clients; else 554 5.7.1 Relay access denied.
 *                    From other clients, a local part with %, ! or a quoted @ is refused
 *                    (550 5.7.1) unless its domain allows it (domains.D.allow_routing_
 *                    characters): a next hop that reads them as routing would relay
 *                    (Postfix's allow_untrusted_routing = no).
 * Also declares the "relay" config keys the checks read (domains served, trusted networks,
 * the postmaster domain).
 */
#include "policy/check.h"

#include "lib/netaddr.h"
#include "lib/smtp_replies.h"
#include "policy/domain_conf.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int policy_domains_validate(void *obj, const char *pointer, struct conf_errors *errs);

static const struct conf_key policy_domains_keys[] = {
    { .name = "local_domains", .type = CONF_STRLIST, .def = "[]",
      .offset = offsetof(struct policy_conf, local_domains),
      .help = "domains whose mail this server accepts as final destination" },
    { .name = "backup_domains", .type = CONF_STRLIST, .def = "[]",
      .offset = offsetof(struct policy_conf, backup_domains),
      .help = "domains this server is a backup MX for (mail is spooled for the primary)" },
    { .name = "trusted_networks", .type = CONF_STRLIST, .def = "[]",
      .offset = offsetof(struct policy_conf, trusted_networks),
      .help = "client networks allowed to relay without AUTH (CIDR); empty by default" },
    { .name = "postmaster_domain", .type = CONF_STRING,
      .offset = offsetof(struct policy_conf, postmaster_domain),
      .help = "mail to a bare <postmaster> goes to postmaster@ this domain (default: the "
              "first of local_domains, else the server's hostname)" },
    { .name = NULL }
};

const struct conf_section policy_domains_section = {
    .name = "relay", .keys = policy_domains_keys, .validate = policy_domains_validate,
};

static int policy_domains_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct policy_conf *c = obj;
    struct netaddr n;
    int bad = 0;
    size_t i;

    for (i = 0; i < c->trusted_networks.n; i++) {
        char at[128];
        snprintf(at, sizeof(at), "%s/trusted_networks/%zu", pointer, i);
        if (netaddr_parse(c->trusted_networks.v[i], &n) < 0)
            bad += conf_error(errs, at, "bad network \"%s\"", c->trusted_networks.v[i]);
    }
    return bad;
}

const char *policy_postmaster_domain(const struct policy_conf *c, const char *hostname)
{
    if (c->postmaster_domain && c->postmaster_domain[0])
        return c->postmaster_domain;
    return c->local_domains.n > 0 ? c->local_domains.v[0] : hostname;
}

static bool list_has(const struct conf_strlist *l, const char *domain)
{
    size_t i;
    for (i = 0; i < l->n; i++)
        if (strcasecmp(l->v[i], domain) == 0)
            return true;
    return false;
}

bool policy_client_trusted(const struct policy_conf *c, const char *ip)
{
    struct netaddr n;
    size_t i;
    for (i = 0; i < c->trusted_networks.n; i++)
        if (netaddr_parse(c->trusted_networks.v[i], &n) == 0 && netaddr_contains(&n, ip))
            return true;
    return false;
}

static enum check_status submission_auth_run(struct policy *p, struct policy_req *r)
{
    const struct policy_ctx *ctx = policy_req_ctx(r);
    if (ctx->auth_login == NULL && !policy_client_trusted(policy_conf_of(p), ctx->client_ip))
        policy_verdict_set(&policy_req_result(r)->verdicts[0], POLICY_REFUSE, "submission_auth",
                           R_AUTH_REQUIRED);
    return CHECK_DONE;
}

/* A local part a next hop could read as a route: user%host, host!user, "user@host". */
static bool routing_refused(const struct policy *p, const struct smtp_addr *a)
{
    const struct policy_deps *d = policy_deps_of(p);
    static const struct conf_array none;
    static const struct domain_conf no_defaults;
    const struct domain_conf *dc;

    if (strpbrk(a->local, "%!@") == NULL)
        return false;
    dc = domain_conf_find(d->domains ? d->domains : &none,
                          d->domain_defaults ? d->domain_defaults : &no_defaults, a->domain);
    return !dc->allow_routing_characters;
}

static enum check_status relay_access_run(struct policy *p, struct policy_req *r)
{
    const struct policy_ctx *ctx = policy_req_ctx(r);
    const struct policy_conf *c = policy_conf_of(p);
    bool may_relay = ctx->auth_login != NULL || policy_client_trusted(c, ctx->client_ip);
    size_t i;

    for (i = 0; i < ctx->nrcpt; i++) {
        const struct smtp_addr *a = &ctx->rcpts[i];
        if (policy_rcpt_refused(r, i) || may_relay)
            continue;
        if (a->domain[0] != '\0' && !list_has(&c->local_domains, a->domain) &&
            !list_has(&c->backup_domains, a->domain))
            policy_verdict_set(&policy_req_result(r)->verdicts[i], POLICY_REFUSE,
                               "relay_access", R_RELAY_DENIED, a->addr);
        else if (routing_refused(p, a))
            policy_verdict_set(&policy_req_result(r)->verdicts[i], POLICY_REFUSE,
                               "relay_access", R_ROUTING_DENIED, a->addr);
    }
    return CHECK_DONE;
}

const struct policy_check check_submission_auth = {
    .name = "submission_auth",
    .stages = 1u << POLICY_MAIL,
    .profiles = (1u << PROFILE_SUBMISSION) | (1u << PROFILE_SUBMISSIONS),
    .run = submission_auth_run,
};

const struct policy_check check_relay_access = {
    .name = "relay_access",
    .stages = 1u << POLICY_RCPT,
    .profiles = (1u << PROFILE_INBOUND) | (1u << PROFILE_SUBMISSION) | (1u << PROFILE_SUBMISSIONS),
    .run = relay_access_run,
};
