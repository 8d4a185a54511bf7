/*
 * spam_model.h - the spam classifier's model in memory and its two learners: a
 * Robinson/Fisher naive Bayes over per-feature spam/ham message counts (the one Postern
 * ships, see docs in notes/README: order-independent, additive, so it can live in Redis as
 * counters) and an online logistic regression (margin-based updates) kept for comparison
 * by `make spam-eval`.
 *
 * The table maps a feature hash (spam_tok.h) to its counts and its weight; open
 * addressing, grows by doubling. A model used for scoring is read-only, so any number of
 * threads may score with it at once; learning needs the only reference.
 */
#ifndef POSTERN_CONTENT_SPAM_MODEL_H
#define POSTERN_CONTENT_SPAM_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "content/spam_tok.h"

struct spam_entry {
    uint64_t key;              /* feature hash; 0 = empty slot */
    uint32_t ns, nh;           /* spam / ham messages that had it */
    float w;                   /* logistic regression weight */
    uint32_t stamp;            /* day it was last learned (expiry) */
};

struct spam_model {
    struct spam_entry *tab;
    size_t cap, used;          /* cap: power of two */
    uint64_t nspam, nham;      /* messages learned */
    float bias;                /* logistic regression */
};

/* Naive Bayes parameters (Robinson's f(w), Fisher's chi-square combining). */
#define SPAM_NB_S        1.0   /* strength of the 0.5 prior of a rare feature */
#define SPAM_NB_MINDEV   0.30  /* features with |f - 0.5| below this are ignored
                                  (s, mindev, maxclues: tuned by 10-fold CV) */
#define SPAM_NB_MAXCLUES 400   /* most significant features used */
#define SPAM_MIN_LEARNED 10    /* fewer spam or ham than this: the classifier abstains */

void spam_model_init(struct spam_model *m, size_t cap_hint);
void spam_model_clear(struct spam_model *m);

/* The entry of key, or NULL; spam_model_slot adds it (zeroed) when absent. */
const struct spam_entry *spam_model_get(const struct spam_model *m, uint64_t key);
struct spam_entry *spam_model_slot(struct spam_model *m, uint64_t key);

/* Naive Bayes: count one message (sign +1 learn, -1 unlearn). */
void spam_nb_learn(struct spam_model *m, const struct spam_features *f, bool spam, int sign,
                   uint32_t stamp);
/* Spam probability 0..1 by naive Bayes; -1 when the model knows too few messages. */
double spam_nb_prob(const struct spam_model *m, const struct spam_features *f);

/* Logistic regression: one online step (only when the margin is not met). Returns true
 * when it changed weights. */
bool spam_lr_learn(struct spam_model *m, const struct spam_features *f, bool spam);
double spam_lr_prob(const struct spam_model *m, const struct spam_features *f);

#endif
