/*
 * symbols.h - every symbol the engine may add, with its effective score.
 *
 * A symbol is declared once, in the table beside its check (struct symbol_def: name,
 * default score, description), or by a check's settings (DNSBL zones name theirs). The
 * engine adds, for every known check, NAME_TIMEOUT (the check missed the stage deadline;
 * score 0), and its own symbols (below). The config may override any score:
 *   "policy": { "symbols": { "RDNS_NONE": { "score": 2.5 } } }
 * and a name that no check declares is an error (`postern -n`).
 *
 * Threading: built when a config is activated (or validated); read-only afterwards.
 */
#ifndef POSTERN_POLICY_SYMBOLS_H
#define POSTERN_POLICY_SYMBOLS_H

#include <stddef.h>

#include "lib/conf.h"

/* Symbols of the engine itself (score 0: they explain a verdict in logs and headers). */
#define SYM_WHITELISTED   "SENDER_WHITELISTED"    /* the sender is on a whitelist */
#define SYM_BLACKLISTED   "SENDER_BLACKLISTED"    /* the sender is on a blacklist */
#define SYM_USER_TEMPFAIL "USER_SETTINGS_TEMPFAIL" /* per-user settings could not be read:
                                                      domain settings were used */

/* One override in the config's "symbols" map. */
struct symbol_conf {
    char *name;
    double score;
};
extern const struct conf_section symbol_conf_section;

struct symbol {
    const char *name;
    double score;            /* effective: the override, else the declared default */
    double declared;
    const char *owner;       /* the check's name, or "engine" */
    const char *description;
};

struct symtab;
struct conf_array;

/* Every symbol of the registered checks, their NAME_TIMEOUT, the engine's own, and those
 * named by the settings of the checks of `profiles` (struct profile_conf elements, may be
 * NULL); then the overrides (struct symbol_conf elements, may be NULL). Returns NULL
 * after reporting through errs (pointer names where: "/policy") when an override names an
 * unknown symbol or two checks declare one name with different scores. */
struct symtab *symtab_new(const struct conf_array *profiles, const struct conf_array *overrides,
                          const char *pointer, struct conf_errors *errs);
void symtab_free(struct symtab *t);

/* The symbol called name, or NULL. */
const struct symbol *symtab_find(const struct symtab *t, const char *name);

/* The NAME_TIMEOUT symbol name of a check into buf. */
void symbol_timeout_name(char *buf, size_t len, const char *check);

/* Number of symbols and the i-th (sorted by name), for docs and `posternctl policy`. */
size_t symtab_count(const struct symtab *t);
const struct symbol *symtab_at(const struct symtab *t, size_t i);

#endif
