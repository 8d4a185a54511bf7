/*
 * test_authfail.c - unit tests of the pure parts of auth/authfail: the address a failure
 * is counted under, the delay of a guessed login, and the "authfail" config section loaded
 * by lib/conf. (The counters are tested against a real redis-server in
 * tests/integration/test_authfail.py.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "auth/authfail.h"
#include "lib/conf.h"

static void addresses_are_counted_per_host_or_v6_network(void **state)
{
    static const struct { const char *ip; int prefix; const char *want; } cases[] = {
        { "192.0.2.1", 64, "192.0.2.1" },
        { "::ffff:192.0.2.1", 64, "192.0.2.1" },
        { "2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64" },
        { "2001:db8:1:2:3:4:5:6", 56, "2001:db8:1::/56" },
        { "2001:db8:1:2ff:3:4:5:6", 60, "2001:db8:1:2f0::/60" },
        { "2001:db8::1", 128, "2001:db8::1/128" },
        { "::1", 64, "::/64" },
    };
    char buf[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(authfail_ip_text(cases[i].ip, cases[i].prefix, buf, sizeof(buf)), 0);
        assert_string_equal(buf, cases[i].want);
    }
}

static void non_addresses_and_small_buffers_are_refused(void **state)
{
    char buf[8];

    (void)state;
    assert_int_equal(authfail_ip_text("example.com", 64, buf, sizeof(buf)), -1);
    assert_int_equal(authfail_ip_text("", 64, buf, sizeof(buf)), -1);
    assert_int_equal(authfail_ip_text("2001:db8::1", 64, buf, sizeof(buf)), -1);
}

struct t_root {
    struct authfail_conf af;
};

static const struct conf_key t_keys[] = {
    { .name = "authfail", .type = CONF_SECTION, .offset = offsetof(struct t_root, af),
      .sub = &authfail_conf_section },
    { .name = NULL }
};
static const struct conf_section t_root_section = { .name = "root", .keys = t_keys };

static int load(const char *json, struct t_root *out)
{
    FILE *devnull = fopen("/dev/null", "w");
    struct conf_errors errs = { .file = "t.json", .out = devnull };
    int rc;

    memset(out, 0, sizeof(*out));
    rc = conf_load_buffer("t.json", json, strlen(json), &t_root_section, out, &errs);
    fclose(devnull);
    return rc;
}

static void config_defaults_and_bounds(void **state)
{
    struct t_root r;

    (void)state;
    assert_int_equal(load("{}", &r), 0);
    assert_true(r.af.enabled);
    assert_int_equal(r.af.window_ms, 15 * 60 * 1000);
    assert_int_equal(r.af.ip_threshold, 20);
    assert_int_equal(r.af.login_ip_threshold, 5);
    assert_int_equal(r.af.login_threshold, 10);
    assert_int_equal(r.af.login_delay_ms, 1000);
    assert_int_equal(r.af.login_delay_max_ms, 15000);
    assert_int_equal(r.af.fail_mode, AUTHFAIL_FAIL_OPEN);
    assert_int_equal(r.af.ipv6_prefix, 64);
    conf_free(&t_root_section, &r);
    assert_int_equal(load("{\"authfail\": {\"fail_mode\": \"closed\"}}", &r), 0);
    assert_int_equal(r.af.fail_mode, AUTHFAIL_FAIL_CLOSED);
    conf_free(&t_root_section, &r);
    assert_int_equal(load("{\"authfail\": {\"ip_threshold\": 0}}", &r), -1);
    conf_free(&t_root_section, &r);
    /* the cap of the delay is not below its start, and at most a minute */
    assert_int_equal(load("{\"authfail\": {\"login_delay\": \"5s\", "
                          "\"login_delay_max\": \"2s\"}}", &r), -1);
    conf_free(&t_root_section, &r);
    assert_int_equal(load("{\"authfail\": {\"login_delay_max\": \"2m\"}}", &r), -1);
    conf_free(&t_root_section, &r);
    /* the old single threshold is gone: an unknown key */
    assert_int_equal(load("{\"authfail\": {\"threshold\": 5}}", &r), -1);
    conf_free(&t_root_section, &r);
}

static void login_delay_doubles_from_the_threshold_up_to_the_cap(void **state)
{
    struct authfail_conf c = { .login_threshold = 10, .login_delay_ms = 1000,
                               .login_delay_max_ms = 15000 };
    static const struct { long long failures, ms; } cases[] = {
        { 0, 0 }, { 9, 0 }, { 10, 1000 }, { 11, 2000 }, { 12, 4000 }, { 13, 8000 },
        { 14, 15000 }, { 15, 15000 }, { 1000000, 15000 }, { -1, 0 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(authfail_delay_ms(&c, cases[i].failures), cases[i].ms);
    c.login_delay_ms = 0;                       /* no delay configured */
    assert_int_equal(authfail_delay_ms(&c, 50), 0);
    c.login_delay_ms = c.login_delay_max_ms = 700;
    assert_int_equal(authfail_delay_ms(&c, 12), 700);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addresses_are_counted_per_host_or_v6_network),
        cmocka_unit_test(non_addresses_and_small_buffers_are_refused),
        cmocka_unit_test(config_defaults_and_bounds),
        cmocka_unit_test(login_delay_doubles_from_the_threshold_up_to_the_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
