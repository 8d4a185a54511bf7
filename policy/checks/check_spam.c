/*
 * check_spam.c - the spam check: at END, on the bounded check pool, the message's spam
 * score (content/spam_score.h: naive Bayes classifier + rules) from this node's snapshot
 * of the model in Redis (content/spam_snapshot.h), given to the engine as symbols:
 * BAYES_SPAM / BAYES_HAM weighted by the classifier's points, and one symbol per rule.
 * The engine turns the sum into the recipient's action by its protection level.
 *
 * One snapshot refresher per process, shared by every profile that runs the check.
 */
#include "policy/checks/check_spam.h"

#include "content/spam_autolearn.h"
#include "content/spam_learner.h"
#include "content/spam_snapshot.h"
#include "lib/xalloc.h"
#include "policy/checks/checks.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct symbol_def spam_symbols[] = {
    { "BAYES_SPAM", 1.0, "classifier says spam; weight: its points, 0 .. 10 by probability" },
    { "BAYES_HAM", 1.0, "classifier says ham; weight: its points, -3 .. 0 by probability" },
#define SPAM_RULE(NAME, SCORE, DESC, COND) { #NAME, SCORE, DESC },
#include "content/spam_rules_list.h"
#undef SPAM_RULE
    { NULL, 0, NULL }
};

struct spam_settings {
    long long refresh_ms;
    long long max_size;
    struct spam_autolearn_conf autolearn;
};

#define SS(f) offsetof(struct spam_settings, f)
static const struct conf_key spam_keys[] = {
    { .name = "refresh", .type = CONF_DURATION, .offset = SS(refresh_ms), .def = "5s",
      .min = 100, .max = 3600000,
      .help = "how often this node checks Redis for a newer classifier model" },
    { .name = "max_size", .type = CONF_SIZE, .offset = SS(max_size), .def = "1M",
      .min = 4096, .max = 64 << 20,
      .help = "bytes of a message that are scored (the rest is not looked at)" },
    { .name = "autolearn", .type = CONF_SECTION, .offset = SS(autolearn),
      .sub = &spam_autolearn_section,
      .help = "autolearn: the classifier learns by itself from mail whose score, mostly "
              "from other symbols than its own, is far on one side (off by default)" },
    { .name = NULL }
};
static const struct conf_section spam_section = { .name = "spam check", .keys = spam_keys };

/* ---- the shared snapshot --------------------------------------------------------------- */

static struct spam_snapshot *shared;
static struct spam_learner *learner;
static int shared_users;
static struct spam_snap *test_model;

/* ---- autolearn candidates ---------------------------------------------------------------- */

/* A message scored with autolearn on waits here, under the id its transaction keeps as
 * the fact spam.autolearn, until the end of its END stage says what it scored
 * (policy/autolearn.c); one whose transaction never gets there is dropped when its slot is
 * reused. */
#define CANDIDATES 64
static struct spam_al_candidate *candidates[CANDIDATES];
static long long next_candidate = 1;

static void candidate_free(struct spam_al_candidate *c)
{
    if (c != NULL) {
        free(c->feat);
        free(c);
    }
}

static long long candidate_put(struct spam_al_candidate *c)
{
    size_t slot;

    c->id = next_candidate++;
    slot = (size_t)(c->id % CANDIDATES);
    candidate_free(candidates[slot]);
    candidates[slot] = c;
    return c->id;
}

struct spam_al_candidate *check_spam_candidate_take(long long id)
{
    size_t slot = (size_t)((id < 0 ? -id : id) % CANDIDATES);
    struct spam_al_candidate *c = candidates[slot];

    if (c == NULL || c->id != id)
        return NULL;
    candidates[slot] = NULL;
    return c;
}

void check_spam_candidate_learn(struct spam_al_candidate *c, const char *qid, bool spam,
                                double score)
{
    if (learner == NULL) {
        spam_learner_skip(qid, "redis");
    } else {
        spam_learner_add(learner, qid, spam, score, c->digest, c->feat, c->n, c->conf.rate);
        c->feat = NULL;
    }
    candidate_free(c);
}

void check_spam_candidate_drop(struct spam_al_candidate *c)
{
    candidate_free(c);
}

unsigned check_spam_autolearn_busy(void)
{
    return learner ? spam_learner_busy(learner) : 0;
}

void check_spam_use_model(struct spam_snap *snap)
{
    spam_snap_unref(test_model);
    test_model = spam_snap_ref(snap);
}

struct spam_state {
    const struct engine_env *env;
    bool uses_shared;
};

static int spam_init(const struct engine_env *env, const void *settings, void **state)
{
    const struct spam_settings *ss = settings;
    struct spam_state *st = xcalloc(1, sizeof(*st));

    st->env = env;
    if (env->redis != NULL && env->base != NULL) {
        if (shared == NULL)
            shared = spam_snapshot_new(env->base, env->redis, env->check_pool,
                                       ss->refresh_ms);
        if (learner == NULL)
            learner = spam_learner_new(env->base, env->redis, env->check_pool,
                                       SPAM_LEARN_FLUSH_MS);
        shared_users++;
        st->uses_shared = true;
    }
    *state = st;
    return 0;
}

static void spam_free(void *state)
{
    struct spam_state *st = state;

    if (st->uses_shared && --shared_users == 0) {
        size_t i;
        spam_snapshot_free(shared);
        shared = NULL;
        spam_learner_free(learner);
        learner = NULL;
        for (i = 0; i < CANDIDATES; i++) {
            candidate_free(candidates[i]);
            candidates[i] = NULL;
        }
    }
    free(st);
}

/* ---- symbols ------------------------------------------------------------------------------ */

void check_spam_symbols(const struct spam_score *sc,
                        void (*emit)(void *ctx, const char *name, double weight,
                                     const char *text),
                        void *ctx)
{
    char text[32];
    size_t i;

    if (sc->bayes_symbol != NULL) {
        snprintf(text, sizeof(text), "p=%.4f", sc->bayes_prob);
        emit(ctx, sc->bayes_symbol, sc->bayes_points, text);
    }
    for (i = 0; i < sc->nrules; i++)
        emit(ctx, sc->rules[i]->name, 1.0, NULL);
}

/* ---- the job ---------------------------------------------------------------------------- */

struct spam_job {
    struct spam_snap *snap;
    struct spam_score score;
    struct spam_al_candidate *cand;    /* autolearn on: what it would learn */
};

static void job_work(void *arg, const char *msg, size_t len)
{
    struct spam_job *j = arg;
    const struct spam_model *m = j->snap ? spam_snap_model(j->snap) : NULL;

    if (msg == NULL)
        return;
    if (j->cand == NULL) {
        spam_score_message(m, msg, len, &j->score);
    } else {
        struct spam_features f = { 0 };
        spam_score_message_keep(m, msg, len, &j->score, &f);
        j->cand->feat = f.v;           /* sorted, unique: as spam_nb_learn reads them */
        j->cand->n = f.n;
        j->cand->gtube = j->score.facts.gtube;
        spam_al_digest(msg, len, j->cand->digest);
    }
}

static void emit_symbol(void *ctx, const char *name, double weight, const char *text)
{
    check_symbol(ctx, CHECK_ALL, name, weight, text);
}

static void job_done(struct check_call *c, void *arg, bool read_ok)
{
    struct spam_job *j = arg;

    if (!read_ok) {
        check_unsure(c, CHECK_ALL, NULL);
    } else {
        check_spam_symbols(&j->score, emit_symbol, c);
        if (j->score.bayes_prob >= 0)
            check_fact_set(c, FACT_TX, "spam.bayes", json_real(j->score.bayes_prob));
        if (j->cand != NULL && j->cand->feat != NULL) {
            check_fact_set(c, FACT_TX, "spam.autolearn",
                           json_integer(candidate_put(j->cand)));
            j->cand = NULL;
        }
    }
    check_done(c);
}

static void job_free(void *arg)
{
    struct spam_job *j = arg;

    spam_snap_unref(j->snap);
    candidate_free(j->cand);
    free(j);
}

static enum call_status spam_run(struct check_call *c)
{
    const struct spam_settings *ss = check_call_settings(c);
    struct spam_job *j = xcalloc(1, sizeof(*j));

    j->snap = test_model ? spam_snap_ref(test_model)
                         : shared ? spam_snapshot_get(shared) : NULL;
    if (ss->autolearn.enabled && learner != NULL) {
        j->cand = xcalloc(1, sizeof(*j->cand));
        j->cand->conf = ss->autolearn;
    }
    return check_message_submit(c, (unsigned long long)ss->max_size, j, job_work, job_done,
                                job_free);
}

static void spam_cancel(struct check_call *c)
{
    (void)c;      /* the job, if any, is detached by the engine: only job_free runs */
}

const struct check_def check_spam = {
    .name = "spam",
    .description = "statistical classifier (naive Bayes, model shared through Redis) and "
                   "content rules",
    .stages = STAGE_BIT(STAGE_END),
    .directions = DIR_ALL,
    .group = 80,
    .async = true,
    .flags = CHECK_NEEDS_REDIS,
    .unsure = UNSURE_ACCEPT,
    .reason = "spam",
    .symbols = spam_symbols,
    .settings = &spam_section,
    .settings_size = sizeof(struct spam_settings),
    .init = spam_init,
    .free = spam_free,
    .run = spam_run,
    .cancel = spam_cancel,
};
