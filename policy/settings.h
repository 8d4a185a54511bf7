/*
 * settings.h - the policy settings that apply to one recipient (inbound) or sender
 * (submission): the domain's config, then the user's overrides.
 *
 * Resolution, key by key (settings_resolve):
 *   1. the built-in key default, then "domain_defaults", then the "domains" entry of the
 *      address's domain (domain_conf.h; a served domain without an entry gets
 *      domain_defaults, any other domain too);
 *   2. the user's overrides from Redis (user_prefs.h), when fetched: level, thresholds
 *      (tag/spam/kill on top of the level: a per-user custom level), greylisting,
 *      strict_dns, virus_action, file_action replace the domain's values; an unknown
 *      level name, or thresholds that do not keep tag <= spam <= kill, are ignored;
 *   3. the direction: on submission virus and blocked files are always refused and only
 *      header fields may change (no Subject tag); a backup domain gets header-only
 *      changes unless its message_changes says full.
 * Lists are not replaced but looked up scope by scope: the user's lists, then the
 * domain's, then the global ones (policy.whitelist ...). For a sender, the first scope
 * where it is on the whitelist or the blacklist decides (whitelist first within a scope);
 * a recipient is excluded when any scope's exclusion list names it. On submission the
 * lists do not apply (the sender is the authenticated user, whose mail they are).
 * Role addresses: postmaster@ and abuse@ of every served domain (and a bare
 * "postmaster") are flagged `role` (the engine lets them bypass what RFC 5321 4.5.1 and
 * RFC 2142 ask: strict rDNS, DNSBL, greylisting, recipient verification and spam
 * refusals; never the virus scan).
 *
 * Threading: built on the loop thread when a config is activated; a resolved struct is
 * owned by the transaction that asked for it.
 */
#ifndef POSTERN_POLICY_SETTINGS_H
#define POSTERN_POLICY_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/conf.h"
#include "policy/domain_conf.h"
#include "policy/levels.h"

struct addr_list;
struct user_prefs;

enum domain_kind { DOMAIN_OTHER, DOMAIN_LOCAL, DOMAIN_BACKUP };
enum list_verdict { LISTED_NONE, LISTED_WHITE, LISTED_BLACK };

/* Where lists are looked up, most specific first. */
enum list_scope { SCOPE_USER, SCOPE_DOMAIN, SCOPE_GLOBAL, SCOPE_COUNT };

struct policy_settings {
    char *address;                  /* whose settings these are (as given) */
    enum domain_kind kind;
    bool role;                      /* postmaster@ / abuse@ of a served domain */
    const struct domain_conf *domain;  /* its entry, or domain_defaults */
    const struct level_conf *level;
    double tag, spam, kill;         /* the level's, or the user's own */
    bool greylisting;
    bool strict_dns;
    int virus_action;               /* enum content_action */
    int file_action;                /* enum content_action */
    bool header_only;               /* only header fields may change (no Subject tag/wrap) */
    bool user_loaded;               /* user overrides were read (possibly none) */
    const struct addr_list *white[SCOPE_COUNT], *black[SCOPE_COUNT], *excl[SCOPE_COUNT];
    struct user_prefs *prefs;       /* a reference, holding the user's lists; or NULL */
};

/* What resolution needs from the config, compiled once per activated config. */
struct settings_base;
struct settings_inputs {
    const struct conf_array *levels;           /* struct level_conf */
    const struct conf_array *domains;          /* struct domain_conf */
    const struct domain_conf *domain_defaults;
    const struct conf_strlist *local_domains;
    const struct conf_strlist *backup_domains;
    const struct conf_strlist *whitelist;      /* global lists */
    const struct conf_strlist *blacklist;
    const struct conf_strlist *exclusions;
};

/* Compile the lists of every domain and the global ones. NULL (and why) when an entry is
 * not valid (config validation has already refused that) or a level is missing. */
struct settings_base *settings_base_new(const struct settings_inputs *in, char *why,
                                        size_t whylen);
void settings_base_free(struct settings_base *b);

/* The settings for address (an address, or a bare "postmaster"). prefs: the user's
 * overrides (a reference is taken) or NULL when they were not fetched. submission: the
 * address is a sender on a submission profile. Never NULL; free with settings_free. */
struct policy_settings *settings_resolve(const struct settings_base *b, const char *address,
                                         bool submission, struct user_prefs *prefs);
void settings_free(struct policy_settings *s);

/* Is this sender (address, "" for <>) or client IP on s's whitelist or blacklist? */
enum list_verdict settings_sender_listed(const struct policy_settings *s, const char *sender,
                                         const char *client_ip);

/* Is this recipient on an exclusion list of s? */
bool settings_rcpt_excluded(const struct policy_settings *s, const char *rcpt);

/* Is domain served, and how? Case-insensitive. */
enum domain_kind settings_domain_kind(const struct settings_base *b, const char *domain);

#endif
