// fuzz-sources: content/mime.c content/mime_header.c content/charset.c lib/utf8.c lib/base64.c lib/xalloc.c lib/log.c
/*
 * fuzz_mime.c - libFuzzer target for content/mime.c, the streaming MIME parser (and the
 * header value decoding of content/mime_header.c it calls).
 *
 * Input: the message. It is parsed once in one piece and once split at up to four points
 * derived from the input, with small limits (depth 4, 50 parts) so the limit paths are
 * reached. Checked: both runs agree (part count, flags, each part's type, names, decoded
 * size and a hash of its decoded bytes); every part_data belongs to an open part; sizes
 * and head lengths match what the callbacks got; names are NUL-terminated within bounds.
 * Run by tests/fuzz/run.sh with the seeds in tests/fuzz/corpus/mime/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content/mime.h"
#include "tests/fuzz/fuzz_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXREC 64

struct rec {
    unsigned n;                         /* parts begun */
    bool open[MAXREC];                  /* begun and not ended, by id */
    unsigned long long got[MAXREC];     /* bytes received, by id */
    uint64_t hash[MAXREC];
    char type[MAXREC][MIME_TYPE_MAX];
    char name[MAXREC][MIME_NAME_MAX];
};

static void on_begin(void *arg, const struct mime_part *p)
{
    struct rec *r = arg;
    CHECK(memchr(p->type, '\0', sizeof(p->type)) != NULL);
    CHECK(memchr(p->filename, '\0', sizeof(p->filename)) != NULL);
    CHECK(memchr(p->name, '\0', sizeof(p->name)) != NULL);
    CHECK(memchr(p->charset, '\0', sizeof(p->charset)) != NULL);
    CHECK(p->id < MAXREC && !r->open[p->id] && p->size == 0);
    r->open[p->id] = true;
    memcpy(r->type[p->id], p->type, sizeof(p->type));
    memcpy(r->name[p->id], mime_part_filename(p), strlen(mime_part_filename(p)) + 1);
    r->hash[p->id] = 1469598103934665603ull;
    r->n++;
}

static void on_data(void *arg, const struct mime_part *p, const unsigned char *d, size_t n)
{
    struct rec *r = arg;
    size_t i;
    CHECK(n > 0 && p->id < MAXREC && r->open[p->id] && p->kind == MIME_KIND_LEAF);
    r->got[p->id] += n;
    CHECK(p->size == r->got[p->id]);
    for (i = 0; i < n; i++)
        r->hash[p->id] = (r->hash[p->id] ^ d[i]) * 1099511628211ull;
}

static void on_end(void *arg, const struct mime_part *p)
{
    struct rec *r = arg;
    CHECK(p->id < MAXREC && r->open[p->id]);
    CHECK(p->head_len <= MIME_HEAD_MAX);
    CHECK(p->head_len == (p->size < MIME_HEAD_MAX ? p->size : MIME_HEAD_MAX));
    CHECK(p->size == r->got[p->id]);
    r->open[p->id] = false;
}

static const struct mime_callbacks cbs = { on_begin, on_data, on_end, NULL };

static unsigned run(const uint8_t *data, size_t size, const size_t *cuts, size_t ncuts,
                    struct rec *r)
{
    struct mime_limits lim = { .max_depth = 4, .max_parts = 50, .max_header = 4096 };
    struct mime_parser *m;
    size_t start = 0, i;
    unsigned flags;

    memset(r, 0, sizeof(*r));
    m = mime_new(&lim, &cbs, r);
    for (i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : size;
        mime_feed(m, data + start, end - start);
        start = end;
    }
    mime_end(m);
    flags = mime_flags(m);
    CHECK(r->n <= 50 && r->n <= mime_part_count(m));
    for (i = 0; i < MAXREC; i++)
        CHECK(!r->open[i]);
    mime_free(m);
    return flags;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct rec a, b;
    size_t cuts[MAX_CUTS], ncuts, i;
    unsigned fa, fb;

    ncuts = fuzz_make_cuts(data, size, size, cuts);
    fa = run(data, size, NULL, 0, &a);
    fb = run(data, size, cuts, ncuts, &b);
    CHECK(fa == fb);
    CHECK(a.n == b.n);
    for (i = 0; i < a.n; i++) {
        CHECK(a.got[i] == b.got[i]);
        CHECK(a.hash[i] == b.hash[i]);
        CHECK(strcmp(a.type[i], b.type[i]) == 0);
        CHECK(strcmp(a.name[i], b.name[i]) == 0);
    }
    return 0;
}
