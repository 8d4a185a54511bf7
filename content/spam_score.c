/*
 * spam_score.c - one message's spam score: features and facts, classifier, rules
 * (spam_score.h).
 */
#include "content/spam_score.h"

#include <math.h>
#include <string.h>
#include <time.h>

const struct spam_rule_def spam_rule_defs[] = {
#define SPAM_RULE(NAME, SCORE, DESC, COND) { #NAME, SCORE, DESC },
#include "content/spam_rules_list.h"
#undef SPAM_RULE
    { NULL, 0, NULL }
};

static size_t rules_hit(const struct spam_facts *fa, const struct spam_rule_def **hit)
{
    size_t n = 0, i = 0;

#define SPAM_RULE(NAME, SCORE, DESC, COND) \
    if ((COND) && n < SPAM_RULES_MAX)      \
        hit[n++] = &spam_rule_defs[i];     \
    i++;
#include "content/spam_rules_list.h"
#undef SPAM_RULE
    return n;
}

double spam_bayes_points(double p)
{
    if (p < 0)
        return 0;
    if (p >= 0.5) {
        double x = (p - 0.5) / 0.5;
        return SPAM_BAYES_MAX * x * x * x;
    }
    return SPAM_BAYES_MIN * (0.5 - p) / 0.5;
}

void spam_score_message(const struct spam_model *m, const char *msg, size_t len,
                        struct spam_score *out)
{
    struct spam_features f = { 0 };

    spam_score_message_keep(m, msg, len, out, &f);
    spam_features_free(&f);
}

void spam_score_message_keep(const struct spam_model *m, const char *msg, size_t len,
                             struct spam_score *out, struct spam_features *keep)
{
    struct spam_features f = *keep;
    size_t i;

    memset(out, 0, sizeof(*out));
    spam_analyze(msg, len, &f, &out->facts);
    out->bayes_prob = m ? spam_nb_prob(m, &f) : -1;
    out->bayes_points = spam_bayes_points(out->bayes_prob);
    if (out->bayes_prob >= 0)
        out->bayes_symbol = out->bayes_prob >= 0.5 ? "BAYES_SPAM" : "BAYES_HAM";
    out->nrules = rules_hit(&out->facts, out->rules);
    out->total = out->bayes_points;
    for (i = 0; i < out->nrules; i++)
        out->total += out->rules[i]->score;
    *keep = f;
}

void spam_score_learn(struct spam_model *m, const char *msg, size_t len, bool spam, int sign)
{
    struct spam_features f = { 0 };

    spam_analyze(msg, len, &f, NULL);
    spam_nb_learn(m, &f, spam, sign, (uint32_t)(time(NULL) / 86400));
    spam_features_free(&f);
}
