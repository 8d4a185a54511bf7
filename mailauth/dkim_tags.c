/*
 * dkim_tags.c - the tag=value list parser of RFC 6376 section 3.2 (see dkim_tags.h).
 * Called by the DKIM-Signature parser and the key-record parser; pure.
 */
#include "mailauth/dkim_tags.h"

#include <ctype.h>
#include <string.h>

#define VALCHAR_MIN 0x21
#define VALCHAR_MAX 0x7e
#define HIGH_BYTE 0x80

static bool valchar(unsigned char c)
{
    return (c >= VALCHAR_MIN && c <= VALCHAR_MAX && c != ';') || c >= HIGH_BYTE;
}

static size_t skip_fws(const char *s, size_t i, size_t len)
{
    while (i < len && dkim_is_fws((unsigned char)s[i]))
        i++;
    return i;
}

/* One tag-spec starting at *pos; *pos ends on the ";" or at len. 0: a tag was read,
 * 1: the spec was empty, -1: syntax error. */
static int parse_spec(const char *s, size_t len, size_t *pos, struct dkim_tag *t)
{
    size_t i = skip_fws(s, *pos, len), v, end;

    if (i == len || s[i] == ';') {
        *pos = i;
        return 1;
    }
    if (!isalpha((unsigned char)s[i]))
        return -1;
    t->name = s + i;
    while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '_'))
        i++;
    t->name_len = (size_t)(s + i - t->name);
    if (t->name_len > DKIM_TAG_NAME_MAX)
        return -1;
    i = skip_fws(s, i, len);
    if (i == len || s[i] != '=')
        return -1;
    t->raw_start = ++i;
    for (end = i; end < len && s[end] != ';'; end++)
        if (!valchar((unsigned char)s[end]) && !dkim_is_fws((unsigned char)s[end]))
            return -1;
    t->raw_end = end;
    v = skip_fws(s, i, end);
    while (end > v && dkim_is_fws((unsigned char)s[end - 1]))
        end--;
    t->value = s + v;
    t->value_len = end - v;
    *pos = t->raw_end;
    return 0;
}

enum dkim_tags_status dkim_tags_parse(const char *text, size_t len, struct dkim_tags *out)
{
    size_t pos = 0, j;

    out->n = 0;
    for (;;) {
        struct dkim_tag t;
        int r = parse_spec(text, len, &pos, &t);
        if (r < 0)
            return DKIM_TAGS_SYNTAX;
        if (r == 0) {
            for (j = 0; j < out->n; j++)
                if (out->tag[j].name_len == t.name_len &&
                    memcmp(out->tag[j].name, t.name, t.name_len) == 0)
                    return DKIM_TAGS_DUPLICATE;
            if (out->n == DKIM_TAGS_MAX)
                return DKIM_TAGS_TOO_MANY;
            out->tag[out->n++] = t;
        }
        if (pos >= len)
            return DKIM_TAGS_OK;
        pos++; /* past ";" */
    }
}

const struct dkim_tag *dkim_tags_find(const struct dkim_tags *tags, const char *name)
{
    size_t n = strlen(name), i;

    for (i = 0; i < tags->n; i++)
        if (tags->tag[i].name_len == n && memcmp(tags->tag[i].name, name, n) == 0)
            return &tags->tag[i];
    return NULL;
}

bool dkim_tag_is(const struct dkim_tag *t, const char *s)
{
    return t->value_len == strlen(s) && memcmp(t->value, s, t->value_len) == 0;
}

long dkim_tag_compact(const struct dkim_tag *t, char *out, size_t out_size)
{
    size_t i, n = 0;

    for (i = 0; i < t->value_len; i++) {
        if (dkim_is_fws((unsigned char)t->value[i]))
            continue;
        if (n + 1 >= out_size)
            return -1;
        out[n++] = t->value[i];
    }
    if (out_size == 0)
        return -1;
    out[n] = '\0';
    return (long)n;
}
