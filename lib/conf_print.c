/*
 * conf_print.c - print a loaded configuration, and the key reference, from the tables.
 *
 * conf_print() writes the effective configuration (`postern -n -v`) as indented strict JSON
 * that conf_load_* reads back to the same values: every key in table order, sizes and
 * durations in the shortest exact unit ("25M", "5m", "300ms"), enums by name, unset
 * strings as null, secrets as "********". conf_print_reference() writes the Markdown key
 * reference (docs/configuration.md). Both only read the tables and the struct.
 */
#include "lib/conf.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#define REF_PTR_MAX 512

static void indent(FILE *out, int depth)
{
    fprintf(out, "%*s", depth * 2, "");
}

/* s as a JSON string; jansson gave us valid UTF-8, so only escapes are needed. */
static void put_string(FILE *out, const char *s)
{
    const unsigned char *p;

    fputc('"', out);
    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p == '\t')
            fputs("\\t", out);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void print_section(FILE *out, const struct conf_section *sec, const void *obj,
                          int depth);

static void print_size(FILE *out, unsigned long long v)
{
    char buf[32];

    conf_format_size(buf, sizeof buf, v);
    if (strspn(buf, "0123456789") == strlen(buf))
        fputs(buf, out);
    else
        put_string(out, buf);
}

static void print_duration(FILE *out, long long ms)
{
    char buf[32];

    conf_format_duration(buf, sizeof buf, ms);
    put_string(out, buf);
}

static void print_enum(FILE *out, const struct conf_key *k, int idx)
{
    int n = 0;

    while (k->choices[n] != NULL)
        n++;
    if (idx >= 0 && idx < n && (strcmp(k->choices[idx], "true") == 0 ||
                                strcmp(k->choices[idx], "false") == 0))
        fputs(k->choices[idx], out);       /* a JSON boolean (see conf.h) */
    else if (idx >= 0 && idx < n)
        put_string(out, k->choices[idx]);
    else
        fputs("null", out);
}

static void print_strlist(FILE *out, const struct conf_strlist *l, int depth)
{
    size_t i;

    if (l->n == 0) {
        fputs("[]", out);
        return;
    }
    fputc('[', out);
    for (i = 0; i < l->n; i++) {
        fputs(i ? ",\n" : "\n", out);
        indent(out, depth + 1);
        put_string(out, l->v[i]);
    }
    fputc('\n', out);
    indent(out, depth);
    fputc(']', out);
}

/* An array as [ {...}, ... ], a map as { "name": {...}, ... }. */
static void print_elements(FILE *out, const struct conf_key *k, const struct conf_array *arr,
                           int depth)
{
    bool map = k->type == CONF_MAP;
    size_t i;

    if (arr->n == 0) {
        fputs(map ? "{}" : "[]", out);
        return;
    }
    fputc(map ? '{' : '[', out);
    for (i = 0; i < arr->n; i++) {
        const void *elem = (const char *)arr->items + i * k->elem_size;
        fputs(i ? ",\n" : "\n", out);
        indent(out, depth + 1);
        if (map) {
            put_string(out, *(char *const *)elem);
            fputs(": ", out);
        }
        print_section(out, k->sub, elem, depth + 1);
    }
    fputc('\n', out);
    indent(out, depth);
    fputc(map ? '}' : ']', out);
}

/* A CONF_NAMED map as { "name": {...}, ... }, each with its own section. */
static void print_named(FILE *out, const struct conf_array *arr, int depth)
{
    const struct conf_named *items = arr->items;
    size_t i;

    if (arr->n == 0) {
        fputs("{}", out);
        return;
    }
    fputc('{', out);
    for (i = 0; i < arr->n; i++) {
        fputs(i ? ",\n" : "\n", out);
        indent(out, depth + 1);
        put_string(out, items[i].name);
        fputs(": ", out);
        print_section(out, items[i].sec, items[i].obj, depth + 1);
    }
    fputc('\n', out);
    indent(out, depth);
    fputc('}', out);
}

static void print_value(FILE *out, const struct conf_key *k, const void *field, int depth)
{
    char num[40];
    const char *s;

    switch (k->type) {
    case CONF_BOOL:     fputs(*(const bool *)field ? "true" : "false", out); break;
    case CONF_INT:      fprintf(out, "%lld", *(const long long *)field); break;
    case CONF_NUMBER:
        conf_format_number(num, sizeof num, *(const double *)field);
        fputs(num, out);
        break;
    case CONF_NAMED:    print_named(out, field, depth); break;
    case CONF_SIZE:     print_size(out, *(const unsigned long long *)field); break;
    case CONF_DURATION: print_duration(out, *(const long long *)field); break;
    case CONF_ENUM:     print_enum(out, k, *(const int *)field); break;
    case CONF_STRLIST:  print_strlist(out, field, depth); break;
    case CONF_SECTION:  print_section(out, k->sub, field, depth); break;
    case CONF_ARRAY:
    case CONF_MAP:      print_elements(out, k, field, depth); break;
    case CONF_STRING:
    case CONF_PATH:
        s = *(char *const *)field;
        if (s == NULL)
            fputs("null", out);
        else
            /* a secret file's path is no secret: only the secret itself is masked */
            put_string(out, (k->flags & CONF_SECRET) && k->type != CONF_PATH ? "********" : s);
        break;
    }
}

static void print_section(FILE *out, const struct conf_section *sec, const void *obj,
                          int depth)
{
    const struct conf_key *k;
    bool any = false;

    fputc('{', out);
    for (k = sec->keys; k->name != NULL; k++) {
        if (k->flags & CONF_REMOVED)
            continue;
        fputs(any ? ",\n" : "\n", out);
        any = true;
        indent(out, depth + 1);
        put_string(out, k->name);
        fputs(": ", out);
        print_value(out, k, (const char *)obj + k->offset, depth + 1);
    }
    if (any) {
        fputc('\n', out);
        indent(out, depth);
    }
    fputc('}', out);
}

void conf_print(FILE *out, const struct conf_section *root, const void *obj)
{
    print_section(out, root, obj, 0);
    fputc('\n', out);
}

/* ---- reference ----------------------------------------------------------------------- */

static const char *const type_name[CONF_TYPES] = {
    [CONF_BOOL] = "bool", [CONF_INT] = "integer", [CONF_SIZE] = "size",
    [CONF_DURATION] = "duration", [CONF_STRING] = "string", [CONF_PATH] = "path",
    [CONF_ENUM] = "enum", [CONF_STRLIST] = "list of strings", [CONF_SECTION] = "object",
    [CONF_ARRAY] = "list of objects", [CONF_MAP] = "map of objects",
    [CONF_NUMBER] = "number", [CONF_NAMED] = "map of named objects",
};

/* One table cell: s with | escaped for Markdown. */
static void cell(FILE *out, const char *s)
{
    fputs(" ", out);
    for (; s != NULL && *s != '\0'; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
    fputs(" |", out);
}

static void bounds_cell(FILE *out, const struct conf_key *k)
{
    char lo[32], hi[32], buf[80];
    int i;

    if (k->type == CONF_ENUM) {
        fputs(" ", out);
        for (i = 0; k->choices[i] != NULL; i++)
            fprintf(out, "%s%s", i ? ", " : "", k->choices[i]);
        fputs(" |", out);
        return;
    }
    buf[0] = '\0';
    if (k->min != k->max && k->type == CONF_SIZE) {
        conf_format_size(lo, sizeof lo, (unsigned long long)k->min);
        conf_format_size(hi, sizeof hi, (unsigned long long)k->max);
        snprintf(buf, sizeof buf, "%s..%s", lo, hi);
    } else if (k->min != k->max && k->type == CONF_DURATION) {
        conf_format_duration(lo, sizeof lo, k->min);
        conf_format_duration(hi, sizeof hi, k->max);
        snprintf(buf, sizeof buf, "%s..%s", lo, hi);
    } else if (k->min != k->max && (k->type == CONF_INT || k->type == CONF_NUMBER)) {
        snprintf(buf, sizeof buf, "%lld..%lld", k->min, k->max);
    }
    cell(out, buf);
}

static const char *default_text(const struct conf_key *k)
{
    if (k->type == CONF_SECTION)
        return "";
    if (k->type == CONF_ARRAY)
        return "[]";
    if (k->type == CONF_MAP && k->def != NULL && k->def[0] == '@')
        return "{} (entries start from the object named after @)";
    if (k->type == CONF_MAP || k->type == CONF_NAMED)
        return k->def ? k->def : "{}";
    if (k->type == CONF_STRLIST && k->def == NULL)
        return "[]";
    return k->def;
}

static void reference_row(FILE *out, const struct conf_key *k, const char *pointer)
{
    char ptr[REF_PTR_MAX], type[64];

    snprintf(ptr, sizeof ptr, "%s/%s", pointer, k->name);
    snprintf(type, sizeof type, "%s%s%s", type_name[k->type],
             (k->flags & CONF_REQUIRED) ? ", required" : "",
             (k->flags & CONF_SECRET) ? ", secret" : "");
    fputc('|', out);
    cell(out, ptr);
    cell(out, type);
    cell(out, default_text(k));
    bounds_cell(out, k);
    cell(out, k->help);
    fputc('\n', out);
}

typedef void section_table_fn(FILE *out, const struct conf_section *sec, const char *pointer);

/* Print table(sec), then walk its sub-sections, arrays, maps and the tables of each name a
 * CONF_NAMED map accepts (e.g. each policy check's settings), in key order. Shared by the
 * markdown reference and the man page. */
static void walk_sections(FILE *out, const struct conf_section *sec, const char *pointer,
                          section_table_fn *table)
{
    static const char *const element[CONF_TYPES] = {
        [CONF_SECTION] = "", [CONF_ARRAY] = "/N", [CONF_MAP] = "/NAME",
    };
    const struct conf_key *k;
    char child[REF_PTR_MAX];

    table(out, sec, pointer);
    for (k = sec->keys; k->name != NULL; k++) {
        if (k->flags & CONF_REMOVED)
            continue;
        if (k->type == CONF_NAMED) {
            const struct conf_named_schema *schema = (const struct conf_named_schema *)
                (const void *)((const char *)k->sub - offsetof(struct conf_named_schema, sec));
            const struct conf_section *nsec;
            const char *name;
            size_t i, size;

            for (i = 0; (name = schema->at(i, &nsec, &size)) != NULL; i++) {
                snprintf(child, sizeof child, "%s/%s/%s", pointer, k->name, name);
                walk_sections(out, nsec, child, table);
            }
        }
        if (k->type != CONF_SECTION && k->type != CONF_ARRAY && k->type != CONF_MAP)
            continue;
        snprintf(child, sizeof child, "%s/%s%s", pointer, k->name, element[k->type]);
        walk_sections(out, k->sub, child, table);
    }
}

/* One markdown table per section. */
static void reference_table(FILE *out, const struct conf_section *sec, const char *pointer)
{
    const struct conf_key *k;

    fprintf(out, "## %s (%s)\n\n", *pointer ? pointer : "Top level", sec->name);
    fputs("| Key | Type | Default | Bounds / choices | Description |\n"
          "|---|---|---|---|---|\n", out);
    for (k = sec->keys; k->name != NULL; k++)
        if (!(k->flags & CONF_REMOVED))
            reference_row(out, k, pointer);
    fputc('\n', out);
}

void conf_print_reference(FILE *out, const struct conf_section *root)
{
    walk_sections(out, root, "", reference_table);
}

/* ---- reference as a man page section (postern.json(5)) -------------------------------- */

/* s as roff text: backslashes escaped, a leading dot or quote made harmless. */
static void roff(FILE *out, const char *s)
{
    if (s == NULL)
        return;
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
        if (*s == '\n' && (s[1] == '.' || s[1] == '\''))
            fputs("\\&", out);
    }
}

static void man_key(FILE *out, const struct conf_key *k, const char *pointer)
{
    char ptr[REF_PTR_MAX];
    const char *def = default_text(k);

    snprintf(ptr, sizeof ptr, "%s/%s", pointer, k->name);
    fputs(".TP\n.B ", out);
    roff(out, ptr);
    fputs("\n.I ", out);
    roff(out, type_name[k->type]);
    if (k->flags & CONF_REQUIRED)
        fputs(", required", out);
    if (k->flags & CONF_SECRET)
        fputs(", secret", out);
    if (def != NULL && *def != '\0') {
        fputs("; default ", out);
        roff(out, def);
    }
    if (k->type == CONF_ENUM) {
        int i;
        fputs("; one of ", out);
        for (i = 0; k->choices[i] != NULL; i++) {
            fputs(i ? ", " : "", out);
            roff(out, k->choices[i]);
        }
    } else if (k->min != k->max && (k->type == CONF_SIZE || k->type == CONF_DURATION ||
                                    k->type == CONF_INT || k->type == CONF_NUMBER)) {
        char lo[32], hi[32];
        if (k->type == CONF_SIZE) {
            conf_format_size(lo, sizeof lo, (unsigned long long)k->min);
            conf_format_size(hi, sizeof hi, (unsigned long long)k->max);
        } else if (k->type == CONF_DURATION) {
            conf_format_duration(lo, sizeof lo, k->min);
            conf_format_duration(hi, sizeof hi, k->max);
        } else {
            snprintf(lo, sizeof lo, "%lld", k->min);
            snprintf(hi, sizeof hi, "%lld", k->max);
        }
        fprintf(out, "; %s..%s", lo, hi);
    }
    fputs("\n.br\n", out);
    roff(out, k->help);
    fputc('\n', out);
}

/* One .SS per section, its keys below. */
static void man_table(FILE *out, const struct conf_section *sec, const char *pointer)
{
    const struct conf_key *k;

    fputs(".SS \"", out);
    roff(out, *pointer ? pointer : "Top level");
    fputs(" (", out);
    roff(out, sec->name);
    fputs(")\"\n", out);
    for (k = sec->keys; k->name != NULL; k++)
        if (!(k->flags & CONF_REMOVED))
            man_key(out, k, pointer);
}

void conf_print_reference_man(FILE *out, const struct conf_section *root)
{
    walk_sections(out, root, "", man_table);
}
