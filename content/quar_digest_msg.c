/*
 * quar_digest_msg.c - build a quarantine digest mail (see quar_digest_msg.h).
 */
#include "content/quar_digest_msg.h"

#include "content/quar_token.h"
#include "lib/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SHOW_MAX 200               /* characters of a sender or subject shown */

struct out {
    char *p;
    size_t len, cap;
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

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    put(o, s, (size_t)n);
    free(s);
}

/* s made printable 7-bit ASCII, cut to SHOW_MAX characters (malloc'd). */
static char *plain(const char *s)
{
    size_t n = strlen(s), i;
    char *out = xmalloc((n < SHOW_MAX ? n : SHOW_MAX) + 4);

    for (i = 0; i < n && i < SHOW_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c < ' ' || c > '~' ? '?' : (char)c;
    }
    if (n > SHOW_MAX) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

/* HTML-escaped plain(s). */
static void put_html(struct out *o, const char *s)
{
    char *t = plain(s);
    const char *c;

    for (c = t; *c; c++) {
        switch (*c) {
        case '<': put(o, "&lt;", 4); break;
        case '>': put(o, "&gt;", 4); break;
        case '&': put(o, "&amp;", 5); break;
        case '"': put(o, "&quot;", 6); break;
        case '\'': put(o, "&#39;", 5); break;
        default: put(o, c, 1);
        }
    }
    free(t);
}

static void date_text(long long t, char *buf, size_t n, const char *fmt)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(buf, n, fmt, &tm);
}

/* The link of action a for e, or NULL (no key, or a virus entry). */
static char *link_of(const struct quar_digest_params *p, const struct quar_entry *e,
                     enum quar_action a)
{
    char *tok, *url;

    if (p->key == NULL || strcmp(e->reason, "virus") == 0)
        return NULL;
    tok = quar_token_make(p->key, p->keylen, e->id, p->token_rcpt, a, p->expires);
    if (tok == NULL)
        return NULL;
    url = xasprintf("%s%sq/%s", p->ui_url,
                    *p->ui_url && p->ui_url[strlen(p->ui_url) - 1] == '/' ? "" : "/", tok);
    free(tok);
    return url;
}

/* The parts are 7bit: every line, a link too (about 600 characters), is under 998. */
char *quar_digest_format(const struct quar_digest_params *p, const struct quar_entry *e,
                         size_t n, size_t *len)
{
    struct out o = { 0 };
    char date[64], when[64], *to = plain(p->to);
    size_t i;

    date_text(p->now, date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000");
    putf(&o, "From: Postern quarantine <%s>\r\nTo: <%s>\r\n", p->from, to);
    putf(&o, "Subject: Quarantine digest: %zu new message%s held for %s\r\n", n,
         n == 1 ? "" : "s", to);
    putf(&o, "Date: %s\r\nMessage-ID: <digest.%s@%s>\r\n", date, p->unique, p->hostname);
    puts_(&o, "Auto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n");
    putf(&o, "Content-Type: multipart/alternative; boundary=\"=_digest_%s\"\r\n\r\n",
         p->unique);
    puts_(&o, "This is a MIME message.\r\n");

    /* text */
    putf(&o, "\r\n--=_digest_%s\r\nContent-Type: text/plain; charset=us-ascii\r\n"
             "Content-Transfer-Encoding: 7bit\r\n\r\n", p->unique);
    putf(&o, "These messages for %s were held in quarantine and not delivered.\r\n"
             "Open a link to release a message into your mailbox.\r\n\r\n", to);
    for (i = 0; i < n; i++) {
        char *from = plain(e[i].from[0] ? e[i].from : e[i].sender);
        char *sender = plain(e[i].sender[0] ? e[i].sender : "<>");
        char *subj = plain(e[i].subject);
        char *rel = link_of(p, &e[i], QUAR_ACT_RELEASE);
        char *learn = link_of(p, &e[i], QUAR_ACT_RELEASE_LEARN);
        date_text(e[i].date, when, sizeof(when), "%Y-%m-%d %H:%M UTC");
        putf(&o, "%zu. From: %s (envelope %s)\r\n   Subject: %s\r\n   Date: %s   Score: %.1f"
                 "   Reason: %s\r\n   Entry: %s\r\n", i + 1, from, sender, subj, when,
             e[i].score, e[i].reason, e[i].id);
        if (rel)
            putf(&o, "   Release: %s\r\n   Not spam, release and learn: %s\r\n", rel, learn);
        else if (strcmp(e[i].reason, "virus") == 0)
            puts_(&o, "   (contains a virus: only an administrator can release it)\r\n");
        puts_(&o, "\r\n");
        free(from);
        free(sender);
        free(subj);
        free(rel);
        free(learn);
    }

    /* HTML */
    putf(&o, "\r\n--=_digest_%s\r\nContent-Type: text/html; charset=us-ascii\r\n"
             "Content-Transfer-Encoding: 7bit\r\n\r\n", p->unique);
    putf(&o, "<!DOCTYPE html>\r\n<html><head><title>Quarantine digest</title></head><body>"
             "\r\n<p>These messages for ");
    put_html(&o, p->to);
    puts_(&o, " were held in quarantine and not delivered.</p>\r\n<table border=\"1\" "
            "cellpadding=\"4\">\r\n<tr><th>From</th><th>Subject</th><th>Date</th>"
            "<th>Score</th><th>Reason</th><th></th></tr>\r\n");
    for (i = 0; i < n; i++) {
        char *rel = link_of(p, &e[i], QUAR_ACT_RELEASE);
        char *learn = link_of(p, &e[i], QUAR_ACT_RELEASE_LEARN);
        date_text(e[i].date, when, sizeof(when), "%Y-%m-%d %H:%M UTC");
        puts_(&o, "<tr><td>");
        put_html(&o, e[i].from[0] ? e[i].from : e[i].sender);
        puts_(&o, "</td>\r\n<td>");
        put_html(&o, e[i].subject);
        putf(&o, "</td><td>%s</td><td>%.1f</td><td>", when, e[i].score);
        put_html(&o, e[i].reason);
        puts_(&o, "</td>\r\n<td>");
        if (rel) {
            puts_(&o, "<a href=\"");
            put_html(&o, rel);
            puts_(&o, "\">Release</a>\r\n<a href=\"");
            put_html(&o, learn);
            puts_(&o, "\">Not spam: release and learn</a>");
        } else if (strcmp(e[i].reason, "virus") == 0) {
            puts_(&o, "virus: admin only");
        }
        puts_(&o, "</td></tr>\r\n");
        free(rel);
        free(learn);
    }
    puts_(&o, "</table>\r\n</body></html>\r\n");
    putf(&o, "\r\n--=_digest_%s--\r\n", p->unique);
    free(to);
    *len = o.len;
    return o.p;
}
