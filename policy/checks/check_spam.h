/*
 * check_spam.h - the spam check (check_spam.c): classifier + rules at END, on the check
 * pool. Also what `posternctl spam score` shares with it, so that the offline score is
 * the daemon's: the symbols of a message's spam_score.
 */
#ifndef POSTERN_POLICY_CHECKS_CHECK_SPAM_H
#define POSTERN_POLICY_CHECKS_CHECK_SPAM_H

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

/* Tests: score with this model instead of the one from Redis (takes a reference; NULL
 * drops it). */
void check_spam_use_model(struct spam_snap *snap);

#endif
