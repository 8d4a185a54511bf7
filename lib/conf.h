/*
 * conf.h - the table-driven configuration engine (JSON through jansson).
 *
 * Each module declares its keys once, in a `struct conf_key` table next to the code that
 * uses them (name, type, where it is stored, default, bounds, help). This engine loads a
 * JSON file against the root table, fills a plain C struct, and reports errors the way
 * admins and editors expect:
 *   syntax:    FILE:LINE:COL: error: TEXT              (from jansson)
 *   semantics: FILE: error: /json/pointer: TEXT        (every error found, not just one)
 * It accepts whole-line comments starting with // or # (blanked to spaces before parsing
 * so line/column numbers stay exact), rejects duplicate keys and unknown keys (with a
 * "did you mean" hint when a key is close to a known one), and fills defaults for every key
 * that is absent. It also prints the effective configuration (postern -n -v) and a key
 * reference (docs) from the same tables.
 *
 * Value syntax in the file and in defaults (`def` strings, parsed by the same code):
 *   CONF_BOOL      true/false                                      -> bool
 *   CONF_INT       JSON integer                                    -> long long
 *   CONF_SIZE      integer bytes, or string "25M", "512K", "1G"    -> unsigned long long
 *   CONF_DURATION  integer seconds, or string "300ms" "10s" "5m" "2h" "8d"  -> long long ms
 *                  (a string needs a unit, except "0")
 *   CONF_STRING    JSON string                                     -> char * (malloc'd)
 *   CONF_PATH      JSON string; a relative path is made absolute at load time against
 *                  the directory of the configuration file (conf_load_file), or the
 *                  working directory for conf_load_buffer           -> char * (malloc'd)
 *                  STRING and PATH keys that are not CONF_REQUIRED also accept null
 *                  (unset: NULL), which is how conf_print shows an unset string.
 *   CONF_ENUM      JSON string, one of key->choices                -> int (index in choices)
 *                  (a choice named "true" or "false" is written as that JSON boolean:
 *                  a tri-state such as true / false / "auto")
 *   CONF_STRLIST   JSON array of strings                           -> struct conf_strlist
 *   CONF_SECTION   JSON object, described by key->sub              -> embedded struct
 *   CONF_ARRAY     JSON array of objects, each described by key->sub -> struct conf_array
 *   CONF_NUMBER    JSON number (integer or real), e.g. a score 1.5  -> double
 *                  (bounds min..max are whole numbers, checked when min != max)
 *   CONF_MAP       JSON object whose keys are free-form names and whose values are objects
 *                  described by key->sub (e.g. "classes": {"default": {...}})
 *                                                                   -> struct conf_array
 *                  (each element's first member must be a `char *name`, set to the key;
 *                  the sub-table need not declare "name", and if it does the key wins)
 *                  A map may have built-in entries and may inherit, see below.
 *   CONF_NAMED     JSON object whose keys must be names that the schema (key->sub, the
 *                  `sec` of a struct conf_named_schema) knows, each value
 *                  an object described by the section of that name (e.g. the policy
 *                  checks of a profile, each with its own settings: "checks": {"dnsbl":
 *                  {...}}); an unknown name is an error with a "did you mean" hint
 *                                                                   -> struct conf_array
 *                  of struct conf_named (name, section, malloc'd settings struct)
 * Defaults: `def` is a string in the syntax above ("true", "1000", "\"25M\"" is NOT needed:
 * for SIZE/DURATION/STRING/PATH/ENUM write the bare text, e.g. "25M", "5m", "reject").
 * For CONF_STRLIST the default is a JSON array text ("[]" when NULL). For CONF_SECTION
 * the defaults of the sub-table apply when the object is absent. CONF_ARRAY, CONF_NAMED
 * and CONF_MAP default to empty, except:
 *   - a CONF_MAP whose `def` is a JSON object text has those built-in entries (shipped
 *     defaults such as the protection levels high/medium/low); an entry of the file with
 *     the same name is merged over the built-in one key by key (keys it gives win, the
 *     others keep the built-in values), other entries are added;
 *   - a CONF_MAP whose `def` is "@KEY" inherits: every entry starts from the object of
 *     root key KEY (declared before the map in the root table), key by key the same way
 *     ("domains" entries start from "domain_defaults": "@domain_defaults"): a key absent
 *     from the entry takes that object's value, then the table default. When that object
 *     had errors, entries do not inherit from it (its errors are reported once, at its
 *     place).
 * A key with CONF_REQUIRED and no value is an error.
 *
 * A bad value is reported and replaced by the key's default, so the struct is always
 * complete. Sizes are bounded by LLONG_MAX bytes.
 *
 * Thread use: load on the loop thread (startup or SIGHUP); the result is read-only after.
 */
#ifndef POSTERN_CONF_H
#define POSTERN_CONF_H

#include <stddef.h>
#include <stdio.h>

enum conf_type {
    CONF_BOOL, CONF_INT, CONF_SIZE, CONF_DURATION, CONF_STRING, CONF_PATH, CONF_ENUM,
    CONF_STRLIST, CONF_SECTION, CONF_ARRAY, CONF_MAP, CONF_NUMBER, CONF_NAMED
};
#define CONF_TYPES (CONF_NAMED + 1)

#define CONF_REQUIRED 0x1u   /* must be present in the file */
#define CONF_SECRET   0x2u   /* printed as "********" by conf_print */
#define CONF_REMOVED  0x4u   /* a key no longer accepted: a file that has it is refused with
                                "removed key: HELP" (help says what to write instead); it
                                has no field (type and offset unused) and is neither
                                printed nor in the reference */

struct conf_strlist {
    char **v;          /* n malloc'd strings */
    size_t n;
};

struct conf_array {
    void *items;       /* n elements of key->elem_size bytes each, calloc'd; NULL when n == 0 */
    size_t n;
};

/* One element of a CONF_NAMED map. */
struct conf_section;
struct conf_named {
    char *name;                      /* the JSON key, one of the schema's names */
    const struct conf_section *sec;  /* its section */
    void *obj;                       /* its settings struct (calloc'd, sec's key offsets) */
};

struct conf_key;
struct conf_errors;
struct conf_section {
    const char *name;              /* for docs: "limits", "listener" ... */
    const struct conf_key *keys;   /* terminated by an entry with name == NULL */
    /* Optional cross-field check run after the section is filled; it reports through
     * conf_error() with the pointer of the section (e.g. "/listeners/0", "" for the root)
     * and returns the number of errors it reported. It runs only when filling the section
     * (and everything under it) reported no error, so it can trust every field. For a map
     * element the name is set before it runs. */
    int (*validate)(void *obj, const char *pointer, struct conf_errors *errs);
};

/* The names a CONF_NAMED map accepts: the key's `sub` points to the `sec` member of one of
 * these (sec only names it for the docs; its keys table is empty). at(i) returns the i-th
 * name and sets its section and the size of the struct that section fills; NULL past the
 * last one. Called at load, print and free time: the set must not change while a loaded
 * config lives. */
struct conf_named_schema {
    struct conf_section sec;
    const char *(*at)(size_t i, const struct conf_section **sec, size_t *size);
};

struct conf_key {
    const char *name;
    enum conf_type type;
    size_t offset;                 /* offsetof() the field in the section's struct */
    const char *def;               /* default in file syntax; NULL = none (0/NULL/empty) */
    long long min, max;            /* bounds for INT/SIZE/DURATION(ms); min == max: none */
    const char *const *choices;    /* CONF_ENUM: NULL-terminated list */
    const struct conf_section *sub;/* CONF_SECTION / CONF_ARRAY / CONF_MAP */
    size_t elem_size;              /* CONF_ARRAY / CONF_MAP: sizeof one element */
    unsigned flags;                /* CONF_REQUIRED, CONF_SECRET, CONF_REMOVED */
    const char *help;              /* one line for docs and -n -v */
};

/* Collected diagnostics of one load. */
struct conf_errors {
    const char *file;   /* used as the prefix of every message */
    int count;
    FILE *out;          /* where messages are printed as they are found (stderr) */
};

/* Report a semantic error at a JSON pointer ("/listeners/1/address"): prints
 * "FILE: error: POINTER: message" to errs->out (stderr when NULL) and counts it. A NULL or
 * "" pointer (the whole file) prints "FILE: error: message". Returns 1. */
int conf_error(struct conf_errors *errs, const char *pointer, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* path made absolute the way CONF_PATH values are: against the directory of the file being
 * loaded while a conf_load_file() runs (validators use it), else against the working
 * directory. malloc'd; NULL with errno when the working directory is unknown. */
char *conf_path_absolute(const char *path);

/*
 * Load `path` against `root` into `out` (a zeroed struct of the root section's type).
 * Returns 0 when the file is valid; otherwise -1 after printing every error found to
 * errs->out. On failure `out` may be partly filled: release it with conf_free().
 * Sets errs->file to the path and adds to errs->count (which it does not reset).
 */
int conf_load_file(const char *path, const struct conf_section *root, void *out,
                   struct conf_errors *errs);

/* Same, from a buffer (tests). `name` is used as the file name in messages. */
int conf_load_buffer(const char *name, const char *text, size_t len,
                     const struct conf_section *root, void *out, struct conf_errors *errs);

/* Free every string, list and array the engine allocated inside obj (not obj itself) and
 * zero those fields. Safe on a zeroed or partly filled struct, and twice. */
void conf_free(const struct conf_section *root, void *obj);

/* Print the effective configuration (all keys with their values, defaults included) as
 * strict JSON, secrets masked. */
void conf_print(FILE *out, const struct conf_section *root, const void *obj);

/* Print a Markdown reference of every key under root: pointer, type, default, bounds,
 * help. Used to generate docs/configuration.md. */
void conf_print_reference(FILE *out, const struct conf_section *root);

/* The same reference as man(7) text: one .SS per section, one .TP per key (the KEYS part
 * of postern.json(5), which the build wraps with its NAME, SYNTAX and SEE ALSO parts). */
void conf_print_reference_man(FILE *out, const struct conf_section *root);

/* Parse helpers, exposed for tests and for values read outside the engine. Return 0 on
 * success, -1 on a bad value. Sizes: digits with an optional K/M/G (any case, powers of
 * 1024) and an optional B. Durations: digits with ms/s/m/h/d, or "0". */
int conf_parse_size(const char *s, unsigned long long *out);
int conf_parse_duration_ms(const char *s, long long *out);

/* The inverse, for messages and printing: the largest unit that is exact ("25M", "1000";
 * "5m", "300ms", "0s"), always text the parse helpers accept. */
void conf_format_size(char *buf, size_t len, unsigned long long v);
void conf_format_duration(char *buf, size_t len, long long ms);

/* The shortest text that reads back as exactly v ("5", "1.5", "0.1"); a JSON number. */
void conf_format_number(char *buf, size_t len, double v);

#endif
