/*
 * check_registry.c - the table of shipped checks and the ones test builds add (see
 * check_registry.h).
 */
#include "policy/check_registry.h"

#include "lib/log.h"
#include "policy/check_api.h"
#include "policy/checks/checks.h"

#include <stdio.h>
#include <string.h>

#define CHECK_NAME_MAX 40     /* so that NAME_TIMEOUT is still a valid symbol name */
#define ADDED_MAX      32

/* The shipped checks, in no particular order (the order that matters is each check's
 * group). */
static const struct check_def *const shipped[] = {
    &check_greylist,
    &check_spf,
    &check_dkim,
    &check_dmarc,
    &check_rcpt_verify,
    &check_backscatter,
    &check_account,
    &check_newsletter,
    &check_relay_access,
    &check_submission_auth,
    &check_sender_owner,
    &check_ratelimit,
    &check_rdns,
    &check_helo,
    &check_dnsbl,
    &check_sender_domain,
    &check_early_talker,
    &check_virus,
    &check_filetype,
    &check_spam,
    &check_bulk,
    &check_backlog,
    NULL
};

static const struct check_def *added[ADDED_MAX];
static size_t nadded;

const struct check_def *check_registry_at(size_t i)
{
    size_t n;

    for (n = 0; shipped[n] != NULL; n++)
        if (n == i)
            return shipped[n];
    i -= n;
    return i < nadded ? added[i] : NULL;
}

const struct check_def *check_registry_find(const char *name)
{
    const struct check_def *d;
    size_t i;

    for (i = 0; name != NULL && (d = check_registry_at(i)) != NULL; i++)
        if (strcmp(d->name, name) == 0)
            return d;
    return NULL;
}

static bool check_name_valid(const char *s)
{
    size_t n;

    for (n = 0; s[n] != '\0'; n++)
        if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= '0' && s[n] <= '9') || s[n] == '_'))
            return false;
    return n > 0 && n <= CHECK_NAME_MAX && s[0] >= 'a' && s[0] <= 'z';
}

int check_def_check(const struct check_def *def, char *why, size_t whylen)
{
    const struct symbol_def *s, *t;

    if (def->name == NULL || !check_name_valid(def->name)) {
        snprintf(why, whylen, "check name \"%s\" is not 1..%d of [a-z0-9_]",
                 def->name ? def->name : "(null)", CHECK_NAME_MAX);
        return -1;
    }
    if (def->stages == 0 || (def->stages & ~STAGES_ALL) || def->directions == 0 ||
        (def->directions & ~DIR_ALL) || def->run == NULL) {
        snprintf(why, whylen, "check %s: needs stages, directions and run", def->name);
        return -1;
    }
    if (def->async && def->cancel == NULL) {
        snprintf(why, whylen, "check %s: asynchronous without cancel", def->name);
        return -1;
    }
    if ((def->settings == NULL) != (def->settings_size == 0)) {
        snprintf(why, whylen, "check %s: settings and settings_size go together", def->name);
        return -1;
    }
    for (s = def->symbols; s != NULL && s->name != NULL; s++) {
        if (!symbol_name_valid(s->name)) {
            snprintf(why, whylen, "check %s: bad symbol name \"%s\"", def->name, s->name);
            return -1;
        }
        for (t = def->symbols; t != s; t++)
            if (strcmp(t->name, s->name) == 0) {
                snprintf(why, whylen, "check %s: symbol %s declared twice", def->name, s->name);
                return -1;
            }
    }
    return 0;
}

int check_registry_add(const struct check_def *def)
{
    char why[160];

    if (check_def_check(def, why, sizeof(why)) < 0) {
        log_error("policy", "cannot register check: %s", why);
        return -1;
    }
    if (check_registry_find(def->name) != NULL || nadded == ADDED_MAX) {
        log_error("policy", "cannot register check %s: %s", def->name,
                  nadded == ADDED_MAX ? "too many checks" : "name already taken");
        return -1;
    }
    added[nadded++] = def;
    return 0;
}

/* ---- the "checks" map of a profile ------------------------------------------------------ */

static const struct conf_key no_keys[] = { { .name = NULL } };
static const struct conf_section no_settings = { .name = "check without settings",
                                                 .keys = no_keys };

static const char *settings_at(size_t i, const struct conf_section **sec, size_t *size)
{
    const struct check_def *d = check_registry_at(i);

    if (d == NULL)
        return NULL;
    *sec = d->settings ? d->settings : &no_settings;
    *size = d->settings ? d->settings_size : 0;
    return d->name;
}

const struct conf_named_schema check_settings_schema = {
    .sec = { .name = "check settings", .keys = no_keys },
    .at = settings_at,
};
