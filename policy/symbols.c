/*
 * symbols.c - the symbol table: declarations from the checks, NAME_TIMEOUT, the engine's
 * own symbols, and score overrides from the config (see symbols.h).
 *
 * A sorted array of struct symbol searched with bsearch; names and descriptions are
 * copied, so the table does not depend on the config it was built from.
 */
#include "policy/symbols.h"

#include "lib/xalloc.h"
#include "policy/check_api.h"
#include "policy/check_registry.h"
#include "policy/profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SY(f) offsetof(struct symbol_conf, f)
static const struct conf_key symbol_keys[] = {
    { .name = "score", .type = CONF_NUMBER, .offset = SY(score), .min = -1000, .max = 1000,
      .flags = CONF_REQUIRED, .help = "the score this symbol adds (replaces its default)" },
    { .name = NULL }
};

const struct conf_section symbol_conf_section = { .name = "symbol", .keys = symbol_keys };

static const struct symbol_def engine_symbols[] = {
    { SYM_WHITELISTED, 0, "the sender (or client address) is on a whitelist of the recipient" },
    { SYM_BLACKLISTED, 0, "the sender (or client address) is on a blacklist of the recipient" },
    { SYM_USER_TEMPFAIL, 0, "per-user settings could not be read (Redis down); the domain's "
                            "settings were used" },
    { NULL, 0, NULL }
};

struct symtab {
    struct symbol *v;
    size_t n, cap;
    const char *pointer;
    struct conf_errors *errs;
    int bad;
    const char *owner;        /* while adding: whose symbols these are */
};

void symbol_timeout_name(char *buf, size_t len, const char *check)
{
    size_t i;

    for (i = 0; check[i] != '\0' && i + 1 < len; i++)
        buf[i] = (char)(check[i] >= 'a' && check[i] <= 'z' ? check[i] - 'a' + 'A' : check[i]);
    snprintf(buf + i, len - i, "_TIMEOUT");
}

static struct symbol *find_linear(struct symtab *t, const char *name)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        if (strcmp(t->v[i].name, name) == 0)
            return &t->v[i];
    return NULL;
}

static void add(struct symtab *t, const char *name, double score, const char *desc)
{
    struct symbol *s = find_linear(t, name);

    if (s != NULL) {
        /* the same name from two checks (or two zones) is fine when they agree */
        if (s->declared != score && t->errs != NULL)
            t->bad += conf_error(t->errs, t->pointer, "symbol %s is declared by %s with score "
                                 "%g and by %s with score %g", name, s->owner, s->declared,
                                 t->owner, score);
        return;
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
    }
    t->v[t->n++] = (struct symbol){
        .name = xstrdup(name), .score = score, .declared = score, .owner = xstrdup(t->owner),
        .description = xstrdup(desc ? desc : ""),
    };
}

static void add_def(void *ctx, const struct symbol_def *d)
{
    struct symtab *t = ctx;

    if (!symbol_name_valid(d->name)) {
        if (t->errs != NULL)
            t->bad += conf_error(t->errs, t->pointer, "check %s names an invalid symbol \"%s\"",
                                 t->owner, d->name);
        return;
    }
    add(t, d->name, d->score, d->description);
}

static void add_table(struct symtab *t, const struct symbol_def *defs)
{
    for (; defs != NULL && defs->name != NULL; defs++)
        add_def(t, defs);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct symbol *)a)->name, ((const struct symbol *)b)->name);
}

/* The symbols named by the settings of each check of each profile. */
static void add_settings_symbols(struct symtab *t, const struct conf_array *profiles)
{
    const struct profile_conf *p = profiles ? profiles->items : NULL;
    size_t i, j;

    for (i = 0; profiles != NULL && i < profiles->n; i++) {
        const struct conf_named *c = p[i].checks.items;
        for (j = 0; j < p[i].checks.n; j++) {
            const struct check_def *d = check_registry_find(c[j].name);
            if (d != NULL && d->settings_symbols != NULL) {
                t->owner = d->name;
                d->settings_symbols(c[j].obj, add_def, t);
            }
        }
    }
}

struct symtab *symtab_new(const struct conf_array *profiles, const struct conf_array *overrides,
                          const char *pointer, struct conf_errors *errs)
{
    struct symtab *t = xcalloc(1, sizeof(*t));
    const struct symbol_conf *o = overrides ? overrides->items : NULL;
    const struct check_def *d;
    char name[SYMBOL_NAME_MAX + 1];
    size_t i;

    t->pointer = pointer;
    t->errs = errs;
    t->owner = "engine";
    add_table(t, engine_symbols);
    for (i = 0; (d = check_registry_at(i)) != NULL; i++) {
        t->owner = d->name;
        add_table(t, d->symbols);
        symbol_timeout_name(name, sizeof(name), d->name);
        add(t, name, 0, "the check did not finish before the stage deadline");
    }
    add_settings_symbols(t, profiles);
    for (i = 0; overrides != NULL && i < overrides->n; i++) {
        struct symbol *s = find_linear(t, o[i].name);
        char at[256];
        if (s != NULL) {
            s->score = o[i].score;
            continue;
        }
        snprintf(at, sizeof(at), "%s/symbols/%s", pointer ? pointer : "", o[i].name);
        t->bad += errs ? conf_error(errs, at, "unknown symbol (no check declares it)") : 1;
    }
    if (t->bad) {
        symtab_free(t);
        return NULL;
    }
    qsort(t->v, t->n, sizeof(*t->v), by_name);
    return t;
}

void symtab_free(struct symtab *t)
{
    size_t i;

    if (t == NULL)
        return;
    for (i = 0; i < t->n; i++) {
        free((char *)t->v[i].name);
        free((char *)t->v[i].owner);
        free((char *)t->v[i].description);
    }
    free(t->v);
    free(t);
}

const struct symbol *symtab_find(const struct symtab *t, const char *name)
{
    struct symbol key = { .name = name };

    return bsearch(&key, t->v, t->n, sizeof(*t->v), by_name);
}

size_t symtab_count(const struct symtab *t)
{
    return t->n;
}

const struct symbol *symtab_at(const struct symtab *t, size_t i)
{
    return i < t->n ? &t->v[i] : NULL;
}
