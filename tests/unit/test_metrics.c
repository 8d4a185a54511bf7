/*
 * test_metrics.c - lib/metrics.c: updates, the label-set cap and the Prometheus text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "lib/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_COUNT, T_GAUGE, T_LABELLED, T_TWO, T_HIST, T_CAPPED, T__N };

static const struct metric_def defs[T__N] = {
    [T_COUNT] = { "things_total", METRIC_COUNTER, "things done", { NULL }, 0, { 0 }, 0 },
    [T_GAUGE] = { "level", METRIC_GAUGE, "a level\nwith \\ and newline", { NULL }, 0,
                  { 0 }, 0 },
    [T_LABELLED] = { "replies_total", METRIC_COUNTER, "replies", { "class" }, 0, { 0 }, 0 },
    [T_TWO] = { "refused_total", METRIC_COUNTER, "refused", { "listener", "reason" }, 0,
                { 0 }, 0 },
    [T_HIST] = { "wait_seconds", METRIC_HISTOGRAM, "waits", { NULL }, 0,
                 { 0.001, 0.25, 1 }, 3 },
    [T_CAPPED] = { "symbols_total", METRIC_COUNTER, "symbols", { "symbol" }, 2, { 0 }, 0 },
};

static char *render(struct metrics_registry *r)
{
    size_t len;
    char *s = metrics_render(r, &len);
    assert_int_equal(strlen(s), len);
    return s;
}

static void unlabelled_metrics_start_at_zero_with_help_and_type(void **state)
{
    struct metrics_registry *r = metrics_registry_new(defs, T__N);
    char *s = render(r);
    (void)state;
    assert_non_null(strstr(s, "# HELP postern_things_total things done\n"
                              "# TYPE postern_things_total counter\n"
                              "postern_things_total 0\n"));
    /* a labelled metric without series: HELP and TYPE only */
    assert_non_null(strstr(s, "# TYPE postern_replies_total counter\n# HELP postern_refused"));
    free(s);
    metrics_registry_free(r);
}

static void help_text_is_escaped(void **state)
{
    struct metrics_registry *r = metrics_registry_new(defs, T__N);
    char *s = render(r);
    (void)state;
    assert_non_null(strstr(s, "# HELP postern_level a level\\nwith \\\\ and newline\n"));
    free(s);
    metrics_registry_free(r);
}

static void counters_add_and_never_go_down(void **state)
{
    struct metrics_registry *r = metrics_registry_new(defs, T__N);
    char *s;
    (void)state;
    metrics_radd(r, T_COUNT, NULL, 3);
    metrics_radd(r, T_COUNT, NULL, 1);
    metrics_radd(r, T_COUNT, NULL, -2);
    metrics_rset(r, T_GAUGE, NULL, 7);
    metrics_radd(r, T_GAUGE, NULL, -9);
    s = render(r);
    assert_non_null(strstr(s, "\npostern_things_total 4\n"));
    assert_non_null(strstr(s, "\npostern_level -2\n"));
    free(s);
    metrics_registry_free(r);
}

static void series_are_sorted_and_label_values_escaped(void **state)
{
    struct metrics_registry *r = metrics_registry_new(defs, T__N);
    const char *a[] = { "5xx" }, *b[] = { "2xx" }, *c[] = { "we\"ird\\" };
    const char *two[] = { "mx", "per_ip" }, *nl[] = { "a\nb", NULL };
    char *s;
    (void)state;
    metrics_radd(r, T_LABELLED, a, 1);
    metrics_radd(r, T_LABELLED, b, 2);
    metrics_radd(r, T_LABELLED, a, 1);
    metrics_radd(r, T_LABELLED, c, 1);
    metrics_radd(r, T_TWO, two, 1);
    metrics_radd(r, T_TWO, nl, 1);
    s = render(r);
    assert_non_null(strstr(s, "postern_replies_total{class=\"2xx\"} 2\n"
                              "postern_replies_total{class=\"5xx\"} 2\n"
                              "postern_replies_total{class=\"we\\\"ird\\\\\"} 1\n"));
    /* control characters are not kept (a newline becomes ?), a NULL value is "" */
    assert_non_null(strstr(s, "postern_refused_total{listener=\"a?b\",reason=\"\"} 1\n"
                              "postern_refused_total{listener=\"mx\",reason=\"per_ip\"} 1\n"));
    free(s);
    metrics_registry_free(r);
}

static void histogram_has_cumulative_buckets_inf_sum_and_count(void **state)
{
    struct metrics_registry *r = metrics_registry_new(defs, T__N);
    char *s;
    (void)state;
    metrics_robserve(r, T_HIST, NULL, 0.0005);
    metrics_robserve(r, T_HIST, NULL, 0.001);   /* le is inclusive */
    metrics_robserve(r, T_HIST, NULL, 0.5);
    metrics_robserve(r, T_HIST, NULL, 3);
    metrics_radd(r, T_HIST, NULL, 1);           /* not a counter: ignored */
    s = render(r);
    assert_non_null(strstr(s, "# TYPE postern_wait_seconds histogram\n"
                              "postern_wait_seconds_bucket{le=\"0.001\"} 2\n"
                              "postern_wait_seconds_bucket{le=\"0.25\"} 2\n"
                              "postern_wait_seconds_bucket{le=\"1\"} 3\n"
                              "postern_wait_seconds_bucket{le=\"+Inf\"} 4\n"
                              "postern_wait_seconds_sum 3.5015\n"
                              "postern_wait_seconds_count 4\n"));
    free(s);
    metrics_registry_free(r);
}

static void label_sets_over_the_cap_count_as_other(void **state)
{
    struct metrics_registry *r = metrics_registry_new(defs, T__N);
    const char *v[4][1] = { { "A" }, { "B" }, { "C" }, { "D" } };
    char *s;
    int i;
    (void)state;
    for (i = 0; i < 4; i++)
        metrics_radd(r, T_CAPPED, v[i], 1);
    metrics_radd(r, T_CAPPED, v[0], 1);
    s = render(r);
    assert_non_null(strstr(s, "postern_symbols_total{symbol=\"A\"} 2\n"
                              "postern_symbols_total{symbol=\"B\"} 1\n"
                              "postern_symbols_total{symbol=\"other\"} 2\n"));
    assert_null(strstr(s, "symbol=\"C\""));
    free(s);
    metrics_registry_free(r);
}

static void reply_classes(void **state)
{
    (void)state;
    assert_string_equal(metrics_reply_class(250), "2xx");
    assert_string_equal(metrics_reply_class(354), "3xx");
    assert_string_equal(metrics_reply_class(421), "4xx");
    assert_string_equal(metrics_reply_class(554), "5xx");
    assert_string_equal(metrics_reply_class(99), "other");
}

#define THREADS 4
#define PER_THREAD 100000
static struct metrics_registry *shared;

static void *hammer(void *arg)
{
    const char *v[] = { arg };
    int i;
    for (i = 0; i < PER_THREAD; i++) {
        metrics_radd(shared, T_COUNT, NULL, 1);
        metrics_radd(shared, T_LABELLED, v, 1);
        metrics_robserve(shared, T_HIST, NULL, 0.5);
    }
    return NULL;
}

static void updates_from_several_threads_are_not_lost(void **state)
{
    static char names[THREADS][8];
    pthread_t t[THREADS];
    char *s, want[128];
    int i;
    (void)state;
    shared = metrics_registry_new(defs, T__N);
    for (i = 0; i < THREADS; i++) {
        snprintf(names[i], sizeof(names[i]), "t%d", i % 2);
        pthread_create(&t[i], NULL, hammer, names[i]);
    }
    for (i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    s = render(shared);
    snprintf(want, sizeof(want), "\npostern_things_total %d\n", THREADS * PER_THREAD);
    assert_non_null(strstr(s, want));
    snprintf(want, sizeof(want), "postern_replies_total{class=\"t0\"} %d\n"
             "postern_replies_total{class=\"t1\"} %d\n", THREADS / 2 * PER_THREAD,
             THREADS / 2 * PER_THREAD);
    assert_non_null(strstr(s, want));
    snprintf(want, sizeof(want), "postern_wait_seconds_sum %d\n", THREADS * PER_THREAD / 2);
    assert_non_null(strstr(s, want));
    free(s);
    metrics_registry_free(shared);
}

static void the_daemon_registry_renders_every_metric(void **state)
{
    char *s;
    (void)state;
    metrics_inc(M_MESSAGES_ACCEPTED);
    metrics_inc2(M_SMTP_REPLIES, metrics_reply_class(250), "rcpt");
    metrics_inc2(M_CONN_REFUSED, "mx", "too_many");
    metrics_observe(M_REDIS_SECONDS, 0.002);
    s = metrics_render(metrics_default(), NULL);
    assert_non_null(strstr(s, "\npostern_messages_accepted_total 1\n"));
    assert_non_null(strstr(s, "\npostern_smtp_replies_total{class=\"2xx\",stage=\"rcpt\"} 1\n"));
    assert_non_null(strstr(s, "postern_connections_refused_total{listener=\"mx\","
                              "reason=\"too_many\"} 1\n"));
    assert_non_null(strstr(s, "postern_redis_request_duration_seconds_bucket{le=\"0.0025\"} 1\n"));
    assert_non_null(strstr(s, "postern_redis_request_duration_seconds_count 1\n"));
    assert_non_null(strstr(s, "# TYPE postern_policy_symbols_total counter\n"));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unlabelled_metrics_start_at_zero_with_help_and_type),
        cmocka_unit_test(help_text_is_escaped),
        cmocka_unit_test(counters_add_and_never_go_down),
        cmocka_unit_test(series_are_sorted_and_label_values_escaped),
        cmocka_unit_test(histogram_has_cumulative_buckets_inf_sum_and_count),
        cmocka_unit_test(label_sets_over_the_cap_count_as_other),
        cmocka_unit_test(reply_classes),
        cmocka_unit_test(updates_from_several_threads_are_not_lost),
        cmocka_unit_test(the_daemon_registry_renders_every_metric),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
