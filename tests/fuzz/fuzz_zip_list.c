// fuzz-sources: content/zip_list.c lib/xalloc.c lib/log.c -lz
/*
 * fuzz_zip_list.c - libFuzzer target for content/zip_list.c, the streaming lister of the
 * names inside a zip archive (local headers, data descriptors, central directory, a
 * nested zip stored or inflated).
 *
 * Input: the archive bytes. They are listed once in one piece and once split at up to
 * four points derived from the input. Checked: both runs give the same names and flags;
 * every name is a NUL-terminated string shorter than ZIP_LIST_NAME_MAX; at most
 * ZIP_LIST_NAMES_MAX names. Run by tests/fuzz/run.sh with the seeds in
 * tests/fuzz/corpus/zip_list/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "content/zip_list.h"
#include "tests/fuzz/fuzz_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct zip_list *run(const uint8_t *data, size_t size, const size_t *cuts, size_t ncuts)
{
    struct zip_list *z = zip_list_new();
    size_t start = 0, i;

    for (i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : size;
        zip_list_feed(z, data + start, end - start);
        start = end;
    }
    zip_list_end(z);
    return z;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t cuts[MAX_CUTS], ncuts, i;
    struct zip_list *a, *b;

    ncuts = fuzz_make_cuts(data, size, size, cuts);
    a = run(data, size, NULL, 0);
    b = run(data, size, cuts, ncuts);
    CHECK(zip_list_count(a) == zip_list_count(b));
    CHECK(zip_list_flags(a) == zip_list_flags(b));
    CHECK(zip_list_count(a) <= ZIP_LIST_NAMES_MAX);
    for (i = 0; i < zip_list_count(a); i++) {
        CHECK(strlen(zip_list_name(a, i)) < ZIP_LIST_NAME_MAX);
        CHECK(strcmp(zip_list_name(a, i), zip_list_name(b, i)) == 0);
        CHECK(zip_list_names(a)[i] == zip_list_name(a, i));
    }
    zip_list_free(a);
    zip_list_free(b);
    return 0;
}
