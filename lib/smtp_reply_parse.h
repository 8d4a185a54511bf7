/*
 * smtp_reply_parse.h - pure parser of SMTP/LMTP server replies (RFC 5321 4.2, RFC 3463,
 * RFC 2034) and of the EHLO/LHLO keyword list (RFC 1869, 1870, 2920, 3207, 4954, 6152,
 * 6531, 3030).
 *
 * The outbound client (relay/deliver/smtp_client.c) hands it the bytes it has received; the parser
 * frames one complete reply (all "250-..." lines up to the "250 ..." one), checks it, and
 * points into the caller's buffer for the text of each line. It does no I/O, keeps no
 * state between calls, allocates nothing and never reads past len, so it is safe on any
 * thread and is fuzzed by tests/fuzz/fuzz_smtp_reply.c.
 *
 * Framing is bounded: a line longer than limits->line_max or a reply with more than
 * limits->lines_max lines is an error as soon as the excess is visible, so the caller never
 * needs to buffer more than lines_max * (line_max + 2) bytes to get an answer.
 * Line ends: CRLF, and, like Postfix's client, a bare LF (a CR before it is removed). There
 * is no smuggling risk in replies, and refusing a sloppy server's replies helps nobody.
 */
#ifndef POSTERN_SMTP_REPLY_PARSE_H
#define POSTERN_SMTP_REPLY_PARSE_H

#include <stddef.h>

#define SMTP_REPLY_LINES_CAP 256  /* hard cap on lines per reply, whatever the limits say */
#define SMTP_ENHANCED_MAX    12   /* "5.123.456" and its NUL */

struct smtp_reply_limits {
    size_t line_max;      /* longest accepted line, line end excluded (RFC 5321: 510) */
    size_t lines_max;     /* most lines in one reply, 1..SMTP_REPLY_LINES_CAP */
};

enum smtp_reply_status {
    SMTP_REPLY_NEED_MORE,       /* no complete reply yet, and nothing wrong so far */
    SMTP_REPLY_OK,              /* one complete reply in *out; *consumed bytes used */
    SMTP_REPLY_SYNTAX,          /* a line without a valid code, mixed codes, a NUL byte */
    SMTP_REPLY_TOO_LONG,        /* a line longer than limits->line_max */
    SMTP_REPLY_TOO_MANY_LINES,  /* more than limits->lines_max lines */
};

struct smtp_reply_line {
    const char *text;     /* after "NNN-" / "NNN " (points into the caller's buffer) */
    size_t len;           /* line end excluded; 0 for a bare "250" */
};

struct smtp_reply {
    int code;                          /* 200..599 */
    char enhanced[SMTP_ENHANCED_MAX];  /* "2.1.5" at the start of the first line, or "" */
    size_t nlines;                     /* 1..lines_max */
    struct smtp_reply_line lines[SMTP_REPLY_LINES_CAP];
};

/*
 * Frame and check the first reply in buf[0..len). On SMTP_REPLY_OK, *out describes it
 * (its line pointers stay valid while buf does) and *consumed is the number of bytes it
 * took, line end of the last line included; other statuses set *consumed to 0. The error
 * statuses mean the reply stream cannot be trusted any more: the caller should close.
 * A code is three digits, the first 2..5 and the second 0..5, followed by '-' (more lines
 * follow), ' ' or the line end (last line); every line of a reply has the same code.
 */
enum smtp_reply_status smtp_reply_parse(const char *buf, size_t len,
                                        const struct smtp_reply_limits *limits,
                                        struct smtp_reply *out, size_t *consumed);

/*
 * Write the reply's text for logs and delivery reports into dst (cap >= 1 bytes, always
 * NUL-terminated, cut when it does not fit): the lines joined by one space, each line's
 * leading enhanced code removed when it equals r->enhanced, and every byte outside
 * printable ASCII replaced by '?'. Returns the length written.
 */
size_t smtp_reply_text(const struct smtp_reply *r, char *dst, size_t cap);

/* ---- EHLO / LHLO keywords ------------------------------------------------------------ */

#define SMTP_EXT_PIPELINING  0x001u   /* RFC 2920 */
#define SMTP_EXT_SIZE        0x002u   /* RFC 1870; the limit is in size_max */
#define SMTP_EXT_8BITMIME    0x004u   /* RFC 6152 */
#define SMTP_EXT_STARTTLS    0x008u   /* RFC 3207 */
#define SMTP_EXT_AUTH        0x010u   /* RFC 4954; the mechanisms are in auth */
#define SMTP_EXT_SMTPUTF8    0x020u   /* RFC 6531 */
#define SMTP_EXT_CHUNKING    0x040u   /* RFC 3030 */
#define SMTP_EXT_ENHANCED    0x080u   /* ENHANCEDSTATUSCODES, RFC 2034 */
#define SMTP_EXT_DSN         0x100u   /* RFC 3461 */

#define SMTP_AUTH_PLAIN      0x1u
#define SMTP_AUTH_LOGIN      0x2u
#define SMTP_AUTH_OTHER      0x4u     /* any mechanism the client does not speak */

struct smtp_ehlo {
    unsigned ext;                 /* SMTP_EXT_* */
    unsigned long long size_max;  /* SIZE's value; 0 when absent, 0, or not a number */
    unsigned auth;                /* SMTP_AUTH_* of every AUTH (and old "AUTH=") line */
};

/*
 * Read the keywords of a 2xx EHLO/LHLO reply (the first line is the server's greeting and
 * is skipped). Keywords are case-insensitive and must match whole; unknown ones are
 * ignored. Any other reply code yields an empty *out.
 */
void smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *out);

#endif
