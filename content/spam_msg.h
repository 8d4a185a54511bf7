/*
 * spam_msg.h - what the spam tokenizer and rules read of a message: its top-level header
 * fields and its parts, decoded (base64, quoted-printable, charsets to UTF-8).
 *
 * This is the one place that knows how a message is taken apart for the spam code, so
 * that the MIME parser behind it can change without touching the tokenizer or the rules.
 * Pure: bytes in, callbacks out; no I/O, no globals. Limits: nesting depth 8, 64 parts,
 * 4 MiB of decoded text in all (the rest is not looked at).
 */
#ifndef POSTERN_CONTENT_SPAM_MSG_H
#define POSTERN_CONTENT_SPAM_MSG_H

#include <stdbool.h>
#include <stddef.h>

#define SPAM_MSG_DEPTH_MAX  8
#define SPAM_MSG_PARTS_MAX  64
#define SPAM_MSG_TEXT_MAX   (4u << 20)

struct spam_part {
    char ctype[64];        /* lower case "text/plain"; "text/plain" when absent */
    char charset[32];      /* lower case, "" when absent */
    char cte[24];          /* lower case Content-Transfer-Encoding, "" when absent */
    char filename[128];    /* attachment name (filename= or name=), "" when none */
    char boundary[80];     /* multipart: its boundary; else "" */
    bool attachment;       /* Content-Disposition: attachment */
    bool multipart;        /* a multipart container (data is NULL) */
    bool bad_charset;      /* declared charset does not fit the bytes (8-bit in us-ascii,
                              invalid UTF-8 in utf-8) */
    int depth;             /* 0: the message itself */
    const char *data;      /* text/ parts: decoded to UTF-8 (latin-1/cp1252 converted,
                              others kept as bytes); other leaves: NULL */
    size_t len;            /* decoded length (also for non-text leaves) */
};

struct spam_msg_cb {
    /* each top-level header field, value unfolded (CR/LF removed) and trimmed */
    void (*header)(void *arg, const char *name, size_t nlen, const char *value, size_t vlen);
    /* each part, in order, containers first */
    void (*part)(void *arg, const struct spam_part *p);
    void *arg;
};

/* Walk msg (len bytes, CRLF or LF lines). */
void spam_msg_walk(const char *msg, size_t len, const struct spam_msg_cb *cb);

/* Decode RFC 2047 encoded words of a header value into out (UTF-8 for latin-1/cp1252/utf-8,
 * bytes otherwise); returns the length written (at most outlen - 1, NUL terminated). */
size_t spam_hdr_decode(const char *in, size_t inlen, char *out, size_t outlen);

/* Header parameter param (lower case) of a Content-Type-like value, lower-cased into out
 * when lower; returns true when found. */
bool spam_hdr_param(const char *v, size_t vlen, const char *param, char *out, size_t outlen,
                    bool lower);

#endif
