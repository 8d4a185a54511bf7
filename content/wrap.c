/*
 * wrap.c - the wrapped warning message (see wrap.h).
 *
 * The original is walked as raw MIME: each entity is its header and body; multiparts are
 * cut at their delimiter lines ("--BOUNDARY", RFC 2046 5.1.1: the CRLF before a
 * delimiter belongs to it), message/rfc822 bodies are entities again. Everything that is
 * not replaced is copied byte for byte.
 */
#include "content/wrap.h"

#include "lib/header_edit.h"
#include "lib/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct out {
    char *p;
    size_t len, cap;
    unsigned removed;
    bool virus;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        o->cap = (o->len + n + 1) * 2;
        o->p = xrealloc(o->p, o->cap);
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Printable ASCII copy of s[0..n) into buf (size len), others as '?'. */
static void clean(char *buf, size_t len, const char *s, size_t n)
{
    size_t i, k = 0;
    for (i = 0; i < n && k + 1 < len; i++)
        buf[k++] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
    buf[k] = '\0';
}

/* The unfolded value of the first field called name in h[0..n), into buf; false if none. */
static bool field_value(const char *h, size_t n, const char *name, char *buf, size_t len)
{
    size_t nl = strlen(name), p = 0, k = 0;

    while (p < n) {
        const char *e = memchr(h + p, '\n', n - p);
        size_t end = e ? (size_t)(e - h) + 1 : n;
        if (end - p > nl && h[p + nl] == ':' && strncasecmp(h + p, name, nl) == 0) {
            size_t v = p + nl + 1;
            for (;;) {
                for (; v < end && k + 1 < len; v++)
                    if (h[v] != '\r' && h[v] != '\n')
                        buf[k++] = h[v] == '\t' ? ' ' : h[v];
                if (end >= n || (h[end] != ' ' && h[end] != '\t'))
                    break;
                v = end;
                e = memchr(h + v, '\n', n - v);
                end = e ? (size_t)(e - h) + 1 : n;
            }
            buf[k] = '\0';
            return true;
        }
        p = end;
    }
    buf[0] = '\0';
    return false;
}

/* The value of parameter name (case-insensitive, quoted or token) in a field value. */
static bool param(const char *v, const char *name, char *buf, size_t len)
{
    size_t nl = strlen(name);
    const char *p = v;

    while ((p = strchr(p, ';')) != NULL) {
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncasecmp(p, name, nl) == 0 && (p[nl] == '=' || p[nl] == '*')) {
            const char *s = p + nl, *e;
            size_t k = 0;
            while (*s == '*' || (*s >= '0' && *s <= '9')) /* RFC 2231 name*0*= */
                s++;
            if (*s++ != '=')
                continue;
            if (*s == '"') {
                e = strchr(++s, '"');
                if (e == NULL)
                    e = s + strlen(s);
            } else {
                e = s + strcspn(s, "; \t");
            }
            for (; s < e && k + 1 < len; s++)
                buf[k++] = *s;
            buf[k] = '\0';
            return k > 0;
        }
    }
    return false;
}

static void entity(struct out *o, const char *s, size_t n, unsigned depth);

/* Replace the entity: its non-Content-* fields, then a text/plain notice. */
static void removed_part(struct out *o, const char *h, size_t hlen, const char *type,
                         const char *name)
{
    struct hdr_edit e;
    char note[600];

    hdr_init(&e, h, hlen);
    hdr_remove_prefix(&e, "Content-");
    put(o, e.p, e.len);
    hdr_free(&e);
    snprintf(note, sizeof(note),
             "Content-Type: text/plain; charset=us-ascii\r\n"
             "Content-Disposition: inline\r\n\r\n"
             "[Postern removed this part: %s (%s)]\r\n", name[0] ? name : "no name", type);
    puts_(o, note);
    o->removed++;
}

static bool line_is_delim(const char *l, size_t n, const char *b, size_t bl, bool *close)
{
    size_t i;
    if (n < bl + 2 || l[0] != '-' || l[1] != '-' || memcmp(l + 2, b, bl) != 0)
        return false;
    i = bl + 2;
    *close = n >= i + 2 && l[i] == '-' && l[i + 1] == '-';
    if (*close)
        i += 2;
    while (i < n && (l[i] == ' ' || l[i] == '\t' || l[i] == '\r' || l[i] == '\n'))
        i++;
    return i == n;
}

static void multipart(struct out *o, const char *s, size_t n, const char *b, unsigned depth)
{
    size_t bl = strlen(b), p = 0, part = 0;
    bool in_part = false, close = false;

    while (p < n) {
        const char *e = memchr(s + p, '\n', n - p);
        size_t end = e ? (size_t)(e - s) + 1 : n;
        if (!close && line_is_delim(s + p, end - p, b, bl, &close)) {
            if (in_part) {
                size_t cend = p >= part + 2 && s[p - 2] == '\r' && s[p - 1] == '\n' ? p - 2
                              : p >= part + 1 && s[p - 1] == '\n' ? p - 1 : p;
                entity(o, s + part, cend - part, depth + 1);
                put(o, s + cend, end - cend);
            } else {
                put(o, s, end); /* preamble and the first delimiter */
            }
            in_part = !close;
            part = end;
        } else if (!in_part && part == 0 && !close) {
            /* still in the preamble: copied with the first delimiter */
        } else if (!in_part) {
            put(o, s + p, end - p); /* epilogue */
        }
        p = end;
    }
    if (in_part) /* no closing delimiter: the last part runs to the end */
        entity(o, s + part, n - part, depth + 1);
    else if (part == 0 && !close)
        put(o, s, n); /* no delimiter at all: caught by the caller */
}

static bool has_delim(const char *s, size_t n, const char *b)
{
    size_t bl = strlen(b), p = 0;
    bool close;
    while (p < n) {
        const char *e = memchr(s + p, '\n', n - p);
        size_t end = e ? (size_t)(e - s) + 1 : n;
        if (line_is_delim(s + p, end - p, b, bl, &close))
            return true;
        p = end;
    }
    return false;
}

static void entity(struct out *o, const char *s, size_t n, unsigned depth)
{
    size_t flen, body;
    char ct[1024], type[128], name[256], cd[1024], raw[256];
    bool text, named;

    hdr_split(s, n, &flen, &body);
    if (!field_value(s, flen, "Content-Type", ct, sizeof(ct)))
        snprintf(ct, sizeof(ct), "text/plain");
    {
        size_t k = strcspn(ct, "; \t");
        size_t i;
        const char *t = ct + strspn(ct, " \t");
        k = strcspn(t, "; \t");
        clean(type, sizeof(type), t, k);
        for (i = 0; type[i]; i++)
            if (type[i] >= 'A' && type[i] <= 'Z')
                type[i] = (char)(type[i] - 'A' + 'a');
        if (type[0] == '\0')
            snprintf(type, sizeof(type), "text/plain");
    }
    field_value(s, flen, "Content-Disposition", cd, sizeof(cd));
    named = param(cd, "filename", raw, sizeof(raw)) || param(ct, "name", raw, sizeof(raw));
    clean(name, sizeof(name), named ? raw : "", named ? strlen(raw) : 0);

    if (strncmp(type, "multipart/", 10) == 0) {
        char b[200];
        if (depth < WRAP_DEPTH_MAX && param(ct, "boundary", b, sizeof(b)) &&
            has_delim(s + body, n - body, b)) {
            put(o, s, body);
            multipart(o, s + body, n - body, b, depth);
            return;
        }
        removed_part(o, s, flen, type, name);
        return;
    }
    if (strcmp(type, "message/rfc822") == 0 && depth < WRAP_DEPTH_MAX) {
        put(o, s, body);
        entity(o, s + body, n - body, depth + 1);
        return;
    }
    text = (strcmp(type, "text/plain") == 0 || strcmp(type, "text/html") == 0) && !named;
    if (text && !o->virus) {
        put(o, s, n);
        return;
    }
    removed_part(o, s, flen, type, name);
}

char *wrap_message(const char *msg, size_t len, const struct wrap_params *p, size_t *out_len,
                   unsigned *removed)
{
    struct out inner = { 0 }, o = { 0 };
    struct hdr_edit subj;
    char reason[300], boundary[80], buf[1200], date[64];
    size_t flen, body;
    time_t t = (time_t)p->date;
    struct tm tm;
    unsigned n = 0;

    inner.virus = p->virus;
    entity(&inner, msg, len, 0);
    clean(reason, sizeof(reason), p->reason ? p->reason : "dangerous content",
          p->reason ? strlen(p->reason) : 17);
    /* a boundary that does not occur in what it encloses */
    do {
        snprintf(boundary, sizeof(boundary), "=_postern_wrap_%s_%u", p->qid, n++);
    } while (inner.len && memmem(inner.p, inner.len, boundary, strlen(boundary)) != NULL);

    /* the Subject: the original's, prefixed */
    hdr_split(msg, len, &flen, &body);
    hdr_init(&subj, "", 0);
    {
        struct hdr_edit h;
        size_t q = 0;
        hdr_init(&h, msg, flen);
        while (q < h.len) { /* the first Subject field with its folds */
            const char *e = memchr(h.p + q, '\n', h.len - q);
            size_t end = e ? (size_t)(e - h.p) + 1 : h.len;
            if (strncasecmp(h.p + q, "Subject:", 8) == 0) {
                while (end < h.len && (h.p[end] == ' ' || h.p[end] == '\t')) {
                    e = memchr(h.p + end, '\n', h.len - end);
                    end = e ? (size_t)(e - h.p) + 1 : h.len;
                }
                hdr_free(&subj);
                hdr_init(&subj, h.p + q, end - q);
                break;
            }
            q = end;
        }
        hdr_free(&h);
    }
    if (subj.len == 0)
        hdr_append(&subj, "Subject: dangerous content removed");
    hdr_subject_prefix(&subj, "[WARNING] ");

    gmtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    snprintf(buf, sizeof(buf),
             "From: Postern content filter <postmaster@%s>\r\n"
             "To: <%s>\r\n"
             "Date: %s\r\n"
             "Message-ID: <%s.wrap@%s>\r\n",
             p->hostname, p->rcpt, date, p->qid, p->hostname);
    puts_(&o, buf);
    put(&o, subj.p, subj.len);
    hdr_free(&subj);
    snprintf(buf, sizeof(buf),
             "MIME-Version: 1.0\r\n"
             "Content-Type: multipart/mixed; boundary=\"%s\"\r\n"
             "\r\n"
             "This is a MIME message.\r\n"
             "\r\n--%s\r\n"
             "Content-Type: text/plain; charset=us-ascii\r\n"
             "\r\n"
             "WARNING: this message contained %s.\r\n"
             "\r\n"
             "It was not delivered as it was sent. The original is attached with the\r\n"
             "dangerous parts removed (%u part%s replaced by a notice).\r\n"
             "Queue ID: %s\r\n"
             "\r\n--%s\r\n"
             "Content-Type: message/rfc822\r\n"
             "Content-Description: the original message, dangerous parts removed\r\n"
             "\r\n",
             boundary, boundary, reason, inner.removed, inner.removed == 1 ? "" : "s", p->qid,
             boundary);
    puts_(&o, buf);
    put(&o, inner.p ? inner.p : "", inner.len);
    if (inner.len < 2 || inner.p[inner.len - 1] != '\n')
        puts_(&o, "\r\n");
    snprintf(buf, sizeof(buf), "--%s--\r\n", boundary);
    puts_(&o, buf);
    if (removed)
        *removed = inner.removed;
    free(inner.p);
    *out_len = o.len;
    return o.p;
}
