/*
 * test_dns_wire.c - the resolver's pure helpers (lib/dns_wire.c): query-name checks,
 * reversed-IP names for PTR and DNSBL, server address syntax, and answer TTLs.
 */
#include "lib/dns_wire.h"

#include "tests/unit/dns_testpkt.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static void names_are_lower_cased_without_the_trailing_dot(void **state)
{
    char out[DNS_NAME_MAX + 1];
    (void)state;

    assert_int_equal(dns_name_normalize("Mail.Example.TEST.", out, sizeof(out)), 0);
    assert_string_equal(out, "mail.example.test");
    assert_int_equal(dns_name_normalize("_dmarc.example.test", out, sizeof(out)), 0);
    assert_string_equal(out, "_dmarc.example.test");
    /* RFC 2181 11: any byte may be in a label; SPF's "%_" macro makes spaces */
    assert_int_equal(dns_name_normalize("Macro%percent  Space.example.test", out, sizeof(out)),
                     0);
    assert_string_equal(out, "macro%percent  space.example.test");
}

static void bad_names_are_refused(void **state)
{
    static const char *const bad[] = {
        "", ".", "a..b", ".a", "a\\.b", "a\tb", "caf\xc3\xa9.test", "a\n",
    };
    char out[DNS_NAME_MAX + 1];
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(dns_name_normalize(bad[i], out, sizeof(out)), -1);
}

static void name_and_label_length_limits(void **state)
{
    char name[DNS_NAME_MAX + 3], out[DNS_NAME_MAX + 1];
    (void)state;

    memset(name, 'a', DNS_LABEL_MAX);
    strcpy(name + DNS_LABEL_MAX, ".test");
    assert_int_equal(dns_name_normalize(name, out, sizeof(out)), 0);
    memset(name, 'a', DNS_LABEL_MAX + 1);
    strcpy(name + DNS_LABEL_MAX + 1, ".test");
    assert_int_equal(dns_name_normalize(name, out, sizeof(out)), -1);

    /* 253 characters in labels of 50: accepted; one more: refused. */
    for (size_t i = 0; i < DNS_NAME_MAX; i++)
        name[i] = (i % 51 == 50) ? '.' : 'b';
    name[DNS_NAME_MAX] = '\0';
    assert_int_equal(dns_name_normalize(name, out, sizeof(out)), 0);
    name[DNS_NAME_MAX] = 'b';
    name[DNS_NAME_MAX + 1] = '\0';
    assert_int_equal(dns_name_normalize(name, out, sizeof(out)), -1);
    assert_int_equal(dns_name_normalize("abc.test", out, 4), -1);
}

static void ipv4_reverse_names(void **state)
{
    char out[DNS_NAME_MAX + 1];
    (void)state;

    assert_int_equal(dns_reverse_name("192.0.2.11", NULL, out, sizeof(out)), 0);
    assert_string_equal(out, "11.2.0.192.in-addr.arpa");
    assert_int_equal(dns_reverse_name("127.0.0.2", "Zen.Test.", out, sizeof(out)), 0);
    assert_string_equal(out, "2.0.0.127.zen.test");
    assert_int_equal(dns_reverse_name("::ffff:192.0.2.10", NULL, out, sizeof(out)), 0);
    assert_string_equal(out, "10.2.0.192.in-addr.arpa");
}

static void ipv6_reverse_names_use_nibbles(void **state)
{
    char out[DNS_NAME_MAX + 1];
    (void)state;

    assert_int_equal(dns_reverse_name("2001:db8::10", NULL, out, sizeof(out)), 0);
    assert_string_equal(out, "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
                             "8.b.d.0.1.0.0.2.ip6.arpa");
    assert_int_equal(dns_reverse_name("2001:DB8::1234", "zen.test", out, sizeof(out)), 0);
    assert_string_equal(out, "4.3.2.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
                             "8.b.d.0.1.0.0.2.zen.test");
}

static void bad_ips_and_zones_are_refused(void **state)
{
    char out[DNS_NAME_MAX + 1], small[16];
    (void)state;

    assert_int_equal(dns_reverse_name("1.2.3", NULL, out, sizeof(out)), -1);
    assert_int_equal(dns_reverse_name("300.1.1.1", NULL, out, sizeof(out)), -1);
    assert_int_equal(dns_reverse_name("example.test", NULL, out, sizeof(out)), -1);
    assert_int_equal(dns_reverse_name("1.2.3.4", "", out, sizeof(out)), -1);
    assert_int_equal(dns_reverse_name("1.2.3.4", ".zen.test", out, sizeof(out)), -1);
    assert_int_equal(dns_reverse_name("1.2.3.4", "bad zone", out, sizeof(out)), -1);
    assert_int_equal(dns_reverse_name("1.2.3.4", NULL, small, sizeof(small)), -1);
}

static void server_addresses(void **state)
{
    static const char *const good[] = {
        "127.0.0.1", "127.0.0.1:5353", "[::1]:53", "[2001:db8::1]:5353", "::1", "2001:db8::53",
    };
    static const char *const bad[] = {
        "", "localhost", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:x",
        "[::1", "[::1]", "[::1]:", "[::1]x", "[127.0.0.1]:53", "1.2.3:53", ":53",
    };
    (void)state;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(dns_server_check(good[i]), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(dns_server_check(bad[i]), -1);
}

static const unsigned char ip1[4] = { 192, 0, 2, 10 };

static void answer_ttl_is_the_smallest_including_cnames(void **state)
{
    struct pkt p;
    uint32_t ttl = 0;
    (void)state;

    pkt_start(&p, 0, "www.example.test", PKT_T_A, 2, 0);
    pkt_name_rr(&p, "www.example.test", PKT_T_CNAME, 120, "mx1.example.test");
    pkt_a(&p, "mx1.example.test", 3600, ip1);
    assert_int_equal(dns_packet_ttl(p.b, p.len, 0, &ttl), 0);
    assert_int_equal(ttl, 120);
}

static void compressed_owner_names_are_skipped(void **state)
{
    struct pkt p;
    uint32_t ttl = 0;
    (void)state;

    pkt_start(&p, 0, "a.test", PKT_T_A, 1, 0);
    pkt_u16(&p, 0xc00c);                 /* pointer to the question name */
    pkt_u16(&p, PKT_T_A);
    pkt_u16(&p, PKT_CLASS_IN);
    pkt_u32(&p, 77);
    pkt_u16(&p, 4);
    pkt_bytes(&p, ip1, 4);
    assert_int_equal(dns_packet_ttl(p.b, p.len, 0, &ttl), 0);
    assert_int_equal(ttl, 77);
}

static void negative_ttl_is_the_soa_minimum_or_its_ttl(void **state)
{
    struct pkt p;
    uint32_t ttl = 0;
    (void)state;

    pkt_start(&p, PKT_RCODE_NXDOMAIN, "nx.test", PKT_T_A, 0, 1);
    pkt_soa(&p, "test", 900, 300);
    assert_int_equal(dns_packet_ttl(p.b, p.len, 1, &ttl), 0);
    assert_int_equal(ttl, 300);
    pkt_start(&p, PKT_RCODE_NXDOMAIN, "nx.test", PKT_T_A, 0, 1);
    pkt_soa(&p, "test", 30, 300);
    assert_int_equal(dns_packet_ttl(p.b, p.len, 1, &ttl), 0);
    assert_int_equal(ttl, 30);
}

static void no_soa_or_no_answer_gives_no_ttl(void **state)
{
    struct pkt p;
    uint32_t ttl = 0;
    (void)state;

    pkt_start(&p, PKT_RCODE_NXDOMAIN, "nx.test", PKT_T_A, 0, 0);
    assert_int_equal(dns_packet_ttl(p.b, p.len, 1, &ttl), -1);
    assert_int_equal(dns_packet_ttl(p.b, p.len, 0, &ttl), -1);
}

static void truncated_packets_are_refused(void **state)
{
    struct pkt p;
    uint32_t ttl = 0;
    (void)state;

    pkt_start(&p, 0, "a.test", PKT_T_A, 1, 0);
    pkt_a(&p, "a.test", 60, ip1);
    for (size_t len = 0; len < p.len; len++)
        assert_int_equal(dns_packet_ttl(p.b, len, 0, &ttl), -1);
    assert_int_equal(dns_packet_ttl(p.b, p.len, 0, &ttl), 0);
}

static void ttl_with_the_top_bit_set_counts_as_zero(void **state)
{
    struct pkt p;
    uint32_t ttl = 1;
    (void)state;

    pkt_start(&p, 0, "a.test", PKT_T_A, 1, 0);
    pkt_a(&p, "a.test", 0x80000000u, ip1);
    assert_int_equal(dns_packet_ttl(p.b, p.len, 0, &ttl), 0);
    assert_int_equal(ttl, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names_are_lower_cased_without_the_trailing_dot),
        cmocka_unit_test(bad_names_are_refused),
        cmocka_unit_test(name_and_label_length_limits),
        cmocka_unit_test(ipv4_reverse_names),
        cmocka_unit_test(ipv6_reverse_names_use_nibbles),
        cmocka_unit_test(bad_ips_and_zones_are_refused),
        cmocka_unit_test(server_addresses),
        cmocka_unit_test(answer_ttl_is_the_smallest_including_cnames),
        cmocka_unit_test(compressed_owner_names_are_skipped),
        cmocka_unit_test(negative_ttl_is_the_soa_minimum_or_its_ttl),
        cmocka_unit_test(no_soa_or_no_answer_gives_no_ttl),
        cmocka_unit_test(truncated_packets_are_refused),
        cmocka_unit_test(ttl_with_the_top_bit_set_counts_as_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
