/*
 * domain_conf.h - settings per served domain (local or backup), the "domains" map.
 *
 *   "domains": {
 *     "example.test":        { "bounces": "never", "allow_routing_characters": true },
 *     "backup.example.net":  { "bounces": "authenticated" }
 *   }
 * Every key of the map must be one of relay.local_domains or relay.backup_domains. A
 * served domain without an entry gets every key's default. Per-user overrides of these
 * settings live in Redis (policy engine); this file holds only what the config says.
 * Hooked into the root table by relay/ as
 * { "domains", CONF_MAP, offsetof(root, domains), .sub = &domain_conf_section,
 *   .elem_size = sizeof(struct domain_conf) }.
 * Threading: read-only after config load; any thread.
 */
#ifndef POSTERN_DOMAIN_CONF_H
#define POSTERN_DOMAIN_CONF_H

#include <stdbool.h>

#include "lib/conf.h"

/* When a delivery failure of mail received on the inbound profile may cause a DSN to
 * the envelope sender (which is often forged: a DSN to it is backscatter). */
enum domain_bounces {
    BOUNCES_NEVER,          /* log it and raise message.bounce_suppressed instead */
    BOUNCES_AUTHENTICATED,  /* only when the sender was authenticated (SPF pass or an
                               aligned DKIM signature: sender-authentication work; until
                               then no sender is, and it acts as BOUNCES_NEVER) */
    BOUNCES_ALWAYS,
};

/* The config words of enum domain_bounces, by value. */
extern const char *const domain_bounces_names[];

struct domain_conf {
    char *name;             /* the domain (the map key), as written */
    int bounces;            /* enum domain_bounces */
    bool allow_routing_characters;  /* %, ! or a quoted @ in local parts from anyone */
};

extern const struct conf_section domain_conf_section;

/* The settings of domain (case-insensitive), or the defaults when the map has no entry
 * for it. Never NULL. */
const struct domain_conf *domain_conf_find(const struct conf_array *domains,
                                           const char *domain);

#endif
