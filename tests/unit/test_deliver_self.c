/*
 * test_deliver_self.c - unit tests of relay/deliver/deliver_self.c: which next-hop addresses are
 * this host's own listeners. A wildcard listener ("*:25", "0.0.0.0:25", "[::]:25") takes
 * only the host's own addresses (and loopback) on its port, never a remote MX; an exact
 * listener takes its own address; the interface list is read with getifaddrs().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "relay/deliver/deliver_self.h"
#include "relay/relay_conf.h"

/* A socket address from "ip" and a port. */
static struct sockaddr_storage sa_of(const char *ip, unsigned port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':') == NULL) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
    }
    return ss;
}

/* This host, as the tests see it: 192.0.2.2 and fd00::2 on its interface. */
static struct netaddr own[2];

static int setup_own(void **state)
{
    (void)state;
    assert_int_equal(netaddr_parse("192.0.2.2", &own[0]), 0);
    assert_int_equal(netaddr_parse("fd00::2", &own[1]), 0);
    return 0;
}

static bool covers(const char *listen, const char *ip, unsigned port)
{
    struct sockaddr_storage ss = sa_of(ip, port);
    return deliver_self_listener_covers(listen, (struct sockaddr *)&ss, own, 2);
}

static void wildcard_listener_does_not_take_remote_mx_hosts(void **state)
{
    (void)state;
    /* the bug: every MX delivery looked like a loop with "*:25" in the config */
    assert_false(covers("*:25", "198.51.100.7", 25));
    assert_false(covers("0.0.0.0:25", "203.0.113.5", 25));
    assert_false(covers("[::]:25", "2001:db8::25", 25));
    assert_false(covers("[::]:25", "198.51.100.7", 25));
    assert_false(covers("*:25", "::ffff:198.51.100.7", 25));
}

static void wildcard_listener_takes_our_own_addresses_on_its_port(void **state)
{
    (void)state;
    assert_true(covers("*:25", "192.0.2.2", 25));
    assert_true(covers("0.0.0.0:25", "192.0.2.2", 25));
    assert_true(covers("*:25", "::ffff:192.0.2.2", 25));
    assert_true(covers("*:25", "127.0.0.1", 25));
    assert_true(covers("*:25", "127.3.2.1", 25));        /* all of 127/8 reaches us */
    assert_true(covers("*:25", "0.0.0.0", 25));
    assert_true(covers("[::]:25", "fd00::2", 25));
    assert_true(covers("[::]:25", "::1", 25));
    assert_true(covers("[::]:25", "192.0.2.2", 25));     /* dual-stack */
    assert_false(covers("*:25", "192.0.2.2", 587));      /* another port */
    assert_false(covers("*:25", "fd00::2", 25));         /* "*" is IPv4 only */
    assert_false(covers("*:25", "::1", 25));
}

static void exact_listener_takes_only_its_address(void **state)
{
    (void)state;
    assert_true(covers("192.0.2.2:25", "192.0.2.2", 25));
    assert_true(covers("192.0.2.2:25", "::ffff:192.0.2.2", 25));
    assert_false(covers("192.0.2.2:25", "127.0.0.1", 25));
    assert_false(covers("127.0.0.1:2525", "127.0.0.2", 2525));
    assert_true(covers("[::1]:2525", "::1", 2525));
    assert_false(covers("[::1]:2525", "::1", 25));
    assert_false(covers("[fd00::2]:25", "192.0.2.2", 25));
}

static void unreadable_listeners_take_nothing(void **state)
{
    (void)state;
    assert_false(covers("", "192.0.2.2", 25));
    assert_false(covers("*", "192.0.2.2", 25));
    assert_false(covers("*:", "192.0.2.2", 25));
    assert_false(covers("*:0", "192.0.2.2", 0));
    assert_false(covers("host.example:25", "192.0.2.2", 25));
    assert_false(covers("[::1:25", "::1", 25));
}

static void interface_list_is_read_for_wildcard_listeners(void **state)
{
    struct deliver_self s;
    struct listener_conf l[2];
    struct sockaddr_storage lo = sa_of("127.0.0.1", 2525), remote = sa_of("198.51.100.7", 2525);
    (void)state;
    memset(&s, 0, sizeof(s));
    memset(l, 0, sizeof(l));
    l[0].address = (char *)"127.0.0.1:2526";
    assert_false(deliver_self_is_self(&s, l, 1, (struct sockaddr *)&lo));
    assert_int_equal(s.loaded, 0);                        /* no wildcard: not needed */
    l[1].address = (char *)"*:2525";
    assert_true(deliver_self_is_self(&s, l, 2, (struct sockaddr *)&lo));
    assert_false(deliver_self_is_self(&s, l, 2, (struct sockaddr *)&remote));
    assert_true(s.loaded != 0);
    assert_true(s.n >= 1);                                /* lo has 127.0.0.1 at least */
    deliver_self_free(&s);
    assert_int_equal(s.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wildcard_listener_does_not_take_remote_mx_hosts),
        cmocka_unit_test(wildcard_listener_takes_our_own_addresses_on_its_port),
        cmocka_unit_test(exact_listener_takes_only_its_address),
        cmocka_unit_test(unreadable_listeners_take_nothing),
        cmocka_unit_test(interface_list_is_read_for_wildcard_listeners),
    };
    return cmocka_run_group_tests(tests, setup_own, NULL);
}
