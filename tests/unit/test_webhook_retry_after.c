/*
 * test_webhook_retry_after.c - the Retry-After parser of webhooks/http_post.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "webhooks/http_post.h"

#define NOW 1445412480LL /* Wed, 21 Oct 2015 07:28:00 GMT */

static void delay_seconds(void **state)
{
    (void)state;
    assert_int_equal(wh_parse_retry_after("120", NOW), 120000);
    assert_int_equal(wh_parse_retry_after("0", NOW), 0);
    assert_int_equal(wh_parse_retry_after(" 7 ", NOW), 7000);
}

static void http_dates(void **state)
{
    (void)state;
    assert_int_equal(wh_parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", NOW), 30000);
    assert_int_equal(wh_parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", NOW), 0);
}

static void garbage_is_no_value(void **state)
{
    (void)state;
    assert_int_equal(wh_parse_retry_after(NULL, NOW), -1);
    assert_int_equal(wh_parse_retry_after("", NOW), -1);
    assert_int_equal(wh_parse_retry_after("-5", NOW), -1);
    assert_int_equal(wh_parse_retry_after("5s", NOW), -1);
    assert_int_equal(wh_parse_retry_after("1.5", NOW), -1);
    assert_int_equal(wh_parse_retry_after("soon", NOW), -1);
    assert_int_equal(wh_parse_retry_after("Wed, 21 Oct 2015 07:28:30", NOW), -1);
    assert_int_equal(wh_parse_retry_after("99999999999999999999999", NOW), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(delay_seconds),
        cmocka_unit_test(http_dates),
        cmocka_unit_test(garbage_is_no_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
