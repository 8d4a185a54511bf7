/*
 * wrap.c - the wrapped warning message (see wrap.h).
 *
 * The original is parsed with content/mime.h, the parser the file-type and virus checks
 * use, so the parts removed are the parts those checks saw: each part's input offsets
 * (header, body, end) say what to replace. Everything that is not replaced is copied
 * byte for byte (headers, preambles, boundaries, epilogues).
 */
#include "content/wrap.h"

#include "content/mime.h"
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

/* A part to replace: its input range, and what the notice names. */
struct cut {
    unsigned long long begin, body, end;
    char type[MIME_TYPE_MAX];
    char name[MIME_NAME_MAX];
    bool uue;                  /* a uuencoded file inside a text part: a notice line */
};

struct walk {
    struct cut *cuts;
    size_t n, cap;
    unsigned *children;        /* children seen, by part id */
    size_t nchildren;
    bool virus;
};

static void w_begin(void *arg, const struct mime_part *p)
{
    struct walk *w = arg;

    if (p->depth == 0)
        return;
    if (p->parent >= w->nchildren) {
        size_t n = (p->parent + 1) * 2;
        w->children = xrealloc(w->children, n * sizeof(w->children[0]));
        memset(w->children + w->nchildren, 0, (n - w->nchildren) * sizeof(w->children[0]));
        w->nchildren = n;
    }
    w->children[p->parent]++;
}

static void w_end(void *arg, const struct mime_part *p)
{
    struct walk *w = arg;
    const char *name = mime_part_filename(p);
    bool text = (strcmp(p->type, "text/plain") == 0 || strcmp(p->type, "text/html") == 0) &&
                name[0] == '\0' && !p->uuencoded;
    bool cut;
    struct cut *c;

    switch (p->kind) {
    case MIME_KIND_LEAF:
        cut = w->virus || !text;
        break;
    case MIME_KIND_MULTIPART:
        /* no part in it (no delimiter line): what it holds is unknown; or a part
         * beyond the depth limit was left in it */
        cut = (p->flags & MIME_F_DEPTH) ||
              p->id >= w->nchildren || w->children[p->id] == 0;
        break;
    default:        /* message/rfc822: its message was walked */
        cut = false;
        break;
    }
    if (!cut)
        return;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 8;
        w->cuts = xrealloc(w->cuts, w->cap * sizeof(w->cuts[0]));
    }
    c = &w->cuts[w->n++];
    c->begin = p->off_begin;
    c->body = p->off_body;
    c->end = p->off_end;
    c->uue = p->uuencoded;
    clean(c->type, sizeof(c->type), p->type, strlen(p->type));
    clean(c->name, sizeof(c->name), name, strlen(name));
}

/* Outer ranges first: by begin, then the longer one. */
static int cut_cmp(const void *a, const void *b)
{
    const struct cut *x = a, *y = b;

    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end > y->end ? -1 : x->end < y->end;
}

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

/* The original with its dangerous parts replaced, into o. */
static void rewrite(struct out *o, const char *msg, size_t len)
{
    static const struct mime_callbacks cb = {
        .part_begin = w_begin, .part_end = w_end,
    };
    const struct mime_limits lim = { .max_depth = WRAP_DEPTH_MAX, .max_parts = 1u << 24 };
    struct walk w = { .virus = o->virus };
    struct mime_parser *m = mime_new(&lim, &cb, &w);
    unsigned long long at = 0;
    size_t i;

    mime_feed(m, msg, len);
    mime_end(m);
    if (mime_flags(m) & MIME_F_TOO_MANY_PARTS) {
        /* parts went unreported: the whole message body goes */
        size_t flen, body;
        hdr_split(msg, len, &flen, &body);
        w.n = 0;
        w_end(&w, &(struct mime_part){ .kind = MIME_KIND_MULTIPART, .flags = MIME_F_DEPTH,
                                       .off_body = body, .off_end = len,
                                       .type = "multipart/mixed" });
    }
    mime_free(m);
    if (w.n > 1)
        qsort(w.cuts, w.n, sizeof(w.cuts[0]), cut_cmp);
    for (i = 0; i < w.n; i++) {
        const struct cut *c = &w.cuts[i];
        if (c->begin < at || c->body < c->begin || c->end < c->body || c->end > len)
            continue;           /* inside one already replaced (the rest cannot be) */
        put(o, msg + at, (size_t)(c->begin - at));
        if (c->uue) {
            char note[600];
            snprintf(note, sizeof(note), "[Postern removed this part: %s (%s)]\r\n",
                     c->name[0] ? c->name : "no name", c->type);
            puts_(o, note);
            o->removed++;
        } else {
            size_t flen, body;
            hdr_split(msg + c->begin, (size_t)(c->body - c->begin), &flen, &body);
            removed_part(o, msg + c->begin, flen, c->type, c->name);
        }
        at = c->end;
    }
    put(o, msg + at, len - (size_t)at);
    free(w.cuts);
    free(w.children);
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
    rewrite(&inner, msg, len);
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
