/*
 * check_registry.h - the policy checks this program knows, by name.
 *
 * The shipped checks are the rows of the table in check_registry.c (one file each under
 * policy/checks/, declared in policy/checks/checks.h). Test builds add test-only checks
 * with check_registry_add() before the config is loaded (tests/checks/). The registry is
 * what config validation (`postern -n`: unknown check names, unknown symbols) and the
 * engine look checks up in; the profile's "checks" map is a CONF_NAMED map over it.
 *
 * Threading: add at startup (before any config load), read-only afterwards.
 */
#ifndef POSTERN_POLICY_CHECK_REGISTRY_H
#define POSTERN_POLICY_CHECK_REGISTRY_H

#include <stddef.h>

#include "lib/conf.h"

struct check_def;

/* The check called name, or NULL. */
const struct check_def *check_registry_find(const char *name);

/* The i-th known check (shipped first, then added ones), NULL past the end. */
const struct check_def *check_registry_at(size_t i);

/* Add a check (test builds). Returns 0, or -1 when its definition is not valid (bad
 * name or symbol, duplicate name, async without cancel, ...; the reason is logged). */
int check_registry_add(const struct check_def *def);

/* Is def well formed? 0, or -1 with the reason in why. Used by check_registry_add and by
 * the unit test that walks every shipped check. */
int check_def_check(const struct check_def *def, char *why, size_t whylen);

/* The schema of a profile's "checks" map: one entry per known check, with its settings
 * section (an empty one for checks without settings). */
extern const struct conf_named_schema check_settings_schema;

#endif
