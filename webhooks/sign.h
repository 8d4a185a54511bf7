/*
 * sign.h - Standard Webhooks (v1.0.0) symmetric signatures: secrets and HMAC-SHA256.
 *
 * A secret is written "whsec_" + base64 of 24..64 random bytes; the HMAC key is the
 * decoded bytes. The signed content is "{webhook-id}.{webhook-timestamp}.{raw body}" and
 * the header value is "v1," + base64(HMAC-SHA256(key, content)). Used by the delivery code
 * (webhooks/delivery.c) for every attempt and by the config check (webhooks_conf.c).
 * Pure functions: no allocation, no globals; safe on any thread.
 */
#ifndef POSTERN_WEBHOOKS_SIGN_H
#define POSTERN_WEBHOOKS_SIGN_H

#include <stddef.h>

#define WH_SECRET_PREFIX "whsec_"
#define WH_KEY_MIN 24           /* bytes, the spec's range for generated secrets */
#define WH_KEY_MAX 64
#define WH_SIGNATURE_SIZE 64    /* "v1," + 44 base64 characters + NUL fits */

enum wh_secret_status {
    WH_SECRET_OK,
    WH_SECRET_NO_PREFIX,        /* does not start with "whsec_" */
    WH_SECRET_BAD_BASE64,       /* not canonical padded base64 after the prefix */
    WH_SECRET_BAD_LENGTH        /* decodes to fewer than 24 or more than 64 bytes */
};

/* Decode a "whsec_..." secret into key (WH_KEY_MAX bytes); *key_len gets its length.
 * On error *key_len is 0 and key holds nothing useful. */
enum wh_secret_status wh_secret_decode(const char *secret, unsigned char key[WH_KEY_MAX],
                                       size_t *key_len);

/* Short English text for a status, for config errors. */
const char *wh_secret_strerror(enum wh_secret_status st);

/* Write "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>" into out. Returns 0, or -1
 * when the MAC cannot be computed (OpenSSL failure; out is then ""). */
int wh_sign(const unsigned char *key, size_t key_len, const char *msg_id, long long timestamp,
            const void *body, size_t body_len, char out[WH_SIGNATURE_SIZE]);

#endif
