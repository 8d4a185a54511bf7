/*
 * check_spam.h - the spam check (check_spam.c): classifier + rules at END, on the check
 * pool. Also what `posternctl spam score` shares with it, so that the offline score is
 * the daemon's: the symbols of a message's spam_score.
 */
#ifndef POSTERN_POLICY_CHECKS_CHECK_SPAM_H
#define POSTERN_POLICY_CHECKS_CHECK_SPAM_H

#include "content/spam_autolearn.h"
#include "content/spam_score.h"
#include "policy/check_api.h"

struct spam_snap;

#define SPAM_READ_MAX_DEFAULT (1024 * 1024)  /* bytes of a message that are scored */

/* The symbols of sc, as the check adds them: BAYES_SPAM / BAYES_HAM with the
 * classifier's points as weight, then each rule hit with weight 1. */
void check_spam_symbols(const struct spam_score *sc,
                        void (*emit)(void *ctx, const char *name, double weight,
                                     const char *text),
                        void *ctx);

/* Autolearn (content/spam_autolearn.h): a message the check scored with autolearn on
 * leaves a candidate, whose id is the transaction's fact "spam.autolearn"; at the end of
 * END, policy/autolearn.c takes it and either learns it or drops it. Loop thread. */
struct spam_al_candidate {
    long long id;
    struct spam_autolearn_conf conf;   /* the profile's, when it was scored */
    bool gtube;
    char digest[SPAM_AL_DIGEST_LEN + 1];
    uint64_t *feat;                    /* its features, sorted, unique */
    size_t n;
};
/* The candidate of id (taken: the caller learns or drops it), or NULL when it is gone. */
struct spam_al_candidate *check_spam_candidate_take(long long id);
/* Hand it to the node's learner (spam_learner.h) as spam or ham; frees c. */
void check_spam_candidate_learn(struct spam_al_candidate *c, const char *qid, bool spam,
                                double score);
void check_spam_candidate_drop(struct spam_al_candidate *c);
/* Autolearns not finished yet (tests). */
unsigned check_spam_autolearn_busy(void);

/* Tests: score with this model instead of the one from Redis (takes a reference; NULL
 * drops it). */
void check_spam_use_model(struct spam_snap *snap);

#endif
