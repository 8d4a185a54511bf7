/*
 * header_from.h - the RFC5322.From domain(s) of a message header, as DMARC needs them
 * (RFC 7489 6.6.1), for the DMARC check and posternctl dmarc.
 *
 * Outcomes:
 *   HFROM_OK                one From field whose mailboxes all have one domain (a
 *                           mailbox-list "a@x, b@x" counts once)
 *   HFROM_MULTIPLE_DOMAINS  one From field, mailboxes of several domains: DMARC is
 *                           applied to each and the strictest failing policy wins (6.6.1)
 *   HFROM_NONE              no From field; HFROM_MULTIPLE_FIELDS several From fields
 *                           (RFC 5322 allows one); HFROM_UNPARSEABLE empty, group syntax,
 *                           unbalanced quotes/brackets/comments, no local@domain: DMARC
 *                           cannot be applied, and the RFC lets the receiver refuse such
 *                           mail (the check scores it and may refuse it by its settings)
 * One mailbox is read by auth/sender_owner.c's RFC 5322 scanner (sender_from_address),
 * the same one that checks the From of submitted mail; this file only finds the fields,
 * unfolds them and splits a mailbox-list at its top-level commas. Pure; any thread.
 */
#ifndef POSTERN_POLICY_HEADER_FROM_H
#define POSTERN_POLICY_HEADER_FROM_H

#include <stddef.h>

#define HFROM_DOMAINS_MAX 4        /* distinct domains kept; more: HFROM_UNPARSEABLE */
#define HFROM_DOMAIN_MAX 253
#define HFROM_VALUE_MAX 4096       /* a longer From value: HFROM_UNPARSEABLE */

enum header_from_status {
    HFROM_OK, HFROM_MULTIPLE_DOMAINS, HFROM_NONE, HFROM_MULTIPLE_FIELDS, HFROM_UNPARSEABLE
};

struct header_from {
    enum header_from_status status;
    size_t n;                                           /* domains (OK: 1) */
    char domain[HFROM_DOMAINS_MAX][HFROM_DOMAIN_MAX + 1]; /* lower case */
};

/* Read the From field(s) of head[0..len) (CRLF or LF line ends; scanning stops at the
 * empty line that ends the header) into out. */
void header_from_domains(const char *head, size_t len, struct header_from *out);

/* The same for one From field value (unfolded or not). */
void header_from_value(const char *value, size_t len, struct header_from *out);

/* "ok", "multiple domains", "no From field", "several From fields", "unparseable From". */
const char *header_from_status_name(enum header_from_status st);

#endif
