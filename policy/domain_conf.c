/*
 * domain_conf.c - the "domains" config map and "domain_defaults": settings per served
 * domain (see domain_conf.h). Keys are declared once, here; policy checks read them
 * through the engine's per-recipient settings (settings.h), the queue through
 * domain_conf_find().
 */
#include "policy/domain_conf.h"

#include "policy/lists.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *const domain_bounces_names[] = { "never", "authenticated", "always", NULL };
const char *const content_action_names[] = { "reject", "quarantine", "wrap", "mark", "delete",
                                             "off", NULL };
static const char *const changes_names[] = { "auto", "full", "headers", NULL };
const char *const recipients_unsure_names[] = { "defer", "accept", NULL };
const char *const greylist_stage_names[] = { "rcpt", "data", NULL };

static int domain_validate(void *obj, const char *pointer, struct conf_errors *errs);

#define D(f) offsetof(struct domain_conf, f)
static const struct conf_key domain_keys[] = {
    { .name = "bounces", .type = CONF_ENUM, .offset = D(bounces), .def = "never",
      .choices = domain_bounces_names,
      .help = "DSNs for inbound mail that fails after acceptance: never (log it and raise "
              "message.bounce_suppressed), authenticated (only for senders authenticated by "
              "SPF (MAIL FROM) or aligned DKIM at receipt: the queue file's sender_auth "
              "record) or always" },
    { .name = "allow_routing_characters", .type = CONF_BOOL,
      .offset = D(allow_routing_characters), .def = "false",
      .help = "accept recipients whose local part holds %, ! or a quoted @ from clients that "
              "are neither authenticated nor trusted (else 550 5.7.1). Only for a domain "
              "delivered to maildir or LMTP, where they are plain characters: a next-hop "
              "SMTP server may read them as routing (user%other@domain, other!user@domain) "
              "and relay to the world" },
    { .name = "level", .type = CONF_STRING, .offset = D(level), .def = "medium",
      .help = "protection level of the domain's users (a name in policy.levels)" },
    { .name = "greylisting", .type = CONF_BOOL, .offset = D(greylisting), .def = "false",
      .help = "greylist first contacts to the domain's users" },
    { .name = "greylist_delay", .type = CONF_DURATION, .offset = D(greylist_delay_ms),
      .def = "0", .min = 0, .max = 86400000LL,
      .help = "the domain's own greylisting delay; 0: the profile's (greylist.delay, 5m)" },
    { .name = "greylist_stage", .type = CONF_ENUM, .offset = D(greylist_stage),
      .def = "rcpt", .choices = greylist_stage_names,
      .help = "when greylisting decides: rcpt (each recipient at RCPT) or data (after the "
              "message, with its whole score: with the level's greylist_score, only mail "
              "that also looks suspicious is delayed)" },
    { .name = "strict_dns", .type = CONF_BOOL, .offset = D(strict_dns), .def = "false",
      .help = "refuse clients without valid reverse DNS, dynamic hosts and bad HELO names "
              "instead of only scoring them" },
    { .name = "virus_action", .type = CONF_ENUM, .offset = D(virus_action), .def = "reject",
      .choices = content_action_names,
      .help = "mail with a virus: reject (554 5.7.1), quarantine, wrap, mark, delete or off; "
              "submitted mail is always rejected" },
    { .name = "file_action", .type = CONF_ENUM, .offset = D(file_action), .def = "wrap",
      .choices = content_action_names,
      .help = "mail with a blocked file type: reject, quarantine, wrap, mark, delete or off; "
              "submitted mail is always rejected" },
    { .name = "blocked_extensions", .type = CONF_STRLIST, .offset = D(blocked_extensions),
      .help = "attachment file name extensions that are blocked; empty (the default): the "
              "recipient's level's list (policy.levels.*.blocked_extensions)" },
    { .name = "blocked_types", .type = CONF_STRLIST, .offset = D(blocked_types),
      .help = "declared MIME types that are blocked; empty (the default): the level's "
              "list" },
    { .name = "whitelist", .type = CONF_STRLIST, .offset = D(whitelist),
      .help = "senders never marked as spam and not greylisted: addresses, @domain, "
              "@.domain (subdomains), local part@, client IP or CIDR" },
    { .name = "blacklist", .type = CONF_STRLIST, .offset = D(blacklist),
      .help = "senders that get the level's blacklist treatment (spam action or refusal); "
              "same entries as whitelist" },
    { .name = "exclusions", .type = CONF_STRLIST, .offset = D(exclusions),
      .help = "recipients not checked for spam at all (\"abuse@\", \"hostmaster@\", "
              "addresses, @domain)" },
    { .name = "recipients_file", .type = CONF_PATH, .offset = D(recipients_file),
      .help = "the domain's valid recipients, one address or local part per line (# "
              "comments); unknown recipients get 550 5.1.1. Read at start and on SIGHUP" },
    { .name = "recipients_learned", .type = CONF_BOOL, .offset = D(recipients_learned),
      .def = "false",
      .help = "addresses that sent mail through submission are valid recipients (kept in "
              "Redis); with recipients_file, either source makes an address valid" },
    { .name = "recipients_callout", .type = CONF_BOOL, .offset = D(recipients_callout),
      .def = "false",
      .help = "ask the domain's next hop (its transport route; for a backup domain the "
              "primary MX) with a RCPT probe whether a recipient no other source knows "
              "exists; answers are cached in Redis (rcpt_verify.callout_valid_ttl, "
              "callout_invalid_ttl); a failed or slow callout defers (recipients_unsure)" },
    { .name = "recipients_unsure", .type = CONF_ENUM, .offset = D(recipients_unsure),
      .def = "defer", .choices = recipients_unsure_names,
      .help = "a recipient no source knows when a source could not answer (Redis down), "
              "or only learned recipients are known, or a callout failed temporarily: defer "
              "(450 4.1.1) or accept" },
    { .name = "backscatter_protection", .type = CONF_BOOL,
      .offset = D(backscatter_protection), .def = "false",
      .help = "refuse bounces to the domain's users that reference no message sent through "
              "Postern (550 5.7.1); off by default: users who also send through other "
              "servers would lose their real bounces" },
    { .name = "backlog_max_messages", .type = CONF_INT, .offset = D(backlog_max_messages),
      .def = "0", .min = 0, .max = 100000000LL,
      .help = "backup domains: while this many messages for the domain are queued, new "
              "mail for it gets 452 4.3.1 (the backlog check); 0: no cap" },
    { .name = "backlog_max_bytes", .type = CONF_SIZE, .offset = D(backlog_max_bytes),
      .def = "0",
      .help = "the same cap on the bytes of those messages; 0: no cap" },
    { .name = "quarantine_retention", .type = CONF_DURATION,
      .offset = D(quarantine_retention_ms), .def = "30d", .min = 1000, .max = 3650LL * 86400000,
      .help = "quarantined messages older than this are deleted by the queue runner" },
    { .name = "quarantine_max_size", .type = CONF_SIZE, .offset = D(quarantine_max_size),
      .def = "0",
      .help = "bytes of quarantined messages kept for the domain on each node; over it "
              "the oldest are deleted first (logged); 0: no cap" },
    { .name = "digest_interval", .type = CONF_DURATION, .offset = D(digest_interval_ms),
      .def = "1440m", .min = 0, .max = 366LL * 86400000,
      .help = "each recipient with new quarantine entries gets a digest mail when the next "
              "period of this length starts (at digest_time + k * interval); 0: no digests" },
    { .name = "digest_time", .type = CONF_STRING, .offset = D(digest_time), .def = "00:00",
      .help = "time of day (HH:MM, UTC) the digest periods start from: with the default "
              "interval, when the daily digest goes out" },
    { .name = "digest_address", .type = CONF_STRING, .offset = D(digest_address),
      .help = "an address that also gets a digest of all the domain's new quarantine "
              "entries (the admin's report), or null" },
    { .name = "message_changes", .type = CONF_ENUM, .offset = D(message_changes),
      .def = "auto", .choices = changes_names,
      .help = "changes allowed to delivered mail: auto (full for local domains, header "
              "fields only for backup domains), full, or headers" },
    { .name = "admins", .type = CONF_STRLIST, .offset = D(admins),
      .help = "mail logins (\"admin@example.test\") that are this domain's admins on the "
              "web page: they see and change the settings of every address of the domain" },
    { .name = NULL }
};

const struct conf_section domain_conf_section = {
    .name = "domain", .keys = domain_keys, .validate = domain_validate,
};

/* The level name is checked against policy.levels by the engine's config check, which
 * sees both (engine_conf_check_refs). */
long long domain_digest_offset(const char *hhmm)
{
    int h, m;
    char end;

    if (hhmm == NULL || sscanf(hhmm, "%2d:%2d%c", &h, &m, &end) != 2 || h < 0 || h > 23 ||
        m < 0 || m > 59 || strlen(hhmm) != 5)
        return -1;
    return h * 3600LL + m * 60LL;
}

static int domain_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct domain_conf *d = obj;
    int bad = 0;

    if (d->digest_time && domain_digest_offset(d->digest_time) < 0) {
        char at[256];
        snprintf(at, sizeof(at), "%s/digest_time", pointer);
        bad += conf_error(errs, at, "expected HH:MM (UTC), such as \"07:30\"");
    }
    return bad + addr_list_validate(&d->whitelist, pointer, "whitelist", errs) +
           addr_list_validate(&d->blacklist, pointer, "blacklist", errs) +
           addr_list_validate(&d->exclusions, pointer, "exclusions", errs);
}

const struct domain_conf *domain_conf_find(const struct conf_array *domains,
                                           const struct domain_conf *defaults,
                                           const char *domain)
{
    const struct domain_conf *d = domains->items;
    size_t i;

    for (i = 0; domain && i < domains->n; i++)
        if (strcasecmp(d[i].name, domain) == 0)
            return &d[i];
    return defaults;
}
