/*
 * test_user_cache.c - unit tests of policy/user_cache over the memory backend of
 * policy/user_store: one store round trip per batch, the TTL (a change is seen after it),
 * eviction, unavailability, cancellation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "policy/user_cache.h"
#include "policy/user_prefs.h"
#include "policy/user_store.h"

static long long fake_now;
static long long fake_clock(void) { return fake_now; }

struct waiter {
    int calls;
    bool unavailable;
};

static void on_done(void *arg, bool unavailable)
{
    struct waiter *w = arg;

    w->calls++;
    w->unavailable = unavailable;
}

struct fixture {
    struct event_base *base;
    struct user_store *store;
    struct user_cache *cache;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    f->base = event_base_new();
    f->store = user_store_memory_new(f->base);
    f->cache = user_cache_new(f->store, 5000, 100);
    user_cache_set_clock(f->cache, fake_clock);
    fake_now = 1000;
    user_store_memory_put(f->store, "alice@a.test", "level", "high");
    user_store_memory_put(f->store, "bob@a.test", "greylisting", "on");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    user_cache_free(f->cache);
    user_store_free(f->store);
    event_base_free(f->base);
    free(f);
    return 0;
}

/* Get addrs; run the loop until answered. Returns whether it was answered from memory. */
static bool get(struct fixture *f, const char *const *addrs, size_t n, struct user_prefs **out,
                struct waiter *w)
{
    struct user_cache_req *r;

    memset(w, 0, sizeof(*w));
    r = user_cache_get(f->cache, addrs, n, out, on_done, w);
    if (r == NULL)
        return true;
    assert_int_equal(w->calls, 0); /* never inside the call */
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(w->calls, 1);
    return false;
}

static void release(struct user_prefs **p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        user_prefs_unref(p[i]);
}

static void a_batch_costs_one_fetch_and_is_then_cached(void **state)
{
    struct fixture *f = *state;
    static const char *const addrs[] = { "alice@a.test", "bob@a.test", "carol@a.test" };
    struct user_prefs *out[3];
    struct waiter w;

    assert_false(get(f, addrs, 3, out, &w));
    assert_false(w.unavailable);
    assert_int_equal(user_store_memory_fetches(f->store), 1);
    assert_string_equal(out[0]->level, "high");
    assert_true(out[1]->set & UF_BIT(UF_GREYLISTING));
    assert_int_equal(out[2]->set, 0);
    release(out, 3);
    assert_int_equal(user_cache_size(f->cache), 3);
    /* again, differently cased: from memory, no callback */
    static const char *const again[] = { "ALICE@a.test", "carol@A.TEST" };
    assert_true(get(f, again, 2, out, &w));
    assert_int_equal(w.calls, 0);
    assert_int_equal(user_store_memory_fetches(f->store), 1);
    assert_string_equal(out[0]->level, "high");
    release(out, 2);
}

static void only_the_missing_addresses_are_fetched(void **state)
{
    struct fixture *f = *state;
    static const char *const one[] = { "alice@a.test" };
    static const char *const two[] = { "alice@a.test", "bob@a.test" };
    struct user_prefs *out[2];
    struct waiter w;

    get(f, one, 1, out, &w);
    release(out, 1);
    user_store_memory_put(f->store, "alice@a.test", "level", "low"); /* not seen yet */
    assert_false(get(f, two, 2, out, &w));
    assert_int_equal(user_store_memory_fetches(f->store), 2);
    assert_string_equal(out[0]->level, "high");   /* still the cached one */
    assert_true(out[1]->set & UF_BIT(UF_GREYLISTING));
    release(out, 2);
}

static void a_change_is_seen_once_the_ttl_has_passed(void **state)
{
    struct fixture *f = *state;
    static const char *const one[] = { "alice@a.test" };
    struct user_prefs *out[1];
    struct waiter w;

    get(f, one, 1, out, &w);
    release(out, 1);
    user_store_memory_put(f->store, "alice@a.test", "level", "low");
    fake_now += 4999;
    assert_true(get(f, one, 1, out, &w));
    assert_string_equal(out[0]->level, "high");
    release(out, 1);
    fake_now += 1;
    assert_false(get(f, one, 1, out, &w));
    assert_string_equal(out[0]->level, "low");
    release(out, 1);
}

static void unavailable_store_answers_null_and_is_not_cached(void **state)
{
    struct fixture *f = *state;
    static const char *const one[] = { "alice@a.test" };
    struct user_prefs *out[1];
    struct waiter w;

    user_store_memory_set_down(f->store, true);
    assert_false(get(f, one, 1, out, &w));
    assert_true(w.unavailable);
    assert_null(out[0]);
    assert_int_equal(user_cache_size(f->cache), 0);
    user_store_memory_set_down(f->store, false);
    assert_false(get(f, one, 1, out, &w));
    assert_false(w.unavailable);
    assert_non_null(out[0]);
    release(out, 1);
}

static void cancel_means_no_callback(void **state)
{
    struct fixture *f = *state;
    static const char *const addrs[] = { "alice@a.test", "bob@a.test" };
    struct user_prefs *out[2] = { NULL, NULL };
    struct waiter w = { 0 };
    struct user_cache_req *r;

    get(f, addrs, 1, out, &w);        /* alice cached: the request holds a hit */
    release(out, 1);
    out[0] = NULL;
    w.calls = 0;
    r = user_cache_get(f->cache, addrs, 2, out, on_done, &w);
    assert_non_null(r);
    user_cache_cancel(r);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(w.calls, 0);
    assert_null(out[0]);
    assert_null(out[1]);
}

static void oldest_entries_go_first_when_full(void **state)
{
    struct fixture *f = *state;
    static const char *const a[] = { "a@x.test", "b@x.test", "c@x.test" };
    struct user_prefs *out[3];
    struct waiter w;

    user_cache_free(f->cache);
    f->cache = user_cache_new(f->store, 5000, 2);
    user_cache_set_clock(f->cache, fake_clock);
    get(f, a, 3, out, &w);
    release(out, 3);
    assert_int_equal(user_cache_size(f->cache), 2);
    assert_true(get(f, &a[1], 2, out, &w));   /* b and c kept */
    release(out, 2);
    assert_false(get(f, a, 1, out, &w));      /* a was evicted */
    release(out, 1);
}

static void zero_ttl_never_caches(void **state)
{
    struct fixture *f = *state;
    static const char *const one[] = { "alice@a.test" };
    struct user_prefs *out[1];
    struct waiter w;

    user_cache_free(f->cache);
    f->cache = user_cache_new(f->store, 0, 10);
    get(f, one, 1, out, &w);
    release(out, 1);
    assert_false(get(f, one, 1, out, &w));
    release(out, 1);
    assert_int_equal(user_store_memory_fetches(f->store), 2);
}

static void on_written(void *arg, int status)
{
    *(int *)arg = status;
}

static void writes_reach_the_store_later_unless_cancelled(void **state)
{
    struct fixture *f = *state;
    static const char *const one[] = { "dave@a.test" };
    struct user_prefs *out[1];
    struct user_store_req *r;
    struct waiter w;
    int status = 99;

    r = user_store_write(f->store, "dave@a.test", "level", "low", on_written, &status);
    user_store_cancel(f->store, r);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(status, 99);
    get(f, one, 1, out, &w);
    assert_int_equal(out[0]->set, 0);
    release(out, 1);
    user_store_write(f->store, "dave@a.test", "level", "low", on_written, &status);
    assert_int_equal(status, 99);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(status, 0);
    fake_now += 5000;
    get(f, one, 1, out, &w);
    assert_string_equal(out[0]->level, "low");
    release(out, 1);
    user_store_write(f->store, "dave@a.test", "level", NULL, on_written, &status);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    fake_now += 5000;
    get(f, one, 1, out, &w);
    assert_int_equal(out[0]->set, 0);
    release(out, 1);
    user_store_memory_set_down(f->store, true);
    user_store_write(f->store, "dave@a.test", "level", "low", on_written, &status);
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(status, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_batch_costs_one_fetch_and_is_then_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(only_the_missing_addresses_are_fetched, setup, teardown),
        cmocka_unit_test_setup_teardown(a_change_is_seen_once_the_ttl_has_passed, setup, teardown),
        cmocka_unit_test_setup_teardown(unavailable_store_answers_null_and_is_not_cached, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cancel_means_no_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(oldest_entries_go_first_when_full, setup, teardown),
        cmocka_unit_test_setup_teardown(zero_ttl_never_caches, setup, teardown),
        cmocka_unit_test_setup_teardown(writes_reach_the_store_later_unless_cancelled, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
