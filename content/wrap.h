/*
 * wrap.h - the "wrap" action: a new message to the recipient that warns about what was
 * found, with the original attached as message/rfc822 and its dangerous parts replaced
 * by a notice. Pure: bytes in, bytes out; no I/O, no globals.
 *
 * Which parts are dangerous is decided here, conservatively, from the message alone (the
 * policy record names what was found, not where), on the parts content/mime.h finds (the
 * parser of the file-type and virus checks, so both see the same parts): every
 * attachment, that is every leaf part that is not text/plain or text/html, or that has a
 * file name (RFC 2231 and RFC 2047 names decoded), every uuencoded file inside a text
 * part, and every part of a type named in the MIME filter (message/partial,
 * message/external-body). When the reason is a virus, text parts go too (a scanner finds
 * EICAR in a plain body). Multiparts and message/rfc822 parts (nested up to
 * WRAP_DEPTH_MAX) are walked, with their preambles, boundaries, epilogues and headers
 * kept byte for byte; a removed part keeps its non-Content-* header fields and becomes
 * "text/plain" with the notice
 *   [Postern removed this part: NAME (TYPE)]
 * (a uuencoded file: that line in place of its begin..end lines). Deeper nesting, a
 * multipart without a boundary or without any delimiter line: that whole entity is
 * removed.
 * Used by relay/queue/queue_policy.c for recipients whose record says wrap.
 */
#ifndef POSTERN_CONTENT_WRAP_H
#define POSTERN_CONTENT_WRAP_H

#include <stdbool.h>
#include <stddef.h>

#define WRAP_DEPTH_MAX 20

struct wrap_params {
    const char *reason;      /* what was found: "virus Eicar-Signature", "blocked file
                                x.scr"; printable ASCII is kept, the rest becomes '?' */
    bool virus;              /* text parts are removed too */
    const char *hostname;    /* From: postmaster@hostname, Message-ID */
    const char *rcpt;        /* To: */
    const char *qid;         /* named in the text and the Message-ID */
    long long date;          /* unix time of the Date: field */
};

/*
 * The wrapped message for msg[0..len) (wire form, CRLF). malloc'd; *out_len its length;
 * *removed (may be NULL) the number of parts replaced by a notice. Subject is the
 * original's with "[WARNING] " in front ("[WARNING] dangerous content removed" when it
 * had none).
 */
char *wrap_message(const char *msg, size_t len, const struct wrap_params *p, size_t *out_len,
                   unsigned *removed);

#endif
