/*
 * dmarc_org.h - organizational domains (RFC 7489 3.2) and identifier alignment (3.1).
 *
 * The organizational domain of a name is its public suffix plus one label, from the
 * Public Suffix List as Debian's `publicsuffix` package ships it, read through libpsl
 * (the newest of libpsl's built-in list and /usr/share/publicsuffix; loaded once per
 * process, read-only afterwards, so any thread may ask). A name that is itself a public
 * suffix ("co.uk") is its own organizational domain.
 *
 * Alignment: strict when the two domains are equal, relaxed when their organizational
 * domains are equal. Case and a trailing dot do not matter. Pure apart from the one
 * list load.
 */
#ifndef POSTERN_DMARC_ORG_H
#define POSTERN_DMARC_ORG_H

#include "mailauth/dmarc_record.h"

#include <stdbool.h>
#include <stddef.h>

#define DMARC_DOMAIN_MAX 253

/* Write the organizational domain of domain (lower case, no trailing dot) into out.
 * Returns 0, or -1 when domain is not a usable domain name or does not fit. */
int dmarc_org_domain(const char *domain, char *out, size_t out_size);

/* Copy domain to out in lower case without a trailing dot; -1 when it is empty, too
 * long, or holds characters a domain name cannot (anything but letters, digits, "-",
 * "_", "." and bytes >= 0x80 for U-labels), or an empty label. */
int dmarc_domain_normalize(const char *domain, char *out, size_t out_size);

/* Do the two identifiers align in this mode? */
bool dmarc_aligned(const char *from_domain, const char *auth_domain, enum dmarc_align mode);

#endif
