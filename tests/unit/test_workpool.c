/*
 * test_workpool.c - unit tests of lib/workpool: jobs run on workers and complete on the
 * loop, and a bounded pool refuses jobs beyond its bound until earlier ones are done.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

#include "lib/workpool.h"

/* Jobs that wait on a gate, so the test decides when they finish. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_open;
static int done_count;

static void gated_work(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_lock);
    while (!gate_open)
        pthread_cond_wait(&gate_cond, &gate_lock);
    pthread_mutex_unlock(&gate_lock);
}

static void count_done(void *arg)
{
    (void)arg;
    done_count++;
}

static void open_gate(bool open)
{
    pthread_mutex_lock(&gate_lock);
    gate_open = open;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

/* Run the loop until `want` done functions have run (bounded by a 5 s guard). */
static void wait_done(struct event_base *base, int want)
{
    int spins;

    for (spins = 0; done_count < want && spins < 5000; spins++)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK), usleep(1000);
    assert_int_equal(done_count, want);
}

static void reset(void)
{
    done_count = 0;
    open_gate(false);
}

static void bounded_pool_refuses_beyond_its_bound_until_jobs_complete(void **state)
{
    struct event_base *base = event_base_new();
    struct workpool *wp = workpool_new_bounded(base, 2, 3);
    int i;

    (void)state;
    reset();
    for (i = 0; i < 3; i++)
        assert_int_equal(workpool_try_submit(wp, gated_work, count_done, NULL), 0);
    assert_int_equal(workpool_pending(wp), 3);
    /* two running, one queued: the fourth is refused and nothing of it runs */
    assert_int_equal(workpool_try_submit(wp, gated_work, count_done, NULL), -1);
    assert_int_equal(workpool_pending(wp), 3);
    open_gate(true);
    wait_done(base, 3);
    assert_int_equal(workpool_pending(wp), 0);
    /* room again */
    assert_int_equal(workpool_try_submit(wp, gated_work, count_done, NULL), 0);
    wait_done(base, 4);
    workpool_free(wp);
    event_base_free(base);
}

static void a_job_counts_until_its_done_function_ran(void **state)
{
    struct event_base *base = event_base_new();
    struct workpool *wp = workpool_new_bounded(base, 1, 1);

    (void)state;
    reset();
    open_gate(true);
    assert_int_equal(workpool_try_submit(wp, gated_work, count_done, NULL), 0);
    /* the work may be over already, but its done function has not run on the loop yet */
    assert_int_equal(workpool_try_submit(wp, gated_work, count_done, NULL), -1);
    wait_done(base, 1);
    assert_int_equal(workpool_try_submit(wp, gated_work, count_done, NULL), 0);
    wait_done(base, 2);
    workpool_free(wp);
    event_base_free(base);
}

static void unbounded_pool_never_refuses(void **state)
{
    struct event_base *base = event_base_new();
    struct workpool *wp = workpool_new(base, 1);
    int i;

    (void)state;
    reset();
    for (i = 0; i < 100; i++)
        assert_int_equal(workpool_try_submit(wp, gated_work, count_done, NULL), 0);
    open_gate(true);
    wait_done(base, 100);
    workpool_free(wp);
    event_base_free(base);
}

static void free_runs_every_queued_done_function(void **state)
{
    struct event_base *base = event_base_new();
    struct workpool *wp = workpool_new_bounded(base, 1, 8);
    int i;

    (void)state;
    reset();
    for (i = 0; i < 8; i++)
        assert_int_equal(workpool_try_submit(wp, gated_work, count_done, NULL), 0);
    open_gate(true);
    workpool_free(wp);
    assert_int_equal(done_count, 8);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bounded_pool_refuses_beyond_its_bound_until_jobs_complete),
        cmocka_unit_test(a_job_counts_until_its_done_function_ran),
        cmocka_unit_test(unbounded_pool_never_refuses),
        cmocka_unit_test(free_runs_every_queued_done_function),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
