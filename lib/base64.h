/*
 * base64.h - strict RFC 4648 (section 4) base64, into caller buffers.
 *
 * Used by relay/ for SMTP AUTH (RFC 4954): client responses are decoded before they go to
 * auth/, server challenges are encoded for the 334 replies. The decoder is strict where
 * OpenSSL's EVP_DecodeBlock is lax: it refuses characters outside the alphabet (including
 * whitespace and line breaks), input whose length is not a multiple of 4, padding anywhere
 * but at the end, and non-canonical encodings (bits set after the last byte, RFC 4648
 * 3.5). Empty input decodes to zero bytes. Pure functions: no allocation, no globals,
 * safe on any thread.
 */
#ifndef POSTERN_BASE64_H
#define POSTERN_BASE64_H

#include <stddef.h>

enum base64_status {
    BASE64_OK = 0,
    BASE64_ERR_CHAR,      /* a byte outside the alphabet (or '=' before the end) */
    BASE64_ERR_LENGTH,    /* input length not a multiple of 4 */
    BASE64_ERR_PAD,       /* bad padding: "===", "=" then data, or non-zero spare bits */
    BASE64_ERR_SPACE,     /* the output buffer is too small */
};

/* Bytes needed to encode n bytes, including the terminating NUL. */
#define BASE64_ENCODED_SIZE(n) ((((n) + 2) / 3) * 4 + 1)
/* Largest number of bytes that n characters of base64 can decode to. */
#define BASE64_DECODED_MAX(n) (((n) / 4) * 3)

/* Decode in[0..in_len) into out (out_size bytes); *out_len gets the decoded length.
 * On any error nothing useful is in out and *out_len is 0. */
enum base64_status base64_decode(const char *in, size_t in_len, unsigned char *out,
                                 size_t out_size, size_t *out_len);

/* Encode in[0..in_len) into out as a NUL-terminated string of *out_len characters
 * (padded). BASE64_ERR_SPACE when out_size < BASE64_ENCODED_SIZE(in_len). */
enum base64_status base64_encode(const unsigned char *in, size_t in_len, char *out,
                                 size_t out_size, size_t *out_len);

/* The value of one character of the base64 alphabet (0..63), or -1: for the lenient
 * decoders of MIME bodies and encoded words, which skip what is not in the alphabet. */
int base64_value(int c);

/* A short English text for a status, for logs. */
const char *base64_strerror(enum base64_status st);

#endif
