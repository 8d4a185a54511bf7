/*
 * test_levels.c - unit tests of policy/levels: the shipped levels and their keys, partial
 * overrides, custom levels, validation, and the unsure rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy/levels.h"
#include "tests/checks/check_test.h"
#include "tests/unit/policy_testconf.h"

static const struct level_conf *level(struct pt_root *r, const char *name)
{
    const struct level_conf *l = level_find(&r->policy.levels, name);

    assert_non_null(l);
    return l;
}

static void shipped_levels_have_the_documented_defaults(void **state)
{
    struct pt_root r;
    const struct level_conf *l;

    (void)state;
    assert_int_equal(pt_load("{}", &r, NULL), 0);
    assert_int_equal(r.policy.levels.n, 3);
    l = level(&r, "high");
    assert_true(l->tag == 3 && l->spam == 5 && l->kill == 8);
    l = level(&r, "medium");
    assert_true(l->tag == 5 && l->spam == 8 && l->kill == 12);
    l = level(&r, "low");
    assert_true(l->tag == 8 && l->spam == 12 && l->kill == 20);
    assert_true(l->headers);
    assert_string_equal(l->subject_prefix, "+++SPAM+++ ");
    assert_int_equal(level_spam_disposition(l), DISP_MARK);
    assert_int_equal(l->blacklist, BLACKLIST_SPAM);
    assert_null(level_find(&r.policy.levels, "custom"));
    pt_free(&r);
}

static void a_shipped_level_changes_only_the_keys_given(void **state)
{
    struct pt_root r;
    const struct level_conf *l;

    (void)state;
    assert_int_equal(pt_load("{\"policy\": {\"levels\": {\"high\": {\"kill\": 10,"
                             " \"spam_action\": \"quarantine\", \"headers\": false}}}}",
                             &r, NULL), 0);
    l = level(&r, "high");
    assert_true(l->tag == 3 && l->spam == 5 && l->kill == 10);
    assert_int_equal(level_spam_disposition(l), DISP_QUARANTINE);
    assert_false(l->headers);
    assert_true(level(&r, "medium")->headers);
    pt_free(&r);
}

static void a_custom_level_starts_from_medium(void **state)
{
    struct pt_root r;
    const struct level_conf *l;

    (void)state;
    assert_int_equal(pt_load("{\"policy\": {\"levels\": {\"custom\": {\"tag\": 2.5,"
                             " \"subject_prefix\": \"[SPAM] \", \"blacklist\": \"refuse\","
                             " \"spam_action\": \"discard\"}}}}", &r, NULL), 0);
    assert_int_equal(r.policy.levels.n, 4);
    l = level(&r, "custom");
    assert_true(l->tag == 2.5 && l->spam == 8 && l->kill == 12);
    assert_string_equal(l->subject_prefix, "[SPAM] ");
    assert_int_equal(l->blacklist, BLACKLIST_REFUSE);
    assert_int_equal(level_spam_disposition(l), DISP_DISCARD);
    pt_free(&r);
}

static void thresholds_must_be_ordered(void **state)
{
    struct pt_root r;
    char *msg;

    (void)state;
    assert_int_equal(pt_load("{\"policy\": {\"levels\": {\"low\": {\"spam\": 30}}}}", &r, &msg),
                     -1);
    assert_string_equal(msg, "t.json: error: /policy/levels/low: thresholds must be tag <= "
                             "spam <= kill, got tag 8, spam 30, kill 20\n");
    free(msg);
    pt_free(&r);
}

static void subject_prefix_is_bounded_and_printable(void **state)
{
    struct pt_root r;
    char *msg;

    (void)state;
    assert_int_equal(pt_load("{\"policy\": {\"levels\": {\"x\": {\"subject_prefix\":"
                             " \"a\\r\\nBcc: evil\"}}}}", &r, &msg), -1);
    assert_non_null(strstr(msg, "control characters"));
    free(msg);
    pt_free(&r);
}

static void unsure_lists_name_known_checks(void **state)
{
    struct pt_root r;
    char *msg;

    (void)state;
    assert_int_equal(pt_load("{\"policy\": {\"levels\": {\"high\": {\"unsure_defer\":"
                             " [\"testsym\", \"nosuch\"]}}}}", &r, &msg), -1);
    assert_string_equal(msg, "t.json: error: /policy/levels/high/unsure_defer/1: unknown "
                             "check \"nosuch\"\n");
    free(msg);
    pt_free(&r);
    assert_int_equal(pt_load("{\"policy\": {\"levels\": {\"high\": {\"unsure_defer\":"
                             " [\"testsym\"], \"unsure_accept\": [\"testsym\"]}}}}", &r, &msg),
                     -1);
    assert_non_null(strstr(msg, "in both unsure_defer and unsure_accept"));
    free(msg);
    pt_free(&r);
}

static void unsure_rule_overrides_only_the_checks_named(void **state)
{
    struct pt_root r;
    const struct level_conf *l;

    (void)state;
    assert_int_equal(pt_load("{\"policy\": {\"levels\": {\"backup\": {\"unsure_defer\":"
                             " [\"testsym\"], \"unsure_accept\": [\"testrule\"]}}}}", &r, NULL),
                     0);
    l = level(&r, "backup");
    assert_int_equal(level_unsure_rule(l, "testsym", UNSURE_ACCEPT), UNSURE_DEFER);
    assert_int_equal(level_unsure_rule(l, "testrule", UNSURE_DEFER), UNSURE_ACCEPT);
    assert_int_equal(level_unsure_rule(l, "testlate", UNSURE_ACCEPT), UNSURE_ACCEPT);
    assert_int_equal(level_unsure_rule(l, "testlate", UNSURE_DEFER), UNSURE_DEFER);
    pt_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shipped_levels_have_the_documented_defaults),
        cmocka_unit_test(a_shipped_level_changes_only_the_keys_given),
        cmocka_unit_test(a_custom_level_starts_from_medium),
        cmocka_unit_test(thresholds_must_be_ordered),
        cmocka_unit_test(subject_prefix_is_bounded_and_printable),
        cmocka_unit_test(unsure_lists_name_known_checks),
        cmocka_unit_test(unsure_rule_overrides_only_the_checks_named),
    };

    test_checks_register();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
