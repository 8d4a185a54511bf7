/*
 * test_lists.c - unit tests of policy/lists: entry syntax and matching of senders,
 * client addresses and recipients.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "policy/lists.h"

static struct addr_list *make(const char *const *entries, size_t n)
{
    char why[160];
    struct addr_list *l = addr_list_new(entries, n, why, sizeof(why));

    assert_non_null(l);
    return l;
}

static void exact_address_matches_case_insensitively(void **state)
{
    static const char *const e[] = { "Boss@Example.COM" };
    struct addr_list *l = make(e, 1);

    (void)state;
    assert_true(addr_list_match_sender(l, "boss@example.com", NULL));
    assert_true(addr_list_match_sender(l, "BOSS@EXAMPLE.COM", "192.0.2.1"));
    assert_false(addr_list_match_sender(l, "boss2@example.com", NULL));
    assert_false(addr_list_match_sender(l, "boss@example.com.evil", NULL));
    assert_true(addr_list_match_rcpt(l, "boss@example.com"));
    addr_list_free(l);
}

static void at_domain_matches_the_domain_only(void **state)
{
    static const char *const e[] = { "@example.com" };
    struct addr_list *l = make(e, 1);

    (void)state;
    assert_true(addr_list_match_sender(l, "anyone@example.com", NULL));
    assert_true(addr_list_match_sender(l, "x@EXAMPLE.com", NULL));
    assert_false(addr_list_match_sender(l, "x@sub.example.com", NULL));
    assert_false(addr_list_match_sender(l, "x@notexample.com", NULL));
    assert_false(addr_list_match_sender(l, "example.com", NULL));
    addr_list_free(l);
}

static void at_dot_domain_matches_subdomains_only(void **state)
{
    static const char *const e[] = { "@.example.com" };
    struct addr_list *l = make(e, 1);

    (void)state;
    assert_true(addr_list_match_sender(l, "x@mail.example.com", NULL));
    assert_true(addr_list_match_sender(l, "x@a.b.example.com", NULL));
    assert_false(addr_list_match_sender(l, "x@example.com", NULL));
    assert_false(addr_list_match_sender(l, "x@badexample.com", NULL));
    addr_list_free(l);
}

static void local_part_entry_matches_any_domain_and_a_bare_name(void **state)
{
    static const char *const e[] = { "abuse@", "Postmaster@" };
    struct addr_list *l = make(e, 2);

    (void)state;
    assert_true(addr_list_match_rcpt(l, "abuse@example.test"));
    assert_true(addr_list_match_rcpt(l, "ABUSE@other.test"));
    assert_true(addr_list_match_rcpt(l, "postmaster"));
    assert_false(addr_list_match_rcpt(l, "abuser@example.test"));
    assert_false(addr_list_match_rcpt(l, "ab@example.test"));
    addr_list_free(l);
}

static void ip_and_cidr_entries_match_the_client(void **state)
{
    static const char *const e[] = { "192.0.2.0/24", "2001:db8::/32", "198.51.100.7" };
    struct addr_list *l = make(e, 3);

    (void)state;
    assert_true(addr_list_match_sender(l, "x@y.z", "192.0.2.200"));
    assert_true(addr_list_match_sender(l, "", "2001:db8:1::5"));
    assert_true(addr_list_match_sender(l, NULL, "198.51.100.7"));
    assert_true(addr_list_match_sender(l, "x@y.z", "::ffff:192.0.2.9"));
    assert_false(addr_list_match_sender(l, "x@y.z", "192.0.3.1"));
    assert_false(addr_list_match_sender(l, "x@y.z", "198.51.100.8"));
    assert_false(addr_list_match_sender(l, "x@y.z", NULL));
    /* an IP entry never matches a recipient */
    assert_false(addr_list_match_rcpt(l, "192.0.2.1"));
    addr_list_free(l);
}

static void null_sender_matches_no_address_entry(void **state)
{
    static const char *const e[] = { "@example.com", "postmaster@" };
    struct addr_list *l = make(e, 2);

    (void)state;
    assert_false(addr_list_match_sender(l, "", "192.0.2.1"));
    assert_false(addr_list_match_sender(NULL, "a@example.com", "192.0.2.1"));
    addr_list_free(l);
}

static void bad_entries_are_refused_with_a_reason(void **state)
{
    static const char *const bad[] = {
        "", "example.com", "@", "@.", "@bad..domain", "a b@example.com", "@example.com.",
        "192.0.2.0/33", "@.example..com", "a@b@", "@x y.com",
    };
    static const char *const two[] = { "a@b.c", "example.com" };
    static const char *const good[] = { "a@b", "x@", "@b.c", "@.b.c", "10.0.0.0/8", "::1" };
    char why[160];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        assert_int_equal(addr_list_entry_check(bad[i], why, sizeof(why)), -1);
        assert_true(why[0] != '\0');
    }
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(addr_list_entry_check(good[i], why, sizeof(why)), 0);
    assert_null(addr_list_new(two, 2, why, sizeof(why)));
    assert_non_null(strstr(why, "example.com"));
}

static void empty_list_matches_nothing(void **state)
{
    struct addr_list *l = make(NULL, 0);

    (void)state;
    assert_int_equal(addr_list_size(l), 0);
    assert_false(addr_list_match_sender(l, "a@b.c", "192.0.2.1"));
    assert_false(addr_list_match_rcpt(l, "a@b.c"));
    addr_list_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_address_matches_case_insensitively),
        cmocka_unit_test(at_domain_matches_the_domain_only),
        cmocka_unit_test(at_dot_domain_matches_subdomains_only),
        cmocka_unit_test(local_part_entry_matches_any_domain_and_a_bare_name),
        cmocka_unit_test(ip_and_cidr_entries_match_the_client),
        cmocka_unit_test(null_sender_matches_no_address_entry),
        cmocka_unit_test(bad_entries_are_refused_with_a_reason),
        cmocka_unit_test(empty_list_matches_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
