// fuzz-sources: mailauth/authres.c lib/xalloc.c lib/log.c
/*
 * fuzz_authres.c - libFuzzer target for the Authentication-Results scanner
 * (mailauth/authres.c): the input is a message header block (any bytes). The forged
 * fields found must lie inside the input, in order, without overlap; stripping them must
 * remove exactly their bytes; the authserv-id parser must stay inside its buffer.
 */
#include "mailauth/authres.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SPANS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct authres_span s[SPANS];
    const char *h = (const char *)data;
    char id[AUTHRES_ID_MAX + 1], *copy;
    size_t n, k, prev = 0, removed = 0, left;
    unsigned ver;

    n = authres_find_forged(h, size, "mx.example.net", s, SPANS);
    for (k = 0; k < n && k < SPANS; k++) {
        if (s[k].start < prev || s[k].len == 0 || s[k].start + s[k].len > size)
            abort();
        prev = s[k].start + s[k].len;
        removed += s[k].len;
    }
    if (n <= SPANS) {
        copy = malloc(size + 1);
        memcpy(copy, data, size);
        left = authres_strip_forged(copy, size, "mx.example.net");
        if (left != size - removed)
            abort();
        free(copy);
    }
    if (authres_parse_id(h, size, id, sizeof(id), &ver) == 0 && strlen(id) == 0)
        abort();
    return 0;
}
