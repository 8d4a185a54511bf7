/*
 * skip_networks.h - the "skip_networks" setting shared by the inbound DNS checks (rdns,
 * helo, dnsbl, sender_domain, early_talker): client networks the check skips entirely,
 * with no lookup, symbol or refusal ("127.0.0.0/8", "::1"; the test suites exempt
 * loopback clients this way). Default empty: nothing is exempt. The global
 * policy.dns_skip_networks (engine_env.dns_skip_networks) applies to all five on every
 * profile, the shipped ones included.
 */
#ifndef POSTERN_POLICY_CHECKS_SKIP_NETWORKS_H
#define POSTERN_POLICY_CHECKS_SKIP_NETWORKS_H

#include "lib/conf.h"
#include "lib/netaddr.h"

#include <stdbool.h>
#include <stddef.h>

#define SKIP_NETWORKS_KEY(STRUCT, FIELD)                                                    \
    { .name = "skip_networks", .type = CONF_STRLIST, .offset = offsetof(STRUCT, FIELD),     \
      .help = "client networks this check skips entirely, no lookups (\"127.0.0.0/8\", "    \
              "\"::1\")" }

/* Is client ip in one of the networks? nets may be NULL (none). */
static inline bool skip_networks_match(const struct conf_strlist *nets, const char *ip)
{
    struct netaddr n;
    size_t i;

    for (i = 0; nets != NULL && ip != NULL && i < nets->n; i++)
        if (netaddr_parse(nets->v[i], &n) == 0 && netaddr_contains(&n, ip))
            return true;
    return false;
}

/* For a section's validate: report each entry that is not a network. */
static inline int skip_networks_validate(const struct conf_strlist *nets, const char *pointer,
                                         struct conf_errors *errs)
{
    struct netaddr n;
    int bad = 0;
    size_t i;

    for (i = 0; i < nets->n; i++)
        if (netaddr_parse(nets->v[i], &n) < 0)
            bad += conf_error(errs, pointer, "skip_networks: \"%s\" is not an IP network",
                              nets->v[i]);
    return bad;
}

#endif
