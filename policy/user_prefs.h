/*
 * user_prefs.h - one user's overrides of their domain's policy settings, as stored in
 * Redis, and their parsing (pure).
 *
 * Storage: the hash pt:pol:{ADDRESS} (ADDRESS lower-cased and escaped by
 * redis_key_escape), one field per setting, written by `posternctl policy set` and the
 * admin API / web page, read by every node (policy/user_store.h):
 *   level           a level name ("high")
 *   tag, spam, kill  the user's own thresholds (a "custom" level on top of `level`)
 *   greylisting     on | off
 *   strict_dns      on | off
 *   virus_action    reject | quarantine | wrap | mark | delete | off
 *   file_action     the same
 *   whitelist, blacklist, exclusions   a JSON array of list entries (lists.h):
 *                   ["@partner.example", "boss@example.org", "192.0.2.0/24"]
 * Unknown fields and invalid values are ignored when read (counted in bad_fields, so the
 * reader can log it); user_prefs_field_check() is what writers call first, so that they
 * never store them. The hash has no TTL (it must last: see the README's Redis settings).
 *
 * Threading: a parsed struct is immutable and reference-counted; loop thread (counts are
 * not atomic).
 */
#ifndef POSTERN_POLICY_USER_PREFS_H
#define POSTERN_POLICY_USER_PREFS_H

#include <stdbool.h>
#include <stddef.h>

struct addr_list;

#define USER_PREFS_PREFIX "pt:pol:"

/* Fields present (bits of user_prefs.set). */
enum user_field {
    UF_LEVEL, UF_TAG, UF_SPAM, UF_KILL, UF_GREYLISTING, UF_STRICT_DNS, UF_VIRUS_ACTION,
    UF_FILE_ACTION, UF_WHITELIST, UF_BLACKLIST, UF_EXCLUSIONS, UF_COUNT
};
#define UF_BIT(f) (1u << (f))

struct user_prefs {
    int refs;
    unsigned set;                 /* UF_BIT() of each valid field present */
    unsigned bad_fields;          /* fields ignored: unknown names or invalid values */
    char *level;
    double tag, spam, kill;
    bool greylisting, strict_dns;
    int virus_action, file_action;  /* enum content_action */
    struct addr_list *whitelist, *blacklist, *exclusions;
};

/* The field's name ("level") and the field for a name (UF_COUNT when unknown). */
const char *user_field_name(enum user_field f);
enum user_field user_field_from_name(const char *name);

/* Is value valid for field name? 0, or -1 with the reason in why. */
int user_prefs_field_check(const char *name, const char *value, char *why, size_t whylen);

/* Parse n (name, value) pairs, as HGETALL returns them. Never NULL; refs = 1. n == 0 is
 * a user without overrides. */
struct user_prefs *user_prefs_parse(const char *const *names, const char *const *values,
                                    size_t n);
struct user_prefs *user_prefs_ref(struct user_prefs *p);
void user_prefs_unref(struct user_prefs *p);

/* The Redis key of an address (malloc'd): "pt:pol:{alice@example.test}". */
char *user_prefs_key(const char *address);

#endif
