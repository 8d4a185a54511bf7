/*
 * authres_facts.c - Authentication-Results from the checks' facts (see authres_facts.h).
 */
#include "policy/authres_facts.h"

#include "mailauth/authres.h"

#include <jansson.h>
#include <stddef.h>

char *authres_facts_value(const char *hostname, json_t *spf, json_t *dkim, json_t *dmarc)
{
    json_t *facts[3] = { spf, dkim, dmarc };
    const char *cl[3];
    size_t i, n = 0;

    for (i = 0; i < 3; i++)
        if (json_is_string(facts[i]) && json_string_length(facts[i]) > 0)
            cl[n++] = json_string_value(facts[i]);
    return n > 0 ? authres_header(hostname ? hostname : "localhost", cl, n) : NULL;
}
