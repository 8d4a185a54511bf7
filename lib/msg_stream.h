/*
 * msg_stream.h - what Postern learns from, and changes in, a message while it streams to
 * the spool (RFC 5322 header fields, RFC 5321 4.5.3.1.6 line length).
 *
 * The DATA phase (relay/smtpd/smtp_data.c) feeds the scanner's output (lib/data_scan.h:
 * dot-unstuffed, CR LF line ends) through msg_stream_feed() and gets the bytes to spool
 * back through a callback, in order, in one pass, without keeping the message. On the way:
 *   - it counts the header fields Received, From, Message-ID and Date (a name followed by
 *     optional spaces and a colon, case-insensitive) and keeps the From value fully
 *     unfolded (bounded by MSG_FROM_MAX), for the hop-count limit and the From: ownership
 *     check;
 *   - it notes whether the header holds 8-bit bytes (then delivery needs SMTPUTF8);
 *   - lines longer than MSG_LINE_MAX octets (CR LF excluded) are flagged and, when asked,
 *     made to fit: a header line is folded (CR LF inserted before its last space or tab
 *     that fits, else CR LF SP inserted), a body line is broken (CR LF inserted);
 *   - Message-ID and Date fields are inserted at the end of the header when they are
 *     missing and a value was given;
 *   - when asked, an empty line is inserted where the header ends at a line that is not a
 *     header field, so that every reader sees the header end where we did.
 * The header ends at the first empty line, at the first line that is neither a field
 * ("name:" with printable ASCII name) nor a continuation (starts with SP or HTAB), or at
 * the end of the data. A message that needs no change comes out byte for byte as it went
 * in. Pure: no I/O, no allocation, no globals; resumable across feeds split at any byte.
 * Other input (bare CR or LF, from a client whose message will be refused) is passed on
 * and never crashes it; only CR LF ends a line for the length limit.
 */
#ifndef POSTERN_MSG_STREAM_H
#define POSTERN_MSG_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#define MSG_LINE_MAX 998    /* RFC 5321 4.5.3.1.6: text line, CR LF excluded */
#define MSG_FROM_MAX 2048   /* unfolded From: value kept for the ownership check */

/* Receives output bytes, in order. data is valid only during the call. */
typedef void (*msg_stream_out_fn)(void *arg, const char *data, size_t len);

struct msg_stream_opts {
    bool break_long_lines;     /* fold/break lines over MSG_LINE_MAX (else only flag them) */
    bool seal_header;          /* empty line after a header that ends at a non-field line */
    const char *message_id;    /* "<id@host>": inserted as Message-ID when missing; NULL: not */
    const char *date;          /* RFC 5322 date: inserted as Date when missing; NULL: not */
};

struct msg_stream {
    /* results, read by the caller */
    unsigned received, from, message_id, date;  /* header fields seen, by name */
    bool header_8bit;          /* a byte >= 0x80 in the header */
    bool header_ended;         /* the end of the header was seen (msg_stream_finish sets it) */
    char from_value[MSG_FROM_MAX];  /* the first From: value, unfolded (CR LF removed) */
    size_t from_len;
    bool from_cut;             /* it was longer than MSG_FROM_MAX: from_value is partial */
    unsigned long long long_lines;  /* input lines over MSG_LINE_MAX */
    unsigned long long breaks;      /* line breaks inserted to make them fit */
    bool added_message_id, added_date;
    unsigned long long out_total;   /* bytes passed to the callback */
    /* private */
    struct msg_stream_opts opts;
    msg_stream_out_fn out;
    void *out_arg;
    bool in_body;
    int field;                 /* header field the current line belongs to (see .c) */
    bool line_first;           /* header: line[] holds the start of its input line */
    bool line_long;            /* the current input line was counted in long_lines */
    size_t line_len;           /* header: bytes in line[]; body: bytes of the line so far */
    char line[MSG_LINE_MAX + 2];
};

/* Start a message. opts is copied; the strings it points to are borrowed until
 * msg_stream_finish() returns. */
void msg_stream_init(struct msg_stream *m, const struct msg_stream_opts *opts,
                     msg_stream_out_fn out, void *out_arg);

/* Feed in[0..len): the message data, in order. Calls out zero or more times. */
void msg_stream_feed(struct msg_stream *m, const char *in, size_t len);

/* The data has ended: flush what is held back, insert what is missing if the header did
 * not end before. Call once; nothing may be fed afterwards. */
void msg_stream_finish(struct msg_stream *m);

#endif
