/*
 * utf8.c - the UTF-8 sequence check (see utf8.h).
 */
#include "lib/utf8.h"

size_t utf8_seq_len(const unsigned char *p, size_t avail)
{
    unsigned char lo = 0x80, hi = 0xBF;     /* allowed range of the second byte */
    size_t n, i;

    if (avail == 0)
        return 0;
    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        n = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        n = 3;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        n = 4;
    else
        return 0;                           /* a continuation byte, C0, C1, F5..FF */
    if (p[0] == 0xE0)
        lo = 0xA0;                          /* overlong */
    else if (p[0] == 0xED)
        hi = 0x9F;                          /* UTF-16 surrogates */
    else if (p[0] == 0xF0)
        lo = 0x90;                          /* overlong */
    else if (p[0] == 0xF4)
        hi = 0x8F;                          /* above U+10FFFF */
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}
