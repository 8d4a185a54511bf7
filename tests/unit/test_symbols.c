/*
 * test_symbols.c - unit tests of policy/symbols and policy/check_registry: the table built
 * from the checks (their symbols, NAME_TIMEOUT, the engine's own), score overrides, and
 * the registry's checks of a check definition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "policy/check_registry.h"
#include "policy/symbols.h"
#include "tests/checks/check_test.h"

static enum call_status nothing(struct check_call *c)
{
    (void)c;
    return CALL_DONE;
}

static void table_has_declared_timeout_and_engine_symbols(void **state)
{
    struct symtab *t = symtab_new(NULL, NULL, "", NULL);
    const struct symbol *s;
    size_t i;

    (void)state;
    assert_non_null(t);
    s = symtab_find(t, "TEST_B");
    assert_non_null(s);
    assert_true(s->score == 2.5 && s->declared == 2.5);
    assert_non_null(symtab_find(t, "TESTSYM_TIMEOUT"));
    assert_true(symtab_find(t, "TESTRULE_TIMEOUT")->score == 0);
    assert_non_null(symtab_find(t, SYM_WHITELISTED));
    assert_null(symtab_find(t, "NOPE"));
    for (i = 1; i < symtab_count(t); i++)
        assert_true(strcmp(symtab_at(t, i - 1)->name, symtab_at(t, i)->name) < 0);
    symtab_free(t);
}

static void overrides_replace_the_default_score(void **state)
{
    struct symbol_conf o[] = { { "TEST_A", 7.5 }, { "TESTLATE_TIMEOUT", 1 } };
    struct conf_array arr = { o, 2 };
    struct symtab *t = symtab_new(NULL, &arr, "", NULL);

    (void)state;
    assert_true(symtab_find(t, "TEST_A")->score == 7.5);
    assert_true(symtab_find(t, "TEST_A")->declared == 1);
    assert_true(symtab_find(t, "TESTLATE_TIMEOUT")->score == 1);
    symtab_free(t);
}

static void timeout_names_are_upper_case(void **state)
{
    char buf[64];

    (void)state;
    symbol_timeout_name(buf, sizeof(buf), "dnsbl");
    assert_string_equal(buf, "DNSBL_TIMEOUT");
}

static void bad_check_definitions_are_refused(void **state)
{
    static const struct symbol_def dup[] = { { "X_A", 1, "" }, { "X_A", 2, "" }, { NULL, 0, NULL } };
    static const struct symbol_def bad[] = { { "lower", 1, "" }, { NULL, 0, NULL } };
    struct check_def d = { .name = "okname", .stages = STAGE_BIT(STAGE_RCPT),
                           .directions = DIR_INBOUND, .run = nothing };
    char why[160];

    (void)state;
    assert_int_equal(check_def_check(&d, why, sizeof(why)), 0);
    d.name = "Bad-Name";
    assert_int_equal(check_def_check(&d, why, sizeof(why)), -1);
    d.name = "okname";
    d.async = true;
    assert_int_equal(check_def_check(&d, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "without cancel"));
    d.async = false;
    d.symbols = dup;
    assert_int_equal(check_def_check(&d, why, sizeof(why)), -1);
    d.symbols = bad;
    assert_int_equal(check_def_check(&d, why, sizeof(why)), -1);
    d.symbols = NULL;
    d.directions = 0;
    assert_int_equal(check_def_check(&d, why, sizeof(why)), -1);
    /* a name taken already */
    assert_int_equal(check_registry_add(&check_testsym), -1);
}

static void every_registered_check_is_well_formed(void **state)
{
    const struct check_def *d;
    char why[160];
    size_t i;

    (void)state;
    for (i = 0; (d = check_registry_at(i)) != NULL; i++)
        if (check_def_check(d, why, sizeof(why)) != 0)
            fail_msg("%s", why);
    assert_true(i >= 3);
    assert_ptr_equal(check_registry_find("testlate"), &check_testlate);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_has_declared_timeout_and_engine_symbols),
        cmocka_unit_test(overrides_replace_the_default_score),
        cmocka_unit_test(timeout_names_are_upper_case),
        cmocka_unit_test(bad_check_definitions_are_refused),
        cmocka_unit_test(every_registered_check_is_well_formed),
    };

    test_checks_register();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
