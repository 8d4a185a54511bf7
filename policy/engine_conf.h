/*
 * engine_conf.h - the "policy" section of the config: protection levels, profiles,
 * symbol score overrides, global lists, the user-settings cache and the check pool.
 *
 *   "policy": {
 *     "levels":   { "high": {...}, "medium": {...}, "low": {...}, "custom1": {...} },
 *     "profiles": { "inbound": {...}, "submission": {...}, "submissions": {...} },
 *     "symbols":  { "RDNS_NONE": { "score": 2.5 } },
 *     "whitelist": [], "blacklist": [], "exclusions": [],
 *     "user_settings_ttl": "5s", "user_settings_cache": 10000,
 *     "check_workers": 2, "check_queue": 64
 *   }
 * Levels: levels.h. Profiles: profile.h. Symbols: symbols.h. Lists: lists.h (the global
 * scope; domains and users have their own, settings.h). `postern -n` refuses an unknown
 * symbol, level or check name. Hooked into the root table by relay/ as
 *   { "policy", CONF_SECTION, offsetof(root, policy), .sub = &engine_conf_section }
 * and the root's validate calls engine_conf_check_refs() for the references that cross
 * sections (the level of each domain).
 * Threading: read-only after config load.
 */
#ifndef POSTERN_POLICY_ENGINE_CONF_H
#define POSTERN_POLICY_ENGINE_CONF_H

#include "lib/conf.h"
#include "policy/domain_conf.h"

struct engine_conf {
    struct conf_array levels;        /* struct level_conf */
    struct conf_array profiles;      /* struct profile_conf */
    struct conf_array symbols;       /* struct symbol_conf */
    struct conf_strlist whitelist;
    struct conf_strlist blacklist;
    struct conf_strlist exclusions;
    struct conf_strlist disabled_checks;
    long long user_settings_ttl_ms;
    long long user_settings_cache;
    long long check_workers;
    long long check_queue;
    struct conf_strlist dns_skip_networks;  /* engine_env.dns_skip_networks */
};

extern const struct conf_section engine_conf_section;

/* References from other sections: every domain's level (domain_defaults and each entry
 * of "domains") must be in policy.levels. Reports at pointer + "/domains/NAME/level".
 * Returns the number of errors. */
int engine_conf_check_refs(const struct engine_conf *pc, const struct conf_array *domains,
                           const struct domain_conf *domain_defaults, const char *pointer,
                           struct conf_errors *errs);

#endif
