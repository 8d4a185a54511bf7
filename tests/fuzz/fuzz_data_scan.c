// fuzz-sources: lib/data_scan.c
/*
 * fuzz_data_scan.c - libFuzzer target for lib/data_scan.c, the DATA stream scanner.
 *
 * Input: bit 0 of byte 0 selects normalize mode, bit 1 raw mode (BDAT), the other bits
 * a line limit; the rest is the DATA stream (or the BDAT content). It is scanned once in one piece and once split at up to four
 * pseudo-random points derived from the input (as if it arrived in several reads).
 * Checked on every call: output <= 2 * input, consumed <= input, all input consumed
 * unless done. Checked at the end: both runs agree (done, consumed, flags, output; a split
 * run may lag by the one byte normalize mode can carry over while not done); the data
 * ended only at a real CR LF . CR LF (or ". CR LF" at the start); reject mode never grows
 * the data; normalize mode leaves no bare CR or LF; and re-stuffing the output and adding
 * ". CR LF" scans back to the same output (the scanner is the inverse of dot-stuffing).
 * Raw mode: never done, all input consumed, both runs equal; in reject mode the output is
 * the input byte for byte (plus CR LF when its last line has none), in normalize mode it
 * has no bare CR or LF once finished.
 * Run by tests/fuzz/run.sh with the seeds in tests/fuzz/corpus/data_scan/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/data_scan.h"
#include "tests/fuzz/fuzz_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    char *out;
    size_t out_len;
    size_t consumed;
    bool done;
    unsigned flags;
};

/* Scan in[0..len) split at cuts[0..ncuts) (ascending), checking each call. */
static void scan(const char *in, size_t len, bool normalize, bool raw, size_t max_line,
                 const size_t *cuts, size_t ncuts, struct run *r)
{
    struct data_scan s;
    size_t start = 0, i;

    if (raw)
        data_scan_init_raw(&s, max_line, normalize);
    else
        data_scan_init(&s, max_line, normalize);
    memset(r, 0, sizeof *r);
    r->out = malloc(2 * len + 3);
    CHECK(r->out != NULL);
    for (i = 0; i <= ncuts && !r->done; i++) {
        size_t end = i < ncuts ? cuts[i] : len, got;
        size_t n = data_scan_feed(&s, in + start, end - start, r->out + r->out_len, &got,
                                  &r->done);
        CHECK(got <= 2 * (end - start));
        CHECK(n <= end - start);
        CHECK(r->done || n == end - start);
        r->out_len += got;
        r->consumed += n;
        start = end;
    }
    if (raw) {
        size_t got;
        CHECK(!r->done && r->consumed == len);
        data_scan_finish(&s, r->out + r->out_len, &got);
        CHECK(got <= 2);
        r->out_len += got;
    }
    CHECK(s.out_total == r->out_len);
    r->flags = s.flags;
}

/* The data may only end with CR LF . CR LF, or be ". CR LF" alone. */
static void check_end_marker(const char *in, const struct run *r)
{
    if (!r->done)
        return;
    if (r->consumed == 3)
        CHECK(memcmp(in, ".\r\n", 3) == 0);
    else
        CHECK(r->consumed >= 5 && memcmp(in + r->consumed - 5, "\r\n.\r\n", 5) == 0);
}

/* Dot-stuff the scanner's output, add the end marker, and scan it again. */
static void check_round_trip(const struct run *r, bool normalize)
{
    char *wire = malloc(2 * r->out_len + 3);
    size_t w = 0, i;
    struct run again;

    CHECK(wire != NULL);
    for (i = 0; i < r->out_len; i++) {
        bool line_start = i == 0 || (i >= 2 && r->out[i - 2] == '\r' && r->out[i - 1] == '\n');
        if (line_start && r->out[i] == '.')
            wire[w++] = '.';
        wire[w++] = r->out[i];
    }
    memcpy(wire + w, ".\r\n", 3);
    w += 3;
    scan(wire, w, normalize, false, 0, NULL, 0, &again);
    CHECK(again.done && again.consumed == w);
    CHECK(again.out_len == r->out_len && memcmp(again.out, r->out, r->out_len) == 0);
    free(again.out);
    free(wire);
}

static void check_normalized(const struct run *r)
{
    size_t i;
    for (i = 0; i < r->out_len; i++) {
        if (r->out[i] == '\r')
            CHECK(i + 1 < r->out_len ? r->out[i + 1] == '\n' : !r->done);
        if (r->out[i] == '\n')
            CHECK(i > 0 && r->out[i - 1] == '\r');
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data + 1;
    size_t len, cuts[MAX_CUTS], ncuts, max_line;
    bool normalize, raw;
    struct run one, split;

    if (size < 1)
        return 0;
    normalize = data[0] & 1;
    raw = data[0] & 2;
    max_line = data[0] >> 2;
    len = size - 1;
    ncuts = fuzz_make_cuts(data, size, len, cuts);
    scan(in, len, normalize, raw, max_line, NULL, 0, &one);
    scan(in, len, normalize, raw, max_line, cuts, ncuts, &split);
    if (raw) {
        CHECK(split.out_len == one.out_len && memcmp(split.out, one.out, one.out_len) == 0);
        CHECK(split.flags == one.flags);
        if (normalize) {
            one.done = true;   /* finished: no CR may wait for its LF */
            check_normalized(&one);
        } else {
            CHECK(memcmp(one.out, in, len) == 0);
            CHECK(one.out_len == len ||
                  (one.out_len == len + 2 && memcmp(one.out + len, "\r\n", 2) == 0));
        }
        free(one.out);
        free(split.out);
        return 0;
    }

    CHECK(split.done == one.done && split.consumed == one.consumed);
    CHECK(split.flags == one.flags);
    CHECK(split.out_len <= one.out_len && split.out_len + (one.done ? 0 : 1) >= one.out_len);
    CHECK(memcmp(split.out, one.out, split.out_len) == 0);
    check_end_marker(in, &one);
    if (!normalize)
        CHECK(one.out_len <= one.consumed);
    else
        check_normalized(&one);
    if (one.done)
        check_round_trip(&one, normalize);
    free(one.out);
    free(split.out);
    return 0;
}
