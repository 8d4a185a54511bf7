/*
 * smtp_parse.h - pure parsers for the SMTP command channel (RFC 5321, 1869, 6531).
 *
 * Three layers, all pure functions over bytes: no I/O, no globals, no allocation.
 *   1. smtp_line_next()   frames one command line from raw input (strict CRLF; bare LF,
 *                         bare CR and over-long lines are reported, never silently accepted).
 *   2. smtp_cmd_parse()   splits a line into a verb (from a fixed table) and its argument.
 *   3. smtp_path_parse()  parses the argument of MAIL FROM: / RCPT TO: into an address
 *                         and ESMTP parameters (quoted local parts, source routes, literals).
 * The session (relay/smtpd/smtp_session.c) calls these and decides what to reply; the parsers
 * never reply. Each has a libFuzzer target in tests/fuzz/.
 */
#ifndef POSTERN_SMTP_PARSE_H
#define POSTERN_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* ---- 1. line framing ---------------------------------------------------------------- */

enum smtp_line_status {
    SMTP_LINE_NEED_MORE,  /* no complete line yet; *consumed says how much may be dropped */
    SMTP_LINE_OK,         /* a CRLF-terminated line of *line_len bytes (CRLF excluded) */
    SMTP_LINE_TOO_LONG,   /* a line longer than max ended (or is being discarded) */
    SMTP_LINE_BARE_LF,    /* a line ended by LF without CR */
    SMTP_LINE_BARE_CR,    /* a line that contains a CR not followed by LF */
    SMTP_LINE_NUL,        /* a line that contains a NUL byte */
};

/* Resumable framing state, one per session; zero-initialise, then set max. */
struct smtp_line_reader {
    size_t max;        /* longest accepted line, CRLF excluded */
    bool discarding;   /* inside an over-long line whose bytes are being dropped */
};

/*
 * Look at buf[0..len) and report the first line. On return *consumed is the number of
 * bytes the caller must drain from its input (it may be > 0 with NEED_MORE while an
 * over-long line is being discarded, so memory stays bounded). For SMTP_LINE_OK,
 * *line_len is the line length without CRLF and the line starts at buf[0].
 * The error statuses are returned once, when the offending line has ended (its bytes are
 * all consumed), so the caller replies once per bad line and stays in sync.
 * A line may not exceed rd->max bytes; the error for an over-long line is TOO_LONG.
 * When a line has several faults the first of TOO_LONG, BARE_LF, BARE_CR, NUL wins.
 * For BARE_LF, BARE_CR and NUL, *line_len is set as for OK (for logging); for TOO_LONG
 * and NEED_MORE it is 0. Once discarding, every byte seen is consumed; otherwise at most
 * rd->max + 1 bytes are left undrained, so the caller's buffer needs rd->max + 2 bytes.
 * The caller must drain exactly *consumed bytes before the next call.
 */
enum smtp_line_status smtp_line_next(struct smtp_line_reader *rd, const char *buf, size_t len,
                                     size_t *line_len, size_t *consumed);

/* ---- 2. commands -------------------------------------------------------------------- */

enum smtp_verb {
    SMTP_VERB_UNKNOWN = 0,
    SMTP_VERB_HELO, SMTP_VERB_EHLO, SMTP_VERB_MAIL, SMTP_VERB_RCPT, SMTP_VERB_DATA,
    SMTP_VERB_BDAT, SMTP_VERB_RSET, SMTP_VERB_NOOP, SMTP_VERB_QUIT, SMTP_VERB_VRFY,
    SMTP_VERB_EXPN, SMTP_VERB_HELP, SMTP_VERB_STARTTLS, SMTP_VERB_AUTH, SMTP_VERB_ETRN,
    SMTP_VERB_COUNT
};

struct smtp_cmd {
    enum smtp_verb verb;
    const char *arg;   /* points into the line, after the verb and one or more spaces; */
    size_t arg_len;    /* trailing spaces removed; arg_len 0 when there is no argument */
};

/* Case-insensitive verb lookup. Returns 0, or -1 when the line is empty, the verb is not
 * in the table, or it is not followed by a space or the end of the line ("MAILFROM:<a>");
 * on -1 the verb is SMTP_VERB_UNKNOWN and arg is the line start with arg_len 0.
 * "MAIL FROM:<a>" gives verb MAIL with arg "FROM:<a>". */
int smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *out);

/* Upper-case name of a verb ("MAIL"), for logs; "UNKNOWN" for SMTP_VERB_UNKNOWN. */
const char *smtp_verb_name(enum smtp_verb verb);

/* ---- 3. paths and ESMTP parameters -------------------------------------------------- */

#define SMTP_LOCAL_MAX   64     /* RFC 5321 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX  255    /* RFC 5321 4.5.3.1.2 */
#define SMTP_ADDR_MAX    (SMTP_LOCAL_MAX * 2 + 2 + 1 + SMTP_DOMAIN_MAX + 1) /* quoted + @ + NUL */
#define SMTP_PARAMS_MAX  16

struct smtp_addr {
    bool null_path;                  /* "<>" (only valid for MAIL FROM) */
    bool utf8;                       /* contains non-ASCII (needs SMTPUTF8) */
    bool literal;                    /* domain is an address literal [..] */
    char addr[SMTP_ADDR_MAX];        /* canonical "local@domain" as it must be sent on:
                                        local part as given (quoted only when RFC 5321
                                        requires it), domain lower-cased; "" for <> */
    char local[SMTP_LOCAL_MAX * 2 + 3]; /* local part, unquoted form (quotes and \-escapes
                                        removed), case preserved */
    char domain[SMTP_DOMAIN_MAX + 1];  /* lower-cased domain or literal with brackets;
                                        "" for <> and for a bare <postmaster> */
};

struct smtp_param {
    const char *key;   size_t key_len;    /* e.g. "SIZE"; points into the argument */
    const char *value; size_t value_len;  /* NULL/0 when the parameter has no "=" */
};

struct smtp_path_args {
    struct smtp_addr path;
    struct smtp_param params[SMTP_PARAMS_MAX];
    size_t nparams;
};

enum smtp_path_status {
    SMTP_PATH_OK,
    SMTP_PATH_BAD_PREFIX,   /* argument does not start with FROM: / TO: (501 5.5.4) */
    SMTP_PATH_BAD_SYNTAX,   /* not a valid <path> (501 5.1.7 sender / 501 5.1.3 rcpt) */
    SMTP_PATH_TOO_LONG,     /* local part or domain over the RFC limits (501 5.5.4 / 553) */
    SMTP_PATH_BAD_PARAM,    /* malformed esmtp-param list or more than SMTP_PARAMS_MAX */
    SMTP_PATH_NULL_NOT_ALLOWED, /* "<>" given where null is not allowed (RCPT) */
};

/*
 * Parse "FROM:<path> params..." (is_rcpt false) or "TO:<path> params..." (is_rcpt true).
 * The prefix is case-insensitive; spaces between ':' and '<' are tolerated; the path must
 * be in angle brackets. A source route "<@a,@b:user@c>" is accepted and dropped (RFC 5321
 * section 3.3 / appendix C). "<postmaster>" (any case) is accepted for RCPT with an empty
 * domain. Parameters are "key[=value]" separated by spaces (RFC 5321 4.1.2 esmtp-param).
 * Control characters and unbalanced quotes are syntax errors. Non-ASCII UTF-8 sets
 * out->path.utf8 (the caller decides whether SMTPUTF8 was requested).
 * The local-part limit applies to its unquoted form. An IPv6 literal is canonicalised to
 * "[IPv6:" + lower-case text + "]"; IPv4 and general literals are kept as given.
 * Anything but SP right after ">" is BAD_SYNTAX; a bad parameter list is BAD_PARAM.
 * On any status but OK the contents of *out are unspecified.
 */
enum smtp_path_status smtp_path_parse(const char *arg, size_t len, bool is_rcpt,
                                      struct smtp_path_args *out);

/* Find a parameter by case-insensitive key; NULL when absent. */
const struct smtp_param *smtp_param_find(const struct smtp_path_args *a, const char *key);

/* Parse a decimal SIZE value (RFC 1870): digits only, 1 to 20 of them; returns 0 on
 * success with *out set (a value above ULLONG_MAX saturates to ULLONG_MAX), -1 otherwise
 * (no parameter, no value, a non-digit, or more than 20 digits). */
int smtp_param_size(const struct smtp_param *p, unsigned long long *out);

/* True if s[0..len) is a syntactically valid domain name or address literal for HELO/EHLO
 * (ASCII letters, digits, hyphens, dots, with one optional trailing dot; or [IPv4] /
 * [IPv6:...] / a general literal), at most SMTP_DOMAIN_MAX bytes; used for HELO checks. */
bool smtp_helo_valid(const char *s, size_t len);

#endif
