/*
 * test_spam_learner.c - the daemon's asynchronous autolearn writer (content/spam_learner.h)
 * against a private redis-server: what it merges is exactly what `posternctl spam learn`
 * (spam_store_learn) would have stored for the same messages, a message (by its digest)
 * is learned once (until the model is forgotten), the per-node rate holds, a model changed
 * by another writer meanwhile is merged into (not overwritten), and Redis down skips
 * without delay. Also the digest:
 * the same message with other trace fields is the same, another body is not.
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

#include "content/spam_autolearn.h"
#include "content/spam_learner.h"
#include "content/spam_model.h"
#include "content/spam_score.h"
#include "content/spam_store.h"
#include "lib/redis.h"
#include "tests/unit/redis_testserver.h"

struct fixture {
    struct redis_testserver srv;
    struct event_base *base;
    struct redis_conf conf;
    struct redis *redis;
    redisContext *admin;
    struct spam_learner *l;
};

static const char msg_spam[] =
    "From: Winner <win@lottery.test>\r\nTo: you@example.test\r\nSubject: You won\r\n"
    "Message-ID: <s1@lottery.test>\r\n\r\n"
    "Claim your prize now, click here to receive the million dollars today.\r\n";
static const char msg_ham[] =
    "From: Alice <alice@example.org>\r\nTo: bob@example.net\r\nSubject: Lunch\r\n"
    "Message-ID: <h1@example.org>\r\n\r\n"
    "Shall we have lunch on Friday at the usual place? The soup looks good.\r\n";

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
        return rc > 0 ? 0 : -1;
    f->conf = (struct redis_conf){ .socket = f->srv.sock, .timeout_ms = 2000,
                                   .reconnect_min_ms = 50, .reconnect_max_ms = 200 };
    f->admin = redis_connect_blocking(&f->conf);
    if (f->admin == NULL)
        return -1;
    f->base = event_base_new();
    f->redis = redis_new(f->base, &f->conf, NULL, NULL);
    f->l = spam_learner_new(f->base, f->redis, NULL, 10);
    for (i = 0; i < 200 && redis_state(f->redis) != REDIS_STATE_UP; i++)
        run_loop_ms(f->base, 10);
    return redis_state(f->redis) == REDIS_STATE_UP ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    spam_learner_free(f->l);
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

#define NEED_REDIS(f)            \
    do {                         \
        if ((f)->l == NULL)      \
            skip();              \
    } while (0)

/* The message's features, malloc'd (the learner takes them). */
static uint64_t *features(const char *msg, size_t *n)
{
    struct spam_features f = { 0 };
    uint64_t *v;

    spam_analyze(msg, strlen(msg), &f, NULL);
    v = malloc((f.n + 1) * sizeof(*v));
    memcpy(v, f.v, f.n * sizeof(*v));
    *n = f.n;
    spam_features_free(&f);
    return v;
}

static void add(struct fixture *f, const char *qid, const char *msg, bool spam, long long rate)
{
    char digest[SPAM_AL_DIGEST_LEN + 1];
    size_t n;
    uint64_t *v = features(msg, &n);

    spam_al_digest(msg, strlen(msg), digest);
    spam_learner_add(f->l, qid, spam, spam ? 15.0 : -1.0, digest, v, n, rate);
}

static void settle(struct fixture *f)
{
    int i;

    for (i = 0; i < 500 && spam_learner_busy(f->l) > 0; i++)
        run_loop_ms(f->base, 10);
    assert_int_equal(spam_learner_busy(f->l), 0);
}

/* Every feature of a has the counts it has in b, and the totals agree. */
static void assert_same_model(const struct spam_model *a, const struct spam_model *b)
{
    size_t i;

    assert_int_equal(a->nspam, b->nspam);
    assert_int_equal(a->nham, b->nham);
    assert_int_equal(a->used, b->used);
    for (i = 0; i < a->cap; i++) {
        const struct spam_entry *e = &a->tab[i], *o;
        if (e->key == 0)
            continue;
        o = spam_model_get(b, e->key);
        assert_non_null(o);
        assert_int_equal(e->ns, o->ns);
        assert_int_equal(e->nh, o->nh);
    }
}

static void it_stores_what_posternctl_learn_stores(void **state)
{
    struct fixture *f = *state;
    struct spam_model got, want;
    unsigned long long ver = 0;

    NEED_REDIS(f);
    add(f, "Q1", msg_spam, true, 60);
    add(f, "Q2", msg_ham, false, 60);
    settle(f);
    assert_int_equal(spam_store_load(f->admin, &got, &ver), 0);
    assert_true(ver >= 1);
    spam_model_init(&want, 64);
    spam_score_learn(&want, msg_spam, strlen(msg_spam), true, +1);
    spam_score_learn(&want, msg_ham, strlen(msg_ham), false, +1);
    assert_same_model(&got, &want);
    spam_model_clear(&got);
    spam_model_clear(&want);
}

static void it_merges_into_what_another_writer_stored(void **state)
{
    struct fixture *f = *state;
    struct spam_model got, want, delta;

    NEED_REDIS(f);
    /* posternctl learns the ham first; the autolearned spam is added to it */
    spam_model_init(&delta, 64);
    spam_score_learn(&delta, msg_ham, strlen(msg_ham), false, +1);
    assert_int_equal(spam_store_learn(f->admin, &delta, +1, 0, 0), 0);
    spam_model_clear(&delta);
    add(f, "Q1", msg_spam, true, 60);
    settle(f);
    assert_int_equal(spam_store_load(f->admin, &got, NULL), 0);
    spam_model_init(&want, 64);
    spam_score_learn(&want, msg_spam, strlen(msg_spam), true, +1);
    spam_score_learn(&want, msg_ham, strlen(msg_ham), false, +1);
    assert_same_model(&got, &want);
    spam_model_clear(&got);
    spam_model_clear(&want);
}

static void two_nodes_learning_at_once_lose_nothing(void **state)
{
    struct fixture *f = *state;
    struct redis *r2;
    struct spam_learner *l2;
    struct spam_model got, want;
    char digest[SPAM_AL_DIGEST_LEN + 1];
    uint64_t *v;
    size_t n;
    int i;

    NEED_REDIS(f);
    /* a second node: its own connection and learner; both merge into the same shards at
     * the same time, so one's compare-and-set fails and it merges again */
    r2 = redis_new(f->base, &f->conf, NULL, NULL);
    for (i = 0; i < 200 && redis_state(r2) != REDIS_STATE_UP; i++)
        run_loop_ms(f->base, 10);
    l2 = spam_learner_new(f->base, r2, NULL, 10);
    add(f, "Q1", msg_spam, true, 60);
    v = features(msg_ham, &n);
    spam_al_digest(msg_ham, strlen(msg_ham), digest);
    spam_learner_add(l2, "Q2", false, -1.0, digest, v, n, 60);
    for (i = 0; i < 500 && spam_learner_busy(l2) > 0; i++)
        run_loop_ms(f->base, 10);
    settle(f);
    assert_int_equal(spam_learner_busy(l2), 0);
    assert_int_equal(spam_store_load(f->admin, &got, NULL), 0);
    spam_model_init(&want, 64);
    spam_score_learn(&want, msg_spam, strlen(msg_spam), true, +1);
    spam_score_learn(&want, msg_ham, strlen(msg_ham), false, +1);
    assert_same_model(&got, &want);
    spam_model_clear(&got);
    spam_model_clear(&want);
    spam_learner_free(l2);
    redis_free(r2);
}

static void a_message_is_learned_once(void **state)
{
    struct fixture *f = *state;
    struct spam_store_stats st;

    NEED_REDIS(f);
    add(f, "Q1", msg_spam, true, 60);
    settle(f);
    add(f, "Q2", msg_spam, true, 60);      /* the same message again */
    add(f, "Q3", msg_spam, false, 60);     /* ... even as the other class */
    settle(f);
    assert_int_equal(spam_store_stats(f->admin, &st), 0);
    assert_int_equal(st.nspam, 1);
    assert_int_equal(st.nham, 0);
    /* forgetting the model forgets the marks too: it may be learned again */
    assert_int_equal(spam_store_forget(f->admin), 0);
    add(f, "Q4", msg_spam, true, 60);
    settle(f);
    assert_int_equal(spam_store_stats(f->admin, &st), 0);
    assert_int_equal(st.nspam, 1);
}

static void the_rate_caps_autolearns_per_minute(void **state)
{
    struct fixture *f = *state;
    struct spam_store_stats st;
    char msg[512];
    int i;

    NEED_REDIS(f);
    for (i = 0; i < 5; i++) {
        snprintf(msg, sizeof(msg), "From: a@b.test\r\nMessage-ID: <%d@b.test>\r\n\r\n"
                 "message number %d of the rate test\r\n", i, i);
        add(f, "Q", msg, true, 3);
    }
    settle(f);
    assert_int_equal(spam_store_stats(f->admin, &st), 0);
    assert_int_equal(st.nspam, 3);
}

static void redis_down_skips_at_once(void **state)
{
    struct fixture *f = *state;
    int i;

    NEED_REDIS(f);
    redis_testserver_stop(&f->srv);
    for (i = 0; i < 100 && redis_state(f->redis) == REDIS_STATE_UP; i++)
        run_loop_ms(f->base, 10);
    add(f, "Q1", msg_spam, true, 60);
    assert_int_equal(spam_learner_busy(f->l), 0);
}

static void the_digest_ignores_trace_fields(void **state)
{
    static const char a[] = "Received: from x by y; Fri, 4 Dec 2026 10:00:00 +0000\r\n"
                            "Message-ID: <m1@example.org>\r\nSubject: hi\r\n\r\nbody\r\n";
    static const char b[] = "Received: from z by w; Fri, 4 Dec 2026 11:00:00 +0000\r\n"
                            "Received: from q by z; Fri, 4 Dec 2026 11:00:00 +0000\r\n"
                            "Message-ID:   <m1@example.org>\r\nSubject: hi\r\n\r\nbody\r\n";
    static const char c[] = "Message-ID: <m1@example.org>\r\nSubject: hi\r\n\r\nbody!\r\n";
    static const char d[] = "Message-ID: <m2@example.org>\r\nSubject: hi\r\n\r\nbody\r\n";
    char da[33], db[33], dc[33], dd[33];

    (void)state;
    spam_al_digest(a, strlen(a), da);
    spam_al_digest(b, strlen(b), db);
    spam_al_digest(c, strlen(c), dc);
    spam_al_digest(d, strlen(d), dd);
    assert_int_equal(strlen(da), 32);
    assert_string_equal(da, db);
    assert_string_not_equal(da, dc);
    assert_string_not_equal(da, dd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(it_stores_what_posternctl_learn_stores, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(it_merges_into_what_another_writer_stored, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(two_nodes_learning_at_once_lose_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_message_is_learned_once, setup, teardown),
        cmocka_unit_test_setup_teardown(the_rate_caps_autolearns_per_minute, setup, teardown),
        cmocka_unit_test_setup_teardown(redis_down_skips_at_once, setup, teardown),
        cmocka_unit_test(the_digest_ignores_trace_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
