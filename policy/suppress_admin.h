/*
 * suppress_admin.h - "posternctl suppress list|add|remove LOGIN [ADDRESS]": a newsletter
 * sender's suppression list in Redis (pt:sup:{LOGIN}: address -> "hard|complaint|manual:
 * UNTIL_MS", 0 = no expiry; written by policy/checks/check_newsletter.c). Blocking hiredis
 * calls: for the admin CLI only.
 */
#ifndef POSTERN_POLICY_SUPPRESS_ADMIN_H
#define POSTERN_POLICY_SUPPRESS_ADMIN_H

#include <stdio.h>

struct redisContext;

/* list prints "ADDRESS REASON until=TIME|never" per entry; add suppresses (reason
 * manual, no expiry); remove lifts it. 0, or -1 after a message on stderr. */
int suppress_admin(struct redisContext *c, const char *verb, const char *login,
                   const char *address, FILE *out);

#endif
