/*
 * profile.c - the profile key table and the shipped profiles (see profile.h).
 */
#include "policy/profile.h"

#include "policy/check_api.h"
#include "policy/check_registry.h"

#include <stddef.h>
#include <string.h>

static const char *const direction_names[] = { "inbound", "submission", NULL };

/* The shipped profiles: the rules every listener had before the engine (relay access,
 * and on submission: AUTH, sender ownership, rate limits), the checks that act only
 * where a domain's settings turn them on (greylisting, recipient verification,
 * backscatter protection, the backup-domain backlog cap) or only for a login the breaker
 * suspended; on inbound the DNS checks of the client and envelope (rdns, helo, dnsbl,
 * sender_domain, early_talker): scored evidence for everyone, refusals only where a
 * domain says strict_dns (and for a HELO that claims to be us); dnsbl queries no zone and
 * early_talker waits for nothing until configured; and the content checks of both
 * directions: virus, file types, spam scoring (classifier + rules: with no trained model
 * the classifier abstains and only the rules and GTUBE score), and on inbound bulk
 * detection. A check added to a shipped profile is one more entry here (with its
 * settings, or {} for its defaults); policy.disabled_checks turns any off. */
#define SUBMISSION_CHECKS                                                                  \
    "   \"checks\": {\"submission_auth\": {}, \"sender_owner\": {}, \"relay_access\": {},"     \
    "               \"account\": {}, \"ratelimit\": {}, \"rcpt_verify\": {},"                 \
    "               \"backscatter\": {}, \"virus\": {}, \"filetype\": {}, \"spam\": {}}}"
const char profile_builtin_json[] =
    "{\"inbound\": {\"direction\": \"inbound\","
    "   \"checks\": {\"relay_access\": {}, \"ratelimit\": {}, \"rcpt_verify\": {},"
    "               \"greylist\": {}, \"backscatter\": {}, \"backlog\": {},"
    "               \"rdns\": {}, \"helo\": {}, \"dnsbl\": {}, \"sender_domain\": {},"
    "               \"early_talker\": {}, \"virus\": {}, \"filetype\": {}, \"spam\": {},"
    "               \"bulk\": {}}},"
    " \"submission\": {\"direction\": \"submission\"," SUBMISSION_CHECKS ","
    " \"submissions\": {\"direction\": \"submission\"," SUBMISSION_CHECKS "}";

static int profile_validate(void *obj, const char *pointer, struct conf_errors *errs);

#define PR(f) offsetof(struct profile_conf, f)
static const struct conf_key profile_keys[] = {
    { .name = "direction", .type = CONF_ENUM, .offset = PR(direction), .def = "inbound",
      .choices = direction_names,
      .help = "inbound (MX, backup MX: recipients' settings) or submission (authenticated "
              "senders: the sender's settings, outbound defaults)" },
    { .name = "deadline", .type = CONF_DURATION, .offset = PR(deadline_ms), .def = "10s",
      .min = 100, .max = 300000,
      .help = "time the checks of one stage (CONNECT to DATA) may take; a check still "
              "running then is cancelled (NAME_TIMEOUT and the unsure rule)" },
    { .name = "end_deadline", .type = CONF_DURATION, .offset = PR(end_deadline_ms),
      .def = "60s", .min = 100, .max = 600000,
      .help = "the same for the checks of the whole message (END)" },
    { .name = "checks", .type = CONF_NAMED, .offset = PR(checks),
      .sub = &check_settings_schema.sec,
      .help = "the checks this profile runs, each with its settings: {\"NAME\": {...}}" },
    { .name = NULL }
};

const struct conf_section profile_conf_section = {
    .name = "profile", .keys = profile_keys, .validate = profile_validate,
};

/* A check that does not apply to the profile's direction would silently never run. */
static int profile_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct profile_conf *p = obj;
    const struct conf_named *c = p->checks.items;
    unsigned want = p->direction == DIRECTION_SUBMISSION ? DIR_SUBMISSION
                                                         : DIR_INBOUND | DIR_BACKUP;
    int bad = 0;
    size_t i;

    for (i = 0; i < p->checks.n; i++) {
        const struct check_def *d = check_registry_find(c[i].name);
        if (d != NULL && !(d->directions & want))
            bad += conf_error(errs, pointer, "check %s does not apply to %s profiles",
                              c[i].name, direction_names[p->direction]);
    }
    return bad;
}

const struct profile_conf *profile_find(const struct conf_array *profiles, const char *name)
{
    const struct profile_conf *p = profiles->items;
    size_t i;

    for (i = 0; name && i < profiles->n; i++)
        if (strcmp(p[i].name, name) == 0)
            return &p[i];
    return NULL;
}
