/*
 * mime.h - a streaming MIME parser: message bytes in, part events out.
 *
 * Pure (no I/O, no globals, no allocation after mime_new): the caller feeds the message
 * in pieces of any size, cut anywhere (a CR LF may be split between two feeds), and calls
 * mime_end() after the last piece. The parser calls back, in message order:
 *
 *   part_begin(p)       once the header of a part is read (containers included: the
 *                       top-level message, multiparts, message/rfc822 parts, and the
 *                       uuencoded files found inside a text part);
 *   part_data(p, b, n)  the decoded bytes of a leaf part (base64, quoted-printable,
 *                       uuencode decoded; 7bit/8bit/binary as is), in pieces;
 *   part_end(p)         after the last byte; p->head holds the first decoded bytes and
 *                       p->size the decoded length.
 *
 * `p` is borrowed for the duration of the callback. Text parts keep their charset: a
 * spam classifier reads p->type ("text/plain", "text/html"), mime_subtype(p) and
 * p->charset (convert with content/charset.h when it wants UTF-8); a file-type check reads
 * p->filename / p->name (decoded to UTF-8: RFC 2047 and RFC 2231, continued or not),
 * p->type and p->head.
 *
 * Bounded memory regardless of input: header fields, header size, nesting depth and part
 * count are capped. Malformed input never stops the parser and never hides a part; it
 * sets MIME_F_* flags (mime_flags(), and per part in p->flags) that a policy check turns
 * into the MIME_MALFORMED symbol. Used by policy/checks/check_filetype.c, the virus and
 * spam checks, and `posternctl mime`.
 */
#ifndef POSTERN_CONTENT_MIME_H
#define POSTERN_CONTENT_MIME_H

#include <stdbool.h>
#include <stddef.h>

/* Malformations (bits of mime_flags() and of mime_part.flags). */
#define MIME_F_NO_CLOSE_BOUNDARY  0x0001u /* a multipart ended without its "--b--" */
#define MIME_F_HEADER_NO_COLON    0x0002u /* a header line that is no field (ends header) */
#define MIME_F_HEADER_8BIT        0x0004u /* a byte >= 0x80 in a header */
#define MIME_F_BOUNDARY_IN_HEADER 0x0008u /* a boundary line before a part's empty line */
#define MIME_F_LONG_LINE          0x0010u /* a line over 998 bytes */
#define MIME_F_BAD_BASE64         0x0020u /* bytes outside base64, or a cut quantum */
#define MIME_F_BAD_QP             0x0040u /* "=" not followed by two hex digits */
#define MIME_F_HEADER_TOO_LONG    0x0080u /* a Content-* field or a header over its cap */
#define MIME_F_DEPTH              0x0100u /* nesting deeper than the limit (kept as a leaf) */
#define MIME_F_TOO_MANY_PARTS     0x0200u /* more parts than the limit (no events after) */
#define MIME_F_NO_BOUNDARY        0x0400u /* multipart without a usable boundary (leaf) */
#define MIME_F_BAD_ENCODING       0x0800u /* unknown Content-Transfer-Encoding, or an
                                             encoded multipart / message */
#define MIME_F_BAD_UUENCODE       0x1000u /* uuencoded file without its "end" line */
#define MIME_F_BAD_HEADER_VALUE   0x2000u /* Content-Type without "/", a bad parameter or
                                             encoded word, a duplicate Content-* field */
#define MIME_F_BOUNDARY_JUNK      0x4000u /* text after a boundary on its line */

enum mime_encoding {
    MIME_ENC_7BIT, MIME_ENC_8BIT, MIME_ENC_BINARY, MIME_ENC_BASE64, MIME_ENC_QP,
    MIME_ENC_UUENCODE, MIME_ENC_UNKNOWN
};

enum mime_kind {
    MIME_KIND_LEAF,       /* has decoded bytes */
    MIME_KIND_MULTIPART,  /* children follow */
    MIME_KIND_MESSAGE,    /* message/rfc822: one child (the enclosed message) follows */
};

#define MIME_TYPE_MAX     128   /* "type/subtype", lower case */
#define MIME_CHARSET_MAX  48
#define MIME_NAME_MAX     256   /* decoded file name, UTF-8, bounded */
#define MIME_HEAD_MAX     512   /* first decoded bytes kept for file-type detection */

struct mime_part {
    unsigned id;                    /* 0 = the message, then 1, 2, ... in order */
    unsigned parent;                /* id of the enclosing part (0 for the message itself) */
    unsigned depth;                 /* 0 = the message */
    enum mime_kind kind;
    enum mime_encoding encoding;
    bool encoding_declared;         /* a Content-Transfer-Encoding field was there */
    char type[MIME_TYPE_MAX];       /* declared type, or the default (text/plain,
                                       message/rfc822 in a digest, application/octet-stream
                                       for a uuencoded file) */
    bool type_declared;             /* a Content-Type field was there */
    char charset[MIME_CHARSET_MAX]; /* lower case; "" when none */
    char filename[MIME_NAME_MAX];   /* Content-Disposition filename (or uuencode name) */
    char name[MIME_NAME_MAX];       /* Content-Type name */
    bool attachment;                /* Content-Disposition: attachment */
    bool uuencoded;                 /* a "begin" file inside a text part */
    unsigned flags;                 /* MIME_F_* seen in this part */
    /* Where the part is in the input, as byte offsets from the first byte fed: its header
     * begins at off_begin (after the boundary line that opens it; a uuencoded file: its
     * "begin" line), its body at off_body (after the empty line), and it ends at off_end
     * (set at part_end: before the line end that belongs to the next boundary, after the
     * "end" line of a uuencoded file, or the end of the input). A multipart's range holds
     * its preamble, children and epilogue. For rewriting a message (content/wrap.c). */
    unsigned long long off_begin, off_body, off_end;
    /* at part_end (growing during part_data): */
    unsigned long long size;        /* decoded bytes */
    unsigned char head[MIME_HEAD_MAX];
    size_t head_len;
};

/* What comes after the '/' of p->type ("plain", "html"). */
const char *mime_subtype(const struct mime_part *p);
/* The part's file name: filename, else name, else "". */
const char *mime_part_filename(const struct mime_part *p);

struct mime_callbacks {
    void (*part_begin)(void *arg, const struct mime_part *p);                    /* optional */
    void (*part_data)(void *arg, const struct mime_part *p, const unsigned char *data,
                      size_t len);                                                /* optional */
    void (*part_end)(void *arg, const struct mime_part *p);                      /* optional */
    /* Each header field of a reported part, before its part_begin: the name as written,
     * the value unfolded (the line ends of folds removed, nothing else), both bounded
     * (a value is cut at 8 KiB; fields past max_header are not reported). Optional: a
     * parser without it keeps only the Content-* fields. */
    void (*header_field)(void *arg, const struct mime_part *p, const char *name,
                         size_t name_len, const char *value, size_t value_len);
};

struct mime_limits {
    unsigned max_depth;        /* nesting (default 20, at most MIME_DEPTH_HARD) */
    unsigned max_parts;        /* parts reported (default 1000) */
    size_t max_header;         /* bytes of one part's header (default 256 KiB) */
};
#define MIME_DEPTH_HARD 60

struct mime_parser;

/* A parser; lim NULL for the defaults. cb is copied; arg is passed to each callback.
 * Never NULL (aborts when out of memory, like xalloc). Free with mime_free. */
struct mime_parser *mime_new(const struct mime_limits *lim, const struct mime_callbacks *cb,
                             void *arg);
void mime_free(struct mime_parser *m);

/* Feed the next len bytes. Callbacks run inside. */
void mime_feed(struct mime_parser *m, const void *data, size_t len);
/* The message is over: closes what is open (flagging what was not closed). Idempotent. */
void mime_end(struct mime_parser *m);

/* MIME_F_* of the whole message so far. */
unsigned mime_flags(const struct mime_parser *m);
/* Parts seen (including those over the limit). */
unsigned mime_part_count(const struct mime_parser *m);

/* "missing closing boundary" ... for the lowest flag set in flags; "" for 0. Every set
 * flag: call with flags & ~lower ones. */
const char *mime_flag_name(unsigned flag);

#endif
