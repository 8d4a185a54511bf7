/*
 * domain_conf.c - the "domains" config map: settings per served domain (see
 * domain_conf.h). Keys are declared once, here; policy checks and the queue read them
 * through domain_conf_find().
 */
#include "policy/domain_conf.h"

#include <stddef.h>
#include <strings.h>

const char *const domain_bounces_names[] = { "never", "authenticated", "always", NULL };

#define D(f) offsetof(struct domain_conf, f)
static const struct conf_key domain_keys[] = {
    { .name = "bounces", .type = CONF_ENUM, .offset = D(bounces), .def = "never",
      .choices = domain_bounces_names,
      .help = "DSNs for inbound mail that fails after acceptance: never (log it and raise "
              "message.bounce_suppressed), authenticated (only for senders authenticated by "
              "SPF or aligned DKIM; until sender authentication exists no sender is, so it "
              "acts as never) or always" },
    { .name = NULL }
};

const struct conf_section domain_conf_section = {
    .name = "domain", .keys = domain_keys, .validate = NULL,
};

static const struct domain_conf domain_defaults = {
    .name = NULL, .bounces = BOUNCES_NEVER,
};

const struct domain_conf *domain_conf_find(const struct conf_array *domains,
                                           const char *domain)
{
    const struct domain_conf *d = domains->items;
    size_t i;

    for (i = 0; domain && i < domains->n; i++)
        if (strcasecmp(d[i].name, domain) == 0)
            return &d[i];
    return &domain_defaults;
}
