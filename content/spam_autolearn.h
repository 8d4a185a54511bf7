/*
 * spam_autolearn.h - when the classifier learns a message by itself (autolearn), the way
 * SpamAssassin's bayes_auto_learn does it: only mail whose score, decided mostly by
 * evidence other than the classifier's own symbol, is far on one side.
 *
 * The config (the "autolearn" object inside the spam check's settings of a profile, so
 * inbound and submission profiles switch it separately) and the decision, a pure function
 * of what the engine decided for each recipient. The asynchronous write to Redis is
 * content/spam_learner.h.
 *
 * Decision for one recipient (spam_autolearn_decide):
 *   total  the recipient's score as the engine computed it (every symbol, the
 *          classifier's BAYES_SPAM / BAYES_HAM included);
 *   rules  the sum of every other symbol's score (not the classifier's);
 *   spam   when total >= spam and rules >= spam_rules: the classifier alone can never
 *          make a message spam for learning (its points are at most 10);
 *   ham    when total <= ham, rules <= ham and no symbol other than the classifier's scored
 *          ham_rule_max or more (no rule fired strongly, even if others cancelled it);
 *   never  for GTUBE (a test message, not spam to learn from), for a sender on a white- or
 *          blacklist (a person's decision, not evidence), or when a recipient of the
 *          transaction was refused before DATA.
 * A message with several recipients is learned only when every recipient's decision is the
 * same class.
 * Threading: pure, any thread.
 */
#ifndef POSTERN_CONTENT_SPAM_AUTOLEARN_H
#define POSTERN_CONTENT_SPAM_AUTOLEARN_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/conf.h"

struct spam_autolearn_conf {
    bool enabled;
    double spam;            /* total score at or above which a message is learned as spam */
    double spam_rules;      /* ... when at least this much of it is not the classifier's */
    double ham;             /* total (and rules) score at or below which it is ham */
    double ham_rule_max;    /* ... unless one non-classifier symbol scored this much */
    long long rate;         /* autolearns per minute on this node */
};

/* The "autolearn" section (keys, defaults, bounds; validate: ham < spam). */
extern const struct conf_section spam_autolearn_section;

enum spam_al_class { SPAM_AL_NONE, SPAM_AL_SPAM, SPAM_AL_HAM };

/* What the engine gave one recipient, summed up for the decision. */
struct spam_al_input {
    double total;           /* the recipient's score */
    double rules;           /* the part of it that is not the classifier's */
    double max_rule;        /* the largest score of one non-classifier symbol */
    bool gtube;             /* the GTUBE test string is in the message */
    bool listed;            /* the sender is on a whitelist or blacklist of the recipient */
    bool refused_early;     /* a recipient of the transaction was refused before DATA */
};

/* Is this symbol one of the classifier's own (BAYES_SPAM, BAYES_HAM)? */
bool spam_al_classifier_symbol(const char *name);
/* Is this symbol a list decision (SENDER_WHITELISTED, SENDER_BLACKLISTED)? */
bool spam_al_list_symbol(const char *name);

/* Fold one symbol of a recipient's result into in (total, rules, max_rule, listed). */
void spam_al_add_symbol(struct spam_al_input *in, const char *name, double score);

/* The class to learn for one recipient, or SPAM_AL_NONE with *why set to the reason when
 * a guard (not the score) kept it from learning: "gtube", "listed", "refused_early",
 * "classifier_only" (spam by total, not by the rules), "strong_rule" (ham by total, but a
 * rule fired); *why NULL when the score is simply between the thresholds. */
enum spam_al_class spam_autolearn_decide(const struct spam_autolearn_conf *c,
                                         const struct spam_al_input *in, const char **why);

/* The class of a message from its recipients' inputs (n >= 1): the class every recipient
 * gives, or SPAM_AL_NONE with *why the first guard that held, or "disagree" when
 * recipients give different classes (NULL: all between the thresholds). *score: the
 * first recipient's total. */
enum spam_al_class spam_autolearn_message(const struct spam_autolearn_conf *c,
                                          const struct spam_al_input *in, size_t n,
                                          const char **why, double *score);

const char *spam_al_class_name(enum spam_al_class c);   /* "spam", "ham", "none" */

/* What makes a message "the same message" for learning it once: 32 hex digits of the
 * SHA-256 of its Message-ID value and its body (not the trace header fields a relay adds:
 * the same mail sent again, or reaching another node, has the same digest). */
#define SPAM_AL_DIGEST_LEN 32
void spam_al_digest(const char *msg, size_t len, char out[SPAM_AL_DIGEST_LEN + 1]);

#endif
