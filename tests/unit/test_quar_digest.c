/*
 * test_quar_digest.c - unit tests of the digest schedule of relay/quar/quar_digest.c
 * (quar_digest_period, quar_digest_due): entries wait for the domain's digest_time (+ k *
 * digest_interval), one digest per period.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy/domain_conf.h"
#include "relay/quar/quar_runner.h"

#define DAY 86400LL
#define MIDNIGHT 1764806400LL           /* 2025-12-04 00:00:00 UTC */

static long long at(int h, int m, int s)
{
    return MIDNIGHT + h * 3600LL + m * 60LL + s;
}

static void a_daily_digest_goes_out_at_its_time_of_day(void **state)
{
    long long off = domain_digest_offset("07:30");

    (void)state;
    assert_int_equal(off, 7 * 3600 + 30 * 60);
    /* an entry at 10:00 waits for 07:30 the next day */
    assert_false(quar_digest_due(at(10, 0, 0), at(10, 0, 1), DAY, off));
    assert_false(quar_digest_due(at(10, 0, 0), at(23, 59, 59), DAY, off));
    assert_false(quar_digest_due(at(10, 0, 0), at(24 + 7, 29, 59), DAY, off));
    assert_true(quar_digest_due(at(10, 0, 0), at(24 + 7, 30, 0), DAY, off));
    assert_true(quar_digest_due(at(10, 0, 0), at(24 + 9, 0, 0), DAY, off));
    /* an entry at 06:00 goes out at 07:30 the same day */
    assert_false(quar_digest_due(at(6, 0, 0), at(7, 29, 59), DAY, off));
    assert_true(quar_digest_due(at(6, 0, 0), at(7, 30, 0), DAY, off));
}

static void one_period_a_day_starting_at_digest_time(void **state)
{
    long long off = domain_digest_offset("07:30");

    (void)state;
    assert_int_equal(quar_digest_period(at(7, 30, 0), DAY, off),
                     quar_digest_period(at(24 + 7, 29, 59), DAY, off));
    assert_int_equal(quar_digest_period(at(7, 29, 59), DAY, off) + 1,
                     quar_digest_period(at(7, 30, 0), DAY, off));
    /* midnight is no boundary for a 07:30 digest */
    assert_int_equal(quar_digest_period(at(23, 59, 59), DAY, off),
                     quar_digest_period(at(24, 0, 0), DAY, off));
    /* digest_time 00:00 (the default): midnight UTC is */
    assert_int_equal(quar_digest_period(at(23, 59, 59), DAY, 0) + 1,
                     quar_digest_period(at(24, 0, 0), DAY, 0));
}

static void shorter_intervals_count_from_digest_time(void **state)
{
    long long off = domain_digest_offset("00:15"), hour = 3600;

    (void)state;
    /* hourly at :15 */
    assert_false(quar_digest_due(at(9, 20, 0), at(10, 14, 59), hour, off));
    assert_true(quar_digest_due(at(9, 20, 0), at(10, 15, 0), hour, off));
    /* a 2 s interval (tests): due at the next even second */
    assert_false(quar_digest_due(MIDNIGHT + 10, MIDNIGHT + 11, 2, 0));
    assert_true(quar_digest_due(MIDNIGHT + 11, MIDNIGHT + 12, 2, 0));
    /* an interval below one second counts as one */
    assert_true(quar_digest_due(MIDNIGHT, MIDNIGHT + 1, 0, 0));
}

static void times_before_the_offset_floor_to_the_previous_period(void **state)
{
    (void)state;
    assert_int_equal(quar_digest_period(100, 1000, 500), -1);
    assert_int_equal(quar_digest_period(499, 1000, 500), -1);
    assert_int_equal(quar_digest_period(500, 1000, 500), 0);
    assert_true(quar_digest_due(100, 500, 1000, 500));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_daily_digest_goes_out_at_its_time_of_day),
        cmocka_unit_test(one_period_a_day_starting_at_digest_time),
        cmocka_unit_test(shorter_intervals_count_from_digest_time),
        cmocka_unit_test(times_before_the_offset_floor_to_the_previous_period),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
