/*
 * fuzz_split.h - helpers shared by the fuzz targets of streaming parsers (data_scan,
 * msg_stream, the utf8 header scan): a CHECK that aborts with the failed condition, and
 * the split points that make one input arrive in several pieces, as if read in several
 * calls. Header only: each target is built from its own file and the library sources it
 * names.
 */
#ifndef POSTERN_FUZZ_SPLIT_H
#define POSTERN_FUZZ_SPLIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond) \
    do { if (!(cond)) { fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); \
         abort(); } } while (0)

#define MAX_CUTS 4

/* Up to MAX_CUTS ascending split points in [0, len], from a hash of the input. */
static inline size_t fuzz_make_cuts(const uint8_t *data, size_t size, size_t len,
                                    size_t *cuts)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    size_t i, n = 0;
    for (i = 0; i < size; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    for (i = 0; i < MAX_CUTS; i++) {
        size_t at = (size_t)((h >> (16 * i)) & 0xffff) % (len + 1);
        if (n == 0 || at > cuts[n - 1])
            cuts[n++] = at;
    }
    return n;
}

#endif
