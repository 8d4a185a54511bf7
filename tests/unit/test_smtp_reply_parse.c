/*
 * test_smtp_reply_parse.c - unit tests for lib/smtp_reply_parse.c: framing of single- and
 * multi-line replies (whole, pipelined, and fed one byte at a time), malformed replies,
 * the line-length and line-count bounds, enhanced status codes, the joined reply text,
 * and the EHLO keyword list. Test names state the behaviour.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/smtp_reply_parse.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define TEXT_CAP 512
#define LINE_MAX_TEST 64
#define LINES_MAX_TEST 8

static const struct smtp_reply_limits lim = { LINE_MAX_TEST, LINES_MAX_TEST };

static enum smtp_reply_status parse(const char *s, struct smtp_reply *r, size_t *used)
{
    return smtp_reply_parse(s, strlen(s), &lim, r, used);
}

static void expect_line(const struct smtp_reply *r, size_t i, const char *text)
{
    assert_true(i < r->nlines);
    assert_int_equal(r->lines[i].len, strlen(text));
    assert_memory_equal(r->lines[i].text, text, strlen(text));
}

/* ---- framing ------------------------------------------------------------------------------ */

static void single_line_reply_is_framed(void **state)
{
    struct smtp_reply r;
    size_t used;
    (void)state;
    assert_int_equal(parse("220 mx.example ESMTP\r\n", &r, &used), SMTP_REPLY_OK);
    assert_int_equal(r.code, 220);
    assert_int_equal(r.nlines, 1);
    expect_line(&r, 0, "mx.example ESMTP");
    assert_int_equal(used, 22);
}

static void multi_line_reply_keeps_every_line(void **state)
{
    static const char in[] = "250-mx.example\r\n250-PIPELINING\r\n250-\r\n250 SIZE 1000\r\n";
    struct smtp_reply r;
    size_t used;
    (void)state;
    assert_int_equal(parse(in, &r, &used), SMTP_REPLY_OK);
    assert_int_equal(r.code, 250);
    assert_int_equal(r.nlines, 4);
    expect_line(&r, 0, "mx.example");
    expect_line(&r, 1, "PIPELINING");
    expect_line(&r, 2, "");
    expect_line(&r, 3, "SIZE 1000");
    assert_int_equal(used, strlen(in));
}

static void multi_line_reply_needs_its_last_line(void **state)
{
    struct smtp_reply r;
    size_t used = 99;
    (void)state;
    assert_int_equal(parse("250-a\r\n250-b\r\n", &r, &used), SMTP_REPLY_NEED_MORE);
    assert_int_equal(used, 0);
    assert_int_equal(parse("250-a\r\n250 b", &r, &used), SMTP_REPLY_NEED_MORE);
    assert_int_equal(parse("250-a\r\n250 b\r", &r, &used), SMTP_REPLY_NEED_MORE);
    assert_int_equal(parse("", &r, &used), SMTP_REPLY_NEED_MORE);
}

static void bare_code_line_ends_a_reply(void **state)
{
    struct smtp_reply r;
    size_t used;
    (void)state;
    assert_int_equal(parse("250-first\r\n250\r\n", &r, &used), SMTP_REPLY_OK);
    assert_int_equal(r.nlines, 2);
    expect_line(&r, 1, "");
    assert_int_equal(used, 16);
}

static void bare_lf_line_end_is_accepted(void **state)
{
    struct smtp_reply r;
    size_t used;
    (void)state;
    assert_int_equal(parse("250-a\n250 b\nrest", &r, &used), SMTP_REPLY_OK);
    expect_line(&r, 0, "a");
    expect_line(&r, 1, "b");
    assert_int_equal(used, 12);
}

static void pipelined_replies_are_framed_one_at_a_time(void **state)
{
    static const char in[] = "250 2.1.0 Ok\r\n550 5.1.1 no\r\n354 go ahead\r\n";
    static const int codes[] = { 250, 550, 354 };
    struct smtp_reply r;
    size_t off = 0, used, i;
    (void)state;
    for (i = 0; i < N_ELEMENTS(codes); i++) {
        assert_int_equal(smtp_reply_parse(in + off, strlen(in) - off, &lim, &r, &used),
                         SMTP_REPLY_OK);
        assert_int_equal(r.code, codes[i]);
        off += used;
    }
    assert_int_equal(off, strlen(in));
}

static void reply_fed_byte_by_byte_completes_exactly_at_its_end(void **state)
{
    static const char in[] = "250-mx\r\n250-8BITMIME\r\n250 DSN\r\n";
    struct smtp_reply r;
    size_t n, used;
    (void)state;
    for (n = 0; n < strlen(in); n++)
        assert_int_equal(smtp_reply_parse(in, n, &lim, &r, &used), SMTP_REPLY_NEED_MORE);
    assert_int_equal(smtp_reply_parse(in, n, &lim, &r, &used), SMTP_REPLY_OK);
    assert_int_equal(used, strlen(in));
    assert_int_equal(r.nlines, 3);
}

/* ---- malformed ---------------------------------------------------------------------------- */

static void malformed_replies_are_syntax_errors(void **state)
{
    static const char *const bad[] = {
        "HTTP/1.1 400 Bad Request\r\n",
        "25\r\n",
        "\r\n",
        "2500 ok\r\n",
        "250x ok\r\n",
        "150 no such class\r\n",
        "650 no such class\r\n",
        "260 second digit too big\r\n",
        "25a ok\r\n",
        "250-a\r\n251 b\r\n",           /* codes differ */
        "250-a\r\n250x\r\n",
        " 250 ok\r\n",
    };
    struct smtp_reply r;
    size_t used, i;
    (void)state;
    for (i = 0; i < N_ELEMENTS(bad); i++) {
        enum smtp_reply_status st = parse(bad[i], &r, &used);
        if (st != SMTP_REPLY_SYNTAX)
            fail_msg("\"%s\": status %d", bad[i], st);
        assert_int_equal(used, 0);
    }
}

static void garbage_is_refused_before_its_line_ends(void **state)
{
    struct smtp_reply r;
    size_t used;
    (void)state;
    assert_int_equal(parse("HTTP", &r, &used), SMTP_REPLY_SYNTAX);
    assert_int_equal(parse("2", &r, &used), SMTP_REPLY_NEED_MORE);
    assert_int_equal(parse("25", &r, &used), SMTP_REPLY_NEED_MORE);
    assert_int_equal(parse("250", &r, &used), SMTP_REPLY_NEED_MORE);
    assert_int_equal(parse("250_", &r, &used), SMTP_REPLY_SYNTAX);
    assert_int_equal(parse("250-a\r\nX", &r, &used), SMTP_REPLY_SYNTAX);
}

static void nul_byte_is_a_syntax_error(void **state)
{
    static const char in[] = "250 a\0b\r\n";
    static const char part[] = "250 a\0b";
    struct smtp_reply r;
    size_t used;
    (void)state;
    assert_int_equal(smtp_reply_parse(in, sizeof(in) - 1, &lim, &r, &used), SMTP_REPLY_SYNTAX);
    assert_int_equal(smtp_reply_parse(part, sizeof(part) - 1, &lim, &r, &used),
                     SMTP_REPLY_SYNTAX);
}

/* ---- bounds ------------------------------------------------------------------------------- */

static char *line_of(size_t text_len, const char *end)
{
    char *s = malloc(4 + text_len + strlen(end) + 1);
    assert_non_null(s);
    memcpy(s, "250 ", 4);
    memset(s + 4, 'x', text_len);
    strcpy(s + 4 + text_len, end);
    return s;
}

static void line_of_exactly_line_max_is_accepted(void **state)
{
    struct smtp_reply r;
    size_t used;
    char *s = line_of(LINE_MAX_TEST - 4, "\r\n");
    char *cr = line_of(LINE_MAX_TEST - 4, "\r");
    (void)state;
    assert_int_equal(parse(s, &r, &used), SMTP_REPLY_OK);
    assert_int_equal(parse(cr, &r, &used), SMTP_REPLY_NEED_MORE);   /* CR, LF pending */
    free(s);
    free(cr);
}

static void line_longer_than_line_max_is_too_long_even_unfinished(void **state)
{
    struct smtp_reply r;
    size_t used;
    char *s = line_of(LINE_MAX_TEST - 3, "\r\n");
    char *part = line_of(LINE_MAX_TEST - 3, "");
    (void)state;
    assert_int_equal(parse(s, &r, &used), SMTP_REPLY_TOO_LONG);
    assert_int_equal(parse(part, &r, &used), SMTP_REPLY_TOO_LONG);
    free(s);
    free(part);
}

static void reply_with_more_than_lines_max_lines_is_refused_early(void **state)
{
    char buf[LINES_MAX_TEST * 8 + 1] = "";
    struct smtp_reply r;
    size_t used, i;
    (void)state;
    for (i = 0; i + 1 < LINES_MAX_TEST; i++)
        strcat(buf, "250-x\r\n");
    assert_int_equal(parse(buf, &r, &used), SMTP_REPLY_NEED_MORE);
    strcat(buf, "250 x\r\n");
    assert_int_equal(parse(buf, &r, &used), SMTP_REPLY_OK);          /* exactly lines_max */
    buf[strlen(buf) - 4] = '-';
    assert_int_equal(parse(buf, &r, &used), SMTP_REPLY_TOO_MANY_LINES);
}

static void lines_max_above_the_cap_is_clamped(void **state)
{
    const struct smtp_reply_limits big = { LINE_MAX_TEST, SMTP_REPLY_LINES_CAP * 2 };
    size_t n = SMTP_REPLY_LINES_CAP * 7, i;
    char *buf = malloc(n + 1);
    struct smtp_reply r;
    size_t used;
    (void)state;
    assert_non_null(buf);
    for (i = 0; i < SMTP_REPLY_LINES_CAP; i++)
        memcpy(buf + i * 7, "250-x\r\n", 7);
    buf[n] = '\0';
    assert_int_equal(smtp_reply_parse(buf, n, &big, &r, &used), SMTP_REPLY_TOO_MANY_LINES);
    free(buf);
}

/* ---- enhanced codes and text -------------------------------------------------------------- */

static void enhanced_codes_are_recognised_only_when_well_formed(void **state)
{
    static const struct {
        const char *in, *enh;
    } cases[] = {
        { "250 2.1.5 Ok\r\n", "2.1.5" },
        { "550 5.1.1\r\n", "5.1.1" },
        { "451 4.123.456 deep\r\n", "4.123.456" },
        { "250 5.1.1 class differs\r\n", "" },
        { "250 2.1 short\r\n", "" },
        { "250 2.1.5x glued\r\n", "" },
        { "250 2.1234.5 too many digits\r\n", "" },
        { "250 2..5 empty\r\n", "" },
        { "250 Ok\r\n", "" },
        { "250\r\n", "" },
        { "250-2.0.0 first\r\n250 2.0.0 second\r\n", "2.0.0" },
    };
    struct smtp_reply r;
    size_t used, i;
    (void)state;
    for (i = 0; i < N_ELEMENTS(cases); i++) {
        assert_int_equal(parse(cases[i].in, &r, &used), SMTP_REPLY_OK);
        assert_string_equal(r.enhanced, cases[i].enh);
    }
}

static void reply_text_joins_lines_and_drops_repeated_enhanced_codes(void **state)
{
    struct smtp_reply r;
    size_t used;
    char t[TEXT_CAP];
    (void)state;
    assert_int_equal(parse("550-5.1.1 no such\r\n550-5.1.1\r\n550 5.1.1 user here\r\n", &r,
                           &used), SMTP_REPLY_OK);
    assert_int_equal(smtp_reply_text(&r, t, sizeof(t)), strlen("no such user here"));
    assert_string_equal(t, "no such user here");
    assert_int_equal(parse("250-mx\r\n250 2.0.0 x\r\n", &r, &used), SMTP_REPLY_OK);
    smtp_reply_text(&r, t, sizeof(t));
    assert_string_equal(t, "mx 2.0.0 x");       /* only the first line sets the code */
}

static void reply_text_replaces_control_and_8bit_bytes(void **state)
{
    struct smtp_reply r;
    size_t used;
    char t[TEXT_CAP];
    (void)state;
    assert_int_equal(parse("421 bad\tbyte\x01\xc3\xa9\r\n", &r, &used), SMTP_REPLY_OK);
    smtp_reply_text(&r, t, sizeof(t));
    assert_string_equal(t, "bad?byte???");
}

static void reply_text_is_cut_to_fit_and_terminated(void **state)
{
    struct smtp_reply r;
    size_t used;
    char t[6];
    (void)state;
    assert_int_equal(parse("250-hello\r\n250 world\r\n", &r, &used), SMTP_REPLY_OK);
    assert_int_equal(smtp_reply_text(&r, t, sizeof(t)), 5);
    assert_string_equal(t, "hello");
    assert_int_equal(smtp_reply_text(&r, t, 1), 0);
    assert_string_equal(t, "");
}

/* ---- EHLO keywords ------------------------------------------------------------------------ */

#define EHLO_LINES_MAX 32

static void ehlo(const char *in, struct smtp_ehlo *e)
{
    static const struct smtp_reply_limits ehlo_lim = { LINE_MAX_TEST, EHLO_LINES_MAX };
    struct smtp_reply r;
    size_t used;
    assert_int_equal(smtp_reply_parse(in, strlen(in), &ehlo_lim, &r, &used), SMTP_REPLY_OK);
    smtp_ehlo_parse(&r, e);
}

static void ehlo_keywords_are_extracted(void **state)
{
    struct smtp_ehlo e;
    (void)state;
    ehlo("250-mx.example Hello\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
         "250-STARTTLS\r\n250-AUTH PLAIN LOGIN CRAM-MD5\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n"
         "250 ENHANCEDSTATUSCODES\r\n", &e);
    assert_int_equal(e.ext, SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_8BITMIME |
                     SMTP_EXT_STARTTLS | SMTP_EXT_AUTH | SMTP_EXT_SMTPUTF8 | SMTP_EXT_CHUNKING |
                     SMTP_EXT_ENHANCED);
    assert_int_equal(e.size_max, 10240000);
    assert_int_equal(e.auth, SMTP_AUTH_PLAIN | SMTP_AUTH_LOGIN | SMTP_AUTH_OTHER);
}

static void ehlo_keywords_are_case_insensitive_and_whole_words(void **state)
{
    struct smtp_ehlo e;
    (void)state;
    ehlo("250-mx\r\n250-pipelining\r\n250-StartTLS\r\n250-PIPELININGX\r\n250-8BITMIMEX\r\n"
         "250 X-STARTTLS\r\n", &e);
    assert_int_equal(e.ext, SMTP_EXT_PIPELINING | SMTP_EXT_STARTTLS);
}

static void ehlo_greeting_line_is_not_a_keyword(void **state)
{
    struct smtp_ehlo e;
    (void)state;
    ehlo("250 PIPELINING\r\n", &e);              /* single line: only the greeting */
    assert_int_equal(e.ext, 0);
}

static void ehlo_size_values(void **state)
{
    static const struct {
        const char *in;
        unsigned long long max;
    } cases[] = {
        { "250-mx\r\n250 SIZE\r\n", 0 },
        { "250-mx\r\n250 SIZE 0\r\n", 0 },
        { "250-mx\r\n250 SIZE 18446744073709551615\r\n", 18446744073709551615ULL },
        { "250-mx\r\n250 SIZE 18446744073709551616\r\n", 0 },
        { "250-mx\r\n250 SIZE 12k\r\n", 0 },
        { "250-mx\r\n250 SIZE   52428800  \r\n", 52428800 },
    };
    struct smtp_ehlo e;
    size_t i;
    (void)state;
    for (i = 0; i < N_ELEMENTS(cases); i++) {
        ehlo(cases[i].in, &e);
        assert_int_equal(e.ext, SMTP_EXT_SIZE);
        assert_true(e.size_max == cases[i].max);
    }
}

static void ehlo_old_auth_form_is_understood(void **state)
{
    struct smtp_ehlo e;
    (void)state;
    ehlo("250-mx\r\n250 AUTH=LOGIN PLAIN\r\n", &e);
    assert_int_equal(e.ext, SMTP_EXT_AUTH);
    assert_int_equal(e.auth, SMTP_AUTH_LOGIN | SMTP_AUTH_PLAIN);
    ehlo("250-mx\r\n250 AUTH GSSAPI\r\n", &e);
    assert_int_equal(e.auth, SMTP_AUTH_OTHER);
}

static void ehlo_refusal_has_no_keywords(void **state)
{
    struct smtp_ehlo e;
    (void)state;
    ehlo("502-5.5.1 no\r\n502 PIPELINING\r\n", &e);
    assert_int_equal(e.ext, 0);
    assert_int_equal(e.auth, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(single_line_reply_is_framed),
        cmocka_unit_test(multi_line_reply_keeps_every_line),
        cmocka_unit_test(multi_line_reply_needs_its_last_line),
        cmocka_unit_test(bare_code_line_ends_a_reply),
        cmocka_unit_test(bare_lf_line_end_is_accepted),
        cmocka_unit_test(pipelined_replies_are_framed_one_at_a_time),
        cmocka_unit_test(reply_fed_byte_by_byte_completes_exactly_at_its_end),
        cmocka_unit_test(malformed_replies_are_syntax_errors),
        cmocka_unit_test(garbage_is_refused_before_its_line_ends),
        cmocka_unit_test(nul_byte_is_a_syntax_error),
        cmocka_unit_test(line_of_exactly_line_max_is_accepted),
        cmocka_unit_test(line_longer_than_line_max_is_too_long_even_unfinished),
        cmocka_unit_test(reply_with_more_than_lines_max_lines_is_refused_early),
        cmocka_unit_test(lines_max_above_the_cap_is_clamped),
        cmocka_unit_test(enhanced_codes_are_recognised_only_when_well_formed),
        cmocka_unit_test(reply_text_joins_lines_and_drops_repeated_enhanced_codes),
        cmocka_unit_test(reply_text_replaces_control_and_8bit_bytes),
        cmocka_unit_test(reply_text_is_cut_to_fit_and_terminated),
        cmocka_unit_test(ehlo_keywords_are_extracted),
        cmocka_unit_test(ehlo_keywords_are_case_insensitive_and_whole_words),
        cmocka_unit_test(ehlo_greeting_line_is_not_a_keyword),
        cmocka_unit_test(ehlo_size_values),
        cmocka_unit_test(ehlo_old_auth_form_is_understood),
        cmocka_unit_test(ehlo_refusal_has_no_keywords),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
