/*
 * header_edit.c - edits of a message's header section (see header_edit.h).
 *
 * The section is walked line by line: a field is a line that does not start with SP or
 * HT plus the continuation lines after it (RFC 5322 2.2.3). Edits rebuild the buffer in
 * place; headers are small (bounded by the spool's header limits), so no cleverness.
 */
#include "lib/header_edit.h"

#include "lib/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The end of the line starting at p (after its LF, or end). */
static size_t line_end(const char *s, size_t len, size_t p)
{
    const char *nl = memchr(s + p, '\n', len - p);
    return nl ? (size_t)(nl - s) + 1 : len;
}

void hdr_split(const char *msg, size_t len, size_t *fields_len, size_t *body_off)
{
    size_t p = 0;

    while (p < len) {
        size_t e = line_end(msg, len, p);
        if ((e - p == 2 && msg[p] == '\r' && msg[p + 1] == '\n') ||
            (e - p == 1 && msg[p] == '\n')) {
            *fields_len = p;
            *body_off = e;
            return;
        }
        p = e;
    }
    *fields_len = *body_off = len;
}

static void reserve(struct hdr_edit *h, size_t more)
{
    if (h->len + more + 1 > h->cap) {
        h->cap = (h->len + more + 1) * 2;
        h->p = xrealloc(h->p, h->cap);
    }
}

/* Insert s[0..n) at position at, then CRLF when crlf is set. */
static void insert(struct hdr_edit *h, size_t at, const char *s, size_t n, bool crlf)
{
    size_t add = n + (crlf ? 2 : 0);
    reserve(h, add);
    memmove(h->p + at + add, h->p + at, h->len - at);
    memcpy(h->p + at, s, n);
    if (crlf)
        memcpy(h->p + at + n, "\r\n", 2);
    h->len += add;
    h->p[h->len] = '\0';
}

void hdr_init(struct hdr_edit *h, const char *fields, size_t len)
{
    h->cap = len + 3;
    h->p = xmalloc(h->cap);
    memcpy(h->p, fields, len);
    h->len = len;
    if (len > 0 && fields[len - 1] != '\n') {
        memcpy(h->p + len, "\r\n", 2);
        h->len += 2;
    }
    h->p[h->len] = '\0';
}

void hdr_free(struct hdr_edit *h)
{
    free(h->p);
    memset(h, 0, sizeof(*h));
}

void hdr_prepend(struct hdr_edit *h, const char *fields)
{
    size_t n = strlen(fields);
    insert(h, 0, fields, n, n > 0 && fields[n - 1] != '\n');
}

void hdr_append(struct hdr_edit *h, const char *fields)
{
    size_t n = strlen(fields);
    insert(h, h->len, fields, n, n > 0 && fields[n - 1] != '\n');
}

/* The field starting at p: its end (after its last continuation line) and name length
 * (0 when the line is not a field: no colon, or a space or control byte in the name). */
static size_t field_at(const char *s, size_t len, size_t p, size_t *nlen)
{
    size_t e = line_end(s, len, p), i;

    *nlen = 0;
    for (i = p; i < e && s[i] != ':'; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == 0x7f)
            break;
    if (i < e && s[i] == ':' && i > p)
        *nlen = i - p;
    while (e < len && (s[e] == ' ' || s[e] == '\t'))
        e = line_end(s, len, e);
    return e;
}

void hdr_insert_after_first(struct hdr_edit *h, const char *name, const char *fields)
{
    size_t nlen, e, n = strlen(fields), want = strlen(name);

    if (h->len == 0 || h->p[0] == ' ' || h->p[0] == '\t') {
        hdr_prepend(h, fields);
        return;
    }
    e = field_at(h->p, h->len, 0, &nlen);
    if (nlen != want || strncasecmp(h->p, name, nlen) != 0) {
        hdr_prepend(h, fields);
        return;
    }
    insert(h, e, fields, n, n > 0 && fields[n - 1] != '\n');
}

size_t hdr_remove_if(struct hdr_edit *h, hdr_pred_fn pred, void *arg)
{
    size_t p = 0, count = 0;

    while (p < h->len) {
        size_t nlen, e;
        if (h->p[p] == ' ' || h->p[p] == '\t') { /* continuation before any field */
            p = line_end(h->p, h->len, p);
            continue;
        }
        e = field_at(h->p, h->len, p, &nlen);
        if (nlen > 0 && pred(h->p + p, nlen, h->p + p, e - p, arg)) {
            memmove(h->p + p, h->p + e, h->len - e);
            h->len -= e - p;
            h->p[h->len] = '\0';
            count++;
            continue;
        }
        p = e;
    }
    return count;
}

static bool by_name(const char *name, size_t nlen, const char *field, size_t flen, void *arg)
{
    const char *want = arg;
    (void)field;
    (void)flen;
    return strlen(want) == nlen && strncasecmp(name, want, nlen) == 0;
}

static bool by_prefix(const char *name, size_t nlen, const char *field, size_t flen, void *arg)
{
    const char *want = arg;
    size_t n = strlen(want);
    (void)field;
    (void)flen;
    return nlen >= n && strncasecmp(name, want, n) == 0;
}

size_t hdr_remove_name(struct hdr_edit *h, const char *name)
{
    return hdr_remove_if(h, by_name, (void *)name);
}

size_t hdr_remove_prefix(struct hdr_edit *h, const char *prefix)
{
    return hdr_remove_if(h, by_prefix, (void *)prefix);
}

bool hdr_subject_prefix(struct hdr_edit *h, const char *prefix)
{
    size_t plen = strlen(prefix), trimmed = plen, p = 0;

    while (trimmed > 0 && (prefix[trimmed - 1] == ' ' || prefix[trimmed - 1] == '\t'))
        trimmed--;
    if (trimmed == 0)
        return false;
    while (p < h->len) {
        size_t nlen, e, v;
        if (h->p[p] == ' ' || h->p[p] == '\t') {
            p = line_end(h->p, h->len, p);
            continue;
        }
        e = field_at(h->p, h->len, p, &nlen);
        if (nlen == 7 && strncasecmp(h->p + p, "Subject", 7) == 0) {
            /* the value, past the colon and white space (also folding white space) */
            v = p + nlen + 1;
            while (v < e && (h->p[v] == ' ' || h->p[v] == '\t' || h->p[v] == '\r' ||
                             h->p[v] == '\n'))
                v++;
            if (e - v >= trimmed && memcmp(h->p + v, prefix, trimmed) == 0)
                return false;
            if (v == e) { /* an empty Subject: the value goes before its line end */
                v = p + nlen + 1;
                while (v < e && h->p[v] != '\r' && h->p[v] != '\n')
                    v++;
                insert(h, v, " ", 1, false);
                insert(h, v + 1, prefix, trimmed, false);
                return true;
            }
            insert(h, v, prefix, trimmed, false);
            insert(h, v + trimmed, " ", 1, false);
            return true;
        }
        p = e;
    }
    insert(h, h->len, "Subject: ", 9, false);
    insert(h, h->len, prefix, trimmed, true);
    return true;
}
