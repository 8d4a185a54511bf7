/*
 * greylist_admin.h - "posternctl greylist show|allow|forget IP|NETWORK": the greylisting
 * state of a client network in Redis (keys in policy/checks/check_greylist.c).
 *
 * TARGET is an address (grouped as the shipped defaults do: IPv4 /24, IPv6 /64) or a
 * network in CIDR form (for profiles with other prefixes: 192.0.2.0/24, 2001:db8::/48).
 *   show    the network's auto-allowlist count, whether an admin allowed it, and each
 *           triplet (sender, recipient) with its state: waiting since, or passed at
 *   allow   the network skips greylisting from now on, until forget (no expiry)
 *   forget  drop everything known of the network: its triplets and its allowlist entry
 * Blocking hiredis calls: for the admin CLI only, never on the daemon's loop.
 */
#ifndef POSTERN_POLICY_GREYLIST_ADMIN_H
#define POSTERN_POLICY_GREYLIST_ADMIN_H

#include <stdio.h>

struct redisContext;

/* Returns 0, 1 when TARGET is not an address or network (message on stderr), -1 when
 * Redis failed (message on stderr). */
int greylist_admin(struct redisContext *c, const char *verb, const char *target, FILE *out);

#endif
