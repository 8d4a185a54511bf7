/*
 * test_http_listen.c - unit tests of lib/http_listen.c: the listener's address parsing and
 * the loopback test that decides whether a listener may run without TLS or a token; and
 * addresses a listener cannot be bound to.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <event2/http.h>
#include <string.h>

#include "lib/http_listen.h"

static void addresses_split_into_host_and_port(void **state)
{
    char host[64];
    int port = 0;

    (void)state;
    assert_int_equal(http_listen_split("127.0.0.1:8026", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8026);
    assert_int_equal(http_listen_split("[::1]:8025", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 8025);
    assert_int_equal(http_listen_split("localhost:1", host, sizeof(host), &port), 0);
    assert_string_equal(host, "localhost");
}

static void malformed_addresses_are_refused(void **state)
{
    static const char *const bad[] = { "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
                                       "127.0.0.1:65536", ":80", "[::1:80", "[]:80",
                                       "1.2.3.4:80x" };
    char host[64];
    int port;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(http_listen_split(bad[i], host, sizeof(host), &port), -1);
    assert_int_equal(http_listen_split("127.0.0.1:80", host, 4, &port), -1);  /* too long */
}

static void only_loopback_addresses_are_loopback(void **state)
{
    (void)state;
    assert_true(http_address_is_loopback("127.0.0.1:8026"));
    assert_true(http_address_is_loopback("127.1.2.3:8026"));
    assert_true(http_address_is_loopback("[::1]:8026"));
    assert_true(http_address_is_loopback("localhost:8026"));
    assert_false(http_address_is_loopback("0.0.0.0:8026"));
    assert_false(http_address_is_loopback("[::]:8026"));
    assert_false(http_address_is_loopback("192.0.2.1:8026"));
    assert_false(http_address_is_loopback("mail.example.net:8026"));
    assert_false(http_address_is_loopback("nonsense"));
}

static void on_request(struct evhttp_request *req, void *arg)
{
    (void)req;
    (void)arg;
}

static void an_address_that_cannot_be_bound_gives_null(void **state)
{
    struct event_base *base = event_base_new();
    struct http_listen_conf c = { .address = "127.0.0.1:notaport", .timeout_s = 5,
                                  .body_max = 1024, .headers_max = 1024 };
    (void)state;
    assert_null(http_listen_new(base, &c, on_request, NULL));
    c.address = "127.0.0.1:0";                      /* port 0 is not a configured port */
    assert_null(http_listen_new(base, &c, on_request, NULL));
    c.address = "192.0.2.1:8026";                   /* not an address of this machine */
    assert_null(http_listen_new(base, &c, on_request, NULL));
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addresses_split_into_host_and_port),
        cmocka_unit_test(malformed_addresses_are_refused),
        cmocka_unit_test(only_loopback_addresses_are_loopback),
        cmocka_unit_test(an_address_that_cannot_be_bound_gives_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
