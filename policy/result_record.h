/*
 * result_record.h - the policy result of one recipient as a queue-file record, and its
 * parser. Pure: bytes in, struct out; no I/O.
 *
 * When a message is accepted, the session appends one record per accepted recipient
 * after the message (docs/spool.md, "Status records"), in the same write as the message
 * and before the fsync, so the 250 promises them too. The delivery side reads them back
 * and applies exactly these actions, also after a restart and a config change:
 *
 *   policy IDX DISP SCORE TAG SPAM FLAGS LEVEL [syms=N:S,...] [prefix=P] [reason=R] [hdr=H]...
 *
 *   IDX     the recipient's position among the rcpt lines (from 0)
 *   DISP    pass | tag | mark | wrap | discard | quarantine
 *   SCORE   its score; TAG and SPAM its thresholds (X-Spam-Status required=, log score=S/R)
 *   FLAGS   "-", or H (add the X-Spam-* headers) and/or S (spam: X-Spam-Status Yes)
 *   LEVEL   the level's name
 *   syms    the symbols and the score each added, sorted by name
 *   prefix  the Subject prefix (mark), reason the short why (wrap, quarantine, discard),
 *           hdr a "Name: value" header field a check added (one hdr= per field)
 * Numbers are decimal with at most 4 decimals (no exponent); values after '=' are
 * percent-encoded (%XX for '%', ',', ':', '=', space and bytes outside 0x21..0x7e).
 * Example:
 *   policy 0 mark 9.5 5 8 HS medium syms=DNSBL_X:4,RDNS_NONE:1.5,TEST:4 prefix=+++SPAM+++%20
 * A reader ignores key=value fields it does not know (later versions may add some).
 */
#ifndef POSTERN_POLICY_RESULT_RECORD_H
#define POSTERN_POLICY_RESULT_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/result.h"

#define RESULT_RECORD_MAX   65536   /* longest record line accepted */
#define RESULT_HEADERS_MAX  32      /* hdr= fields per record */
#define RESULT_TEXT_MAX     998     /* a decoded prefix, reason or header field */
#define RESULT_SCORE_MAX    1e6     /* |score| written and accepted */

/* Is this line (without its newline) a policy record? */
bool result_record_is(const char *line, size_t len);

/* The record of r, malloc'd, ending with "\n". */
char *result_record_format(const struct rcpt_result *r);

/* Parse one line (without its newline) into out (zeroed first). 0, or -1 when it is not
 * a valid policy record (out is then cleared). Release out with rcpt_result_clear(). */
int result_record_parse(const char *line, size_t len, struct rcpt_result *out);

#endif
