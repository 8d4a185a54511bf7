/*
 * test_user_prefs.c - unit tests of policy/user_prefs: the per-user fields as stored in
 * the Redis hash, what writers may store, and the key of an address.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "policy/domain_conf.h"
#include "policy/lists.h"
#include "policy/user_prefs.h"

static void every_field_is_parsed(void **state)
{
    static const char *const names[] = {
        "level", "tag", "spam", "kill", "greylisting", "strict_dns", "virus_action",
        "file_action", "whitelist", "blacklist", "exclusions",
    };
    static const char *const values[] = {
        "high", "2.5", "4", "9", "off", "on", "quarantine", "mark",
        "[\"@partner.test\", \"192.0.2.0/24\"]", "[\"spammer@x.test\"]", "[]",
    };
    struct user_prefs *p = user_prefs_parse(names, values, 11);

    (void)state;
    assert_int_equal(p->set, (1u << UF_COUNT) - 1);
    assert_int_equal(p->bad_fields, 0);
    assert_string_equal(p->level, "high");
    assert_true(p->tag == 2.5 && p->spam == 4 && p->kill == 9);
    assert_false(p->greylisting);
    assert_true(p->strict_dns);
    assert_int_equal(p->virus_action, CONTENT_QUARANTINE);
    assert_int_equal(p->file_action, CONTENT_MARK);
    assert_true(addr_list_match_sender(p->whitelist, "a@partner.test", NULL));
    assert_true(addr_list_match_sender(p->whitelist, "", "192.0.2.9"));
    assert_true(addr_list_match_sender(p->blacklist, "spammer@x.test", NULL));
    assert_int_equal(addr_list_size(p->exclusions), 0);
    user_prefs_unref(p);
}

static void bad_and_unknown_fields_are_ignored_and_counted(void **state)
{
    static const char *const names[] = { "level", "tag", "colour", "greylisting",
                                         "whitelist", "virus_action", "kill" };
    static const char *const values[] = { "Bad Level!", "nan", "blue", "maybe",
                                          "[\"not an entry\"]", "explode", "5" };
    struct user_prefs *p = user_prefs_parse(names, values, 7);

    (void)state;
    assert_int_equal(p->set, UF_BIT(UF_KILL));
    assert_int_equal(p->bad_fields, 6);
    assert_null(p->whitelist);
    user_prefs_unref(p);
}

static void writers_check_a_field_before_storing_it(void **state)
{
    char why[200];

    (void)state;
    assert_int_equal(user_prefs_field_check("level", "strict-2", why, sizeof(why)), 0);
    assert_int_equal(user_prefs_field_check("tag", "-1.5", why, sizeof(why)), 0);
    assert_int_equal(user_prefs_field_check("whitelist", "[\"a@b.test\"]", why, sizeof(why)), 0);
    assert_int_equal(user_prefs_field_check("tag", "1e400", why, sizeof(why)), -1);
    assert_int_equal(user_prefs_field_check("tag", "1001", why, sizeof(why)), -1);
    assert_int_equal(user_prefs_field_check("greylisting", "yes", why, sizeof(why)), -1);
    assert_string_equal(why, "expected on or off");
    assert_int_equal(user_prefs_field_check("blacklist", "\"a@b\"", why, sizeof(why)), -1);
    assert_int_equal(user_prefs_field_check("blacklist", "[1]", why, sizeof(why)), -1);
    assert_int_equal(user_prefs_field_check("exclusions", "[\"@\"]", why, sizeof(why)), -1);
    assert_int_equal(user_prefs_field_check("colour", "blue", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "unknown setting \"colour\""));
}

static void an_address_without_overrides_is_an_empty_set(void **state)
{
    struct user_prefs *p = user_prefs_parse(NULL, NULL, 0);

    (void)state;
    assert_int_equal(p->set, 0);
    assert_int_equal(p->refs, 1);
    user_prefs_ref(p);
    user_prefs_unref(p);
    user_prefs_unref(p);
}

static void the_key_has_a_closed_hash_tag(void **state)
{
    char *k = user_prefs_key("Alice@Example.TEST");

    (void)state;
    assert_string_equal(k, "pt:pol:{alice@example.test}");
    free(k);
    k = user_prefs_key("a}b{c@x");
    assert_string_equal(k, "pt:pol:{a%7Db%7Bc@x}");
    free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_field_is_parsed),
        cmocka_unit_test(bad_and_unknown_fields_are_ignored_and_counted),
        cmocka_unit_test(writers_check_a_field_before_storing_it),
        cmocka_unit_test(an_address_without_overrides_is_an_empty_set),
        cmocka_unit_test(the_key_has_a_closed_hash_tag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
