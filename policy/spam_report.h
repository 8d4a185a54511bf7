/*
 * spam_report.h - the X-Spam-* header fields and the policy log line of a recipient's
 * result. Pure: a struct rcpt_result in, text out.
 *
 * Headers (when the result's `headers` is set), in this order, CRLF line ends:
 *   X-Spam-Status: Yes, score=6.2 required=5.0 tests=DNSBL_X,RDNS_NONE
 *   X-Spam-Score: 6.2
 *   X-Spam-Flag: YES                 only when spam_flag is set (score >= tag, blacklist)
 *   X-Spam-Level: ******             the same; one '*' per whole point, at most 50
 * Yes/No is spam_flag; required= is the recipient's tag score; scores have one decimal
 * (SpamAssassin's format); tests= lists the symbol names sorted, "none" when there are
 * none. X-Spam-Status is folded after a comma (CRLF + TAB) so that every line stays
 * within 78 octets when it can (a single long symbol name may make one longer; never
 * near the 998 limit).
 *
 * Log line (logged by the caller as postern/policy[PID]: ...):
 *   QUEUEID: action=tag score=6.2/8 symbols=DNSBL_X(4.0),RDNS_NONE(1.5)
 * action is the disposition; score=S/R is the score over the recipient's spam threshold;
 * symbols are sorted by name with their scores ("none" when empty); scores are shown with
 * one or two decimals, thresholds as short as exact ("8", "7.5"). When several recipients
 * of one message got different results, each line ends with " to=<a@x>,<b@y>" naming
 * whose it is.
 */
#ifndef POSTERN_POLICY_SPAM_REPORT_H
#define POSTERN_POLICY_SPAM_REPORT_H

#include "policy/result.h"

#define SPAM_LEVEL_STARS_MAX 50
#define SPAM_HEADER_LINE_MAX 78

/* The header fields for r (malloc'd; "" when r->headers is false). */
char *spam_headers_format(const struct rcpt_result *r);

/* The log line (malloc'd, no newline). rcpts: NULL, or the recipients it applies to
 * ("<a@x>,<b@y>", copied as given: the caller sanitises client-supplied text). */
char *spam_log_format(const char *queue_id, const struct rcpt_result *r, const char *rcpts);

#endif
