/*
 * smtp_replies.h - every fixed SMTP reply of the server, in one table.
 *
 * Each entry expands to "code, enhanced code, printf format", so a call such as
 *     smtp_reply(s, R_QUEUED, qid);
 * is checked by the compiler against the format. Texts tell a human what to do.
 * Codes follow RFC 5321, enhanced codes RFC 3463 / RFC 4954 / RFC 2920 practice.
 */
#ifndef POSTERN_SMTP_REPLIES_H
#define POSTERN_SMTP_REPLIES_H

#include <stdarg.h>
#include <stddef.h>

/* Format one reply line "CODE ECODE text\r\n" into buf (len >= 16), cut to fit, always
 * CRLF-terminated and NUL-terminated; returns its length without the NUL.
 * Use with a table entry: smtp_reply_format(buf, sizeof(buf), R_TOO_MANY_CONN, host). */
size_t smtp_reply_format(char *buf, size_t len, int code, const char *ecode, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
size_t smtp_reply_vformat(char *buf, size_t len, int code, const char *ecode, const char *fmt,
                          va_list ap);

/* connection level */
#define R_GREETING        220, NULL,    "%s ESMTP Postern"
#define R_BYE             221, "2.0.0", "Bye"
#define R_TOO_MANY_CONN   421, "4.7.0", "%s Error: too many connections, try again later"
#define R_TOO_MANY_FROM   421, "4.7.0", "%s Error: too many connections from %s"
#define R_TOO_MANY_ERRORS 421, "4.7.0", "%s Error: too many errors, closing connection"
#define R_TIMEOUT         421, "4.4.2", "%s Error: timeout exceeded"
#define R_SHUTDOWN        421, "4.3.2", "%s Service shutting down, try again later"

/* greetings and trivial commands */
#define R_HELO            250, NULL,    "%s"
#define R_OK              250, "2.0.0", "Ok"
#define R_SENDER_OK       250, "2.1.0", "Ok"
#define R_RCPT_OK         250, "2.1.5", "Ok"
#define R_VRFY            252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery"
#define R_HELP            214, "2.0.0", "See RFC 5321; commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH ETRN"
/* ETRN (RFC 1985): start delivery of what is queued for a backup-MX domain */
#define R_ETRN_QUEUED     250, "2.0.0", "OK, queuing for node %s started"
#define R_ETRN_NONE       251, "2.0.0", "OK, no messages waiting for node %s"
#define R_ETRN_STARTED    253, "2.0.0", "OK, %u pending messages for node %s started"
#define R_ETRN_UNABLE     458, "4.4.3", "Unable to queue messages for node %s: its primary MX cannot be resolved now, try again later"
#define R_ETRN_DENIED     459, "4.7.1", "Node %s not allowed: this server is not a backup MX for it"
#define R_ETRN_NOT_PRIMARY 459, "4.7.1", "Node %s not allowed: only its primary MX may ask"
#define R_ETRN_SYNTAX     501, "5.5.4", "Syntax: ETRN domain or ETRN @domain"
#define R_READY_TLS       220, "2.0.0", "Ready to start TLS"
#define R_START_DATA      354, NULL,    "End data with <CR><LF>.<CR><LF>"
#define R_QUEUED          250, "2.0.0", "Ok: queued as %s%s"  /* ID, quota note */
#define R_CHUNK_OK        250, "2.0.0", "Ok: %llu octets received"  /* BDAT (RFC 3030) */

/* syntax and sequence */
#define R_UNKNOWN_CMD     500, "5.5.2", "Error: command not recognized"
#define R_LINE_TOO_LONG   500, "5.5.2", "Error: line too long (limit %zu octets)"
#define R_BARE_LF_CMD     500, "5.5.2", "Error: bare <LF> received, commands must end with <CR><LF>"
#define R_BARE_CR_CMD     500, "5.5.2", "Error: bare <CR> received"
#define R_NUL_CMD         500, "5.5.2", "Error: NUL character in command"
#define R_NOT_IMPL        502, "5.5.1", "Error: command not implemented"
#define R_SYNTAX          501, "5.5.4", "Syntax: %s"
#define R_NO_ARGS         501, "5.5.4", "Syntax: %s (no parameters allowed)"
#define R_BAD_SENDER      501, "5.1.7", "Bad sender address syntax"
#define R_BAD_RCPT        501, "5.1.3", "Bad recipient address syntax"
#define R_ADDR_TOO_LONG   501, "5.5.4", "Error: address too long"
#define R_BAD_PARAM       555, "5.5.4", "Unsupported option: %.*s"
#define R_NEED_HELO       503, "5.5.1", "Error: send HELO/EHLO first"
#define R_NESTED_MAIL     503, "5.5.1", "Error: nested MAIL command"
#define R_NEED_MAIL       503, "5.5.1", "Error: need MAIL command"
#define R_NEED_RCPT       503, "5.5.1", "Error: need RCPT command"
#define R_TX_IN_PROGRESS  503, "5.5.1", "Error: MAIL transaction in progress"
#define R_BDAT_SYNTAX     501, "5.5.4", "Syntax: BDAT count [LAST]; closing: the chunk cannot be skipped"
#define R_BDAT_ONLY       503, "5.5.1", "Error: %s not allowed after BDAT; send BDAT or RSET"
#define R_TLS_ACTIVE      503, "5.5.1", "Error: TLS already active"
#define R_TLS_UNAVAIL     454, "4.7.0", "TLS not available due to local problem"
#define R_NEED_SMTPUTF8   553, "5.6.7", "Error: address requires SMTPUTF8"
#define R_BAD_BODY        501, "5.5.4", "Error: BODY must be 7BIT or 8BITMIME"

/* limits */
#define R_SIZE_PARAM      552, "5.3.4", "Error: message size exceeds fixed limit of %llu bytes"
#define R_SIZE_EXCEEDED   552, "5.3.4", "Error: message size exceeds fixed limit of %llu bytes"
#define R_TOO_MANY_RCPT   452, "4.5.3", "Error: too many recipients (max %lld per message)"
#define R_DATA_BARE_LF    554, "5.5.2", "Error: bare <LF> or <CR> in message data; lines must end with <CR><LF>"
#define R_DATA_LONG_LINE  554, "5.6.0", "Error: message line longer than %lld octets"
#define R_DATA_NUL        554, "5.6.0", "Error: NUL character in message data"
#define R_TOO_MANY_HOPS   554, "5.4.6", "Error: too many hops (%u Received: header fields, limit %lld): a mail loop?"

/* SMTP AUTH (RFC 4954) and sender ownership */
#define R_AUTH_OK          235, "2.7.0", "Authentication successful"
#define R_AUTH_FAILED      535, "5.7.8", "Error: authentication failed"
#define R_AUTH_TEMP        454, "4.7.0", "Temporary authentication failure, try again later"
#define R_AUTH_NEED_TLS    538, "5.7.11", "Encryption required for requested authentication mechanism"
#define R_AUTH_BAD_MECH    504, "5.5.4", "Unrecognized authentication type"
#define R_AUTH_BAD_BASE64  501, "5.5.2", "Error: malformed authentication response (bad base64)"
#define R_AUTH_CANCELLED   501, "5.0.0", "Authentication cancelled"
#define R_AUTH_TWICE       503, "5.5.1", "Error: already authenticated"
#define R_AUTH_NOT_ENABLED 503, "5.5.1", "Error: authentication not enabled"
#define R_AUTH_BLOCKED     421, "4.7.0", "%s Error: too many failed authentication attempts, try again in %lld seconds"
#define R_SENDER_NOT_OWNED 553, "5.7.1", "<%s>: Sender address not owned by user %s"
#define R_HEADER_FROM_NOT_OWNED 550, "5.7.1", "Error: the From: header is not an address owned by user %s"
#define R_HEADER_FROM_MANY 550, "5.7.1", "Error: the message has %u From: header fields; it needs exactly one"

/* policy engine (policy/): spam, lists, checks that could not decide */
#define R_POLICY_SPAM      550, "5.7.1", "Message refused as spam (score %s), reference %s"
#define R_POLICY_BLOCKED   550, "5.7.1", "Sender refused by the recipient's policy, reference %s"
#define R_POLICY_UNSURE    451, "4.3.0", "Temporary failure of the %s check, please try again later (reference %s)"
#define R_RCPT_UNKNOWN    550, "5.1.1", "<%s>: Recipient address rejected: User unknown"
#define R_RCPT_UNVERIFIED 450, "4.1.1", "<%s>: Recipient address rejected: cannot verify the address now, try again later"
#define R_HARVEST         421, "4.7.0", "%s Error: too many unknown recipients, closing connection"
#define R_BACKSCATTER     550, "5.7.1", "Bounce refused: it refers to no message sent from here (backscatter)"
#define R_BACKSCATTER_BLOCKED 554, "5.7.1", "Bounces from %s are refused for a while: too much backscatter"
#define R_ACCOUNT_SUSPENDED 450, "4.7.1", "Error: this account is suspended for sending spam or viruses; contact your provider"
#define R_NEWSLETTER_RULE  550, "5.7.1", "Newsletter rule %s: %s"
#define R_NEWSLETTER_RECIPIENTS 452, "4.5.3", "Newsletter rule recipients: send one message per recipient (at most %lld)"
#define R_SUPPRESSED_BOUNCE 550, "5.1.1", "<%s>: suppressed for this sender after a hard bounce"
#define R_SUPPRESSED_COMPLAINT 550, "5.7.1", "<%s>: suppressed for this sender after a spam complaint"
#define R_BOUNCE_ADDRESS_UNKNOWN 550, "5.7.1", "<%s>: unknown bounce address (not made by this server)"
#define R_FILE_BLOCKED     554, "5.7.1", "Blocked file type: %s (%s)"
#define R_MIME_MALFORMED   554, "5.7.1", "Malformed MIME structure refused (%s)"
#define R_GREYLISTED      451, "4.7.1", "Greylisted, try again in %ld seconds"
#define R_POLICY_BUSY      451, "4.3.0", "Error: too busy to check the message now, please try again later"
/* sender authentication (policy/checks/check_spf.c, check_dmarc.c): RFC 7372 codes for SPF */
#define R_SPF_FAIL        550, "5.7.23", "SPF: %s does not allow %s to send mail for it (%s)"
#define R_SPF_TEMPERROR   451, "4.7.24", "SPF: temporary DNS failure checking %s, please try again later"
#define R_DMARC_REJECT    550, "5.7.1", "DMARC: %s asks to refuse mail that it has not authenticated, as this message is"
#define R_DMARC_BAD_FROM  550, "5.7.1", "Error: the message needs exactly one From: address that can be checked (%s)"

/* relaying and local problems */
#define R_RELAY_DENIED    554, "5.7.1", "<%s>: Relay access denied"
#define R_ROUTING_DENIED  550, "5.7.1", "<%s>: Relay access denied: %%, ! or @ in the local part"
#define R_AUTH_REQUIRED   530, "5.7.0", "Authentication required"
#define R_LOCAL_ERROR     451, "4.3.0", "Error: temporary local problem, please try again later"
#define R_SPOOL_FULL      452, "4.3.1", "Insufficient system storage"
#define R_BACKLOG_FULL    452, "4.3.1", "<%s>: Insufficient system storage: too much mail queued for %s, try again later"

#endif
