/*
 * result_record.c - format and parse the queue-file record of a recipient's policy result
 * (see result_record.h). The parser works on a bounded line given as (pointer, length):
 * it never reads outside it and never trusts a count from the input.
 */
#include "policy/result_record.h"

#include "lib/hex.h"
#include "lib/xalloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAG "policy "
#define LEVEL_NAME_MAX 64

/* ---- formatting ------------------------------------------------------------------------ */

static void put_number(FILE *f, double v)
{
    char buf[48];
    size_t n;

    if (!isfinite(v))
        v = 0;
    if (v > RESULT_SCORE_MAX)
        v = RESULT_SCORE_MAX;
    if (v < -RESULT_SCORE_MAX)
        v = -RESULT_SCORE_MAX;
    snprintf(buf, sizeof(buf), "%.4f", v);
    for (n = strlen(buf); buf[n - 1] == '0'; n--)
        buf[n - 1] = '\0';
    if (buf[n - 1] == '.')
        buf[n - 1] = '\0';
    fputs(strcmp(buf, "-0") == 0 ? "0" : buf, f);
}

static bool needs_escape(unsigned char c)
{
    return c < 0x21 || c > 0x7e || c == '%' || c == ',' || c == ':' || c == '=';
}

static void put_encoded(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        if (needs_escape((unsigned char)*s))
            fprintf(f, "%%%02X", (unsigned char)*s);
        else
            fputc(*s, f);
    }
}

char *result_record_format(const struct rcpt_result *r)
{
    char *out = NULL;
    size_t len = 0, i;
    FILE *f = open_memstream(&out, &len);

    if (f == NULL)
        abort(); /* out of memory: fatal in Postern */
    fprintf(f, TAG "%zu %s ", r->rcpt, disposition_name(r->disp));
    put_number(f, r->score);
    fputc(' ', f);
    put_number(f, r->tag);
    fputc(' ', f);
    put_number(f, r->spam);
    fprintf(f, " %s%s%s ", r->headers ? "H" : "", r->spam_flag ? "S" : "",
            !r->headers && !r->spam_flag ? "-" : "");
    put_encoded(f, r->level && r->level[0] ? r->level : "-");
    for (i = 0; i < r->nsyms; i++) {
        fputs(i ? "," : " syms=", f);
        put_encoded(f, r->syms[i].name);
        fputc(':', f);
        put_number(f, r->syms[i].score);
    }
    if (r->subject_prefix) {
        fputs(" prefix=", f);
        put_encoded(f, r->subject_prefix);
    }
    if (r->reason) {
        fputs(" reason=", f);
        put_encoded(f, r->reason);
    }
    for (i = 0; i < r->nadd; i++) {
        fputs(" hdr=", f);
        put_encoded(f, r->add_headers[i]);
    }
    fputc('\n', f);
    fclose(f);
    return out;
}

/* ---- parsing --------------------------------------------------------------------------- */

/* A cursor over one line. */
struct cur {
    const char *p, *end;
};

/* The next space-separated token (empty at the end or for two spaces in a row). */
static size_t next_token(struct cur *c, const char **tok)
{
    const char *s = c->p;
    const char *e = memchr(s, ' ', (size_t)(c->end - s));

    if (e == NULL)
        e = c->end;
    *tok = s;
    c->p = e < c->end ? e + 1 : e;
    return (size_t)(e - s);
}

static bool parse_size(const char *s, size_t n, size_t *out)
{
    size_t v = 0, i;

    if (n == 0 || n > 6)
        return false;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* [-]digits[.digits]: at most 7 integer digits and 6 decimals. */
static bool parse_number(const char *s, size_t n, double *out)
{
    char buf[24];
    size_t i = 0, digits = 0, decimals = 0;

    if (n == 0 || n >= sizeof(buf))
        return false;
    if (s[0] == '-')
        i++;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        digits++;
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            decimals++;
        if (decimals == 0)
            return false;
    }
    if (i != n || digits == 0 || digits > 7 || decimals > 6)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return fabs(*out) <= RESULT_SCORE_MAX;
}

/* Percent-decode s[0..n) into a new string; NULL when malformed, too long, or holding a
 * NUL, CR or LF (none may reach a header). */
static char *decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                goto bad;
            hi = hex_value(s[i + 1]);
            lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0)
                goto bad;
            c = hi * 16 + lo;
            i += 2;
        } else if (needs_escape((unsigned char)c)) {
            goto bad;
        }
        if (c == '\0' || c == '\r' || c == '\n')
            goto bad;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    if (o <= RESULT_TEXT_MAX)
        return out;
bad:
    free(out);
    return NULL;
}

static bool level_ok(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return i > 0 && i <= LEVEL_NAME_MAX;
}

/* syms=NAME:SCORE,... */
static bool parse_syms(const char *s, size_t n, struct rcpt_result *r)
{
    const char *end = s + n;

    if (r->syms != NULL || n == 0)
        return false;
    r->syms = xcalloc(RESULT_SYMBOLS_MAX, sizeof(*r->syms));
    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s)), *colon;
        const char *item_end = comma ? comma : end;
        char name[SYMBOL_NAME_MAX + 1];
        size_t nl;
        double v;

        colon = memchr(s, ':', (size_t)(item_end - s));
        if (colon == NULL || r->nsyms == RESULT_SYMBOLS_MAX)
            return false;
        nl = (size_t)(colon - s);
        if (nl == 0 || nl > SYMBOL_NAME_MAX)
            return false;
        memcpy(name, s, nl);
        name[nl] = '\0';
        if (!symbol_name_valid(name) ||
            !parse_number(colon + 1, (size_t)(item_end - colon - 1), &v))
            return false;
        if (r->nsyms > 0 && strcmp(r->syms[r->nsyms - 1].name, name) >= 0)
            return false; /* sorted, no duplicates */
        r->syms[r->nsyms].name = xstrdup(name);
        r->syms[r->nsyms++].score = v;
        if (comma == NULL)
            break;
        s = comma + 1;
        if (s == end)
            return false; /* trailing comma */
    }
    return true;
}

/* A "Name: value" header field: a valid field name (RFC 5322 ftext), ": ", then text. */
static bool header_ok(const char *h)
{
    const char *colon = strchr(h, ':');
    const char *p;

    if (colon == NULL || colon == h || colon[1] != ' ')
        return false;
    for (p = h; p < colon; p++)
        if (*p < 33 || *p > 126)
            return false;
    return true;
}

static bool parse_field(const char *tok, size_t n, struct rcpt_result *r)
{
    const char *eq = memchr(tok, '=', n);
    size_t kl, vl;
    char *v;

    if (eq == NULL)
        return false;
    kl = (size_t)(eq - tok);
    vl = n - kl - 1;
    if (kl == 4 && memcmp(tok, "syms", 4) == 0)
        return parse_syms(eq + 1, vl, r);
    if (!((kl == 6 && memcmp(tok, "prefix", 6) == 0) ||
          (kl == 6 && memcmp(tok, "reason", 6) == 0) || (kl == 3 && memcmp(tok, "hdr", 3) == 0)))
        return true; /* a field of a later version */
    v = decode(eq + 1, vl);
    if (v == NULL)
        return false;
    if (tok[0] == 'p' && r->subject_prefix == NULL) {
        r->subject_prefix = v;
    } else if (tok[0] == 'r' && r->reason == NULL) {
        r->reason = v;
    } else if (tok[0] == 'h' && r->nadd < RESULT_HEADERS_MAX && header_ok(v)) {
        if (r->add_headers == NULL)
            r->add_headers = xcalloc(RESULT_HEADERS_MAX, sizeof(*r->add_headers));
        r->add_headers[r->nadd++] = v;
    } else {
        free(v);
        return false;
    }
    return true;
}

static bool parse_flags(const char *s, size_t n, struct rcpt_result *r)
{
    size_t i;

    if (n == 1 && s[0] == '-')
        return true;
    for (i = 0; i < n; i++) {
        if (s[i] == 'H' && !r->headers)
            r->headers = true;
        else if (s[i] == 'S' && !r->spam_flag)
            r->spam_flag = true;
        else
            return false;
    }
    return n > 0;
}

bool result_record_is(const char *line, size_t len)
{
    return len >= sizeof(TAG) - 1 && memcmp(line, TAG, sizeof(TAG) - 1) == 0;
}

int result_record_parse(const char *line, size_t len, struct rcpt_result *out)
{
    struct cur c = { line, line + len };
    const char *tok;
    char disp[16];
    size_t n;

    memset(out, 0, sizeof(*out));
    if (!result_record_is(line, len) || len > RESULT_RECORD_MAX)
        return -1;
    c.p += sizeof(TAG) - 1;
    n = next_token(&c, &tok);
    if (!parse_size(tok, n, &out->rcpt))
        goto bad;
    n = next_token(&c, &tok);
    if (n == 0 || n >= sizeof(disp))
        goto bad;
    memcpy(disp, tok, n);
    disp[n] = '\0';
    out->disp = disposition_from_name(disp);
    if (out->disp == DISP_NONE || out->disp == DISP_DEFER || out->disp == DISP_REFUSE)
        goto bad;
    n = next_token(&c, &tok);
    if (!parse_number(tok, n, &out->score))
        goto bad;
    n = next_token(&c, &tok);
    if (!parse_number(tok, n, &out->tag))
        goto bad;
    n = next_token(&c, &tok);
    if (!parse_number(tok, n, &out->spam))
        goto bad;
    n = next_token(&c, &tok);
    if (!parse_flags(tok, n, out))
        goto bad;
    n = next_token(&c, &tok);
    out->level = decode(tok, n);
    if (out->level == NULL || (strcmp(out->level, "-") != 0 && !level_ok(out->level)))
        goto bad;
    while (c.p < c.end) {
        n = next_token(&c, &tok);
        if (n == 0 || !parse_field(tok, n, out))
            goto bad;
    }
    if (c.p > line && c.p[-1] == ' ')
        goto bad; /* a trailing space */
    return 0;
bad:
    rcpt_result_clear(out);
    return -1;
}
