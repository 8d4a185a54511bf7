// fuzz-sources: mailauth/dkim_sig.c mailauth/dkim_tags.c lib/base64.c
/*
 * fuzz_dkim_sig.c - libFuzzer target for the DKIM-Signature parser (mailauth/dkim_sig.c)
 * and the tag-list parser under it (mailauth/dkim_tags.c).
 *
 * The input is a DKIM-Signature field value as a client may send it. Checked contracts:
 * every tag lies inside the input with its value inside its raw span; on success the
 * names are non-empty lower-case NUL-terminated strings within the bounds, the decoded
 * b= and bh= fit their buffers, the b= span is inside the input and x= is not before t=.
 * Build: clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -I. THIS <fuzz-sources>
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/dkim_sig.h"
#include "mailauth/dkim_tags.h"

static void check_tags(const char *in, size_t len)
{
    struct dkim_tags t;
    size_t i;

    dkim_tags_parse(in, len, &t);
    if (t.n > DKIM_TAGS_MAX)
        abort();
    for (i = 0; i < t.n; i++) {
        const struct dkim_tag *g = &t.tag[i];
        if (g->name < in || g->name + g->name_len > in + len || g->name_len == 0 ||
            g->raw_start > g->raw_end || g->raw_end > len ||
            g->value < in + g->raw_start || g->value + g->value_len > in + g->raw_end)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct dkim_sig s;
    size_t k;

    check_tags(in, size);
    if (dkim_sig_parse(in, size, &s) != DKIM_SIG_OK)
        return 0;
    if (s.d[0] == '\0' || s.s[0] == '\0' || strlen(s.d) > DKIM_DOMAIN_MAX ||
        strlen(s.i) > DKIM_AUID_MAX || s.h_n == 0 || s.h_n > DKIM_H_MAX ||
        s.b_len > DKIM_B_MAX || s.bh_len > DKIM_BH_MAX || s.b_raw_start > s.b_raw_end ||
        s.b_raw_end > size || (s.t >= 0 && s.x >= 0 && s.x < s.t))
        abort();
    for (k = 0; k < s.h_n; k++) {
        const char *h = dkim_sig_h(&s, k);
        if (s.h_off[k] >= DKIM_H_TEXT_MAX || *h == '\0')
            abort();
        for (; *h; h++)
            if (*h >= 'A' && *h <= 'Z')
                abort();
    }
    return 0;
}
