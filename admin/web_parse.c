/*
 * web_parse.c - strings, escaping, templates, forms and cookies (see web_parse.h).
 */
#include "admin/web_parse.h"

#include "lib/hex.h"
#include "lib/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLACEHOLDER_NAME_MAX 64

void wstr_add(struct wstr *s, const char *text, size_t len)
{
    if (s->n + len + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 256;
        while (cap < s->n + len + 1)
            cap *= 2;
        s->p = xrealloc(s->p, cap);
        s->cap = cap;
    }
    if (len)
        memcpy(s->p + s->n, text, len);
    s->n += len;
    s->p[s->n] = '\0';
}

void wstr_adds(struct wstr *s, const char *text)
{
    if (text)
        wstr_add(s, text, strlen(text));
}

void wstr_addf(struct wstr *s, const char *fmt, ...)
{
    va_list ap;
    char *t;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&t, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    wstr_add(s, t, (size_t)n);
    free(t);
}

void wstr_add_html(struct wstr *s, const char *text)
{
    const char *p, *start;

    if (text == NULL)
        return;
    for (p = start = text; *p; p++) {
        const char *ent = NULL;
        switch (*p) {
        case '&':  ent = "&amp;"; break;
        case '<':  ent = "&lt;"; break;
        case '>':  ent = "&gt;"; break;
        case '"':  ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        default:   continue;
        }
        wstr_add(s, start, (size_t)(p - start));
        wstr_adds(s, ent);
        start = p + 1;
    }
    wstr_add(s, start, (size_t)(p - start));
}

static const struct web_var *var_find(const struct web_var *vars, size_t n, const char *name,
                                      size_t len)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strlen(vars[i].name) == len && memcmp(vars[i].name, name, len) == 0)
            return &vars[i];
    return NULL;
}

void web_template(struct wstr *out, const char *tpl, size_t len, const struct web_var *vars,
                  size_t nvars)
{
    size_t i = 0;

    while (i < len) {
        const char *open = memmem(tpl + i, len - i, "{{", 2);
        size_t at, name_at, name_len, end;
        bool raw;

        if (open == NULL) {
            wstr_add(out, tpl + i, len - i);
            return;
        }
        at = (size_t)(open - tpl);
        wstr_add(out, tpl + i, at - i);
        raw = at + 2 < len && tpl[at + 2] == '{';
        name_at = at + (raw ? 3 : 2);
        for (end = name_at; end < len && end - name_at <= PLACEHOLDER_NAME_MAX &&
                            (tpl[end] == '_' || (tpl[end] >= 'a' && tpl[end] <= 'z') ||
                             (tpl[end] >= '0' && tpl[end] <= '9'));
             end++)
            ;
        name_len = end - name_at;
        if (name_len == 0 || len - end < (size_t)(raw ? 3 : 2) ||
            memcmp(tpl + end, raw ? "}}}" : "}}", raw ? 3 : 2) != 0) {
            wstr_add(out, tpl + at, 2);       /* not a placeholder: copy "{{" and go on */
            i = at + 2;
            continue;
        }
        {
            const struct web_var *v = var_find(vars, nvars, tpl + name_at, name_len);
            if (v != NULL && raw)
                wstr_adds(out, v->value);
            else if (v != NULL)
                wstr_add_html(out, v->value);
        }
        i = end + (raw ? 3 : 2);
    }
}

char *web_url_decode(const char *s, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 2 < len ? hex_value(s[i + 1]) : -1, lo = i + 2 < len ? hex_value(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '\0') {
            free(out);
            return NULL;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

char *web_form_get(const char *body, size_t len, const char *name)
{
    size_t i = 0, nlen = strlen(name);

    while (i < len) {
        const char *amp = memchr(body + i, '&', len - i);
        size_t end = amp ? (size_t)(amp - body) : len;
        const char *eq = memchr(body + i, '=', end - i);
        size_t klen = eq ? (size_t)(eq - (body + i)) : end - i;

        if (klen == nlen && memcmp(body + i, name, nlen) == 0) {
            size_t vat = eq ? (size_t)(eq - body) + 1 : end;
            return web_url_decode(body + vat, end - vat);
        }
        i = end + 1;
    }
    return NULL;
}

int web_cookie_get(const char *header, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    const char *p = header;

    while (p && *p) {
        const char *end, *v;
        size_t vlen;

        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        end = strchr(p, ';');
        if (end == NULL)
            end = p + strlen(p);
        if ((size_t)(end - p) > nlen && memcmp(p, name, nlen) == 0 && p[nlen] == '=') {
            v = p + nlen + 1;
            vlen = (size_t)(end - v);
            while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            if (vlen + 1 > size)
                return -1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            return 0;
        }
        p = end;
    }
    return -1;
}

bool web_is_hex_token(const char *s, size_t digits)
{
    size_t i;

    for (i = 0; i < digits; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[digits] == '\0';
}

bool web_token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i;
    unsigned char d = (unsigned char)(la != lb);

    for (i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}
