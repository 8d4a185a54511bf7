/*
 * relay_keys.c - the "relay" config keys: the domains served, the networks trusted to
 * relay, the postmaster domain; and the helpers the checks use over them (the checks
 * themselves are policy/checks/check_relay_access.c and check_submission_auth.c).
 */
#include "policy/policy.h"

#include "lib/netaddr.h"

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

bool policy_client_trusted(const struct policy_conf *c, const char *ip)
{
    struct netaddr n;
    size_t i;
    for (i = 0; i < c->trusted_networks.n; i++)
        if (netaddr_parse(c->trusted_networks.v[i], &n) == 0 && netaddr_contains(&n, ip))
            return true;
    return false;
}
