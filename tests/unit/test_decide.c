/*
 * test_decide.c - unit tests of policy/decide: the score/action arithmetic at every
 * threshold of each shipped level, lists, role addresses, submission, header-only
 * domains, checks' verdicts, and the multi-recipient rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy/decide.h"
#include "policy/levels.h"
#include "tests/unit/policy_testconf.h"

static struct pt_root cfg;

static int load_shipped(void **state)
{
    (void)state;
    return pt_load("{}", &cfg, NULL);
}

static int free_cfg(void **state)
{
    (void)state;
    pt_free(&cfg);
    return 0;
}

/* An input for level `name` at score s, nothing else set. */
static struct decide_input at(const char *name, double s)
{
    const struct level_conf *l = level_find(&cfg.policy.levels, name);
    struct decide_input in = { 0 };

    assert_non_null(l);
    in.score = s;
    in.tag = l->tag;
    in.spam = l->spam;
    in.kill = l->kill;
    in.spam_action = level_spam_disposition(l);
    in.blacklist_refuses = l->blacklist == BLACKLIST_REFUSE;
    return in;
}

static enum disposition disp_of(struct decide_input in)
{
    struct decision d;

    decide_rcpt(&in, &d);
    return d.disp;
}

static void level_action_leaves_the_checks_verdicts_out(void **state)
{
    struct decide_input in = at("medium", 0);

    (void)state;
    in.verdict = DISP_QUARANTINE;                     /* a virus, say: not the level's */
    assert_int_equal(decide_level_action(&in, true), DISP_PASS);
    in.score = 5;
    assert_int_equal(decide_level_action(&in, true), DISP_TAG);
    in.score = 8;
    assert_int_equal(decide_level_action(&in, true), DISP_MARK);
    in.spam_action = DISP_QUARANTINE;
    assert_int_equal(decide_level_action(&in, true), DISP_QUARANTINE);
    in.spam_action = DISP_MARK;
    in.score = 12;                                    /* kill */
    in.verdict = DISP_REFUSE;
    assert_int_equal(decide_level_action(&in, false), DISP_REFUSE);
    /* accepted for others in a mixed message: the spam action instead */
    assert_int_equal(decide_level_action(&in, true), DISP_MARK);
    in.header_only = true;
    assert_int_equal(decide_level_action(&in, true), DISP_TAG);
    in.header_only = false;
    in.submission = true;
    in.score = 9;
    assert_int_equal(decide_level_action(&in, true), DISP_TAG);
    in.excluded = true;
    in.score = 100;
    assert_int_equal(decide_level_action(&in, false), DISP_PASS);
    assert_string_equal(decide_action_label(DISP_PASS), "none");
    assert_string_equal(decide_action_label(DISP_TAG), "tag");
    assert_string_equal(decide_action_label(DISP_MARK), "subject");
    assert_string_equal(decide_action_label(DISP_QUARANTINE), "quarantine");
    assert_string_equal(decide_action_label(DISP_DISCARD), "discard");
    assert_string_equal(decide_action_label(DISP_REFUSE), "refuse");
    assert_string_equal(decide_action_label(DISP_WRAP), "other");
}

static void every_threshold_of_each_shipped_level(void **state)
{
    static const struct { const char *name; double tag, spam, kill; } lv[] = {
        { "high", 3, 5, 8 }, { "medium", 5, 8, 12 }, { "low", 8, 12, 20 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < 3; i++) {
        const struct level_conf *l = level_find(&cfg.policy.levels, lv[i].name);
        struct decision d;
        assert_true(l->tag == lv[i].tag && l->spam == lv[i].spam && l->kill == lv[i].kill);
        assert_int_equal(disp_of(at(lv[i].name, -5)), DISP_PASS);
        assert_int_equal(disp_of(at(lv[i].name, lv[i].tag - 0.1)), DISP_PASS);
        assert_int_equal(disp_of(at(lv[i].name, lv[i].tag)), DISP_TAG);
        assert_int_equal(disp_of(at(lv[i].name, lv[i].spam - 0.1)), DISP_TAG);
        assert_int_equal(disp_of(at(lv[i].name, lv[i].spam)), DISP_MARK);
        assert_int_equal(disp_of(at(lv[i].name, lv[i].kill - 0.1)), DISP_MARK);
        assert_int_equal(disp_of(at(lv[i].name, lv[i].kill)), DISP_REFUSE);
        assert_int_equal(disp_of(at(lv[i].name, 1000)), DISP_REFUSE);
        /* spam flag from the tag score on; headers always (not excluded) */
        decide_rcpt(&(struct decide_input){ .score = lv[i].tag - 0.1, .tag = lv[i].tag,
                                            .spam = lv[i].spam, .kill = lv[i].kill,
                                            .spam_action = DISP_MARK }, &d);
        assert_false(d.spam);
        assert_true(d.headers);
        decide_rcpt(&(struct decide_input){ .score = lv[i].kill, .tag = lv[i].tag,
                                            .spam = lv[i].spam, .kill = lv[i].kill,
                                            .spam_action = DISP_MARK }, &d);
        assert_true(d.spam);
        assert_true(d.spam_refusal);
        assert_int_equal(d.mixed, DISP_MARK);
    }
}

static void spam_action_quarantine_and_discard(void **state)
{
    struct decide_input in = at("medium", 9);

    (void)state;
    in.spam_action = DISP_QUARANTINE;
    assert_int_equal(disp_of(in), DISP_QUARANTINE);
    in.spam_action = DISP_DISCARD;
    assert_int_equal(disp_of(in), DISP_DISCARD);
    in.score = 4;
    assert_int_equal(disp_of(in), DISP_PASS);
}

static void excluded_recipient_is_not_checked(void **state)
{
    struct decide_input in = at("high", 50);
    struct decision d;

    (void)state;
    in.excluded = true;
    decide_rcpt(&in, &d);
    assert_int_equal(d.disp, DISP_PASS);
    assert_false(d.spam);
    assert_false(d.headers);
}

static void whitelisted_sender_is_never_spam(void **state)
{
    struct decide_input in = at("high", 50);
    struct decision d;

    (void)state;
    in.whitelisted = true;
    decide_rcpt(&in, &d);
    assert_int_equal(d.disp, DISP_PASS);
    assert_false(d.spam);
    assert_true(d.headers);
    /* but a check's verdict (a virus) still counts */
    in.verdict = DISP_REFUSE;
    decide_rcpt(&in, &d);
    assert_int_equal(d.disp, DISP_REFUSE);
}

static void blacklisted_sender_gets_the_spam_action_or_a_refusal(void **state)
{
    struct decide_input in = at("low", -10);
    struct decision d;

    (void)state;
    in.blacklisted = true;
    decide_rcpt(&in, &d);
    assert_int_equal(d.disp, DISP_MARK);
    assert_true(d.spam);
    in.blacklist_refuses = true;
    decide_rcpt(&in, &d);
    assert_int_equal(d.disp, DISP_REFUSE);
    assert_true(d.spam_refusal);
    assert_int_equal(d.mixed, DISP_MARK);
    in.role = true; /* postmaster@ is never refused for spam */
    assert_int_equal(disp_of(in), DISP_MARK);
}

static void role_address_is_not_refused_for_spam(void **state)
{
    struct decide_input in = at("high", 30);

    (void)state;
    in.role = true;
    assert_int_equal(disp_of(in), DISP_MARK);
    in.spam_action = DISP_QUARANTINE;
    assert_int_equal(disp_of(in), DISP_QUARANTINE);
    /* nor does it escape a virus refusal */
    in.verdict = DISP_REFUSE;
    assert_int_equal(disp_of(in), DISP_REFUSE);
}

static void submission_tags_instead_of_marking_and_refuses_at_kill(void **state)
{
    struct decide_input in = at("medium", 9);
    struct decision d;

    (void)state;
    in.submission = true;
    in.header_only = true;
    assert_int_equal(disp_of(in), DISP_TAG);
    in.score = 12;
    decide_rcpt(&in, &d);
    assert_int_equal(d.disp, DISP_REFUSE);
    assert_int_equal(d.mixed, DISP_TAG);
    in.role = true; /* no role exemption for outbound spam */
    assert_int_equal(disp_of(in), DISP_REFUSE);
}

static void header_only_recipient_gets_no_subject_tag_or_wrap(void **state)
{
    struct decide_input in = at("medium", 9);

    (void)state;
    in.header_only = true;
    assert_int_equal(disp_of(in), DISP_TAG);
    in.score = 0;
    in.verdict = DISP_WRAP;
    assert_int_equal(disp_of(in), DISP_TAG);
    in.verdict = DISP_QUARANTINE;
    assert_int_equal(disp_of(in), DISP_QUARANTINE);
}

static void checks_verdicts_combine_by_severity(void **state)
{
    struct decide_input in = at("medium", 9);   /* the score says mark */
    struct decision d;

    (void)state;
    in.verdict = DISP_WRAP;
    assert_int_equal(disp_of(in), DISP_WRAP);
    in.verdict = DISP_TAG;
    assert_int_equal(disp_of(in), DISP_MARK);
    in.verdict = DISP_REFUSE;
    decide_rcpt(&in, &d);
    assert_int_equal(d.disp, DISP_REFUSE);
    assert_false(d.spam_refusal);
    assert_int_equal(d.mixed, DISP_QUARANTINE);      /* a check's refusal: default */
    in.verdict_mixed = DISP_WRAP;
    decide_rcpt(&in, &d);
    assert_int_equal(d.mixed, DISP_WRAP);
    /* a check's refusal wins over a spam refusal (its reply says more) */
    in.score = 20;
    in.verdict_mixed = DISP_NONE;
    decide_rcpt(&in, &d);
    assert_false(d.spam_refusal);
    assert_int_equal(d.disp, DISP_REFUSE);
}

static void deferral_in_a_mixed_message_falls_back_to_the_score(void **state)
{
    struct decide_input in = at("medium", 6);
    struct decision d;

    (void)state;
    in.verdict = DISP_DEFER;
    decide_rcpt(&in, &d);
    assert_int_equal(d.disp, DISP_DEFER);
    assert_int_equal(d.mixed, DISP_TAG);
    /* a declared substitute is never milder than the score */
    in.verdict_mixed = DISP_PASS;
    in.score = 9;
    decide_rcpt(&in, &d);
    assert_int_equal(d.mixed, DISP_MARK);
    in.verdict_mixed = DISP_QUARANTINE;
    decide_rcpt(&in, &d);
    assert_int_equal(d.mixed, DISP_QUARANTINE);
}

static void message_is_refused_only_when_every_recipient_refuses(void **state)
{
    struct decision d[3] = {
        { .disp = DISP_REFUSE, .mixed = DISP_MARK }, { .disp = DISP_REFUSE },
        { .disp = DISP_PASS },
    };
    size_t from = 99;

    (void)state;
    assert_int_equal(decide_message(d, 2, &from), MESSAGE_REFUSE);
    assert_int_equal(from, 0);
    assert_int_equal(decide_message(d, 3, &from), MESSAGE_ACCEPT);
    assert_int_equal(decide_applied(&d[0]), DISP_MARK);
    assert_int_equal(decide_applied(&d[1]), DISP_PASS);
    assert_int_equal(decide_applied(&d[2]), DISP_PASS);
    assert_int_equal(decide_message(d, 0, &from), MESSAGE_ACCEPT);
}

static void any_deferral_makes_the_refusal_temporary(void **state)
{
    struct decision d[3] = {
        { .disp = DISP_REFUSE }, { .disp = DISP_DEFER, .mixed = DISP_TAG },
        { .disp = DISP_REFUSE },
    };
    size_t from = 99;

    (void)state;
    assert_int_equal(decide_message(d, 3, &from), MESSAGE_DEFER);
    assert_int_equal(from, 1);
    assert_int_equal(decide_message(&d[1], 1, &from), MESSAGE_DEFER);
    assert_int_equal(from, 0);
    assert_int_equal(decide_applied(&d[1]), DISP_TAG);
}

static void high_and_low_recipients_of_one_message(void **state)
{
    /* score 6: high would mark, low passes: accepted, each gets its own */
    struct decision d[2];
    size_t from;

    (void)state;
    {
        struct decide_input hi = at("high", 6), lo = at("low", 6);
        decide_rcpt(&hi, &d[0]);
        decide_rcpt(&lo, &d[1]);
    }
    assert_int_equal(decide_message(d, 2, &from), MESSAGE_ACCEPT);
    assert_int_equal(decide_applied(&d[0]), DISP_MARK);
    assert_int_equal(decide_applied(&d[1]), DISP_PASS);
    /* score 9: high would refuse, low tags: accepted; high gets its spam action */
    {
        struct decide_input hi = at("high", 9), lo = at("low", 9);
        decide_rcpt(&hi, &d[0]);
        decide_rcpt(&lo, &d[1]);
    }
    assert_int_equal(d[0].disp, DISP_REFUSE);
    assert_int_equal(decide_message(d, 2, &from), MESSAGE_ACCEPT);
    assert_int_equal(decide_applied(&d[0]), DISP_MARK);
    assert_int_equal(decide_applied(&d[1]), DISP_TAG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_threshold_of_each_shipped_level),
        cmocka_unit_test(level_action_leaves_the_checks_verdicts_out),
        cmocka_unit_test(spam_action_quarantine_and_discard),
        cmocka_unit_test(excluded_recipient_is_not_checked),
        cmocka_unit_test(whitelisted_sender_is_never_spam),
        cmocka_unit_test(blacklisted_sender_gets_the_spam_action_or_a_refusal),
        cmocka_unit_test(role_address_is_not_refused_for_spam),
        cmocka_unit_test(submission_tags_instead_of_marking_and_refuses_at_kill),
        cmocka_unit_test(header_only_recipient_gets_no_subject_tag_or_wrap),
        cmocka_unit_test(checks_verdicts_combine_by_severity),
        cmocka_unit_test(deferral_in_a_mixed_message_falls_back_to_the_score),
        cmocka_unit_test(message_is_refused_only_when_every_recipient_refuses),
        cmocka_unit_test(any_deferral_makes_the_refusal_temporary),
        cmocka_unit_test(high_and_low_recipients_of_one_message),
    };
    return cmocka_run_group_tests(tests, load_shipped, free_cfg);
}
