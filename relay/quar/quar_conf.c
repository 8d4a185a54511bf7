/*
 * quar_conf.c - the keys of the "quarantine" section (see quar_conf.h).
 */
#include "relay/quar/quar_conf.h"

#include "content/quar_token.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define QC(f) offsetof(struct quar_conf, f)

static int quar_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct quar_conf *c = obj;
    char at[256];
    int bad = 0;

    if (c->token_key && strlen(c->token_key) < QUAR_TOKEN_KEY_MIN) {
        snprintf(at, sizeof(at), "%s/token_key", pointer);
        bad += conf_error(errs, at, "must be at least %d characters (a long random string)",
                          QUAR_TOKEN_KEY_MIN);
    }
    return bad;
}

static const struct conf_key quar_keys[] = {
    { .name = "token_key", .type = CONF_STRING, .offset = QC(token_key),
      .help = "secret key (16 characters or more) that signs the release links of the "
              "quarantine digests; null: digests list entries without links" },
    { .name = "link_lifetime", .type = CONF_DURATION, .offset = QC(link_lifetime_ms),
      .def = "14d", .min = 1000, .max = 366LL * 86400000,
      .help = "how long a digest's release links work" },
    { .name = "node", .type = CONF_STRING, .offset = QC(node),
      .help = "this node's name in the shared quarantine index (releases asked on any "
              "node are carried out by the node that holds the message); default: hostname" },
    { .name = "poll", .type = CONF_DURATION, .offset = QC(poll_ms), .def = "1s",
      .min = 10, .max = 3600000,
      .help = "how often this node looks for release and delete jobs in Redis" },
    { .name = "sweep", .type = CONF_DURATION, .offset = QC(sweep_ms), .def = "60s",
      .min = 100, .max = 86400000,
      .help = "how often retention, size caps and digests are applied" },
    { .name = "digest_from", .type = CONF_STRING, .offset = QC(digest_from),
      .help = "From: address of the digests; default postmaster@HOSTNAME" },
    { .name = "web_url", .flags = CONF_REMOVED,
      .help = "use web.base_url, the web page's URL as users reach it (digest links are "
              "BASE_URL/q/TOKEN; a URL without a path means /ui/)" },
    { .name = NULL }
};

const struct conf_section quar_conf_section = {
    .name = "quarantine", .keys = quar_keys, .validate = quar_validate,
};
