/*
 * mime_header.c - MIME header field values (see mime_header.h): tokens, parameters with
 * RFC 2231 continuations and charsets, RFC 2047 encoded words. Everything is bounded by
 * fixed local buffers; what does not fit is cut and flagged.
 */
#include "content/mime_header.h"

#include "content/charset.h"
#include "content/mime.h"
#include "lib/base64.h"
#include "lib/hex.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PARAM_RAW_MAX   2048   /* bytes of one parameter, all sections together */
#define PARAM_SECT_MAX  64     /* RFC 2231 sections of one parameter */
#define WORD_RAW_MAX    1024   /* decoded bytes of a run of encoded words */

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    return s;
}

static bool tspecial(int c)
{
    return c <= ' ' || c >= 0x7f || strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

void mime_hdr_token(const char *value, char *out, size_t out_size)
{
    const char *s = skip_ws(value);
    size_t n = 0;

    while (*s != '\0' && *s != ';' && *s != ' ' && *s != '\t' && *s != '(' &&
           n + 1 < out_size)
        out[n++] = (char)tolower((unsigned char)*s++);
    out[n] = '\0';
}

bool mime_hdr_type(const char *value, char *out, size_t out_size)
{
    const char *s = skip_ws(value);
    size_t n = 0, major = 0, minor = 0;
    bool slash = false;

    while (*s != '\0' && n + 1 < out_size) {
        int c = (unsigned char)*s;
        if (c == '/' && !slash) {
            slash = true;
        } else if (tspecial(c)) {
            break;
        } else if (slash) {
            minor++;
        } else {
            major++;
        }
        out[n++] = (char)tolower(c);
        s++;
    }
    out[n] = '\0';
    return slash && major > 0 && minor > 0;
}

/* ---- parameters -------------------------------------------------------------------- */

struct sect {
    bool present, ext;
    size_t off, len;
};

/* %XX-decode in place; returns the new length. */
static size_t pct_decode(char *s, size_t len, unsigned *flags)
{
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len &&
            hex_value((unsigned char)s[i + 1]) >= 0 && hex_value((unsigned char)s[i + 2]) >= 0) {
            s[o++] = (char)(hex_value((unsigned char)s[i + 1]) * 16 +
                            hex_value((unsigned char)s[i + 2]));
            i += 2;
        } else {
            if (s[i] == '%')
                *flags |= MIME_F_BAD_HEADER_VALUE;
            s[o++] = s[i];
        }
    }
    return o;
}

/* Reads one value at s (quoted string, or up to ';' with trailing white space cut,
 * leniently: unquoted names with spaces are common) into buf at *used. Returns the end. */
static const char *read_value(const char *s, char *buf, size_t *used, size_t *len)
{
    size_t start = *used;

    if (*s == '"') {
        s++;
        while (*s != '\0' && *s != '"') {
            if (*s == '\\' && s[1] != '\0')
                s++;
            if (*used + 1 < PARAM_RAW_MAX)
                buf[(*used)++] = *s;
            s++;
        }
        if (*s == '"')
            s++;
        while (*s != '\0' && *s != ';')
            s++;
    } else {
        while (*s != '\0' && *s != ';') {
            if (*used + 1 < PARAM_RAW_MAX)
                buf[(*used)++] = *s;
            s++;
        }
        while (*used > start && (buf[*used - 1] == ' ' || buf[*used - 1] == '\t' ||
                                 buf[*used - 1] == '\r' || buf[*used - 1] == '\n'))
            (*used)--;
    }
    *len = *used - start;
    return s;
}

/* Skip a quoted string or plain text up to the next ';' outside quotes. */
static const char *skip_to_semi(const char *s)
{
    bool q = false;

    for (; *s != '\0'; s++) {
        if (q && *s == '\\' && s[1] != '\0')
            s++;
        else if (*s == '"')
            q = !q;
        else if (!q && *s == ';')
            break;
    }
    return s;
}

/* Convert the raw bytes of an RFC 2231 value (charset'lang'bytes) to UTF-8. */
static void ext_to_utf8(char *raw, size_t len, char *out, size_t out_size, unsigned *flags)
{
    char cs[64] = "";
    char *q1 = memchr(raw, '\'', len), *q2;
    const char *data = raw;
    size_t dlen = len;

    if (q1 != NULL && (q2 = memchr(q1 + 1, '\'', len - (size_t)(q1 + 1 - raw))) != NULL) {
        snprintf(cs, sizeof(cs), "%.*s", (int)(q1 - raw), raw);
        data = q2 + 1;
        dlen = len - (size_t)(data - raw);
    } else {
        *flags |= MIME_F_BAD_HEADER_VALUE;
    }
    charset_to_utf8(cs, data, dlen, out, out_size, NULL);
}

bool mime_hdr_param(const char *value, const char *pname, bool decode, char *out,
                    size_t out_size, unsigned *flags)
{
    char buf[PARAM_RAW_MAX];
    struct sect sect[PARAM_SECT_MAX];
    size_t used = 0, plain_off = 0, plain_len = 0, ext_off = 0, ext_len = 0, plen;
    bool have_plain = false, have_ext = false, have_sect = false;
    const char *s = value;
    unsigned dummy = 0;

    if (flags == NULL)
        flags = &dummy;
    memset(sect, 0, sizeof(sect));
    out[0] = '\0';
    plen = strlen(pname);
    s = skip_to_semi(s);   /* past the type or disposition token */
    while (*s == ';') {
        const char *a, *ae;
        s = skip_ws(s + 1);
        a = s;
        while (*s != '\0' && *s != '=' && *s != ';')
            s++;
        if (*s != '=') {
            if (s > a)
                *flags |= MIME_F_BAD_HEADER_VALUE;
            continue;
        }
        ae = s;
        while (ae > a && (ae[-1] == ' ' || ae[-1] == '\t'))
            ae--;
        s = skip_ws(s + 1);
        if ((size_t)(ae - a) < plen || strncasecmp(a, pname, plen) != 0 ||
            (a + plen < ae && a[plen] != '*')) {
            s = skip_to_semi(s);
            continue;
        }
        if (a + plen == ae) {                           /* name= */
            size_t off = used, len;
            s = read_value(s, buf, &used, &len);
            if (have_plain)
                *flags |= MIME_F_BAD_HEADER_VALUE;
            else
                plain_off = off, plain_len = len, have_plain = true;
        } else if (a + plen + 1 == ae) {                 /* name*= */
            size_t off = used, len;
            s = read_value(s, buf, &used, &len);
            if (have_ext)
                *flags |= MIME_F_BAD_HEADER_VALUE;
            else
                ext_off = off, ext_len = len, have_ext = true;
        } else {                                         /* name*N= or name*N*= */
            const char *d = a + plen + 1;
            unsigned n = 0;
            bool ext = false, ok = d < ae && isdigit((unsigned char)*d);
            size_t off = used, len;
            while (d < ae && isdigit((unsigned char)*d) && n < 1000)
                n = n * 10 + (unsigned)(*d++ - '0');
            if (d < ae && *d == '*') {
                ext = true;
                d++;
            }
            s = read_value(s, buf, &used, &len);
            if (!ok || d != ae || n >= PARAM_SECT_MAX || sect[n].present) {
                *flags |= MIME_F_BAD_HEADER_VALUE;
                continue;
            }
            sect[n].present = true;
            sect[n].ext = ext;
            sect[n].off = off;
            sect[n].len = len;
            have_sect = true;
        }
    }
    if (!have_plain && !have_ext && !have_sect)
        return false;
    if (!decode) {
        size_t off = have_plain ? plain_off : have_ext ? ext_off : sect[0].off;
        size_t len = have_plain ? plain_len : have_ext ? ext_len : sect[0].len;
        snprintf(out, out_size, "%.*s", (int)len, buf + off);
        return true;
    }
    if (have_sect && sect[0].present) {
        char raw[PARAM_RAW_MAX];
        size_t r = 0, n;
        bool any_ext = sect[0].ext;
        for (n = 0; n < PARAM_SECT_MAX && sect[n].present; n++) {
            char *p = buf + sect[n].off;
            size_t len = sect[n].len;
            if (sect[n].ext)
                len = pct_decode(p, len, flags);
            if (r + len >= sizeof(raw))
                len = sizeof(raw) - 1 - r;
            memcpy(raw + r, p, len);
            r += len;
        }
        if (n < PARAM_SECT_MAX)
            for (; n < PARAM_SECT_MAX; n++)
                if (sect[n].present)
                    *flags |= MIME_F_BAD_HEADER_VALUE;   /* a gap in the sections */
        if (any_ext)
            ext_to_utf8(raw, r, out, out_size, flags);
        else
            mime_decode_words(raw, r, out, out_size, flags);
        return true;
    }
    if (have_ext) {
        size_t len = pct_decode(buf + ext_off, ext_len, flags);
        ext_to_utf8(buf + ext_off, len, out, out_size, flags);
        return true;
    }
    if (have_plain) {
        mime_decode_words(buf + plain_off, plain_len, out, out_size, flags);
        return true;
    }
    *flags |= MIME_F_BAD_HEADER_VALUE;    /* sections without section 0 */
    return false;
}

/* ---- RFC 2047 ------------------------------------------------------------------------ */

struct words_out {
    char *out;
    size_t size, len;
    char raw[WORD_RAW_MAX];       /* decoded bytes of consecutive words of one charset */
    size_t raw_len;
    char cs[64];
};

static void put_utf8(struct words_out *w, const char *cs, const char *p, size_t n)
{
    if (w->len + 1 >= w->size)
        return;
    w->len += charset_to_utf8(cs, p, n, w->out + w->len, w->size - w->len, NULL);
}

static void flush_raw(struct words_out *w)
{
    if (w->raw_len > 0)
        put_utf8(w, w->cs, w->raw, w->raw_len);
    w->raw_len = 0;
}

/* Decode one word's text into w->raw. */
static void decode_text(struct words_out *w, int enc, const char *t, size_t n, unsigned *flags)
{
    size_t i;

    if (enc == 'b') {
        unsigned acc = 0, bits = 0;
        for (i = 0; i < n; i++) {
            int v = base64_value((unsigned char)t[i]);
            if (v < 0) {
                if (t[i] != '=')
                    *flags |= MIME_F_BAD_HEADER_VALUE;
                continue;
            }
            acc = (acc << 6) | (unsigned)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                if (w->raw_len < sizeof(w->raw))
                    w->raw[w->raw_len++] = (char)((acc >> bits) & 0xff);
            }
        }
        return;
    }
    for (i = 0; i < n; i++) {
        char c = t[i];
        if (c == '_') {
            c = ' ';
        } else if (c == '=' && i + 2 < n &&
                   hex_value((unsigned char)t[i + 1]) >= 0 && hex_value((unsigned char)t[i + 2]) >= 0) {
            c = (char)(hex_value((unsigned char)t[i + 1]) * 16 + hex_value((unsigned char)t[i + 2]));
            i += 2;
        } else if (c == '=') {
            *flags |= MIME_F_BAD_HEADER_VALUE;
        }
        if (w->raw_len < sizeof(w->raw))
            w->raw[w->raw_len++] = c;
    }
}

/* If an encoded word starts at in[i], decode it and return its end; else return i. */
static size_t one_word(struct words_out *w, const char *in, size_t len, size_t i,
                       unsigned *flags)
{
    size_t cs0 = i + 2, j = cs0, cs1, t0, t1;
    int enc;
    char cs[64];
    char *star;

    if (i + 1 >= len || in[i] != '=' || in[i + 1] != '?')
        return i;
    while (j < len && in[j] != '?' && in[j] != ' ' && in[j] != '\t' && j - cs0 < 60)
        j++;
    if (j + 2 >= len || in[j] != '?' || j == cs0 || in[j + 2] != '?')
        return i;
    cs1 = j;
    enc = tolower((unsigned char)in[j + 1]);
    if (enc != 'b' && enc != 'q')
        return i;
    t0 = j + 3;
    for (t1 = t0; t1 + 1 < len; t1++)
        if (in[t1] == '?' && in[t1 + 1] == '=')
            break;
    if (t1 + 1 >= len)
        return i;
    snprintf(cs, sizeof(cs), "%.*s", (int)(cs1 - cs0), in + cs0);
    if ((star = strchr(cs, '*')) != NULL)    /* RFC 2231 language suffix */
        *star = '\0';
    if (w->raw_len > 0 && strcasecmp(cs, w->cs) != 0)
        flush_raw(w);
    snprintf(w->cs, sizeof(w->cs), "%s", cs);
    decode_text(w, enc, in + t0, t1 - t0, flags);
    return t1 + 2;
}

size_t mime_decode_words(const char *in, size_t len, char *out, size_t out_size,
                         unsigned *flags)
{
    struct words_out w;
    size_t i = 0, text0 = 0;
    unsigned dummy = 0;
    bool after_word = false;

    if (flags == NULL)
        flags = &dummy;
    if (out_size == 0)
        return 0;
    memset(&w, 0, sizeof(w));
    w.out = out;
    w.size = out_size;
    out[0] = '\0';
    while (i < len) {
        size_t e = one_word(&w, in, len, i, flags);
        if (e > i) {
            /* text since the last word, unless it is white space between two words */
            size_t k;
            bool ws = after_word;
            for (k = text0; k < i && ws; k++)
                ws = in[k] == ' ' || in[k] == '\t' || in[k] == '\r' || in[k] == '\n';
            if (!ws && i > text0) {
                flush_raw(&w);
                put_utf8(&w, NULL, in + text0, i - text0);
            }
            i = text0 = e;
            after_word = true;
            continue;
        }
        i++;
    }
    flush_raw(&w);
    if (len > text0)
        put_utf8(&w, NULL, in + text0, len - text0);
    return w.len;
}
