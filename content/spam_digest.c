/*
 * spam_digest.c - what identifies a message for autolearn: spam_al_digest()
 * (spam_autolearn.h). Apart from the config so that the fuzz target links it alone.
 */
#include "content/spam_autolearn.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

void spam_al_digest(const char *msg, size_t len, char out[SPAM_AL_DIGEST_LEN + 1])
{
    const char *p = msg, *end = msg + len, *body = end, *mid = NULL;
    size_t midlen = 0, i;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_MD_CTX *ctx;

    /* the header: lines up to the first empty one */
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol ? eol + 1 : end;
        size_t n = (size_t)((eol ? eol : end) - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n == 0) {
            body = next;
            break;
        }
        if (mid == NULL && n > 11 && strncasecmp(p, "Message-ID:", 11) == 0) {
            mid = p + 11;
            midlen = n - 11;
            while (midlen > 0 && (*mid == ' ' || *mid == '\t'))
                mid++, midlen--;
            while (midlen > 0 && (mid[midlen - 1] == ' ' || mid[midlen - 1] == '\t'))
                midlen--;
        }
        p = next;
    }
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, mid ? mid : "", midlen) != 1 ||
        EVP_DigestUpdate(ctx, "\n", 1) != 1 ||
        EVP_DigestUpdate(ctx, body, (size_t)(end - body)) != 1 ||
        EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
        mdlen = 0;
    EVP_MD_CTX_free(ctx);
    for (i = 0; i < SPAM_AL_DIGEST_LEN / 2; i++)
        snprintf(out + 2 * i, 3, "%02x", i < mdlen ? md[i] : 0);
    out[SPAM_AL_DIGEST_LEN] = '\0';
}
