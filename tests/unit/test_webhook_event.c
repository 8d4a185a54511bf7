/*
 * test_webhook_event.c - unit tests of webhooks/event.c: the payload's JSON shape, event
 * IDs, RFC 3339 timestamps, endpoint filters, the type table, and local coalescing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "webhooks/event.h"

#define T0 1740830400123LL          /* 2025-03-01T12:00:00.123Z */
#define WINDOW 300000LL

static void payload_has_type_timestamp_id_and_data(void **state)
{
    json_t *data = json_pack("{s:s, s:s, s:I}", "login", "alice", "class", "default",
                             "limit", (json_int_t)60);
    json_t *p = wh_event_payload("sender.rate_limited", T0, "evt_01JN7Q8Z9K3M4P5R6S7T8V9W0X",
                                 data);
    size_t len;
    char *body = wh_event_body(p, &len);

    (void)state;
    assert_non_null(body);
    assert_string_equal(body, "{\"type\":\"sender.rate_limited\","
                              "\"timestamp\":\"2025-03-01T12:00:00.123Z\","
                              "\"id\":\"evt_01JN7Q8Z9K3M4P5R6S7T8V9W0X\","
                              "\"data\":{\"login\":\"alice\",\"class\":\"default\","
                              "\"limit\":60}}");
    assert_int_equal(len, strlen(body));
    free(body);
    json_decref(p);
}

static void payload_without_data_has_an_empty_object(void **state)
{
    json_t *p = wh_event_payload("redis.recovered", T0, "evt_x", NULL);

    (void)state;
    assert_true(json_is_object(json_object_get(p, "data")));
    assert_int_equal(json_object_size(json_object_get(p, "data")), 0);
    json_decref(p);
}

static void body_is_stable_across_a_reload(void **state)
{
    json_t *p = wh_event_payload("message.rejected", T0, "evt_x",
                                 json_pack("{s:i, s:s, s:[s,s]}", "code", 554, "text",
                                           "5.7.1 no \"thanks\" \xc3\xa9", "recipients",
                                           "a@example.test", "b@example.test"));
    size_t l1, l2;
    char *b1 = wh_event_body(p, &l1), *b2;
    json_t *again = json_loadb(b1, l1, 0, NULL);

    (void)state;
    b2 = wh_event_body(again, &l2);
    assert_string_equal(b1, b2);
    free(b1);
    free(b2);
    json_decref(again);
    json_decref(p);
}

static void timestamp_is_rfc3339_utc_with_milliseconds(void **state)
{
    char ts[WH_TIMESTAMP_SIZE];

    (void)state;
    wh_event_timestamp(ts, T0);
    assert_string_equal(ts, "2025-03-01T12:00:00.123Z");
    wh_event_timestamp(ts, 0);
    assert_string_equal(ts, "1970-01-01T00:00:00.000Z");
    wh_event_timestamp(ts, 951782400007LL);           /* a leap day */
    assert_string_equal(ts, "2000-02-29T00:00:00.007Z");
}

static void event_id_is_evt_and_a_ulid(void **state)
{
    const unsigned char zeros[WH_ULID_RANDOM_BYTES] = { 0 };
    const unsigned char ones[WH_ULID_RANDOM_BYTES] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    char id[WH_EVENT_ID_SIZE];

    (void)state;
    wh_event_id_format(id, 0, zeros);
    assert_string_equal(id, "evt_00000000000000000000000000");
    wh_event_id_format(id, 1469918176385LL, ones);   /* the ULID spec's example time */
    assert_string_equal(id, "evt_01ARYZ6S41ZZZZZZZZZZZZZZZZ");
    assert_int_equal(strlen(id), 4 + WH_ULID_LEN);
    assert_true(wh_event_id_valid(id));
}

static void generated_ids_are_unique_and_sort_by_time(void **state)
{
    char a[WH_EVENT_ID_SIZE], b[WH_EVENT_ID_SIZE], c[WH_EVENT_ID_SIZE];

    (void)state;
    wh_event_id_generate(a, T0);
    wh_event_id_generate(b, T0);
    wh_event_id_generate(c, T0 + 1);
    assert_string_not_equal(a, b);
    assert_true(strncmp(a, c, 4 + 10) < 0);
    assert_true(wh_event_id_valid(a));
}

static void event_id_validation_refuses_foreign_names(void **state)
{
    (void)state;
    assert_false(wh_event_id_valid("evt_01ARYZ6S41ZZZZZZZZZZZZZZZ"));     /* 25 */
    assert_false(wh_event_id_valid("evt_01ARYZ6S41ZZZZZZZZZZZZZZZZZ"));   /* 27 */
    assert_false(wh_event_id_valid("evt_01ARYZ6S41ZZZZZZZZZZZZZZZU"));    /* no U */
    assert_false(wh_event_id_valid("evt_../../../etc/passwd0000000"));
    assert_false(wh_event_id_valid("msg_01ARYZ6S41ZZZZZZZZZZZZZZZZ"));
}

static void type_table_lists_the_issue_types(void **state)
{
    static const char *const want[] = {
        "sender.rate_limited", "auth.bruteforce", "message.rejected", "message.bounced",
        "message.deferred", "queue.stuck", "queue.corrupt", "backup.primary_down",
        "backup.primary_up", "redis.unavailable", "redis.recovered", "policy.check_unavailable",
        "webhook.test", NULL };
    size_t i;

    (void)state;
    for (i = 0; want[i]; i++)
        assert_non_null(wh_event_type_find(want[i]));
    assert_null(wh_event_type_find("message.exploded"));
    assert_null(wh_event_type_find(NULL));
}

static void filters_accept_star_names_and_prefixes(void **state)
{
    char *all[] = { "*" };
    char *some[] = { "message.*", "redis.unavailable" };

    (void)state;
    assert_true(wh_event_filter_valid("*"));
    assert_true(wh_event_filter_valid("message.*"));
    assert_true(wh_event_filter_valid("auth.bruteforce"));
    assert_false(wh_event_filter_valid("nothing.*"));
    assert_false(wh_event_filter_valid("message"));
    assert_false(wh_event_filter_valid(".*"));
    assert_false(wh_event_filter_valid("messages.rejected"));
    assert_true(wh_event_filter_match(all, 1, "queue.stuck"));
    assert_true(wh_event_filter_match(some, 2, "message.bounced"));
    assert_true(wh_event_filter_match(some, 2, "redis.unavailable"));
    assert_false(wh_event_filter_match(some, 2, "redis.recovered"));
    assert_false(wh_event_filter_match(some, 2, "messagex.bounced"));
    assert_false(wh_event_filter_match(some, 0, "message.bounced"));
}

static void coalescing_lets_one_event_per_key_and_window(void **state)
{
    struct wh_coalesce *c = wh_coalesce_new(16);

    (void)state;
    assert_true(wh_coalesce_first(c, "sender.rate_limited", "alice", 1000, WINDOW));
    assert_false(wh_coalesce_first(c, "sender.rate_limited", "alice", 2000, WINDOW));
    assert_false(wh_coalesce_first(c, "sender.rate_limited", "alice", 1000 + WINDOW - 1,
                                   WINDOW));
    /* other keys and other types have their own windows */
    assert_true(wh_coalesce_first(c, "sender.rate_limited", "bob", 2000, WINDOW));
    assert_true(wh_coalesce_first(c, "auth.bruteforce", "alice", 2000, WINDOW));
    /* the window ends: one more */
    assert_true(wh_coalesce_first(c, "sender.rate_limited", "alice", 1000 + WINDOW, WINDOW));
    assert_false(wh_coalesce_first(c, "sender.rate_limited", "alice", 1000 + WINDOW + 1,
                                   WINDOW));
    wh_coalesce_free(c);
}

static void coalescing_table_is_bounded(void **state)
{
    struct wh_coalesce *c = wh_coalesce_new(2);

    (void)state;
    assert_true(wh_coalesce_first(c, "t", "a", 0, 100));
    assert_true(wh_coalesce_first(c, "t", "b", 0, 200));
    /* full: "a" expires first and is evicted for "c"; "b" is still remembered */
    assert_true(wh_coalesce_first(c, "t", "c", 10, 300));
    assert_false(wh_coalesce_first(c, "t", "b", 20, 200));
    assert_false(wh_coalesce_first(c, "t", "c", 20, 300));
    assert_true(wh_coalesce_first(c, "t", "a", 20, 100));
    wh_coalesce_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(payload_has_type_timestamp_id_and_data),
        cmocka_unit_test(payload_without_data_has_an_empty_object),
        cmocka_unit_test(body_is_stable_across_a_reload),
        cmocka_unit_test(timestamp_is_rfc3339_utc_with_milliseconds),
        cmocka_unit_test(event_id_is_evt_and_a_ulid),
        cmocka_unit_test(generated_ids_are_unique_and_sort_by_time),
        cmocka_unit_test(event_id_validation_refuses_foreign_names),
        cmocka_unit_test(type_table_lists_the_issue_types),
        cmocka_unit_test(filters_accept_star_names_and_prefixes),
        cmocka_unit_test(coalescing_lets_one_event_per_key_and_window),
        cmocka_unit_test(coalescing_table_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
