/*
 * smtp_reply_parse.c - pure parser of SMTP/LMTP server replies and EHLO keywords
 * (see smtp_reply_parse.h). No I/O, no allocation, no globals but constant tables.
 */
#include "lib/smtp_reply_parse.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#define CODE_LEN       3     /* "250" */
#define CODE_SEP_LEN   4     /* "250-" / "250 " */
#define ENH_PART_MAX   3     /* RFC 3463: subject and detail have 1..3 digits */
#define PRINTABLE_MIN  0x20
#define PRINTABLE_MAX  0x7e
#define DECIMAL        10ULL

/* ---- framing ----------------------------------------------------------------------------- */

/* The first n (<= 4) bytes of a line could start a valid reply line. */
static bool prefix_ok(const char *p, size_t n)
{
    if (n > 0 && (p[0] < '2' || p[0] > '5'))
        return false;
    if (n > 1 && (p[1] < '0' || p[1] > '5'))
        return false;
    if (n > 2 && (p[2] < '0' || p[2] > '9'))
        return false;
    if (n > CODE_LEN && p[CODE_LEN] != '-' && p[CODE_LEN] != ' ')
        return false;
    return true;
}

static int code_of(const char *p)
{
    return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

/* "X.Y.Z" at the start of the first line, X matching the reply class. */
static void parse_enhanced(struct smtp_reply *r)
{
    const struct smtp_reply_line *l = &r->lines[0];
    size_t i = 0, part;

    r->enhanced[0] = '\0';
    if (l->len < 1 || l->text[0] != (char)('0' + r->code / 100))
        return;
    i = 1;
    for (part = 0; part < 2; part++) {
        size_t digits = 0;
        if (i >= l->len || l->text[i] != '.')
            return;
        i++;
        while (i < l->len && l->text[i] >= '0' && l->text[i] <= '9' && digits < ENH_PART_MAX + 1) {
            i++;
            digits++;
        }
        if (digits == 0 || digits > ENH_PART_MAX)
            return;
    }
    if (i < l->len && l->text[i] != ' ')
        return;
    memcpy(r->enhanced, l->text, i);
    r->enhanced[i] = '\0';
}

enum smtp_reply_status smtp_reply_parse(const char *buf, size_t len,
                                        const struct smtp_reply_limits *limits,
                                        struct smtp_reply *out, size_t *consumed)
{
    size_t lines_max = limits->lines_max;
    size_t pos = 0;

    if (lines_max == 0 || lines_max > SMTP_REPLY_LINES_CAP)
        lines_max = SMTP_REPLY_LINES_CAP;
    *consumed = 0;
    out->nlines = 0;
    for (;;) {
        const char *line = buf + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t avail = nl ? (size_t)(nl - line) : len - pos;
        size_t line_len = avail;
        int code;

        /* a CR last is a line end's, or (incomplete line) maybe one still on its way */
        if (line_len > 0 && line[line_len - 1] == '\r')
            line_len--;
        if (!prefix_ok(line, line_len < CODE_SEP_LEN ? line_len : CODE_SEP_LEN))
            return SMTP_REPLY_SYNTAX;
        if (line_len > limits->line_max)
            return SMTP_REPLY_TOO_LONG;
        if (nl == NULL)
            return memchr(line, '\0', avail) ? SMTP_REPLY_SYNTAX : SMTP_REPLY_NEED_MORE;
        if (line_len < CODE_LEN || memchr(line, '\0', line_len))
            return SMTP_REPLY_SYNTAX;
        code = code_of(line);
        if (out->nlines > 0 && code != out->code)
            return SMTP_REPLY_SYNTAX;
        out->code = code;
        out->lines[out->nlines].text = line + (line_len > CODE_LEN ? CODE_SEP_LEN : CODE_LEN);
        out->lines[out->nlines].len = line_len > CODE_LEN ? line_len - CODE_SEP_LEN : 0;
        out->nlines++;
        pos += avail + 1;
        if (line_len == CODE_LEN || line[CODE_LEN] == ' ') {
            parse_enhanced(out);
            *consumed = pos;
            return SMTP_REPLY_OK;
        }
        if (out->nlines == lines_max)
            return SMTP_REPLY_TOO_MANY_LINES;
    }
}

/* ---- text -------------------------------------------------------------------------------- */

size_t smtp_reply_text(const struct smtp_reply *r, char *dst, size_t cap)
{
    size_t enh_len = strlen(r->enhanced), n = 0, i, k;

    for (i = 0; i < r->nlines; i++) {
        const char *t = r->lines[i].text;
        size_t tl = r->lines[i].len;
        if (enh_len > 0 && tl >= enh_len && memcmp(t, r->enhanced, enh_len) == 0 &&
            (tl == enh_len || t[enh_len] == ' ')) {
            t += enh_len;
            tl -= enh_len;
            if (tl > 0) {
                t++;
                tl--;
            }
        }
        if (tl == 0)
            continue;
        if (n > 0 && n + 1 < cap)
            dst[n++] = ' ';
        for (k = 0; k < tl && n + 1 < cap; k++) {
            unsigned char ch = (unsigned char)t[k];
            dst[n++] = ch >= PRINTABLE_MIN && ch <= PRINTABLE_MAX ? (char)ch : '?';
        }
    }
    if (cap > 0)
        dst[n] = '\0';
    return n;
}

/* ---- EHLO keywords ------------------------------------------------------------------------- */

static const struct {
    const char *name;
    unsigned flag;
} ehlo_keywords[] = {
    { "PIPELINING", SMTP_EXT_PIPELINING },
    { "SIZE", SMTP_EXT_SIZE },
    { "8BITMIME", SMTP_EXT_8BITMIME },
    { "STARTTLS", SMTP_EXT_STARTTLS },
    { "AUTH", SMTP_EXT_AUTH },
    { "SMTPUTF8", SMTP_EXT_SMTPUTF8 },
    { "CHUNKING", SMTP_EXT_CHUNKING },
    { "ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCED },
    { "DSN", SMTP_EXT_DSN },
};

#define AUTH_OLD_PREFIX "AUTH="

static bool word_is(const char *w, size_t n, const char *name)
{
    return strlen(name) == n && strncasecmp(w, name, n) == 0;
}

/* Next space-separated word of t[*i..len); false at the end. */
static bool next_word(const char *t, size_t len, size_t *i, const char **w, size_t *n)
{
    while (*i < len && t[*i] == ' ')
        (*i)++;
    if (*i >= len)
        return false;
    *w = t + *i;
    while (*i < len && t[*i] != ' ')
        (*i)++;
    *n = (size_t)(t + *i - *w);
    return true;
}

static unsigned auth_mech(const char *w, size_t n)
{
    if (word_is(w, n, "PLAIN"))
        return SMTP_AUTH_PLAIN;
    if (word_is(w, n, "LOGIN"))
        return SMTP_AUTH_LOGIN;
    return SMTP_AUTH_OTHER;
}

/* SIZE's value: decimal digits only; 0 for anything else or an overflow (no usable limit). */
static unsigned long long size_value(const char *w, size_t n)
{
    unsigned long long v = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned d;
        if (w[i] < '0' || w[i] > '9')
            return 0;
        d = (unsigned)(w[i] - '0');
        if (v > (~0ULL - d) / DECIMAL)
            return 0;
        v = v * DECIMAL + d;
    }
    return v;
}

static void ehlo_line(const char *t, size_t len, struct smtp_ehlo *out)
{
    const char *w, *p;
    size_t n, pn, i = 0, k;
    size_t old = strlen(AUTH_OLD_PREFIX);

    if (!next_word(t, len, &i, &w, &n))
        return;
    if (n > old && strncasecmp(w, AUTH_OLD_PREFIX, old) == 0) {
        out->ext |= SMTP_EXT_AUTH;
        out->auth |= auth_mech(w + old, n - old);
        while (next_word(t, len, &i, &p, &pn))
            out->auth |= auth_mech(p, pn);
        return;
    }
    for (k = 0; k < sizeof(ehlo_keywords) / sizeof(ehlo_keywords[0]); k++)
        if (word_is(w, n, ehlo_keywords[k].name))
            break;
    if (k == sizeof(ehlo_keywords) / sizeof(ehlo_keywords[0]))
        return;
    out->ext |= ehlo_keywords[k].flag;
    if (ehlo_keywords[k].flag == SMTP_EXT_SIZE && next_word(t, len, &i, &p, &pn))
        out->size_max = size_value(p, pn);
    if (ehlo_keywords[k].flag == SMTP_EXT_AUTH)
        while (next_word(t, len, &i, &p, &pn))
            out->auth |= auth_mech(p, pn);
}

void smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *out)
{
    size_t i;

    memset(out, 0, sizeof(*out));
    if (r->code / 100 != 2)
        return;
    for (i = 1; i < r->nlines; i++)
        ehlo_line(r->lines[i].text, r->lines[i].len, out);
}
