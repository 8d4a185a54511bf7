/*
 * authres.h - the Authentication-Results header field (RFC 8601): building ours, and
 * finding forged ones that bear our authserv-id in an incoming message.
 *
 * Building: the clauses come from the evaluators (spf_auth_results() of spf_header.h,
 * dkim_ar_format() of dkim_result.h, dmarc_ar_format() of dmarc.h); this file puts them
 * after our authserv-id (the host name, RFC 8601 2.5) and folds the field.
 *
 * Forged fields: RFC 8601 5 says a receiver MUST remove (or rename) any
 * Authentication-Results field that claims our authserv-id before adding its own, since
 * only we may write those. The scan parses each field's authserv-id as the grammar says:
 *   authres-header-field = "Authentication-Results:" authserv-id
 *                          [ CFWS authres-version ] ( no-result / 1*resinfo ) CRLF
 *   authserv-id          = value   (RFC 2045: token / quoted-string)
 * with comments (nested, quoted-pairs) and folding whitespace before and after it, a
 * quoted-string unquoted before comparison, the version ignored. The comparison is that
 * of domain names: case-insensitive, a trailing dot ignored. A field whose value cannot
 * be parsed as far as the id does not claim ours. Field names match case-insensitively,
 * with optional whitespace before the colon (obsolete syntax that readers still accept).
 *
 * Pure: no I/O; only authres_header() and authres_field() allocate. Any thread.
 */
#ifndef POSTERN_AUTHRES_H
#define POSTERN_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#define AUTHRES_FIELD "Authentication-Results"
#define AUTHRES_ID_MAX 255

/* The field value, unfolded, without CR/LF: "ID; clause; clause" or "ID; none" when
 * n == 0 (or every clause is NULL or empty). id is written as a token when it is one,
 * else as a quoted-string. Caller frees. For check_header()-style callers that fold
 * themselves. */
char *authres_header(const char *authserv_id, const char *const *clauses, size_t n);

/* The whole field "Authentication-Results: ID;\r\n\tclause;\r\n\tclause", each clause
 * on its own folded line, without a final CRLF. Caller frees. */
char *authres_field(const char *authserv_id, const char *const *clauses, size_t n);

/* Parse the authserv-id at the start of an Authentication-Results value (folded or not)
 * into out (NUL-terminated, unquoted). *version gets the authres-version (1 when
 * absent) when not NULL. Returns 0, or -1 when there is no parsable id or it does not
 * fit. */
int authres_parse_id(const char *value, size_t len, char *out, size_t out_size,
                     unsigned *version);

/* Are a and b the same authserv-id (case-insensitive, trailing dot ignored)? */
bool authres_id_equal(const char *a, const char *b);

/* One header field in a header block: [start, start + len) covers its name, value,
 * continuation lines and final line end. */
struct authres_span {
    size_t start, len;
};

/*
 * Find the Authentication-Results fields of head[0..len) (a message header, CRLF or LF
 * line ends; scanning stops at the empty line that ends the header) whose authserv-id is
 * ours. Fills out[0..max) in order and returns how many there are (possibly more than
 * max).
 */
size_t authres_find_forged(const char *head, size_t len, const char *authserv_id,
                           struct authres_span *out, size_t max);

/* Remove those fields from head in place; returns the new length. */
size_t authres_strip_forged(char *head, size_t len, const char *authserv_id);

#endif
