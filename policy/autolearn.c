/*
 * autolearn.c - autolearn at the end of END (autolearn.h).
 */
#include "policy/autolearn.h"

#include "content/spam_autolearn.h"
#include "content/spam_learner.h"
#include "policy/checks/check_spam.h"
#include "policy/engine.h"

#include "lib/xalloc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The decision input of a refused message: the symbols of the recipient whose refusal
 * answered it ({"NAME": score}). */
static void input_of_refusal(struct engine_session *es, struct spam_al_input *in)
{
    json_t *syms = engine_refusal_symbols(es, ENGINE_MESSAGE);
    const char *name;
    json_t *v;

    json_object_foreach(syms, name, v)
        spam_al_add_symbol(in, name, json_number_value(v));
    json_decref(syms);
}

static void input_of_result(const struct rcpt_result *r, struct spam_al_input *in)
{
    size_t k;

    for (k = 0; k < r->nsyms; k++)
        spam_al_add_symbol(in, r->syms[k].name, r->syms[k].score);
}

void policy_autolearn_end(struct engine_session *es, const char *qid)
{
    json_t *id = engine_fact(es, "spam.autolearn");
    const struct engine_reply *reply = engine_reply(es);
    struct spam_al_candidate *c;
    struct spam_al_input base, *in;
    enum spam_al_class cls = SPAM_AL_NONE;
    const char *why = NULL;
    double score = 0;
    size_t i, n, k = 0;

    if (!json_is_integer(id) || (c = check_spam_candidate_take(json_integer_value(id))) == NULL)
        return;
    memset(&base, 0, sizeof(base));
    base.gtube = c->gtube;
    for (i = 0, n = engine_rcpt_count(es); i < n; i++)
        if (engine_rcpt_reply(es, i) != NULL)
            base.refused_early = true;
    n = reply != NULL ? 1 : engine_accepted(es);
    in = xcalloc(n + 1, sizeof(*in));
    if (reply != NULL && reply->code / 100 != 5) {
        why = "deferred";               /* it comes back: decided then */
    } else if (reply != NULL) {
        in[k] = base;                   /* refused: every recipient refused it */
        input_of_refusal(es, &in[k++]);
    } else {
        for (i = 0; i < n; i++) {
            const struct rcpt_result *r = engine_result(es, i);
            if (r == NULL)
                continue;
            in[k] = base;
            input_of_result(r, &in[k++]);
        }
    }
    if (k > 0)
        cls = spam_autolearn_message(&c->conf, in, k, &why, &score);
    free(in);
    if (cls == SPAM_AL_NONE) {
        if (why != NULL)
            spam_learner_skip(qid, why);
        check_spam_candidate_drop(c);
        return;
    }
    check_spam_candidate_learn(c, qid, cls == SPAM_AL_SPAM, score);
}
