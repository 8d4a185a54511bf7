/*
 * test_utf8.c - unit tests of lib/utf8.c: ASCII and well-formed UTF-8 checks (overlongs,
 * surrogates, truncated and out-of-range sequences), and the resumable header-section
 * scan that decides whether a message needs SMTPUTF8 (stops at the first non-ASCII
 * header byte or at the empty line; never looks at the body; same answer in any pieces).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "lib/utf8.h"

static void ascii_check(void **state)
{
    (void)state;
    assert_true(utf8_is_ascii("", 0));
    assert_true(utf8_is_ascii("plain text\r\n\x7f", 13));
    assert_false(utf8_is_ascii("caf\xc3\xa9", 5));
    assert_false(utf8_is_ascii("\x80", 1));
}

static void well_formed_utf8(void **state)
{
    static const char *const good[] = {
        "", "ascii", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x93\xa7", "\xc2\x80",
        "\xed\x9f\xbf", "\xee\x80\x80", "\xf4\x8f\xbf\xbf", "\xe0\xa0\x80", "\xf0\x90\x80\x80",
    };
    static const char *const bad[] = {
        "\x80", "\xbf", "\xc0\xaf", "\xc1\xbf",        /* stray continuation, overlong */
        "\xe0\x80\xaf", "\xf0\x80\x80\xaf",            /* overlong 3- and 4-byte forms */
        "\xed\xa0\x80", "\xed\xbf\xbf",                /* UTF-16 surrogates */
        "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", /* above U+10FFFF, never lead bytes */
        "\xc3", "\xe2\x82", "\xf0\x9f\x93",            /* cut short */
        "\xc3\x28", "\xe2\x28\xa1", "\xf0\x9f\x28\xa7", /* bad continuation */
        "latin-1 gr\xfc\xdf""e",
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (!utf8_is_valid(good[i], strlen(good[i])))
            fail_msg("good[%zu] refused", i);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (utf8_is_valid(bad[i], strlen(bad[i])))
            fail_msg("bad[%zu] accepted", i);
}

/* Scan msg in pieces of `piece` bytes; returns the state and sets *used. */
static struct utf8_header_scan scan(const char *msg, size_t piece, size_t *used)
{
    struct utf8_header_scan st;
    size_t n = strlen(msg), pos = 0;
    memset(&st, 0, sizeof(st));
    while (pos < n && !st.done) {
        size_t k = n - pos < piece ? n - pos : piece, u = utf8_header_scan(&st, msg + pos, k);
        assert_true(u <= k);
        if (!st.done)
            assert_int_equal(u, k);
        pos += u;
    }
    *used = pos;
    return st;
}

static void header_scan_in_any_pieces(const char *msg, bool done, bool non_ascii,
                                      size_t used)
{
    size_t piece, u;
    for (piece = 1; piece <= strlen(msg) + 1; piece++) {
        struct utf8_header_scan st = scan(msg, piece, &u);
        if (st.done != done || st.non_ascii != non_ascii || u != used)
            fail_msg("piece %zu: done %d non_ascii %d used %zu", piece, st.done,
                     st.non_ascii, u);
    }
}

static void header_scan_finds_non_ascii_header_bytes(void **state)
{
    static const char msg[] = "From: a@example.org\r\nSubject: caf\xc3\xa9\r\n\r\nbody\r\n";
    (void)state;
    header_scan_in_any_pieces(msg, true, true, (size_t)(strchr(msg, '\xc3') - msg) + 1);
    /* a folded continuation line is header too */
    header_scan_in_any_pieces("Subject: a\r\n\tb\xc3\xa9\r\n\r\n", true, true, 15);
}

static void header_scan_stops_at_the_empty_line(void **state)
{
    static const char msg[] = "From: a@example.org\r\nSubject: plain\r\n\r\nd\xc3\xa9j\xc3\xa0\r\n";
    (void)state;
    header_scan_in_any_pieces(msg, true, false, (size_t)(strstr(msg, "\r\n\r\n") - msg) + 4);
    header_scan_in_any_pieces("\r\n\xc3\xa9", true, false, 2);      /* no header at all */
    header_scan_in_any_pieces("A: b\n\n\xc3\xa9", true, false, 6);  /* bare LF line ends */
    /* CR alone is no line end; "\r\r\n" is not an empty line */
    header_scan_in_any_pieces("A: b\r\n\r\r\nC: \xc3\xa9\r\n\r\n", true, true, 13);
}

static void header_scan_of_a_message_without_body(void **state)
{
    (void)state;
    header_scan_in_any_pieces("Subject: only a header\r\n", false, false, 24);
    header_scan_in_any_pieces("", false, false, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ascii_check),
        cmocka_unit_test(well_formed_utf8),
        cmocka_unit_test(header_scan_finds_non_ascii_header_bytes),
        cmocka_unit_test(header_scan_stops_at_the_empty_line),
        cmocka_unit_test(header_scan_of_a_message_without_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
