/*
 * qid.c - queue ID encoding (see qid.h).
 */
#include "lib/qid.h"

#include <string.h>

static const char qid_alphabet[] =
    "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxy"; /* 51 + 'z' kept as separator */

#define QID_BASE (sizeof(qid_alphabet) - 1)

/* Append v in base QID_BASE, at least min_digits characters, most significant first. */
static size_t qid_put(char *out, uint64_t v, size_t min_digits)
{
    char tmp[24];
    size_t n = 0, i;
    do {
        tmp[n++] = qid_alphabet[v % QID_BASE];
        v /= QID_BASE;
    } while (v != 0 || n < min_digits);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

char *qid_format(char out[QID_MAX], uint64_t sec, uint32_t usec, uint64_t inode)
{
    size_t off = 0;
    off += qid_put(out + off, sec, 6);
    off += qid_put(out + off, usec, 4);
    out[off++] = 'z';
    off += qid_put(out + off, inode, 1);
    out[off] = '\0';
    return out;
}

int qid_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 12 || n >= QID_MAX)
        return 0;
    for (; *s; s++)
        if (strchr(qid_alphabet, *s) == NULL && *s != 'z')
            return 0;
    return 1;
}

long long qid_arrival(const char *s)
{
    const char *z = strchr(s, 'z');
    long long v = 0;
    const char *p;

    if (!qid_valid(s) || z == NULL || z - s < 10)
        return -1;
    for (p = s; p < z - 4; p++) { /* the seconds: everything before the 4 usec digits */
        const char *d = strchr(qid_alphabet, *p);
        if (d == NULL)
            return -1;
        v = v * (long long)QID_BASE + (d - qid_alphabet);
    }
    return v;
}
