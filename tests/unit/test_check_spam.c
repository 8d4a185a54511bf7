/*
 * test_check_spam.c - the spam check (policy/checks/check_spam.c) in the policy engine,
 * with a real loop and check pool: a plain message passes untouched, GTUBE is refused at
 * END by the recipient's kill level (and only marked for a level whose kill it does not
 * reach), the classifier's verdict comes as a weighted BAYES_ symbol from the model in
 * use, and a symbol score override of the config applies to it.
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

#include "content/spam_score.h"
#include "content/spam_snapshot.h"
#include "policy/checks/check_spam.h"
#include "policy/engine.h"
#include "policy/outage.h"
#include "policy/user_store.h"
#include "tests/unit/engine_testharness.h"

#define GTUBE_BODY "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
#define HEAD "From: Alice <alice@sender.test>\r\nTo: bob@a.test\r\n" \
             "Date: Fri, 04 Dec 2026 12:00:00 +0000\r\nMessage-ID: <1@sender.test>\r\n"

struct fx {
    struct event_base *base;
    struct pt_root cfg;
    struct outage *outages;
    struct workpool *pool;
    struct user_store *store;
    struct engine *e;
    struct engine_session *s;
    FILE *msgfile;
};

static struct fx *fx;

static void on_event(void *arg, const char *type, json_t *data)
{
    (void)arg;
    (void)type;
    json_decref(data);
}

static int setup(void **state)
{
    (void)state;
    fx = calloc(1, sizeof(*fx));
    fx->base = event_base_new();
    fx->outages = outage_new(on_event, fx);
    fx->pool = workpool_new_bounded(fx->base, 1, 4);
    fx->store = user_store_memory_new(fx->base);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    check_spam_use_model(NULL);
    engine_session_free(fx->s);
    engine_free(fx->e);
    pt_free(&fx->cfg);
    workpool_free(fx->pool);
    user_store_free(fx->store);
    outage_free(fx->outages);
    event_base_free(fx->base);
    if (fx->msgfile)
        fclose(fx->msgfile);
    free(fx);
    return 0;
}

static void start(const char *policy_extra)
{
    char *json = NULL;
    struct engine_env env = {
        .base = fx->base, .check_pool = fx->pool, .outages = fx->outages,
        .hostname = "mx.test", .event = on_event, .event_arg = fx,
    };

    assert_true(asprintf(&json,
        "{\"relay\": {\"local_domains\": [\"a.test\", \"never.test\"]},"
        " \"domains\": {\"never.test\": {\"level\": \"never\"}},"
        " \"policy\": {\"levels\": {\"never\": {\"tag\": 999, \"spam\": 999, \"kill\": 999,"
        "                               \"unsure_defer\": [\"spam\"]}},"
        "   \"profiles\": {\"p\": {\"checks\": {\"spam\": {}}}}%s%s}}",
        policy_extra ? ", " : "", policy_extra ? policy_extra : "") > 0);
    fx->e = eh_engine_new(json, &fx->cfg, &env, fx->store);
    free(json);
    fx->s = engine_session_new(fx->e, engine_profile_find(fx->e, "p"), "mx", "192.0.2.10");
}

static void run(enum engine_stage st)
{
    eh_run(fx->base, fx->s, st);
}

/* One transaction to rcpts (NULL-terminated) carrying body; runs to END. */
/* size: what the engine says the message's length is (0: its real length). */
static void deliver_sized(const char *const *rcpts, const char *message, size_t size)
{
    struct engine_message m;

    run(STAGE_CONNECT);
    run(STAGE_HELO);
    engine_tx_begin(fx->s, "alice@sender.test", "QID1");
    run(STAGE_MAIL);
    for (; *rcpts; rcpts++)
        engine_rcpt_add(fx->s, *rcpts);
    run(STAGE_RCPT);
    run(STAGE_DATA);
    fx->msgfile = tmpfile();
    assert_non_null(fx->msgfile);
    assert_int_equal(fwrite(message, 1, strlen(message), fx->msgfile), strlen(message));
    fflush(fx->msgfile);
    m = (struct engine_message){ .fd = fileno(fx->msgfile), .offset = 0,
                                 .size = size ? size : strlen(message) };
    engine_set_message(fx->s, &m);
    run(STAGE_END);
}

static void deliver(const char *const *rcpts, const char *message)
{
    deliver_sized(rcpts, message, 0);
}

static const struct rcpt_result *result(size_t i)
{
    const struct rcpt_result *r = engine_result(fx->s, i);

    assert_non_null(r);
    return r;
}

static double symbol(const struct rcpt_result *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->nsyms; i++)
        if (strcmp(r->syms[i].name, name) == 0)
            return r->syms[i].score;
    return -12345;
}

static void a_plain_message_passes(void **state)
{
    static const char *const rc[] = { "bob@a.test", NULL };

    (void)state;
    start(NULL);
    deliver(rc, HEAD "Subject: lunch\r\n\r\nLunch on Friday?\r\n");
    assert_null(engine_reply(fx->s));
    assert_int_equal(result(0)->disp, DISP_PASS);
    assert_int_equal(result(0)->nsyms, 0);
    assert_true(result(0)->headers);
}

static void gtube_is_refused_at_end_by_the_kill_level(void **state)
{
    static const char *const rc[] = { "bob@a.test", NULL };
    const struct engine_reply *r;

    (void)state;
    start(NULL);
    deliver(rc, HEAD "Subject: test\r\n\r\n" GTUBE_BODY "\r\n");
    r = engine_reply(fx->s);
    assert_non_null(r);
    assert_int_equal(r->code, 550);
    assert_string_equal(r->ecode, "5.7.1");
}

static void gtube_for_a_level_it_does_not_reach_is_accepted_for_the_other(void **state)
{
    static const char *const rc[] = { "bob@a.test", "carol@never.test", NULL };

    (void)state;
    start(NULL);
    deliver(rc, HEAD "Subject: test\r\n\r\n" GTUBE_BODY "\r\n");
    /* bob would refuse, carol's level never acts: accepted, bob's copy by the
       multi-recipient rule, carol's passes with the symbol */
    assert_null(engine_reply(fx->s));
    assert_true(symbol(result(1), "GTUBE") == 500);
    assert_int_equal(result(1)->disp, DISP_PASS);
    assert_true(result(0)->disp != DISP_PASS);
}

/* The message cannot be read (the queue file is shorter than the engine says: nothing at
 * the offset): the unsure rule applies, here defer by the level's unsure_defer. */
static void an_unreadable_message_gets_the_unsure_rule(void **state)
{
    static const char *const rc[] = { "carol@never.test", NULL };
    const struct engine_reply *r;

    (void)state;
    start(NULL);
    deliver_sized(rc, "", 4096);
    r = engine_reply(fx->s);
    assert_non_null(r);
    assert_int_equal(r->code, 451);
}

static struct spam_snap *small_model(void)
{
    struct spam_model m;
    char msg[512];
    int i;

    spam_model_init(&m, 0);
    for (i = 0; i < 12; i++) {
        snprintf(msg, sizeof(msg), HEAD "Subject: cheap pills %d\r\n\r\nBuy cheap pills "
                 "online now, best price pharmacy %d\r\n", i, i);
        spam_score_learn(&m, msg, strlen(msg), true, 1);
        snprintf(msg, sizeof(msg), HEAD "Subject: minutes %d\r\n\r\nThe meeting notes from "
                 "the project review are attached %d\r\n", i, i);
        spam_score_learn(&m, msg, strlen(msg), false, 1);
    }
    return spam_snap_wrap(&m);
}

static void the_classifier_gives_a_weighted_bayes_symbol(void **state)
{
    static const char *const rc[] = { "bob@a.test", NULL };
    struct spam_snap *snap = small_model();
    double w;

    (void)state;
    check_spam_use_model(snap);
    spam_snap_unref(snap);
    start(NULL);
    deliver(rc, HEAD "Subject: cheap pills\r\n\r\nbest price pharmacy, buy cheap pills "
                "online now\r\n");
    w = symbol(result(0), "BAYES_SPAM");
    assert_true(w > 5 && w <= SPAM_BAYES_MAX);
    assert_true(result(0)->score == w);
    assert_true(result(0)->spam_flag);
    assert_non_null(engine_fact(fx->s, "spam.bayes"));
}

static void a_symbol_override_scales_the_classifier(void **state)
{
    static const char *const rc[] = { "bob@a.test", NULL };
    struct spam_snap *snap = small_model();
    double w;

    (void)state;
    check_spam_use_model(snap);
    spam_snap_unref(snap);
    start("\"symbols\": {\"BAYES_HAM\": {\"score\": 2}}");
    deliver(rc, HEAD "Subject: minutes\r\n\r\nThe meeting notes from the project review\r\n");
    w = symbol(result(0), "BAYES_HAM");
    assert_true(w < 0 && w >= 2 * SPAM_BAYES_MIN);
    assert_int_equal(result(0)->disp, DISP_PASS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(an_unreadable_message_gets_the_unsure_rule, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_plain_message_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(gtube_is_refused_at_end_by_the_kill_level, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            gtube_for_a_level_it_does_not_reach_is_accepted_for_the_other, setup, teardown),
        cmocka_unit_test_setup_teardown(the_classifier_gives_a_weighted_bayes_symbol, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_symbol_override_scales_the_classifier, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
