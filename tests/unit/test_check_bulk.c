/*
 * test_check_bulk.c - bulk detection: fingerprints that survive personalisation
 * (content/spam_bulk.c), and the bulk check (policy/checks/check_bulk.c) through the
 * engine against a private redis-server, with two engines ("nodes") sharing it: a body
 * sent to more than `recipients` distinct recipients by unrelated senders is BULK, by
 * one sender BULK_SINGLE, with List-Unsubscribe and a valid DKIM signature
 * BULK_SOLICITED; distinct bodies are not counted together.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "content/spam_bulk.h"
#include "lib/redis.h"
#include "policy/engine.h"
#include "policy/outage.h"
#include "policy/user_store.h"
#include "tests/unit/engine_testharness.h"
#include "tests/unit/redis_testserver.h"

/* ---- fingerprints --------------------------------------------------------------------- */

static char *letter(const char *name, const char *rcpt, int order, const char *track)
{
    char *m = NULL;

    assert_true(asprintf(&m,
        "From: Shop <news@shop.example>\r\nTo: %s <%s>\r\nSubject: Your offer\r\n"
        "Content-Type: text/plain\r\n\r\n"
        "Dear %s,\r\n\r\nthank you for your order %d. This week only we have a special "
        "discount on all garden furniture and outdoor lamps, and free delivery for orders "
        "above the usual amount. Visit https://shop.example/t/%s?u=%s to see the offers. "
        "Your customer number is %d.\r\n\r\nKind regards, the shop team\r\n",
        name, rcpt, name, order, track, rcpt, order * 7) > 0);
    return m;
}

static size_t shared(const struct spam_bulk_info *a, const struct spam_bulk_info *b)
{
    size_t i, n = 0;

    for (i = 0; i < a->nfp && i < b->nfp; i++)
        n += a->fp[i] == b->fp[i];
    return n;
}

static void personalised_copies_share_their_fingerprints(void **state)
{
    char *a = letter("John Smith", "john@a.test", 1234, "x9f3k"), *b =
        letter("Mary", "mary.jones@b.test", 98765, "q2z8m");
    char *c = strdup("From: x@y.test\r\n\r\nA completely different text about the annual "
                     "general meeting of the rowing club, the budget, the new boat house "
                     "and the election of the board for the coming season.\r\n");
    struct spam_bulk_info ia, ib, ic, id;

    (void)state;
    spam_bulk_analyze(a, strlen(a), "john@a.test", &ia);
    spam_bulk_analyze(b, strlen(b), "mary.jones@b.test", &ib);
    spam_bulk_analyze(c, strlen(c), "z@a.test", &ic);
    spam_bulk_analyze("Subject: hi\r\n\r\nshort note\r\n", 26, NULL, &id);
    assert_int_equal(ia.nfp, SPAM_BULK_FPS);
    assert_int_equal(shared(&ia, &ib), SPAM_BULK_FPS);
    assert_int_equal(shared(&ia, &ic), 0);
    assert_int_equal(id.nfp, 0);
    assert_string_equal(ia.from_domain, "shop.example");
    assert_false(ia.list_unsubscribe);
    free(a);
    free(b);
    free(c);
}

/* ---- the check, two nodes on one Redis ---------------------------------------------------- */

struct node {
    struct redis_conf rconf;
    struct redis *redis;
    struct engine *e;
    struct pt_root cfg;
};

struct fx {
    struct redis_testserver srv;
    struct event_base *base;
    struct outage *outages;
    struct workpool *pool;
    struct user_store *store;
    struct node n[2];
};

static struct fx *fx;

static void on_event(void *arg, const char *type, json_t *data)
{
    (void)arg;
    (void)type;
    json_decref(data);
}

static void loop_ms(int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    event_base_loopexit(fx->base, &tv);
    event_base_dispatch(fx->base);
}

static int setup(void **state)
{
    int i, k;

    (void)state;
    fx = calloc(1, sizeof(*fx));
    if (redis_testserver_start(&fx->srv) != 0)
        return 0;
    fx->base = event_base_new();
    fx->outages = outage_new(on_event, fx);
    fx->store = user_store_memory_new(fx->base);
    fx->pool = workpool_new_bounded(fx->base, 1, 8);
    for (k = 0; k < 2; k++) {
        struct engine_env env = {
            .base = fx->base, .outages = fx->outages, .check_pool = fx->pool,
            .hostname = "mx.test", .event = on_event, .event_arg = fx,
        };

        fx->n[k].rconf = (struct redis_conf){ .socket = fx->srv.sock, .timeout_ms = 1000,
                                              .reconnect_min_ms = 50, .reconnect_max_ms = 200 };
        fx->n[k].redis = redis_new(fx->base, &fx->n[k].rconf, NULL, NULL);
        for (i = 0; i < 200 && redis_state(fx->n[k].redis) != REDIS_STATE_UP; i++)
            loop_ms(10);
        env.redis = fx->n[k].redis;
        fx->n[k].e = eh_engine_new("{\"relay\": {\"local_domains\": [\"a.test\"]},"
                    " \"policy\": {\"profiles\": {\"p\": {\"checks\": {\"bulk\":"
                    "   {\"recipients\": 3, \"senders\": 2, \"window\": \"1m\"}}}}}}",
                                   &fx->n[k].cfg, &env, fx->store);
    }
    return 0;
}

static int teardown(void **state)
{
    int k;

    (void)state;
    for (k = 0; k < 2 && fx->base; k++) {
        engine_free(fx->n[k].e);
        pt_free(&fx->n[k].cfg);
    }
    if (fx->pool)
        workpool_free(fx->pool);
    for (k = 0; k < 2; k++)
        if (fx->n[k].redis)
            redis_free(fx->n[k].redis);
    if (fx->store)
        user_store_free(fx->store);
    if (fx->outages)
        outage_free(fx->outages);
    if (fx->base)
        event_base_free(fx->base);
    redis_testserver_stop(&fx->srv);
    free(fx);
    return 0;
}

#define NEED_REDIS()                                                              \
    do {                                                                          \
        if (fx->base == NULL || redis_state(fx->n[0].redis) != REDIS_STATE_UP)    \
            skip();                                                               \
    } while (0)

static void run(struct engine_session *s, enum engine_stage st)
{
    eh_run(fx->base, s, st);
}

/* One message through node k; returns the bulk symbol it got ("" if none). */
static const char *deliver(int k, const char *sender, const char *rcpt, const char *msg,
                           bool dkim_from)
{
    static char sym[32];
    struct engine_session *s = engine_session_new(fx->n[k].e,
                                                  engine_profile_find(fx->n[k].e, "p"),
                                                  "mx", "192.0.2.10");
    struct engine_message m;
    const struct rcpt_result *r;
    FILE *f = tmpfile();
    size_t i;

    run(s, STAGE_CONNECT);
    engine_tx_begin(s, sender, "QID1");
    run(s, STAGE_MAIL);
    engine_rcpt_add(s, rcpt);
    run(s, STAGE_RCPT);
    run(s, STAGE_DATA);
    if (dkim_from)
        engine_fact_set(s, FACT_TX, "dkim.pass_domains", json_pack("[s]", "shop.example"));
    fwrite(msg, 1, strlen(msg), f);
    fflush(f);
    m = (struct engine_message){ .fd = fileno(f), .offset = 0, .size = strlen(msg) };
    engine_set_message(s, &m);
    run(s, STAGE_END);
    r = engine_result(s, 0);
    assert_non_null(r);
    sym[0] = '\0';
    for (i = 0; i < r->nsyms; i++)
        if (strncmp(r->syms[i].name, "BULK", 4) == 0)
            snprintf(sym, sizeof(sym), "%s", r->syms[i].name);
    engine_session_free(s);
    fclose(f);
    return sym;
}

static void many_recipients_from_unrelated_senders_on_two_nodes_is_bulk(void **state)
{
    static const char *const senders[] = { "a@one.test", "b@two.test", "c@three.test",
                                           "d@one.test", "e@two.test" };
    char rcpt[64], name[32], *m;
    int i;

    (void)state;
    NEED_REDIS();
    for (i = 0; i < 5; i++) {
        const char *sym;
        snprintf(rcpt, sizeof(rcpt), "user%c@a.test", 'a' + i);
        snprintf(name, sizeof(name), "User %c", 'A' + i);
        m = letter(name, rcpt, 100 + i, i % 2 ? "aaa" : "bbb");
        sym = deliver(i % 2, senders[i], rcpt, m, false);     /* alternating nodes */
        if (i < 3)
            assert_string_equal(sym, "");                      /* 1..3 recipients */
        else
            assert_string_equal(sym, "BULK");                  /* 4th, 5th: > 3 */
        free(m);
    }
    /* another body is counted apart */
    m = strdup("From: x@y.test\r\n\r\nA completely different text about the annual "
               "general meeting of the rowing club, the budget, the new boat house "
               "and the election of the board for the coming season.\r\n");
    assert_string_equal(deliver(0, "z@four.test", "usera@a.test", m, false), "");
    free(m);
}

static void one_sender_is_single_and_with_unsubscribe_and_dkim_solicited(void **state)
{
    char rcpt[64], *m, *m2;
    const char *sym = "";
    int i;

    (void)state;
    NEED_REDIS();
    for (i = 0; i < 5; i++) {
        snprintf(rcpt, sizeof(rcpt), "r%d@a.test", i);
        m = letter("Reader", rcpt, i, "t");
        sym = deliver(i % 2, "news@shop.example", rcpt, m, false);
        free(m);
    }
    assert_string_equal(sym, "BULK_SINGLE");
    m = letter("Reader", "r9@a.test", 9, "t");
    assert_true(asprintf(&m2, "List-Unsubscribe: <mailto:unsub@shop.example>\r\n%s", m) > 0);
    assert_string_equal(deliver(0, "news@shop.example", "r9@a.test", m2, true),
                        "BULK_SOLICITED");
    /* unsubscribe header without a DKIM signature of the From domain: not solicited */
    assert_string_equal(deliver(1, "news@shop.example", "r10@a.test", m2, false),
                        "BULK_SINGLE");
    free(m);
    free(m2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(personalised_copies_share_their_fingerprints),
        cmocka_unit_test_setup_teardown(
            many_recipients_from_unrelated_senders_on_two_nodes_is_bulk, setup, teardown),
        cmocka_unit_test_setup_teardown(
            one_sender_is_single_and_with_unsubscribe_and_dkim_solicited, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
