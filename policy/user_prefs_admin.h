/*
 * user_prefs_admin.h - "posternctl policy set|show|unset ADDRESS [KEY [VALUE]]": a user's
 * overrides of their domain's policy settings in Redis (the hash pt:pol:{ADDRESS}, fields
 * and values in user_prefs.h). Values are checked with user_prefs_field_check() before
 * they are stored, so a node never reads an invalid one. Every node sees a change after
 * its user cache expires (a few seconds, user_cache.h). Blocking hiredis calls: for the
 * admin CLI only.
 */
#ifndef POSTERN_POLICY_USER_PREFS_ADMIN_H
#define POSTERN_POLICY_USER_PREFS_ADMIN_H

#include <stdio.h>

struct redisContext;

/* verb "set" (key and value), "show" (prints "KEY VALUE" lines sorted by key, or
 * "ADDRESS: no overrides"), "unset" (key; "all" removes every override). 0; 1 when the
 * command was refused (usage, unknown key, invalid value: reason on stderr); -1 when Redis
 * failed (message on stderr). */
int user_prefs_admin(struct redisContext *c, const char *verb, const char *address,
                     const char *key, const char *value, FILE *out);

#endif
