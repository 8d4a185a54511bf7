/*
 * test_data_scan.c - unit tests for lib/data_scan.c, the DATA stream scanner: end marker
 * detection (including SMTP smuggling payloads that must not end the data), dot-unstuffing,
 * bare CR / bare LF handling in reject and normalize mode, flags, and resumability across
 * feeds split at any byte. scan() feeds an input in pieces and checks on every call that
 * the output stays within the 2 * input bound the header promises.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/data_scan.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define STR_AND_LEN(s) s, sizeof(s) - 1

struct scan_result {
    char *out;          /* malloc'd, out_len bytes */
    size_t out_len;
    size_t consumed;
    bool done;
    unsigned flags;
};

/* Feed in[0..len) split at cuts[0..ncuts) (ascending offsets), stopping at *done. */
static void scan_cuts(const char *in, size_t len, bool normalize, size_t max_line,
                      const size_t *cuts, size_t ncuts, struct scan_result *r)
{
    struct data_scan s;
    size_t start = 0, i;

    data_scan_init(&s, max_line, normalize);
    memset(r, 0, sizeof *r);
    r->out = malloc(2 * len + 1);
    assert_non_null(r->out);
    for (i = 0; i <= ncuts && !r->done; i++) {
        size_t end = i < ncuts ? cuts[i] : len, n, got;
        n = data_scan_feed(&s, in + start, end - start, r->out + r->out_len, &got, &r->done);
        assert_true(got <= 2 * (end - start));
        assert_true(n <= end - start);
        assert_true(r->done || n == end - start);
        r->out_len += got;
        r->consumed += n;
        start = end;
    }
    assert_int_equal(s.out_total, r->out_len);
    r->flags = s.flags;
}

/* Feed in chunks of chunk bytes. */
static void scan(const char *in, size_t len, bool normalize, size_t max_line, size_t chunk,
                 struct scan_result *r)
{
    size_t ncuts = len / chunk, i;
    size_t *cuts = malloc((ncuts + 1) * sizeof *cuts);
    assert_non_null(cuts);
    for (i = 0; i < ncuts; i++)
        cuts[i] = (i + 1) * chunk;
    scan_cuts(in, len, normalize, max_line, cuts, ncuts, r);
    free(cuts);
}

static void expect_output(const struct scan_result *r, const char *want, size_t want_len)
{
    assert_int_equal(r->out_len, want_len);
    assert_memory_equal(r->out, want, want_len);
}

struct msg_case {
    const char *name;
    const char *in;
    size_t len;
    bool normalize;
    bool done;
    size_t consumed;     /* when done; 0: all of the input */
    const char *out;
    size_t out_len;
    unsigned flags;
};

/* Each case must give the same result for every chunk size. */
static void check_msgs(const struct msg_case *cases, size_t n)
{
    size_t i, chunk;
    for (i = 0; i < n; i++) {
        const struct msg_case *c = &cases[i];
        for (chunk = 1; chunk <= c->len; chunk++) {
            struct scan_result r;
            scan(c->in, c->len, c->normalize, 0, chunk, &r);
            if (r.done != c->done || r.consumed != (c->consumed ? c->consumed : c->len)
                || r.out_len != c->out_len || memcmp(r.out, c->out, r.out_len) != 0
                || r.flags != c->flags)
                fail_msg("%s (chunk %zu): done %d consumed %zu out \"%.*s\" flags %#x",
                         c->name, chunk, r.done, r.consumed, (int)r.out_len, r.out, r.flags);
            free(r.out);
        }
    }
}

#define MC(name, in, norm, done, consumed, out, flags) \
    { name, STR_AND_LEN(in), norm, done, consumed, STR_AND_LEN(out), flags }

static void simple_message_ends_at_crlf_dot_crlf(void **state)
{
    static const struct msg_case cases[] = {
        MC("simple", "Subject: hi\r\n\r\nbody\r\n.\r\n", false, true, 0,
           "Subject: hi\r\n\r\nbody\r\n", 0),
        MC("dot inside lines", "a.b\r\n a.\r\nx.\r\n.\r\n", false, true, 0,
           "a.b\r\n a.\r\nx.\r\n", 0),
        MC("no end yet", "body\r\n", false, false, 0, "body\r\n", 0),
        MC("dot line not ended yet", "body\r\n.\r", false, false, 0, "body\r\n", 0),
    };
    (void)state;
    check_msgs(cases, N_ELEMENTS(cases));
}

static void leading_dot_is_unstuffed(void **state)
{
    static const struct msg_case cases[] = {
        MC("stuffed dots", "..hidden\r\n.x\r\n...\r\n..\r\n.\r\n", false, true, 0,
           ".hidden\r\nx\r\n..\r\n.\r\n", 0),
        MC("stuffed first line", ".From me\r\n.\r\n", false, true, 0, "From me\r\n", 0),
        MC("dot then bare lf", "a\r\n.\nb\r\n.\r\n", false, true, 0, "a\r\n\nb\r\n",
           DATA_BARE_LF),
        MC("dot then bare cr", "a\r\n.\rb\r\n.\r\n", false, true, 0, "a\r\n\rb\r\n",
           DATA_BARE_CR),
        MC("dot cr cr lf", ".\r\r\n.\r\n", false, true, 0, "\r\r\n", DATA_BARE_CR),
    };
    (void)state;
    check_msgs(cases, N_ELEMENTS(cases));
}

static void dot_crlf_at_the_start_is_an_empty_message(void **state)
{
    static const struct msg_case cases[] = {
        MC("empty", ".\r\n", false, true, 0, "", 0),
        MC("empty, normalize", ".\r\n", true, true, 0, "", 0),
        MC("empty then more", ".\r\nQUIT\r\n", false, true, 3, "", 0),
    };
    (void)state;
    check_msgs(cases, N_ELEMENTS(cases));
}

static void end_marker_split_at_every_byte_boundary_is_found(void **state)
{
    static const char in[] = "hello\r\n..x\r\n.\r\nQUIT\r\n";
    static const char want[] = "hello\r\n.x\r\n";
    size_t len = sizeof in - 1, a, b;
    int normalize;
    (void)state;
    for (normalize = 0; normalize < 2; normalize++) {
        for (a = 0; a <= len; a++) {
            for (b = a; b <= len; b++) {
                size_t cuts[2] = { a, b };
                struct scan_result r;
                scan_cuts(in, len, normalize, 0, cuts, 2, &r);
                assert_true(r.done);
                assert_int_equal(r.consumed, len - 6);
                expect_output(&r, STR_AND_LEN(want));
                free(r.out);
            }
        }
    }
}

static void lookalike_end_markers_do_not_end_the_data(void **state)
{
    static const struct msg_case cases[] = {
        MC("lf dot lf", "a\n.\n", false, false, 0, "a\n.\n", DATA_BARE_LF),
        MC("crlf lf dot lf", "a\r\n\n.\n", false, false, 0, "a\r\n\n.\n", DATA_BARE_LF),
        MC("lf dot crlf", "a\n.\r\n", false, false, 0, "a\n.\r\n", DATA_BARE_LF),
        MC("crlf dot lf", "a\r\n.\n", false, false, 0, "a\r\n\n", DATA_BARE_LF),
        MC("cr dot cr", "a\r.\r", false, false, 0, "a\r.\r", DATA_BARE_CR),
        MC("cr dot crlf", "a\r.\r\n", false, false, 0, "a\r.\r\n", DATA_BARE_CR),
        MC("crlf dot cr", "a\r\n.\r", false, false, 0, "a\r\n", 0),
        MC("crlf dot cr cr", "a\r\n.\r\r", false, false, 0, "a\r\n\r\r", DATA_BARE_CR),
        MC("crlf dot space crlf", "a\r\n. \r\n", false, false, 0, "a\r\n \r\n", 0),
        MC("crlf nul dot crlf", "a\r\n\0.\r\n", false, false, 0, "a\r\n\0.\r\n", DATA_NUL),
        MC("start lf dot crlf", "\n.\r\n", false, false, 0, "\n.\r\n", DATA_BARE_LF),
        MC("start dot lf", ".\n", false, false, 0, "\n", DATA_BARE_LF),
    };
    (void)state;
    check_msgs(cases, N_ELEMENTS(cases));
}

static void smuggling_payloads_do_not_end_the_data_early(void **state)
{
    static const struct {
        const char *s;
        size_t len;
    } prefixes[] = {
        { STR_AND_LEN("a\r\n\n.\r\n") },   { STR_AND_LEN("a\r\n.\n") },
        { STR_AND_LEN("a\n.\r\n") },         { STR_AND_LEN("a\n.\n") },
        { STR_AND_LEN("a\r.\r\n") },         { STR_AND_LEN("a\r\n.\r\r\n") },
        { STR_AND_LEN("a\r.\r") },           { STR_AND_LEN("a\r\n\r.\r\n") },
        { STR_AND_LEN("a\r\n.\r.\r\n") },   { STR_AND_LEN("a\r\n\0.\r\n") },
    };
    static const char tail[] = "MAIL FROM:<x@evil>\r\nRCPT TO:<y@victim>\r\nDATA\r\n"
                               "forged\r\n.\r\nQUIT\r\n";
    size_t i;
    int normalize;
    (void)state;
    for (normalize = 0; normalize < 2; normalize++) {
        for (i = 0; i < N_ELEMENTS(prefixes); i++) {
            char in[256];
            size_t plen = prefixes[i].len;
            struct scan_result r;
            memcpy(in, prefixes[i].s, plen);
            memcpy(in + plen, tail, sizeof tail - 1);
            scan(in, plen + sizeof tail - 1, normalize, 0, 1, &r);
            if (!r.done || r.consumed != plen + sizeof tail - 1 - 6)
                fail_msg("prefix %zu, normalize %d: done %d at %zu", i, normalize, r.done,
                         r.consumed);
            assert_non_null(memmem(r.out, r.out_len, "MAIL FROM:<x@evil>", 18));
            assert_true(r.flags & (DATA_BARE_LF | DATA_BARE_CR | DATA_NUL));
            free(r.out);
        }
    }
}

static void normalize_mode_writes_bare_lf_and_cr_as_crlf(void **state)
{
    static const struct msg_case cases[] = {
        MC("reject mode copies", "a\nb\rc\r\n.\r\n", false, true, 0, "a\nb\rc\r\n",
           DATA_BARE_LF | DATA_BARE_CR),
        MC("normalize", "a\nb\rc\r\n.\r\n", true, true, 0, "a\r\nb\r\nc\r\n",
           DATA_BARE_LF | DATA_BARE_CR),
        MC("normalize cr cr lf", "a\r\r\n.\r\n", true, true, 0, "a\r\n\r\n", DATA_BARE_CR),
        MC("normalized lf is not a line start", "a\n.\r\n.\r\n", true, true, 0,
           "a\r\n.\r\n", DATA_BARE_LF),
        MC("normalized lf is not a line start for unstuffing", "a\n..\r\n.\r\n", true, true,
           0, "a\r\n..\r\n", DATA_BARE_LF),
        MC("normalize dot cr x", ".\rx\r\n.\r\n", true, true, 0, "\r\nx\r\n", DATA_BARE_CR),
        MC("normalize dot cr cr", "a\r\n.\r\r\r\n.\r\n", true, true, 0, "a\r\n\r\n\r\n\r\n",
           DATA_BARE_CR),
        MC("normalize dot cr then bare lfs", ".\rx\n\n\n\r\n.\r\n", true, true, 0,
           "\r\nx\r\n\r\n\r\n\r\n", DATA_BARE_CR | DATA_BARE_LF),
        MC("normalize dot lf", ".\n\r\n.\r\n", true, true, 0, "\r\n\r\n", DATA_BARE_LF),
    };
    (void)state;
    check_msgs(cases, N_ELEMENTS(cases));
}

static void nul_is_flagged_and_copied(void **state)
{
    static const struct msg_case cases[] = {
        MC("nul", "a\0b\r\n.\r\n", false, true, 0, "a\0b\r\n", DATA_NUL),
    };
    (void)state;
    check_msgs(cases, N_ELEMENTS(cases));
}

static void line_longer_than_max_line_is_flagged(void **state)
{
    static const struct {
        const char *in;
        size_t max_line;
        unsigned flags;
    } cases[] = {
        { "0123456789\r\n.\r\n", 10, 0 },
        { "0123456789A\r\n.\r\n", 10, DATA_LONG_LINE },
        { "..23456789\r\n.\r\n", 10, 0 },
        { "..23456789A\r\n.\r\n", 10, DATA_LONG_LINE },
        { "01234\n6789\r\n.\r\n", 10, DATA_BARE_LF },
        { "01234\n6789A\r\n.\r\n", 10, DATA_BARE_LF | DATA_LONG_LINE },
        { "01234\r6789A\r\n.\r\n", 10, DATA_BARE_CR | DATA_LONG_LINE },
        { "0123456789\r\n0123456789\r\n.\r\n", 10, 0 },
        { "0123456789A\r\n.\r\n", 0, 0 },
    };
    size_t i;
    (void)state;
    for (i = 0; i < N_ELEMENTS(cases); i++) {
        struct scan_result r;
        scan(cases[i].in, strlen(cases[i].in), false, cases[i].max_line, 1, &r);
        assert_true(r.done);
        if (r.flags != cases[i].flags)
            fail_msg("\"%s\": flags %#x", cases[i].in, r.flags);
        free(r.out);
    }
}

static void bytes_after_the_end_marker_are_not_consumed(void **state)
{
    struct data_scan s;
    char out[64];
    size_t out_len, n;
    bool done;
    (void)state;
    data_scan_init(&s, 0, false);
    n = data_scan_feed(&s, STR_AND_LEN("x\r\n.\r\nQUIT\r\n"), out, &out_len, &done);
    assert_true(done);
    assert_int_equal(n, 6);
    assert_int_equal(out_len, 3);
    assert_memory_equal(out, "x\r\n", 3);
    n = data_scan_feed(&s, STR_AND_LEN("QUIT\r\n"), out, &out_len, &done);
    assert_true(done);
    assert_int_equal(n, 0);
    assert_int_equal(out_len, 0);
    assert_int_equal(s.out_total, 3);
}

static uint32_t rng_next(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/*
 * A random message of about size bytes: lines of letters, spaces, dots, NULs and the odd
 * bare CR or bare LF (never a CR right before an LF, which would be a real line end),
 * dot-stuffed for the wire and ended by CR LF . CR LF and a pipelined QUIT. *plain gets
 * what the scanner must give back in reject mode: the lines before stuffing.
 */
static char *random_message(size_t size, uint32_t seed, size_t *len, char **plain,
                            size_t *plain_len)
{
    static const char alphabet[] = "abc .\0\r\n";
    char *wire = malloc(size + size / 8 + 256), *txt = malloc(size + 256);
    size_t w = 0, t = 0;
    assert_true(wire != NULL && txt != NULL);
    while (t < size) {
        size_t n = rng_next(&seed) % 120, i;
        char prev = 0;
        for (i = 0; i < n; i++) {
            char c = alphabet[rng_next(&seed) % (sizeof alphabet - 1)];
            txt[t + i] = prev = c == '\n' && prev == '\r' ? 'x' : c;
        }
        if (n > 0 && txt[t] == '.')
            wire[w++] = '.';
        memcpy(wire + w, txt + t, n);
        memcpy(wire + w + n, "\r\n", 2);
        memcpy(txt + t + n, "\r\n", 2);
        w += n + 2;
        t += n + 2;
    }
    memcpy(wire + w, ".\r\nQUIT\r\n", 9);
    *len = w + 9;
    *plain = txt;
    *plain_len = t;
    return wire;
}

static void megabyte_message_in_random_chunks_equals_one_shot(void **state)
{
    size_t len, plain_len;
    char *plain, *in = random_message(1 << 20, 12345, &len, &plain, &plain_len);
    uint32_t seed = 777;
    int normalize;
    (void)state;
    for (normalize = 0; normalize < 2; normalize++) {
        struct scan_result one, split;
        size_t cuts[4096], ncuts = 0, at = 0;
        scan(in, len, normalize, 998, len, &one);
        assert_true(one.done);
        assert_int_equal(one.consumed, len - 6);
        if (!normalize)
            expect_output(&one, plain, plain_len);
        while (ncuts < N_ELEMENTS(cuts) && (at += 1 + rng_next(&seed) % 600) < len)
            cuts[ncuts++] = at;
        scan_cuts(in, len, normalize, 998, cuts, ncuts, &split);
        assert_true(split.done);
        assert_int_equal(split.consumed, one.consumed);
        assert_int_equal(split.flags, one.flags);
        expect_output(&split, one.out, one.out_len);
        free(one.out);
        free(split.out);
    }
    free(in);
    free(plain);
}

/* ---- raw mode (BDAT) ----------------------------------------------------------------- */

/* Scan in raw mode, one byte at a time, then finish. */
static void raw_scan(const char *in, size_t len, bool normalize, size_t max_line,
                     struct scan_result *r)
{
    struct data_scan s;
    size_t i, got;

    data_scan_init_raw(&s, max_line, normalize);
    memset(r, 0, sizeof *r);
    r->out = malloc(2 * len + 3);
    assert_non_null(r->out);
    for (i = 0; i < len; i++) {
        assert_int_equal(data_scan_feed(&s, in + i, 1, r->out + r->out_len, &got, &r->done), 1);
        assert_false(r->done);
        assert_true(got <= 2);
        r->out_len += got;
    }
    data_scan_finish(&s, r->out + r->out_len, &got);
    assert_true(got <= 2);
    r->out_len += got;
    r->consumed = len;
    assert_int_equal(s.out_total, r->out_len);
    r->flags = s.flags;
}

static void raw_mode_keeps_dots_and_end_markers_as_content(void **state)
{
    static const char in[] = "Subject: x\r\n\r\n.leading dot\r\n..two\r\n.\r\n"
                             "MAIL FROM:<evil@example.org>\r\n";
    struct scan_result r;
    (void)state;
    raw_scan(STR_AND_LEN(in), false, 0, &r);
    expect_output(&r, STR_AND_LEN(in));   /* byte for byte */
    assert_int_equal(r.flags, 0);
    free(r.out);
}

static void raw_mode_flags_bare_lf_and_cr_like_data(void **state)
{
    struct scan_result r;
    (void)state;
    raw_scan(STR_AND_LEN("a\r\n\n.\nb\r\n"), false, 0, &r);
    assert_true(r.flags & DATA_BARE_LF);
    free(r.out);
    raw_scan(STR_AND_LEN("a\rb\r\n"), false, 0, &r);
    assert_true(r.flags & DATA_BARE_CR);
    free(r.out);
    raw_scan(STR_AND_LEN("a\r\nb\r"), false, 0, &r);   /* a CR at the very end is bare */
    assert_true(r.flags & DATA_BARE_CR);
    free(r.out);
    raw_scan(STR_AND_LEN("a\nb\rc\r"), true, 0, &r);
    expect_output(&r, STR_AND_LEN("a\r\nb\r\nc\r\n"));
    free(r.out);
    raw_scan(STR_AND_LEN("a\0\r\n"), false, 0, &r);
    assert_true(r.flags & DATA_NUL);
    free(r.out);
    raw_scan(STR_AND_LEN("12345\r\n123456\r\n"), false, 5, &r);
    assert_true(r.flags & DATA_LONG_LINE);
    free(r.out);
}

static void raw_mode_ends_an_unterminated_last_line(void **state)
{
    struct scan_result r;
    (void)state;
    raw_scan(STR_AND_LEN("Subject: x\r\n\r\nno newline"), false, 0, &r);
    expect_output(&r, STR_AND_LEN("Subject: x\r\n\r\nno newline\r\n"));
    free(r.out);
    raw_scan("", 0, false, 0, &r);   /* BDAT 0 LAST: nothing at all */
    assert_int_equal(r.out_len, 0);
    free(r.out);
    raw_scan(STR_AND_LEN("a\n"), true, 0, &r);   /* normalized bare LF already ends it */
    expect_output(&r, STR_AND_LEN("a\r\n"));
    free(r.out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(raw_mode_keeps_dots_and_end_markers_as_content),
        cmocka_unit_test(raw_mode_flags_bare_lf_and_cr_like_data),
        cmocka_unit_test(raw_mode_ends_an_unterminated_last_line),
        cmocka_unit_test(simple_message_ends_at_crlf_dot_crlf),
        cmocka_unit_test(leading_dot_is_unstuffed),
        cmocka_unit_test(dot_crlf_at_the_start_is_an_empty_message),
        cmocka_unit_test(end_marker_split_at_every_byte_boundary_is_found),
        cmocka_unit_test(lookalike_end_markers_do_not_end_the_data),
        cmocka_unit_test(smuggling_payloads_do_not_end_the_data_early),
        cmocka_unit_test(normalize_mode_writes_bare_lf_and_cr_as_crlf),
        cmocka_unit_test(nul_is_flagged_and_copied),
        cmocka_unit_test(line_longer_than_max_line_is_flagged),
        cmocka_unit_test(bytes_after_the_end_marker_are_not_consumed),
        cmocka_unit_test(megabyte_message_in_random_chunks_equals_one_shot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
