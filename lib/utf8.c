/*
 * utf8.c - UTF-8 checks for internationalized mail (see utf8.h).
 */
#include "lib/utf8.h"

#define HIGH_BIT        0x80u
#define CONT_MASK       0xc0u     /* continuation bytes are 10xxxxxx */
#define CONT_BITS       0x80u
#define LEAD2_MIN       0xc2u     /* 0xc0 and 0xc1 would be overlong */
#define LEAD3           0xe0u
#define LEAD3_SURROGATE 0xedu     /* 0xed 0xa0..0xbf: U+D800..U+DFFF */
#define LEAD4           0xf0u
#define LEAD4_MAX       0xf4u     /* above: beyond U+10FFFF */

enum { HS_BOL, HS_BOL_CR, HS_LINE };   /* line start, CR at line start, inside a line */

bool utf8_is_ascii(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] & HIGH_BIT)
            return false;
    return true;
}

/* The length of the sequence starting at p[0] (of n >= 1 bytes), 0 when ill-formed. */
static size_t sequence_len(const unsigned char *p, size_t n)
{
    unsigned char lo = 0x80, hi = 0xbf;    /* allowed range of the second byte */
    size_t len, i;

    if (p[0] < HIGH_BIT)
        return 1;
    if (p[0] < LEAD2_MIN)
        return 0;
    if (p[0] < LEAD3) {
        len = 2;
    } else if (p[0] < LEAD4) {
        len = 3;
        if (p[0] == LEAD3)
            lo = 0xa0;                     /* overlong below U+0800 */
        else if (p[0] == LEAD3_SURROGATE)
            hi = 0x9f;
    } else if (p[0] <= LEAD4_MAX) {
        len = 4;
        if (p[0] == LEAD4)
            lo = 0x90;                     /* overlong below U+10000 */
        else if (p[0] == LEAD4_MAX)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (i = 2; i < len; i++)
        if ((p[i] & CONT_MASK) != CONT_BITS)
            return 0;
    return len;
}

bool utf8_is_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = sequence_len(p + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

size_t utf8_header_scan(struct utf8_header_scan *st, const char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n && !st->done; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch & HIGH_BIT) {
            st->non_ascii = true;
            st->done = true;
        } else if (ch == '\n') {
            if (st->state != HS_LINE)
                st->done = true;           /* an empty line: the header section ends */
            st->state = HS_BOL;
        } else if (ch == '\r' && st->state == HS_BOL) {
            st->state = HS_BOL_CR;
        } else {
            st->state = HS_LINE;
        }
    }
    return i;
}
