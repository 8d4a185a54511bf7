/*
 * test_settings.c - unit tests of policy/settings: the settings of a recipient from the
 * domain config, domain_defaults and per-user overrides; lists by scope; role addresses;
 * backup domains and submission.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy/settings.h"
#include "policy/user_prefs.h"
#include "tests/unit/policy_testconf.h"

static struct pt_root cfg;
static struct settings_base *base;

static const char config[] =
    "{\"relay\": {\"local_domains\": [\"a.test\", \"strict.test\"],"
    "             \"backup_domains\": [\"b.test\", \"full.test\"]},"
    " \"domain_defaults\": {\"level\": \"medium\"},"
    " \"domains\": {"
    "   \"a.test\": {\"level\": \"low\", \"whitelist\": [\"@friend.test\"],"
    "                \"blacklist\": [\"@foe.test\"], \"exclusions\": [\"abuse@\"]},"
    "   \"strict.test\": {\"level\": \"high\", \"greylisting\": true, \"strict_dns\": true},"
    "   \"full.test\": {\"message_changes\": \"full\"}},"
    " \"policy\": {\"whitelist\": [\"203.0.113.0/24\", \"@friend2.test\"],"
    "              \"blacklist\": [\"@spam.test\", \"@friend.test\"],"
    "              \"exclusions\": [\"hostmaster@a.test\"]}}";

static int setup(void **state)
{
    struct settings_inputs in;
    char why[200];

    (void)state;
    if (pt_load(config, &cfg, NULL) != 0)
        return -1;
    in = (struct settings_inputs){
        .levels = &cfg.policy.levels, .domains = &cfg.domains,
        .domain_defaults = &cfg.domain_defaults, .local_domains = &cfg.relay.local_domains,
        .backup_domains = &cfg.relay.backup_domains, .whitelist = &cfg.policy.whitelist,
        .blacklist = &cfg.policy.blacklist, .exclusions = &cfg.policy.exclusions,
    };
    base = settings_base_new(&in, why, sizeof(why));
    return base ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    settings_base_free(base);
    pt_free(&cfg);
    return 0;
}

static struct user_prefs *prefs(const char *const *kv, size_t n)
{
    const char *names[16], *values[16];
    size_t i;

    for (i = 0; i < n; i++) {
        names[i] = kv[2 * i];
        values[i] = kv[2 * i + 1];
    }
    return user_prefs_parse(names, values, n);
}

static void domain_settings_apply_without_user_overrides(void **state)
{
    struct policy_settings *s = settings_resolve(base, "Bob@A.test", false, NULL);

    (void)state;
    assert_int_equal(s->kind, DOMAIN_LOCAL);
    assert_string_equal(s->level->name, "low");
    assert_true(s->tag == 8 && s->spam == 12 && s->kill == 20);
    assert_false(s->greylisting);
    assert_false(s->header_only);
    assert_false(s->role);
    assert_false(s->user_loaded);
    settings_free(s);
    s = settings_resolve(base, "x@strict.test", false, NULL);
    assert_string_equal(s->level->name, "high");
    assert_true(s->greylisting && s->strict_dns);
    settings_free(s);
    /* a domain without an entry, served or not: domain_defaults */
    s = settings_resolve(base, "x@b.test", false, NULL);
    assert_string_equal(s->level->name, "medium");
    assert_int_equal(s->kind, DOMAIN_BACKUP);
    settings_free(s);
    s = settings_resolve(base, "x@elsewhere.test", false, NULL);
    assert_int_equal(s->kind, DOMAIN_OTHER);
    assert_string_equal(s->level->name, "medium");
    settings_free(s);
}

static void user_overrides_win_over_the_domain(void **state)
{
    static const char *const kv[] = { "level", "high", "tag", "2", "greylisting", "on",
                                      "virus_action", "wrap" };
    struct user_prefs *u = prefs(kv, 4);
    struct policy_settings *s = settings_resolve(base, "bob@a.test", false, u);

    (void)state;
    user_prefs_unref(u); /* the settings hold their own reference */
    assert_true(s->user_loaded);
    assert_string_equal(s->level->name, "high");
    assert_true(s->tag == 2 && s->spam == 5 && s->kill == 8);
    assert_true(s->greylisting);
    assert_int_equal(s->virus_action, CONTENT_WRAP);
    settings_free(s);
}

static void bad_user_thresholds_and_levels_are_ignored(void **state)
{
    static const char *const kv1[] = { "tag", "30" };               /* above low's spam */
    static const char *const kv2[] = { "level", "nosuch", "kill", "15" };
    struct user_prefs *u = prefs(kv1, 1);
    struct policy_settings *s = settings_resolve(base, "bob@a.test", false, u);

    (void)state;
    assert_true(s->tag == 8 && s->spam == 12 && s->kill == 20);
    settings_free(s);
    user_prefs_unref(u);
    u = prefs(kv2, 2);
    s = settings_resolve(base, "bob@a.test", false, u);
    assert_string_equal(s->level->name, "low");
    assert_true(s->kill == 15);
    settings_free(s);
    user_prefs_unref(u);
}

static void backup_domains_get_header_only_changes(void **state)
{
    struct policy_settings *s = settings_resolve(base, "x@b.test", false, NULL);

    (void)state;
    assert_true(s->header_only);
    settings_free(s);
    s = settings_resolve(base, "x@full.test", false, NULL);
    assert_false(s->header_only);
    settings_free(s);
}

static void submission_refuses_viruses_and_changes_only_headers(void **state)
{
    static const char *const kv[] = { "virus_action", "off", "level", "low" };
    struct user_prefs *u = prefs(kv, 2);
    struct policy_settings *s = settings_resolve(base, "me@strict.test", true, u);

    (void)state;
    assert_string_equal(s->level->name, "low");
    assert_int_equal(s->virus_action, CONTENT_REJECT);
    assert_int_equal(s->file_action, CONTENT_REJECT);
    assert_true(s->header_only);
    settings_free(s);
    user_prefs_unref(u);
}

static void role_addresses_of_served_domains(void **state)
{
    static const struct { const char *addr; bool role; } cases[] = {
        { "postmaster@a.test", true }, { "Abuse@B.test", true }, { "postmaster", true },
        { "POSTMASTER", true }, { "postmaster@elsewhere.test", false },
        { "abuser@a.test", false }, { "hostmaster@a.test", false },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct policy_settings *s = settings_resolve(base, cases[i].addr, false, NULL);
        assert_int_equal(s->role, cases[i].role);
        settings_free(s);
    }
}

static void lists_are_decided_by_the_most_specific_scope(void **state)
{
    static const char *const kv[] = { "blacklist", "[\"boss@friend.test\"]",
                                      "whitelist", "[\"@spam.test\"]" };
    struct user_prefs *u = prefs(kv, 2);
    struct policy_settings *s = settings_resolve(base, "bob@a.test", false, NULL);
    struct policy_settings *su = settings_resolve(base, "bob@a.test", false, u);

    (void)state;
    /* domain whitelist beats the global blacklist of the same domain */
    assert_int_equal(settings_sender_listed(s, "x@friend.test", "192.0.2.1"), LISTED_WHITE);
    assert_int_equal(settings_sender_listed(s, "x@foe.test", "192.0.2.1"), LISTED_BLACK);
    assert_int_equal(settings_sender_listed(s, "x@spam.test", "192.0.2.1"), LISTED_BLACK);
    assert_int_equal(settings_sender_listed(s, "x@other.test", "203.0.113.5"), LISTED_WHITE);
    assert_int_equal(settings_sender_listed(s, "x@other.test", "192.0.2.1"), LISTED_NONE);
    assert_int_equal(settings_sender_listed(s, "", "192.0.2.1"), LISTED_NONE);
    /* the user's own lists come first */
    assert_int_equal(settings_sender_listed(su, "boss@friend.test", NULL), LISTED_BLACK);
    assert_int_equal(settings_sender_listed(su, "x@friend.test", NULL), LISTED_WHITE);
    assert_int_equal(settings_sender_listed(su, "x@spam.test", NULL), LISTED_WHITE);
    settings_free(s);
    settings_free(su);
    user_prefs_unref(u);
    /* another domain does not see a.test's lists, only the global ones */
    s = settings_resolve(base, "x@strict.test", false, NULL);
    assert_int_equal(settings_sender_listed(s, "x@friend.test", NULL), LISTED_BLACK);
    assert_int_equal(settings_sender_listed(s, "x@friend2.test", NULL), LISTED_WHITE);
    settings_free(s);
}

static void exclusions_from_any_scope(void **state)
{
    static const char *const kv[] = { "exclusions", "[\"bob@a.test\"]" };
    struct user_prefs *u = prefs(kv, 1);
    struct policy_settings *s = settings_resolve(base, "abuse@a.test", false, NULL);

    (void)state;
    assert_true(settings_rcpt_excluded(s, "abuse@a.test"));
    settings_free(s);
    s = settings_resolve(base, "hostmaster@a.test", false, NULL);
    assert_true(settings_rcpt_excluded(s, "hostmaster@a.test"));
    settings_free(s);
    s = settings_resolve(base, "bob@a.test", false, NULL);
    assert_false(settings_rcpt_excluded(s, "bob@a.test"));
    settings_free(s);
    s = settings_resolve(base, "bob@a.test", false, u);
    assert_true(settings_rcpt_excluded(s, "bob@a.test"));
    settings_free(s);
    user_prefs_unref(u);
    s = settings_resolve(base, "abuse@strict.test", false, NULL);
    assert_false(settings_rcpt_excluded(s, "abuse@strict.test"));
    settings_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(domain_settings_apply_without_user_overrides),
        cmocka_unit_test(user_overrides_win_over_the_domain),
        cmocka_unit_test(bad_user_thresholds_and_levels_are_ignored),
        cmocka_unit_test(backup_domains_get_header_only_changes),
        cmocka_unit_test(submission_refuses_viruses_and_changes_only_headers),
        cmocka_unit_test(role_addresses_of_served_domains),
        cmocka_unit_test(lists_are_decided_by_the_most_specific_scope),
        cmocka_unit_test(exclusions_from_any_scope),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
