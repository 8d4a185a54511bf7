/*
 * test_ratelimit.c - unit tests of the pure parts of policy/ratelimit: class resolution,
 * the per-message cap, key names, turning the script's answer into a result, the reply
 * texts, fail-mode acceptance, and the "ratelimit" config section loaded by lib/conf.
 * (The Lua arithmetic is tested against a real Redis in tests/integration.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/conf.h"
#include "policy/ratelimit.h"

static struct rl_class_conf classes[] = {
    { .name = "default", .recipients = 60, .window_ms = 300000,
      .max_recipients_per_message = 100 },
    { .name = "newsletter", .recipients = 10000, .window_ms = 3600000,
      .messages_per_hour = 200, .max_recipients_per_message = 0, .burst = 500 },
};
static struct rl_user_conf users[] = {
    { .name = "News@Example.com", .class_name = "newsletter" },
    { .name = "ghost", .class_name = "missing" },
};
static const struct rl_conf conf = {
    .enabled = 1, .fail_mode = RL_FAIL_TEMPFAIL,
    .classes = { classes, 2 }, .users = { users, 2 }, .default_class = "default",
};

static void users_get_their_class_case_insensitively(void **state)
{
    (void)state;
    assert_string_equal(rl_class_for_user(&conf, "news@example.com")->name, "newsletter");
    assert_string_equal(rl_class_for_user(&conf, "alice")->name, "default");
    assert_ptr_equal(rl_class_for_user(&conf, "alice"), &classes[0]);
    /* a dangling class name (refused by validation) still lands on a real class */
    assert_string_equal(rl_class_for_user(&conf, "ghost")->name, "default");
}

static void an_endpoint_class_comes_between_users_and_the_default(void **state)
{
    (void)state;
    assert_string_equal(rl_class_for(&conf, "alice", "newsletter")->name, "newsletter");
    assert_string_equal(rl_class_for(&conf, "news@example.com", "default")->name,
                        "newsletter");   /* users[] wins */
    assert_string_equal(rl_class_for(&conf, "alice", NULL)->name, "default");
    assert_string_equal(rl_class_for(&conf, "alice", "nosuch")->name, "default");
}

static void builtin_default_exists_without_classes(void **state)
{
    struct rl_conf empty = { .default_class = "default" };
    const struct rl_class_conf *c = rl_class_for_user(&empty, "bob");

    (void)state;
    assert_string_equal(c->name, RL_DEFAULT_CLASS);
    assert_int_equal(c->recipients, RL_DEF_RECIPIENTS);
    assert_int_equal(c->window_ms, RL_DEF_WINDOW_S * 1000LL);
    assert_null(rl_class_find(&empty, "newsletter"));
}

static void burst_defaults_to_recipients(void **state)
{
    (void)state;
    assert_int_equal(rl_class_burst(&classes[0]), 60);
    assert_int_equal(rl_class_burst(&classes[1]), 500);
}

static void per_message_cap_allows_what_is_left(void **state)
{
    (void)state;
    assert_int_equal(rl_cap_allow(&classes[0], 0, 10), 10);
    assert_int_equal(rl_cap_allow(&classes[0], 95, 10), 5);
    assert_int_equal(rl_cap_allow(&classes[0], 100, 1), 0);
    assert_int_equal(rl_cap_allow(&classes[0], 250, 1), 0);
    assert_int_equal(rl_cap_allow(&classes[1], 100000, 7), 7);   /* 0 = no cap */
}

static void key_prefix_escapes_the_hash_tag(void **state)
{
    static const struct { const char *user, *want; } cases[] = {
        { "Alice@Example.COM", "pt:rl:{alice@example.com}:default" },
        { "a}b{c", "pt:rl:{a%7Db%7Bc}:default" },
        { "100%", "pt:rl:{100%25}:default" },
        { "sp ace\r\n", "pt:rl:{sp%20ace%0D%0A}:default" },
        { "\xc3\xa9", "pt:rl:{%C3%A9}:default" },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *k = rl_key_prefix(cases[i].user, "default");
        assert_string_equal(k, cases[i].want);
        free(k);
    }
}

static void full_grant_is_not_a_refusal(void **state)
{
    struct rl_bucket_state b = { .remaining = 37, .retry_ms = 0 };
    struct rl_result r = { .cls = &classes[0] };

    (void)state;
    rl_result_fill(&r, 3, 3, &b, NULL);
    assert_int_equal(r.granted, 3);
    assert_int_equal(r.limited_by, RL_LIMIT_NONE);
    assert_int_equal(r.first_refusal, 0);
    assert_int_equal(r.rcpt.remaining, 37);
    assert_int_equal(r.rcpt.retry_s, 0);
}

static void partial_grant_names_the_limit_and_rounds_retry_up(void **state)
{
    struct rl_bucket_state b = { .refused = 1, .first = 1, .remaining = 0, .retry_ms = 1001 };
    struct rl_result r = { .cls = &classes[0] };

    (void)state;
    rl_result_fill(&r, 10, 5, &b, NULL);
    assert_int_equal(r.granted, 5);
    assert_int_equal(r.limited_by, RL_LIMIT_RECIPIENTS);
    assert_int_equal(r.first_refusal, 1);
    assert_int_equal(r.retry_s, 2);
    b.retry_ms = 0;            /* never "retry in 0 s" */
    rl_result_fill(&r, 10, 5, &b, NULL);
    assert_int_equal(r.retry_s, 1);
}

static void message_limit_refusal_at_mail(void **state)
{
    struct rl_bucket_state rcpt = { .remaining = 12 };
    struct rl_bucket_state msg = { .refused = 1, .first = 0, .retry_ms = 3599001 };
    struct rl_result r = { .cls = &classes[1] };

    (void)state;
    rl_result_fill(&r, 1, 0, &rcpt, &msg);
    assert_int_equal(r.limited_by, RL_LIMIT_MESSAGES);
    assert_int_equal(r.first_refusal, 0);
    assert_int_equal(r.retry_s, 3600);
    assert_int_equal(r.msg.retry_s, 3600);
}

static void granted_is_clamped(void **state)
{
    struct rl_bucket_state b = { .remaining = 1 };
    struct rl_result r = { .cls = &classes[0] };

    (void)state;
    rl_result_fill(&r, 2, 9, &b, NULL);
    assert_int_equal(r.granted, 2);
    rl_result_fill(&r, 2, -1, &b, NULL);
    assert_int_equal(r.granted, 0);
}

static void window_text_uses_the_largest_exact_unit(void **state)
{
    static const struct { long long ms; const char *want; } cases[] = {
        { 300000, "5m" }, { 3600000, "1h" }, { 2000, "2s" }, { 90000, "90s" },
        { 5400000, "90m" }, { 1500, "1500ms" }, { 0, "0ms" },
    };
    char buf[32];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rl_window_text(buf, sizeof(buf), cases[i].ms);
        assert_string_equal(buf, cases[i].want);
    }
}

static void refusal_texts_follow_the_reply_table(void **state)
{
    struct rl_result r = {
        .cls = &classes[0], .requested = 3, .granted = 1, .limited_by = RL_LIMIT_RECIPIENTS,
        .retry_s = 42, .rcpt = { .limit = 60, .window_ms = 300000 },
        .msg = { .limit = 200, .window_ms = RL_MSG_WINDOW_MS },
    };
    struct rl_reply rep;

    (void)state;
    rl_reply_refused(&rep, &r, "alice", RL_STAGE_RCPT);
    assert_int_equal(rep.code, 450);
    assert_string_equal(rep.ecode, "4.7.1");
    assert_string_equal(rep.text,
                        "Recipient rate limit exceeded for alice (60/5m); retry in 42 s");
    rl_reply_refused(&rep, &r, "alice", RL_STAGE_MAIL);
    assert_string_equal(rep.text, "Sending quota exceeded for alice: 60 recipients per 5m; "
                                  "retry in 42 s");
    r.limited_by = RL_LIMIT_MESSAGES;
    rl_reply_refused(&rep, &r, "alice", RL_STAGE_MAIL);
    assert_string_equal(rep.text, "Message rate limit exceeded for alice: 200 messages per "
                                  "1h; retry in 42 s");
}

static void refusal_text_sanitizes_and_bounds_the_login(void **state)
{
    struct rl_result r = { .cls = &classes[0], .limited_by = RL_LIMIT_RECIPIENTS,
                           .retry_s = 1, .rcpt = { .limit = 60, .window_ms = 300000 } };
    struct rl_reply rep;
    char user[1000];

    (void)state;
    memset(user, 'x', sizeof(user) - 1);
    user[sizeof(user) - 1] = '\0';
    user[3] = '\r';
    user[4] = '\n';
    rl_reply_refused(&rep, &r, user, RL_STAGE_RCPT);
    assert_null(strchr(rep.text, '\r'));
    assert_null(strchr(rep.text, '\n'));
    assert_true(strlen(rep.text) < RL_REPLY_TEXT_MAX);
    assert_non_null(strstr(rep.text, "retry in 1 s"));
}

static void other_replies(void **state)
{
    struct rl_reply rep;
    struct rl_quota q = { .limit = 60, .remaining = 37 };
    char buf[64];

    (void)state;
    rl_reply_tempfail(&rep);
    assert_int_equal(rep.code, 451);
    assert_string_equal(rep.ecode, "4.3.0");
    rl_reply_cap(&rep, &classes[0]);
    assert_int_equal(rep.code, 452);
    assert_string_equal(rep.ecode, "4.5.3");
    assert_non_null(strstr(rep.text, "max 100 per message"));
    rl_quota_text(buf, sizeof(buf), &q);
    assert_string_equal(buf, "(quota: 37/60 left)");
}

static void fail_mode_decides_acceptance_on_errors(void **state)
{
    struct rl_conf open = conf;
    struct rl_result r = { .requested = 4, .granted = 0, .error = RL_ERR_TIMEOUT };

    (void)state;
    open.fail_mode = RL_FAIL_OPEN;
    assert_int_equal(rl_accept_count(&conf, &r), 0);
    assert_int_equal(rl_accept_count(&open, &r), 4);
    r.error = RL_OK;
    r.granted = 2;
    assert_int_equal(rl_accept_count(&open, &r), 2);
}

/* ---- the config section through the real engine ---- */

struct t_root {
    struct rl_conf rl;
};

static const struct conf_key t_root_keys[] = {
    { .name = "ratelimit", .type = CONF_SECTION, .offset = offsetof(struct t_root, rl),
      .sub = &rl_conf_section },
    { .name = NULL }
};
static const struct conf_section t_root = { .name = "root", .keys = t_root_keys };

static int load(const char *json, struct t_root *out)
{
    FILE *devnull = fopen("/dev/null", "w");
    struct conf_errors errs = { .file = "test.json", .out = devnull };
    int rc;

    memset(out, 0, sizeof(*out));
    rc = conf_load_buffer("test.json", json, strlen(json), &t_root, out, &errs);
    fclose(devnull);
    return rc == 0 ? 0 : -errs.count;
}

static void config_defaults(void **state)
{
    struct t_root root;

    (void)state;
    assert_int_equal(load("{}", &root), 0);
    assert_true(root.rl.enabled);
    assert_int_equal(root.rl.fail_mode, RL_FAIL_TEMPFAIL);
    assert_string_equal(root.rl.default_class, "default");
    assert_int_equal(rl_class_for_user(&root.rl, "x")->recipients, 60);
    conf_free(&t_root, &root);
}

static void config_classes_and_users(void **state)
{
    struct t_root root;
    const struct rl_class_conf *c;

    (void)state;
    assert_int_equal(load("{\"ratelimit\": {\"fail_mode\": \"open\", \"classes\": {"
                          "\"newsletter\": {\"recipients\": 10000, \"window\": \"1h\", "
                          "\"messages_per_hour\": 50}},"
                          "\"users\": {\"news@x\": {\"class\": \"newsletter\"}}}}", &root), 0);
    assert_int_equal(root.rl.fail_mode, RL_FAIL_OPEN);
    c = rl_class_for_user(&root.rl, "NEWS@x");
    assert_string_equal(c->name, "newsletter");
    assert_int_equal(c->window_ms, 3600000);
    assert_int_equal(c->messages_per_hour, 50);
    assert_int_equal(c->max_recipients_per_message, RL_DEF_MAX_RCPT_PER_MSG);
    assert_string_equal(rl_class_for_user(&root.rl, "bob")->name, "default");
    conf_free(&t_root, &root);
}

static void config_unknown_classes_are_errors(void **state)
{
    struct t_root root;

    (void)state;
    assert_int_equal(load("{\"ratelimit\": {\"default_class\": \"nope\", "
                          "\"users\": {\"a\": {\"class\": \"gone\"}, "
                          "\"b\": {\"class\": \"default\"}}}}", &root), -2);
    conf_free(&t_root, &root);
    assert_true(load("{\"ratelimit\": {\"classes\": {\"x\": "
                     "{\"recipients\": 5, \"burst\": 6}}}}", &root) < 0);
    conf_free(&t_root, &root);
    assert_true(load("{\"ratelimit\": {\"classes\": {\"x\": {\"recipients\": 0}}}}",
                     &root) < 0);
    conf_free(&t_root, &root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(users_get_their_class_case_insensitively),
        cmocka_unit_test(an_endpoint_class_comes_between_users_and_the_default),
        cmocka_unit_test(builtin_default_exists_without_classes),
        cmocka_unit_test(burst_defaults_to_recipients),
        cmocka_unit_test(per_message_cap_allows_what_is_left),
        cmocka_unit_test(key_prefix_escapes_the_hash_tag),
        cmocka_unit_test(full_grant_is_not_a_refusal),
        cmocka_unit_test(partial_grant_names_the_limit_and_rounds_retry_up),
        cmocka_unit_test(message_limit_refusal_at_mail),
        cmocka_unit_test(granted_is_clamped),
        cmocka_unit_test(window_text_uses_the_largest_exact_unit),
        cmocka_unit_test(refusal_texts_follow_the_reply_table),
        cmocka_unit_test(refusal_text_sanitizes_and_bounds_the_login),
        cmocka_unit_test(other_replies),
        cmocka_unit_test(fail_mode_decides_acceptance_on_errors),
        cmocka_unit_test(config_defaults),
        cmocka_unit_test(config_classes_and_users),
        cmocka_unit_test(config_unknown_classes_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
