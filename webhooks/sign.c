/*
 * sign.c - Standard Webhooks secrets and signatures (see sign.h).
 *
 * The secret's base64 is checked strictly here (alphabet, length a multiple of 4, padding
 * only at the end, no spare bits) so that a mistyped secret is refused at config time
 * instead of signing with the wrong key. HMAC-SHA256 goes through OpenSSL's EVP_MAC, fed
 * in three pieces so that the body is never copied. Pure; any thread.
 */
#include "webhooks/sign.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>

#define B64_QUANTUM 4           /* characters per 3 bytes */
#define B64_BITS 6
#define B64_BYTES 3             /* bytes per quantum */
#define B64_INVALID 0xff
#define SHA256_LEN 32
#define TS_TEXT_MAX 24          /* a long long in decimal, with sign and NUL */
#define SIG_PREFIX "v1,"       /* symmetric HMAC-SHA256 signatures */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static unsigned b64_value(char c)
{
    const char *p = c ? strchr(b64_alphabet, c) : NULL;
    return p ? (unsigned)(p - b64_alphabet) : B64_INVALID;
}

/* Strict RFC 4648 decoding of in[0..len) into out (cap bytes). -1 on any error. */
static int b64_decode(const char *in, size_t len, unsigned char *out, size_t cap,
                      size_t *out_len)
{
    size_t pad = 0, i, o = 0;
    unsigned acc = 0, bits = 0;

    if (len % B64_QUANTUM != 0)
        return -1;
    while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
        pad++;
    for (i = 0; i < len - pad; i++) {
        unsigned v = b64_value(in[i]);
        if (v == B64_INVALID)
            return -1;
        acc = (acc << B64_BITS) | v;
        bits += B64_BITS;
        if (bits >= 8) {
            bits -= 8;
            if (o == cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0)   /* non-canonical: spare bits set */
        return -1;
    *out_len = o;
    return 0;
}

enum wh_secret_status wh_secret_decode(const char *secret, unsigned char key[WH_KEY_MAX],
                                       size_t *key_len)
{
    const size_t plen = sizeof(WH_SECRET_PREFIX) - 1;
    unsigned char tmp[WH_KEY_MAX + B64_QUANTUM];   /* room to see a key too long */
    size_t n = 0, len;

    *key_len = 0;
    if (secret == NULL || strncmp(secret, WH_SECRET_PREFIX, plen) != 0)
        return WH_SECRET_NO_PREFIX;
    len = strlen(secret + plen);
    if (b64_decode(secret + plen, len, tmp, sizeof(tmp), &n) < 0) {
        /* too long for tmp also lands here: tell it apart from bad characters */
        return len / B64_QUANTUM * B64_BYTES > sizeof(tmp) ? WH_SECRET_BAD_LENGTH
                                                  : WH_SECRET_BAD_BASE64;
    }
    if (n < WH_KEY_MIN || n > WH_KEY_MAX)
        return WH_SECRET_BAD_LENGTH;
    memcpy(key, tmp, n);
    *key_len = n;
    return WH_SECRET_OK;
}

const char *wh_secret_strerror(enum wh_secret_status st)
{
    switch (st) {
    case WH_SECRET_OK:         return "ok";
    case WH_SECRET_NO_PREFIX:  return "does not start with \"" WH_SECRET_PREFIX "\"";
    case WH_SECRET_BAD_BASE64: return "is not valid base64 after \"" WH_SECRET_PREFIX "\"";
    case WH_SECRET_BAD_LENGTH: return "must decode to 24..64 bytes";
    }
    return "unknown error";
}

/* HMAC-SHA256 over the three parts of the signed content. -1 on OpenSSL failure. */
static int hmac_sha256(const unsigned char *key, size_t key_len, const char *id,
                       const char *ts, const void *body, size_t body_len,
                       unsigned char mac[SHA256_LEN])
{
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end()
    };
    size_t out_len = 0;
    int ok = ctx != NULL
        && EVP_MAC_init(ctx, key, key_len, params)
        && EVP_MAC_update(ctx, (const unsigned char *)id, strlen(id))
        && EVP_MAC_update(ctx, (const unsigned char *)".", 1)
        && EVP_MAC_update(ctx, (const unsigned char *)ts, strlen(ts))
        && EVP_MAC_update(ctx, (const unsigned char *)".", 1)
        && EVP_MAC_update(ctx, body, body_len)
        && EVP_MAC_final(ctx, mac, &out_len, SHA256_LEN)
        && out_len == SHA256_LEN;

    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    return ok ? 0 : -1;
}

int wh_sign(const unsigned char *key, size_t key_len, const char *msg_id, long long timestamp,
            const void *body, size_t body_len, char out[WH_SIGNATURE_SIZE])
{
    unsigned char mac[SHA256_LEN];
    char ts[TS_TEXT_MAX];

    out[0] = '\0';
    snprintf(ts, sizeof(ts), "%lld", timestamp);
    if (hmac_sha256(key, key_len, msg_id, ts, body, body_len, mac) < 0)
        return -1;
    memcpy(out, SIG_PREFIX, strlen(SIG_PREFIX));
    EVP_EncodeBlock((unsigned char *)out + strlen(SIG_PREFIX), mac, SHA256_LEN);
    return 0;
}
