/*
 * test_spam_autolearn.c - autolearn's decision (content/spam_autolearn.h): thresholds,
 * the guards that keep the classifier from teaching itself (its own points never make the
 * decision), GTUBE, listed senders, refusals before DATA; and its config section (defaults,
 * bad values refused).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content/spam_autolearn.h"

static struct spam_autolearn_conf defaults(void)
{
    struct spam_autolearn_conf c;
    struct conf_errors errs = { .file = "t", .out = stderr };

    memset(&c, 0, sizeof(c));
    assert_int_equal(conf_load_buffer("t", "{}", 2, &spam_autolearn_section, &c, &errs), 0);
    return c;
}

/* The input of a recipient whose result had these symbols (name, score pairs). */
static struct spam_al_input input(const char *const *names, const double *scores, size_t n)
{
    struct spam_al_input in;
    size_t i;

    memset(&in, 0, sizeof(in));
    for (i = 0; i < n; i++)
        spam_al_add_symbol(&in, names[i], scores[i]);
    return in;
}

static enum spam_al_class decide(const struct spam_al_input *in, const char **why)
{
    struct spam_autolearn_conf c = defaults();
    return spam_autolearn_decide(&c, in, why);
}

static void defaults_are_off_12_and_0_1(void **state)
{
    struct spam_autolearn_conf c = defaults();

    (void)state;
    assert_false(c.enabled);
    assert_true(c.spam == 12.0);
    assert_true(c.ham == 0.1);
    assert_true(c.spam_rules == 6.0);
    assert_true(c.ham_rule_max == 1.0);
    assert_int_equal(c.rate, 60);
}

static void bad_values_are_refused(void **state)
{
    static const char *const bad[] = {
        "{\"ham\": 12, \"spam\": 12}", "{\"ham\": 5, \"spam\": 2}", "{\"rate\": 0}",
        "{\"spam_rules\": -1}", "{\"enabled\": \"yes\"}", "{\"spam\": \"12\"}",
        "{\"thresold\": 1}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct spam_autolearn_conf c;
        struct conf_errors errs = { .file = "t", .out = stderr };
        memset(&c, 0, sizeof(c));
        assert_int_equal(conf_load_buffer("t", bad[i], strlen(bad[i]), &spam_autolearn_section,
                                          &c, &errs), -1);
        conf_free(&spam_autolearn_section, &c);
    }
}

static void rules_and_classifier_above_12_is_spam(void **state)
{
    static const char *const n[] = { "BAYES_SPAM", "LINK_TEXT_MISMATCH", "FORGED_MUA_OUTLOOK",
                                     "MISSING_DATE", "IMAGES_ONLY" };
    static const double s[] = { 6.0, 2.0, 2.0, 1.0, 2.0 };
    struct spam_al_input in = input(n, s, 5);
    const char *why;

    (void)state;
    assert_true(in.total == 13.0);
    assert_true(in.rules == 7.0);
    assert_int_equal(decide(&in, &why), SPAM_AL_SPAM);
    assert_null(why);
}

static void the_classifier_alone_never_makes_spam(void **state)
{
    /* 10 from the classifier + 3 from rules: above 12, but only 3 of it is evidence */
    static const char *const n[] = { "BAYES_SPAM", "LINK_TEXT_MISMATCH", "MISSING_DATE" };
    static const double s[] = { 10.0, 2.0, 1.0 };
    struct spam_al_input in = input(n, s, 3);
    const char *why;

    (void)state;
    assert_int_equal(decide(&in, &why), SPAM_AL_NONE);
    assert_string_equal(why, "classifier_only");
}

static void rules_alone_above_12_is_spam(void **state)
{
    static const char *const n[] = { "DNSBL_X", "SPF_FAIL", "LINK_TEXT_MISMATCH" };
    static const double s[] = { 8.0, 3.0, 2.0 };
    struct spam_al_input in = input(n, s, 3);
    const char *why;

    (void)state;
    assert_int_equal(decide(&in, &why), SPAM_AL_SPAM);
}

static void between_the_thresholds_is_nothing(void **state)
{
    static const char *const n[] = { "BAYES_SPAM", "MISSING_DATE" };
    static const double s[] = { 4.0, 1.0 };
    struct spam_al_input in = input(n, s, 2);
    const char *why;

    (void)state;
    assert_int_equal(decide(&in, &why), SPAM_AL_NONE);
    assert_null(why);
    in = input(NULL, NULL, 0);
    in.total = in.rules = 0.5;
    assert_int_equal(decide(&in, &why), SPAM_AL_NONE);
    assert_null(why);
}

static void clean_mail_is_ham(void **state)
{
    static const char *const n[] = { "BAYES_HAM", "SPF_PASS", "DKIM_VALID", "CHARSET_MISMATCH" };
    static const double s[] = { -2.5, -0.5, -0.5, 0.5 };
    struct spam_al_input in = input(n, s, 4);
    const char *why;

    (void)state;
    assert_int_equal(decide(&in, &why), SPAM_AL_HAM);
    /* no symbol at all (the classifier abstains, nothing fired): score 0 */
    in = input(NULL, NULL, 0);
    assert_int_equal(decide(&in, &why), SPAM_AL_HAM);
}

static void a_strong_rule_blocks_ham_even_when_cancelled(void **state)
{
    static const char *const n[] = { "LINK_TEXT_MISMATCH", "DKIM_VALID", "SPF_PASS" };
    static const double s[] = { 2.0, -1.5, -1.0 };
    struct spam_al_input in = input(n, s, 3);
    const char *why;

    (void)state;
    assert_true(in.total <= 0.1);
    assert_int_equal(decide(&in, &why), SPAM_AL_NONE);
    assert_string_equal(why, "strong_rule");
}

static void the_classifier_alone_never_makes_ham(void **state)
{
    static const char *const n[] = { "BAYES_HAM", "MISSING_DATE", "CHARSET_MISMATCH" };
    static const double s[] = { -3.0, 0.9, 0.5 };
    struct spam_al_input in = input(n, s, 3);
    const char *why;

    (void)state;
    assert_int_equal(decide(&in, &why), SPAM_AL_NONE);
    assert_string_equal(why, "classifier_only");
}

static void gtube_is_never_learned(void **state)
{
    static const char *const n[] = { "GTUBE", "MISSING_DATE", "DNSBL_X" };
    static const double s[] = { 500.0, 1.0, 8.0 };
    struct spam_al_input in = input(n, s, 3);
    const char *why;

    (void)state;
    in.gtube = true;
    assert_int_equal(decide(&in, &why), SPAM_AL_NONE);
    assert_string_equal(why, "gtube");
}

static void listed_senders_are_never_learned(void **state)
{
    static const char *const w[] = { "SENDER_WHITELISTED" };
    static const char *const b[] = { "SENDER_BLACKLISTED", "DNSBL_X", "SPF_FAIL" };
    static const double ws[] = { 0.0 }, bs[] = { 0.0, 8.0, 6.0 };
    struct spam_al_input in = input(w, ws, 1);
    const char *why;

    (void)state;
    assert_int_equal(decide(&in, &why), SPAM_AL_NONE);
    assert_string_equal(why, "listed");
    in = input(b, bs, 3);
    assert_int_equal(decide(&in, &why), SPAM_AL_NONE);
    assert_string_equal(why, "listed");
}

static void refused_before_data_is_never_learned(void **state)
{
    static const char *const n[] = { "DNSBL_X", "SPF_FAIL" };
    static const double s[] = { 8.0, 6.0 };
    struct spam_al_input in = input(n, s, 2);
    const char *why;

    (void)state;
    in.refused_early = true;
    assert_int_equal(decide(&in, &why), SPAM_AL_NONE);
    assert_string_equal(why, "refused_early");
}

static void thresholds_follow_the_config(void **state)
{
    struct spam_autolearn_conf c = defaults();
    struct spam_al_input in;
    const char *why;

    (void)state;
    memset(&in, 0, sizeof(in));
    in.total = in.rules = in.max_rule = 5.0;
    assert_int_equal(spam_autolearn_decide(&c, &in, &why), SPAM_AL_NONE);
    c.spam = 5.0;
    c.spam_rules = 5.0;
    assert_int_equal(spam_autolearn_decide(&c, &in, &why), SPAM_AL_SPAM);
    c.spam_rules = 5.5;
    assert_int_equal(spam_autolearn_decide(&c, &in, &why), SPAM_AL_NONE);
    in.total = in.rules = in.max_rule = 1.0;
    c.ham = 1.0;
    c.ham_rule_max = 2.0;
    assert_int_equal(spam_autolearn_decide(&c, &in, &why), SPAM_AL_HAM);
    assert_string_equal(spam_al_class_name(SPAM_AL_HAM), "ham");
    assert_string_equal(spam_al_class_name(SPAM_AL_SPAM), "spam");
}

static void every_recipient_must_agree(void **state)
{
    struct spam_autolearn_conf c = defaults();
    struct spam_al_input in[3];
    const char *why;
    double score;

    (void)state;
    memset(in, 0, sizeof(in));
    in[0].total = in[0].rules = in[0].max_rule = 14.0;
    in[1] = in[0];
    in[1].total = 13.0;
    assert_int_equal(spam_autolearn_message(&c, in, 2, &why, &score), SPAM_AL_SPAM);
    assert_true(score == 14.0);
    /* a third recipient whose score (another level's symbols) is between the thresholds */
    in[2].total = in[2].rules = in[2].max_rule = 5.0;
    assert_int_equal(spam_autolearn_message(&c, in, 3, &why, &score), SPAM_AL_NONE);
    assert_string_equal(why, "disagree");
    /* ... or who has the sender on a whitelist: the guard is the reason */
    in[2] = in[0];
    in[2].listed = true;
    assert_int_equal(spam_autolearn_message(&c, in, 3, &why, &score), SPAM_AL_NONE);
    assert_string_equal(why, "listed");
    /* ham for all */
    memset(in, 0, sizeof(in));
    assert_int_equal(spam_autolearn_message(&c, in, 3, &why, &score), SPAM_AL_HAM);
    /* the first between the thresholds: nothing, no reason */
    in[0].total = in[0].rules = 3.0;
    assert_int_equal(spam_autolearn_message(&c, in, 3, &why, &score), SPAM_AL_NONE);
    assert_null(why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_off_12_and_0_1),
        cmocka_unit_test(bad_values_are_refused),
        cmocka_unit_test(rules_and_classifier_above_12_is_spam),
        cmocka_unit_test(the_classifier_alone_never_makes_spam),
        cmocka_unit_test(rules_alone_above_12_is_spam),
        cmocka_unit_test(between_the_thresholds_is_nothing),
        cmocka_unit_test(clean_mail_is_ham),
        cmocka_unit_test(a_strong_rule_blocks_ham_even_when_cancelled),
        cmocka_unit_test(the_classifier_alone_never_makes_ham),
        cmocka_unit_test(gtube_is_never_learned),
        cmocka_unit_test(listed_senders_are_never_learned),
        cmocka_unit_test(refused_before_data_is_never_learned),
        cmocka_unit_test(thresholds_follow_the_config),
        cmocka_unit_test(every_recipient_must_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
