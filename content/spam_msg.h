/*
 * spam_msg.h - what the spam tokenizer and rules read of a message: its top-level header
 * fields and its parts, decoded (base64, quoted-printable, uuencode, charsets to UTF-8).
 *
 * A view of content/mime.h (the streaming MIME parser every content check uses) shaped
 * for the tokenizer and the bulk detector; header values are decoded with
 * content/mime_header.h. Pure: bytes in, callbacks out; no I/O, no globals. Limits:
 * nesting depth 8, 64 parts, 4 MiB of decoded text in all (the rest is not looked at).
 */
#ifndef POSTERN_CONTENT_SPAM_MSG_H
#define POSTERN_CONTENT_SPAM_MSG_H

#include <stdbool.h>
#include <stddef.h>

#define SPAM_MSG_DEPTH_MAX  8
#define SPAM_MSG_PARTS_MAX  64
#define SPAM_MSG_TEXT_MAX   (4u << 20)

struct spam_part {
    char ctype[128];       /* lower case "text/plain"; "text/plain" when absent */
    char charset[48];      /* lower case, "" when absent */
    char cte[24];          /* Content-Transfer-Encoding ("base64", "quoted-printable", "7bit",
                              "8bit", "binary", "x-uuencode", "unknown"), "" when absent */
    char filename[256];    /* attachment name (filename= or name=), "" when none */
    bool attachment;       /* Content-Disposition: attachment */
    bool multipart;        /* a multipart container (data is NULL) */
    bool bad_charset;      /* declared charset does not fit the bytes (8-bit in us-ascii or
                              without a charset, invalid UTF-8 in utf-8) */
    int depth;             /* 0: the message itself */
    const char *data;      /* text/ parts (not attached files of other text types):
                              decoded, converted to UTF-8 from their declared charset
                              (8-bit bytes without one kept as they are); others NULL */
    size_t len;            /* decoded length (also for non-text leaves) */
};

struct spam_msg_cb {
    /* each top-level header field, value unfolded (CR/LF removed, tabs as spaces), trimmed
     * and NUL-terminated (value[vlen] == '\0') */
    void (*header)(void *arg, const char *name, size_t nlen, const char *value, size_t vlen);
    /* each part, in order, containers first (multiparts, message/rfc822), then leaves;
     * a uuencoded file inside a text part comes before that part, as an attachment */
    void (*part)(void *arg, const struct spam_part *p);
    void *arg;
};

/* Walk msg (len bytes, CRLF or LF lines). */
void spam_msg_walk(const char *msg, size_t len, const struct spam_msg_cb *cb);

#endif
