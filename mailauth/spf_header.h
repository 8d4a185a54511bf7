/*
 * spf_header.h - SPF results as message header text: the Received-SPF field (RFC 7208
 * 9.1) and the spf= clause of Authentication-Results (RFC 8601 2.7.2).
 *
 * Pure formatting of a struct spf_outcome (mailauth/spf.h); every value that came from
 * the client or from DNS is made safe for a header (no CR/LF or control characters,
 * quoted where it is not a dot-atom). Called by the policy engine when it adds headers,
 * and by posternctl spf.
 */
#ifndef POSTERN_SPF_HEADER_H
#define POSTERN_SPF_HEADER_H

#include "mailauth/spf.h"

/*
 * The whole field, "Received-SPF: RESULT (COMMENT) key=value; ...", folded with CRLF + TAB
 * before lines would pass 78 characters, without a final CRLF. receiver: this host's name
 * (comment prefix and receiver= key), may be NULL. Caller frees.
 */
char *spf_received_spf(const struct spf_outcome *o, const char *receiver);

/* The Authentication-Results clause "spf=RESULT smtp.mailfrom=ADDRESS" (the address, or
 * its domain when the local part is not a dot-atom) or "spf=RESULT smtp.helo=NAME".
 * Caller frees. */
char *spf_auth_results(const struct spf_outcome *o);

#endif
