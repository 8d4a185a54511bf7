/*
 * auth_decoy.c - the SCRAM server-first-message for an unknown user (see auth_decoy.h).
 *
 * Parses just enough of the client-first-message (RFC 5802 7):
 *     gs2-cbind-flag "," [ "a=" authzid ] "," "n=" saslname "," "r=" c-nonce [ "," ext ]
 * and answers "r=" c-nonce s-nonce ",s=" base64(salt) ",i=" iterations.
 * Pure; called on a worker thread by sasl_server.c.
 */
#include "auth/auth_decoy.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdio.h>
#include <strings.h>

#define DECOY_NONCE_B64 BASE64_ENCODED_SIZE(AUTH_DECOY_NONCE_BYTES)
#define DECOY_SALT_B64 BASE64_ENCODED_SIZE(AUTH_DECOY_SALT_MAX)

_Static_assert(EVP_MAX_MD_SIZE <= AUTH_DECOY_SALT_MAX, "AUTH_DECOY_SALT_MAX too small");

static const EVP_MD *decoy_digest(const char *mech)
{
    if (strcasecmp(mech, "SCRAM-SHA-1") == 0)
        return EVP_sha1();
    if (strcasecmp(mech, "SCRAM-SHA-256") == 0)
        return EVP_sha256();
    return NULL;
}

/* The field of msg[0..len) that starts at *pos and ends at the next ',' (or the end);
 * *pos moves past the comma. Returns the field length, or -1 when there is none. */
static long decoy_field(const unsigned char *msg, size_t len, size_t *pos, const char **start)
{
    size_t i = *pos;
    if (i > len)
        return -1;
    *start = (const char *)msg + i;
    while (i < len && msg[i] != ',')
        i++;
    *pos = i + 1;
    return (long)(i - (size_t)(*start - (const char *)msg));
}

/* True when the field s[0..n) is "X=value" with a non-empty value. */
static bool decoy_attr(const char *s, long n, char name)
{
    return n >= 3 && s[0] == name && s[1] == '=';
}

/* True when the n bytes at s form a valid c-nonce (printable ASCII except ','). */
static bool decoy_nonce_ok(const char *s, long n)
{
    long i;
    if (n <= 0)
        return false;
    for (i = 0; i < n; i++) {
        if (s[i] < '!' || s[i] > '~' || s[i] == ',')
            return false;
    }
    return true;
}

int auth_decoy_scram(const char *mech, const unsigned char *client_first, size_t len,
                     const unsigned char *key, size_t key_len, const unsigned char *nonce,
                     size_t nonce_len, unsigned iterations, char *out, size_t out_size)
{
    const EVP_MD *md = decoy_digest(mech);
    const char *flag = "", *authz = "", *user = "", *cnonce = "";
    long flag_n, authz_n, user_n, cnonce_n;
    unsigned char salt[EVP_MAX_MD_SIZE];
    unsigned salt_len = 0;
    char nonce_b64[DECOY_NONCE_B64], salt_b64[DECOY_SALT_B64];
    size_t pos = 0, b64_len;
    int n;

    if (md == NULL || nonce_len > AUTH_DECOY_NONCE_BYTES)
        return -1;
    flag_n = decoy_field(client_first, len, &pos, &flag);
    authz_n = decoy_field(client_first, len, &pos, &authz);
    user_n = decoy_field(client_first, len, &pos, &user);
    cnonce_n = decoy_field(client_first, len, &pos, &cnonce);
    if (flag_n < 1 || (flag[0] != 'n' && flag[0] != 'y' && flag[0] != 'p') || authz_n < 0 ||
        (authz_n > 0 && !decoy_attr(authz, authz_n, 'a')) || !decoy_attr(user, user_n, 'n') ||
        !decoy_attr(cnonce, cnonce_n, 'r') || !decoy_nonce_ok(cnonce + 2, cnonce_n - 2))
        return -1;
    if (HMAC(md, key, (int)key_len, (const unsigned char *)user + 2, (size_t)user_n - 2, salt,
             &salt_len) == NULL ||
        base64_encode(salt, salt_len, salt_b64, sizeof(salt_b64), &b64_len) != BASE64_OK ||
        base64_encode(nonce, nonce_len, nonce_b64, sizeof(nonce_b64), &b64_len) != BASE64_OK)
        return -1;
    n = snprintf(out, out_size, "r=%.*s%s,s=%s,i=%u", (int)(cnonce_n - 2), cnonce + 2,
                 nonce_b64, salt_b64, iterations);
    return n < 0 || (size_t)n >= out_size ? -1 : n;
}
