/*
 * charset.h - bounded conversion of text in a named charset to UTF-8 (iconv).
 *
 * Used by content/mime_header.c for RFC 2047 and RFC 2231 file names, and by the checks
 * that want a text part in UTF-8. Pure apart from iconv's own state, which is opened and
 * closed inside each call.
 */
#ifndef POSTERN_CONTENT_CHARSET_H
#define POSTERN_CONTENT_CHARSET_H

#include <stdbool.h>
#include <stddef.h>

/* Convert in[0..len) from charset cs (NULL or "" = us-ascii) into out (out_size > 0),
 * always NUL-terminated, truncated at a character boundary when it does not fit. Bytes
 * that cannot be converted (unknown charset, invalid sequence) become '?'. Returns the
 * length written (without the NUL); *lossy (may be NULL) is set when something was
 * replaced or cut. */
size_t charset_to_utf8(const char *cs, const char *in, size_t len, char *out, size_t out_size,
                       bool *lossy);

#endif
