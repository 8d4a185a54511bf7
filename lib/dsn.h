/*
 * dsn.h - the delivery status notification builder (RFC 3464 over RFC 6522).
 *
 * Pure: a description of what happened to a message's recipients goes in, the bytes of a
 * complete notification message (header section and body, CRLF line ends, ready to be
 * written to the spool) come out. No I/O, no clock, no randomness: the caller passes the
 * times and the IDs, so the result is reproducible and unit-testable. The queue runner
 * (relay/queue/queue.c) queues the result as a new message from the null sender to the original
 * envelope sender; it alone decides whether a notification may be sent at all (never to
 * the null sender, never for a notification).
 *
 * The message is multipart/report; report-type=delivery-status with three parts:
 *   1. text/plain           for humans: what happened, one paragraph per recipient
 *   2. message/delivery-status   Reporting-MTA, Arrival-Date, then per recipient
 *                           Final-Recipient, Action, Status, Remote-MTA, Diagnostic-Code,
 *                           Last-Attempt-Date (and Will-Retry-Until for delays)
 *   3. text/rfc822-headers  the original message's header section
 */
#ifndef POSTERN_DSN_H
#define POSTERN_DSN_H

#include <stdbool.h>
#include <stddef.h>

enum dsn_action { DSN_FAILED, DSN_DELAYED };

struct dsn_rcpt {
    const char *addr;           /* final recipient "local@domain" */
    const char *status;         /* RFC 3463 code "5.1.1" */
    const char *remote_mta;     /* host name of the MTA that answered; NULL: none */
    const char *diagnostic;     /* the reply that decided it, "550 5.1.1 No such user";
                                   NULL when none (then the text part uses reason) */
    const char *reason;         /* one line for humans; NULL: the diagnostic */
    long long last_attempt;     /* unix time; 0: field omitted */
};

struct dsn_report {
    enum dsn_action action;     /* the same for every recipient of one notification */
    const char *reporting_mta;  /* our host name (Reporting-MTA, From: MAILER-DAEMON@) */
    const char *qid;            /* queue ID of the original message */
    const char *sender;         /* the original envelope sender (never ""): To: */
    long long arrival;          /* unix time the original arrived (Arrival-Date) */
    long long now;              /* unix time of the notification (Date:) */
    long long retry_until;      /* DSN_DELAYED: Will-Retry-Until; 0: omitted */
    const char *message_id;     /* Message-ID without the angle brackets */
    const struct dsn_rcpt *rcpts;
    size_t nrcpt;               /* >= 1 */
    const char *headers;        /* the original header section (may be cut; NULL: none) */
    size_t headers_len;
    size_t headers_max;         /* attach at most this many bytes (cut at a line end) */
};

/* The result of dsn_build(). text is malloc'd (free it); eightbit is set when the
 * attached headers or an address contain 8-bit bytes: queue it with BODY=8BITMIME. */
struct dsn_message {
    char *text;
    size_t len;
    bool eightbit;
};

/* Build the notification. Returns 0, or -1 when the report is unusable (no recipient, an
 * empty sender, a field containing CR or LF). Never fails for lack of memory (xalloc). */
int dsn_build(const struct dsn_report *r, struct dsn_message *out);

/* Length of the header section at the start of msg: up to and including the empty line
 * that ends it (CRLF CRLF), or len when there is no empty line. */
size_t dsn_header_section_len(const char *msg, size_t len);

/* An RFC 5322 date in UTC: "Tue, 01 Jul 2025 12:00:00 +0000". buf needs 32 bytes. */
char *dsn_format_date(char *buf, size_t len, long long t);

/* How long a message has waited, for a DSN's text: "3 days", "1 day", "5 hours",
 * "1 minute" (whole units, rounded down; at least 1 minute). */
void dsn_format_age(char *buf, size_t len, long long seconds);

#endif
