/*
 * test_quar.c - unit tests of content/quar (the quarantine index and its API) against a
 * private redis-server (skipped when redis-server is not installed): indexing, listing with
 * filters, search, sort and pages, one entry, release and delete requests with their owner
 * and virus rules, a second release being harmless, job pops, tokens, cancellation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content/quar.h"
#include "lib/redis.h"
#include "tests/unit/redis_testserver.h"

struct fixture {
    struct redis_testserver srv;
    struct event_base *base;
    struct redis_conf conf;
    struct redis *redis;
    struct quar *q;
    redisContext *admin;
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
        return rc > 0 ? 0 : -1;
    f->conf = (struct redis_conf){ .socket = f->srv.sock, .timeout_ms = 500,
                                   .reconnect_min_ms = 50, .reconnect_max_ms = 200 };
    f->admin = redis_connect_blocking(&f->conf);
    if (f->admin == NULL)
        return -1;
    f->base = event_base_new();
    f->redis = redis_new(f->base, &f->conf, NULL, NULL);
    for (i = 0; i < 200 && redis_state(f->redis) != REDIS_STATE_UP; i++)
        run_loop_ms(f->base, 10);
    f->q = quar_new(f->base, f->redis, "node1");
    return redis_state(f->redis) == REDIS_STATE_UP ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    quar_free(f->q);
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
        if ((f)->q == NULL)                                                                  \
            skip();                                                                          \
    } while (0)

struct done {
    int calls, err;
    char text[160];
};

static void on_done(void *arg, int err, const char *text)
{
    struct done *d = arg;
    d->calls++;
    d->err = err;
    snprintf(d->text, sizeof(d->text), "%s", text);
}

static void wait_calls(struct fixture *f, const int *calls, int want)
{
    int i;
    for (i = 0; i < 300 && *calls < want; i++)
        run_loop_ms(f->base, 5);
    assert_int_equal(*calls, want);
}

static void add(struct fixture *f, const char *id, const char *rcpt, const char *sender,
                const char *subject, const char *reason, double score, long long date)
{
    struct quar_entry e = { 0 };
    struct done d = { 0 };

    snprintf(e.id, sizeof(e.id), "%s", id);
    e.rcpt = (char *)rcpt;
    e.sender = (char *)sender;
    e.from = (char *)sender;
    e.subject = (char *)subject;
    e.reason = (char *)reason;
    e.detail = (char *)reason;
    e.symbols = (char *)"TEST(1.00)";
    e.qid = (char *)"QID";
    e.score = score;
    e.date = date;
    e.size = 123;
    quar_index_add(f->q, &e, 3600, on_done, &d);
    assert_int_equal(d.calls, 0);
    wait_calls(f, &d.calls, 1);
    assert_int_equal(d.err, 0);
}

struct listed {
    int calls, err;
    size_t n, total;
    char ids[10][QUAR_ID_MAX];
    char node[32];
};

static void on_list(void *arg, int err, const struct quar_entry *e, size_t n, size_t total)
{
    struct listed *l = arg;
    size_t i;

    l->calls++;
    l->err = err;
    l->n = n;
    l->total = total;
    for (i = 0; i < n && i < 10; i++)
        snprintf(l->ids[i], sizeof(l->ids[i]), "%s", e[i].id);
    if (n)
        snprintf(l->node, sizeof(l->node), "%s", e[0].node);
}

static void list(struct fixture *f, const struct quar_query *qq, struct listed *l)
{
    memset(l, 0, sizeof(*l));
    quar_list(f->q, qq, on_list, l);
    wait_calls(f, &l->calls, 1);
    assert_int_equal(l->err, 0);
}

static void three_entries(struct fixture *f)
{
    add(f, "AAA.0", "bob@example.test", "spammer@bad.test", "Cheap pills", "spam", 7.5, 100);
    add(f, "BBB.0", "bob@example.test", "news@shop.test", "Weekly offers", "spam", 5.1, 200);
    add(f, "BBB.1", "carol@example.test", "news@shop.test", "Weekly offers", "virus", 99, 200);
}

static void listing_filters_sorts_and_pages(void **state)
{
    struct fixture *f = *state;
    struct listed l;

    NEED_REDIS(f);
    three_entries(f);
    list(f, &(struct quar_query){ 0 }, &l);
    assert_int_equal(l.total, 3);
    assert_string_equal(l.ids[0], "BBB.1");          /* newest first, then by id */
    assert_string_equal(l.node, "node1");
    list(f, &(struct quar_query){ .rcpt = "Bob@Example.test" }, &l);
    assert_int_equal(l.total, 2);
    assert_string_equal(l.ids[0], "BBB.0");
    assert_string_equal(l.ids[1], "AAA.0");
    list(f, &(struct quar_query){ .domain = "example.test", .reason = "virus" }, &l);
    assert_int_equal(l.total, 1);
    assert_string_equal(l.ids[0], "BBB.1");
    list(f, &(struct quar_query){ .search = "PILLS" }, &l);
    assert_int_equal(l.total, 1);
    assert_string_equal(l.ids[0], "AAA.0");
    list(f, &(struct quar_query){ .sort = QUAR_SORT_SCORE, .ascending = true, .offset = 1,
                                  .limit = 1 }, &l);
    assert_int_equal(l.total, 3);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ids[0], "AAA.0");
    list(f, &(struct quar_query){ .since = 150 }, &l);
    assert_int_equal(l.total, 2);
    list(f, &(struct quar_query){ .rcpt = "nobody@example.test" }, &l);
    assert_int_equal(l.total, 0);
}

struct got {
    int calls, err;
    char subject[64], reason[16];
    double score;
};

static void on_get(void *arg, int err, const struct quar_entry *e)
{
    struct got *g = arg;
    g->calls++;
    g->err = err;
    if (e) {
        snprintf(g->subject, sizeof(g->subject), "%s", e->subject);
        snprintf(g->reason, sizeof(g->reason), "%s", e->reason);
        g->score = e->score;
    }
}

static void get_reads_one_entry(void **state)
{
    struct fixture *f = *state;
    struct got g = { 0 };

    NEED_REDIS(f);
    three_entries(f);
    quar_get(f->q, "AAA.0", on_get, &g);
    wait_calls(f, &g.calls, 1);
    assert_int_equal(g.err, 0);
    assert_string_equal(g.subject, "Cheap pills");
    assert_true(g.score > 7.4 && g.score < 7.6);
    quar_get(f->q, "NOPE.0", on_get, &g);
    wait_calls(f, &g.calls, 2);
    assert_int_equal(g.err, ENOENT);
    quar_get(f->q, "../etc", on_get, &g);
    assert_int_equal(g.calls, 2);             /* never inside the call */
    wait_calls(f, &g.calls, 3);
    assert_int_equal(g.err, ENOENT);
}

static void release_queues_a_job_once_for_the_holder(void **state)
{
    struct fixture *f = *state;
    struct done d = { 0 };
    struct listed l;
    redisReply *r;

    NEED_REDIS(f);
    three_entries(f);
    quar_release(f->q, "AAA.0", "bob@example.test", QUAR_F_LEARN, on_done, &d);
    wait_calls(f, &d.calls, 1);
    assert_int_equal(d.err, 0);
    r = redisCommand(f->admin, "LRANGE pt:qj:{node1} 0 -1");
    assert_int_equal(r->elements, 1);
    assert_string_equal(r->element[0]->str, "release AAA.0 1");
    freeReplyObject(r);
    /* it left the listings at once */
    list(f, &(struct quar_query){ .rcpt = "bob@example.test" }, &l);
    assert_int_equal(l.total, 1);
    /* a second release (a link used twice) does nothing */
    quar_release(f->q, "AAA.0", "bob@example.test", 0, on_done, &d);
    wait_calls(f, &d.calls, 2);
    assert_int_equal(d.err, EALREADY);
    r = redisCommand(f->admin, "LLEN pt:qj:{node1}");
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
}

static void a_release_after_the_holder_finished_is_already_done(void **state)
{
    struct fixture *f = *state;
    struct done d = { 0 };
    redisReply *r;

    NEED_REDIS(f);
    r = redisCommand(f->admin, "SET pt:qres:{OLD.0} %s", "released NEWQID");
    freeReplyObject(r);
    quar_release(f->q, "OLD.0", "bob@example.test", 0, on_done, &d);
    wait_calls(f, &d.calls, 1);
    assert_int_equal(d.err, EALREADY);
    quar_delete(f->q, "NEVER.0", NULL, on_done, &d);
    wait_calls(f, &d.calls, 2);
    assert_int_equal(d.err, ENOENT);
}

static void release_checks_owner_and_virus(void **state)
{
    struct fixture *f = *state;
    struct done d = { 0 };

    NEED_REDIS(f);
    three_entries(f);
    quar_release(f->q, "AAA.0", "carol@example.test", 0, on_done, &d);
    wait_calls(f, &d.calls, 1);
    assert_int_equal(d.err, EPERM);
    quar_release(f->q, "AAA.0", "@other.test", 0, on_done, &d);
    wait_calls(f, &d.calls, 2);
    assert_int_equal(d.err, EPERM);
    quar_release(f->q, "BBB.1", "carol@example.test", 0, on_done, &d);
    wait_calls(f, &d.calls, 3);
    assert_int_equal(d.err, EPERM);            /* virus: admins only */
    quar_release(f->q, "BBB.1", NULL, QUAR_F_ADMIN, on_done, &d);
    wait_calls(f, &d.calls, 4);
    assert_int_equal(d.err, 0);
    quar_delete(f->q, "AAA.0", "@example.test", on_done, &d);
    wait_calls(f, &d.calls, 5);
    assert_int_equal(d.err, 0);
    quar_release(f->q, "NOPE.1", NULL, QUAR_F_ADMIN, on_done, &d);
    wait_calls(f, &d.calls, 6);
    assert_int_equal(d.err, ENOENT);
}

struct popped {
    int calls, err;
    char job[80];
    bool none;
};

static void on_pop(void *arg, int err, const char *job)
{
    struct popped *p = arg;
    p->calls++;
    p->err = err;
    p->none = job == NULL;
    snprintf(p->job, sizeof(p->job), "%s", job ? job : "");
}

static void the_holder_pops_its_jobs_and_removes_entries(void **state)
{
    struct fixture *f = *state;
    struct done d = { 0 };
    struct popped p = { 0 };
    redisReply *r;

    NEED_REDIS(f);
    three_entries(f);
    quar_delete(f->q, "BBB.0", NULL, on_done, &d);
    wait_calls(f, &d.calls, 1);
    quar_jobs_pop(f->q, on_pop, &p);
    wait_calls(f, &p.calls, 1);
    assert_string_equal(p.job, "delete BBB.0");
    quar_jobs_pop(f->q, on_pop, &p);
    wait_calls(f, &p.calls, 2);
    assert_true(p.none);
    assert_int_equal(p.err, 0);
    quar_index_remove(f->q, "BBB.0", "bob@example.test", on_done, &d);
    wait_calls(f, &d.calls, 2);
    assert_int_equal(d.err, 0);
    r = redisCommand(f->admin, "EXISTS pt:q:{BBB.0}");
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    r = redisCommand(f->admin, "ZCARD pt:qa:{all}");
    assert_int_equal(r->integer, 2);
    freeReplyObject(r);
    r = redisCommand(f->admin, "TTL pt:q:{AAA.0}");
    assert_true(r->integer > 3500 && r->integer <= 3600);
    freeReplyObject(r);
}

static void a_token_releases_its_own_entry_once(void **state)
{
    struct fixture *f = *state;
    static const char key[] = "a-test-key-of-enough-length";
    struct done d = { 0 };
    char *tok, *eve;

    NEED_REDIS(f);
    three_entries(f);
    tok = quar_token_make(key, sizeof(key) - 1, "AAA.0", "bob@example.test",
                          QUAR_ACT_RELEASE_LEARN, 5000);
    eve = quar_token_make(key, sizeof(key) - 1, "AAA.0", "carol@example.test",
                          QUAR_ACT_RELEASE, 5000);
    quar_release_token(f->q, key, sizeof(key) - 1, eve, 1000, on_done, &d);
    wait_calls(f, &d.calls, 1);
    assert_int_equal(d.err, EPERM);           /* carol's token cannot release bob's entry */
    quar_release_token(f->q, key, sizeof(key) - 1, tok, 6000, on_done, &d);
    wait_calls(f, &d.calls, 2);
    assert_int_equal(d.err, ETIMEDOUT);
    quar_release_token(f->q, key, sizeof(key) - 1, "forged.token", 1000, on_done, &d);
    wait_calls(f, &d.calls, 3);
    assert_int_equal(d.err, EINVAL);
    quar_release_token(f->q, key, sizeof(key) - 1, tok, 1000, on_done, &d);
    wait_calls(f, &d.calls, 4);
    assert_int_equal(d.err, 0);
    quar_release_token(f->q, key, sizeof(key) - 1, tok, 1000, on_done, &d);
    wait_calls(f, &d.calls, 5);
    assert_int_equal(d.err, EALREADY);
    free(tok);
    free(eve);
}

static void a_cancelled_operation_never_calls_back(void **state)
{
    struct fixture *f = *state;
    struct listed l = { 0 };
    struct done d = { 0 };
    struct quar_op *op;

    NEED_REDIS(f);
    three_entries(f);
    op = quar_list(f->q, &(struct quar_query){ 0 }, on_list, &l);
    quar_cancel(op);
    op = quar_release(f->q, "bad/id", NULL, 0, on_done, &d);
    quar_cancel(op);
    run_loop_ms(f->base, 50);
    assert_int_equal(l.calls, 0);
    assert_int_equal(d.calls, 0);
}

static void reasons_are_classified(void **state)
{
    (void)state;
    assert_string_equal(quar_reason_of("virus Eicar-Signature", ""), "virus");
    assert_string_equal(quar_reason_of("blocked file exe", ""), "file");
    assert_string_equal(quar_reason_of("dmarc", ""), "dmarc");
    assert_string_equal(quar_reason_of("spam", "BLACKLIST(100.00)"), "list");
    assert_string_equal(quar_reason_of("spam", "BAYES(5.00)"), "spam");
    assert_string_equal(quar_reason_of(NULL, NULL), "spam");
    assert_true(quar_id_valid("5BN6Xh6QXkzm0xr.12"));
    assert_false(quar_id_valid("a/b"));
    assert_false(quar_id_valid(""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(listing_filters_sorts_and_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(get_reads_one_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(release_queues_a_job_once_for_the_holder, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(release_checks_owner_and_virus, setup, teardown),
        cmocka_unit_test_setup_teardown(a_release_after_the_holder_finished_is_already_done,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(the_holder_pops_its_jobs_and_removes_entries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_token_releases_its_own_entry_once, setup, teardown),
        cmocka_unit_test_setup_teardown(a_cancelled_operation_never_calls_back, setup,
                                        teardown),
        cmocka_unit_test(reasons_are_classified),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
