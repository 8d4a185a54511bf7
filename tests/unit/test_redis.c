/*
 * test_redis.c - unit tests of the pure helpers of lib/redis: address parsing, key-tag
 * escaping, and the "redis" config section loaded by lib/conf. (The client itself is
 * tested against a real redis-server in tests/integration/test_redis_client.py.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/conf.h"
#include "lib/redis.h"

static void ip_literals_with_ports_are_accepted(void **state)
{
    static const struct { const char *text, *host; int port; } cases[] = {
        { "127.0.0.1:6379", "127.0.0.1", 6379 },
        { "[::1]:6380", "::1", 6380 },
        { "[2001:db8::5]:1", "2001:db8::5", 1 },
        { "10.0.0.2:65535", "10.0.0.2", 65535 },
    };
    char host[INET6_ADDRSTRLEN];
    int port;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(redis_parse_address(cases[i].text, host, sizeof(host), &port), 0);
        assert_string_equal(host, cases[i].host);
        assert_int_equal(port, cases[i].port);
    }
}

static void host_names_and_bad_ports_are_refused(void **state)
{
    static const char *const bad[] = {
        "localhost:6379", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
        "127.0.0.1:63x", "::1:6379", "[::1]6379", "[::1]:", "[localhost]:1", ":6379", "",
        "127.0.0.1:-5",
    };
    char host[INET6_ADDRSTRLEN];
    int port;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(redis_parse_address(bad[i], host, sizeof(host), &port), -1);
}

static void host_buffer_too_small_is_refused(void **state)
{
    char host[4];
    int port;

    (void)state;
    assert_int_equal(redis_parse_address("10.0.0.1:1", host, sizeof(host), &port), -1);
}

static void key_escape_keeps_tags_closed(void **state)
{
    char *s = redis_key_escape("Bob{x}%\x01 ok");

    (void)state;
    assert_string_equal(s, "bob%7Bx%7D%25%01%20ok");
    free(s);
    s = redis_key_escape("");
    assert_string_equal(s, "");
    free(s);
}

struct t_root {
    struct redis_conf redis;
};

static const struct conf_key t_keys[] = {
    { .name = "redis", .type = CONF_SECTION, .offset = offsetof(struct t_root, redis),
      .sub = &redis_conf_section },
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
    return rc == 0 ? 0 : -errs.count;
}

static void config_defaults_and_checks(void **state)
{
    struct t_root r;

    (void)state;
    assert_int_equal(load("{}", &r), 0);
    assert_null(r.redis.socket);
    assert_string_equal(r.redis.address, "127.0.0.1:6379");
    assert_int_equal(r.redis.timeout_ms, 250);
    assert_int_equal(r.redis.reconnect_min_ms, 100);
    assert_int_equal(r.redis.reconnect_max_ms, 5000);
    conf_free(&t_root_section, &r);
    assert_int_equal(load("{\"redis\": {\"address\": \"redis.local:6379\"}}", &r), -1);
    conf_free(&t_root_section, &r);
    assert_int_equal(load("{\"redis\": {\"socket\": \"/run/redis.sock\", "
                          "\"address\": \"redis.local:6379\"}}", &r), 0);
    conf_free(&t_root_section, &r);
    assert_int_equal(load("{\"redis\": {\"reconnect_min\": \"10s\", "
                          "\"reconnect_max\": \"1s\"}}", &r), -1);
    conf_free(&t_root_section, &r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ip_literals_with_ports_are_accepted),
        cmocka_unit_test(host_names_and_bad_ports_are_refused),
        cmocka_unit_test(host_buffer_too_small_is_refused),
        cmocka_unit_test(key_escape_keeps_tags_closed),
        cmocka_unit_test(config_defaults_and_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
