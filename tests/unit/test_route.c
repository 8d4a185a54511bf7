/*
 * test_route.c - unit tests of relay/queue/route.c: route texts (mx, relay with and without
 * brackets, IP literals, lmtp over TCP and unix sockets, maildir) and their refusals, the
 * transport table lookup (exact domain, ".parent" entries, the default, case), the relay
 * options lookup and its certificate check (verified by default with credentials), and
 * the "transport" config section (relative maildir paths made absolute, bad routes and
 * credentials that could not be protected reported at their JSON pointer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "relay/queue/route.h"
#include "relay/deliver/smtp_client.h"

static struct route parse_ok(const char *text)
{
    struct route r;
    char err[200];
    assert_int_equal(route_parse(text, &r, err, sizeof(err)), 0);
    return r;
}

static void routes_parse(void **state)
{
    struct route r;
    (void)state;
    r = parse_ok("mx");
    assert_int_equal(r.kind, ROUTE_MX);
    r = parse_ok("relay:[smtp.example.com]:587");
    assert_int_equal(r.kind, ROUTE_RELAY);
    assert_string_equal(r.host, "smtp.example.com");
    assert_int_equal(r.port, 587);
    assert_false(r.mx_lookup);
    r = parse_ok("relay:smtp.example.com:25");
    assert_true(r.mx_lookup);
    r = parse_ok("relay:192.0.2.1:25");
    assert_false(r.mx_lookup);
    r = parse_ok("relay:[2001:db8::1]:2525");
    assert_string_equal(r.host, "2001:db8::1");
    assert_int_equal(r.port, 2525);
    r = parse_ok("lmtp:127.0.0.1:24");
    assert_int_equal(r.kind, ROUTE_LMTP);
    assert_false(r.is_unix);
    assert_false(r.mx_lookup);
    r = parse_ok("lmtp:unix:/run/dovecot/lmtp");
    assert_true(r.is_unix);
    assert_string_equal(r.path, "/run/dovecot/lmtp");
    r = parse_ok("maildir:/var/mail/catchall/");
    assert_int_equal(r.kind, ROUTE_MAILDIR);
    assert_string_equal(r.path, "/var/mail/catchall/");
    assert_string_equal(route_kind_name(ROUTE_LMTP), "lmtp");
}

static void bad_routes_are_refused(void **state)
{
    const char *bad[] = { "", "smtp:x:25", "relay:", "relay:host", "relay:[host]",
                          "relay:[host]:0", "relay:[host]:70000", "relay:[host]:25x",
                          "relay:[]:25", "lmtp:unix:relative", "maildir:", "MX" };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct route r;
        char err[200] = "";
        assert_int_equal(route_parse(bad[i], &r, err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
    }
}

static const char conf_text[] =
    "{ \"default\": \"relay:[smarthost.test]:587\", \"domains\": {"
    "  \"example.test\": {\"route\": \"maildir:md/\"},"
    "  \".corp.test\": {\"route\": \"lmtp:10.0.0.5:24\"},"
    "  \"deep.corp.test\": {\"route\": \"mx\"} },"
    "  \"relays\": { \"[smarthost.test]:587\": {\"tls\": \"required\", \"verify\": true,"
    "                \"user\": \"u\", \"password\": \"p\"} } }";

/* The transport section alone, as the root of a config. */
static const struct conf_key wrap_keys[] = {
    { .name = "transport", .type = CONF_SECTION, .offset = 0, .sub = &transport_conf_section },
    { NULL }
};
static const struct conf_section wrap = { "test", wrap_keys, NULL };

static int load(const char *inner, struct transport_conf *t)
{
    char *text = malloc(strlen(inner) + 32);
    struct conf_errors errs = { .file = "t.json", .count = 0, .out = stderr };
    int rc;
    sprintf(text, "{\"transport\": %s}", inner);
    memset(t, 0, sizeof(*t));
    rc = conf_load_buffer("t.json", text, strlen(text), &wrap, t, &errs);
    free(text);
    return rc;
}

static void table_lookup(void **state)
{
    struct transport_conf t;
    char cwd[512], want[600];
    const struct transport_relay *r;
    (void)state;

    assert_int_equal(load(conf_text, &t), 0);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    snprintf(want, sizeof(want), "maildir:%s/md/", cwd);
    assert_string_equal(transport_route_for(&t, "example.test"), want);
    assert_string_equal(transport_route_for(&t, "EXAMPLE.Test"), want);
    assert_string_equal(transport_route_for(&t, "a.corp.test"), "lmtp:10.0.0.5:24");
    assert_string_equal(transport_route_for(&t, "x.deep.corp.test"), "lmtp:10.0.0.5:24");
    assert_string_equal(transport_route_for(&t, "deep.corp.test"), "mx");
    assert_string_equal(transport_route_for(&t, "corp.test"), "relay:[smarthost.test]:587");
    assert_string_equal(transport_route_for(&t, "other.test"), "relay:[smarthost.test]:587");
    assert_int_equal(t.mx_port, 25);
    assert_int_equal(t.mx_tls, SMTP_TLS_OPPORTUNISTIC);
    assert_false(t.mx_allow_private);
    r = transport_relay_find(&t, "smarthost.test", 587);
    assert_non_null(r);
    assert_int_equal(r->tls, SMTP_TLS_REQUIRED);
    assert_int_equal(r->verify, RELAY_VERIFY_YES);
    assert_true(transport_relay_verifies(r));
    assert_string_equal(r->user, "u");
    assert_null(transport_relay_find(&t, "smarthost.test", 25));
    conf_free(&wrap, &t);
}

static void relays_with_credentials_are_verified_by_default(void **state)
{
    struct transport_conf t;
    const struct transport_relay *r;
    (void)state;
    assert_int_equal(load("{\"relays\": {"
                          " \"[auth.test]:587\": {\"user\": \"u\", \"password\": \"p\","
                          "                      \"tls_name\": \"smtp.example.net\"},"
                          " \"[plain.test]:25\": {},"
                          " \"[off.test]:587\": {\"user\": \"u\", \"password\": \"p\","
                          "                     \"verify\": false},"
                          " \"[lan.test]:25\": {\"user\": \"u\", \"password\": \"p\","
                          "                    \"tls\": \"none\", \"auth_plaintext\": true},"
                          " \"[on.test]:25\": {\"verify\": true}}}", &t), 0);
    r = transport_relay_find(&t, "auth.test", 587);
    assert_int_equal(r->verify, RELAY_VERIFY_AUTO);
    assert_true(transport_relay_verifies(r));
    assert_string_equal(r->tls_name, "smtp.example.net");
    r = transport_relay_find(&t, "plain.test", 25);
    assert_false(transport_relay_verifies(r));          /* nothing to protect */
    assert_null(r->tls_name);
    assert_false(transport_relay_verifies(transport_relay_find(&t, "off.test", 587)));
    assert_false(transport_relay_verifies(transport_relay_find(&t, "lan.test", 25)));
    assert_true(transport_relay_verifies(transport_relay_find(&t, "on.test", 25)));
    conf_free(&wrap, &t);
}

static void bad_config_is_reported(void **state)
{
    struct transport_conf t;
    (void)state;
    assert_int_equal(load("{\"domains\": {\"x.test\": {\"route\": \"smtp:x\"}}}", &t), -1);
    conf_free(&wrap, &t);
    assert_int_equal(load("{\"default\": \"relay:nohost\"}", &t), -1);
    conf_free(&wrap, &t);
    assert_int_equal(load("{\"relays\": {\"noport\": {}}}", &t), -1);
    conf_free(&wrap, &t);
    assert_int_equal(load("{\"relays\": {\"[h]:25\": {\"user\": \"u\"}}}", &t), -1);
    conf_free(&wrap, &t);
    assert_int_equal(load("{\"domains\": {\"x.test\": {}}}", &t), -1);
    conf_free(&wrap, &t);
    /* credentials that could not be protected */
    assert_int_equal(load("{\"relays\": {\"[h]:25\": {\"user\": \"u\", \"password\": \"p\","
                          " \"tls\": \"none\"}}}", &t), -1);
    conf_free(&wrap, &t);
    assert_int_equal(load("{\"relays\": {\"[h]:25\": {\"user\": \"u\", \"password\": \"p\","
                          " \"verify\": true, \"auth_plaintext\": true}}}", &t), -1);
    conf_free(&wrap, &t);
    assert_int_equal(load("{\"relays\": {\"[h]:25\": {\"verify\": true, \"tls\": \"none\"}}}",
                          &t), -1);
    conf_free(&wrap, &t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(routes_parse),
        cmocka_unit_test(bad_routes_are_refused),
        cmocka_unit_test(table_lookup),
        cmocka_unit_test(relays_with_credentials_are_verified_by_default),
        cmocka_unit_test(bad_config_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
