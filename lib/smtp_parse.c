/*
 * smtp_parse.c - pure parsers for the SMTP command channel (see smtp_parse.h).
 *
 * Owns: CRLF line framing, the verb table, the RFC 5321 section 4.1.2 path grammar
 * (with the RFC 6531 UTF-8 extensions), ESMTP parameter syntax and HELO argument checks.
 * Called by the SMTP session (relay/), the unit tests and tests/fuzz/fuzz_smtp_cmd.c.
 * Everything here works on (pointer, length) byte ranges: no I/O, no allocation, no
 * state except what the caller passes in, and no dependence on the locale.
 *
 * Path parsing walks a cursor (struct cur) over the argument and copies what it accepts
 * into bounded sinks (struct sink) that count every byte but never write past their end,
 * so length limits are checked after a component is parsed without any overflow risk.
 */
#include "lib/smtp_parse.h"

#include "lib/utf8.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

/* ---- ASCII helpers (locale independent) ---------------------------------------------- */

static bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_letdig(unsigned char c)
{
    return is_alpha(c) || is_digit(c);
}

static char to_lower(unsigned char c)
{
    return (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
}

/* Case-insensitive comparison of n bytes of s with the NUL-terminated ASCII word w. */
static bool ci_equal(const char *s, size_t n, const char *w)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (w[i] == '\0' || to_lower((unsigned char)s[i]) != to_lower((unsigned char)w[i]))
            return false;
    return w[n] == '\0';
}

/* RFC 5322 atext, ASCII part. */
static bool is_atext(unsigned char c)
{
    return is_letdig(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* ---- 1. line framing ------------------------------------------------------------------ */

/* Drop bytes of an over-long line; report TOO_LONG once, when its LF arrives. */
static enum smtp_line_status line_discard(struct smtp_line_reader *rd, const char *buf,
                                          size_t len, size_t *consumed)
{
    const char *lf = len > 0 ? memchr(buf, '\n', len) : NULL;
    if (lf == NULL) {
        *consumed = len;
        return SMTP_LINE_NEED_MORE;
    }
    rd->discarding = false;
    *consumed = (size_t)(lf - buf) + 1;
    return SMTP_LINE_TOO_LONG;
}

/* True when buf[0..len), which holds no LF, already proves the line is longer than max
 * (a final CR may still be the CR of the CR LF, so it does not count yet). */
static bool line_over(size_t max, const char *buf, size_t len)
{
    size_t seen = len > 0 && buf[len - 1] == '\r' ? len - 1 : len;
    return seen > max;
}

/* Status of a complete line of n bytes; crlf tells how it was terminated. */
static enum smtp_line_status line_classify(const char *line, size_t n, bool crlf)
{
    if (!crlf)
        return SMTP_LINE_BARE_LF;
    if (memchr(line, '\r', n) != NULL)
        return SMTP_LINE_BARE_CR;
    if (memchr(line, '\0', n) != NULL)
        return SMTP_LINE_NUL;
    return SMTP_LINE_OK;
}

enum smtp_line_status smtp_line_next(struct smtp_line_reader *rd, const char *buf, size_t len,
                                     size_t *line_len, size_t *consumed)
{
    /* A line end beyond max + 2 bytes cannot end an acceptable line: look no further. */
    size_t window = rd->max > SIZE_MAX - 2 || rd->max + 2 > len ? len : rd->max + 2;
    const char *lf;
    size_t end, n;
    bool crlf;

    *line_len = 0;
    *consumed = 0;
    if (rd->discarding)
        return line_discard(rd, buf, len, consumed);
    lf = len > 0 ? memchr(buf, '\n', window) : NULL;
    if (lf == NULL) {
        if (!line_over(rd->max, buf, len))
            return SMTP_LINE_NEED_MORE;
        rd->discarding = true;
        return line_discard(rd, buf, len, consumed);
    }
    end = (size_t)(lf - buf);
    crlf = end > 0 && buf[end - 1] == '\r';
    n = crlf ? end - 1 : end;
    *consumed = end + 1;
    if (n > rd->max)
        return SMTP_LINE_TOO_LONG;
    *line_len = n;
    return line_classify(buf, n, crlf);
}

/* ---- 2. commands ---------------------------------------------------------------------- */

static const struct {
    const char *name;
    enum smtp_verb verb;
} verb_table[] = {
    { "HELO", SMTP_VERB_HELO },   { "EHLO", SMTP_VERB_EHLO },
    { "MAIL", SMTP_VERB_MAIL },   { "RCPT", SMTP_VERB_RCPT },
    { "DATA", SMTP_VERB_DATA },   { "BDAT", SMTP_VERB_BDAT },
    { "RSET", SMTP_VERB_RSET },   { "NOOP", SMTP_VERB_NOOP },
    { "QUIT", SMTP_VERB_QUIT },   { "VRFY", SMTP_VERB_VRFY },
    { "EXPN", SMTP_VERB_EXPN },   { "HELP", SMTP_VERB_HELP },
    { "STARTTLS", SMTP_VERB_STARTTLS },
    { "AUTH", SMTP_VERB_AUTH },   { "ETRN", SMTP_VERB_ETRN },
};

#define VERB_COUNT (sizeof verb_table / sizeof verb_table[0])

static enum smtp_verb verb_lookup(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < VERB_COUNT; i++)
        if (ci_equal(s, n, verb_table[i].name))
            return verb_table[i].verb;
    return SMTP_VERB_UNKNOWN;
}

const char *smtp_verb_name(enum smtp_verb verb)
{
    size_t i;
    for (i = 0; i < VERB_COUNT; i++)
        if (verb_table[i].verb == verb)
            return verb_table[i].name;
    return "UNKNOWN";
}

int smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *out)
{
    const char *sp = len > 0 ? memchr(line, ' ', len) : NULL;
    size_t vlen = sp != NULL ? (size_t)(sp - line) : len;
    size_t start = vlen, end = len;

    out->verb = verb_lookup(line, vlen);
    out->arg = line;
    out->arg_len = 0;
    if (out->verb == SMTP_VERB_UNKNOWN)
        return -1;
    while (start < len && line[start] == ' ')
        start++;
    while (end > start && line[end - 1] == ' ')
        end--;
    out->arg = line + start;
    out->arg_len = end - start;
    return 0;
}

/* ---- 3. paths: cursor and bounded sink ------------------------------------------------ */

struct cur {
    const unsigned char *p, *end;
};

/* Output that counts every byte but stores at most cap - 1 of them plus a NUL. */
struct sink {
    char *buf;
    size_t cap;
    size_t len;
};

static int cur_peek(const struct cur *c)
{
    return c->p < c->end ? *c->p : -1;
}

static bool cur_take(struct cur *c, unsigned char ch)
{
    if (cur_peek(c) != ch)
        return false;
    c->p++;
    return true;
}

static void cur_skip_sp(struct cur *c)
{
    while (cur_take(c, ' '))
        ;
}

static void sink_put(struct sink *k, char ch)
{
    if (k->len + 1 < k->cap)
        k->buf[k->len] = ch;
    k->len++;
}

static void sink_write(struct sink *k, const char *s, size_t n, bool lower)
{
    size_t i;
    for (i = 0; i < n; i++)
        sink_put(k, lower ? to_lower((unsigned char)s[i]) : s[i]);
}

static void sink_end(struct sink *k)
{
    k->buf[k->len < k->cap ? k->len : k->cap - 1] = '\0';
}

/* Copy one well-formed non-ASCII UTF-8 character; false if malformed. */
static bool take_utf8(struct cur *c, struct sink *k, bool *utf8)
{
    size_t i, n = utf8_seq_len(c->p, (size_t)(c->end - c->p));
    if (n == 0)
        return false;
    for (i = 0; i < n; i++)
        sink_put(k, (char)c->p[i]);
    c->p += n;
    *utf8 = true;
    return true;
}

/* ---- 3a. local part ------------------------------------------------------------------- */

/* Atom = 1*atext (RFC 6531 adds UTF8-non-ascii to atext). */
static bool parse_atom(struct cur *c, struct sink *k, bool *utf8)
{
    const unsigned char *start = c->p;
    while (c->p < c->end) {
        if (*c->p >= 0x80) {
            if (!take_utf8(c, k, utf8))
                return false;
        } else if (is_atext(*c->p)) {
            sink_put(k, (char)*c->p++);
        } else {
            break;
        }
    }
    return c->p > start;
}

/* Dot-string = Atom *("." Atom) */
static bool parse_dot_string(struct cur *c, struct sink *k, bool *utf8)
{
    if (!parse_atom(c, k, utf8))
        return false;
    while (cur_take(c, '.')) {
        sink_put(k, '.');
        if (!parse_atom(c, k, utf8))
            return false;
    }
    return true;
}

/* Quoted-string = DQUOTE *(qtextSMTP / quoted-pairSMTP) DQUOTE; the sink gets the
 * unquoted form. quoted-pairSMTP is "\" followed by %d32-126; qtextSMTP is %d32-126
 * except '"' and '\', plus UTF8-non-ascii (RFC 6531). The caller has refused controls. */
static bool parse_quoted(struct cur *c, struct sink *k, bool *utf8)
{
    c->p++;   /* opening quote */
    while (c->p < c->end) {
        unsigned char ch = *c->p;
        if (ch == '"') {
            c->p++;
            return true;
        }
        if (ch == '\\') {
            if (c->end - c->p < 2 || c->p[1] < 32 || c->p[1] > 126)
                return false;
            sink_put(k, (char)c->p[1]);
            c->p += 2;
        } else if (ch >= 0x80) {
            if (!take_utf8(c, k, utf8))
                return false;
        } else {
            sink_put(k, (char)ch);   /* control characters were refused up front */
            c->p++;
        }
    }
    return false;   /* unbalanced quote */
}

/* True when the unquoted local part s[0..n) may be sent as a Dot-string (no quotes). */
static bool is_dot_string(const char *s, size_t n)
{
    size_t i;
    bool after_dot = true;   /* at the start, or just after a '.' */
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '.') {
            if (after_dot)
                return false;
            after_dot = true;
        } else if (ch >= 0x80 || is_atext(ch)) {   /* UTF-8 was validated when parsed */
            after_dot = false;
        } else {
            return false;
        }
    }
    return !after_dot;
}

/* ---- 3b. domains and address literals ------------------------------------------------- */

/* sub-domain = Let-dig [Ldh-str], lower-cased into the sink; with allow_utf8, a UTF-8
 * character counts as a letter (RFC 6531 U-label). */
static bool parse_subdomain(struct cur *c, struct sink *k, bool allow_utf8, bool *utf8)
{
    size_t n = 0;
    bool last_hyphen = false;
    while (c->p < c->end) {
        unsigned char ch = *c->p;
        if (ch >= 0x80 && allow_utf8) {
            if (!take_utf8(c, k, utf8))
                return false;
        } else if (is_letdig(ch) || (ch == '-' && n > 0)) {
            sink_put(k, to_lower(ch));
            c->p++;
        } else {
            break;
        }
        last_hyphen = ch == '-';
        n++;
    }
    return n > 0 && !last_hyphen;
}

/* Domain = sub-domain *("." sub-domain) */
static bool parse_domain(struct cur *c, struct sink *k, bool allow_utf8, bool *utf8)
{
    if (!parse_subdomain(c, k, allow_utf8, utf8))
        return false;
    while (cur_take(c, '.')) {
        sink_put(k, '.');
        if (!parse_subdomain(c, k, allow_utf8, utf8))
            return false;
    }
    return true;
}

/* True when s[0..n) is an address of family af in the text form inet_pton accepts. */
static bool valid_ip(int af, const char *s, size_t n)
{
    char text[INET6_ADDRSTRLEN];
    unsigned char bin[sizeof(struct in6_addr)];
    if (n >= sizeof text || memchr(s, '\0', n) != NULL)
        return false;
    memcpy(text, s, n);
    text[n] = '\0';
    return inet_pton(af, text, bin) == 1;
}

/* General-address-literal = Standardized-tag ":" 1*dcontent; the tag is an Ldh-str. */
static bool valid_general_literal(const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    size_t i, tag;
    if (colon == NULL || colon == s || colon + 1 == s + n)
        return false;
    tag = (size_t)(colon - s);
    if (!is_letdig((unsigned char)s[tag - 1]))
        return false;
    for (i = 0; i < tag; i++)
        if (!is_letdig((unsigned char)s[i]) && s[i] != '-')
            return false;
    for (i = tag + 1; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 33 || ch > 126 || (ch >= 91 && ch <= 93))
            return false;
    }
    return true;
}

/* address-literal = "[" ( IPv4 / "IPv6:" IPv6 / General-address-literal ) "]".
 * The sink gets the literal with brackets: IPv6 as "[IPv6:" + lower-case address "]",
 * the others as given. */
static bool parse_literal(struct cur *c, struct sink *k)
{
    const unsigned char *close = memchr(c->p, ']', (size_t)(c->end - c->p));
    const char *in = (const char *)c->p + 1;
    size_t n;

    if (close == NULL)
        return false;
    n = (size_t)((const char *)close - in);
    if (n >= 5 && ci_equal(in, 5, "IPv6:")) {
        if (!valid_ip(AF_INET6, in + 5, n - 5))
            return false;
        sink_write(k, "[IPv6:", 6, false);
        sink_write(k, in + 5, n - 5, true);
        sink_put(k, ']');
    } else {
        if (!valid_ip(AF_INET, in, n) && !valid_general_literal(in, n))
            return false;
        sink_write(k, in - 1, n + 2, false);
    }
    c->p = close + 1;
    return true;
}

/* ---- 3c. paths ------------------------------------------------------------------------ */

/* A-d-l = At-domain *( "," At-domain ) ":" ; At-domain = "@" Domain. Checked, dropped. */
static enum smtp_path_status skip_source_route(struct cur *c)
{
    char scratch[SMTP_DOMAIN_MAX + 1];
    bool utf8 = false;
    do {
        struct sink k = { scratch, sizeof scratch, 0 };
        if (!cur_take(c, '@') || !parse_domain(c, &k, true, &utf8))
            return SMTP_PATH_BAD_SYNTAX;
        if (k.len > SMTP_DOMAIN_MAX)
            return SMTP_PATH_TOO_LONG;
    } while (cur_take(c, ','));
    return cur_take(c, ':') ? SMTP_PATH_OK : SMTP_PATH_BAD_SYNTAX;
}

/* Write a->addr from a->local and a->domain: the local part unquoted when it is a
 * Dot-string, else quoted with '\' before '"' and '\'. */
static void write_canonical(struct smtp_addr *a, size_t local_len)
{
    struct sink k = { a->addr, sizeof a->addr, 0 };
    size_t i;
    bool quote = !is_dot_string(a->local, local_len);
    if (quote)
        sink_put(&k, '"');
    for (i = 0; i < local_len; i++) {
        if (quote && (a->local[i] == '"' || a->local[i] == '\\'))
            sink_put(&k, '\\');
        sink_put(&k, a->local[i]);
    }
    if (quote)
        sink_put(&k, '"');
    sink_put(&k, '@');
    sink_write(&k, a->domain, strlen(a->domain), false);
    sink_end(&k);
}

/* Mailbox = Local-part "@" ( Domain / address-literal ) */
static enum smtp_path_status parse_mailbox(struct cur *c, struct smtp_addr *a)
{
    struct sink lp = { a->local, sizeof a->local, 0 };
    struct sink dom = { a->domain, sizeof a->domain, 0 };
    bool ok = cur_peek(c) == '"' ? parse_quoted(c, &lp, &a->utf8)
                                 : parse_dot_string(c, &lp, &a->utf8);
    if (!ok)
        return SMTP_PATH_BAD_SYNTAX;
    if (lp.len > SMTP_LOCAL_MAX)
        return SMTP_PATH_TOO_LONG;
    sink_end(&lp);
    if (!cur_take(c, '@'))
        return SMTP_PATH_BAD_SYNTAX;
    a->literal = cur_peek(c) == '[';
    ok = a->literal ? parse_literal(c, &dom) : parse_domain(c, &dom, true, &a->utf8);
    if (!ok)
        return SMTP_PATH_BAD_SYNTAX;
    if (dom.len > SMTP_DOMAIN_MAX)
        return SMTP_PATH_TOO_LONG;
    sink_end(&dom);
    write_canonical(a, lp.len);
    return SMTP_PATH_OK;
}

/* "<postmaster>" without a domain (RFC 5321 4.1.1.3), any case; RCPT only. */
static bool take_postmaster(struct cur *c, struct smtp_addr *a)
{
    static const char word[] = "postmaster";
    size_t n = sizeof word - 1;
    if ((size_t)(c->end - c->p) <= n || c->p[n] != '>' || !ci_equal((const char *)c->p, n, word))
        return false;
    memcpy(a->local, c->p, n);
    memcpy(a->addr, c->p, n);
    c->p += n;
    return true;
}

/* Path = "<" [ A-d-l ":" ] Mailbox ">", or "<>", or "<postmaster>" for RCPT. */
static enum smtp_path_status parse_path(struct cur *c, bool is_rcpt, struct smtp_addr *a)
{
    enum smtp_path_status st;
    if (!cur_take(c, '<'))
        return SMTP_PATH_BAD_SYNTAX;
    if (cur_take(c, '>')) {
        a->null_path = true;
        return is_rcpt ? SMTP_PATH_NULL_NOT_ALLOWED : SMTP_PATH_OK;
    }
    if (is_rcpt && take_postmaster(c, a))
        return cur_take(c, '>') ? SMTP_PATH_OK : SMTP_PATH_BAD_SYNTAX;
    if (cur_peek(c) == '@' && (st = skip_source_route(c)) != SMTP_PATH_OK)
        return st;
    if ((st = parse_mailbox(c, a)) != SMTP_PATH_OK)
        return st;
    return cur_take(c, '>') ? SMTP_PATH_OK : SMTP_PATH_BAD_SYNTAX;
}

/* ---- 3d. ESMTP parameters ------------------------------------------------------------- */

/* esmtp-value = 1*(%d33-60 / %d62-126 / UTF8-non-ascii), up to the next SP. */
static bool parse_value(struct cur *c)
{
    const unsigned char *start = c->p;
    while (c->p < c->end && *c->p != ' ') {
        size_t n = 1;
        if (*c->p >= 0x80)
            n = utf8_seq_len(c->p, (size_t)(c->end - c->p));
        else if (*c->p < 33 || *c->p > 126 || *c->p == '=')
            n = 0;
        if (n == 0)
            return false;
        c->p += n;
    }
    return c->p > start;
}

/* esmtp-param = esmtp-keyword ["=" esmtp-value], followed by SP or the end.
 * esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static bool parse_param(struct cur *c, struct smtp_param *p)
{
    const unsigned char *start = c->p;
    if (c->p == c->end || !is_letdig(*c->p))
        return false;
    while (c->p < c->end && (is_letdig(*c->p) || *c->p == '-'))
        c->p++;
    p->key = (const char *)start;
    p->key_len = (size_t)(c->p - start);
    if (cur_take(c, '=')) {
        start = c->p;
        if (!parse_value(c))
            return false;
        p->value = (const char *)start;
        p->value_len = (size_t)(c->p - start);
    }
    return c->p == c->end || *c->p == ' ';
}

/* After ">": nothing, or 1*SP esmtp-param *(1*SP esmtp-param), trailing SP tolerated. */
static enum smtp_path_status parse_params(struct cur *c, struct smtp_path_args *out)
{
    if (c->p < c->end && *c->p != ' ')
        return SMTP_PATH_BAD_SYNTAX;   /* e.g. "<a@b>x": the path itself is malformed */
    for (;;) {
        cur_skip_sp(c);
        if (c->p == c->end)
            return SMTP_PATH_OK;
        if (out->nparams == SMTP_PARAMS_MAX || !parse_param(c, &out->params[out->nparams]))
            return SMTP_PATH_BAD_PARAM;
        out->nparams++;
    }
}

/* True if any byte is an ASCII control character (C0 or DEL). */
static bool has_control(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] < 32 || s[i] == 127)
            return true;
    return false;
}

enum smtp_path_status smtp_path_parse(const char *arg, size_t len, bool is_rcpt,
                                      struct smtp_path_args *out)
{
    const char *prefix = is_rcpt ? "TO:" : "FROM:";
    size_t plen = strlen(prefix);
    struct cur c = { (const unsigned char *)arg, (const unsigned char *)arg + len };
    enum smtp_path_status st;

    memset(out, 0, sizeof *out);
    if (has_control(arg, len))
        return SMTP_PATH_BAD_SYNTAX;
    if (len < plen || !ci_equal(arg, plen, prefix))
        return SMTP_PATH_BAD_PREFIX;
    c.p += plen;
    cur_skip_sp(&c);
    if ((st = parse_path(&c, is_rcpt, &out->path)) != SMTP_PATH_OK)
        return st;
    return parse_params(&c, out);
}

const struct smtp_param *smtp_param_find(const struct smtp_path_args *a, const char *key)
{
    size_t i;
    for (i = 0; i < a->nparams; i++)
        if (ci_equal(a->params[i].key, a->params[i].key_len, key))
            return &a->params[i];
    return NULL;
}

int smtp_param_size(const struct smtp_param *p, unsigned long long *out)
{
    unsigned long long v = 0;
    size_t i;
    if (p == NULL || p->value == NULL || p->value_len == 0 || p->value_len > 20)
        return -1;
    for (i = 0; i < p->value_len; i++) {
        unsigned d;
        if (!is_digit((unsigned char)p->value[i]))
            return -1;
        d = (unsigned)(p->value[i] - '0');
        v = v > (ULLONG_MAX - d) / 10 ? ULLONG_MAX : v * 10 + d;   /* saturate */
    }
    *out = v;
    return 0;
}

bool smtp_helo_valid(const char *s, size_t len)
{
    char scratch[SMTP_DOMAIN_MAX + 1];
    struct sink k = { scratch, sizeof scratch, 0 };
    struct cur c = { (const unsigned char *)s, (const unsigned char *)s + len };
    bool utf8 = false, ok;

    if (len == 0 || len > SMTP_DOMAIN_MAX)
        return false;
    if (s[0] == '[') {
        ok = parse_literal(&c, &k);
    } else {
        if (s[len - 1] == '.')
            c.end--;   /* a fully qualified "example.com." */
        ok = parse_domain(&c, &k, false, &utf8);
    }
    return ok && c.p == c.end;
}
