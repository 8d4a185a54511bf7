/*
 * test_spam_report.c - unit tests of policy/spam_report: the X-Spam-* header fields
 * exactly as documented (folding included) and the policy log line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/spam_report.h"

static struct result_symbol three[] = {
    { "DNSBL_X", 4.0, NULL }, { "RDNS_NONE", 1.5, NULL }, { "TEST", 0.7, NULL },
};

static struct rcpt_result result(double score, bool flag, struct result_symbol *syms, size_t n)
{
    struct rcpt_result r = { .disp = flag ? DISP_TAG : DISP_PASS, .score = score, .tag = 5,
                             .spam = 8, .spam_flag = flag, .headers = true, .syms = syms,
                             .nsyms = n };
    return r;
}

static void tagged_message_gets_all_four_fields(void **state)
{
    struct rcpt_result r = result(6.2, true, three, 3);
    char *h = spam_headers_format(&r);

    (void)state;
    assert_string_equal(h, "X-Spam-Status: Yes, score=6.2 required=5.0 tests=DNSBL_X,"
                           "RDNS_NONE,TEST\r\n"
                           "X-Spam-Score: 6.2\r\n"
                           "X-Spam-Flag: YES\r\n"
                           "X-Spam-Level: ******\r\n");
    free(h);
}

static void untagged_message_gets_status_and_score_only(void **state)
{
    struct rcpt_result r = result(1.5, false, &three[1], 1);
    char *h = spam_headers_format(&r);

    (void)state;
    assert_string_equal(h, "X-Spam-Status: No, score=1.5 required=5.0 tests=RDNS_NONE\r\n"
                           "X-Spam-Score: 1.5\r\n");
    free(h);
    r = result(0, false, NULL, 0);
    h = spam_headers_format(&r);
    assert_string_equal(h, "X-Spam-Status: No, score=0.0 required=5.0 tests=none\r\n"
                           "X-Spam-Score: 0.0\r\n");
    free(h);
}

static void scores_round_to_one_decimal_without_minus_zero(void **state)
{
    struct rcpt_result r = result(-0.04, false, NULL, 0);
    char *h = spam_headers_format(&r);

    (void)state;
    assert_non_null(strstr(h, "score=0.0 required=5.0"));
    free(h);
    r = result(-2, false, NULL, 0);
    r.tag = -1.25;
    h = spam_headers_format(&r);
    assert_non_null(strstr(h, "score=-2.0 required=-1.2"));
    free(h);
}

static void level_has_one_star_per_point_up_to_fifty(void **state)
{
    struct rcpt_result r = result(0.9, true, NULL, 0);   /* blacklisted: flag, no stars */
    char *h = spam_headers_format(&r), stars[64];

    (void)state;
    assert_non_null(strstr(h, "X-Spam-Level: \r\n"));
    free(h);
    r = result(120, true, NULL, 0);
    h = spam_headers_format(&r);
    memset(stars, '*', 50);
    stars[50] = '\0';
    assert_non_null(strstr(h, stars));
    assert_null(strstr(h, "***************************************************"));
    free(h);
    r = result(12.99, true, NULL, 0);
    h = spam_headers_format(&r);
    assert_non_null(strstr(h, "X-Spam-Level: ************\r\n"));
    free(h);
}

static void headers_off_gives_nothing(void **state)
{
    struct rcpt_result r = result(20, true, three, 3);
    char *h;

    (void)state;
    r.headers = false;
    h = spam_headers_format(&r);
    assert_string_equal(h, "");
    free(h);
}

static void long_test_lists_are_folded_under_78_octets(void **state)
{
    struct result_symbol syms[40];
    char names[40][32], *h, *line, *save = NULL, *unfolded;
    struct rcpt_result r;
    size_t i, at = 0, lines = 0;

    (void)state;
    for (i = 0; i < 40; i++) {
        snprintf(names[i], sizeof(names[i]), "SYMBOL_NUMBER_%02zu", i);
        syms[i].name = names[i];
        syms[i].score = 0.5;
    }
    r = result(20, true, syms, 40);
    h = spam_headers_format(&r);
    unfolded = calloc(1, strlen(h) + 1);
    for (line = strtok_r(h, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(line);
        assert_true(n >= 1 && line[n - 1] == '\r');
        assert_true(n - 1 <= 78);
        if (strncmp(line, "X-Spam-Status:", 14) == 0 || line[0] == '\t') {
            memcpy(unfolded + at, line[0] == '\t' ? line + 1 : line, n - (line[0] == '\t') - 1);
            at += n - (line[0] == '\t') - 1;
            lines++;
        }
    }
    assert_true(lines > 5);
    assert_non_null(strstr(unfolded, "tests=SYMBOL_NUMBER_00,SYMBOL_NUMBER_01,"));
    assert_non_null(strstr(unfolded, "SYMBOL_NUMBER_38,SYMBOL_NUMBER_39"));
    assert_null(strstr(unfolded, ",,"));
    free(unfolded);
    free(h);
}

static void log_line_is_exactly_as_documented(void **state)
{
    struct rcpt_result r = result(6.2, true, three, 3);
    char *l = spam_log_format("5BN6Xh6QXkzm0xr", &r, NULL);

    (void)state;
    assert_string_equal(l, "5BN6Xh6QXkzm0xr: action=tag score=6.2/8 "
                           "symbols=DNSBL_X(4.0),RDNS_NONE(1.5),TEST(0.7)");
    free(l);
    r = result(0.25, false, NULL, 0);
    r.spam = 7.5;
    l = spam_log_format(NULL, &r, "<a@x.test>,<b@y.test>");
    assert_string_equal(l, "NOQUEUE: action=pass score=0.25/7.5 symbols=none "
                           "to=<a@x.test>,<b@y.test>");
    free(l);
    r = result(20, true, three, 1);
    r.disp = DISP_REFUSE;
    l = spam_log_format("Q", &r, NULL);
    assert_string_equal(l, "Q: action=refuse score=20.0/8 symbols=DNSBL_X(4.0)");
    free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tagged_message_gets_all_four_fields),
        cmocka_unit_test(untagged_message_gets_status_and_score_only),
        cmocka_unit_test(scores_round_to_one_decimal_without_minus_zero),
        cmocka_unit_test(level_has_one_star_per_point_up_to_fifty),
        cmocka_unit_test(headers_off_gives_nothing),
        cmocka_unit_test(long_test_lists_are_folded_under_78_octets),
        cmocka_unit_test(log_line_is_exactly_as_documented),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
