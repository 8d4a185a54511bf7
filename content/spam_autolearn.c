/*
 * spam_autolearn.c - autolearn's config and decision (spam_autolearn.h).
 */
#include "content/spam_autolearn.h"

#include <stddef.h>
#include <string.h>

static int al_validate(void *obj, const char *pointer, struct conf_errors *errs);

#define AL(f) offsetof(struct spam_autolearn_conf, f)
static const struct conf_key al_keys[] = {
    { .name = "enabled", .type = CONF_BOOL, .offset = AL(enabled), .def = "false",
      .help = "learn mail whose score is far on one side into the shared classifier model "
              "(per profile: inbound and submission separately)" },
    { .name = "spam", .type = CONF_NUMBER, .offset = AL(spam), .def = "12", .min = -1000,
      .max = 1000,
      .help = "a message whose score is at least this is learned as spam (SpamAssassin's "
              "bayes_auto_learn_threshold_spam)" },
    { .name = "spam_rules", .type = CONF_NUMBER, .offset = AL(spam_rules), .def = "6",
      .min = 0, .max = 1000,
      .help = "... only when at least this much of the score comes from symbols other "
              "than the classifier's own BAYES_SPAM/BAYES_HAM (it must not teach itself)" },
    { .name = "ham", .type = CONF_NUMBER, .offset = AL(ham), .def = "0.1", .min = -1000,
      .max = 1000,
      .help = "a message whose score, with and without the classifier's points, is at "
              "most this is learned as ham (bayes_auto_learn_threshold_nonspam)" },
    { .name = "ham_rule_max", .type = CONF_NUMBER, .offset = AL(ham_rule_max), .def = "1",
      .min = 0, .max = 1000,
      .help = "... unless one symbol other than the classifier's scored at least this "
              "(a rule fired strongly, even if others made up for it)" },
    { .name = "rate", .type = CONF_INT, .offset = AL(rate), .def = "60", .min = 1,
      .max = 100000,
      .help = "autolearns per minute on this node, at most (over every profile; more are "
              "skipped and counted)" },
    { .name = NULL }
};

const struct conf_section spam_autolearn_section = {
    .name = "spam autolearn", .keys = al_keys, .validate = al_validate,
};

static int al_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct spam_autolearn_conf *c = obj;

    if (c->ham >= c->spam)
        return conf_error(errs, pointer, "ham (%g) must be below spam (%g)", c->ham, c->spam);
    return 0;
}

bool spam_al_classifier_symbol(const char *name)
{
    return strcmp(name, "BAYES_SPAM") == 0 || strcmp(name, "BAYES_HAM") == 0;
}

bool spam_al_list_symbol(const char *name)
{
    return strcmp(name, "SENDER_WHITELISTED") == 0 || strcmp(name, "SENDER_BLACKLISTED") == 0;
}

void spam_al_add_symbol(struct spam_al_input *in, const char *name, double score)
{
    in->total += score;
    if (spam_al_list_symbol(name))
        in->listed = true;
    if (spam_al_classifier_symbol(name))
        return;
    in->rules += score;
    if (score > in->max_rule)
        in->max_rule = score;
}

enum spam_al_class spam_autolearn_decide(const struct spam_autolearn_conf *c,
                                         const struct spam_al_input *in, const char **why)
{
    *why = NULL;
    if (in->gtube) {
        *why = "gtube";
        return SPAM_AL_NONE;
    }
    if (in->listed) {
        *why = "listed";
        return SPAM_AL_NONE;
    }
    if (in->refused_early) {
        *why = "refused_early";
        return SPAM_AL_NONE;
    }
    if (in->total >= c->spam) {
        if (in->rules >= c->spam_rules)
            return SPAM_AL_SPAM;
        *why = "classifier_only";
        return SPAM_AL_NONE;
    }
    if (in->total <= c->ham) {
        if (in->max_rule >= c->ham_rule_max)
            *why = "strong_rule";
        else if (in->rules > c->ham)
            *why = "classifier_only";
        else
            return SPAM_AL_HAM;
        return SPAM_AL_NONE;
    }
    return SPAM_AL_NONE;
}

enum spam_al_class spam_autolearn_message(const struct spam_autolearn_conf *c,
                                          const struct spam_al_input *in, size_t n,
                                          const char **why, double *score)
{
    enum spam_al_class cls = SPAM_AL_NONE;
    size_t i;

    *why = NULL;
    *score = n > 0 ? in[0].total : 0;
    for (i = 0; i < n; i++) {
        enum spam_al_class one = spam_autolearn_decide(c, &in[i], why);
        if (i == 0)
            cls = one;
        else if (one != cls) {
            if (*why == NULL)
                *why = "disagree";
            return SPAM_AL_NONE;
        }
        if (cls == SPAM_AL_NONE)
            return SPAM_AL_NONE;
    }
    return cls;
}

const char *spam_al_class_name(enum spam_al_class c)
{
    return c == SPAM_AL_SPAM ? "spam" : c == SPAM_AL_HAM ? "ham" : "none";
}
