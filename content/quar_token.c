/*
 * quar_token.c - make and verify the quarantine links' signed tokens (see quar_token.h).
 */
#include "content/quar_token.h"

#include "lib/base64.h"
#include "lib/xalloc.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_VERSION "q1"
#define MAC_LEN 32

static const char *const action_names[] = { "release", "learn" };

const char *quar_action_name(enum quar_action a)
{
    return (unsigned)a < 2 ? action_names[a] : "?";
}

/* base64url without padding into out (size BASE64_ENCODED_SIZE(n)). */
static void b64url(const unsigned char *in, size_t n, char *out, size_t size)
{
    size_t len = 0, i;

    base64_encode(in, n, out, size, &len);
    while (len > 0 && out[len - 1] == '=')
        out[--len] = '\0';
    for (i = 0; i < len; i++)
        out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
}

/* Decode base64url text[0..n) (no padding) into out; -1 when it is not one. */
static int unb64url(const char *text, size_t n, unsigned char *out, size_t size, size_t *len)
{
    char buf[QUAR_TOKEN_MAX + 4];
    size_t i;

    if (n % 4 == 1 || n + 3 > sizeof(buf) - 1)
        return -1;
    for (i = 0; i < n; i++) {
        char c = text[i];
        if (c == '+' || c == '/' || c == '=')
            return -1;
        buf[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (i % 4)
        buf[i++] = '=';
    return base64_decode(buf, i, out, size, len) == BASE64_OK ? 0 : -1;
}

static int mac_of(const void *key, size_t keylen, const void *data, size_t n,
                  unsigned char mac[MAC_LEN])
{
    unsigned int len = 0;

    if (HMAC(EVP_sha256(), key, (int)keylen, data, n, mac, &len) == NULL || len != MAC_LEN)
        return -1;
    return 0;
}

char *quar_token_make(const void *key, size_t keylen, const char *entry, const char *rcpt,
                      enum quar_action action, long long expires)
{
    char payload[512], *tok;
    unsigned char mac[MAC_LEN];
    size_t plen, tlen;
    int n;

    if (keylen < QUAR_TOKEN_KEY_MIN || strchr(entry, '|') || strchr(rcpt, '|') ||
        strlen(entry) >= sizeof(((struct quar_token *)0)->entry) ||
        strlen(rcpt) >= sizeof(((struct quar_token *)0)->rcpt) || (unsigned)action > 1)
        return NULL;
    n = snprintf(payload, sizeof(payload), TOKEN_VERSION "|%s|%s|%s|%lld", entry, rcpt,
                 action_names[action], expires);
    if (n < 0 || (size_t)n >= sizeof(payload))
        return NULL;
    plen = (size_t)n;
    if (mac_of(key, keylen, payload, plen, mac) < 0)
        return NULL;
    tlen = BASE64_ENCODED_SIZE(plen) + 1 + BASE64_ENCODED_SIZE(MAC_LEN);
    tok = xmalloc(tlen);
    b64url((const unsigned char *)payload, plen, tok, BASE64_ENCODED_SIZE(plen));
    n = (int)strlen(tok);
    tok[n++] = '.';
    b64url(mac, MAC_LEN, tok + n, BASE64_ENCODED_SIZE(MAC_LEN));
    return tok;
}

/* Split "q1|ENTRY|RCPT|ACTION|EXPIRES" into out; -1 when malformed. */
static int parse_payload(const char *p, struct quar_token *out)
{
    const char *f[5];
    size_t l[5], k = 0;
    const char *s = p;
    char num[24], *end;

    while (k < 5) {
        const char *bar = strchr(s, '|');
        f[k] = s;
        l[k] = bar ? (size_t)(bar - s) : strlen(s);
        k++;
        if (bar == NULL)
            break;
        s = bar + 1;
    }
    if (k != 5 || strchr(f[4], '|') || l[0] != 2 || memcmp(f[0], TOKEN_VERSION, 2) != 0 ||
        l[1] == 0 || l[1] >= sizeof(out->entry) || l[2] == 0 || l[2] >= sizeof(out->rcpt) ||
        l[4] == 0 || l[4] >= sizeof(num))
        return -1;
    memcpy(out->entry, f[1], l[1]);
    out->entry[l[1]] = '\0';
    memcpy(out->rcpt, f[2], l[2]);
    out->rcpt[l[2]] = '\0';
    if (l[3] == 7 && memcmp(f[3], "release", 7) == 0)
        out->action = QUAR_ACT_RELEASE;
    else if (l[3] == 5 && memcmp(f[3], "learn", 5) == 0)
        out->action = QUAR_ACT_RELEASE_LEARN;
    else
        return -1;
    memcpy(num, f[4], l[4]);
    num[l[4]] = '\0';
    out->expires = strtoll(num, &end, 10);
    return *end == '\0' && num[0] != '-' ? 0 : -1;
}

enum quar_token_status quar_token_verify(const void *key, size_t keylen, const char *token,
                                         long long now, struct quar_token *out)
{
    unsigned char payload[QUAR_TOKEN_MAX], mac[MAC_LEN + 4], want[MAC_LEN];
    const char *dot;
    size_t tlen, plen = 0, mlen = 0;

    memset(out, 0, sizeof(*out));
    if (token == NULL || keylen < QUAR_TOKEN_KEY_MIN)
        return QUAR_TOKEN_BAD;
    tlen = strnlen(token, QUAR_TOKEN_MAX + 1);
    dot = strchr(token, '.');
    if (tlen > QUAR_TOKEN_MAX || dot == NULL || strchr(dot + 1, '.'))
        return QUAR_TOKEN_BAD;
    if (unb64url(token, (size_t)(dot - token), payload, sizeof(payload) - 1, &plen) < 0 ||
        unb64url(dot + 1, strlen(dot + 1), mac, sizeof(mac), &mlen) < 0 || mlen != MAC_LEN)
        return QUAR_TOKEN_BAD;
    if (mac_of(key, keylen, payload, plen, want) < 0 || CRYPTO_memcmp(mac, want, MAC_LEN) != 0)
        return QUAR_TOKEN_BAD;
    payload[plen] = '\0';
    if (memchr(payload, '\0', plen) || parse_payload((const char *)payload, out) < 0) {
        memset(out, 0, sizeof(*out));
        return QUAR_TOKEN_BAD;
    }
    return now > out->expires ? QUAR_TOKEN_EXPIRED : QUAR_TOKEN_OK;
}
