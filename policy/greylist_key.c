/*
 * greylist_key.c - the client network and the normalized sender of a greylisting
 * triplet (see greylist_key.h). Pure.
 */
#include "policy/greylist_key.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int greylist_network(const char *ip, int v4_prefix, int v6_prefix, char *out, size_t outlen)
{
    unsigned char a[16];
    char text[INET6_ADDRSTRLEN];
    int family, bits, i;

    if (inet_pton(AF_INET, ip, a) == 1) {
        family = AF_INET;
        bits = v4_prefix;
    } else if (inet_pton(AF_INET6, ip, a) == 1) {
        family = AF_INET6;
        bits = v6_prefix;
    } else {
        return -1;
    }
    for (i = 0; i < (family == AF_INET ? 4 : 16); i++) {
        int keep = bits - 8 * i;
        if (keep <= 0)
            a[i] = 0;
        else if (keep < 8)
            a[i] &= (unsigned char)(0xff << (8 - keep));
    }
    if (inet_ntop(family, a, text, sizeof(text)) == NULL)
        return -1;
    snprintf(out, outlen, "%s/%d", text, bits);
    return 0;
}

/* Undo SRS: "SRS0=HHH=TT=domain=local" (the part after "SRS1=...==" has the same shape).
 * Writes "local@domain" into out and returns true when local is such a rewrite. */
static bool srs_original(const char *local, char *out, size_t outlen)
{
    const char *p, *f[4];
    int n = 0;

    if (strncasecmp(local, "srs1=", 5) == 0) {
        if ((p = strstr(local + 5, "==")) == NULL)
            return false;
        p += 2;
    } else if (strncasecmp(local, "srs0=", 5) == 0) {
        p = local + 5;
    } else {
        return false;
    }
    /* p: HHH=TT=domain=local */
    f[n++] = p;
    while (n < 4 && (p = strchr(p, '=')) != NULL)
        f[n++] = ++p;
    if (n < 4 || f[3][0] == '\0' || f[2] == f[3] - 1)
        return false;
    snprintf(out, outlen, "%s@%.*s", f[3], (int)(f[3] - 1 - f[2]), f[2]);
    return true;
}

/* Strip a BATV tag from the local part: "prvs=TAG=local", "btv1==TAG==local". */
static const char *batv_strip(const char *local)
{
    const char *p;

    if (strncasecmp(local, "prvs=", 5) == 0 && (p = strchr(local + 5, '=')) != NULL &&
        p[1] != '\0')
        return p + 1;
    if (strncasecmp(local, "btv1==", 6) == 0 && (p = strstr(local + 6, "==")) != NULL &&
        p[2] != '\0')
        return p + 2;
    return local;
}

/* Append the local part with its labels (split at . - _ =) that hold a digit as "#". */
static size_t put_local(const char *s, size_t n, char *out, size_t outlen, size_t o)
{
    size_t i = 0;

    while (i < n) {
        size_t j = i;
        bool digit = false;
        while (j < n && strchr(".-_=", s[j]) == NULL) {
            digit |= isdigit((unsigned char)s[j]) != 0;
            j++;
        }
        if (digit) {
            if (o + 1 < outlen)
                out[o++] = '#';
        } else {
            for (; i < j && o + 1 < outlen; i++)
                out[o++] = (char)tolower((unsigned char)s[i]);
        }
        if (j < n && o + 1 < outlen)
            out[o++] = s[j];
        i = j + 1;
    }
    return o;
}

void greylist_sender(const char *sender, char *out, size_t outlen)
{
    char srs[512];
    const char *at, *local, *plus;
    size_t o = 0, llen;

    if (outlen == 0)
        return;
    out[0] = '\0';
    if (sender == NULL || sender[0] == '\0')
        return;
    if ((at = strrchr(sender, '@')) != NULL) {
        char lp[256];
        snprintf(lp, sizeof(lp), "%.*s", (int)(at - sender), sender);
        if (srs_original(lp, srs, sizeof(srs)))
            sender = srs;
    }
    at = strrchr(sender, '@');
    local = batv_strip(sender);
    if (at == NULL || local > at)
        local = sender;
    llen = at ? (size_t)(at - local) : strlen(local);
    if ((plus = memchr(local, '+', llen)) != NULL && plus > local)
        llen = (size_t)(plus - local);
    o = put_local(local, llen, out, outlen, 0);
    if (at != NULL)
        for (const char *d = at; *d && o + 1 < outlen; d++)
            out[o++] = (char)tolower((unsigned char)*d);
    out[o] = '\0';
}
