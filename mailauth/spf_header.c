/*
 * spf_header.c - Received-SPF and Authentication-Results text for an SPF outcome (see
 * spf_header.h). Pure; values are sanitised and quoted here, nowhere else.
 */
#include "mailauth/spf_header.h"

#include "lib/xalloc.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_LINE_SOFT 78             /* RFC 5322 2.1.1 */
#define HEADER_PIECES_MAX 12
#define HEADER_VALUE_MAX 512            /* a client-supplied value is cut at this length */

struct hbuf {
    char *p;
    size_t len, cap;
};

static void hb_putc(struct hbuf *b, char c)
{
    if (b->len + 2 > b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->p = xrealloc(b->p, b->cap);
    }
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

static void hb_puts(struct hbuf *b, const char *s)
{
    while (*s)
        hb_putc(b, *s++);
}

/* Printable ASCII only: anything else (CR, LF, controls, 8-bit) becomes '?'. */
static char safe_char(char c)
{
    return (unsigned char)c >= ' ' && (unsigned char)c <= '~' ? c : '?';
}

static bool is_atext(char c)
{
    return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* RFC 5322 dot-atom-text: atext runs separated by single dots. */
static bool is_dot_atom(const char *s)
{
    bool prev_dot = true;

    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s == '.') {
            if (prev_dot)
                return false;
            prev_dot = true;
        } else if (is_atext(*s)) {
            prev_dot = false;
        } else {
            return false;
        }
    }
    return !prev_dot;
}

/* A value as a dot-atom when it is one, else as a quoted-string. */
static void hb_value(struct hbuf *b, const char *s)
{
    size_t n = 0;

    if (is_dot_atom(s) && strlen(s) <= HEADER_VALUE_MAX) {
        hb_puts(b, s);
        return;
    }
    hb_putc(b, '"');
    for (; *s && n < HEADER_VALUE_MAX; s++, n++) {
        char c = safe_char(*s);
        if (c == '"' || c == '\\')
            hb_putc(b, '\\');
        hb_putc(b, c);
    }
    hb_putc(b, '"');
}

/* Comment text: parentheses and backslashes escaped (RFC 5322 quoted-pair). */
static void hb_comment_text(struct hbuf *b, const char *s)
{
    for (size_t n = 0; *s && n < HEADER_VALUE_MAX; s++, n++) {
        char c = safe_char(*s);
        if (c == '(' || c == ')' || c == '\\')
            hb_putc(b, '\\');
        hb_putc(b, c);
    }
}

static void comment_for(struct hbuf *b, const struct spf_outcome *o, const char *receiver)
{
    const char *who = o->sender ? o->sender : "";
    const char *ip = o->client_ip ? o->client_ip : "";

    hb_putc(b, '(');
    if (receiver) {
        hb_comment_text(b, receiver);
        hb_puts(b, ": ");
    }
    switch (o->result) {
    case SPF_RESULT_PASS:
        hb_puts(b, "domain of ");
        hb_comment_text(b, who);
        hb_puts(b, " designates ");
        hb_comment_text(b, ip);
        hb_puts(b, " as permitted sender");
        break;
    case SPF_RESULT_FAIL:
        hb_puts(b, "domain of ");
        hb_comment_text(b, who);
        hb_puts(b, " does not designate ");
        hb_comment_text(b, ip);
        hb_puts(b, " as permitted sender");
        break;
    case SPF_RESULT_SOFTFAIL:
        hb_puts(b, "domain of transitioning ");
        hb_comment_text(b, who);
        hb_puts(b, " does not designate ");
        hb_comment_text(b, ip);
        hb_puts(b, " as permitted sender");
        break;
    case SPF_RESULT_NEUTRAL:
        hb_comment_text(b, ip);
        hb_puts(b, " is neither permitted nor denied by domain of ");
        hb_comment_text(b, who);
        break;
    case SPF_RESULT_NONE:
        hb_puts(b, "domain of ");
        hb_comment_text(b, who);
        hb_puts(b, " does not designate permitted sender hosts");
        break;
    case SPF_RESULT_TEMPERROR:
        hb_puts(b, "temporary error checking ");
        hb_comment_text(b, who);
        break;
    case SPF_RESULT_PERMERROR:
        hb_puts(b, "permanent error in the SPF record for ");
        hb_comment_text(b, who);
        break;
    }
    hb_putc(b, ')');
}

/* Join the pieces with spaces, then fold: a space where the line would pass 78
 * characters becomes CRLF TAB (FWS is allowed there in comments and quoted strings too). */
static char *fold(char *const *pieces, size_t n)
{
    struct hbuf line = { 0 }, b = { 0 };
    size_t col = 0;
    const char *w;

    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            hb_putc(&line, ' ');
        hb_puts(&line, pieces[i]);
    }
    for (w = line.p; w && *w;) {
        size_t len = strcspn(w, " ");
        if (col > 0 && col + 1 + len > HEADER_LINE_SOFT) {
            hb_puts(&b, "\r\n\t");
            col = 1;
        } else if (col > 0) {
            hb_putc(&b, ' ');
            col++;
        }
        for (size_t k = 0; k < len; k++)
            hb_putc(&b, w[k]);
        col += len;
        w += len;
        if (*w == ' ')
            w++;                        /* one separator; a second space is kept */
    }
    free(line.p);
    return b.p ? b.p : xstrdup("");
}

static char *pair(const char *key, const char *value, bool last)
{
    struct hbuf b = { 0 };

    hb_puts(&b, key);
    hb_putc(&b, '=');
    hb_value(&b, value);
    if (!last)
        hb_putc(&b, ';');
    return b.p;
}

char *spf_received_spf(const struct spf_outcome *o, const char *receiver)
{
    char *pieces[HEADER_PIECES_MAX], *out;
    struct hbuf c = { 0 };
    size_t n = 0;
    const char *keys[6], *vals[6];
    size_t nk = 0;

    pieces[n++] = xasprintf("Received-SPF: %s", spf_result_str(o->result));
    comment_for(&c, o, receiver);
    pieces[n++] = c.p;
    if (receiver) {
        keys[nk] = "receiver";
        vals[nk++] = receiver;
    }
    keys[nk] = "client-ip";
    vals[nk++] = o->client_ip ? o->client_ip : "";
    if (o->identity == SPF_ID_MAILFROM) {
        keys[nk] = "envelope-from";
        vals[nk++] = o->sender ? o->sender : "";
    }
    if (o->helo) {
        keys[nk] = "helo";
        vals[nk++] = o->helo;
    }
    if (o->mechanism) {
        keys[nk] = "mechanism";
        vals[nk++] = o->mechanism;
    } else if ((o->result == SPF_RESULT_PERMERROR || o->result == SPF_RESULT_TEMPERROR) &&
               o->comment) {
        keys[nk] = "problem";
        vals[nk++] = o->comment;
    }
    keys[nk] = "identity";
    vals[nk++] = spf_identity_str(o->identity);
    for (size_t i = 0; i < nk; i++)
        pieces[n++] = pair(keys[i], vals[i], i + 1 == nk);
    out = fold(pieces, n);
    for (size_t i = 0; i < n; i++)
        free(pieces[i]);
    return out;
}

char *spf_auth_results(const struct spf_outcome *o)
{
    struct hbuf b = { 0 };
    const char *sender = o->sender ? o->sender : "";
    const char *at = strrchr(sender, '@');
    char *local = at ? xstrndup(sender, (size_t)(at - sender)) : xstrdup("");

    hb_puts(&b, "spf=");
    hb_puts(&b, spf_result_str(o->result));
    if (o->identity == SPF_ID_HELO) {
        hb_puts(&b, " smtp.helo=");
        hb_value(&b, o->domain ? o->domain : "");
    } else {
        hb_puts(&b, " smtp.mailfrom=");
        if (is_dot_atom(local) && o->domain && is_dot_atom(o->domain))
            hb_puts(&b, sender);
        else
            hb_value(&b, o->domain ? o->domain : "");
    }
    free(local);
    return b.p;
}
