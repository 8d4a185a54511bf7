/*
 * test_engine_conf.c - unit tests of the policy engine's config (policy/engine_conf.c,
 * profile.c, domain_conf.c as the engine uses them): shipped entries and defaults, domain
 * inheritance, and what `postern -n` refuses: unknown symbols, levels and checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy/check_registry.h"
#include "policy/profile.h"
#include "tests/checks/check_test.h"
#include "tests/unit/policy_testconf.h"

static enum call_status nothing(struct check_call *c)
{
    (void)c;
    return CALL_DONE;
}

/* a check that applies only to submission profiles */
static const struct check_def check_subonly = {
    .name = "subonly", .stages = STAGE_BIT(STAGE_MAIL), .directions = DIR_SUBMISSION,
    .group = 10, .run = nothing,
};

static char *printed(const struct pt_root *r)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    conf_print(f, &pt_root_section, r);
    fclose(f);
    return text;
}

static void expect_error(const char *json, const char *message)
{
    struct pt_root r;
    char *msg;

    assert_int_equal(pt_load(json, &r, &msg), -1);
    assert_string_equal(msg, message);
    free(msg);
    pt_free(&r);
}

static void defaults_show_shipped_levels_profiles_and_keys(void **state)
{
    struct pt_root r;
    char *text;

    (void)state;
    assert_int_equal(pt_load("{}", &r, NULL), 0);
    text = printed(&r);
    assert_non_null(strstr(text, "\"high\": {\n        \"tag\": 3,\n        \"spam\": 5,\n"
                                 "        \"kill\": 8,"));
    assert_non_null(strstr(text, "\"submissions\": {\n        \"direction\": \"submission\""));
    assert_non_null(strstr(text, "\"user_settings_ttl\": \"5s\""));
    assert_non_null(strstr(text, "\"level\": \"medium\""));
    assert_int_equal(r.policy.check_queue, 1024);
    free(text);
    pt_free(&r);
}

static void profile_checks_carry_their_settings_with_defaults(void **state)
{
    struct pt_root r;
    const struct profile_conf *p;
    const struct conf_named *c;
    char *text;

    (void)state;
    assert_int_equal(pt_load("{\"policy\": {\"profiles\": {\"mx2\": {\"checks\":"
                             " {\"testsym\": {\"emit\": [\"TEST_A\"]}, \"testrule\": {}}}}}}",
                             &r, NULL), 0);
    p = profile_find(&r.policy.profiles, "mx2");
    assert_non_null(p);
    assert_int_equal(p->direction, DIRECTION_INBOUND);
    assert_int_equal(p->deadline_ms, 10000);
    assert_int_equal(p->checks.n, 2);
    c = p->checks.items;
    assert_string_equal(c[0].name, "testsym");
    text = printed(&r);
    assert_non_null(strstr(text, "\"testrule\": {\n            \"stages\": [\n"
                                 "              \"end\"\n            ],"));
    free(text);
    /* a shipped profile named in the config keeps its other keys */
    assert_non_null(profile_find(&r.policy.profiles, "inbound"));
    pt_free(&r);
}

static void unknown_check_names_are_refused_with_a_hint(void **state)
{
    (void)state;
    expect_error("{\"policy\": {\"profiles\": {\"p\": {\"checks\": {\"testsim\": {}}}}}}",
                 "t.json: error: /policy/profiles/p/checks/testsim: unknown name (did you mean "
                 "\"testsym\"?)\n");
    expect_error("{\"policy\": {\"profiles\": {\"p\": {\"checks\": {\"testsym\": {\"emit\": 1}}}}}}",
                 "t.json: error: /policy/profiles/p/checks/testsym/emit: expected array of "
                 "strings, got integer 1\n");
}

static void a_check_of_the_wrong_direction_is_refused(void **state)
{
    (void)state;
    expect_error("{\"policy\": {\"profiles\": {\"p\": {\"checks\": {\"subonly\": {}}}}}}",
                 "t.json: error: /policy/profiles/p: check subonly does not apply to inbound "
                 "profiles\n");
}

static void unknown_symbol_overrides_are_refused(void **state)
{
    struct pt_root r;

    (void)state;
    expect_error("{\"policy\": {\"symbols\": {\"TEST_A\": {\"score\": 3},"
                 " \"TEST_NOPE\": {\"score\": 1}}}}",
                 "t.json: error: /policy/symbols/TEST_NOPE: unknown symbol (no check declares "
                 "it)\n");
    expect_error("{\"policy\": {\"symbols\": {\"TEST_A\": {}}}}",
                 "t.json: error: /policy/symbols/TEST_A/score: required key missing\n");
    assert_int_equal(pt_load("{\"policy\": {\"symbols\": {\"TEST_A\": {\"score\": 3},"
                             " \"TESTSYM_TIMEOUT\": {\"score\": 0.5},"
                             " \"SENDER_WHITELISTED\": {\"score\": -1}}}}", &r, NULL), 0);
    pt_free(&r);
}

static void unknown_levels_are_refused_once(void **state)
{
    (void)state;
    expect_error("{\"relay\": {\"local_domains\": [\"a.test\", \"b.test\"]},"
                 " \"domains\": {\"a.test\": {\"level\": \"hihg\"}, \"b.test\": {}}}",
                 "t.json: error: /domains/a.test/level: unknown level \"hihg\" (not in "
                 "policy.levels)\n");
    /* a bad default is reported at its place, not again for each domain inheriting it */
    expect_error("{\"relay\": {\"local_domains\": [\"a.test\", \"b.test\"]},"
                 " \"domain_defaults\": {\"level\": \"nope\"},"
                 " \"domains\": {\"a.test\": {}, \"b.test\": {\"level\": \"high\"}}}",
                 "t.json: error: /domain_defaults/level: unknown level \"nope\" (not in "
                 "policy.levels)\n");
}

static void domains_start_from_domain_defaults(void **state)
{
    struct pt_root r;
    const struct domain_conf *a, *b, *none;

    (void)state;
    assert_int_equal(pt_load("{\"relay\": {\"local_domains\": [\"a.test\", \"b.test\"]},"
                             " \"domain_defaults\": {\"greylisting\": true, \"level\": \"low\","
                             "   \"whitelist\": [\"@partner.test\"]},"
                             " \"domains\": {\"a.test\": {\"level\": \"high\"},"
                             "   \"b.test\": {\"greylisting\": false, \"whitelist\": []}}}",
                             &r, NULL), 0);
    a = domain_conf_find(&r.domains, &r.domain_defaults, "A.TEST");
    b = domain_conf_find(&r.domains, &r.domain_defaults, "b.test");
    none = domain_conf_find(&r.domains, &r.domain_defaults, "c.test");
    assert_string_equal(a->level, "high");
    assert_true(a->greylisting);
    assert_int_equal(a->whitelist.n, 1);
    assert_string_equal(b->level, "low");
    assert_false(b->greylisting);
    assert_int_equal(b->whitelist.n, 0);
    assert_ptr_equal(none, &r.domain_defaults);
    assert_int_equal(a->virus_action, CONTENT_REJECT);
    assert_int_equal(a->file_action, CONTENT_WRAP);
    assert_int_equal(a->blocked_extensions.n, 0);     /* the level's list */
    assert_int_equal(level_find(&r.policy.levels, "high")->blocked_extensions.n, 45);
    pt_free(&r);
}

static void bad_list_entries_are_refused_everywhere(void **state)
{
    (void)state;
    expect_error("{\"policy\": {\"whitelist\": [\"ok@x.test\", \"not an entry\"]}}",
                 "t.json: error: /policy/whitelist/1: \"not an entry\" is neither an address, an "
                 "@domain, a local part@ nor an IP network\n");
    expect_error("{\"domain_defaults\": {\"exclusions\": [\"@\"]}}",
                 "t.json: error: /domain_defaults/exclusions/0: \"@\" is not a valid address, "
                 "@domain or local part@\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_show_shipped_levels_profiles_and_keys),
        cmocka_unit_test(profile_checks_carry_their_settings_with_defaults),
        cmocka_unit_test(unknown_check_names_are_refused_with_a_hint),
        cmocka_unit_test(a_check_of_the_wrong_direction_is_refused),
        cmocka_unit_test(unknown_symbol_overrides_are_refused),
        cmocka_unit_test(unknown_levels_are_refused_once),
        cmocka_unit_test(domains_start_from_domain_defaults),
        cmocka_unit_test(bad_list_entries_are_refused_everywhere),
    };

    test_checks_register();
    check_registry_add(&check_subonly);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
