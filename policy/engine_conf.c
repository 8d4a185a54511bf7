/*
 * engine_conf.c - the "policy" config section and its cross-checks (see engine_conf.h).
 */
#include "policy/engine_conf.h"

#include "policy/check_registry.h"

#include "lib/netaddr.h"
#include "policy/levels.h"
#include "policy/lists.h"
#include "policy/profile.h"
#include "policy/symbols.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

static int engine_conf_validate(void *obj, const char *pointer, struct conf_errors *errs);

#define PC(f) offsetof(struct engine_conf, f)
static const struct conf_key engine_keys[] = {
    { .name = "levels", .type = CONF_MAP, .offset = PC(levels), .def = level_builtin_json,
      .sub = &level_conf_section, .elem_size = sizeof(struct level_conf),
      .help = "protection levels (thresholds and actions); high, medium and low are "
              "shipped, a shipped level named here changes only the keys given" },
    { .name = "profiles", .type = CONF_MAP, .offset = PC(profiles),
      .def = profile_builtin_json, .sub = &profile_conf_section,
      .elem_size = sizeof(struct profile_conf),
      .help = "policy profiles named by listeners: direction, checks and their settings, "
              "stage deadlines; inbound, submission and submissions are shipped" },
    { .name = "symbols", .type = CONF_MAP, .offset = PC(symbols), .sub = &symbol_conf_section,
      .elem_size = sizeof(struct symbol_conf),
      .help = "score overrides: {\"SYMBOL\": {\"score\": N}}; the name must be declared by "
              "a check" },
    { .name = "whitelist", .type = CONF_STRLIST, .offset = PC(whitelist),
      .help = "senders whitelisted for every recipient (addresses, @domain, @.domain, "
              "local part@, client IP or CIDR)" },
    { .name = "blacklist", .type = CONF_STRLIST, .offset = PC(blacklist),
      .help = "senders blacklisted for every recipient (same entries)" },
    { .name = "exclusions", .type = CONF_STRLIST, .offset = PC(exclusions),
      .help = "recipients never checked for spam (addresses, @domain, local part@)" },
    { .name = "disabled_checks", .type = CONF_STRLIST, .offset = PC(disabled_checks),
      .help = "checks that no profile runs, whatever the profiles list (for example "
              "[\"spam\", \"bulk\"] to run the shipped profiles without spam scoring); "
              "relay_access cannot be turned off" },
    { .name = "dns_skip_networks", .type = CONF_STRLIST, .offset = PC(dns_skip_networks),
      .help = "client networks the inbound DNS checks (rdns, helo, dnsbl, sender_domain, "
              "early_talker) skip on every profile, with no lookup: your own relays, or "
              "loopback in a test setup (\"127.0.0.0/8\", \"::1\"); default: none" },
    { .name = "user_settings_ttl", .type = CONF_DURATION, .offset = PC(user_settings_ttl_ms),
      .def = "5s", .min = 0, .max = 300000,
      .help = "how long per-user settings read from Redis are reused; a change made on "
              "another node is seen within this time (0: read them for every transaction)" },
    { .name = "user_settings_cache", .type = CONF_INT, .offset = PC(user_settings_cache),
      .def = "10000", .min = 1, .max = 10000000,
      .help = "users whose settings are kept in memory at most" },
    { .name = "check_workers", .type = CONF_INT, .offset = PC(check_workers), .def = "2",
      .min = 1, .max = 64, .help = "threads of the pool that runs CPU-heavy checks "
                                   "(content scans, classifier)" },
    { .name = "check_queue", .type = CONF_INT, .offset = PC(check_queue), .def = "1024",
      .min = 1, .max = 100000,
      .help = "jobs that pool may hold (a message ending DATA queues one per content check: "
              "spam, bulk, filetype, dkim; a queued job holds a descriptor, not the "
              "message); when it is full, the end of DATA answers 451 4.3.0 instead of "
              "queueing more" },
    { .name = NULL }
};

const struct conf_section engine_conf_section = {
    .name = "policy", .keys = engine_keys, .validate = engine_conf_validate,
};

static int engine_conf_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct engine_conf *pc = obj;
    int before = errs->count;
    struct symtab *t;

    addr_list_validate(&pc->whitelist, pointer, "whitelist", errs);
    addr_list_validate(&pc->blacklist, pointer, "blacklist", errs);
    addr_list_validate(&pc->exclusions, pointer, "exclusions", errs);
    for (size_t i = 0; i < pc->disabled_checks.n; i++) {
        const char *n = pc->disabled_checks.v[i];
        if (check_registry_find(n) == NULL)
            conf_error(errs, pointer, "disabled_checks: unknown check \"%s\"", n);
        else if (strcmp(n, "relay_access") == 0)
            conf_error(errs, pointer, "disabled_checks: relay_access cannot be turned off "
                                      "(the listener would be an open relay)");
    }
    for (size_t i = 0; i < pc->dns_skip_networks.n; i++) {
        struct netaddr n;
        if (netaddr_parse(pc->dns_skip_networks.v[i], &n) < 0)
            conf_error(errs, pointer, "dns_skip_networks: \"%s\" is not an IP network",
                       pc->dns_skip_networks.v[i]);
    }
    /* unknown symbol names, and two checks declaring one name with different scores */
    t = symtab_new(&pc->profiles, &pc->symbols, pointer, errs);
    symtab_free(t);
    return errs->count - before;
}

static int level_ref(const struct engine_conf *pc, const char *level, const char *at,
                     struct conf_errors *errs)
{
    if (level != NULL && level_find(&pc->levels, level) != NULL)
        return 0;
    return conf_error(errs, at, "unknown level \"%s\" (not in policy.levels)",
                      level ? level : "");
}

int engine_conf_check_refs(const struct engine_conf *pc, const struct conf_array *domains,
                           const struct domain_conf *domain_defaults, const char *pointer,
                           struct conf_errors *errs)
{
    const struct domain_conf *d = domains->items;
    char at[320];
    int bad = 0;
    size_t i;

    snprintf(at, sizeof(at), "%s/domain_defaults/level", pointer);
    bad += level_ref(pc, domain_defaults->level, at, errs);
    for (i = 0; i < domains->n; i++) {
        /* the same as domain_defaults (inherited, usually): checked just above */
        if (d[i].level && domain_defaults->level &&
            strcmp(d[i].level, domain_defaults->level) == 0)
            continue;
        snprintf(at, sizeof(at), "%s/domains/%s/level", pointer, d[i].name);
        bad += level_ref(pc, d[i].level, at, errs);
    }
    return bad;
}
