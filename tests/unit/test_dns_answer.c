/*
 * test_dns_answer.c - decoding of c-ares replies into resolver answers
 * (lib/dns_answer.c): MX order and null MX, TXT joining, A/PTR, result kinds, and the
 * lifetime each answer gets in the cache. Packets are built by hand (dns_testpkt.h).
 */
#include "lib/dns_answer.h"

#include "tests/unit/dns_testpkt.h"

#include <ares.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#define SECOND 1000LL

static const struct dns_ttl_policy pol = { .max_ttl_ms = 300 * SECOND,
                                           .negative_ttl_ms = 60 * SECOND };

static struct dns_answer *decode(enum dns_type type, int status, const struct pkt *p)
{
    return dns_answer_from_reply(type, status, p->b, (int)p->len, &pol);
}

static void mx_is_sorted_by_preference_keeping_server_order_for_ties(void **state)
{
    struct pkt p;
    struct dns_answer *ans;
    (void)state;

    pkt_start(&p, 0, "example.test", PKT_T_MX, 4, 0);
    pkt_mx(&p, "example.test", 600, 20, "B.example.test");
    pkt_mx(&p, "example.test", 600, 10, "mx1.example.test");
    pkt_mx(&p, "example.test", 600, 20, "a.example.test");
    pkt_mx(&p, "example.test", 600, 5, "mx0.example.test");
    ans = decode(DNS_T_MX, ARES_SUCCESS, &p);
    assert_int_equal(ans->status, DNS_OK);
    assert_int_equal(ans->n, 4);
    assert_false(ans->null_mx);
    assert_int_equal(ans->mx[0].pref, 5);
    assert_string_equal(ans->mx[1].host, "mx1.example.test");
    assert_string_equal(ans->mx[2].host, "b.example.test");
    assert_string_equal(ans->mx[3].host, "a.example.test");
    assert_int_equal(ans->ttl_ms, 300 * SECOND);        /* 600 s capped at 300 s */
    dns_answer_unref(ans);
}

static void null_mx_is_flagged_without_records(void **state)
{
    struct pkt p;
    struct dns_answer *ans;
    (void)state;

    pkt_start(&p, 0, "nullmx.test", PKT_T_MX, 1, 0);
    pkt_mx(&p, "nullmx.test", 120, 0, "");
    ans = decode(DNS_T_MX, ARES_SUCCESS, &p);
    assert_int_equal(ans->status, DNS_OK);
    assert_true(ans->null_mx);
    assert_int_equal(ans->n, 0);
    assert_int_equal(ans->ttl_ms, 120 * SECOND);
    assert_true(dns_answer_cacheable(ans));
    dns_answer_unref(ans);
}

static void a_root_mx_beside_real_ones_is_dropped(void **state)
{
    struct pkt p;
    struct dns_answer *ans;
    (void)state;

    pkt_start(&p, 0, "mixed.test", PKT_T_MX, 2, 0);
    pkt_mx(&p, "mixed.test", 60, 0, "");
    pkt_mx(&p, "mixed.test", 60, 10, "mx.mixed.test");
    ans = decode(DNS_T_MX, ARES_SUCCESS, &p);
    assert_false(ans->null_mx);
    assert_int_equal(ans->n, 1);
    assert_string_equal(ans->mx[0].host, "mx.mixed.test");
    dns_answer_unref(ans);
}

static void txt_strings_of_one_record_are_joined(void **state)
{
    static const char *const rr1[] = { "v=DKIM1; ", "k=rsa; ", "p=MIG", NULL };
    static const char *const rr2[] = { "second", NULL };
    struct pkt p;
    struct dns_answer *ans;
    (void)state;

    pkt_start(&p, 0, "k._domainkey.test", PKT_T_TXT, 2, 0);
    pkt_txt(&p, "k._domainkey.test", 60, rr1);
    pkt_txt(&p, "k._domainkey.test", 60, rr2);
    ans = decode(DNS_T_TXT, ARES_SUCCESS, &p);
    assert_int_equal(ans->n, 2);
    assert_string_equal(ans->txt[0].text, "v=DKIM1; k=rsa; p=MIG");
    assert_int_equal(ans->txt[0].len, strlen("v=DKIM1; k=rsa; p=MIG"));
    assert_string_equal(ans->txt[1].text, "second");
    dns_answer_unref(ans);
}

static void a_through_cname_keeps_the_addresses(void **state)
{
    static const unsigned char ip[4] = { 192, 0, 2, 10 };
    struct pkt p;
    struct dns_answer *ans;
    (void)state;

    pkt_start(&p, 0, "www.example.test", PKT_T_A, 2, 0);
    pkt_name_rr(&p, "www.example.test", PKT_T_CNAME, 30, "mx1.example.test");
    pkt_a(&p, "mx1.example.test", 3600, ip);
    ans = decode(DNS_T_A, ARES_SUCCESS, &p);
    assert_int_equal(ans->status, DNS_OK);
    assert_int_equal(ans->n, 1);
    assert_memory_equal(&ans->a[0], ip, 4);
    assert_int_equal(ans->ttl_ms, 30 * SECOND);
    dns_answer_unref(ans);
}

static void ptr_keeps_every_name(void **state)
{
    struct pkt p;
    struct dns_answer *ans;
    (void)state;

    pkt_start(&p, 0, "20.2.0.192.in-addr.arpa", PKT_T_PTR, 2, 0);
    pkt_name_rr(&p, "20.2.0.192.in-addr.arpa", PKT_T_PTR, 60, "One.example.test");
    pkt_name_rr(&p, "20.2.0.192.in-addr.arpa", PKT_T_PTR, 60, "two.example.test");
    ans = decode(DNS_T_PTR, ARES_SUCCESS, &p);
    assert_int_equal(ans->n, 2);
    assert_string_equal(ans->ptr[0], "one.example.test");
    assert_string_equal(ans->ptr[1], "two.example.test");
    dns_answer_unref(ans);
}

static void cname_without_target_records_is_nodata(void **state)
{
    struct pkt p;
    struct dns_answer *ans;
    (void)state;

    pkt_start(&p, 0, "alias.test", PKT_T_MX, 1, 0);
    pkt_name_rr(&p, "alias.test", PKT_T_CNAME, 60, "host.test");
    ans = decode(DNS_T_MX, ARES_SUCCESS, &p);
    assert_int_equal(ans->status, DNS_NODATA);
    assert_int_equal(ans->n, 0);
    dns_answer_unref(ans);
}

static void nxdomain_lives_as_long_as_its_soa_says(void **state)
{
    struct pkt p;
    struct dns_answer *ans;
    (void)state;

    pkt_start(&p, PKT_RCODE_NXDOMAIN, "nx.test", PKT_T_A, 0, 1);
    pkt_soa(&p, "test", 3600, 45);
    ans = decode(DNS_T_A, ARES_ENOTFOUND, &p);
    assert_int_equal(ans->status, DNS_NXDOMAIN);
    assert_int_equal(ans->ttl_ms, 45 * SECOND);
    assert_true(dns_answer_cacheable(ans));
    dns_answer_unref(ans);
}

static void nodata_without_soa_gets_the_negative_ttl(void **state)
{
    struct pkt p;
    struct dns_answer *ans;
    (void)state;

    pkt_start(&p, 0, "a.test", PKT_T_AAAA, 0, 0);
    ans = decode(DNS_T_AAAA, ARES_ENODATA, &p);
    assert_int_equal(ans->status, DNS_NODATA);
    assert_int_equal(ans->ttl_ms, 60 * SECOND);
    dns_answer_unref(ans);
}

static void zero_ttl_answers_are_not_cached(void **state)
{
    static const unsigned char ip[4] = { 192, 0, 2, 1 };
    struct pkt p;
    struct dns_answer *ans;
    (void)state;

    pkt_start(&p, 0, "a.test", PKT_T_A, 1, 0);
    pkt_a(&p, "a.test", 0, ip);
    ans = decode(DNS_T_A, ARES_SUCCESS, &p);
    assert_int_equal(ans->status, DNS_OK);
    assert_false(dns_answer_cacheable(ans));
    dns_answer_unref(ans);
}

static void malformed_reply_is_a_temporary_error(void **state)
{
    struct pkt p;
    struct dns_answer *ans;
    (void)state;

    pkt_start(&p, 0, "example.test", PKT_T_MX, 1, 0);
    pkt_mx(&p, "example.test", 60, 10, "mx.example.test");
    p.len -= 5;
    ans = decode(DNS_T_MX, ARES_SUCCESS, &p);
    assert_int_equal(ans->status, DNS_ERROR);
    assert_true(dns_status_is_temporary(ans->status));
    assert_false(dns_answer_cacheable(ans));
    dns_answer_unref(ans);
}

static void result_points_into_the_answer(void **state)
{
    struct dns_answer *ans = dns_answer_new(DNS_T_MX, DNS_NXDOMAIN);
    struct dns_result res;
    (void)state;

    dns_answer_to_result(ans, "nx.test", 42, 1, &res);
    assert_int_equal(res.type, DNS_T_MX);
    assert_int_equal(res.status, DNS_NXDOMAIN);
    assert_string_equal(res.name, "nx.test");
    assert_int_equal(res.ttl, 42);
    assert_true(res.cached);
    assert_int_equal(res.n, 0);
    assert_string_equal(dns_status_str(res.status), "nxdomain");
    assert_string_equal(dns_type_str(res.type), "MX");
    dns_answer_unref(ans);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mx_is_sorted_by_preference_keeping_server_order_for_ties),
        cmocka_unit_test(null_mx_is_flagged_without_records),
        cmocka_unit_test(a_root_mx_beside_real_ones_is_dropped),
        cmocka_unit_test(txt_strings_of_one_record_are_joined),
        cmocka_unit_test(a_through_cname_keeps_the_addresses),
        cmocka_unit_test(ptr_keeps_every_name),
        cmocka_unit_test(cname_without_target_records_is_nodata),
        cmocka_unit_test(nxdomain_lives_as_long_as_its_soa_says),
        cmocka_unit_test(nodata_without_soa_gets_the_negative_ttl),
        cmocka_unit_test(zero_ttl_answers_are_not_cached),
        cmocka_unit_test(malformed_reply_is_a_temporary_error),
        cmocka_unit_test(result_points_into_the_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
