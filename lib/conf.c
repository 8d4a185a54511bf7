/*
 * conf.c - load a JSON configuration file against the key tables of conf.h.
 *
 * Owns: reading the file, blanking whole-line comments, parsing with jansson (duplicate
 * keys rejected), walking the key tables to fill the caller's struct (values, defaults,
 * bounds, unknown keys with "did you mean"), reporting every error with a JSON pointer,
 * and conf_free(). Also the size/duration parse and format helpers shared with
 * conf_print.c. Called by the daemon at startup and on SIGHUP, and by `postern -n`.
 *
 * The walk keeps the JSON pointer of the value being filled in a fixed buffer (struct
 * loader); a bad value is reported and replaced by the key's default, so the struct is
 * always complete and validate callbacks of error-free sections see sane values.
 * Allocation goes through xalloc (out of memory is fatal in Postern).
 */
#include "lib/conf.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/xalloc.h"

#define PTR_MAX   512   /* longest JSON pointer kept; a deeper one is cut (messages only) */
#define SHOW_MAX  60    /* bytes of a bad string value quoted back in a message */
#define HINT_MAX  64    /* longer unknown keys get no "did you mean" */
#define MSG_MAX   768   /* one message, before the file and pointer prefix */

struct loader {
    struct conf_errors *errs;
    char ptr[PTR_MAX];   /* JSON pointer of the value being filled, "" at the root */
    size_t len;
    json_t *root;                        /* the whole document (for CONF_MAP inherit) */
    const struct conf_section *root_sec;
    unsigned long long bad_roots;        /* bit i: root key i reported an error */
};

#define FIELD(base, key) ((void *)((char *)(base) + (key)->offset))

/* ---- messages ------------------------------------------------------------------------ */

static FILE *err_out(const struct conf_errors *errs)
{
    return errs->out ? errs->out : stderr;
}

int conf_error(struct conf_errors *errs, const char *pointer, const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(err_out(errs), "%s: error: %s%s%s\n", errs->file ? errs->file : "config",
            pointer ? pointer : "", pointer && *pointer ? ": " : "", msg);
    errs->count++;
    return 1;
}

/* jansson's message with its position, GNU style: "FILE:LINE:COL: error: TEXT". */
static void syntax_error(struct conf_errors *errs, const json_error_t *jerr)
{
    if (jerr->line <= 0) {
        conf_error(errs, NULL, "%s", jerr->text);
        return;
    }
    fprintf(err_out(errs), "%s:%d:%d: error: %s\n", errs->file ? errs->file : "config",
            jerr->line, jerr->column, jerr->text);
    errs->count++;
}

/* s as a quoted, escaped JSON string for a message, cut after SHOW_MAX bytes without
 * splitting a UTF-8 sequence ("..." marks the cut). len must allow 6 bytes per byte. */
static void quote(char *buf, size_t len, const char *s)
{
    size_t at = 0, i;

    buf[at++] = '"';
    for (i = 0; s[i] != '\0' && at + 12 < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= SHOW_MAX && (c & 0xC0) != 0x80) {
            at += (size_t)snprintf(buf + at, len - at, "...");
            break;
        }
        if (c == '"' || c == '\\')
            at += (size_t)snprintf(buf + at, len - at, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            at += (size_t)snprintf(buf + at, len - at, "\\u%04x", c);
        else
            buf[at++] = (char)c;
    }
    snprintf(buf + at, len - at, "\"");
}

/* What a value is, for "got ...": `string "x"`, `integer 5`, `array`; with_type false
 * drops the type word of strings and numbers (`"x"`, `5`). */
static void describe(const json_t *v, bool with_type, char *buf, size_t len)
{
    char q[SHOW_MAX * 6 + 16];

    switch (json_typeof(v)) {
    case JSON_STRING:
        quote(q, sizeof q, json_string_value(v));
        snprintf(buf, len, "%s%s", with_type ? "string " : "", q);
        break;
    case JSON_INTEGER:
        snprintf(buf, len, "%s%lld", with_type ? "integer " : "",
                 (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(buf, len, "%s%g", with_type ? "number " : "", json_real_value(v));
        break;
    case JSON_TRUE:   snprintf(buf, len, "true"); break;
    case JSON_FALSE:  snprintf(buf, len, "false"); break;
    case JSON_NULL:   snprintf(buf, len, "null"); break;
    case JSON_ARRAY:  snprintf(buf, len, "array"); break;
    case JSON_OBJECT: snprintf(buf, len, "object"); break;
    }
}

/* ---- JSON pointer (RFC 6901) --------------------------------------------------------- */

static void ptr_put(struct loader *ld, char c)
{
    if (ld->len + 1 < sizeof ld->ptr) {
        ld->ptr[ld->len++] = c;
        ld->ptr[ld->len] = '\0';
    }
}

/* Append "/token" with ~ and / escaped; returns the length to restore with ptr_pop. */
static size_t ptr_push(struct loader *ld, const char *token)
{
    size_t old = ld->len;

    ptr_put(ld, '/');
    for (; *token != '\0'; token++) {
        if (*token == '~' || *token == '/') {
            ptr_put(ld, '~');
            ptr_put(ld, *token == '~' ? '0' : '1');
        } else {
            ptr_put(ld, *token);
        }
    }
    return old;
}

static size_t ptr_push_index(struct loader *ld, size_t i)
{
    char num[32];

    snprintf(num, sizeof num, "%zu", i);
    return ptr_push(ld, num);
}

static void ptr_pop(struct loader *ld, size_t old)
{
    ld->len = old;
    ld->ptr[old] = '\0';
}

/* ---- sizes and durations ------------------------------------------------------------- */

static const struct { const char *unit; long long ms; } duration_units[] = {
    { "d", 86400000LL }, { "h", 3600000LL }, { "m", 60000LL }, { "s", 1000LL }, { "ms", 1LL },
};
#define N_DURATION_UNITS (sizeof duration_units / sizeof duration_units[0])

int conf_parse_size(const char *s, unsigned long long *out)
{
    unsigned long long v;
    unsigned shift = 0;
    char *end;

    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (*end == 'b' || *end == 'B')
        end++;
    if (*end != '\0' || v > ((unsigned long long)LLONG_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

int conf_parse_duration_ms(const char *s, long long *out)
{
    long long v;
    char *end;
    size_t i;

    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0)
        return -1;
    if (*end == '\0' && v == 0) {
        *out = 0;
        return 0;
    }
    for (i = 0; i < N_DURATION_UNITS; i++) {
        if (strcmp(end, duration_units[i].unit) == 0) {
            if (v > LLONG_MAX / duration_units[i].ms)
                return -1;
            *out = v * duration_units[i].ms;
            return 0;
        }
    }
    return -1;
}

void conf_format_size(char *buf, size_t len, unsigned long long v)
{
    static const char units[] = "GMK";
    int i;

    for (i = 0; i < 3 && v != 0; i++) {
        unsigned shift = (unsigned)(30 - 10 * i);
        if ((v & ((1ULL << shift) - 1)) == 0) {
            snprintf(buf, len, "%llu%c", v >> shift, units[i]);
            return;
        }
    }
    snprintf(buf, len, "%llu", v);
}

void conf_format_number(char *buf, size_t len, double v)
{
    int prec;

    if (v == (double)(long long)v && v > -1e15 && v < 1e15) {
        snprintf(buf, len, "%lld", (long long)v);
        return;
    }
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*f", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
    snprintf(buf, len, "%.17g", v);
}

void conf_format_duration(char *buf, size_t len, long long ms)
{
    size_t i;

    for (i = 0; i < N_DURATION_UNITS; i++) {
        if (ms != 0 && ms % duration_units[i].ms == 0) {
            snprintf(buf, len, "%lld%s", ms / duration_units[i].ms, duration_units[i].unit);
            return;
        }
    }
    snprintf(buf, len, "0s");
}

/* ---- scalar values ------------------------------------------------------------------- */

/* " 1..100000", " 1K..64M", " 1s..1h", or "" when the key has no bounds. */
static void bounds_text(const struct conf_key *k, char *buf, size_t len)
{
    char lo[32], hi[32];

    if (k->min == k->max || (k->type != CONF_INT && k->type != CONF_SIZE &&
                             k->type != CONF_DURATION && k->type != CONF_NUMBER)) {
        buf[0] = '\0';
        return;
    }
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
    snprintf(buf, len, " %s..%s", lo, hi);
}

static const char *const type_noun[CONF_TYPES] = {
    [CONF_BOOL] = "true or false", [CONF_INT] = "integer", [CONF_SIZE] = "size",
    [CONF_DURATION] = "duration", [CONF_STRING] = "string", [CONF_PATH] = "path",
    [CONF_NUMBER] = "number",
};

static const char *const syntax_hint[CONF_TYPES] = {
    [CONF_SIZE] = " (integer bytes or a string like \"512K\", \"25M\", \"1G\")",
    [CONF_DURATION] =
        " (integer seconds or a string like \"300ms\", \"10s\", \"5m\", \"2h\", \"8d\")",
};

/* "expected integer 1..10, got string "x"" (bad type or syntax); returns -1. */
static int bad_value(const struct conf_key *k, const json_t *v, char *msg, size_t len)
{
    char b[80], got[SHOW_MAX * 6 + 32];

    bounds_text(k, b, sizeof b);
    describe(v, true, got, sizeof got);
    snprintf(msg, len, "expected %s%s%s, got %s", type_noun[k->type], b,
             syntax_hint[k->type] ? syntax_hint[k->type] : "", got);
    return -1;
}

/* "expected integer 1..10, got 11" (well-formed but outside the bounds); returns -1. */
static int out_of_bounds(const struct conf_key *k, const json_t *v, char *msg, size_t len)
{
    char b[80], got[SHOW_MAX * 6 + 32];

    bounds_text(k, b, sizeof b);
    describe(v, false, got, sizeof got);
    snprintf(msg, len, "expected %s%s, got %s", type_noun[k->type], b, got);
    return -1;
}

static bool in_bounds(const struct conf_key *k, long long v)
{
    return k->min == k->max || (v >= k->min && v <= k->max);
}

static int parse_int(const struct conf_key *k, const json_t *v, void *field, char *msg,
                     size_t len)
{
    if (!json_is_integer(v))
        return bad_value(k, v, msg, len);
    if (!in_bounds(k, json_integer_value(v)))
        return out_of_bounds(k, v, msg, len);
    *(long long *)field = json_integer_value(v);
    return 0;
}

static int parse_number(const struct conf_key *k, const json_t *v, void *field, char *msg,
                        size_t len)
{
    double d;

    if (!json_is_number(v))
        return bad_value(k, v, msg, len);
    d = json_number_value(v);
    if (k->min != k->max && (d < (double)k->min || d > (double)k->max))
        return out_of_bounds(k, v, msg, len);
    *(double *)field = d;
    return 0;
}

static int parse_size(const struct conf_key *k, const json_t *v, void *field, char *msg,
                      size_t len)
{
    unsigned long long n;

    if (json_is_integer(v) && json_integer_value(v) >= 0)
        n = (unsigned long long)json_integer_value(v);
    else if (!json_is_string(v) || conf_parse_size(json_string_value(v), &n) != 0)
        return bad_value(k, v, msg, len);
    if (!in_bounds(k, (long long)n))
        return out_of_bounds(k, v, msg, len);
    *(unsigned long long *)field = n;
    return 0;
}

static int parse_duration(const struct conf_key *k, const json_t *v, void *field, char *msg,
                          size_t len)
{
    long long ms;

    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) <= LLONG_MAX / 1000)
        ms = json_integer_value(v) * 1000;
    else if (!json_is_string(v) || conf_parse_duration_ms(json_string_value(v), &ms) != 0)
        return bad_value(k, v, msg, len);
    if (!in_bounds(k, ms))
        return out_of_bounds(k, v, msg, len);
    *(long long *)field = ms;
    return 0;
}

/* The directory of the file conf_load_file() is loading (absolute), or NULL (a buffer:
 * the working directory). Thread-local: a load runs on one thread, start to end. */
static _Thread_local const char *load_base;

/* A relative path joined to dir ("./" prefixes dropped, and each leading "../" taken off
 * dir, so "../run/spool" next to /srv/postern/etc/x.json is /srv/postern/run/spool). */
static char *join_path(const char *dir, const char *path)
{
    size_t n = strlen(dir);

    for (;;) {
        if (path[0] == '.' && path[1] == '/') {
            path += 2 + strspn(path + 2, "/");
        } else if (path[0] == '.' && path[1] == '.' && (path[2] == '/' || path[2] == '\0') &&
                   n > 1) {
            while (n > 1 && dir[n - 1] != '/')
                n--;
            if (n > 1)
                n--;                  /* the slash, unless it is the root's */
            path += 2 + (path[2] == '/' ? 1 + strspn(path + 3, "/") : 0);
        } else {
            break;
        }
    }
    if (strcmp(path, ".") == 0)
        path = "";
    return xasprintf("%.*s%s%s", (int)n, dir, n == 1 && dir[0] == '/' ? "" :
                     *path == '\0' ? "" : "/", path);
}

char *conf_path_absolute(const char *path)
{
    char *cwd, *abs;

    if (path[0] == '/')
        return xstrdup(path);
    if (load_base != NULL)
        return join_path(load_base, path);
    cwd = getcwd(NULL, 0);
    if (cwd == NULL)
        return NULL;
    abs = join_path(cwd, path);
    free(cwd);
    return abs;
}

static char *absolute_path(const char *path)
{
    return conf_path_absolute(path);
}

/* STRING and PATH: a string, or null (= unset) for a key that is not required. */
static int parse_string(const struct conf_key *k, const json_t *v, void *field, char *msg,
                        size_t len)
{
    char *s;

    if (json_is_null(v) && !(k->flags & CONF_REQUIRED)) {
        *(char **)field = NULL;
        return 0;
    }
    if (!json_is_string(v))
        return bad_value(k, v, msg, len);
    if (k->type == CONF_STRING) {
        *(char **)field = xstrdup(json_string_value(v));
        return 0;
    }
    if (json_string_length(v) == 0) {
        snprintf(msg, len, "expected path, got empty string");
        return -1;
    }
    s = absolute_path(json_string_value(v));
    if (s == NULL) {
        snprintf(msg, len, "cannot make the path absolute: %s", strerror(errno));
        return -1;
    }
    *(char **)field = s;
    return 0;
}

static int parse_enum(const struct conf_key *k, const json_t *v, void *field, char *msg,
                      size_t len)
{
    char list[512] = "", got[SHOW_MAX * 6 + 32];
    size_t at = 0;
    int i;

    for (i = 0; k->choices[i] != NULL; i++) {
        if ((json_is_string(v) && strcmp(json_string_value(v), k->choices[i]) == 0) ||
            (json_is_boolean(v) && strcmp(json_is_true(v) ? "true" : "false",
                                          k->choices[i]) == 0)) {
            *(int *)field = i;
            return 0;
        }
        if (at < sizeof list)
            at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", i ? ", " : "",
                                   k->choices[i]);
    }
    describe(v, !json_is_string(v), got, sizeof got);
    snprintf(msg, len, "expected one of %s, got %s", list, got);
    return -1;
}

static int parse_scalar(const struct conf_key *k, const json_t *v, void *field, char *msg,
                        size_t len)
{
    switch (k->type) {
    case CONF_BOOL:
        if (!json_is_boolean(v))
            return bad_value(k, v, msg, len);
        *(bool *)field = json_is_true(v);
        return 0;
    case CONF_INT:      return parse_int(k, v, field, msg, len);
    case CONF_NUMBER:   return parse_number(k, v, field, msg, len);
    case CONF_SIZE:     return parse_size(k, v, field, msg, len);
    case CONF_DURATION: return parse_duration(k, v, field, msg, len);
    case CONF_STRING:
    case CONF_PATH:     return parse_string(k, v, field, msg, len);
    case CONF_ENUM:     return parse_enum(k, v, field, msg, len);
    default:            break;
    }
    snprintf(msg, len, "key type %d is not a scalar (bug in the key table)", (int)k->type);
    return -1;
}

/* The JSON value of a scalar default written in file syntax (NULL if it is not valid). */
static json_t *default_json(const struct conf_key *k)
{
    switch (k->type) {
    case CONF_STRING: case CONF_PATH: case CONF_ENUM:
        return json_string(k->def);
    case CONF_SIZE: case CONF_DURATION:
        if (k->def[0] != '\0' && strspn(k->def, "0123456789") == strlen(k->def))
            return json_loads(k->def, JSON_DECODE_ANY, NULL);
        return json_string(k->def);
    default:
        return json_loads(k->def, JSON_DECODE_ANY, NULL);
    }
}

/* A value from the file, or the default when it is absent or bad (fields are left zero
 * when there is no default). A default that does not parse is a bug in the table. */
static void fill_scalar(struct loader *ld, const struct conf_key *k, const json_t *v,
                        void *field)
{
    char msg[MSG_MAX];
    json_t *d;

    if (v != NULL) {
        if (parse_scalar(k, v, field, msg, sizeof msg) == 0)
            return;
        conf_error(ld->errs, ld->ptr, "%s", msg);
    }
    if (k->def == NULL)
        return;
    d = default_json(k);
    if (d == NULL || parse_scalar(k, d, field, msg, sizeof msg) != 0)
        conf_error(ld->errs, ld->ptr, "built-in default \"%s\" is invalid (bug in the key table)",
                   k->def);
    json_decref(d);
}

/* ---- lists, sections, arrays, maps --------------------------------------------------- */

static int strlist_from_json(struct loader *ld, const json_t *v, struct conf_strlist *l)
{
    char got[SHOW_MAX * 6 + 32];
    size_t i, old;
    int bad = 0;

    if (!json_is_array(v)) {
        describe(v, true, got, sizeof got);
        conf_error(ld->errs, ld->ptr, "expected array of strings, got %s", got);
        return -1;
    }
    for (i = 0; i < json_array_size(v); i++) {
        if (json_is_string(json_array_get(v, i)))
            continue;
        old = ptr_push_index(ld, i);
        describe(json_array_get(v, i), true, got, sizeof got);
        bad += conf_error(ld->errs, ld->ptr, "expected string, got %s", got);
        ptr_pop(ld, old);
    }
    if (bad)
        return -1;
    l->n = json_array_size(v);
    l->v = l->n ? xcalloc(l->n, sizeof *l->v) : NULL;
    for (i = 0; i < l->n; i++)
        l->v[i] = xstrdup(json_string_value(json_array_get(v, i)));
    return 0;
}

static void fill_strlist(struct loader *ld, const struct conf_key *k, const json_t *v,
                         struct conf_strlist *l)
{
    const char *def = k->def ? k->def : "[]";
    json_t *d;

    if (v != NULL && strlist_from_json(ld, v, l) == 0)
        return;
    d = json_loads(def, 0, NULL);
    if (d == NULL || strlist_from_json(ld, d, l) != 0)
        conf_error(ld->errs, ld->ptr, "built-in default %s is invalid (bug in the key table)",
                   def);
    json_decref(d);
}

static const struct conf_key *find_key(const struct conf_section *sec, const char *name)
{
    const struct conf_key *k;

    for (k = sec->keys; k->name != NULL; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

/* Levenshtein distance, or SIZE_MAX when either word is longer than HINT_MAX. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[2][HINT_MAX + 1], i, j;

    if (la > HINT_MAX || lb > HINT_MAX)
        return SIZE_MAX;
    for (j = 0; j <= lb; j++)
        row[0][j] = j;
    for (i = 1; i <= la; i++) {
        size_t *prev = row[(i - 1) & 1], *cur = row[i & 1];
        cur[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t best = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            cur[j] = best;
        }
    }
    return row[la & 1][lb];
}

/* The candidate closest to name (edit distance <= 2), else one that starts with name or
 * that name starts with (at least 3 characters shared); NULL when none is close. The
 * candidates are what next(ctx, i) returns for i = 0, 1, ... until NULL. */
static const char *suggest_among(const char *name, const char *(*next)(const void *, size_t),
                                 const void *ctx)
{
    const char *best = NULL, *prefix = NULL, *cand;
    size_t best_d = 3, d, shorter, i;

    for (i = 0; (cand = next(ctx, i)) != NULL; i++) {
        d = edit_distance(name, cand);
        if (d < best_d) {
            best_d = d;
            best = cand;
        }
        shorter = strlen(name) < strlen(cand) ? strlen(name) : strlen(cand);
        if (prefix == NULL && shorter >= 3 && strncmp(name, cand, shorter) == 0)
            prefix = cand;
    }
    return best ? best : prefix;
}

static const char *section_key_at(const void *sec, size_t i)
{
    const struct conf_key *k = ((const struct conf_section *)sec)->keys;
    size_t j;

    for (j = 0; j < i && k[j].name != NULL; j++)
        ;
    return k[j].name;
}

static const char *suggest(const struct conf_section *sec, const char *name)
{
    return suggest_among(name, section_key_at, sec);
}

/* The schema a CONF_NAMED key's sub section belongs to. */
static const struct conf_named_schema *named_schema(const struct conf_key *k)
{
    return (const struct conf_named_schema *)(const void *)
        ((const char *)k->sub - offsetof(struct conf_named_schema, sec));
}

static const char *named_at(const void *schema, size_t i)
{
    const struct conf_section *sec;
    size_t size;

    return ((const struct conf_named_schema *)schema)->at(i, &sec, &size);
}

static void check_unknown(struct loader *ld, const struct conf_section *sec, json_t *obj)
{
    const char *name, *hint;
    json_t *v;
    size_t old;

    json_object_foreach(obj, name, v) {
        if (find_key(sec, name) != NULL)
            continue;
        old = ptr_push(ld, name);
        hint = suggest(sec, name);
        if (hint != NULL)
            conf_error(ld->errs, ld->ptr, "unknown key (did you mean \"%s\"?)", hint);
        else
            conf_error(ld->errs, ld->ptr, "unknown key");
        ptr_pop(ld, old);
    }
}

static void fill_key(struct loader *ld, const struct conf_key *k, json_t *v, void *base,
                     bool report_missing);

/* Fill every key of sec from obj (NULL: absent, all defaults). A value that is not an
 * object is reported and treated as absent, without "required key missing" noise. */
static void fill_section(struct loader *ld, const struct conf_section *sec, json_t *obj,
                         void *base, bool report_missing)
{
    const struct conf_key *k;
    char got[SHOW_MAX * 6 + 32];

    if (obj != NULL && !json_is_object(obj)) {
        describe(obj, true, got, sizeof got);
        conf_error(ld->errs, ld->ptr, "expected object, got %s", got);
        obj = NULL;
        report_missing = false;
    }
    for (k = sec->keys; k->name != NULL; k++) {
        if (k->flags & CONF_REMOVED) {
            if (obj != NULL && json_object_get(obj, k->name) != NULL) {
                size_t old = ptr_push(ld, k->name);
                conf_error(ld->errs, ld->ptr, "removed key: %s", k->help);
                ptr_pop(ld, old);
            }
            continue;
        }
        fill_key(ld, k, obj ? json_object_get(obj, k->name) : NULL, base, report_missing);
    }
    if (obj != NULL)
        check_unknown(ld, sec, obj);
}

/* Run the section's cross-field check, but only when filling it reported nothing (errors
 * counted from `before`): the callback can then trust every field. */
static void validate(struct loader *ld, const struct conf_section *sec, void *base, int before)
{
    if (sec->validate != NULL && ld->errs->count == before)
        sec->validate(base, ld->ptr, ld->errs);
}

static void fill_array(struct loader *ld, const struct conf_key *k, json_t *v,
                       struct conf_array *arr)
{
    char got[SHOW_MAX * 6 + 32];
    size_t i, old;
    int before;

    if (v == NULL)
        return;
    if (!json_is_array(v)) {
        describe(v, true, got, sizeof got);
        conf_error(ld->errs, ld->ptr, "expected array of objects, got %s", got);
        return;
    }
    arr->n = json_array_size(v);
    arr->items = arr->n ? xcalloc(arr->n, k->elem_size) : NULL;
    for (i = 0; i < arr->n; i++) {
        void *elem = (char *)arr->items + i * k->elem_size;
        old = ptr_push_index(ld, i);
        before = ld->errs->count;
        fill_section(ld, k->sub, json_array_get(v, i), elem, true);
        validate(ld, k->sub, elem, before);
        ptr_pop(ld, old);
    }
}

/* A new object: base's keys, then over's keys (which win). Either may be NULL. */
static json_t *merged(json_t *base, json_t *over)
{
    json_t *m = json_is_object(base) ? json_copy(base) : json_object();

    if (json_is_object(over))
        json_object_update(m, over);
    return m;
}

/* The object of the root key a map inherits from (def "@KEY"), when it was filled without
 * error; NULL otherwise. */
static json_t *inherited(const struct loader *ld, const struct conf_key *k)
{
    const struct conf_key *rk;
    size_t i;

    if (k->def == NULL || k->def[0] != '@' || ld->root_sec == NULL)
        return NULL;
    for (i = 0, rk = ld->root_sec->keys; rk->name != NULL; rk++, i++)
        if (strcmp(rk->name, k->def + 1) == 0)
            return i < 64 && (ld->bad_roots & (1ULL << i)) ? NULL
                                                            : json_object_get(ld->root, rk->name);
    return NULL;
}

/* The entries a map is filled from: its built-in entries (k->def) with the file's merged
 * over them by name, and every entry merged over the object it inherits from. A new
 * reference; NULL when there is nothing (or the file's value is not an object, which the
 * caller reports). */
static json_t *map_entries(const struct loader *ld, const struct conf_key *k, json_t *v)
{
    json_t *out, *item, *base = inherited(ld, k);
    const char *name;
    void *tmp;

    if (v != NULL && !json_is_object(v))
        return NULL;
    out = k->def && k->def[0] != '@' ? json_loads(k->def, 0, NULL) : json_object();
    if (out == NULL || !json_is_object(out)) {
        json_decref(out);
        out = json_object(); /* a bad built-in text is a table bug: caught by the tests */
    }
    json_object_foreach(v, name, item) {
        json_t *builtin = json_object_get(out, name);
        if (json_is_object(builtin) && json_is_object(item))
            json_object_set_new(out, name, merged(builtin, item));
        else
            json_object_set(out, name, item);
    }
    if (base != NULL) {
        json_object_foreach_safe(out, tmp, name, item) {
            if (json_is_object(item))
                json_object_set_new(out, name, merged(base, item));
        }
    }
    return out;
}

/* Each element's first member is `char *name`, set to the JSON key after the sub-table
 * is filled (so it wins over a "name" key the sub-table might declare). */
static void fill_map(struct loader *ld, const struct conf_key *k, json_t *file_v,
                     struct conf_array *arr)
{
    char got[SHOW_MAX * 6 + 32];
    const char *name;
    json_t *item, *v;
    size_t i = 0, old;
    int before;

    if (file_v == NULL && (k->def == NULL || k->def[0] == '@'))
        return;
    v = map_entries(ld, k, file_v);
    if (v == NULL) {
        describe(file_v, true, got, sizeof got);
        conf_error(ld->errs, ld->ptr, "expected object of named objects, got %s", got);
        return;
    }
    arr->n = json_object_size(v);
    arr->items = arr->n ? xcalloc(arr->n, k->elem_size) : NULL;
    json_object_foreach(v, name, item) {
        char **elem_name = (char **)((char *)arr->items + i++ * k->elem_size);
        old = ptr_push(ld, name);
        before = ld->errs->count;
        fill_section(ld, k->sub, item, elem_name, true);
        free(*elem_name);
        *elem_name = xstrdup(name);
        validate(ld, k->sub, elem_name, before);
        ptr_pop(ld, old);
    }
    json_decref(v);
}

/* The section and struct size the schema gives name; NULL for an unknown name. */
static const struct conf_section *named_find(const struct conf_named_schema *schema,
                                             const char *name, size_t *size)
{
    const struct conf_section *sec;
    const char *n;
    size_t i;

    for (i = 0; (n = schema->at(i, &sec, size)) != NULL; i++)
        if (strcmp(n, name) == 0)
            return sec;
    return NULL;
}

static void fill_named(struct loader *ld, const struct conf_key *k, json_t *v,
                       struct conf_array *arr)
{
    char got[SHOW_MAX * 6 + 32];
    struct conf_named *items;
    const char *name, *hint;
    json_t *item;
    size_t old, size;
    int before;

    if (v == NULL)
        return;
    if (!json_is_object(v)) {
        describe(v, true, got, sizeof got);
        conf_error(ld->errs, ld->ptr, "expected object of named objects, got %s", got);
        return;
    }
    items = json_object_size(v) ? xcalloc(json_object_size(v), sizeof *items) : NULL;
    arr->items = items;
    json_object_foreach(v, name, item) {
        const struct conf_section *sec = named_find(named_schema(k), name, &size);
        old = ptr_push(ld, name);
        if (sec == NULL) {
            hint = suggest_among(name, named_at, named_schema(k));
            if (hint != NULL)
                conf_error(ld->errs, ld->ptr, "unknown name (did you mean \"%s\"?)", hint);
            else
                conf_error(ld->errs, ld->ptr, "unknown name");
            ptr_pop(ld, old);
            continue;
        }
        items[arr->n].name = xstrdup(name);
        items[arr->n].sec = sec;
        items[arr->n].obj = xcalloc(1, size ? size : 1);
        before = ld->errs->count;
        fill_section(ld, sec, item, items[arr->n].obj, true);
        validate(ld, sec, items[arr->n].obj, before);
        arr->n++;
        ptr_pop(ld, old);
    }
}

static void fill_key(struct loader *ld, const struct conf_key *k, json_t *v, void *base,
                     bool report_missing)
{
    size_t old = ptr_push(ld, k->name);
    int before = ld->errs->count;

    if (v == NULL && report_missing && (k->flags & CONF_REQUIRED))
        conf_error(ld->errs, ld->ptr, "required key missing");
    switch (k->type) {
    case CONF_SECTION:
        fill_section(ld, k->sub, v, FIELD(base, k), report_missing);
        validate(ld, k->sub, FIELD(base, k), before);
        break;
    case CONF_ARRAY:   fill_array(ld, k, v, FIELD(base, k)); break;
    case CONF_MAP:     fill_map(ld, k, v, FIELD(base, k)); break;
    case CONF_NAMED:   fill_named(ld, k, v, FIELD(base, k)); break;
    case CONF_STRLIST: fill_strlist(ld, k, v, FIELD(base, k)); break;
    default:           fill_scalar(ld, k, v, FIELD(base, k)); break;
    }
    /* remember which root keys had errors (an inheriting map then ignores them) */
    if (old == 0 && ld->errs->count != before && ld->root_sec != NULL &&
        k >= ld->root_sec->keys && k - ld->root_sec->keys < 64)
        ld->bad_roots |= 1ULL << (k - ld->root_sec->keys);
    ptr_pop(ld, old);
}

/* ---- loading ------------------------------------------------------------------------- */

/* Replace whole-line // and # comments by spaces, keeping every newline, so that jansson's
 * line and column numbers still point into the original text. s[len] must be '\0'. */
static void blank_comments(char *s, size_t len)
{
    size_t i = 0, j;
    bool comment;

    while (i < len) {
        j = i + strspn(s + i, " \t");
        comment = (j < len && s[j] == '#') || (j + 1 < len && s[j] == '/' && s[j + 1] == '/');
        for (; j < len && s[j] != '\n'; j++)
            if (comment)
                s[j] = ' ';
        i = j + 1;
    }
}

/* Parse text (modified: comments blanked; NUL-terminated at len) and fill out. */
static int load_text(char *text, size_t len, const struct conf_section *root, void *out,
                     struct conf_errors *errs)
{
    struct loader ld = { .errs = errs, .root_sec = root };
    int before = errs->count;
    char got[SHOW_MAX * 6 + 32];
    json_error_t jerr;
    json_t *doc;

    blank_comments(text, len);
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL) {
        syntax_error(errs, &jerr);
        return -1;
    }
    if (!json_is_object(doc)) {
        describe(doc, true, got, sizeof got);
        conf_error(errs, NULL, "the top level must be an object, got %s", got);
    } else {
        ld.root = doc;
        fill_section(&ld, root, doc, out, true);
        validate(&ld, root, out, before);
    }
    json_decref(doc);
    return errs->count == before ? 0 : -1;
}

int conf_load_buffer(const char *name, const char *text, size_t len,
                     const struct conf_section *root, void *out, struct conf_errors *errs)
{
    char *copy = xmalloc(len + 1);
    int rc;

    memcpy(copy, text, len);
    copy[len] = '\0';
    errs->file = name;
    rc = load_text(copy, len, root, out, errs);
    free(copy);
    return rc;
}

/* The whole of f, NUL-terminated, or NULL with errno set on a read error. */
static char *read_whole(FILE *f, size_t *len)
{
    size_t cap = 8192;
    char *text = xmalloc(cap);

    *len = 0;
    for (;;) {
        *len += fread(text + *len, 1, cap - *len - 1, f);
        if (*len < cap - 1)
            break;
        cap *= 2;
        text = xrealloc(text, cap);
    }
    if (ferror(f)) {
        int e = errno;
        free(text);
        errno = e;
        return NULL;
    }
    text[*len] = '\0';
    return text;
}

int conf_load_file(const char *path, const struct conf_section *root, void *out,
                   struct conf_errors *errs)
{
    size_t len;
    char *text;
    FILE *f;
    int rc;

    errs->file = path;
    f = fopen(path, "rb");
    if (f == NULL) {
        conf_error(errs, NULL, "cannot open: %s", strerror(errno));
        return -1;
    }
    text = read_whole(f, &len);
    if (text == NULL)
        conf_error(errs, NULL, "cannot read: %s", strerror(errno));
    fclose(f);
    if (text == NULL)
        return -1;
    /* relative paths in the file are relative to the file's own directory, wherever the
     * daemon or posternctl is started from */
    const char *saved = load_base;
    char *dir = NULL, *slash;
    load_base = NULL;
    if ((dir = conf_path_absolute(path)) != NULL && (slash = strrchr(dir, '/')) != NULL)
        *(slash == dir ? slash + 1 : slash) = '\0';
    load_base = dir;
    rc = load_text(text, len, root, out, errs);
    load_base = saved;
    free(dir);
    free(text);
    return rc;
}

/* ---- freeing ------------------------------------------------------------------------- */

static void free_array(const struct conf_key *k, struct conf_array *arr)
{
    size_t i;

    for (i = 0; i < arr->n && arr->items != NULL; i++) {
        void *elem = (char *)arr->items + i * k->elem_size;
        conf_free(k->sub, elem);
        if (k->type == CONF_MAP) {
            free(*(char **)elem);
            *(char **)elem = NULL;
        }
    }
    free(arr->items);
    arr->items = NULL;
    arr->n = 0;
}

static void free_named(struct conf_array *arr)
{
    struct conf_named *items = arr->items;
    size_t i;

    for (i = 0; i < arr->n && items != NULL; i++) {
        conf_free(items[i].sec, items[i].obj);
        free(items[i].obj);
        free(items[i].name);
    }
    free(arr->items);
    arr->items = NULL;
    arr->n = 0;
}

static void free_strlist(struct conf_strlist *l)
{
    size_t i;

    for (i = 0; i < l->n && l->v != NULL; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void conf_free(const struct conf_section *root, void *obj)
{
    const struct conf_key *k;

    for (k = root->keys; k->name != NULL; k++) {
        if (k->flags & CONF_REMOVED)
            continue;
        switch (k->type) {
        case CONF_STRING:
        case CONF_PATH:
            free(*(char **)FIELD(obj, k));
            *(char **)FIELD(obj, k) = NULL;
            break;
        case CONF_STRLIST: free_strlist(FIELD(obj, k)); break;
        case CONF_SECTION: conf_free(k->sub, FIELD(obj, k)); break;
        case CONF_ARRAY:
        case CONF_MAP:     free_array(k, FIELD(obj, k)); break;
        case CONF_NAMED:   free_named(FIELD(obj, k)); break;
        default:           break;
        }
    }
}
