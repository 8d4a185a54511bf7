// fuzz-sources: content/wrap.c content/mime.c content/mime_header.c content/charset.c lib/utf8.c lib/header_edit.c lib/base64.c lib/xalloc.c lib/log.c
/*
 * fuzz_wrap.c - libFuzzer target for content/wrap.c: any message bytes, wrapped with and
 * without the virus rule. Invariants: no crash or overread (ASan), the output ends with
 * its closing boundary, which it contains, and parsed again (content/mime.h) the attached
 * original holds no part but text without a file name (with the virus rule: none but the
 * notices).
 */
#include "content/mime.h"
#include "content/wrap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool virus;

static void on_end(void *arg, const struct mime_part *p)
{
    (void)arg;
    /* depth 0 the warning, 1 its parts, 2 the attached original, 3... inside it */
    if (p->depth < 2 || p->kind != MIME_KIND_LEAF)
        return;
    if (p->uuencoded || mime_part_filename(p)[0] != '\0' ||
        (strcmp(p->type, "text/plain") != 0 && strcmp(p->type, "text/html") != 0))
        abort();
    if (virus && (p->head_len < 28 ||
                  memcmp(p->head, "[Postern removed this part: ", 28) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wrap_params p = { "virus X", false, "mx.test", "r@x.test", "Q", 0 };
    size_t n, i;
    unsigned removed;
    char *w;

    for (i = 0; i < 2; i++) {
        static const struct mime_callbacks cb = { .part_end = on_end };
        const struct mime_limits lim = { .max_depth = WRAP_DEPTH_MAX + 2,
                                         .max_parts = 1u << 24 };
        struct mime_parser *m;
        p.virus = virus = i == 1;
        w = wrap_message((const char *)data, size, &p, &n, &removed);
        if (n < 22 || memcmp(w + n - 4, "--\r\n", 4) != 0 ||
            memmem(w, n, "--=_postern_wrap_Q_", 19) == NULL)
            abort();
        m = mime_new(&lim, &cb, NULL);
        mime_feed(m, w, n);
        mime_end(m);
        mime_free(m);
        free(w);
    }
    return 0;
}
