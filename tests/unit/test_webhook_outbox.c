/*
 * test_webhook_outbox.c - unit tests of the rest of webhooks/: outbox file names and
 * records (webhooks/outbox.c, including its file operations in a temp dir), the retry
 * delay with jitter (delivery.c), URL parsing (http_post.c), and the "webhooks" config
 * section with its defaults and checks (webhooks_conf.c, loaded by lib/conf).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/conf.h"
#include "webhooks/internal.h"

#define ID "evt_01ARYZ6S41ZZZZZZZZZZZZZZZZ"
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

static void file_names_round_trip(void **state)
{
    char *n = wh_outbox_file_name(ID, "ops-1");
    char id[WH_EVENT_ID_SIZE], ep[WH_ENDPOINT_NAME_MAX + 1];

    (void)state;
    assert_string_equal(n, ID ".ops-1.json");
    assert_int_equal(wh_outbox_parse_name(n, id, sizeof(id), ep, sizeof(ep)), 0);
    assert_string_equal(id, ID);
    assert_string_equal(ep, "ops-1");
    free(n);
}

static void foreign_file_names_are_ignored(void **state)
{
    char id[WH_EVENT_ID_SIZE], ep[WH_ENDPOINT_NAME_MAX + 1];
    static const char *const bad[] = {
        ".tmp." ID ".ops.json.123", ID ".ops.json.tmp", ID ".json", ID "..json",
        "evt_short.ops.json", ID ".o.p.json", ID ".op s.json", "README", NULL };
    size_t i;

    (void)state;
    for (i = 0; bad[i]; i++)
        assert_int_equal(wh_outbox_parse_name(bad[i], id, sizeof(id), ep, sizeof(ep)), -1);
}

static void endpoint_names_are_file_safe(void **state)
{
    (void)state;
    assert_true(wh_endpoint_name_valid("Ops_2-b"));
    assert_false(wh_endpoint_name_valid(""));
    assert_false(wh_endpoint_name_valid("a.b"));
    assert_false(wh_endpoint_name_valid("../x"));
    assert_false(wh_endpoint_name_valid("0123456789012345678901234567890123456789"
                                        "0123456789012345678901234"));
}

static json_t *sample_event(void)
{
    return wh_event_payload("queue.stuck", 1000, ID, json_pack("{s:i}", "age_s", 4000));
}

static void records_round_trip(void **state)
{
    struct wh_record r = { .endpoint = "ops", .event = sample_event(), .attempts = 2,
                           .next_attempt_ms = 1234567 }, back;
    size_t len;
    char *text = wh_record_encode(&r, &len), err[128];

    (void)state;
    assert_int_equal(wh_record_decode(text, len, &back, err, sizeof(err)), 0);
    assert_string_equal(back.endpoint, "ops");
    assert_int_equal(back.attempts, 2);
    assert_int_equal(back.next_attempt_ms, 1234567);
    assert_null(back.last_error);
    assert_string_equal(wh_record_id(&back), ID);
    assert_string_equal(wh_record_type(&back), "queue.stuck");
    assert_true(json_equal(back.event, r.event));
    wh_record_clear(&back);
    free(text);
    r.last_error = "HTTP 500";
    r.failed_at_ms = 5000;
    text = wh_record_encode(&r, &len);
    assert_non_null(strstr(text, "\"failed_at\": \"1970-01-01T00:00:05.000Z\""));
    assert_int_equal(wh_record_decode(text, len, &back, err, sizeof(err)), 0);
    assert_string_equal(back.last_error, "HTTP 500");
    assert_int_equal(back.failed_at_ms, 5000);
    wh_record_clear(&back);
    free(text);
    json_decref(r.event);
}

static void bad_records_are_refused(void **state)
{
    static const char *const bad[] = {
        "{",
        "[]",
        "{\"endpoint\":\"ops\",\"attempts\":0,\"next_attempt_ms\":0}",
        "{\"endpoint\":\"o/s\",\"attempts\":0,\"next_attempt_ms\":0,\"event\":{\"type\":"
        "\"a.b\",\"id\":\"" ID "\",\"timestamp\":\"t\",\"data\":{}}}",
        "{\"endpoint\":\"ops\",\"attempts\":-1,\"next_attempt_ms\":0,\"event\":{\"type\":"
        "\"a.b\",\"id\":\"" ID "\",\"timestamp\":\"t\",\"data\":{}}}",
        "{\"endpoint\":\"ops\",\"attempts\":0,\"next_attempt_ms\":0,\"event\":{\"type\":"
        "\"a.b\",\"id\":\"evt_1\",\"timestamp\":\"t\",\"data\":{}}}",
        "{\"endpoint\":\"ops\",\"attempts\":0,\"next_attempt_ms\":0,\"event\":{\"type\":"
        "\"a\\nb\",\"id\":\"" ID "\",\"timestamp\":\"t\",\"data\":{}}}",
        "{\"endpoint\":\"ops\",\"attempts\":0,\"next_attempt_ms\":0,\"event\":{\"type\":"
        "\"a.b\",\"id\":\"" ID "\",\"timestamp\":\"t\",\"data\":[]}}",
        "{\"endpoint\":\"ops\",\"endpoint\":\"ops\",\"attempts\":0}",
        NULL };
    struct wh_record r;
    char err[128];
    size_t i;

    (void)state;
    for (i = 0; bad[i]; i++) {
        err[0] = '\0';
        assert_int_equal(wh_record_decode(bad[i], strlen(bad[i]), &r, err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
        assert_null(r.endpoint);
    }
}

static void outbox_files_are_written_listed_adopted_and_removed(void **state)
{
    char tmpl[] = "/tmp/test_webhook_outbox.XXXXXX", *dir = mkdtemp(tmpl), *data;
    char cmd[sizeof(tmpl) + 16];
    char **names;
    size_t n, len;

    (void)state;
    assert_non_null(dir);
    assert_int_equal(wh_outbox_prepare(dir), 0);
    assert_int_equal(wh_outbox_prepare(dir), 0);           /* again: nothing to do */
    assert_int_equal(wh_outbox_write(dir, NULL, ID ".b.json", "{}", 2), 0);
    assert_int_equal(wh_outbox_write(dir, WH_OUTBOX_NEW, ID ".a.json", "[1]", 3), 0);
    assert_int_equal(wh_outbox_write(dir, NULL, "stray.txt", "x", 1), 0);
    assert_int_equal(wh_outbox_write(dir, NULL, ".tmp.left-by-a-crash", "x", 1), 0);
    assert_int_equal(wh_outbox_clean_tmp(dir, NULL), 1);
    assert_int_equal(wh_outbox_list(dir, NULL, &names, &n), 0);
    assert_int_equal(n, 1);
    wh_outbox_names_free(names, n);
    assert_int_equal(wh_outbox_adopt(dir, ID ".a.json"), 0);
    assert_int_equal(wh_outbox_list(dir, NULL, &names, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], ID ".a.json");           /* sorted */
    wh_outbox_names_free(names, n);
    assert_int_equal(wh_outbox_read(dir, NULL, ID ".a.json", &data, &len), 0);
    assert_string_equal(data, "[1]");
    free(data);
    assert_int_equal(wh_outbox_move_failed(dir, ID ".a.json"), 0);
    assert_int_equal(wh_outbox_list(dir, WH_OUTBOX_FAILED, &names, &n), 0);
    assert_int_equal(n, 1);
    wh_outbox_names_free(names, n);
    assert_int_equal(wh_outbox_remove(dir, NULL, ID ".b.json"), 0);
    assert_int_equal(wh_outbox_remove(dir, NULL, ID ".b.json"), 0);   /* already gone */
    assert_int_equal(wh_outbox_read(dir, NULL, ID ".b.json", &data, &len), -ENOENT);
    assert_int_equal(wh_outbox_list(dir, "missing", &names, &n), -ENOENT);
    assert_int_equal(n, 0);
    free(names);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void retry_delays_follow_the_schedule_with_ten_percent_jitter(void **state)
{
    const long long s[] = { 5000, 300000 };

    (void)state;
    assert_int_equal(wh_retry_delay(s, 2, 1, 0), 4500);
    assert_int_equal(wh_retry_delay(s, 2, 1, 500), 5000);
    assert_int_equal(wh_retry_delay(s, 2, 1, 1000), 5500);
    assert_int_equal(wh_retry_delay(s, 2, 1, 1001), 4500);  /* wraps within the range */
    assert_int_equal(wh_retry_delay(s, 2, 2, UINT32_MAX) >= 270000, 1);
    assert_int_equal(wh_retry_delay(s, 2, 2, UINT32_MAX) <= 330000, 1);
    assert_int_equal(wh_retry_delay(s, 2, 3, 0), -1);       /* exhausted */
    assert_int_equal(wh_retry_delay(s, 0, 1, 0), -1);
}

static void urls_give_host_port_target_and_host_header(void **state)
{
    struct wh_url u;
    char err[128];

    (void)state;
    assert_int_equal(wh_url_parse("https://Hooks.Example.com/p/a?t=1", &u, err,
                                  sizeof(err)), 0);
    assert_true(u.https);
    assert_false(u.host_is_ip);
    assert_int_equal(u.port, 443);
    assert_string_equal(u.target, "/p/a?t=1");
    assert_string_equal(u.host_header, "Hooks.Example.com");
    assert_string_equal(u.origin, "https://Hooks.Example.com:443");
    wh_url_clear(&u);
    assert_int_equal(wh_url_parse("http://127.0.0.1:8099", &u, err, sizeof(err)), 0);
    assert_true(u.host_is_ip);
    assert_string_equal(u.target, "/");
    assert_string_equal(u.host_header, "127.0.0.1:8099");
    wh_url_clear(&u);
    assert_int_equal(wh_url_parse("http://[::1]:8080/h", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "::1");
    assert_true(u.host_is_ip);
    assert_string_equal(u.host_header, "[::1]:8080");
    wh_url_clear(&u);
}

static void bad_urls_are_refused(void **state)
{
    static const char *const bad[] = {
        "ftp://h/x", "hooks.example.com/x", "https:///x", "https://u:p@h/x", "https://h/x#f",
        "https://h:0/x", "https://h:99999/x", "", NULL };
    struct wh_url u;
    char err[128];
    size_t i;

    (void)state;
    for (i = 0; bad[i]; i++) {
        err[0] = '\0';
        assert_int_equal(wh_url_parse(bad[i], &u, err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
        wh_url_clear(&u);
    }
}

struct root {
    struct webhooks_conf webhooks;
};

static const struct conf_key root_keys[] = {
    { .name = "webhooks", .type = CONF_SECTION, .offset = offsetof(struct root, webhooks),
      .sub = &webhooks_conf_section },
    { .name = NULL }
};
static const struct conf_section root_section = { .name = "root", .keys = root_keys };

static int load(const char *text, struct root *r)
{
    struct conf_errors errs = { .out = stderr };

    memset(r, 0, sizeof(*r));
    return conf_load_buffer("test.json", text, strlen(text), &root_section, r, &errs);
}

static void config_defaults_match_the_documentation(void **state)
{
    struct root r;
    const struct webhooks_endpoint_conf *e;
    long long *s;
    size_t n;

    (void)state;
    assert_int_equal(load("{\"webhooks\": {\"endpoints\": [{\"name\": \"demo\", \"url\": "
                          "\"http://127.0.0.1:8099/hook\", \"secret\": \"" SECRET "\"}]}}",
                          &r), 0);
    assert_string_equal(r.webhooks.outbox_dir, "/var/spool/postern/webhooks");
    assert_int_equal(r.webhooks.timeout_ms, 15000);
    assert_int_equal(r.webhooks.deferred_after_tries, 3);
    assert_int_equal(r.webhooks.queue_stuck_after_ms, 3600000);
    s = webhooks_conf_schedule(&r.webhooks, &n);
    assert_int_equal(n, 7);
    assert_int_equal(s[0], 5000);
    assert_int_equal(s[1], 300000);
    assert_int_equal(s[2], 1800000);
    assert_int_equal(s[3], 7200000);
    assert_int_equal(s[6], 36000000);
    free(s);
    e = r.webhooks.endpoints.items;
    assert_int_equal(r.webhooks.endpoints.n, 1);
    assert_int_equal(e->events.n, 1);
    assert_string_equal(e->events.v[0], "*");
    assert_int_equal(e->concurrency, 4);
    assert_true(e->enabled);
    assert_null(e->ca_file);
    conf_free(&root_section, &r);
}

static void config_errors_are_found(void **state)
{
    struct root r;

    (void)state;
    assert_int_equal(load("{\"webhooks\": {\"endpoints\": [{\"name\": \"a\", \"url\": "
                          "\"http://h/\", \"secret\": \"whsec_abc\"}]}}", &r), -1);
    conf_free(&root_section, &r);
    assert_int_equal(load("{\"webhooks\": {\"endpoints\": [{\"name\": \"a\", \"url\": "
                          "\"http://h/\", \"secret\": \"" SECRET "\", \"events\": []}]}}",
                          &r), -1);
    conf_free(&root_section, &r);
    assert_int_equal(load("{\"webhooks\": {\"retry_schedule\": [\"1s\", \"5\"]}}", &r), -1);
    conf_free(&root_section, &r);
    assert_int_equal(load("{\"webhooks\": {\"endpoints\": [{\"name\": \"a\", \"url\": "
                          "\"http://h/\", \"secret\": \"" SECRET "\", \"ca_file\": "
                          "\"/nonexistent/ca.pem\"}]}}", &r), -1);
    conf_free(&root_section, &r);
    assert_int_equal(load("{\"webhooks\": {\"retry_schedule\": []}}", &r), 0);
    conf_free(&root_section, &r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(file_names_round_trip),
        cmocka_unit_test(foreign_file_names_are_ignored),
        cmocka_unit_test(endpoint_names_are_file_safe),
        cmocka_unit_test(records_round_trip),
        cmocka_unit_test(bad_records_are_refused),
        cmocka_unit_test(outbox_files_are_written_listed_adopted_and_removed),
        cmocka_unit_test(retry_delays_follow_the_schedule_with_ten_percent_jitter),
        cmocka_unit_test(urls_give_host_port_target_and_host_header),
        cmocka_unit_test(bad_urls_are_refused),
        cmocka_unit_test(config_defaults_match_the_documentation),
        cmocka_unit_test(config_errors_are_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
