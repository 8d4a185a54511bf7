// fuzz-sources: lib/utf8.c
/*
 * fuzz_utf8.c - libFuzzer target for lib/utf8.c: the UTF-8 well-formedness check and the
 * resumable header-section scan that decides whether a message needs SMTPUTF8.
 *
 * Input: a message (or any bytes). Checked: utf8_is_valid() agrees with a decoder written
 * here from RFC 3629's table, and ASCII is always valid; the header scan gives the same
 * answer (done, non_ascii, bytes used) in one piece and split at up to four points derived
 * from the input; it never uses more than it was given, uses everything until it is done,
 * and stops exactly after the first non-ASCII byte or after the empty line (with only
 * ASCII before it). Run by tests/fuzz/run.sh with the seeds in tests/fuzz/corpus/utf8/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
    do { if (!(cond)) { fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); \
         abort(); } } while (0)

#define MAX_CUTS 4

/* RFC 3629 section 4, as a reference: the well-formed byte sequences. */
static bool reference_valid(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = p[i];
        size_t len;
        uint8_t lo = 0x80, hi = 0xbf;
        if (b <= 0x7f) { i++; continue; }
        if (b >= 0xc2 && b <= 0xdf) len = 2;
        else if (b == 0xe0) { len = 3; lo = 0xa0; }
        else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef) len = 3;
        else if (b == 0xed) { len = 3; hi = 0x9f; }
        else if (b == 0xf0) { len = 4; lo = 0x90; }
        else if (b >= 0xf1 && b <= 0xf3) len = 4;
        else if (b == 0xf4) { len = 4; hi = 0x8f; }
        else return false;
        if (i + len > n || p[i + 1] < lo || p[i + 1] > hi)
            return false;
        for (size_t k = 2; k < len; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xbf)
                return false;
        i += len;
    }
    return true;
}

struct result {
    bool done, non_ascii;
    size_t used;
};

static struct result scan(const char *in, size_t len, const size_t *cuts, size_t ncuts)
{
    struct utf8_header_scan st;
    struct result r = { false, false, 0 };
    size_t start = 0, i;

    memset(&st, 0, sizeof(st));
    for (i = 0; i <= ncuts && !st.done; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        size_t u = utf8_header_scan(&st, in + start, end - start);
        CHECK(u <= end - start);
        CHECK(st.done || u == end - start);
        r.used += u;
        start = end;
    }
    r.done = st.done;
    r.non_ascii = st.non_ascii;
    return r;
}

static size_t make_cuts(const uint8_t *data, size_t size, size_t *cuts)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    size_t i, n = 0;
    for (i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    for (i = 0; i < MAX_CUTS; i++) {
        size_t at = (size_t)((h >> (16 * i)) & 0xffff) % (size + 1);
        if (n == 0 || at > cuts[n - 1])
            cuts[n++] = at;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    size_t cuts[MAX_CUTS], ncuts = make_cuts(data, size, cuts);
    struct result one, split;

    CHECK(utf8_is_valid(in, size) == reference_valid(data, size));
    if (utf8_is_ascii(in, size))
        CHECK(utf8_is_valid(in, size));
    one = scan(in, size, NULL, 0);
    split = scan(in, size, cuts, ncuts);
    CHECK(one.done == split.done && one.non_ascii == split.non_ascii &&
          one.used == split.used);
    CHECK(one.done || one.used == size);
    CHECK(utf8_is_ascii(in, one.non_ascii ? one.used - 1 : one.used));
    if (one.non_ascii)
        CHECK(data[one.used - 1] >= 0x80);
    else if (one.done)          /* ended by an empty line: "\n" at the start or after "\n" */
        CHECK(data[one.used - 1] == '\n' &&
              (one.used == 1 || data[one.used - 2] == '\n' ||
               (data[one.used - 2] == '\r' && (one.used == 2 || data[one.used - 3] == '\n'))));
    return 0;
}
