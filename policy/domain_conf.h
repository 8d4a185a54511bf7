/*
 * domain_conf.h - settings per served domain (local or backup): the "domains" map and
 * the "domain_defaults" object every entry starts from.
 *
 *   "domain_defaults": { "level": "medium", "whitelist": ["@partner.example"] },
 *   "domains": {
 *     "example.test":        { "bounces": "never", "allow_routing_characters": true },
 *     "strict.example.test": { "level": "high", "greylisting": true, "strict_dns": true },
 *     "backup.example.net":  { "bounces": "authenticated" }
 *   }
 * Every key of the map must be one of relay.local_domains or relay.backup_domains. A key
 * an entry does not give comes from domain_defaults, then from the table default; a served
 * domain without an entry gets domain_defaults (so thousands of domains need no entry).
 * Per-user overrides of the policy keys live in Redis (policy/user_prefs.h); this file
 * holds only what the config says. The policy keys are read through the engine's
 * per-recipient settings (policy/settings.h), which also say what each key means.
 * Hooked into the root table by relay/ as
 *   { "domain_defaults", CONF_SECTION, offsetof(root, domain_defaults),
 *     .sub = &domain_conf_section },
 *   { "domains", CONF_MAP, offsetof(root, domains), .def = "@domain_defaults",
 *     .sub = &domain_conf_section, .elem_size = sizeof(struct domain_conf) }.
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

/* What happens to mail with a virus or a blocked file, per recipient (issue 12). */
enum content_action {
    CONTENT_REJECT,         /* 554 5.7.1 during the SMTP dialogue */
    CONTENT_QUARANTINE,
    CONTENT_WRAP,           /* a warning message with the defanged original attached */
    CONTENT_MARK,           /* deliver with a header naming what was found */
    CONTENT_DELETE,         /* accept and drop, logged */
    CONTENT_OFF,            /* do nothing */
};
extern const char *const content_action_names[];

/* Which changes to a delivered message are allowed. */
enum message_changes {
    CHANGES_AUTO,           /* full for local domains; header fields only for backup
                               domains (the sender's DKIM signature must still verify at
                               the primary) and on submission */
    CHANGES_FULL,           /* Subject prefix and wrapping too */
    CHANGES_HEADERS,        /* header fields only: mark and wrap become tag */
};

struct domain_conf {
    char *name;             /* the domain (the map key), as written; NULL for defaults */
    int bounces;            /* enum domain_bounces */
    bool allow_routing_characters;  /* %, ! or a quoted @ in local parts from anyone */
    char *level;            /* protection level, a name in policy.levels */
    bool greylisting;
    long long greylist_delay_ms;    /* 0: the greylist check's delay */
    int greylist_stage;             /* enum greylist_stage */
    bool strict_dns;
    int virus_action;       /* enum content_action */
    int file_action;        /* enum content_action */
    struct conf_strlist blocked_extensions;
    struct conf_strlist blocked_types;
    struct conf_strlist whitelist;
    struct conf_strlist blacklist;
    struct conf_strlist exclusions;
    int message_changes;    /* enum message_changes */
    char *recipients_file;  /* valid recipients, or NULL (policy/checks/check_rcpt_verify.c) */
    bool recipients_learned;
    bool recipients_callout;  /* ask the next hop (RCPT probe) about unknown recipients */
    int recipients_unsure;  /* 0 defer, 1 accept */
    bool backscatter_protection;  /* policy/checks/check_backscatter.c */
    struct conf_strlist admins;   /* logins that see and change every user's settings
                                     on the web page (admin/web.h) */
    long long backlog_max_messages;   /* backup domains: queued mail cap (check_backlog.c) */
    unsigned long long backlog_max_bytes;
    long long quarantine_retention_ms;  /* entries older are deleted (relay/quar/) */
    unsigned long long quarantine_max_size;  /* bytes of entries kept; 0: no cap */
    long long digest_interval_ms;   /* quarantine digests at most this often; 0: none */
    char *digest_time;      /* "HH:MM" UTC: where the digest periods start */
    char *digest_address;   /* also gets a digest of all the domain's entries, or NULL */
};

/* When greylisting decides: at RCPT, or after DATA (the whole message scored once). */
enum greylist_stage { GREYLIST_AT_RCPT, GREYLIST_AFTER_DATA };
extern const char *const greylist_stage_names[];   /* "rcpt", "data" */

/* "defer", "accept": recipients_unsure's words. */
extern const char *const recipients_unsure_names[];

extern const struct conf_section domain_conf_section;

/* Seconds after midnight UTC of a digest_time "HH:MM"; -1 when it is not one. */
long long domain_digest_offset(const char *hhmm);

/* The settings of domain (case-insensitive), or defaults (domain_defaults) when the map
 * has no entry for it. Never NULL when defaults is not NULL. */
const struct domain_conf *domain_conf_find(const struct conf_array *domains,
                                           const struct domain_conf *defaults,
                                           const char *domain);

#endif
