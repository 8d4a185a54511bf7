// fuzz-sources: policy/header_from.c auth/sender_owner.c lib/xalloc.c lib/log.c
/*
 * fuzz_header_from.c - libFuzzer target for the DMARC From-domain reader
 * (policy/header_from.c over auth/sender_owner.c's mailbox scanner). The input is a
 * message header block (any bytes). The outcome must be consistent: OK has exactly one
 * domain, MULTIPLE_DOMAINS two or more, the others none; every domain is a NUL-terminated
 * lower-case string without '@'.
 */
#include "policy/header_from.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct header_from hf;
    size_t i;

    header_from_domains((const char *)data, size, &hf);
    if ((hf.status == HFROM_OK && hf.n != 1) ||
        (hf.status == HFROM_MULTIPLE_DOMAINS && (hf.n < 2 || hf.n > HFROM_DOMAINS_MAX)) ||
        (hf.status > HFROM_MULTIPLE_DOMAINS && hf.n != 0))
        abort();
    for (i = 0; i < hf.n; i++) {
        const char *d = hf.domain[i];
        if (memchr(d, '\0', sizeof(hf.domain[i])) == NULL || d[0] == '\0' ||
            strchr(d, '@') != NULL)
            abort();
        for (; *d; d++)
            if (*d >= 'A' && *d <= 'Z')
                abort();
    }
    header_from_value((const char *)data, size, &hf);
    return 0;
}
