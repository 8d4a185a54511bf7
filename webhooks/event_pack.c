/*
 * event_pack.c - event data from strings nobody checked: the one place where strings are
 * made valid UTF-8 for events (see event.h, "event data").
 *
 * jansson's json_pack() refuses a string that is not valid UTF-8 by failing the whole
 * object, so one HELO name with a stray byte turned an alert into "{}". wh_pack() takes
 * the same formats (the subset events use) and replaces each bad byte with U+FFFD
 * instead. Pure: no I/O, no globals; any thread.
 */
#include "webhooks/event.h"

#include "lib/utf8.h"
#include "lib/xalloc.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#define REPLACEMENT "\xef\xbf\xbd"          /* U+FFFD in UTF-8 */
#define REPLACEMENT_LEN 3
#define PACK_DEPTH_MAX 8                    /* nesting of {} and [] in a format */

char *wh_utf8_sanitize(const char *s, size_t len, size_t *out_len)
{
    const unsigned char *p = (const unsigned char *)s;
    char *out = xmalloc(len * REPLACEMENT_LEN + 1);
    size_t i = 0, o = 0;

    while (i < len) {
        size_t n = utf8_seq_len(p + i, len - i);
        if (n == 0 || (n == 1 && p[i] == '\0')) {
            memcpy(out + o, REPLACEMENT, REPLACEMENT_LEN);  /* NUL too: C strings end there */
            o += REPLACEMENT_LEN;
            i++;
            continue;
        }
        memcpy(out + o, p + i, n);
        o += n;
        i += n;
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return out;
}

json_t *wh_json_string(const char *s)
{
    size_t len;
    char *clean;
    json_t *j;

    if (s == NULL)
        return NULL;
    clean = wh_utf8_sanitize(s, strlen(s), &len);
    j = json_stringn_nocheck(clean, len);
    free(clean);
    return j;
}

/* ---- wh_pack ---- */

struct pack {
    const char *f;                          /* the next format character */
    va_list ap;
    bool error;
};

static void skip_separators(struct pack *pk)
{
    while (*pk->f == ' ' || *pk->f == '\t' || *pk->f == '\n' || *pk->f == ',' ||
           *pk->f == ':')
        pk->f++;
}

/* The modifier after s, o or O: '*' or '?' (consumed), else 0. */
static char modifier(struct pack *pk)
{
    char m = *pk->f;
    if (m == '*' || m == '?') {
        pk->f++;
        return m;
    }
    return 0;
}

static json_t *pack_value(struct pack *pk, int depth, bool *omit);

static json_t *pack_object(struct pack *pk, int depth)
{
    json_t *o = json_object();

    for (;;) {
        const char *key;
        char *clean;
        json_t *v;
        bool omit = false;

        skip_separators(pk);
        if (*pk->f == '}') {
            pk->f++;
            return o;
        }
        if (*pk->f != 's') {                /* keys are strings; also the end of fmt */
            pk->error = true;
            return o;
        }
        pk->f++;
        key = va_arg(pk->ap, const char *);
        skip_separators(pk);
        v = pack_value(pk, depth, &omit);
        if (pk->error || key == NULL) {
            pk->error = true;
            json_decref(v);
            return o;
        }
        if (!omit) {
            clean = wh_utf8_sanitize(key, strlen(key), NULL);
            json_object_set_new_nocheck(o, clean, v);
            free(clean);
        }
    }
}

static json_t *pack_array(struct pack *pk, int depth)
{
    json_t *a = json_array();

    for (;;) {
        json_t *v;
        bool omit = false;

        skip_separators(pk);
        if (*pk->f == ']') {
            pk->f++;
            return a;
        }
        v = pack_value(pk, depth, &omit);
        if (pk->error)
            return a;
        if (!omit)
            json_array_append_new(a, v);
    }
}

/* One value; *omit is set when it is left out (a NULL string or object, unless '?'). */
static json_t *pack_value(struct pack *pk, int depth, bool *omit)
{
    char c = *pk->f, m;
    json_t *v = NULL;

    if (c == '\0') {
        pk->error = true;
        return NULL;
    }
    pk->f++;
    switch (c) {
    case '{':
    case '[':
        if (depth >= PACK_DEPTH_MAX) {
            pk->error = true;
            return NULL;
        }
        return c == '{' ? pack_object(pk, depth + 1) : pack_array(pk, depth + 1);
    case 's': {
        const char *s = va_arg(pk->ap, const char *);
        m = modifier(pk);
        if (s == NULL) {
            *omit = m != '?';
            return m == '?' ? json_null() : NULL;
        }
        return wh_json_string(s);
    }
    case 'o':
    case 'O':
        v = va_arg(pk->ap, json_t *);
        m = modifier(pk);
        if (v == NULL) {
            *omit = m != '?';
            return m == '?' ? json_null() : NULL;
        }
        return c == 'O' ? json_incref(v) : v;
    case 'i':
        return json_integer(va_arg(pk->ap, int));
    case 'I':
        return json_integer(va_arg(pk->ap, json_int_t));
    case 'b':
        return json_boolean(va_arg(pk->ap, int));
    case 'f':
        return json_real(va_arg(pk->ap, double));
    case 'n':
        return json_null();
    default:
        pk->error = true;
        return NULL;
    }
}

json_t *wh_pack(const char *fmt, ...)
{
    struct pack pk = { .f = fmt, .error = false };
    bool omit = false;
    json_t *v;

    va_start(pk.ap, fmt);
    skip_separators(&pk);
    v = pack_value(&pk, 0, &omit);
    skip_separators(&pk);
    va_end(pk.ap);
    if (pk.error || *pk.f != '\0' || omit) {
        json_decref(v);
        return NULL;
    }
    return v;
}
