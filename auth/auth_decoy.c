/*
 * auth_decoy.c - the SCRAM exchange for an unknown user (see auth_decoy.h).
 *
 * The first message is parsed the way Cyrus parses it before it looks the user up
 * (RFC 5802 7; Cyrus takes any bytes but ',' in the nonce, even none):
 *     gs2-cbind-flag "," [ "a=" authzid ] "," "n=" saslname "," "r=" c-nonce [ "," ... ]
 * and answered "r=" c-nonce s-nonce ",s=" base64(salt) ",i=" iterations. The final
 * message goes through Cyrus' own checks, in Cyrus' order, and Cyrus' own base64 decoder
 * (sasl_decode64), so that no malformed message is answered differently from a real
 * user's.
 * Pure; sasl_server.c calls the first on a worker thread, the second on the loop.
 */
#include "auth/auth_decoy.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sasl/sasl.h>
#include <sasl/saslutil.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DECOY_NONCE_B64 BASE64_ENCODED_SIZE(AUTH_DECOY_NONCE_BYTES)
#define DECOY_SALT_B64 BASE64_ENCODED_SIZE(AUTH_DECOY_SALT_MAX)
#define DECOY_ATTR_LEN 2          /* "n=", "r=", "c=", "p=" */
/* Cyrus derives a real user's SaltedPassword (RFC 5802: Hi(password, salt, i)) before it
 * answers the first message; the decoy derives one too, from this, so that both answers
 * cost the same time. */
#define DECOY_PASSWORD "postern-decoy"

_Static_assert(EVP_MAX_MD_SIZE <= AUTH_DECOY_SALT_MAX, "AUTH_DECOY_SALT_MAX too small");

/* A byte range of a message. */
struct decoy_span {
    const char *p;
    size_t n;
};

/* The parts of a client-first-message the decoy needs. */
struct decoy_first {
    char flag;                    /* 'n', 'y' or 'p' */
    size_t gs2_len;               /* the GS2 header, its closing comma included */
    struct decoy_span user;       /* the saslname, as sent */
    struct decoy_span nonce;      /* the client nonce (may be empty) */
};

static const EVP_MD *decoy_digest(const char *mech)
{
    if (strcasecmp(mech, "SCRAM-SHA-1") == 0)
        return EVP_sha1();
    if (strcasecmp(mech, "SCRAM-SHA-256") == 0)
        return EVP_sha256();
    return NULL;
}

/* The bytes from s up to the next ',' or end (exclusive). */
static const char *decoy_comma(const char *s, const char *end)
{
    const char *c = memchr(s, ',', (size_t)(end - s));
    return c ? c : end;
}

static bool decoy_starts(const char *s, const char *end, const char *attr)
{
    return (size_t)(end - s) >= DECOY_ATTR_LEN && memcmp(s, attr, DECOY_ATTR_LEN) == 0;
}

/* Parse msg[0..len) as Cyrus does before its user lookup. */
static bool decoy_parse_first(const unsigned char *msg, size_t len, struct decoy_first *f)
{
    const char *p = (const char *)msg, *end = p + len, *c;

    if (len == 0 || memchr(msg, '\0', len) != NULL)
        return false;
    f->flag = p[0];
    if (f->flag == 'p') {
        if (len < DECOY_ATTR_LEN || p[1] != '=' || (p = decoy_comma(p, end)) == end)
            return false;
    } else if (f->flag == 'n' || f->flag == 'y') {
        p++;
    } else {
        return false;
    }
    if (p == end || *p++ != ',')
        return false;
    if (decoy_starts(p, end, "a=")) {
        if ((p = decoy_comma(p, end)) == end)
            return false;
    } else if (p == end || *p != ',') {
        return false;
    }
    p++;                                        /* past the comma closing the header */
    f->gs2_len = (size_t)(p - (const char *)msg);
    if (!decoy_starts(p, end, "n="))
        return false;
    c = decoy_comma(p, end);
    if (c == end)
        return false;
    f->user = (struct decoy_span){ p + DECOY_ATTR_LEN, (size_t)(c - p) - DECOY_ATTR_LEN };
    p = c + 1;
    if (!decoy_starts(p, end, "r="))
        return false;
    c = decoy_comma(p, end);
    f->nonce = (struct decoy_span){ p + DECOY_ATTR_LEN, (size_t)(c - p) - DECOY_ATTR_LEN };
    return true;
}

/* RFC 5802 Hi(DECOY_PASSWORD, salt, iterations) into out, one HMAC() call per round as
 * Cyrus computes it (OpenSSL's PKCS5_PBKDF2_HMAC is several times faster, which would
 * show). 0, or -1. */
static int decoy_hi(const EVP_MD *md, const unsigned char *salt, unsigned salt_len,
                    unsigned iterations, unsigned char *out)
{
    static const unsigned char block_one[] = { 0, 0, 0, 1 };
    unsigned char in[AUTH_DECOY_SALT_MAX + sizeof(block_one)], u[EVP_MAX_MD_SIZE];
    unsigned char prev[EVP_MAX_MD_SIZE];
    unsigned len = 0, i, k;

    memcpy(in, salt, salt_len);
    memcpy(in + salt_len, block_one, sizeof(block_one));
    if (HMAC(md, DECOY_PASSWORD, (int)strlen(DECOY_PASSWORD), in, salt_len + sizeof(block_one),
             u, &len) == NULL)
        return -1;
    memcpy(out, u, len);
    for (i = 1; i < iterations; i++) {
        memcpy(prev, u, len);
        if (HMAC(md, DECOY_PASSWORD, (int)strlen(DECOY_PASSWORD), prev, len, u, &len) == NULL)
            return -1;
        for (k = 0; k < len; k++)
            out[k] ^= u[k];
    }
    return 0;
}

int auth_decoy_scram(const char *mech, const unsigned char *client_first, size_t len,
                     const unsigned char *key, size_t key_len, const unsigned char *nonce,
                     size_t nonce_len, unsigned iterations, char *out, size_t out_size)
{
    const EVP_MD *md = decoy_digest(mech);
    struct decoy_first f;
    unsigned char salt[EVP_MAX_MD_SIZE], salted[EVP_MAX_MD_SIZE];
    unsigned salt_len = 0;
    char nonce_b64[DECOY_NONCE_B64], salt_b64[DECOY_SALT_B64];
    size_t b64_len;
    int n;

    if (md == NULL || nonce_len > AUTH_DECOY_NONCE_BYTES ||
        !decoy_parse_first(client_first, len, &f))
        return -1;
    if (HMAC(md, key, (int)key_len, (const unsigned char *)f.user.p, f.user.n, salt,
             &salt_len) == NULL ||
        decoy_hi(md, salt, salt_len, iterations, salted) < 0 ||
        base64_encode(salt, salt_len, salt_b64, sizeof(salt_b64), &b64_len) != BASE64_OK ||
        base64_encode(nonce, nonce_len, nonce_b64, sizeof(nonce_b64), &b64_len) != BASE64_OK)
        return -1;
    n = snprintf(out, out_size, "r=%.*s%s,s=%s,i=%u", (int)f.nonce.n, f.nonce.p, nonce_b64,
                 salt_b64, iterations);
    return n < 0 || (size_t)n >= out_size ? -1 : n;
}

/* Cyrus' decoding of s[0..n) into at most outmax bytes (malloc'd, *len bytes), or NULL
 * when Cyrus refuses it. */
static unsigned char *decoy_decode64(const char *s, size_t n, unsigned outmax, unsigned *len)
{
    char *buf = malloc((size_t)outmax + 1);

    *len = 0;
    if (buf != NULL && sasl_decode64(s, (unsigned)n, buf, outmax, len) != SASL_OK) {
        free(buf);
        buf = NULL;
    }
    return (unsigned char *)buf;
}

/* The channel binding field "c=" b64 (p[0..n)) carries the GS2 header of the first
 * message, as Cyrus checks it (with 'p', Cyrus wants binding data that SMTP has none of). */
static bool decoy_binding_ok(const char *p, size_t n, const unsigned char *client_first,
                             const struct decoy_first *f)
{
    unsigned len;
    unsigned char *bind = decoy_decode64(p, n, (unsigned)n, &len);
    bool ok = bind != NULL && len >= f->gs2_len && f->flag != 'p' &&
              memcmp(bind, client_first, f->gs2_len) == 0;

    free(bind);
    return ok;
}

/* The proof field's value p[0..n) has the length and decoding of a hash-sized proof. */
static bool decoy_proof_ok(const char *p, size_t n, size_t hash)
{
    unsigned len;
    unsigned char *proof;
    bool ok;

    if (n != (hash + 2) / 3 * 4)
        return false;
    proof = decoy_decode64(p, n, (unsigned)hash + 1, &len);
    ok = proof != NULL && len == hash;
    free(proof);
    return ok;
}

/* The checks Cyrus makes on a client-final-message p[0..end) before it verifies the
 * proof: "c=" binding "," "r=" nonce "," [ extensions "," ] "p=" proof. */
static bool decoy_final_well_formed(const EVP_MD *md, const unsigned char *client_first,
                                    const struct decoy_first *f, const char *server_first,
                                    const char *p, const char *end)
{
    const char *c, *sent = server_first + DECOY_ATTR_LEN, *sent_end = strstr(server_first, ",s=");

    if (end - p <= DECOY_ATTR_LEN || p[1] != '=' || memchr(p, '\0', (size_t)(end - p)) ||
        sent_end == NULL)
        return false;
    if (!decoy_starts(p, end, "c=") || (c = decoy_comma(p, end)) == end ||
        !decoy_binding_ok(p + DECOY_ATTR_LEN, (size_t)(c - p) - DECOY_ATTR_LEN, client_first,
                          f))
        return false;
    p = c + 1;
    if (!decoy_starts(p, end, "r=") || (c = decoy_comma(p, end)) == end ||
        (size_t)(c - p) - DECOY_ATTR_LEN != (size_t)(sent_end - sent) ||
        memcmp(p + DECOY_ATTR_LEN, sent, (size_t)(sent_end - sent)) != 0)
        return false;
    for (p = c + 1; p < end && !decoy_starts(p, end, "p="); p = c + 1) {
        if ((c = decoy_comma(p, end)) == end)
            return false;
    }
    if (p >= end || decoy_comma(p, end) != end)
        return false;            /* no proof, or something after it */
    return decoy_proof_ok(p + DECOY_ATTR_LEN, (size_t)(end - p) - DECOY_ATTR_LEN,
                          (size_t)EVP_MD_size(md));
}

enum auth_decoy_final auth_decoy_scram_final(const char *mech,
                                             const unsigned char *client_first,
                                             size_t first_len, const char *server_first,
                                             const unsigned char *client_final, size_t len)
{
    const EVP_MD *md = decoy_digest(mech);
    const char *p = (const char *)client_final;
    struct decoy_first f;

    if (md == NULL || len > AUTH_DECOY_CLIENT_MAX ||
        !decoy_parse_first(client_first, first_len, &f) ||
        !decoy_final_well_formed(md, client_first, &f, server_first, p, p + len))
        return AUTH_DECOY_MALFORMED;
    return AUTH_DECOY_WRONG_PROOF;
}
