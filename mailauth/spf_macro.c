/*
 * spf_macro.c - SPF macro strings (RFC 7208 section 7): one tokenizer shared by the
 * syntax check (used by the record parser) and the expander (used by the evaluator).
 * Pure; see spf_macro.h for the contracts.
 */
#include "mailauth/spf_macro.h"

#include "lib/xalloc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MACRO_DIGITS_CAP 1000           /* "%{d12345}": more parts than any name has */
#define MACRO_PARTS_MAX 256             /* a value split at delimiters: at most this many */
#define URL_ESCAPE_LEN 3                /* "%XX" */

enum tok_kind { TOK_LITERAL, TOK_EXPAND };

struct macro_tok {
    enum tok_kind kind;
    char literal;                       /* TOK_LITERAL: the character it stands for */
    char letter;                        /* TOK_EXPAND: lower case */
    bool upper;                         /* URL-escape the value */
    unsigned digits;                    /* 0: all parts */
    bool reverse;
    char delims[8];                     /* NUL-terminated set; empty: "." */
    bool is_expand;                     /* a macro-expand (also %% %_ %-), for domain-end */
};

static const char spf_delimiters[] = ".-+,/_=";

static bool letter_allowed(char c, enum spf_macro_ctx ctx)
{
    if (strchr("slodipvh", c))
        return true;
    return ctx == SPF_MACRO_EXPLAIN && strchr("crt", c);
}

/* Read one token at s[*i]. Returns 1 with *t, 0 at the end, -1 on a syntax error. */
static int next_tok(const char *s, size_t len, size_t *i, enum spf_macro_ctx ctx,
                    struct macro_tok *t, const char **why)
{
    unsigned char c;

    if (*i >= len)
        return 0;
    memset(t, 0, sizeof(*t));
    c = (unsigned char)s[*i];
    if (c != '%') {
        /* macro-literal = %x21-24 / %x26-7E; explanation text also has spaces */
        if (c > 0x7e || c < 0x20 || (c == ' ' && ctx != SPF_MACRO_EXPLAIN)) {
            *why = "character not allowed in a macro string";
            return -1;
        }
        t->kind = TOK_LITERAL;
        t->literal = (char)c;
        (*i)++;
        return 1;
    }
    if (*i + 1 >= len) {
        *why = "'%' at the end of a macro string";
        return -1;
    }
    c = (unsigned char)s[*i + 1];
    t->is_expand = true;
    if (c == '%' || c == '_' || c == '-') {
        t->kind = TOK_LITERAL;
        t->literal = c == '%' ? '%' : c == '_' ? ' ' : '-'; /* '-' marks "%20" */
        *i += 2;
        return 1;
    }
    if (c != '{') {
        *why = "'%' not followed by '{', '%', '_' or '-'";
        return -1;
    }
    *i += 2;
    if (*i >= len || !isalpha((unsigned char)s[*i]) ||
        !letter_allowed((char)tolower((unsigned char)s[*i]), ctx)) {
        *why = ctx == SPF_MACRO_DOMAIN && *i < len && strchr("crtCRT", s[*i])
                   ? "macro letters c, r and t are only allowed in explanation text"
                   : "unknown macro letter";
        return -1;
    }
    t->kind = TOK_EXPAND;
    t->letter = (char)tolower((unsigned char)s[*i]);
    t->upper = isupper((unsigned char)s[*i]) != 0;
    (*i)++;
    if (*i < len && isdigit((unsigned char)s[*i])) {
        unsigned v = 0;
        while (*i < len && isdigit((unsigned char)s[*i])) {
            v = v * 10 + (unsigned)(s[*i] - '0');
            if (v > MACRO_DIGITS_CAP)
                v = MACRO_DIGITS_CAP;
            (*i)++;
        }
        if (v == 0) {
            *why = "macro digit transformer must not be zero";
            return -1;
        }
        t->digits = v;
    }
    if (*i < len && (s[*i] == 'r' || s[*i] == 'R')) {
        t->reverse = true;
        (*i)++;
    }
    while (*i < len && s[*i] != '}') {
        size_t n = strlen(t->delims);
        if (strchr(spf_delimiters, s[*i]) == NULL || s[*i] == '\0') {
            *why = "bad character in a macro";
            return -1;
        }
        if (strchr(t->delims, s[*i]) == NULL && n + 1 < sizeof(t->delims))
            t->delims[n] = s[*i];
        (*i)++;
    }
    if (*i >= len) {
        *why = "macro without a closing '}'";
        return -1;
    }
    (*i)++;
    return 1;
}

int spf_macro_check(const char *s, size_t len, enum spf_macro_ctx ctx, bool *ends_with_macro,
                    const char **why)
{
    struct macro_tok t;
    size_t i = 0;
    int r;
    bool last_expand = false;

    while ((r = next_tok(s, len, &i, ctx, &t, why)) == 1)
        last_expand = t.is_expand;
    if (ends_with_macro)
        *ends_with_macro = last_expand;
    return r;
}

static bool toplabel_ok(const char *s, size_t len)
{
    bool alpha = false, dash = false;

    if (len == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalpha(c))
            alpha = true;
        else if (c == '-')
            dash = true;
        else if (!isdigit(c))
            return false;
    }
    return alpha || dash;
}

int spf_domain_spec_check(const char *s, size_t len, const char **why)
{
    bool macro_end;
    const char *dot;

    if (len == 0) {
        *why = "empty domain-spec";
        return -1;
    }
    if (spf_macro_check(s, len, SPF_MACRO_DOMAIN, &macro_end, why) < 0)
        return -1;
    if (macro_end)
        return 0;
    if (s[len - 1] == '.')
        len--;
    if (len > 1 && s[len - 1] == '}' && spf_macro_check(s, len, SPF_MACRO_DOMAIN,
                                                        &macro_end, why) == 0 && macro_end)
        return 0;                       /* "%{d}." */
    dot = memrchr(s, '.', len);
    if (dot == NULL || !toplabel_ok(dot + 1, len - (size_t)(dot + 1 - s))) {
        *why = "domain-spec does not end in a valid top-level label";
        return -1;
    }
    return 0;
}

bool spf_macro_uses_p(const char *s)
{
    for (const char *p = s; (p = strchr(p, '%')) != NULL; p++) {
        if (p[1] == '%') {
            p++;
            continue;
        }
        if (p[1] == '{' && (p[2] == 'p' || p[2] == 'P'))
            return true;
    }
    return false;
}

static bool ends_with_label(const char *name, size_t nlen, const char *dom, size_t dlen)
{
    if (nlen == dlen)
        return strncasecmp(name, dom, dlen) == 0;
    return nlen > dlen && name[nlen - dlen - 1] == '.' &&
           strncasecmp(name + nlen - dlen, dom, dlen) == 0;
}

bool spf_domain_is_under(const char *name, const char *domain)
{
    size_t nlen = strlen(name), dlen = strlen(domain);

    if (nlen && name[nlen - 1] == '.')
        nlen--;
    if (dlen && domain[dlen - 1] == '.')
        dlen--;
    return dlen > 0 && ends_with_label(name, nlen, domain, dlen);
}

const char *spf_macro_pick_validated(const struct spf_macro_vars *v)
{
    size_t i;

    for (i = 0; i < v->n_validated; i++)
        if (strcasecmp(v->validated[i], v->domain) == 0)
            return v->validated[i];
    for (i = 0; i < v->n_validated; i++)
        if (spf_domain_is_under(v->validated[i], v->domain))
            return v->validated[i];
    return v->n_validated ? v->validated[0] : "unknown";
}

static const char *letter_value(char letter, const struct spf_macro_vars *v, char *num,
                                size_t numlen)
{
    const char *val = NULL;

    switch (letter) {
    case 's': val = v->sender; break;
    case 'l': val = v->local; break;
    case 'o': val = v->sender_domain; break;
    case 'd': val = v->domain; break;
    case 'i': val = v->ip_dotted; break;
    case 'c': val = v->ip_text; break;
    case 'v': val = v->ip_version; break;
    case 'h': val = v->helo; break;
    case 'r': val = v->receiver; break;
    case 'p': val = spf_macro_pick_validated(v); break;
    case 't':
        snprintf(num, numlen, "%lld", v->timestamp);
        val = num;
        break;
    }
    return val ? val : "";
}

struct outbuf {
    char *p;
    size_t len, cap;
    bool overflow;
};

static void out_putc(struct outbuf *o, char c)
{
    if (o->len + 1 >= o->cap) {
        if (o->cap >= SPF_MACRO_OUT_MAX) {
            o->overflow = true;
            return;
        }
        o->cap = o->cap ? o->cap * 2 : 256;
        o->p = xrealloc(o->p, o->cap);
    }
    o->p[o->len++] = c;
}

static void out_value(struct outbuf *o, const char *s, size_t n, bool escape)
{
    static const char hex[] = "0123456789ABCDEF";

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!escape || isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out_putc(o, (char)c);
            continue;
        }
        out_putc(o, '%');
        out_putc(o, hex[c >> 4]);
        out_putc(o, hex[c & 0xf]);
    }
}

/* Split val at the delimiters, reverse if asked, keep the rightmost `digits` parts and
 * join them with dots (RFC 7208 7.3). */
static void expand_one(struct outbuf *o, const struct macro_tok *t, const char *val)
{
    const char *delims = t->delims[0] ? t->delims : ".";
    const char *start[MACRO_PARTS_MAX];
    size_t plen[MACRO_PARTS_MAX], n = 0, first, i;
    const char *p = val;

    if (!t->reverse && !t->digits && strcmp(delims, ".") == 0) {
        out_value(o, val, strlen(val), t->upper);
        return;
    }
    for (;;) {
        size_t l = strcspn(p, delims);
        if (n < MACRO_PARTS_MAX) {
            start[n] = p;
            plen[n++] = l;
        }
        if (p[l] == '\0')
            break;
        p += l + 1;
    }
    if (t->reverse) {
        for (i = 0; i < n / 2; i++) {
            const char *ts = start[i];
            size_t tl = plen[i];
            start[i] = start[n - 1 - i];
            plen[i] = plen[n - 1 - i];
            start[n - 1 - i] = ts;
            plen[n - 1 - i] = tl;
        }
    }
    first = t->digits && t->digits < n ? n - t->digits : 0;
    for (i = first; i < n; i++) {
        if (i > first)
            out_putc(o, '.');
        out_value(o, start[i], plen[i], t->upper);
    }
}

/* A query name from an expanded domain-spec: no trailing dot, at most 253 characters
 * (labels removed from the left, RFC 7208 7.3). */
static void shape_domain(char *s)
{
    size_t len = strlen(s);

    if (len && s[len - 1] == '.')
        s[--len] = '\0';
    while (len > SPF_DOMAIN_MAX) {
        char *dot = strchr(s, '.');
        if (dot == NULL)
            break;
        len -= (size_t)(dot + 1 - s);
        memmove(s, dot + 1, len + 1);
    }
}

char *spf_macro_expand(const char *s, enum spf_macro_ctx ctx, const struct spf_macro_vars *v)
{
    struct outbuf o = { 0 };
    struct macro_tok t;
    size_t i = 0, len = strlen(s);
    const char *why;
    char num[32];
    int r;

    while ((r = next_tok(s, len, &i, ctx, &t, &why)) == 1) {
        if (t.kind == TOK_LITERAL && t.is_expand && t.literal == '-')
            out_value(&o, "%20", URL_ESCAPE_LEN, false);
        else if (t.kind == TOK_LITERAL)
            out_putc(&o, t.literal);
        else
            expand_one(&o, &t, letter_value(t.letter, v, num, sizeof(num)));
    }
    if (r < 0 || o.overflow) {
        free(o.p);
        return NULL;
    }
    out_putc(&o, '\0');
    if (o.overflow) {
        free(o.p);
        return NULL;
    }
    if (ctx == SPF_MACRO_DOMAIN)
        shape_domain(o.p);
    return o.p;
}
