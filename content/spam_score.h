/*
 * spam_score.h - the spam score of one message, as the daemon's check (check_spam) and
 * `posternctl spam score` compute it: the classifier's points (naive Bayes, spam_model.h)
 * and the rules (spam_rules_list.h), from one pass of the tokenizer (spam_tok.h).
 *
 * Classifier points: the naive Bayes probability p mapped to BAYES_SPAM (0 .. +10, p above
 * 0.5) or BAYES_HAM (0 .. -3, p below 0.5); nothing when the model knows fewer than
 * SPAM_MIN_LEARNED spam or ham messages. The check gives them as weights of symbols whose
 * configured score is 1, so `policy.symbols` can scale them.
 */
#ifndef POSTERN_CONTENT_SPAM_SCORE_H
#define POSTERN_CONTENT_SPAM_SCORE_H

#include <stdbool.h>
#include <stddef.h>

#include "content/spam_model.h"
#include "content/spam_tok.h"

#define SPAM_BAYES_MAX   10.0
#define SPAM_BAYES_MIN   (-3.0)
#define SPAM_RULES_MAX   32

struct spam_rule_def {
    const char *name;
    double score;
    const char *description;
};

/* Every rule, in spam_rules_list.h order; terminated by a row with name NULL. */
extern const struct spam_rule_def spam_rule_defs[];

struct spam_score {
    double total;             /* bayes_points + the default scores of the rules hit */
    double bayes_prob;        /* 0..1; -1: the classifier abstained */
    double bayes_points;      /* SPAM_BAYES_MIN .. SPAM_BAYES_MAX (0 when abstaining) */
    const char *bayes_symbol; /* "BAYES_SPAM", "BAYES_HAM" or NULL */
    size_t nrules;
    const struct spam_rule_def *rules[SPAM_RULES_MAX];   /* rules hit */
    struct spam_facts facts;
};

/* Score msg (len bytes) with model m (NULL: rules only). Thread-safe for a shared m. */
void spam_score_message(const struct spam_model *m, const char *msg, size_t len,
                        struct spam_score *out);

/* The same, keeping the message's features in keep (start it zeroed; free it with
 * spam_features_free): what autolearn learns, without a second pass. */
void spam_score_message_keep(const struct spam_model *m, const char *msg, size_t len,
                             struct spam_score *out, struct spam_features *keep);

/* Points of a probability (the mapping above). */
double spam_bayes_points(double p);

/* Learn (sign +1) or unlearn (-1) one message into an in-memory model. */
void spam_score_learn(struct spam_model *m, const char *msg, size_t len, bool spam, int sign);

#endif
