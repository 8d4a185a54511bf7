/*
 * user_prefs.c - parse and check per-user policy fields (see user_prefs.h).
 */
#include "policy/user_prefs.h"

#include "lib/redis.h"
#include "lib/xalloc.h"
#include "policy/domain_conf.h"
#include "policy/lists.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEVEL_NAME_MAX 64
#define LIST_MAX       1000   /* entries in one user list */
#define THRESHOLD_MAX  1000.0

static const char *const field_names[UF_COUNT] = {
    [UF_LEVEL] = "level", [UF_TAG] = "tag", [UF_SPAM] = "spam", [UF_KILL] = "kill",
    [UF_GREYLISTING] = "greylisting", [UF_STRICT_DNS] = "strict_dns",
    [UF_VIRUS_ACTION] = "virus_action", [UF_FILE_ACTION] = "file_action",
    [UF_WHITELIST] = "whitelist", [UF_BLACKLIST] = "blacklist", [UF_EXCLUSIONS] = "exclusions",
};

const char *user_field_name(enum user_field f)
{
    return (unsigned)f < UF_COUNT ? field_names[f] : "?";
}

enum user_field user_field_from_name(const char *name)
{
    int f;

    for (f = 0; f < UF_COUNT; f++)
        if (strcmp(field_names[f], name) == 0)
            return (enum user_field)f;
    return UF_COUNT;
}

/* ---- values ------------------------------------------------------------------------- */

static int parse_level(const char *v, char *why, size_t len)
{
    size_t i, n = strlen(v);

    for (i = 0; i < n; i++)
        if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '_' ||
              v[i] == '-'))
            break;
    if (n == 0 || n > LEVEL_NAME_MAX || i < n) {
        snprintf(why, len, "a level name is 1..%d of a-z 0-9 _ -", LEVEL_NAME_MAX);
        return -1;
    }
    return 0;
}

static int parse_number(const char *v, double *out, char *why, size_t len)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(v, &end);
    if (v[0] == '\0' || *end != '\0' || errno != 0 || !isfinite(d) || fabs(d) > THRESHOLD_MAX) {
        snprintf(why, len, "expected a number between -%g and %g", THRESHOLD_MAX,
                 THRESHOLD_MAX);
        return -1;
    }
    *out = d;
    return 0;
}

static int parse_bool(const char *v, bool *out, char *why, size_t len)
{
    if (strcmp(v, "on") == 0 || strcmp(v, "true") == 0) {
        *out = true;
        return 0;
    }
    if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0) {
        *out = false;
        return 0;
    }
    snprintf(why, len, "expected on or off");
    return -1;
}

static int parse_action(const char *v, int *out, char *why, size_t len)
{
    int i;

    for (i = 0; content_action_names[i] != NULL; i++)
        if (strcmp(content_action_names[i], v) == 0) {
            *out = i;
            return 0;
        }
    snprintf(why, len, "expected reject, quarantine, wrap, mark, delete or off");
    return -1;
}

/* A JSON array of valid entries; *out (when out is not NULL) gets the compiled list. */
static int parse_list(const char *v, struct addr_list **out, char *why, size_t len)
{
    json_t *a = json_loads(v, JSON_DECODE_ANY, NULL);
    const char **entries = NULL;
    size_t i, n;
    int rc = -1;

    if (!json_is_array(a) || json_array_size(a) > LIST_MAX) {
        snprintf(why, len, "expected a JSON array of at most %d strings", LIST_MAX);
        goto out;
    }
    n = json_array_size(a);
    entries = xcalloc(n + 1, sizeof(*entries));
    for (i = 0; i < n; i++) {
        entries[i] = json_string_value(json_array_get(a, i));
        if (entries[i] == NULL) {
            snprintf(why, len, "expected a JSON array of strings");
            goto out;
        }
        if (addr_list_entry_check(entries[i], why, len) < 0)
            goto out;
    }
    if (out != NULL)
        *out = addr_list_new(entries, n, why, len);
    rc = 0;
out:
    free(entries);
    json_decref(a);
    return rc;
}

/* Parse one field into p (NULL: only check). */
static int parse_field(enum user_field f, const char *v, struct user_prefs *p, char *why,
                       size_t len)
{
    struct user_prefs scratch;

    if (p == NULL) {
        memset(&scratch, 0, sizeof(scratch));
        p = &scratch;
    }
    switch (f) {
    case UF_LEVEL:
        if (parse_level(v, why, len) < 0)
            return -1;
        if (p != &scratch) {
            free(p->level);
            p->level = xstrdup(v);
        }
        return 0;
    case UF_TAG:          return parse_number(v, &p->tag, why, len);
    case UF_SPAM:         return parse_number(v, &p->spam, why, len);
    case UF_KILL:         return parse_number(v, &p->kill, why, len);
    case UF_GREYLISTING:  return parse_bool(v, &p->greylisting, why, len);
    case UF_STRICT_DNS:   return parse_bool(v, &p->strict_dns, why, len);
    case UF_VIRUS_ACTION: return parse_action(v, &p->virus_action, why, len);
    case UF_FILE_ACTION:  return parse_action(v, &p->file_action, why, len);
    case UF_WHITELIST:
    case UF_BLACKLIST:
    case UF_EXCLUSIONS: {
        struct addr_list **slot = f == UF_WHITELIST ? &p->whitelist
                                  : f == UF_BLACKLIST ? &p->blacklist : &p->exclusions;
        if (p == &scratch)
            return parse_list(v, NULL, why, len);
        addr_list_free(*slot);
        *slot = NULL;
        return parse_list(v, slot, why, len);
    }
    case UF_COUNT:
        break;
    }
    snprintf(why, len, "unknown setting");
    return -1;
}

int user_prefs_field_check(const char *name, const char *value, char *why, size_t whylen)
{
    enum user_field f = user_field_from_name(name);

    if (f == UF_COUNT) {
        snprintf(why, whylen, "unknown setting \"%.40s\" (known: level, tag, spam, kill, "
                 "greylisting, strict_dns, virus_action, file_action, whitelist, blacklist, "
                 "exclusions)", name);
        return -1;
    }
    return parse_field(f, value, NULL, why, whylen);
}

struct user_prefs *user_prefs_parse(const char *const *names, const char *const *values,
                                    size_t n)
{
    struct user_prefs *p = xcalloc(1, sizeof(*p));
    char why[160];
    size_t i;

    p->refs = 1;
    for (i = 0; i < n; i++) {
        enum user_field f = user_field_from_name(names[i]);
        if (f != UF_COUNT && parse_field(f, values[i], p, why, sizeof(why)) == 0)
            p->set |= UF_BIT(f);
        else
            p->bad_fields++;
    }
    return p;
}

struct user_prefs *user_prefs_ref(struct user_prefs *p)
{
    p->refs++;
    return p;
}

void user_prefs_unref(struct user_prefs *p)
{
    if (p == NULL || --p->refs > 0)
        return;
    free(p->level);
    addr_list_free(p->whitelist);
    addr_list_free(p->blacklist);
    addr_list_free(p->exclusions);
    free(p);
}

char *user_prefs_key(const char *address)
{
    char *esc = redis_key_escape(address);
    char *key = xasprintf(USER_PREFS_PREFIX "{%s}", esc);

    free(esc);
    return key;
}
