/*
 * lists.h - white, black and exclusion lists: parsing their entries and matching them.
 *
 * One syntax for every list, in the config (global, per domain) and in per-user settings:
 *   user@example.com     that address (case-insensitive)
 *   @example.com         any address at that domain
 *   @.example.com        any address at a subdomain of example.com (not example.com itself)
 *   postmaster@          that local part at any domain (useful for exclusions)
 *   192.0.2.7            a client address
 *   192.0.2.0/24         a client network (IPv6 too: 2001:db8::/32)
 * White and black lists match the envelope sender (address entries; the null sender
 * matches none of them) and the client address (IP entries). Exclusion lists match the
 * recipient (address entries). How the engine combines scopes (user, domain, global) is in
 * settings.h.
 *
 * Pure: no I/O, no allocation but the list itself (and config messages). Any thread (a list is read-only once
 * built).
 */
#ifndef POSTERN_POLICY_LISTS_H
#define POSTERN_POLICY_LISTS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/conf.h"

struct addr_list;

/* Check one entry; 0 when it is valid, else -1 with a reason in why. */
int addr_list_entry_check(const char *entry, char *why, size_t whylen);

/* Config validation of a list key: each bad entry is reported at POINTER/KEY/INDEX.
 * Returns the number of errors. */
int addr_list_validate(const struct conf_strlist *l, const char *pointer, const char *key,
                       struct conf_errors *errs);

/* Build a list from n entries. Returns NULL (and the reason in why, naming the entry)
 * when an entry is not valid. An empty list (n == 0) is a valid list. */
struct addr_list *addr_list_new(const char *const *entries, size_t n, char *why, size_t whylen);
void addr_list_free(struct addr_list *l);

/* Number of entries. */
size_t addr_list_size(const struct addr_list *l);

/* Does the sender (an address, "" for the null sender) or the client IP (textual, may be
 * NULL) match an entry? NULL lists match nothing. */
bool addr_list_match_sender(const struct addr_list *l, const char *sender, const char *client_ip);

/* Does the recipient address match an address entry? */
bool addr_list_match_rcpt(const struct addr_list *l, const char *rcpt);

#endif
