/*
 * levels.c - the protection level key table, the shipped levels, and lookups (levels.h).
 */
#include "policy/levels.h"

#include "policy/check_registry.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define SUBJECT_PREFIX_MAX 64

static const char *const spam_action_names[] = { "mark", "quarantine", "discard", NULL };
static const enum disposition spam_action_disp[] = { DISP_MARK, DISP_QUARANTINE,
                                                     DISP_DISCARD };
static const char *const blacklist_names[] = { "spam", "refuse", NULL };

/* The shipped levels; a custom level starts from the key defaults below (medium's). */
const char level_builtin_json[] =
    "{\"high\": {\"tag\": 3, \"spam\": 5, \"kill\": 8},"
    " \"medium\": {\"tag\": 5, \"spam\": 8, \"kill\": 12},"
    " \"low\": {\"tag\": 8, \"spam\": 12, \"kill\": 20}}";

static int level_validate(void *obj, const char *pointer, struct conf_errors *errs);

#define LV(f) offsetof(struct level_conf, f)
static const struct conf_key level_keys[] = {
    { .name = "tag", .type = CONF_NUMBER, .offset = LV(tag), .def = "5", .min = -1000,
      .max = 1000, .help = "score from which X-Spam-Flag: YES and X-Spam-Level are added" },
    { .name = "spam", .type = CONF_NUMBER, .offset = LV(spam), .def = "8", .min = -1000,
      .max = 1000, .help = "score from which the spam action applies" },
    { .name = "kill", .type = CONF_NUMBER, .offset = LV(kill), .def = "12", .min = -1000,
      .max = 1000, .help = "score from which mail is refused during the SMTP dialogue "
                           "(550 5.7.1); 1000: never" },
    { .name = "headers", .type = CONF_BOOL, .offset = LV(headers), .def = "true",
      .help = "add X-Spam-Status and X-Spam-Score to every checked message" },
    { .name = "subject_prefix", .type = CONF_STRING, .offset = LV(subject_prefix),
      .def = "+++SPAM+++ ", .help = "prefix of the Subject of mail marked as spam" },
    { .name = "spam_action", .type = CONF_ENUM, .offset = LV(spam_action), .def = "mark",
      .choices = spam_action_names,
      .help = "at the spam score: mark (Subject prefix), quarantine or discard" },
    { .name = "blacklist", .type = CONF_ENUM, .offset = LV(blacklist), .def = "spam",
      .choices = blacklist_names,
      .help = "blacklisted senders: spam (the spam action) or refuse (550 5.7.1)" },
    { .name = "blocked_extensions", .type = CONF_STRLIST, .offset = LV(blocked_extensions),
      .def = "[\"ade\", \"adp\", \"app\", \"bas\", \"bat\", \"chm\", \"cmd\", \"com\", \"cpl\","
             " \"crt\", \"exe\", \"fxp\", \"hlp\", \"hta\", \"inf\", \"ins\", \"isp\", \"js\","
             " \"jse\", \"lnk\", \"mda\", \"mdb\", \"mde\", \"mdw\", \"mdt\", \"mdz\", \"msc\","
             " \"msi\", \"msp\", \"mst\", \"ops\", \"pcd\", \"pif\", \"prg\", \"reg\", \"scr\","
             " \"sct\", \"shb\", \"shs\", \"vb\", \"vbe\", \"vbs\", \"wsc\", \"wsf\", \"wsh\"]",
      .help = "attachment file name extensions blocked at this level (a domain's own "
              "blocked_extensions, when not empty, replace them)" },
    { .name = "blocked_types", .type = CONF_STRLIST, .offset = LV(blocked_types),
      .def = "[\"application/x-msdownload\", \"application/x-msdos-program\","
             " \"application/hta\", \"message/partial\", \"message/external-body\"]",
      .help = "declared MIME types blocked at this level (a domain's own blocked_types, "
              "when not empty, replace them)" },
    { .name = "unsure_defer", .type = CONF_STRLIST, .offset = LV(unsure_defer),
      .help = "checks whose unsure outcome (timeout, service down) defers mail (4xx) at "
              "this level" },
    { .name = "greylist_score", .type = CONF_NUMBER, .offset = LV(greylist_score),
      .def = "-1000", .min = -1000, .max = 1000,
      .help = "where greylisting is on, defer only recipients whose score at that point is "
              "at least this (the greylist check runs after the other checks of its stage); "
              "-1000: whatever the score" },
    { .name = "unsure_accept", .type = CONF_STRLIST, .offset = LV(unsure_accept),
      .help = "checks whose unsure outcome lets mail through at this level" },
    { .name = NULL }
};

const struct conf_section level_conf_section = {
    .name = "level", .keys = level_keys, .validate = level_validate,
};

static int check_names(const struct conf_strlist *l, const char *pointer, const char *key,
                       struct conf_errors *errs)
{
    char at[256];
    int bad = 0;
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (check_registry_find(l->v[i]) != NULL)
            continue;
        snprintf(at, sizeof(at), "%s/%s/%zu", pointer, key, i);
        bad += conf_error(errs, at, "unknown check \"%s\"", l->v[i]);
    }
    return bad;
}

static int level_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct level_conf *l = obj;
    int bad = 0;
    size_t i, j;

    if (!(l->tag <= l->spam && l->spam <= l->kill))
        bad += conf_error(errs, pointer, "thresholds must be tag <= spam <= kill, got tag %g, "
                          "spam %g, kill %g", l->tag, l->spam, l->kill);
    if (l->subject_prefix && strlen(l->subject_prefix) > SUBJECT_PREFIX_MAX)
        bad += conf_error(errs, pointer, "subject_prefix: longer than %d octets",
                          SUBJECT_PREFIX_MAX);
    for (i = 0; l->subject_prefix && l->subject_prefix[i]; i++)
        if ((unsigned char)l->subject_prefix[i] < 0x20 || l->subject_prefix[i] == 0x7f) {
            bad += conf_error(errs, pointer, "subject_prefix: control characters are not "
                              "allowed");
            break;
        }
    bad += check_names(&l->unsure_defer, pointer, "unsure_defer", errs);
    bad += check_names(&l->unsure_accept, pointer, "unsure_accept", errs);
    for (i = 0; i < l->unsure_defer.n; i++)
        for (j = 0; j < l->unsure_accept.n; j++)
            if (strcmp(l->unsure_defer.v[i], l->unsure_accept.v[j]) == 0)
                bad += conf_error(errs, pointer, "check \"%s\" is in both unsure_defer and "
                                  "unsure_accept", l->unsure_defer.v[i]);
    return bad;
}

const struct level_conf *level_find(const struct conf_array *levels, const char *name)
{
    const struct level_conf *l = levels->items;
    size_t i;

    for (i = 0; name && i < levels->n; i++)
        if (strcmp(l[i].name, name) == 0)
            return &l[i];
    return NULL;
}

enum disposition level_spam_disposition(const struct level_conf *l)
{
    return l->spam_action >= 0 && l->spam_action < 3 ? spam_action_disp[l->spam_action]
                                                     : DISP_MARK;
}

static bool listed(const struct conf_strlist *l, const char *check)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (strcmp(l->v[i], check) == 0)
            return true;
    return false;
}

enum unsure_rule level_unsure_rule(const struct level_conf *l, const char *check,
                                   enum unsure_rule check_default)
{
    if (listed(&l->unsure_defer, check))
        return UNSURE_DEFER;
    if (listed(&l->unsure_accept, check))
        return UNSURE_ACCEPT;
    return check_default;
}
