// fuzz-sources: content/wrap.c lib/header_edit.c lib/xalloc.c lib/log.c
/*
 * fuzz_wrap.c - libFuzzer target for content/wrap.c: any message bytes, wrapped with and
 * without the virus rule. Invariants: no crash or overread (ASan), the output ends with
 * its closing boundary, which it contains.
 */
#include "content/wrap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wrap_params p = { "virus X", false, "mx.test", "r@x.test", "Q", 0 };
    size_t n, i;
    unsigned removed;
    char *w;

    for (i = 0; i < 2; i++) {
        p.virus = i == 1;
        w = wrap_message((const char *)data, size, &p, &n, &removed);
        if (n < 22 || memcmp(w + n - 4, "--\r\n", 4) != 0 ||
            memmem(w, n, "--=_postern_wrap_Q_", 19) == NULL)
            abort();
        free(w);
    }
    return 0;
}
