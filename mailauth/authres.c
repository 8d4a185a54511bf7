/*
 * authres.c - Authentication-Results: our field, and the forged copies of it (see
 * authres.h).
 */
#include "mailauth/authres.h"

#include "lib/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- building -------------------------------------------------------------------------- */

/* RFC 2045 token: CHAR except SPACE, CTLs and tspecials. */
static bool is_token_char(unsigned char c)
{
    return c > ' ' && c < 0x7F && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!is_token_char((unsigned char)*s))
            return false;
    return true;
}

struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

/* The id as a token, or a quoted-string with only printable characters kept. */
static void put_id(struct sbuf *b, const char *id)
{
    size_t i;

    if (is_token(id)) {
        sb_puts(b, id);
        return;
    }
    sb_put(b, "\"", 1);
    for (i = 0; id[i] != '\0' && i < AUTHRES_ID_MAX; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c < ' ' || c == 0x7F)
            continue;
        if (c == '"' || c == '\\')
            sb_put(b, "\\", 1);
        sb_put(b, &id[i], 1);
    }
    sb_put(b, "\"", 1);
}

/* A clause with any CR, LF or other control character made a space. */
static void put_clause(struct sbuf *b, const char *c)
{
    for (; *c; c++) {
        unsigned char ch = (unsigned char)*c;
        sb_put(b, ch < ' ' || ch == 0x7F ? " " : c, 1);
    }
}

static char *build(const char *id, const char *const *clauses, size_t n, const char *prefix,
                   const char *sep)
{
    struct sbuf b = { 0 };
    size_t i, used = 0;

    sb_puts(&b, prefix);
    put_id(&b, id ? id : "");
    for (i = 0; i < n; i++) {
        if (clauses[i] == NULL || clauses[i][0] == '\0')
            continue;
        sb_puts(&b, sep);
        put_clause(&b, clauses[i]);
        used++;
    }
    if (used == 0) {
        sb_puts(&b, sep);
        sb_puts(&b, "none");
    }
    return b.p;
}

char *authres_header(const char *authserv_id, const char *const *clauses, size_t n)
{
    return build(authserv_id, clauses, n, "", "; ");
}

char *authres_field(const char *authserv_id, const char *const *clauses, size_t n)
{
    return build(authserv_id, clauses, n, AUTHRES_FIELD ": ", ";\r\n\t");
}

/* ---- parsing the authserv-id ---------------------------------------------------------- */

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skip CFWS from i; returns the index after it, or len + 1 for an unclosed comment. */
static size_t skip_cfws(const char *v, size_t len, size_t i)
{
    unsigned depth = 0;

    while (i < len) {
        char c = v[i];
        if (depth > 0) {
            if (c == '\\')
                i++;
            else if (c == '(')
                depth++;
            else if (c == ')')
                depth--;
            i++;
        } else if (c == '(') {
            depth = 1;
            i++;
        } else if (is_wsp(c)) {
            i++;
        } else {
            break;
        }
    }
    return depth > 0 ? len + 1 : i;
}

int authres_parse_id(const char *value, size_t len, char *out, size_t out_size,
                     unsigned *version)
{
    size_t i = skip_cfws(value, len, 0), n = 0;

    if (out_size == 0 || i >= len)
        return -1;
    if (value[i] == '"') {
        for (i++; i < len && value[i] != '"'; i++) {
            char c = value[i];
            if (c == '\\' && i + 1 < len)
                c = value[++i];
            else if (c == '\r' || c == '\n')
                continue;             /* folding inside the quoted-string */
            if (c == '\0')
                return -1;            /* an id no string comparison could see */
            if (n + 1 >= out_size)
                return -1;
            out[n++] = c;
        }
        if (i >= len)
            return -1;
        i++;
    } else {
        for (; i < len && is_token_char((unsigned char)value[i]); i++) {
            if (n + 1 >= out_size)
                return -1;
            out[n++] = value[i];
        }
    }
    if (n == 0)
        return -1;
    out[n] = '\0';
    if (version != NULL) {
        unsigned v = 0;
        size_t j = skip_cfws(value, len, i), k = j;
        while (k < len && value[k] >= '0' && value[k] <= '9' && v < 100000)
            v = v * 10 + (unsigned)(value[k++] - '0');
        *version = k > j && k > i ? v : 1;
    }
    return 0;
}

bool authres_id_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la > 0 && a[la - 1] == '.')
        la--;
    if (lb > 0 && b[lb - 1] == '.')
        lb--;
    return la == lb && la > 0 && strncasecmp(a, b, la) == 0;
}

/* ---- scanning a header block ----------------------------------------------------------- */

/* The end of the line starting at i: the index after its LF (or len). */
static size_t line_end(const char *h, size_t len, size_t i)
{
    const char *nl = memchr(h + i, '\n', len - i);
    return nl ? (size_t)(nl - h) + 1 : len;
}

/* If the field at h[start..end) is Authentication-Results, the offset of its value. */
static bool is_authres(const char *h, size_t start, size_t end, size_t *value)
{
    size_t n = strlen(AUTHRES_FIELD), i = start + n;

    if (end - start < n + 1 || strncasecmp(h + start, AUTHRES_FIELD, n) != 0)
        return false;
    while (i < end && (h[i] == ' ' || h[i] == '\t'))
        i++;
    if (i >= end || h[i] != ':')
        return false;
    *value = i + 1;
    return true;
}

size_t authres_find_forged(const char *head, size_t len, const char *authserv_id,
                           struct authres_span *out, size_t max)
{
    size_t i = 0, found = 0;
    char id[AUTHRES_ID_MAX + 1];

    while (i < len) {
        size_t start = i, end = line_end(head, len, i), value;
        if (end - start <= 2 && (head[start] == '\n' || head[start] == '\r'))
            break;                                      /* the empty line: header ends */
        while (end < len && (head[end] == ' ' || head[end] == '\t'))
            end = line_end(head, len, end);             /* continuation lines */
        if (is_authres(head, start, end, &value) &&
            authres_parse_id(head + value, end - value, id, sizeof(id), NULL) == 0 &&
            authres_id_equal(id, authserv_id)) {
            if (found < max) {
                out[found].start = start;
                out[found].len = end - start;
            }
            found++;
        }
        i = end;
    }
    return found;
}

size_t authres_strip_forged(char *head, size_t len, const char *authserv_id)
{
    struct authres_span s[16];
    size_t n;

    /* Remove at most 16 per pass, until none is left: each pass only shortens head. */
    while ((n = authres_find_forged(head, len, authserv_id, s, 16)) > 0) {
        size_t k = n < 16 ? n : 16;
        while (k-- > 0) {
            memmove(head + s[k].start, head + s[k].start + s[k].len,
                    len - s[k].start - s[k].len);
            len -= s[k].len;
        }
    }
    return len;
}
