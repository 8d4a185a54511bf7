/*
 * test_dns_cache.c - the resolver's answer cache (lib/dns_cache.c): expiry against an
 * injected clock, LRU eviction at capacity (entries and bytes), replacement, and how
 * negative answers and temporary failures go into it (lib/dns_answer.c's lifetimes).
 */
#include "lib/dns_answer.h"
#include "lib/dns_cache.h"

#include <ares.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#define T_A 0
#define T_MX 2
#define T_TXT 3
#define SECOND 1000LL
#define BIG ((size_t)1 << 30)     /* a byte budget that never binds */

static int freed;

static void count_free(void *v)
{
    freed++;
    free(v);
}

static int *val(int x)
{
    int *p = malloc(sizeof(*p));
    *p = x;
    return p;
}

static int get_int(struct dns_cache *c, int type, const char *name, long long now)
{
    long long left;
    int *p = dns_cache_get(c, type, name, now, &left);
    return p ? *p : -1;
}

static int setup(void **state)
{
    (void)state;
    freed = 0;
    return 0;
}

static void entry_is_served_until_it_expires(void **state)
{
    struct dns_cache *c = dns_cache_new(10, BIG, count_free);
    (void)state;

    dns_cache_put(c, T_A, "a.test", val(1), 1, 100 * SECOND, 0);
    assert_int_equal(get_int(c, T_A, "a.test", 0), 1);
    assert_int_equal(get_int(c, T_A, "a.test", 100 * SECOND - 1), 1);
    assert_int_equal(get_int(c, T_A, "a.test", 100 * SECOND), -1);
    assert_int_equal(freed, 1);
    assert_int_equal(dns_cache_count(c), 0);
    dns_cache_free(c);
}

static void time_left_counts_down(void **state)
{
    struct dns_cache *c = dns_cache_new(10, BIG, count_free);
    long long left = 0;
    (void)state;

    dns_cache_put(c, T_A, "a.test", val(1), 1, 300 * SECOND, 0);
    assert_non_null(dns_cache_get(c, T_A, "a.test", 120 * SECOND, &left));
    assert_int_equal(left, 180 * SECOND);
    dns_cache_free(c);
}

static void type_is_part_of_the_key(void **state)
{
    struct dns_cache *c = dns_cache_new(10, BIG, count_free);
    (void)state;

    dns_cache_put(c, T_A, "x.test", val(1), 1, SECOND, 0);
    dns_cache_put(c, T_MX, "x.test", val(2), 1, SECOND, 0);
    assert_int_equal(get_int(c, T_A, "x.test", 0), 1);
    assert_int_equal(get_int(c, T_MX, "x.test", 0), 2);
    assert_int_equal(get_int(c, T_A, "y.test", 0), -1);
    assert_int_equal(dns_cache_count(c), 2);
    dns_cache_free(c);
    assert_int_equal(freed, 2);
}

static void full_cache_evicts_the_least_recently_used(void **state)
{
    struct dns_cache *c = dns_cache_new(2, BIG, count_free);
    (void)state;

    dns_cache_put(c, T_A, "a.test", val(1), 1, SECOND, 0);
    dns_cache_put(c, T_A, "b.test", val(2), 1, SECOND, 0);
    dns_cache_put(c, T_A, "c.test", val(3), 1, SECOND, 0);
    assert_int_equal(dns_cache_count(c), 2);
    assert_int_equal(freed, 1);
    assert_int_equal(get_int(c, T_A, "a.test", 0), -1);
    assert_int_equal(get_int(c, T_A, "b.test", 0), 2);
    assert_int_equal(get_int(c, T_A, "c.test", 0), 3);
    dns_cache_free(c);
}

static void a_hit_makes_an_entry_recent(void **state)
{
    struct dns_cache *c = dns_cache_new(2, BIG, count_free);
    (void)state;

    dns_cache_put(c, T_A, "a.test", val(1), 1, SECOND, 0);
    dns_cache_put(c, T_A, "b.test", val(2), 1, SECOND, 0);
    assert_int_equal(get_int(c, T_A, "a.test", 0), 1);
    dns_cache_put(c, T_A, "c.test", val(3), 1, SECOND, 0);
    assert_int_equal(get_int(c, T_A, "a.test", 0), 1);
    assert_int_equal(get_int(c, T_A, "b.test", 0), -1);
    dns_cache_free(c);
}

static void put_replaces_and_releases_the_old_value(void **state)
{
    struct dns_cache *c = dns_cache_new(2, BIG, count_free);
    (void)state;

    dns_cache_put(c, T_A, "a.test", val(1), 1, SECOND, 0);
    dns_cache_put(c, T_A, "a.test", val(2), 1, 5 * SECOND, 0);
    assert_int_equal(freed, 1);
    assert_int_equal(dns_cache_count(c), 1);
    assert_int_equal(get_int(c, T_A, "a.test", 2 * SECOND), 2);
    dns_cache_free(c);
}

static void an_already_expired_value_is_dropped(void **state)
{
    struct dns_cache *c = dns_cache_new(2, BIG, count_free);
    (void)state;

    dns_cache_put(c, T_A, "a.test", val(1), 1, 10 * SECOND, 10 * SECOND);
    assert_int_equal(freed, 1);
    assert_int_equal(dns_cache_count(c), 0);
    dns_cache_free(c);
}

static void zero_capacity_keeps_nothing(void **state)
{
    struct dns_cache *c = dns_cache_new(0, BIG, count_free);
    (void)state;

    dns_cache_put(c, T_A, "a.test", val(1), 1, SECOND, 0);
    assert_int_equal(freed, 1);
    assert_int_equal(get_int(c, T_A, "a.test", 0), -1);
    dns_cache_free(c);
}

static void many_entries_all_stay_reachable(void **state)
{
    enum { N = 1000 };
    struct dns_cache *c = dns_cache_new(N, BIG, count_free);
    char name[32];
    (void)state;

    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "h%d.test", i);
        dns_cache_put(c, T_A, name, val(i), 1, SECOND, 0);
    }
    assert_int_equal(dns_cache_count(c), N);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "h%d.test", i);
        assert_int_equal(get_int(c, T_A, name, 0), i);
    }
    assert_int_equal(freed, 0);
    dns_cache_free(c);
    assert_int_equal(freed, N);
}

static void byte_budget_evicts_the_least_recently_used(void **state)
{
    struct dns_cache *c = dns_cache_new(100, 3000, count_free);
    (void)state;

    dns_cache_put(c, T_A, "a.test", val(1), 1000, SECOND, 0);
    dns_cache_put(c, T_A, "b.test", val(2), 1000, SECOND, 0);
    assert_int_equal(dns_cache_count(c), 2);
    dns_cache_put(c, T_A, "c.test", val(3), 1000, SECOND, 0);
    assert_int_equal(dns_cache_count(c), 2);
    assert_true(dns_cache_bytes(c) <= 3000);
    assert_int_equal(get_int(c, T_A, "a.test", 0), -1);
    assert_int_equal(get_int(c, T_A, "c.test", 0), 3);
    dns_cache_free(c);
}

static void a_value_larger_than_the_budget_is_not_kept(void **state)
{
    struct dns_cache *c = dns_cache_new(100, 3000, count_free);
    (void)state;

    dns_cache_put(c, T_A, "a.test", val(1), 1000, SECOND, 0);
    dns_cache_put(c, T_TXT, "big.test", val(2), 5000, SECOND, 0);
    assert_int_equal(freed, 1);
    assert_int_equal(get_int(c, T_TXT, "big.test", 0), -1);
    assert_int_equal(get_int(c, T_A, "a.test", 0), 1);
    dns_cache_free(c);
}

static void answer_release(void *v)
{
    dns_answer_unref(v);
}

static void negative_answer_is_cached_for_the_negative_ttl(void **state)
{
    const struct dns_ttl_policy pol = { .max_ttl_ms = 300 * SECOND,
                                        .negative_ttl_ms = 60 * SECOND };
    struct dns_cache *c = dns_cache_new(10, BIG, answer_release);
    struct dns_answer *ans = dns_answer_from_reply(DNS_T_A, ARES_ENOTFOUND, NULL, 0, &pol);
    struct dns_answer *hit;
    long long left;
    (void)state;

    assert_int_equal(ans->status, DNS_NXDOMAIN);
    assert_int_equal(ans->ttl_ms, 60 * SECOND);
    assert_true(dns_answer_cacheable(ans));
    dns_cache_put(c, DNS_T_A, "nx.test", ans, ans->bytes, ans->ttl_ms, 0);
    hit = dns_cache_get(c, DNS_T_A, "nx.test", 59 * SECOND, &left);
    assert_non_null(hit);
    assert_int_equal(hit->status, DNS_NXDOMAIN);
    assert_null(dns_cache_get(c, DNS_T_A, "nx.test", 60 * SECOND, &left));
    dns_cache_free(c);
}

static void negative_ttl_is_capped_by_max_ttl(void **state)
{
    const struct dns_ttl_policy pol = { .max_ttl_ms = 10 * SECOND,
                                        .negative_ttl_ms = 60 * SECOND };
    struct dns_answer *ans = dns_answer_from_reply(DNS_T_MX, ARES_ENODATA, NULL, 0, &pol);
    (void)state;

    assert_int_equal(ans->status, DNS_NODATA);
    assert_int_equal(ans->ttl_ms, 10 * SECOND);
    dns_answer_unref(ans);
}

static void temporary_failures_are_never_cacheable(void **state)
{
    const struct dns_ttl_policy pol = { .max_ttl_ms = 300 * SECOND,
                                        .negative_ttl_ms = 60 * SECOND };
    static const int codes[] = { ARES_ETIMEOUT, ARES_ECONNREFUSED, ARES_EREFUSED,
                                 ARES_ESERVFAIL, ARES_EBADRESP, ARES_ENOMEM };
    static const enum dns_status want[] = { DNS_TIMEOUT, DNS_REFUSED, DNS_REFUSED,
                                            DNS_SERVFAIL, DNS_ERROR, DNS_ERROR };
    (void)state;

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        struct dns_answer *ans = dns_answer_from_reply(DNS_T_A, codes[i], NULL, 0, &pol);
        assert_int_equal(ans->status, want[i]);
        assert_true(dns_status_is_temporary(ans->status));
        assert_false(dns_answer_cacheable(ans));
        dns_answer_unref(ans);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(entry_is_served_until_it_expires, setup),
        cmocka_unit_test_setup(time_left_counts_down, setup),
        cmocka_unit_test_setup(type_is_part_of_the_key, setup),
        cmocka_unit_test_setup(full_cache_evicts_the_least_recently_used, setup),
        cmocka_unit_test_setup(a_hit_makes_an_entry_recent, setup),
        cmocka_unit_test_setup(put_replaces_and_releases_the_old_value, setup),
        cmocka_unit_test_setup(an_already_expired_value_is_dropped, setup),
        cmocka_unit_test_setup(zero_capacity_keeps_nothing, setup),
        cmocka_unit_test_setup(many_entries_all_stay_reachable, setup),
        cmocka_unit_test_setup(byte_budget_evicts_the_least_recently_used, setup),
        cmocka_unit_test_setup(a_value_larger_than_the_budget_is_not_kept, setup),
        cmocka_unit_test(negative_answer_is_cached_for_the_negative_ttl),
        cmocka_unit_test(negative_ttl_is_capped_by_max_ttl),
        cmocka_unit_test(temporary_failures_are_never_cacheable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
