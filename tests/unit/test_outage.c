/*
 * test_outage.c - unit tests of policy/outage: policy.check_unavailable once per outage of
 * a service, recovery, services tracked apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "policy/outage.h"

static int events;
static char last_service[64], last_check[64], last_reason[64];
static long long now_s = 1000;
static long long fake_now(void) { return now_s; }

static void on_event(void *arg, const char *type, json_t *data)
{
    (void)arg;
    assert_string_equal(type, "policy.check_unavailable");
    events++;
    snprintf(last_service, sizeof(last_service), "%s",
             json_string_value(json_object_get(data, "service")));
    snprintf(last_check, sizeof(last_check), "%s",
             json_is_string(json_object_get(data, "check"))
                 ? json_string_value(json_object_get(data, "check")) : "(none)");
    snprintf(last_reason, sizeof(last_reason), "%s",
             json_string_value(json_object_get(data, "reason")));
    json_decref(data);
}

static void one_event_per_outage(void **state)
{
    struct outage *o = outage_new(on_event, NULL);

    (void)state;
    events = 0;
    outage_set_clock(o, fake_now);
    assert_false(outage_is_down(o, "redis"));
    assert_true(outage_down(o, "redis", "greylist", "timeout"));
    assert_false(outage_down(o, "redis", "user_settings", "unavailable"));
    assert_false(outage_down(o, "redis", NULL, "timeout"));
    assert_int_equal(events, 1);
    assert_string_equal(last_service, "redis");
    assert_string_equal(last_check, "greylist");
    assert_string_equal(last_reason, "timeout");
    assert_true(outage_is_down(o, "redis"));
    now_s += 42;
    assert_true(outage_up(o, "redis"));
    assert_false(outage_up(o, "redis"));
    assert_false(outage_is_down(o, "redis"));
    /* a new outage is a new event */
    assert_true(outage_down(o, "redis", NULL, "unavailable"));
    assert_int_equal(events, 2);
    assert_string_equal(last_check, "(none)");
    outage_free(o);
}

static void services_are_tracked_apart(void **state)
{
    struct outage *o = outage_new(on_event, NULL);

    (void)state;
    events = 0;
    assert_true(outage_down(o, "dns", "rdns", "SERVFAIL"));
    assert_true(outage_down(o, "dnsbl:zen.example", "dnsbl", "refused"));
    assert_false(outage_up(o, "redis"));
    assert_true(outage_up(o, "dns"));
    assert_true(outage_is_down(o, "dnsbl:zen.example"));
    assert_int_equal(events, 2);
    outage_free(o);
}

static void a_full_table_forgets_services_that_are_up(void **state)
{
    struct outage *o = outage_new(NULL, NULL);
    char name[32];
    int i;

    (void)state;
    for (i = 0; i < OUTAGE_SERVICES_MAX; i++) {
        snprintf(name, sizeof(name), "svc%d", i);
        assert_true(outage_down(o, name, NULL, "x"));
        if (i % 2)
            outage_up(o, name);
    }
    assert_true(outage_down(o, "another", NULL, "x"));
    assert_true(outage_is_down(o, "another"));
    assert_true(outage_is_down(o, "svc0"));
    outage_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_event_per_outage),
        cmocka_unit_test(services_are_tracked_apart),
        cmocka_unit_test(a_full_table_forgets_services_that_are_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
