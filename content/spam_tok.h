/*
 * spam_tok.h - one pass over a message for the spam code: the classifier's features
 * (tokens and orthogonal sparse bigrams, hashed to 64 bits) and the facts the rules read.
 *
 * What is looked at: decoded text parts (HTML reduced to its text; hidden text, link
 * targets, image sources and tag names as their own tokens), the Subject, From/To/Reply-To
 * display names and domains, the shape of the Received chain, X-Mailer/User-Agent,
 * Content-Type, the Message-ID's domain and shape, header names, URL hosts, attachment
 * names and types, and shape features (caps ratio, HTML-only, image-only, base64 text).
 * Pure: bytes in, features and facts out (spam_msg.h takes the message apart).
 */
#ifndef POSTERN_CONTENT_SPAM_TOK_H
#define POSTERN_CONTENT_SPAM_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPAM_FEATURES_MAX 30000   /* per message; the rest is not looked at */
#define SPAM_OSB_WINDOW   4       /* a word is paired with the 4 words before it */

/* The features of one message: sorted, unique, never 0. */
struct spam_features {
    uint64_t *v;
    size_t n, cap;
};

/* What the rules read (spam_rules.h). */
struct spam_facts {
    bool has_date, date_ok;
    bool has_msgid, msgid_ok;
    bool has_from, from_ok;
    bool has_subject;
    bool subject_caps;            /* >= 10 letters, all upper case */
    bool forged_outlook;          /* X-Mailer says Outlook, no X-MimeOLE / Thread-Index */
    bool forged_oe;               /* Outlook Express without X-MimeOLE */
    bool gtube;
    bool base64_text;             /* a text/plain part sent as base64 */
    bool charset_mismatch;        /* 8-bit bytes in us-ascii, invalid UTF-8 in utf-8, or
                                     a header charset that is not the body's */
    int text_parts, html_parts, image_parts, attach_parts;
    size_t plain_chars;           /* letters in text/plain parts */
    size_t html_chars;            /* letters of the text of HTML parts */
    int html_images;              /* <img> tags */
    int links;                    /* URLs seen */
    int link_mismatch;            /* <a> whose text shows one host and points to another */
    int shortener_links;          /* URLs on a known shortener */
    int received;                 /* Received: fields */
    size_t upper, letters;        /* in visible text */
};

/* Analyze msg (len bytes): features into f (which keeps its buffer between calls; start it
 * zeroed, free with spam_features_free), facts into facts (may be NULL). */
void spam_analyze(const char *msg, size_t len, struct spam_features *f,
                  struct spam_facts *facts);

void spam_features_free(struct spam_features *f);

/* 64-bit hash of a byte string (for tests and tools). */
uint64_t spam_hash(const void *p, size_t n, uint64_t seed);

#endif
