/*
 * report_parse.h - what a bounce says, pure: a delivery status notification (RFC 3464)
 * or an abuse feedback report (ARF, RFC 5965), read from the message text.
 *
 * Complaint: the report-type is feedback-report (or a Feedback-Type field is present).
 * Hard bounce: a 5.x.x Status (Action failed). Soft: a 4.x.x
 * Status, "Action: delayed", or a bounce whose status cannot be read (never suppressed
 * on a guess). Lines are read anywhere in the message, so the delivery-status part is
 * found whatever the MIME structure; only the first recipient block counts.
 */
#ifndef POSTERN_POLICY_REPORT_PARSE_H
#define POSTERN_POLICY_REPORT_PARSE_H

#include <stddef.h>

enum report_kind { REPORT_SOFT, REPORT_HARD, REPORT_COMPLAINT };

struct report {
    enum report_kind kind;
    char status[16];            /* "5.1.1", "" when none */
    char diagnostic[256];       /* Diagnostic-Code, or the feedback type; "" when none */
};

void report_parse(const char *msg, size_t len, struct report *out);

/* "hard", "soft", "complaint" */
const char *report_kind_name(enum report_kind k);

#endif
