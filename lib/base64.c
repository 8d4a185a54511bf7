/*
 * base64.c - strict RFC 4648 base64 encode and decode (see base64.h).
 *
 * The decoder works one 4-character quantum at a time with a 256-entry table; only the
 * last quantum may carry padding ("xx==" or "xxx="), and the bits that padding leaves
 * over must be zero, so every byte string has exactly one accepted encoding.
 * Pure; called by relay/ on the loop thread.
 */
#include "lib/base64.h"

#include <stdint.h>

#define B64_QUANTUM 4          /* characters per group */
#define B64_GROUP 3            /* bytes per group */
#define B64_BAD 0xFF           /* table entry: not in the alphabet */
#define B64_PAD_CHAR '='

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of an alphabet character, or B64_BAD. */
static uint8_t b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return (uint8_t)(c - 'A');
    if (c >= 'a' && c <= 'z')
        return (uint8_t)(c - 'a' + 26);
    if (c >= '0' && c <= '9')
        return (uint8_t)(c - '0' + 52);
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return B64_BAD;
}

int base64_value(int c)
{
    uint8_t v = c >= 0 && c <= 255 ? b64_value((unsigned char)c) : B64_BAD;
    return v == B64_BAD ? -1 : v;
}

/* Decode the final quantum q[0..3], which may be padded. Writes 1..3 bytes to out and
 * returns how many, or a negative base64_status. */
static int b64_last_quantum(const unsigned char *q, unsigned char *out)
{
    uint8_t v[B64_QUANTUM];
    int npad = 0, i;

    if (q[3] == B64_PAD_CHAR)
        npad = q[2] == B64_PAD_CHAR ? 2 : 1;
    for (i = 0; i < B64_QUANTUM - npad; i++) {
        v[i] = b64_value(q[i]);
        if (v[i] == B64_BAD)
            return q[i] == B64_PAD_CHAR ? -BASE64_ERR_PAD : -BASE64_ERR_CHAR;
    }
    out[0] = (unsigned char)(v[0] << 2 | v[1] >> 4);
    if (npad == 2)
        return (v[1] & 0x0F) ? -BASE64_ERR_PAD : 1;
    out[1] = (unsigned char)((v[1] & 0x0F) << 4 | v[2] >> 2);
    if (npad == 1)
        return (v[2] & 0x03) ? -BASE64_ERR_PAD : 2;
    out[2] = (unsigned char)((v[2] & 0x03) << 6 | v[3]);
    return B64_GROUP;
}

enum base64_status base64_decode(const char *in, size_t in_len, unsigned char *out,
                                 size_t out_size, size_t *out_len)
{
    const unsigned char *p = (const unsigned char *)in;
    unsigned char last[B64_GROUP];
    size_t i, o = 0;
    int n, k;

    *out_len = 0;
    if (in_len % B64_QUANTUM != 0)
        return BASE64_ERR_LENGTH;
    if (in_len == 0)
        return BASE64_OK;
    for (i = 0; i + B64_QUANTUM < in_len; i += B64_QUANTUM) {
        uint8_t v[B64_QUANTUM];
        for (k = 0; k < B64_QUANTUM; k++) {
            v[k] = b64_value(p[i + (size_t)k]);
            if (v[k] == B64_BAD)
                return p[i + (size_t)k] == B64_PAD_CHAR ? BASE64_ERR_PAD : BASE64_ERR_CHAR;
        }
        if (out_size - o < B64_GROUP)
            return BASE64_ERR_SPACE;
        out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
        out[o++] = (unsigned char)((v[1] & 0x0F) << 4 | v[2] >> 2);
        out[o++] = (unsigned char)((v[2] & 0x03) << 6 | v[3]);
    }
    n = b64_last_quantum(p + i, last);
    if (n < 0)
        return (enum base64_status)-n;
    if (out_size - o < (size_t)n)
        return BASE64_ERR_SPACE;
    for (k = 0; k < n; k++)
        out[o++] = last[k];
    *out_len = o;
    return BASE64_OK;
}

enum base64_status base64_encode(const unsigned char *in, size_t in_len, char *out,
                                 size_t out_size, size_t *out_len)
{
    size_t i, o = 0;

    *out_len = 0;
    if (in_len > (SIZE_MAX - 1) / B64_QUANTUM * B64_GROUP - B64_GROUP ||
        out_size < BASE64_ENCODED_SIZE(in_len)) {
        if (out_size > 0)
            out[0] = '\0';
        return BASE64_ERR_SPACE;
    }
    for (i = 0; i + B64_GROUP <= in_len; i += B64_GROUP) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18 & 0x3F];
        out[o++] = b64_alphabet[v >> 12 & 0x3F];
        out[o++] = b64_alphabet[v >> 6 & 0x3F];
        out[o++] = b64_alphabet[v & 0x3F];
    }
    if (i < in_len) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < in_len)
            v |= (uint32_t)in[i + 1] << 8;
        out[o++] = b64_alphabet[v >> 18 & 0x3F];
        out[o++] = b64_alphabet[v >> 12 & 0x3F];
        out[o++] = i + 1 < in_len ? b64_alphabet[v >> 6 & 0x3F] : B64_PAD_CHAR;
        out[o++] = B64_PAD_CHAR;
    }
    out[o] = '\0';
    *out_len = o;
    return BASE64_OK;
}

const char *base64_strerror(enum base64_status st)
{
    switch (st) {
    case BASE64_OK:         return "ok";
    case BASE64_ERR_CHAR:   return "invalid base64 character";
    case BASE64_ERR_LENGTH: return "base64 length is not a multiple of 4";
    case BASE64_ERR_PAD:    return "invalid base64 padding";
    case BASE64_ERR_SPACE:  return "base64 output buffer too small";
    }
    return "unknown base64 error";
}
