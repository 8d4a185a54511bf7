/*
 * policy_testconf.h - a config root with the policy engine's sections, for the unit tests
 * of policy/ (the same keys and order as the daemon's root table: relay, domain_defaults,
 * domains, policy), and a loader that captures the error messages.
 */
#ifndef POSTERN_TESTS_POLICY_TESTCONF_H
#define POSTERN_TESTS_POLICY_TESTCONF_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/conf.h"
#include "policy/domain_conf.h"
#include "policy/engine_conf.h"
#include "policy/policy.h"

struct pt_root {
    struct policy_conf relay;
    struct domain_conf domain_defaults;
    struct conf_array domains;
    struct engine_conf policy;
};

static int pt_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    struct pt_root *r = obj;

    return engine_conf_check_refs(&r->policy, &r->domains, &r->domain_defaults, pointer, errs);
}

static const struct conf_key pt_keys[] = {
    { .name = "relay", .type = CONF_SECTION, .offset = offsetof(struct pt_root, relay),
      .sub = &policy_domains_section },
    { .name = "domain_defaults", .type = CONF_SECTION,
      .offset = offsetof(struct pt_root, domain_defaults), .sub = &domain_conf_section },
    { .name = "domains", .type = CONF_MAP, .offset = offsetof(struct pt_root, domains),
      .def = "@domain_defaults", .sub = &domain_conf_section,
      .elem_size = sizeof(struct domain_conf) },
    { .name = "policy", .type = CONF_SECTION, .offset = offsetof(struct pt_root, policy),
      .sub = &engine_conf_section },
    { .name = NULL }
};
static const struct conf_section pt_root_section = {
    .name = "root", .keys = pt_keys, .validate = pt_validate,
};

/* Load json into *out (zeroed here). Returns 0 or -1; *messages (when not NULL) gets what
 * was printed (malloc'd). Release with pt_free. */
static inline int pt_load(const char *json, struct pt_root *out, char **messages)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    struct conf_errors errs = { .file = "t.json", .out = f };
    int rc;

    memset(out, 0, sizeof(*out));
    rc = conf_load_buffer("t.json", json, strlen(json), &pt_root_section, out, &errs);
    fclose(f);
    if (messages != NULL)
        *messages = text;
    else
        free(text);
    return rc;
}

static inline void pt_free(struct pt_root *r)
{
    conf_free(&pt_root_section, r);
}

#endif
