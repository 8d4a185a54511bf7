/*
 * mime_header.h - the values of MIME header fields: Content-Type and Content-Disposition
 * parameters (RFC 2045, RFC 2231 charset, language and continuations), RFC 2047 encoded
 * words. Pure string functions with bounded outputs, used by content/mime.c and by the
 * unit tests directly.
 */
#ifndef POSTERN_CONTENT_MIME_HEADER_H
#define POSTERN_CONTENT_MIME_HEADER_H

#include <stdbool.h>
#include <stddef.h>

/* The first token of a field value ("Attachment; filename=..." -> "attachment"), lower
 * case, into out (NUL-terminated). For Content-Type it is "type/subtype" (false when
 * there is no '/' or a part of it is empty). */
bool mime_hdr_type(const char *value, char *out, size_t out_size);
void mime_hdr_token(const char *value, char *out, size_t out_size);

/* Parameter pname (case-insensitive) of a Content-Type / Content-Disposition value, into
 * out (NUL-terminated). decode: the value is a name to show: RFC 2231 (name*, name*0,
 * name*0*, ...) and RFC 2047 encoded words are decoded and the result is UTF-8; else the
 * raw value (boundary, charset). RFC 2231 sections win over a plain value. Returns true
 * when the parameter is there. *flags gets MIME_F_BAD_HEADER_VALUE for a duplicate or
 * undecodable value. */
bool mime_hdr_param(const char *value, const char *pname, bool decode, char *out,
                    size_t out_size, unsigned *flags);

/* RFC 2047: decode the encoded words of in[0..len) into UTF-8 out (NUL-terminated,
 * bounded); white space between two encoded words is dropped, other text is copied (bytes
 * that are not UTF-8 become '?'). Returns the length written. */
size_t mime_decode_words(const char *in, size_t len, char *out, size_t out_size,
                         unsigned *flags);

#endif
