/*
 * test_result_record.c - unit tests of policy/result_record: a recipient's policy result
 * written as a queue-file record and read back the same, and lines that must be refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "policy/result_record.h"

static char *line_of(const struct rcpt_result *r)
{
    char *rec = result_record_format(r);
    size_t n = strlen(rec);

    assert_true(n > 0 && rec[n - 1] == '\n');
    rec[n - 1] = '\0';
    return rec;
}

static void full_result_round_trips(void **state)
{
    struct result_symbol syms[] = { { "DNSBL_X", 4, NULL }, { "RDNS_NONE", 1.5, NULL },
                                    { "TEST_NEG", -2.25, NULL } };
    char *hdrs[] = { "X-Virus-Status: Infected Eicar-Test-Signature",
                     "X-Note: 100% sure, a=b:c" };
    struct rcpt_result r = {
        .rcpt = 3, .disp = DISP_MARK, .score = 3.25, .tag = 3, .spam = 5, .spam_flag = true,
        .headers = true, .level = "high", .subject_prefix = "+++SPAM+++ ",
        .reason = "spam", .syms = syms, .nsyms = 3, .add_headers = hdrs, .nadd = 2,
    };
    struct rcpt_result back;
    char *line = line_of(&r);
    size_t i;

    (void)state;
    assert_string_equal(line, "policy 3 mark 3.25 3 5 HS high syms=DNSBL_X:4,RDNS_NONE:1.5,"
                              "TEST_NEG:-2.25 prefix=+++SPAM+++%20 reason=spam "
                              "hdr=X-Virus-Status%3A%20Infected%20Eicar-Test-Signature "
                              "hdr=X-Note%3A%20100%25%20sure%2C%20a%3Db%3Ac");
    assert_int_equal(result_record_parse(line, strlen(line), &back), 0);
    assert_int_equal(back.rcpt, 3);
    assert_int_equal(back.disp, DISP_MARK);
    assert_true(back.score == 3.25 && back.tag == 3 && back.spam == 5);
    assert_true(back.spam_flag && back.headers);
    assert_string_equal(back.level, "high");
    assert_string_equal(back.subject_prefix, "+++SPAM+++ ");
    assert_string_equal(back.reason, "spam");
    assert_int_equal(back.nsyms, 3);
    for (i = 0; i < 3; i++) {
        assert_string_equal(back.syms[i].name, syms[i].name);
        assert_true(back.syms[i].score == syms[i].score);
    }
    assert_int_equal(back.nadd, 2);
    assert_string_equal(back.add_headers[1], hdrs[1]);
    rcpt_result_clear(&back);
    free(line);
}

static void minimal_result_round_trips(void **state)
{
    struct rcpt_result r = { .disp = DISP_PASS, .score = 0, .tag = 5, .spam = 8 };
    struct rcpt_result back;
    char *line = line_of(&r);

    (void)state;
    assert_string_equal(line, "policy 0 pass 0 5 8 - -");
    assert_int_equal(result_record_parse(line, strlen(line), &back), 0);
    assert_int_equal(back.disp, DISP_PASS);
    assert_false(back.headers || back.spam_flag);
    assert_string_equal(back.level, "-");
    assert_int_equal(back.nsyms, 0);
    assert_null(back.subject_prefix);
    rcpt_result_clear(&back);
    free(line);
}

static void numbers_keep_four_decimals_and_no_exponent(void **state)
{
    struct result_symbol s = { "BIG", 1e9, NULL };
    struct rcpt_result r = { .disp = DISP_TAG, .score = 1.0 / 3, .tag = -0.00001, .spam = 8,
                             .syms = &s, .nsyms = 1 };
    char *line = line_of(&r);

    (void)state;
    assert_string_equal(line, "policy 0 tag 0.3333 0 8 - - syms=BIG:1000000");
    free(line);
}

static void unknown_fields_of_later_versions_are_skipped(void **state)
{
    static const char line[] = "policy 1 quarantine 9 5 8 HS medium future=x%20y reason=spam";
    struct rcpt_result back;

    (void)state;
    assert_int_equal(result_record_parse(line, strlen(line), &back), 0);
    assert_int_equal(back.disp, DISP_QUARANTINE);
    assert_string_equal(back.reason, "spam");
    rcpt_result_clear(&back);
}

static void malformed_records_are_refused(void **state)
{
    static const char *const bad[] = {
        "", "policy", "policy ", "policy 0", "polic 0 pass 0 5 8 - -", "policy x pass 0 5 8 - -",
        "policy 0 refuse 0 5 8 - -", "policy 0 defer 0 5 8 - -", "policy 0 none 0 5 8 - -",
        "policy 0 pass 1e3 5 8 - -", "policy 0 pass 0 5 8 X -", "policy 0 pass 0 5 8 HH -",
        "policy 0 pass 0 5 8 - - ", "policy 0 pass 0 5 8 -  -", "policy 0 pass 0 5 8 - Bad!",
        "policy 0 pass 0 5 8 - - syms=", "policy 0 pass 0 5 8 - - syms=A:1,",
        "policy 0 pass 0 5 8 - - syms=B:1,A:1", "policy 0 pass 0 5 8 - - syms=A:1,A:1",
        "policy 0 pass 0 5 8 - - syms=a:1", "policy 0 pass 0 5 8 - - syms=A",
        "policy 0 pass 0 5 8 - - syms=A:1 syms=B:1", "policy 0 pass 0 5 8 - - prefix=%0D%0A",
        "policy 0 pass 0 5 8 - - prefix=%2", "policy 0 pass 0 5 8 - - prefix=%zz",
        "policy 0 pass 0 5 8 - - prefix=a prefix=b", "policy 0 pass 0 5 8 - - hdr=NoColon",
        "policy 0 pass 0 5 8 - - hdr=Bad%20Name%3A%20x", "policy 0 pass 0 5 8 - - noequals",
        "policy 0 pass 0 5 8 - - reason=%00", "policy 9999999 pass 0 5 8 - -",
        "policy 0 pass 12345678 5 8 - -", "policy 0 pass -. 5 8 - -", "policy 0 pass 1. 5 8 - -",
    };
    struct rcpt_result back;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (result_record_parse(bad[i], strlen(bad[i]), &back) == 0)
            fail_msg("accepted: \"%s\"", bad[i]);
        assert_null(back.level);
        assert_null(back.syms);
    }
}

static void parser_reads_only_the_given_length(void **state)
{
    static const char buf[] = "policy 0 pass 0 5 8 - -GARBAGE";
    struct rcpt_result back;

    (void)state;
    assert_int_equal(result_record_parse(buf, strlen("policy 0 pass 0 5 8 - -"), &back), 0);
    rcpt_result_clear(&back);
    assert_true(result_record_is(buf, 7));
    assert_false(result_record_is(buf, 6));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_result_round_trips),
        cmocka_unit_test(minimal_result_round_trips),
        cmocka_unit_test(numbers_keep_four_decimals_and_no_exponent),
        cmocka_unit_test(unknown_fields_of_later_versions_are_skipped),
        cmocka_unit_test(malformed_records_are_refused),
        cmocka_unit_test(parser_reads_only_the_given_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
