/*
 * web_parse.h - the pure text work of the web page (admin/web.c): a growing string,
 * HTML escaping, {{placeholder}} templates, application/x-www-form-urlencoded fields and
 * Cookie headers. No I/O, no globals; every input here comes from a browser or a script
 * and is bounded by the caller (web.c limits bodies and headers). Fuzzed by
 * tests/fuzz/fuzz_web_form.c.
 */
#ifndef POSTERN_ADMIN_WEB_PARSE_H
#define POSTERN_ADMIN_WEB_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* A NUL-terminated growing string; zero-initialise, free p. */
struct wstr {
    char *p;
    size_t n, cap;
};
void wstr_add(struct wstr *s, const char *text, size_t len);
void wstr_adds(struct wstr *s, const char *text);
void wstr_addf(struct wstr *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append text with & < > " ' written as entities (safe in element content and in quoted
 * attribute values). NULL appends nothing. */
void wstr_add_html(struct wstr *s, const char *text);

/* A template variable: {{name}} is replaced by the escaped value, {{{name}}} by the raw
 * value (for fragments the caller built with wstr_add_html). */
struct web_var {
    const char *name;
    const char *value;
};

/* Render tpl (len bytes) with vars into out. An unknown placeholder renders as nothing;
 * text that is not a well-formed placeholder is copied as it is. */
void web_template(struct wstr *out, const char *tpl, size_t len, const struct web_var *vars,
                  size_t nvars);

/* Decode %XX and '+' of a form value (len bytes) into a malloc'd NUL-terminated string.
 * NULL when the result would hold a NUL byte or a malformed escape. */
char *web_url_decode(const char *s, size_t len);

/* The first value of field name in a urlencoded body (or query string) of len bytes,
 * decoded and malloc'd; NULL when absent or undecodable. */
char *web_form_get(const char *body, size_t len, const char *name);

/* The value of cookie name in a Cookie header, copied into out (size > 0). 0, or -1 when
 * absent or longer than size - 1. */
int web_cookie_get(const char *header, const char *name, char *out, size_t size);

/* Is s (NUL-terminated) made of size-1 lower-case hex digits exactly? For session ids and
 * CSRF tokens before they are used in a Redis key or compared. */
bool web_is_hex_token(const char *s, size_t digits);

/* Compare two strings in time independent of where they differ (tokens). */
bool web_token_equal(const char *a, const char *b);

#endif
