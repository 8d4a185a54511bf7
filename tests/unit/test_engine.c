/*
 * test_engine.c - unit tests of the policy engine (policy/engine*.c, check_call.c) with
 * the test checks of tests/checks/, driven by a real libevent loop: stages and groups,
 * checks running concurrently, the stage deadline (timeout symbol and unsure rule),
 * cancellation when a session dies, refusals kept until RCPT, scores per recipient and
 * level, the multi-recipient rule, facts, the bounded check pool, per-user settings from
 * the store (one round trip per batch, outage), and the results the session reads back.
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

#include "policy/engine.h"
#include "policy/outage.h"
#include "policy/user_store.h"
#include "tests/checks/check_test.h"
#include "tests/unit/engine_testharness.h"

struct fx {
    struct event_base *base;
    struct pt_root cfg;
    struct outage *outages;
    struct workpool *pool;
    struct user_store *store;
    struct engine *e;
    struct engine_session *s;
    int unavailable_events;
};

static struct fx *fx;

static void on_event(void *arg, const char *type, json_t *data)
{
    struct fx *f = arg;

    if (strcmp(type, "policy.check_unavailable") == 0)
        f->unavailable_events++;
    json_decref(data);
}

static int setup(void **state)
{
    (void)state;
    fx = calloc(1, sizeof(*fx));
    fx->base = event_base_new();
    fx->outages = outage_new(on_event, fx);
    fx->pool = workpool_new_bounded(fx->base, 1, 1);
    fx->store = user_store_memory_new(fx->base);
    test_checks_reset();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    engine_session_free(fx->s);
    engine_free(fx->e);
    pt_free(&fx->cfg);
    workpool_free(fx->pool);
    user_store_free(fx->store);
    outage_free(fx->outages);
    event_base_free(fx->base);
    free(fx);
    return 0;
}

/* Build the engine for a profile "p" (its JSON), with optional extra "policy" keys, and
 * open a session from 192.0.2.10. */
static void start(const char *profile, const char *policy_extra)
{
    char *json = NULL;
    struct engine_env env = {
        .base = fx->base, .check_pool = fx->pool, .outages = fx->outages,
        .hostname = "mx.test", .event = on_event, .event_arg = fx,
    };

    assert_true(asprintf(&json,
        "{\"relay\": {\"local_domains\": [\"a.test\", \"strict.test\", \"lax.test\"],"
        "             \"backup_domains\": [\"b.test\"]},"
        " \"domains\": {\"strict.test\": {\"level\": \"high\"}, \"lax.test\": {\"level\": \"low\"},"
        "   \"b.test\": {\"level\": \"relaxed\", \"blacklist\": [\"@bad.test\"]},"
        "   \"a.test\": {\"whitelist\": [\"@friend.test\"], \"exclusions\": [\"abuse@\"]}},"
        " \"policy\": {\"levels\": {\"relaxed\": {\"unsure_accept\": [\"testrule\"],"
        "                                       \"blacklist\": \"refuse\"}},"
        "   \"profiles\": {\"p\": %s}%s%s}}",
        profile, policy_extra ? ", " : "", policy_extra ? policy_extra : "") > 0);
    fx->e = eh_engine_new(json, &fx->cfg, &env, fx->store);
    free(json);
    fx->s = engine_session_new(fx->e, engine_profile_find(fx->e, "p"), "mx", "192.0.2.10");
}

/* Run a stage to its end; returns whether it went asynchronous. */
static bool run(enum engine_stage st)
{
    return eh_run(fx->base, fx->s, st);
}

/* MAIL from sender, then one RCPT batch of the recipients (NULL-terminated). */
static void transaction(const char *sender, const char *const *rcpts)
{
    engine_tx_begin(fx->s, sender, "QID1");
    run(STAGE_MAIL);
    assert_null(engine_reply(fx->s));
    for (; *rcpts != NULL; rcpts++)
        engine_rcpt_add(fx->s, *rcpts);
    run(STAGE_RCPT);
}

/* MAIL, then an RCPT stage for rcpt that must go asynchronous (cb counts in *called). */
static void rcpt_pending(const char *rcpt, int *called)
{
    engine_tx_begin(fx->s, "s@sender.test", "QID1");
    run(STAGE_MAIL);
    engine_rcpt_add(fx->s, rcpt);
    assert_int_equal(engine_run(fx->s, STAGE_RCPT, eh_on_done, called), ENGINE_PENDING);
}

static const struct rcpt_result *result(size_t i)
{
    const struct rcpt_result *r = engine_result(fx->s, i);

    assert_non_null(r);
    return r;
}

static bool has_symbol(const struct rcpt_result *r, const char *name, double score)
{
    size_t i;

    for (i = 0; i < r->nsyms; i++)
        if (strcmp(r->syms[i].name, name) == 0)
            return r->syms[i].score == score;
    return false;
}

/* ---- the empty profile --------------------------------------------------------------- */

static void an_empty_profile_passes_everything_synchronously(void **state)
{
    static const char *const rc[] = { "x@a.test", "y@elsewhere.test", NULL };
    char *rec;

    (void)state;
    start("{}", NULL);
    assert_false(run(STAGE_CONNECT));
    assert_false(run(STAGE_HELO));
    engine_tx_begin(fx->s, "s@sender.test", "QID1");
    assert_false(run(STAGE_MAIL));
    engine_rcpt_add(fx->s, rc[0]);
    engine_rcpt_add(fx->s, rc[1]);
    assert_false(run(STAGE_RCPT));
    assert_null(engine_rcpt_reply(fx->s, 0));
    assert_null(engine_rcpt_reply(fx->s, 1));
    assert_false(run(STAGE_DATA));
    assert_false(run(STAGE_END));
    assert_null(engine_reply(fx->s));
    assert_int_equal(engine_accepted(fx->s), 2);
    assert_int_equal(result(0)->disp, DISP_PASS);
    assert_false(result(0)->headers);          /* nothing was checked: no X-Spam headers */
    assert_int_equal(user_store_memory_fetches(fx->store), 0);
    rec = engine_records(fx->s);
    assert_string_equal(rec, "policy 0 pass 0 5 8 - medium\npolicy 1 pass 0 5 8 - medium\n");
    free(rec);
}

/* ---- scores, levels, results --------------------------------------------------------- */

static void symbols_add_up_and_each_recipients_level_decides(void **state)
{
    static const char *const rc[] = { "alice@a.test", "bob@strict.test", "carol@lax.test",
                                      NULL };
    char *rec;

    (void)state;
    start("{\"checks\": {\"testsym\": {\"stages\": [\"connect\", \"end\"],"
          "  \"emit\": [\"TEST_C\", \"TEST_B\"], \"emit_for\": [\"bob TEST_A\"]}}}", NULL);
    run(STAGE_CONNECT);              /* TEST_C and TEST_B for the session: 6.5 */
    transaction("s@sender.test", rc);
    run(STAGE_DATA);
    run(STAGE_END);                  /* at END the same symbols again (counted once) */
    assert_null(engine_reply(fx->s));
    /* alice, medium: 6.5 >= tag 5 -> tag */
    assert_int_equal(result(0)->disp, DISP_TAG);
    assert_true(result(0)->score == 6.5);
    assert_true(result(0)->spam_flag && result(0)->headers);
    assert_true(has_symbol(result(0), "TEST_C", 4) && has_symbol(result(0), "TEST_B", 2.5));
    assert_string_equal(result(0)->syms[0].text, "test");   /* the check's detail */
    /* bob, high: 7.5 >= spam 5 -> mark, with the prefix */
    assert_int_equal(result(1)->disp, DISP_MARK);
    assert_true(result(1)->score == 7.5);
    assert_string_equal(result(1)->subject_prefix, "+++SPAM+++ ");
    /* carol, low: 6.5 < tag 8 -> pass, headers say No */
    assert_int_equal(result(2)->disp, DISP_PASS);
    assert_false(result(2)->spam_flag);
    rec = engine_records(fx->s);
    assert_string_equal(rec,
        "policy 0 tag 6.5 5 8 HS medium syms=TEST_B:2.5,TEST_C:4\n"
        "policy 1 mark 7.5 3 5 HS high syms=TEST_A:1,TEST_B:2.5,TEST_C:4 "
        "prefix=+++SPAM+++%20 reason=spam\n"
        "policy 2 pass 6.5 8 12 H low syms=TEST_B:2.5,TEST_C:4\n");
    free(rec);
    /* the message was DKIM-signed at receipt: no Subject prefix, tagged instead */
    engine_results_signed(fx->s);
    assert_int_equal(result(1)->disp, DISP_MARK);
    assert_null(result(1)->subject_prefix);
    assert_true(result(1)->spam_flag && result(1)->headers);
    assert_int_equal(result(0)->disp, DISP_TAG);
    rec = engine_records(fx->s);
    assert_string_equal(rec,
        "policy 0 tag 6.5 5 8 HS medium syms=TEST_B:2.5,TEST_C:4\n"
        "policy 1 mark 7.5 3 5 HS high syms=TEST_A:1,TEST_B:2.5,TEST_C:4 reason=spam\n"
        "policy 2 pass 6.5 8 12 H low syms=TEST_B:2.5,TEST_C:4\n");
    free(rec);
    engine_log_results(fx->s, "QID1");
}

static void a_score_over_kill_is_refused_at_rcpt_but_not_for_postmaster(void **state)
{
    static const char *const rc[] = { "alice@a.test", "postmaster@a.test", "bob@lax.test",
                                      NULL };
    const struct engine_reply *r;

    (void)state;
    start("{\"checks\": {\"testsym\": {\"stages\": [\"helo\"], \"emit\": [\"TEST_SCORE*12\"]}}}",
          NULL);
    run(STAGE_HELO);
    transaction("s@sender.test", rc);
    r = engine_rcpt_reply(fx->s, 0);
    assert_non_null(r);
    assert_int_equal(r->code, 550);
    assert_string_equal(r->ecode, "5.7.1");
    assert_string_equal(r->text, "Message refused as spam (score 12.0), reference QID1");
    assert_string_equal(r->reason, "spam");
    {
        json_t *syms = engine_refusal_symbols(fx->s, 0);
        assert_true(json_real_value(json_object_get(syms, "TEST_SCORE")) == 12.0);
        json_decref(syms);
    }
    assert_null(engine_rcpt_reply(fx->s, 1));   /* postmaster@: never refused for spam */
    assert_null(engine_rcpt_reply(fx->s, 2));   /* low: kill 20 */
    assert_int_equal(engine_accepted(fx->s), 2);
    run(STAGE_END);
    assert_int_equal(result(0)->disp, DISP_MARK);   /* postmaster@ gets the spam action */
    assert_int_equal(result(1)->disp, DISP_MARK);   /* low: spam 12 */
}

static void the_multi_recipient_rule_at_end(void **state)
{
    static const char *const both[] = { "alice@strict.test", "bob@a.test", NULL };
    static const char *const one[] = { "alice@strict.test", NULL };
    const struct engine_reply *r;

    (void)state;
    start("{\"checks\": {\"testsym\": {\"emit\": [\"TEST_SCORE*9\"]}}}", NULL);
    /* score 9: high (kill 8) would refuse, medium marks: accepted, high gets mark */
    transaction("s@sender.test", both);
    run(STAGE_END);
    assert_null(engine_reply(fx->s));
    assert_int_equal(result(0)->disp, DISP_MARK);
    assert_string_equal(result(0)->reason, "spam, refused for this recipient");
    assert_int_equal(result(1)->disp, DISP_MARK);
    engine_tx_end(fx->s);
    /* the high recipient alone: the message is refused, with the queue ID to quote */
    engine_tx_begin(fx->s, "s@sender.test", "");       /* the queue ID comes later */
    run(STAGE_MAIL);
    engine_tx_set_queue_id(fx->s, "QID2");
    engine_rcpt_add(fx->s, one[0]);
    run(STAGE_RCPT);
    run(STAGE_END);
    r = engine_reply(fx->s);
    assert_non_null(r);
    assert_int_equal(r->code, 550);
    assert_string_equal(r->text, "Message refused as spam (score 9.0), reference QID2");
    assert_null(engine_result(fx->s, 0));
    {
        json_t *syms = engine_refusal_symbols(fx->s, ENGINE_MESSAGE);
        assert_true(json_real_value(json_object_get(syms, "TEST_SCORE")) == 9.0);
        assert_int_equal(json_object_size(syms), 1);
        json_decref(syms);
    }
}

static void a_checks_refusal_in_a_mixed_message_becomes_quarantine(void **state)
{
    static const char *const both[] = { "alice@a.test", "bob@a.test", NULL };
    const struct engine_reply *r;

    (void)state;
    start("{\"checks\": {\"testsym\": {\"verdict\": \"554 5.7.1 Virus found: EICAR\","
          " \"verdict_for\": \"alice\"}}}", NULL);
    transaction("s@sender.test", both);
    run(STAGE_END);
    assert_null(engine_reply(fx->s));
    assert_int_equal(result(0)->disp, DISP_QUARANTINE);
    assert_string_equal(result(0)->reason,
                        "refused for this recipient: Virus found: EICAR");
    assert_int_equal(result(1)->disp, DISP_PASS);
    engine_tx_end(fx->s);
    engine_session_free(fx->s);
    engine_free(fx->e);
    pt_free(&fx->cfg);
    /* for everyone: the refusal is the reply */
    start("{\"checks\": {\"testsym\": {\"verdict\": \"554 5.7.1 Virus found: EICAR\"}}}", NULL);
    transaction("s@sender.test", both);
    run(STAGE_END);
    r = engine_reply(fx->s);
    assert_non_null(r);
    assert_int_equal(r->code, 554);
    assert_string_equal(r->check, "testsym");
    assert_string_equal(r->reason, "test");
}

static void any_deferral_makes_the_refusal_temporary(void **state)
{
    static const char *const both[] = { "alice@a.test", "bob@a.test", NULL };
    const struct engine_reply *r;

    (void)state;
    start("{\"checks\": {\"testsym\": {\"verdict\": \"554 5.7.1 no\", \"verdict_for\": \"alice\"},"
          " \"testpeer\": {\"verdict\": \"451 4.7.1 later\", \"verdict_for\": \"bob\"}}}", NULL);
    transaction("s@sender.test", both);
    run(STAGE_END);
    r = engine_reply(fx->s);
    assert_non_null(r);
    assert_int_equal(r->code, 451);
    assert_string_equal(r->text, "later");
}

static void an_action_at_end_is_kept_with_its_reason(void **state)
{
    static const char *const one[] = { "alice@a.test", NULL };
    static const char *const backup[] = { "x@b.test", NULL };

    (void)state;
    start("{\"checks\": {\"testsym\": {\"action\": \"wrap\", \"action_reason\": \"blocked file "
          "invoice.pdf.exe\"}}}", NULL);
    transaction("s@sender.test", one);
    run(STAGE_END);
    assert_int_equal(result(0)->disp, DISP_WRAP);
    assert_string_equal(result(0)->reason, "blocked file invoice.pdf.exe");
    engine_tx_end(fx->s);
    /* a backup domain's mail gets header-only changes: no wrapping */
    transaction("s@sender.test", backup);
    run(STAGE_END);
    assert_int_equal(result(0)->disp, DISP_TAG);
}

/* ---- lists ----------------------------------------------------------------------------- */

static void whitelisted_senders_are_not_spam_and_skip_bypass_checks(void **state)
{
    static const char *const rc[] = { "alice@a.test", NULL };

    (void)state;
    start("{\"checks\": {\"testsym\": {\"emit\": [\"TEST_SCORE*30\"]},"
          " \"testrule\": {\"stages\": [\"rcpt\"], \"verdict\": \"451 4.7.1 Greylisted\"}}}",
          NULL);
    transaction("boss@friend.test", rc);
    assert_null(engine_rcpt_reply(fx->s, 0));     /* testrule is bypassed */
    assert_int_equal(test_check_stats.runs, 0);
    run(STAGE_END);
    assert_int_equal(result(0)->disp, DISP_PASS);
    assert_false(result(0)->spam_flag);
    assert_true(has_symbol(result(0), "SENDER_WHITELISTED", 0));
}

static void blacklisted_senders_are_refused_when_the_level_says_so(void **state)
{
    static const char *const rc[] = { "x@b.test", "alice@a.test", NULL };
    const struct engine_reply *r;

    (void)state;
    start("{\"checks\": {\"testsym\": {}}}", "\"blacklist\": [\"@bad.test\"]");
    transaction("spammer@bad.test", rc);
    r = engine_rcpt_reply(fx->s, 0);              /* level relaxed: blacklist refuse */
    assert_non_null(r);
    assert_string_equal(r->text, "Sender refused by the recipient's policy, reference QID1");
    assert_string_equal(r->reason, "blacklist");
    assert_null(engine_rcpt_reply(fx->s, 1));     /* medium: the spam action */
    run(STAGE_END);
    assert_int_equal(result(0)->disp, DISP_MARK);
    assert_true(has_symbol(result(0), "SENDER_BLACKLISTED", 0));
}

static void excluded_recipients_get_no_spam_headers(void **state)
{
    static const char *const rc[] = { "abuse@a.test", NULL };

    (void)state;
    start("{\"checks\": {\"testsym\": {\"emit\": [\"TEST_SCORE*30\"]}}}", NULL);
    transaction("s@sender.test", rc);
    run(STAGE_END);
    assert_int_equal(result(0)->disp, DISP_PASS);
    assert_false(result(0)->headers);
}

/* ---- refusals before RCPT -------------------------------------------------------------- */

static void a_refusal_at_connect_is_given_at_rcpt_except_to_postmaster(void **state)
{
    static const char *const rc[] = { "alice@a.test", "postmaster@a.test", "postmaster", NULL };
    const struct engine_reply *r;

    (void)state;
    start("{\"checks\": {\"testrule\": {\"stages\": [\"connect\"],"
          " \"verdict\": \"550 5.7.25 no reverse DNS\"}}}", NULL);
    run(STAGE_CONNECT);
    assert_null(engine_reply(fx->s));          /* not at CONNECT */
    transaction("s@sender.test", rc);
    r = engine_rcpt_reply(fx->s, 0);
    assert_non_null(r);
    assert_int_equal(r->code, 550);
    assert_string_equal(r->ecode, "5.7.25");
    assert_string_equal(r->text, "no reverse DNS");
    assert_null(engine_rcpt_reply(fx->s, 1));
    assert_null(engine_rcpt_reply(fx->s, 2));
}

static void refuse_now_and_disconnect_answer_the_command(void **state)
{
    (void)state;
    start("{\"checks\": {\"testrule\": {\"stages\": [\"mail\"], \"verdict_kind\": \"now\","
          " \"verdict\": \"530 5.7.0 Authentication required\"},"
          " \"testsym\": {\"stages\": [\"helo\"], \"verdict_kind\": \"disconnect\","
          " \"verdict\": \"421 4.7.0 bye\"}}}", NULL);
    run(STAGE_HELO);
    assert_non_null(engine_reply(fx->s));
    assert_true(engine_reply(fx->s)->disconnect);
    assert_int_equal(engine_reply(fx->s)->code, 421);
    engine_tx_begin(fx->s, "s@sender.test", "QID1");
    run(STAGE_MAIL);
    assert_non_null(engine_reply(fx->s));
    assert_int_equal(engine_reply(fx->s)->code, 530);
    assert_false(engine_reply(fx->s)->disconnect);
}

/* ---- groups, concurrency, deadline, cancellation --------------------------------------- */

static void groups_run_in_order_and_refused_recipients_are_not_seen_later(void **state)
{
    static const char *const rc[] = { "alice@a.test", "bob@a.test", NULL };

    (void)state;
    start("{\"checks\": {\"testlate\": {\"stages\": [\"rcpt\"]},"
          " \"testsym\": {\"stages\": [\"rcpt\"], \"delay\": \"20ms\"},"
          " \"testrule\": {\"stages\": [\"rcpt\"], \"verdict\": \"554 5.7.1 Relay access denied\","
          "   \"verdict_for\": \"bob\"}}}", NULL);
    transaction("s@sender.test", rc);
    assert_string_equal(test_check_stats.order, "testrule,testsym,testlate");
    assert_int_equal(test_check_stats.last_nrcpt, 1);    /* testlate saw alice only */
    assert_non_null(engine_rcpt_reply(fx->s, 1));
    assert_null(engine_rcpt_reply(fx->s, 0));
}

static void checks_of_a_group_run_together_and_a_late_one_times_out(void **state)
{
    static const char *const rc[] = { "alice@a.test", NULL };
    int called = 0, spins;

    (void)state;
    start("{\"deadline\": \"300ms\", \"checks\": {"
          " \"testsym\": {\"stages\": [\"rcpt\"], \"delay\": \"30ms\", \"emit\": [\"TEST_A\"]},"
          " \"testpeer\": {\"stages\": [\"rcpt\"], \"hang\": true},"
          " \"testlate\": {\"stages\": [\"rcpt\"]}}}", NULL);
    rcpt_pending(rc[0], &called);
    /* first the user settings are read (the memory store answers on the next turn) */
    for (spins = 0; test_check_stats.runs == 0 && spins < 5000; spins++)
        event_base_loop(fx->base, EVLOOP_ONCE);
    /* both checks of group 50 started before either finished; group 90 waits */
    assert_int_equal(test_check_stats.runs, 2);
    assert_int_equal(test_check_stats.completions, 0);
    for (spins = 0; called == 0 && spins < 5000; spins++)
        event_base_loop(fx->base, EVLOOP_ONCE);
    assert_int_equal(called, 1);
    assert_int_equal(test_check_stats.completions, 1);
    assert_int_equal(test_check_stats.cancels, 1);     /* testpeer */
    assert_int_equal(test_check_stats.runs, 2);        /* testlate never started */
    assert_null(engine_rcpt_reply(fx->s, 0));          /* unsure: accept (their default) */
    run(STAGE_END);
    assert_true(has_symbol(result(0), "TESTPEER_TIMEOUT", 0));
    assert_true(has_symbol(result(0), "TESTLATE_TIMEOUT", 0));
    assert_true(has_symbol(result(0), "TEST_A", 1));
}

static void a_check_that_defers_when_unsure_defers_unless_the_level_accepts(void **state)
{
    static const char *const rc[] = { "alice@a.test", "x@b.test", "postmaster@a.test", NULL };
    const struct engine_reply *r;

    (void)state;
    start("{\"deadline\": \"200ms\", \"checks\": {\"testrule\": {\"stages\": [\"rcpt\"],"
          " \"hang\": true}}}", NULL);
    transaction("s@sender.test", rc);
    r = engine_rcpt_reply(fx->s, 0);
    assert_non_null(r);
    assert_int_equal(r->code, 451);
    assert_string_equal(r->ecode, "4.3.0");
    assert_string_equal(r->text, "Temporary failure of the testrule check, please try again "
                                 "later (reference QID1)");
    assert_null(engine_rcpt_reply(fx->s, 1));    /* level relaxed: unsure_accept testrule */
    assert_null(engine_rcpt_reply(fx->s, 2));    /* postmaster@ bypasses testrule */
}

static void unsure_before_rcpt_is_judged_per_recipient(void **state)
{
    static const char *const rc[] = { "alice@a.test", "x@b.test", NULL };

    (void)state;
    start("{\"checks\": {\"testrule\": {\"stages\": [\"connect\"], \"unsure\": true}}}", NULL);
    run(STAGE_CONNECT);
    transaction("s@sender.test", rc);
    assert_non_null(engine_rcpt_reply(fx->s, 0));
    assert_int_equal(engine_rcpt_reply(fx->s, 0)->code, 451);
    assert_null(engine_rcpt_reply(fx->s, 1));
    run(STAGE_END);
    assert_true(has_symbol(result(0), "TEST_UNSURE", 0));
}

static void a_session_dying_mid_stage_cancels_everything_and_never_calls_back(void **state)
{
    static const char *const rc[] = { "alice@a.test", NULL };
    int called = 0, i;

    (void)state;
    start("{\"checks\": {\"testsym\": {\"delay\": \"50ms\"}, \"testpeer\": {\"hang\": true}}}",
          NULL);
    transaction("s@sender.test", rc);
    assert_int_equal(engine_run(fx->s, STAGE_END, eh_on_done, &called), ENGINE_PENDING);
    assert_int_equal(test_check_stats.runs, 2);
    engine_session_free(fx->s);
    fx->s = NULL;
    assert_int_equal(test_check_stats.cancels, 2);
    for (i = 0; i < 20; i++)
        event_base_loop(fx->base, EVLOOP_NONBLOCK), usleep(5000);
    assert_int_equal(called, 0);
    assert_int_equal(test_check_stats.completions, 0);
}

static void a_transaction_reset_mid_stage_cancels_too(void **state)
{
    static const char *const rc[] = { "alice@a.test", NULL };
    int called = 0;

    (void)state;
    start("{\"checks\": {\"testsym\": {\"stages\": [\"rcpt\"], \"hang\": true}}}", NULL);
    rcpt_pending(rc[0], &called);
    while (test_check_stats.runs == 0)
        event_base_loop(fx->base, EVLOOP_ONCE);    /* past the settings fetch */
    engine_tx_end(fx->s);
    assert_int_equal(test_check_stats.cancels, 1);
    event_base_loop(fx->base, EVLOOP_NONBLOCK);
    assert_int_equal(called, 0);
    transaction("s@sender.test", rc);      /* the session goes on */
}

static void a_session_dying_while_settings_are_read_never_calls_back(void **state)
{
    static const char *const rc[] = { "alice@a.test", NULL };
    int called = 0;

    (void)state;
    start("{\"checks\": {\"testsym\": {\"stages\": [\"rcpt\"]}}}", NULL);
    rcpt_pending(rc[0], &called);
    engine_session_free(fx->s);
    fx->s = NULL;
    event_base_loop(fx->base, EVLOOP_NONBLOCK);
    assert_int_equal(called, 0);
    assert_int_equal(test_check_stats.runs, 0);
}

/* ---- facts, worker pool ---------------------------------------------------------------- */

static void later_checks_read_earlier_facts(void **state)
{
    static const char *const rc[] = { "alice@a.test", NULL };

    (void)state;
    start("{\"checks\": {\"testrule\": {\"stages\": [\"mail\"], \"fact\": \"spf.result=pass\"},"
          " \"testsym\": {\"stages\": [\"connect\", \"end\"], \"read_fact\": \"spf.result\"}}}",
          NULL);
    engine_fact_set(fx->s, FACT_SESSION, "spf.result", json_string("from the session"));
    run(STAGE_CONNECT);
    assert_string_equal(test_check_stats.fact_seen, "from the session");
    transaction("s@sender.test", rc);
    run(STAGE_END);
    assert_string_equal(test_check_stats.fact_seen, "pass");
    assert_string_equal(json_string_value(engine_fact(fx->s, "spf.result")), "pass");
    engine_tx_end(fx->s);
    /* the transaction's fact ended with it; the session's shows again */
    assert_string_equal(json_string_value(engine_fact(fx->s, "spf.result")), "from the session");
}

static void a_full_check_pool_answers_451_at_end(void **state)
{
    static const char *const rc[] = { "alice@a.test", NULL };
    const struct engine_reply *r;

    (void)state;
    /* the pool holds one job: testsym's; testpeer's is refused */
    start("{\"checks\": {\"testsym\": {\"worker\": true, \"delay\": \"20ms\","
          " \"emit\": [\"TEST_A\"]}, \"testpeer\": {\"worker\": true}}}", NULL);
    transaction("s@sender.test", rc);
    run(STAGE_END);
    r = engine_reply(fx->s);
    assert_non_null(r);
    assert_int_equal(r->code, 451);
    assert_string_equal(r->ecode, "4.3.0");
    assert_string_equal(r->text, "Error: too busy to check the message now, please try again "
                                 "later");
    assert_int_equal(test_check_stats.completions, 1);
    assert_int_equal(test_check_stats.jobs_freed, 2);
}

static void a_worker_job_of_a_dead_session_is_freed_without_its_done(void **state)
{
    static const char *const rc[] = { "alice@a.test", NULL };
    int called = 0, spins;

    (void)state;
    start("{\"checks\": {\"testsym\": {\"worker\": true, \"delay\": \"30ms\"}}}", NULL);
    transaction("s@sender.test", rc);
    assert_int_equal(engine_run(fx->s, STAGE_END, eh_on_done, &called), ENGINE_PENDING);
    engine_session_free(fx->s);
    fx->s = NULL;
    for (spins = 0; test_check_stats.jobs_freed == 0 && spins < 5000; spins++)
        event_base_loop(fx->base, EVLOOP_ONCE);
    assert_int_equal(test_check_stats.jobs_freed, 1);
    assert_int_equal(test_check_stats.completions, 0);
    assert_int_equal(called, 0);
}

/* ---- per-user settings ------------------------------------------------------------------- */

static void user_settings_come_from_the_store_once_per_batch(void **state)
{
    static const char *const rc[] = { "alice@a.test", "bob@a.test", "carol@a.test",
                                      "far@elsewhere.test", NULL };

    (void)state;
    user_store_memory_put(fx->store, "alice@a.test", "level", "high");
    user_store_memory_put(fx->store, "bob@a.test", "tag", "7");
    start("{\"checks\": {\"testsym\": {\"emit\": [\"TEST_SCORE*6\"]}}}", NULL);
    transaction("s@sender.test", rc);
    assert_int_equal(user_store_memory_fetches(fx->store), 1);
    run(STAGE_END);
    assert_int_equal(result(0)->disp, DISP_MARK);     /* alice: high */
    assert_int_equal(result(1)->disp, DISP_PASS);     /* bob: own tag 7 */
    assert_true(result(1)->tag == 7);
    assert_int_equal(result(2)->disp, DISP_TAG);      /* carol: the domain's medium */
    engine_tx_end(fx->s);
    /* within the TTL: no second round trip */
    transaction("s@sender.test", rc);
    assert_int_equal(user_store_memory_fetches(fx->store), 1);
}

static void no_round_trip_when_no_check_needs_settings(void **state)
{
    static const char *const rc[] = { "alice@a.test", NULL };

    (void)state;
    user_store_memory_put(fx->store, "alice@a.test", "level", "high");
    start("{\"checks\": {}}", NULL);
    transaction("s@sender.test", rc);
    assert_int_equal(user_store_memory_fetches(fx->store), 0);
}

static void a_store_outage_uses_domain_settings_and_alerts_once(void **state)
{
    static const char *const rc[] = { "alice@a.test", NULL };

    (void)state;
    user_store_memory_put(fx->store, "alice@a.test", "level", "high");
    user_store_memory_set_down(fx->store, true);
    start("{\"checks\": {\"testsym\": {\"emit\": [\"TEST_SCORE*6\"]}}}", NULL);
    transaction("s@sender.test", rc);
    assert_null(engine_rcpt_reply(fx->s, 0));
    run(STAGE_END);
    assert_int_equal(result(0)->disp, DISP_TAG);       /* medium, not alice's high */
    assert_true(has_symbol(result(0), "USER_SETTINGS_TEMPFAIL", 0));
    engine_tx_end(fx->s);
    transaction("s@sender.test", rc);
    assert_int_equal(fx->unavailable_events, 1);
    assert_true(outage_is_down(fx->outages, "redis"));
    user_store_memory_set_down(fx->store, false);
    engine_tx_end(fx->s);
    transaction("s@sender.test", rc);
    assert_false(outage_is_down(fx->outages, "redis"));
}

static void submission_uses_the_senders_settings_and_outbound_defaults(void **state)
{
    static const char *const rc[] = { "friend@elsewhere.test", "other@far.test", NULL };
    const struct engine_reply *r;

    (void)state;
    user_store_memory_put(fx->store, "me@a.test", "level", "high");
    start("{\"direction\": \"submission\", \"checks\": {\"testsym\": {\"emit\":"
          " [\"TEST_SCORE*6\"]}}}", NULL);
    transaction("me@a.test", rc);
    assert_int_equal(user_store_memory_fetches(fx->store), 1);   /* the sender, at MAIL */
    run(STAGE_END);
    assert_null(engine_reply(fx->s));
    assert_int_equal(result(0)->disp, DISP_TAG);   /* high would mark: no Subject tag out */
    assert_null(result(0)->subject_prefix);
    engine_tx_end(fx->s);
    engine_session_free(fx->s);
    engine_free(fx->e);
    pt_free(&fx->cfg);
    start("{\"direction\": \"submission\", \"checks\": {\"testsym\": {\"emit\":"
          " [\"TEST_SCORE*8\"]}}}", NULL);
    transaction("me@a.test", rc);
    run(STAGE_END);
    r = engine_reply(fx->s);                        /* high: kill 8, refused outbound */
    assert_non_null(r);
    assert_int_equal(r->code, 550);
}

/* ---- results for the session ------------------------------------------------------------- */

static void records_parse_back_and_log_lines_group_recipients(void **state)
{
    static const char *const rc[] = { "alice@a.test", "bob@a.test", "carol@strict.test",
                                      NULL };
    char *rec;

    (void)state;
    start("{\"checks\": {\"testsym\": {\"emit\": [\"TEST_SCORE*6.2\"]}}}", NULL);
    transaction("s@sender.test", rc);
    run(STAGE_END);
    rec = engine_records(fx->s);
    assert_string_equal(rec,
        "policy 0 tag 6.2 5 8 HS medium syms=TEST_SCORE:6.2\n"
        "policy 1 tag 6.2 5 8 HS medium syms=TEST_SCORE:6.2\n"
        "policy 2 mark 6.2 3 5 HS high syms=TEST_SCORE:6.2 prefix=+++SPAM+++%20 reason=spam\n");
    free(rec);
    engine_log_results(fx->s, "QID1");   /* two lines: alice and bob together, carol */
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(an_empty_profile_passes_everything_synchronously),
        T(symbols_add_up_and_each_recipients_level_decides),
        T(a_score_over_kill_is_refused_at_rcpt_but_not_for_postmaster),
        T(the_multi_recipient_rule_at_end),
        T(a_checks_refusal_in_a_mixed_message_becomes_quarantine),
        T(any_deferral_makes_the_refusal_temporary),
        T(an_action_at_end_is_kept_with_its_reason),
        T(whitelisted_senders_are_not_spam_and_skip_bypass_checks),
        T(blacklisted_senders_are_refused_when_the_level_says_so),
        T(excluded_recipients_get_no_spam_headers),
        T(a_refusal_at_connect_is_given_at_rcpt_except_to_postmaster),
        T(refuse_now_and_disconnect_answer_the_command),
        T(groups_run_in_order_and_refused_recipients_are_not_seen_later),
        T(checks_of_a_group_run_together_and_a_late_one_times_out),
        T(a_check_that_defers_when_unsure_defers_unless_the_level_accepts),
        T(unsure_before_rcpt_is_judged_per_recipient),
        T(a_session_dying_mid_stage_cancels_everything_and_never_calls_back),
        T(a_transaction_reset_mid_stage_cancels_too),
        T(a_session_dying_while_settings_are_read_never_calls_back),
        T(later_checks_read_earlier_facts),
        T(a_full_check_pool_answers_451_at_end),
        T(a_worker_job_of_a_dead_session_is_freed_without_its_done),
        T(user_settings_come_from_the_store_once_per_batch),
        T(no_round_trip_when_no_check_needs_settings),
        T(a_store_outage_uses_domain_settings_and_alerts_once),
        T(submission_uses_the_senders_settings_and_outbound_defaults),
        T(records_parse_back_and_log_lines_group_recipients),
    };

    test_checks_register();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
