/*
 * test_account_cache.c - the node's memory of logins' suspension states
 * (policy/account_cache.h): what it keeps, when it forgets, and the key watch of
 * lib/redis.h against a private redis-server (skipped when redis-server is missing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/redis.h"
#include "policy/account_cache.h"
#include "redis_testserver.h"

#define AGE 10000

static struct account_cache *valid_cache(void)
{
    struct account_cache *ac = account_cache_new(AGE);

    account_cache_set_valid(ac, true);
    return ac;
}

static void answers_are_remembered_per_login_case_insensitively(void **state)
{
    struct account_cache *ac = valid_cache();

    (void)state;
    assert_int_equal(account_cache_get(ac, "alice@example.test", 0), ACCOUNT_UNKNOWN);
    account_cache_put(ac, "alice@example.test", false, account_cache_epoch(ac), 0);
    account_cache_put(ac, "bob@example.test", true, account_cache_epoch(ac), 0);
    assert_int_equal(account_cache_get(ac, "Alice@Example.test", 5), ACCOUNT_ACTIVE);
    assert_int_equal(account_cache_get(ac, "bob@example.test", 5), ACCOUNT_SUSPENDED);
    assert_int_equal(account_cache_get(ac, "carol@example.test", 5), ACCOUNT_UNKNOWN);
    assert_int_equal(account_cache_size(ac), 2);
    account_cache_free(ac);
}

static void a_change_of_the_logins_keys_forgets_only_that_login(void **state)
{
    struct account_cache *ac = valid_cache();
    static const char k1[] = "pt:acct:{alice@example.test}";
    static const char k2[] = "pt:acct:{bob@example.test}:strikes";

    (void)state;
    account_cache_put(ac, "alice@example.test", false, account_cache_epoch(ac), 0);
    account_cache_put(ac, "bob@example.test", false, account_cache_epoch(ac), 0);
    account_cache_put(ac, "carol@example.test", false, account_cache_epoch(ac), 0);
    account_cache_invalidate(ac, k1, strlen(k1));
    assert_int_equal(account_cache_get(ac, "alice@example.test", 1), ACCOUNT_UNKNOWN);
    account_cache_invalidate(ac, k2, strlen(k2));
    assert_int_equal(account_cache_get(ac, "bob@example.test", 1), ACCOUNT_UNKNOWN);
    assert_int_equal(account_cache_get(ac, "carol@example.test", 1), ACCOUNT_ACTIVE);
    account_cache_invalidate(ac, NULL, 0);   /* a flush */
    assert_int_equal(account_cache_get(ac, "carol@example.test", 1), ACCOUNT_UNKNOWN);
    assert_int_equal(account_cache_size(ac), 0);
    account_cache_free(ac);
}

static void an_answer_that_raced_with_a_change_is_not_kept(void **state)
{
    struct account_cache *ac = valid_cache();
    static const char key[] = "pt:acct:{someone@else.test}";
    unsigned long long epoch = account_cache_epoch(ac);   /* the HGET goes out */

    (void)state;
    account_cache_invalidate(ac, key, strlen(key));       /* any change meanwhile */
    account_cache_put(ac, "alice@example.test", false, epoch, 0);   /* then the answer */
    assert_int_equal(account_cache_get(ac, "alice@example.test", 0), ACCOUNT_UNKNOWN);
    account_cache_free(ac);
}

static void nothing_is_known_while_the_watch_is_down(void **state)
{
    struct account_cache *ac = account_cache_new(AGE);   /* not watching yet */
    unsigned long long epoch;

    (void)state;
    account_cache_put(ac, "alice@example.test", false, account_cache_epoch(ac), 0);
    assert_int_equal(account_cache_get(ac, "alice@example.test", 0), ACCOUNT_UNKNOWN);
    account_cache_set_valid(ac, true);
    epoch = account_cache_epoch(ac);
    account_cache_put(ac, "alice@example.test", false, epoch, 0);
    assert_int_equal(account_cache_get(ac, "alice@example.test", 0), ACCOUNT_ACTIVE);
    account_cache_set_valid(ac, false);                     /* the watch is lost */
    assert_int_equal(account_cache_get(ac, "alice@example.test", 0), ACCOUNT_UNKNOWN);
    account_cache_set_valid(ac, true);                      /* back: starts empty */
    assert_int_equal(account_cache_get(ac, "alice@example.test", 0), ACCOUNT_UNKNOWN);
    account_cache_put(ac, "alice@example.test", false, epoch, 0);  /* asked before: dropped */
    assert_int_equal(account_cache_get(ac, "alice@example.test", 0), ACCOUNT_UNKNOWN);
    account_cache_free(ac);
}

static void answers_are_trusted_for_max_age_only(void **state)
{
    struct account_cache *ac = valid_cache();

    (void)state;
    account_cache_put(ac, "alice@example.test", true, account_cache_epoch(ac), 1000);
    assert_int_equal(account_cache_get(ac, "alice@example.test", 1000 + AGE - 1),
                     ACCOUNT_SUSPENDED);
    assert_int_equal(account_cache_get(ac, "alice@example.test", 1000 + AGE), ACCOUNT_UNKNOWN);
    assert_int_equal(account_cache_size(ac), 0);
    account_cache_set_max_age(ac, 0);                       /* account.cache 0: off */
    account_cache_put(ac, "alice@example.test", true, account_cache_epoch(ac), 1000);
    assert_int_equal(account_cache_get(ac, "alice@example.test", 1000), ACCOUNT_UNKNOWN);
    account_cache_free(ac);
}

struct heard {
    int calls;
    char tag[64];                 /* the last tag, "*" for NULL */
};

static void on_heard(void *arg, const char *tag, size_t len)
{
    struct heard *h = arg;

    h->calls++;
    snprintf(h->tag, sizeof(h->tag), "%.*s", tag ? (int)len : 1, tag ? tag : "*");
}

static void the_listener_hears_each_change_after_the_cache_applied_it(void **state)
{
    struct account_cache *ac = account_cache_new(AGE);
    static const char k1[] = "pt:acct:{bob@example.test}:strikes";
    static const char other[] = "pt:other";
    struct heard h = { 0, "" };

    (void)state;
    account_cache_on_change(ac, on_heard, &h);
    account_cache_set_valid(ac, true);                      /* (re)started: anything */
    assert_int_equal(h.calls, 1);
    assert_string_equal(h.tag, "*");
    assert_true(account_cache_valid(ac));
    account_cache_invalidate(ac, k1, strlen(k1));
    assert_int_equal(h.calls, 2);
    assert_string_equal(h.tag, "bob@example.test");
    account_cache_invalidate(ac, other, strlen(other));     /* not under pt:acct:{ */
    assert_int_equal(h.calls, 2);
    account_cache_set_valid(ac, false);                     /* lost: nothing to say yet */
    assert_int_equal(h.calls, 2);
    assert_false(account_cache_valid(ac));
    account_cache_on_change(ac, NULL, NULL);
    account_cache_invalidate(ac, NULL, 0);
    assert_int_equal(h.calls, 2);
    account_cache_free(ac);
}

/* ---- the watch, against a real redis-server ---- */

static void loop_ms(struct event_base *base, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
}

static void redis_cmd(redisContext *c, const char *cmd)
{
    freeReplyObject(redisCommand(c, cmd));
}

static void writes_by_any_client_reach_the_watch(void **state)
{
    struct redis_testserver srv = { .pid = 0 };
    struct redis_conf conf = { .timeout_ms = 500, .reconnect_min_ms = 50,
                               .reconnect_max_ms = 200 };
    struct account_cache *ac;
    struct event_base *base;
    redisContext *cli;
    int i;

    (void)state;
    if (redis_testserver_start(&srv) != 0) {
        skip();
        return;
    }
    conf.socket = srv.sock;
    base = event_base_new();
    ac = account_cache_new(AGE);
    assert_int_equal(account_cache_watch(ac, base, &conf), 0);
    account_cache_put(ac, "alice@example.test", false, account_cache_epoch(ac), 0);
    for (i = 0; i < 200 && account_cache_size(ac) == 0; i++) {
        loop_ms(base, 10);
        account_cache_put(ac, "alice@example.test", false, account_cache_epoch(ac), 0);
    }
    assert_int_equal(account_cache_get(ac, "alice@example.test", 0), ACCOUNT_ACTIVE);

    cli = redisConnectUnix(srv.sock);
    assert_non_null(cli);
    /* another node suspends alice (a write to her key): the watch forgets her */
    redis_cmd(cli, "HSET pt:acct:{alice@example.test} suspended 1");
    for (i = 0; i < 200 && account_cache_size(ac) > 0; i++)
        loop_ms(base, 10);
    assert_int_equal(account_cache_get(ac, "alice@example.test", 0), ACCOUNT_UNKNOWN);

    /* a key outside the prefix changes nothing */
    account_cache_put(ac, "alice@example.test", true, account_cache_epoch(ac), 0);
    redis_cmd(cli, "SET pt:rl:{alice@example.test}:default 1");
    loop_ms(base, 50);
    assert_int_equal(account_cache_get(ac, "alice@example.test", 0), ACCOUNT_SUSPENDED);

    /* a release (DEL, as posternctl account release) is seen as well */
    redis_cmd(cli, "DEL pt:acct:{alice@example.test}");
    for (i = 0; i < 200 && account_cache_size(ac) > 0; i++)
        loop_ms(base, 10);
    assert_int_equal(account_cache_get(ac, "alice@example.test", 0), ACCOUNT_UNKNOWN);

    /* Redis goes away: nothing is trusted until the watch is back */
    account_cache_put(ac, "alice@example.test", false, account_cache_epoch(ac), 0);
    redisFree(cli);
    redis_testserver_stop(&srv);
    for (i = 0; i < 200 && account_cache_size(ac) > 0; i++)
        loop_ms(base, 10);
    assert_int_equal(account_cache_get(ac, "alice@example.test", 0), ACCOUNT_UNKNOWN);
    account_cache_put(ac, "alice@example.test", false, account_cache_epoch(ac), 0);
    assert_int_equal(account_cache_get(ac, "alice@example.test", 0), ACCOUNT_UNKNOWN);
    account_cache_free(ac);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answers_are_remembered_per_login_case_insensitively),
        cmocka_unit_test(a_change_of_the_logins_keys_forgets_only_that_login),
        cmocka_unit_test(an_answer_that_raced_with_a_change_is_not_kept),
        cmocka_unit_test(nothing_is_known_while_the_watch_is_down),
        cmocka_unit_test(answers_are_trusted_for_max_age_only),
        cmocka_unit_test(the_listener_hears_each_change_after_the_cache_applied_it),
        cmocka_unit_test(writes_by_any_client_reach_the_watch),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
