/*
 * verp.c - signed bounce-address tokens (see verp.h).
 */
#include "policy/verp.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>
#include <strings.h>

#define ID_LEN  10
#define MAC_LEN 6

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

static void encode(const unsigned char in[ID_LEN + MAC_LEN], char out[VERP_TOKEN_LEN + 1])
{
    unsigned long long acc = 0;
    int bits = 0;
    size_t i, o = 0;

    for (i = 0; i < ID_LEN + MAC_LEN; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = b32[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = b32[(acc << (5 - bits)) & 31];
    out[o] = '\0';
}

static bool decode(const char *s, unsigned char out[ID_LEN + MAC_LEN])
{
    unsigned long long acc = 0;
    int bits = 0;
    size_t i, o = 0;

    for (i = 0; i < VERP_TOKEN_LEN; i++) {
        const char *p = strchr(b32, tolower((unsigned char)s[i]));
        if (s[i] == '\0' || p == NULL)
            return false;
        acc = (acc << 5) | (unsigned long long)(p - b32);
        bits += 5;
        if (bits >= 8) {
            out[o++] = (unsigned char)(acc >> (bits - 8));
            bits -= 8;
        }
    }
    return o == ID_LEN + MAC_LEN && (acc & ((1u << bits) - 1)) == 0;
}

static void mac(const char *key, const unsigned char id[ID_LEN], unsigned char out[MAC_LEN])
{
    unsigned char full[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    HMAC(EVP_sha256(), key, (int)strlen(key), id, ID_LEN, full, &n);
    memcpy(out, full, MAC_LEN);
}

void verp_token_new(const char *key, char out[VERP_TOKEN_LEN + 1])
{
    unsigned char raw[ID_LEN + MAC_LEN];

    if (RAND_bytes(raw, ID_LEN) != 1)
        memset(raw, 0, ID_LEN);   /* never: OpenSSL's DRBG does not fail once seeded */
    mac(key, raw, raw + ID_LEN);
    encode(raw, out);
}

bool verp_token_check(const char *key, const char *local, char out[VERP_TOKEN_LEN + 1])
{
    unsigned char raw[ID_LEN + MAC_LEN], want[MAC_LEN];
    size_t plen = strlen(VERP_PREFIX), i;

    if (strncasecmp(local, VERP_PREFIX, plen) != 0 ||
        strlen(local + plen) != VERP_TOKEN_LEN || !decode(local + plen, raw))
        return false;
    mac(key, raw, want);
    if (CRYPTO_memcmp(want, raw + ID_LEN, MAC_LEN) != 0)
        return false;
    for (i = 0; i < VERP_TOKEN_LEN; i++)
        out[i] = (char)tolower((unsigned char)local[plen + i]);
    out[VERP_TOKEN_LEN] = '\0';
    return true;
}
