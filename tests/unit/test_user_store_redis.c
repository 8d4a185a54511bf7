/*
 * test_user_store_redis.c - unit tests of the Redis backend of policy/user_store against
 * a private redis-server (started here on a unix socket in a temporary directory, stopped
 * by its PID; skipped when redis-server is not installed): the hash format, one fetch for
 * a batch, writes, unavailability and cancellation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/redis.h"
#include "policy/user_prefs.h"
#include "policy/user_store.h"
#include "tests/unit/redis_testserver.h"

struct fixture {
    struct redis_testserver srv;
    struct event_base *base;
    struct redis_conf conf;
    struct redis *redis;
    struct user_store *store;
    redisContext *admin;       /* a blocking client, as posternctl would use */
};

static void run_loop_ms(struct event_base *base, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    int i, rc;

    *state = f;
    if ((rc = redis_testserver_start(&f->srv)) != 0)
        return rc > 0 ? 0 : -1;   /* not installed: each test skips */
    f->conf = (struct redis_conf){ .socket = f->srv.sock, .timeout_ms = 500,
                                   .reconnect_min_ms = 50, .reconnect_max_ms = 200 };
    f->admin = redis_connect_blocking(&f->conf);
    if (f->admin == NULL)
        return -1;
    f->base = event_base_new();
    f->redis = redis_new(f->base, &f->conf, NULL, NULL);
    for (i = 0; i < 200 && redis_state(f->redis) != REDIS_STATE_UP; i++)
        run_loop_ms(f->base, 10);
    f->store = user_store_redis_new(f->redis);
    return redis_state(f->redis) == REDIS_STATE_UP ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f->store)
        user_store_free(f->store);
    if (f->redis)
        redis_free(f->redis);
    if (f->admin)
        redisFree(f->admin);
    if (f->base)
        event_base_free(f->base);
    redis_testserver_stop(&f->srv);
    free(f);
    return 0;
}

#define NEED_REDIS(f)                                                                        \
    do {                                                                                     \
        if ((f)->store == NULL)                                                              \
            skip();                                                                          \
    } while (0)

static void admin(struct fixture *f, const char *fmt, const char *a, const char *b,
                  const char *c)
{
    redisReply *r = redisCommand(f->admin, fmt, a, b, c);

    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

struct fetched {
    int calls;
    bool unavailable;
    char level[2][32];
    unsigned set[2];
    bool null[2];
};

static void on_fetch(void *arg, struct user_prefs *const *prefs, size_t n, bool unavailable)
{
    struct fetched *out = arg;
    size_t i;

    out->calls++;
    out->unavailable = unavailable;
    for (i = 0; i < n && i < 2; i++) {
        out->null[i] = prefs[i] == NULL;
        if (prefs[i] != NULL) {
            out->set[i] = prefs[i]->set;
            snprintf(out->level[i], sizeof(out->level[i]), "%s",
                     prefs[i]->level ? prefs[i]->level : "");
        }
    }
}

static void wait_calls(struct fixture *f, const int *calls, int want)
{
    int i;

    for (i = 0; i < 300 && *calls < want; i++)
        run_loop_ms(f->base, 10);
    assert_int_equal(*calls, want);
}

static void a_batch_reads_each_users_hash(void **state)
{
    struct fixture *f = *state;
    static const char *const addrs[] = { "Alice@Example.test", "nobody@example.test" };
    struct fetched out = { 0 };

    NEED_REDIS(f);
    admin(f, "HSET %s %s %s", "pt:pol:{alice@example.test}", "level", "high");
    admin(f, "HSET %s %s %s", "pt:pol:{alice@example.test}", "whitelist",
          "[\"@partner.test\"]");
    user_store_fetch(f->store, addrs, 2, on_fetch, &out);
    assert_int_equal(out.calls, 0);
    wait_calls(f, &out.calls, 1);
    assert_false(out.unavailable);
    assert_string_equal(out.level[0], "high");
    assert_int_equal(out.set[0], UF_BIT(UF_LEVEL) | UF_BIT(UF_WHITELIST));
    assert_false(out.null[1]);
    assert_int_equal(out.set[1], 0);
}

static void on_written(void *arg, int status)
{
    int *s = arg;

    s[0]++;
    s[1] = status;
}

static void writes_are_hset_and_hdel(void **state)
{
    struct fixture *f = *state;
    int result[2] = { 0, 99 };
    redisReply *r;

    NEED_REDIS(f);
    user_store_write(f->store, "bob@example.test", "greylisting", "on", on_written, result);
    wait_calls(f, &result[0], 1);
    assert_int_equal(result[1], 0);
    r = redisCommand(f->admin, "HGET %s %s", "pt:pol:{bob@example.test}", "greylisting");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "on");
    freeReplyObject(r);
    user_store_write(f->store, "bob@example.test", "greylisting", NULL, on_written, result);
    wait_calls(f, &result[0], 2);
    r = redisCommand(f->admin, "EXISTS %s", "pt:pol:{bob@example.test}");
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
}

static void a_cancelled_fetch_never_calls_back(void **state)
{
    struct fixture *f = *state;
    static const char *const addrs[] = { "a@example.test", "b@example.test" };
    struct fetched out = { 0 };
    struct user_store_req *req;

    NEED_REDIS(f);
    req = user_store_fetch(f->store, addrs, 2, on_fetch, &out);
    user_store_cancel(f->store, req);
    run_loop_ms(f->base, 50);
    assert_int_equal(out.calls, 0);
}

static void a_stopped_redis_makes_users_unavailable(void **state)
{
    struct fixture *f = *state;
    static const char *const addrs[] = { "a@example.test" };
    struct fetched out = { 0 };

    NEED_REDIS(f);
    redis_testserver_stop(&f->srv);
    user_store_fetch(f->store, addrs, 1, on_fetch, &out);
    wait_calls(f, &out.calls, 1);
    assert_true(out.unavailable);
    assert_true(out.null[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_batch_reads_each_users_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(writes_are_hset_and_hdel, setup, teardown),
        cmocka_unit_test_setup_teardown(a_cancelled_fetch_never_calls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(a_stopped_redis_makes_users_unavailable, setup,
                                        teardown),
    };

    signal(SIGPIPE, SIG_IGN); /* as the daemon does: a dead server is an error, not a signal */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
