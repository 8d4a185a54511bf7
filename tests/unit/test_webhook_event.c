/*
 * test_webhook_event.c - unit tests of webhooks/event.c and event_pack.c: the payload's
 * JSON shape, event IDs, RFC 3339 timestamps, endpoint filters, the type table, event
 * data from bad UTF-8 (wh_pack), and local coalescing (dropped or counted).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"
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
        "webhook.test", "message.bounce_suppressed", "recipient.harvest",
        "backscatter.blocked", "message.virus", "account.suspended", "recipient.bounced",
        "recipient.complained", NULL };
    size_t i;

    (void)state;
    for (i = 0; want[i]; i++)
        assert_non_null(wh_event_type_find(want[i]));
    assert_null(wh_event_type_find("message.exploded"));
    assert_null(wh_event_type_find(NULL));
    assert_int_equal(wh_event_type_count(), i);
    assert_int_equal(wh_event_type_index("message.exploded"), i);
    assert_string_equal(wh_event_types[wh_event_type_index("queue.stuck")].name,
                        "queue.stuck");
    /* only message.rejected is coalesced, by client and stage */
    assert_non_null(wh_event_type_find("message.rejected")->coalesce_by);
    assert_string_equal(wh_event_type_find("message.rejected")->coalesce_by[0], "client_ip");
    assert_null(wh_event_type_find("message.bounced")->coalesce_by);
}

/* The compact JSON of j (consumed), for comparisons. */
static char *dump(json_t *j)
{
    char *s;

    assert_non_null(j);
    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    assert_non_null(s);
    return s;
}

static void pack_gives_what_json_pack_gives_for_valid_data(void **state)
{
    json_t *o = json_pack("{s:s}", "k", "v");
    char *a = dump(json_pack("{s:s, s:i, s:I, s:b, s:n, s:[s,i], s:o, s:O, s:s*, s:s?, "
                             "s:f}", "helo", "mx.example \xc3\xa9", "code", 554, "big",
                             (json_int_t)1 << 40, "tls", 1, "none", "list", "a", 2,
                             "obj", json_object(), "same", o, "gone", NULL, "null", NULL,
                             "real", 0.5));
    char *b = dump(wh_pack("{s:s, s:i, s:I, s:b, s:n, s:[s,i], s:o, s:O, s:s*, s:s?, s:f}",
                           "helo", "mx.example \xc3\xa9", "code", 554, "big",
                           (json_int_t)1 << 40, "tls", 1, "none", "list", "a", 2,
                           "obj", json_object(), "same", o, "gone", NULL, "null", NULL,
                           "real", 0.5));

    (void)state;
    assert_string_equal(a, b);
    assert_int_equal(o->refcount, 1);      /* "O" took its own references */
    json_decref(o);
    free(a);
    free(b);
}

static void pack_replaces_bad_utf8_instead_of_failing(void **state)
{
    /* a stray byte, a cut sequence, an overlong '/', a surrogate, a code point above
     * U+10FFFF, a lone continuation byte: json_pack fails the whole object */
    static const char *const bad[] = {
        "ehlo\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80x",
    };
    static const char *const want[] = {
        "ehlo\xef\xbf\xbd", "\xef\xbf\xbd", "\xef\xbf\xbd\xef\xbf\xbd",
        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
        "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "\xef\xbf\xbdx",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *o = wh_pack("{s:s, s:s, s:[s]}", "helo", bad[i], bad[i], "key",
                            "list", bad[i]);
        char *body;
        assert_null(json_pack("{s:s}", "helo", bad[i]));
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "helo")), want[i]);
        assert_non_null(json_object_get(o, want[i]));          /* keys too */
        assert_string_equal(json_string_value(json_array_get(json_object_get(o, "list"), 0)),
                            want[i]);
        body = dump(o);                                        /* and it can be sent */
        free(body);
    }
}

static void pack_keeps_valid_multibyte_text_and_leaves_out_null(void **state)
{
    const char *ok = "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7 \xf4\x8f\xbf\xbf";
    json_t *o = wh_pack("{s:s, s:s, s:o, s:[s, s]}", "text", ok, "login", NULL, "obj", NULL,
                        "list", NULL, "x");
    char *s;

    (void)state;
    assert_string_equal(json_string_value(json_object_get(o, "text")), ok);
    assert_null(json_object_get(o, "login"));
    assert_null(json_object_get(o, "obj"));
    s = dump(json_incref(json_object_get(o, "list")));
    assert_string_equal(s, "[\"x\"]");
    free(s);
    json_decref(o);
    assert_null(wh_json_string(NULL));
    assert_null(wh_pack("{s:q}", "bad", "format"));
    assert_null(wh_pack("{s:s", "unterminated", "x"));
}

static void sanitize_counts_bytes_and_replaces_nul(void **state)
{
    size_t n;
    char *s = wh_utf8_sanitize("a\0b\xfe", 4, &n);

    (void)state;
    assert_int_equal(n, 1 + 3 + 1 + 3);
    assert_memory_equal(s, "a\xef\xbf\xbd" "b\xef\xbf\xbd", n + 1);
    free(s);
    assert_int_equal(utf8_seq_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
    assert_int_equal(utf8_seq_len((const unsigned char *)"\xe2\x82\xac", 2), 0);
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

struct swept {
    int n;
    char type[64];
    json_t *data;
};

static void on_swept(void *arg, const char *type, json_t *data)
{
    struct swept *w = arg;

    w->n++;
    snprintf(w->type, sizeof(w->type), "%s", type);
    json_decref(w->data);
    w->data = data;
}

static json_t *event_n(int n)
{
    return json_pack("{s:s, s:i}", "client_ip", "192.0.2.1", "n", n);
}

static void folding_counts_and_sends_the_last_one_when_the_window_ends(void **state)
{
    struct wh_coalesce *c = wh_coalesce_new(16);
    struct swept w = { 0, "", NULL };
    json_t *first = event_n(1);
    long long due;

    (void)state;
    assert_true(wh_coalesce_fold(c, "message.rejected", "k", 1000, WINDOW, T0, first, &due));
    assert_int_equal(due, -1);
    json_decref(first);                       /* the caller's: sent at once */
    assert_false(wh_coalesce_fold(c, "message.rejected", "k", 2000, WINDOW, T0 + 1000,
                                  event_n(2), &due));
    assert_int_equal(due, 1000 + WINDOW);
    assert_false(wh_coalesce_fold(c, "message.rejected", "k", 3000, WINDOW, T0 + 2000,
                                  event_n(3), &due));
    /* another key has its own window */
    first = event_n(9);
    assert_true(wh_coalesce_fold(c, "message.rejected", "other", 3000, WINDOW, T0, first,
                                 &due));
    json_decref(first);
    assert_int_equal(wh_coalesce_sweep(c, 1000 + WINDOW - 1, on_swept, &w), 1000 + WINDOW);
    assert_int_equal(w.n, 0);
    assert_int_equal(wh_coalesce_sweep(c, 1000 + WINDOW, on_swept, &w), -1);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.type, "message.rejected");
    assert_int_equal(json_integer_value(json_object_get(w.data, "n")), 3);
    assert_int_equal(json_integer_value(json_object_get(w.data, "count")), 2);
    assert_string_equal(json_string_value(json_object_get(w.data, "first_seen")),
                        "2025-03-01T12:00:01.123Z");
    assert_string_equal(json_string_value(json_object_get(w.data, "last_seen")),
                        "2025-03-01T12:00:02.123Z");
    /* a new window started with the summary: the flood goes on being counted */
    assert_false(wh_coalesce_fold(c, "message.rejected", "k", 1000 + WINDOW + 5, WINDOW,
                                  T0, event_n(4), &due));
    assert_int_equal(due, 1000 + 2 * WINDOW);
    assert_int_equal(wh_coalesce_sweep(c, 1000 + 2 * WINDOW, on_swept, &w), -1);
    assert_int_equal(w.n, 2);
    assert_int_equal(json_integer_value(json_object_get(w.data, "count")), 1);
    /* a window that ends with nothing counted is forgotten: the next one is sent */
    assert_int_equal(wh_coalesce_sweep(c, 1000 + 3 * WINDOW, on_swept, &w), -1);
    assert_int_equal(w.n, 2);
    first = event_n(5);
    assert_true(wh_coalesce_fold(c, "message.rejected", "k", 1000 + 3 * WINDOW, WINDOW, T0,
                                 first, &due));
    json_decref(first);
    /* at stop, what is counted is sent whatever the windows */
    assert_false(wh_coalesce_fold(c, "message.rejected", "k", 1000 + 3 * WINDOW + 1, WINDOW,
                                  T0, event_n(6), &due));
    assert_int_equal(wh_coalesce_sweep(c, LLONG_MAX, on_swept, &w), -1);
    assert_int_equal(w.n, 3);
    assert_int_equal(json_integer_value(json_object_get(w.data, "n")), 6);
    assert_false(wh_coalesce_fold(c, "message.rejected", "k", 1000 + 3 * WINDOW + 2, WINDOW,
                                  T0, event_n(7), &due));
    json_decref(w.data);
    wh_coalesce_free(c);                      /* frees what is still counted */
}

static void an_evicted_window_with_counted_events_is_due_at_once(void **state)
{
    struct wh_coalesce *c = wh_coalesce_new(1);
    struct swept w = { 0, "", NULL };
    json_t *ev = event_n(1);
    long long due;

    (void)state;
    assert_true(wh_coalesce_fold(c, "message.rejected", "a", 0, WINDOW, T0, ev, &due));
    json_decref(ev);
    assert_false(wh_coalesce_fold(c, "message.rejected", "a", 10, WINDOW, T0, event_n(2),
                                  &due));
    ev = event_n(3);
    assert_true(wh_coalesce_fold(c, "message.rejected", "b", 20, WINDOW, T0, ev, &due));
    json_decref(ev);
    assert_int_equal(due, 20);
    wh_coalesce_sweep(c, 20, on_swept, &w);
    assert_int_equal(w.n, 1);
    assert_int_equal(json_integer_value(json_object_get(w.data, "n")), 2);
    assert_int_equal(json_integer_value(json_object_get(w.data, "count")), 1);
    json_decref(w.data);
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
        cmocka_unit_test(pack_gives_what_json_pack_gives_for_valid_data),
        cmocka_unit_test(pack_replaces_bad_utf8_instead_of_failing),
        cmocka_unit_test(pack_keeps_valid_multibyte_text_and_leaves_out_null),
        cmocka_unit_test(sanitize_counts_bytes_and_replaces_nul),
        cmocka_unit_test(folding_counts_and_sends_the_last_one_when_the_window_ends),
        cmocka_unit_test(an_evicted_window_with_counted_events_is_due_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
