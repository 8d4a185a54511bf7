/*
 * test_netaddr.c - unit tests of lib/netaddr.c: network parsing and matching, and the
 * scope classifier that keeps DNS answers from aiming deliveries at internal hosts
 * (loopback, private, link-local, multicast, reserved and documentation ranges, in IPv4,
 * IPv6, and the IPv6 forms that carry an IPv4 address).
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

#include "lib/netaddr.h"

/* The scope of a textual address. */
static enum netaddr_scope scope_of(const char *ip)
{
    unsigned char a[16];
    if (inet_pton(AF_INET, ip, a) == 1)
        return netaddr_scope(AF_INET, a);
    assert_int_equal(inet_pton(AF_INET6, ip, a), 1);
    return netaddr_scope(AF_INET6, a);
}

struct case_ {
    const char *ip;
    enum netaddr_scope scope;
};

static void check_cases(const struct case_ *c, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        enum netaddr_scope got = scope_of(c[i].ip);
        if (got != c[i].scope)
            fail_msg("%s: got %s, want %s", c[i].ip, netaddr_scope_name(got),
                     netaddr_scope_name(c[i].scope));
    }
}

static void ipv4_special_ranges_are_not_public(void **state)
{
    static const struct case_ cases[] = {
        { "0.0.0.0", NETADDR_UNSPECIFIED }, { "0.255.255.255", NETADDR_UNSPECIFIED },
        { "10.0.0.1", NETADDR_PRIVATE }, { "10.255.255.255", NETADDR_PRIVATE },
        { "100.64.0.1", NETADDR_PRIVATE }, { "100.127.255.255", NETADDR_PRIVATE },
        { "127.0.0.1", NETADDR_LOOPBACK }, { "127.255.0.9", NETADDR_LOOPBACK },
        { "169.254.169.254", NETADDR_LINK_LOCAL },
        { "172.16.0.1", NETADDR_PRIVATE }, { "172.31.255.255", NETADDR_PRIVATE },
        { "192.0.0.8", NETADDR_RESERVED },
        { "192.0.2.2", NETADDR_DOCUMENTATION },
        { "192.168.1.1", NETADDR_PRIVATE },
        { "198.18.0.1", NETADDR_RESERVED }, { "198.19.255.255", NETADDR_RESERVED },
        { "198.51.100.7", NETADDR_DOCUMENTATION }, { "203.0.113.9", NETADDR_DOCUMENTATION },
        { "224.0.0.1", NETADDR_MULTICAST }, { "239.255.255.255", NETADDR_MULTICAST },
        { "240.0.0.1", NETADDR_RESERVED }, { "255.255.255.255", NETADDR_RESERVED },
    };
    (void)state;
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void ipv4_neighbours_of_special_ranges_are_public(void **state)
{
    static const struct case_ cases[] = {
        { "1.0.0.1", NETADDR_PUBLIC }, { "9.255.255.255", NETADDR_PUBLIC },
        { "11.0.0.0", NETADDR_PUBLIC }, { "100.63.255.255", NETADDR_PUBLIC },
        { "100.128.0.0", NETADDR_PUBLIC }, { "126.255.255.255", NETADDR_PUBLIC },
        { "128.0.0.0", NETADDR_PUBLIC }, { "169.253.255.255", NETADDR_PUBLIC },
        { "172.15.255.255", NETADDR_PUBLIC }, { "172.32.0.0", NETADDR_PUBLIC },
        { "192.0.1.255", NETADDR_PUBLIC }, { "192.0.3.0", NETADDR_PUBLIC },
        { "192.167.255.255", NETADDR_PUBLIC }, { "192.169.0.0", NETADDR_PUBLIC },
        { "198.17.255.255", NETADDR_PUBLIC }, { "198.20.0.0", NETADDR_PUBLIC },
        { "223.255.255.255", NETADDR_PUBLIC }, { "8.8.8.8", NETADDR_PUBLIC },
        { "93.184.216.34", NETADDR_PUBLIC },
    };
    (void)state;
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void ipv6_special_ranges_are_not_public(void **state)
{
    static const struct case_ cases[] = {
        { "::", NETADDR_UNSPECIFIED }, { "::1", NETADDR_LOOPBACK },
        { "::2", NETADDR_RESERVED }, { "::10.0.0.1", NETADDR_RESERVED },
        { "fc00::1", NETADDR_PRIVATE }, { "fdff:ffff::1", NETADDR_PRIVATE },
        { "fe80::1", NETADDR_LINK_LOCAL }, { "febf:ffff::1", NETADDR_LINK_LOCAL },
        { "fec0::1", NETADDR_PRIVATE },
        { "ff02::1", NETADDR_MULTICAST }, { "ff0e::1", NETADDR_MULTICAST },
        { "2001:db8::1", NETADDR_DOCUMENTATION }, { "3fff:fff::1", NETADDR_DOCUMENTATION },
        { "100::1", NETADDR_RESERVED }, { "2001:2::1", NETADDR_RESERVED },
        { "64:ff9b:1::a00:1", NETADDR_PRIVATE },
    };
    (void)state;
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void ipv6_public_addresses(void **state)
{
    static const struct case_ cases[] = {
        { "2001:4860:4860::8888", NETADDR_PUBLIC }, { "2a00:1450::1", NETADDR_PUBLIC },
        { "2001:db9::1", NETADDR_PUBLIC }, { "fbff::1", NETADDR_PUBLIC },
        { "fe00::1", NETADDR_PUBLIC }, { "3fff:1000::1", NETADDR_PUBLIC },
        { "100:0:0:1::1", NETADDR_PUBLIC }, { "2001:3::1", NETADDR_PUBLIC },
    };
    (void)state;
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void ipv6_forms_of_ipv4_take_the_embedded_scope(void **state)
{
    static const struct case_ cases[] = {
        { "::ffff:10.0.0.1", NETADDR_PRIVATE }, { "::ffff:127.0.0.1", NETADDR_LOOPBACK },
        { "::ffff:169.254.1.1", NETADDR_LINK_LOCAL }, { "::ffff:0.0.0.0", NETADDR_UNSPECIFIED },
        { "::ffff:8.8.8.8", NETADDR_PUBLIC },
        { "64:ff9b::10.1.2.3", NETADDR_PRIVATE }, { "64:ff9b::7f00:1", NETADDR_LOOPBACK },
        { "64:ff9b::192.168.0.1", NETADDR_PRIVATE }, { "64:ff9b::8.8.4.4", NETADDR_PUBLIC },
        { "2002:a00:1::1", NETADDR_PRIVATE }, { "2002:7f00:1::", NETADDR_LOOPBACK },
        { "2002:808:808::1", NETADDR_PUBLIC },
    };
    (void)state;
    check_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void socket_addresses_and_names(void **state)
{
    struct sockaddr_in s4;
    struct sockaddr_in6 s6;
    struct sockaddr sa;
    (void)state;
    memset(&s4, 0, sizeof(s4));
    s4.sin_family = AF_INET;
    inet_pton(AF_INET, "192.168.0.1", &s4.sin_addr);
    assert_int_equal(netaddr_scope_sa((struct sockaddr *)&s4), NETADDR_PRIVATE);
    inet_pton(AF_INET, "8.8.8.8", &s4.sin_addr);
    assert_int_equal(netaddr_scope_sa((struct sockaddr *)&s4), NETADDR_PUBLIC);
    memset(&s6, 0, sizeof(s6));
    s6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:172.16.5.4", &s6.sin6_addr);
    assert_int_equal(netaddr_scope_sa((struct sockaddr *)&s6), NETADDR_PRIVATE);
    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNIX;
    assert_int_equal(netaddr_scope_sa(&sa), NETADDR_RESERVED);
    assert_string_equal(netaddr_scope_name(NETADDR_PUBLIC), "public");
    assert_string_equal(netaddr_scope_name(NETADDR_LINK_LOCAL), "link-local");
    assert_string_equal(netaddr_scope_name(NETADDR_DOCUMENTATION), "documentation");
}

static void networks_parse_and_match(void **state)
{
    struct netaddr n;
    (void)state;
    assert_int_equal(netaddr_parse("192.0.2.0/24", &n), 0);
    assert_true(netaddr_contains(&n, "192.0.2.77"));
    assert_true(netaddr_contains(&n, "::ffff:192.0.2.77"));
    assert_false(netaddr_contains(&n, "192.0.3.1"));
    assert_int_equal(netaddr_parse("2001:db8::/32", &n), 0);
    assert_true(netaddr_contains(&n, "2001:db8:1::5"));
    assert_false(netaddr_contains(&n, "2001:db9::5"));
    assert_int_equal(netaddr_parse("127.0.0.1", &n), 0);
    assert_int_equal(n.prefix, 32);
    assert_int_equal(netaddr_parse("10.0.0.0/33", &n), -1);
    assert_int_equal(netaddr_parse("10.0.0.0/", &n), -1);
    assert_int_equal(netaddr_parse("not-an-ip", &n), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ipv4_special_ranges_are_not_public),
        cmocka_unit_test(ipv4_neighbours_of_special_ranges_are_public),
        cmocka_unit_test(ipv6_special_ranges_are_not_public),
        cmocka_unit_test(ipv6_public_addresses),
        cmocka_unit_test(ipv6_forms_of_ipv4_take_the_embedded_scope),
        cmocka_unit_test(socket_addresses_and_names),
        cmocka_unit_test(networks_parse_and_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
