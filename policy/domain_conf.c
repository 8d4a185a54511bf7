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
    { .name = "allow_routing_characters", .type = CONF_BOOL,
      .offset = D(allow_routing_characters), .def = "false",
      .help = "accept recipients whose local part holds %, ! or a quoted @ from clients that "
              "are neither authenticated nor trusted (else 550 5.7.1). Only for a domain "
              "delivered to maildir or LMTP, where they are plain characters: a next-hop "
              "SMTP server may read them as routing (user%other@domain, other!user@domain) "
              "and relay to the world" },
    { .name = NULL }
};

const struct conf_section domain_conf_section = {
    .name = "domain", .keys = domain_keys, .validate = NULL,
};

static const struct domain_conf domain_defaults = {
    .name = NULL, .bounces = BOUNCES_NEVER, .allow_routing_characters = false,
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
