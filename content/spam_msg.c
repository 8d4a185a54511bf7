/*
 * spam_msg.c - takes a message apart for the spam code (spam_msg.h): header fields,
 * multipart structure, transfer encodings and charsets. A small tolerant walker: it never
 * fails, it just sees less of a broken message.
 */
#include "content/spam_msg.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct walk {
    const struct spam_msg_cb *cb;
    int parts;
    size_t text_used;
};

static const char *memfind(const char *h, size_t hl, const char *n, size_t nl)
{
    if (nl == 0 || hl < nl)
        return NULL;
    return memmem(h, hl, n, nl);
}

/* ---- charsets ------------------------------------------------------------------------- */

static const uint16_t cp1252_hi[32] = {
    0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160,
    0x2039, 0x152, 0x8d, 0x17d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013,
    0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178
};

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3f)); return 2;
    }
    o[0] = (char)(0xe0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
}

static bool charset_8bit_single(const char *cs)
{
    return strncmp(cs, "iso-8859-1", 10) == 0 || strcmp(cs, "latin1") == 0 ||
           strcmp(cs, "windows-1252") == 0 || strcmp(cs, "cp1252") == 0 ||
           strncmp(cs, "iso-8859-15", 11) == 0;
}

/* Convert in place-ish: returns a malloc'd buffer (or NULL when no change is needed). */
static char *to_utf8(const char *s, size_t n, const char *cs, size_t *outn)
{
    size_t i, o = 0;
    char *out;

    if (!charset_8bit_single(cs))
        return NULL;
    for (i = 0; i < n && !((unsigned char)s[i] & 0x80); i++)
        ;
    if (i == n)
        return NULL;
    out = malloc(n * 3 + 1);
    if (out == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        unsigned cp = c >= 0x80 && c < 0xa0 ? cp1252_hi[c - 0x80] : c;
        o += put_utf8(out + o, cp);
    }
    out[o] = '\0';
    *outn = o;
    return out;
}

static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        if (c < 0x80) { i++; continue; }
        k = (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 9;
        if (k == 9 || i + k >= n)
            return false;
        for (size_t j = 1; j <= k; j++)
            if (i + j >= n || (s[i + j] & 0xc0) != 0x80)
                return false;
        i += k + 1;
    }
    return true;
}

/* ---- transfer encodings ------------------------------------------------------------------ */

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static size_t b64_decode(const char *in, size_t n, char *out)
{
    unsigned acc = 0;
    int bits = 0;
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        int v = b64val((unsigned char)in[i]);
        if (in[i] == '=')
            break;
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    return o;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = (unsigned char)tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static size_t qp_decode(const char *in, size_t n, char *out, bool header)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        char c = in[i];
        if (c == '=' && i + 2 < n && hexval((unsigned char)in[i + 1]) >= 0 &&
            hexval((unsigned char)in[i + 2]) >= 0) {
            out[o++] = (char)(hexval((unsigned char)in[i + 1]) * 16 +
                              hexval((unsigned char)in[i + 2]));
            i += 2;
        } else if (c == '=' && !header) {
            /* soft line break: skip to after the newline */
            size_t j = i + 1;
            while (j < n && (in[j] == ' ' || in[j] == '\t' || in[j] == '\r'))
                j++;
            if (j < n && in[j] == '\n')
                i = j;
            else
                out[o++] = c;
        } else if (c == '_' && header) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    return o;
}

/* ---- header fields ----------------------------------------------------------------------- */

bool spam_hdr_param(const char *v, size_t vlen, const char *param, char *out, size_t outlen,
                    bool lower)
{
    size_t pl = strlen(param), i = 0, o = 0;

    while (i < vlen) {
        const char *semi = memchr(v + i, ';', vlen - i);
        size_t j;
        if (semi == NULL)
            return false;
        i = (size_t)(semi - v) + 1;
        while (i < vlen && isspace((unsigned char)v[i]))
            i++;
        if (i + pl >= vlen || strncasecmp(v + i, param, pl) != 0)
            continue;
        j = i + pl;
        while (j < vlen && isspace((unsigned char)v[j]))
            j++;
        if (j >= vlen || v[j] != '=')
            continue;
        j++;
        while (j < vlen && isspace((unsigned char)v[j]))
            j++;
        if (j < vlen && v[j] == '"') {
            j++;
            while (j < vlen && v[j] != '"' && o + 1 < outlen) {
                if (v[j] == '\\' && j + 1 < vlen)
                    j++;
                out[o++] = lower ? (char)tolower((unsigned char)v[j]) : v[j];
                j++;
            }
        } else {
            while (j < vlen && v[j] != ';' && !isspace((unsigned char)v[j]) && o + 1 < outlen) {
                out[o++] = lower ? (char)tolower((unsigned char)v[j]) : v[j];
                j++;
            }
        }
        out[o] = '\0';
        return true;
    }
    return false;
}

size_t spam_hdr_decode(const char *in, size_t n, char *out, size_t outlen)
{
    size_t i = 0, o = 0;
    bool last_ew = false;

    if (outlen == 0)
        return 0;
    while (i < n && o + 1 < outlen) {
        if (in[i] == '=' && i + 1 < n && in[i + 1] == '?') {
            /* =?charset?X?text?= */
            const char *q1 = memchr(in + i + 2, '?', n - i - 2), *q2, *end;
            if (q1 && q1 + 2 < in + n && q1[2] == '?' &&
                (q2 = q1 + 3) <= in + n &&
                (end = memfind(q2, (size_t)(in + n - q2), "?=", 2)) != NULL) {
                char cs[32], tmp[1024], *conv;
                size_t csl = (size_t)(q1 - (in + i + 2)), tl = (size_t)(end - q2), dl, cn = 0;
                char enc = (char)toupper((unsigned char)q1[1]);
                if (csl >= sizeof(cs))
                    csl = sizeof(cs) - 1;
                for (size_t k = 0; k < csl; k++)
                    cs[k] = (char)tolower((unsigned char)in[i + 2 + k]);
                cs[csl] = '\0';
                if (tl > sizeof(tmp))
                    tl = sizeof(tmp);
                dl = enc == 'B' ? b64_decode(q2, tl, tmp) : qp_decode(q2, tl, tmp, true);
                conv = to_utf8(tmp, dl, cs, &cn);
                if (conv) {
                    size_t c = cn < outlen - 1 - o ? cn : outlen - 1 - o;
                    memcpy(out + o, conv, c);
                    o += c;
                    free(conv);
                } else {
                    size_t c = dl < outlen - 1 - o ? dl : outlen - 1 - o;
                    memcpy(out + o, tmp, c);
                    o += c;
                }
                i = (size_t)(end - in) + 2;
                last_ew = true;
                continue;
            }
        }
        if (last_ew && (in[i] == ' ' || in[i] == '\t')) {
            /* whitespace between two encoded words is dropped */
            size_t j = i;
            while (j < n && (in[j] == ' ' || in[j] == '\t'))
                j++;
            if (j + 1 < n && in[j] == '=' && in[j + 1] == '?') {
                i = j;
                continue;
            }
        }
        last_ew = false;
        out[o++] = in[i++];
    }
    out[o] = '\0';
    return o;
}

/* Parse a header block starting at p; calls fn for each field; returns the body start. */
typedef void (*field_fn)(void *arg, const char *name, size_t nlen, const char *val, size_t vlen);

static size_t parse_header(const char *p, size_t n, field_fn fn, void *arg)
{
    size_t i = 0;
    char val[8192];

    while (i < n) {
        size_t ls = i, le, nl, colon, vl = 0;
        if (p[i] == '\n')
            return i + 1;
        if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
            return i + 2;
        /* name */
        for (colon = i; colon < n && p[colon] != ':' && p[colon] != '\n'; colon++)
            ;
        if (colon >= n || p[colon] != ':') {
            /* not a field: when it is the very first line, the header is empty */
            const char *e = memchr(p + i, '\n', n - i);
            if (i == 0)
                return 0;
            i = e ? (size_t)(e - p) + 1 : n;
            continue;
        }
        nl = colon - ls;
        while (nl > 0 && (p[ls + nl - 1] == ' ' || p[ls + nl - 1] == '\t'))
            nl--;
        /* value with continuation lines */
        i = colon + 1;
        for (;;) {
            const char *e = memchr(p + i, '\n', n - i);
            le = e ? (size_t)(e - p) : n;
            for (size_t k = i; k < le; k++) {
                if (p[k] == '\r')
                    continue;
                if (vl + 1 < sizeof(val))
                    val[vl++] = p[k] == '\t' ? ' ' : p[k];
            }
            i = e ? le + 1 : n;
            if (i < n && (p[i] == ' ' || p[i] == '\t'))
                continue;
            break;
        }
        {
            size_t s = 0;
            while (s < vl && val[s] == ' ')
                s++;
            while (vl > s && val[vl - 1] == ' ')
                vl--;
            val[vl] = '\0';
            if (nl > 0)
                fn(arg, p + ls, nl, val + s, vl - s);
        }
    }
    return n;
}

struct part_head {
    struct spam_part part;
    bool has_ctype;
};

static void copy_lower(char *out, size_t outlen, const char *v, size_t vl)
{
    size_t o = 0;
    while (o < vl && o + 1 < outlen && v[o] != ';' && !isspace((unsigned char)v[o])) {
        out[o] = (char)tolower((unsigned char)v[o]);
        o++;
    }
    out[o] = '\0';
}

static void part_field(void *arg, const char *name, size_t nlen, const char *v, size_t vl)
{
    struct part_head *h = arg;
    struct spam_part *p = &h->part;

    if (nlen == 12 && strncasecmp(name, "content-type", 12) == 0) {
        copy_lower(p->ctype, sizeof(p->ctype), v, vl);
        h->has_ctype = strchr(p->ctype, '/') != NULL;
        spam_hdr_param(v, vl, "charset", p->charset, sizeof(p->charset), true);
        spam_hdr_param(v, vl, "boundary", p->boundary, sizeof(p->boundary), false);
        if (p->filename[0] == '\0' &&
            spam_hdr_param(v, vl, "name", p->filename, sizeof(p->filename), false)) {
            char tmp[sizeof(p->filename)];
            spam_hdr_decode(p->filename, strlen(p->filename), tmp, sizeof(tmp));
            memcpy(p->filename, tmp, sizeof(tmp));
        }
    } else if (nlen == 25 && strncasecmp(name, "content-transfer-encoding", 25) == 0) {
        copy_lower(p->cte, sizeof(p->cte), v, vl);
    } else if (nlen == 19 && strncasecmp(name, "content-disposition", 19) == 0) {
        if (vl >= 10 && strncasecmp(v, "attachment", 10) == 0)
            p->attachment = true;
        if (spam_hdr_param(v, vl, "filename", p->filename, sizeof(p->filename), false)) {
            char tmp[sizeof(p->filename)];
            spam_hdr_decode(p->filename, strlen(p->filename), tmp, sizeof(tmp));
            memcpy(p->filename, tmp, sizeof(tmp));
        }
    }
}

struct top_field {
    struct part_head *h;
    const struct spam_msg_cb *cb;
};

static void top_field(void *arg, const char *name, size_t nlen, const char *v, size_t vl)
{
    struct top_field *t = arg;

    part_field(t->h, name, nlen, v, vl);
    if (t->cb->header)
        t->cb->header(t->cb->arg, name, nlen, v, vl);
}

static void walk_part(struct walk *w, const char *p, size_t n, int depth, bool top,
                      bool digest);

static void walk_multipart(struct walk *w, const char *body, size_t n, const char *boundary,
                           int depth, bool digest)
{
    char delim[96];
    size_t dl, i = 0;
    const char *start = NULL;

    dl = (size_t)snprintf(delim, sizeof(delim), "--%s", boundary);
    if (dl >= sizeof(delim) || boundary[0] == '\0')
        return;
    while (i < n) {
        const char *e = memchr(body + i, '\n', n - i);
        size_t le = e ? (size_t)(e - body) : n;
        if (le - i >= dl && memcmp(body + i, delim, dl) == 0) {
            bool last = le - i >= dl + 2 && body[i + dl] == '-' && body[i + dl + 1] == '-';
            if (start != NULL) {
                size_t plen = (size_t)(body + i - start);
                /* the newline before the delimiter belongs to it */
                if (plen > 0 && start[plen - 1] == '\n')
                    plen--;
                if (plen > 0 && start[plen - 1] == '\r')
                    plen--;
                walk_part(w, start, plen, depth + 1, false, digest);
            }
            if (last)
                return;
            start = e ? e + 1 : body + n;
        }
        i = e ? le + 1 : n;
    }
    if (start != NULL && start < body + n)
        walk_part(w, start, (size_t)(body + n - start), depth + 1, false, digest);
}

static void walk_part(struct walk *w, const char *p, size_t n, int depth, bool top,
                      bool digest)
{
    struct part_head h;
    struct top_field tf;
    size_t bstart;
    const char *body;
    size_t blen;

    if (depth > SPAM_MSG_DEPTH_MAX || w->parts >= SPAM_MSG_PARTS_MAX)
        return;
    w->parts++;
    memset(&h, 0, sizeof(h));
    if (top) {
        tf.h = &h;
        tf.cb = w->cb;
        bstart = parse_header(p, n, top_field, &tf);
    } else {
        bstart = parse_header(p, n, part_field, &h);
    }
    if (!h.has_ctype)
        strcpy(h.part.ctype, digest ? "message/rfc822" : "text/plain");
    h.part.depth = depth;
    body = p + bstart;
    blen = n - bstart;
    if (strncmp(h.part.ctype, "multipart/", 10) == 0) {
        h.part.multipart = true;
        h.part.len = blen;
        if (w->cb->part)
            w->cb->part(w->cb->arg, &h.part);
        walk_multipart(w, body, blen, h.part.boundary, depth,
                       strcmp(h.part.ctype, "multipart/digest") == 0);
        return;
    }
    if (strcmp(h.part.ctype, "message/rfc822") == 0 && !h.part.attachment) {
        h.part.len = blen;
        if (w->cb->part)
            w->cb->part(w->cb->arg, &h.part);
        walk_part(w, body, blen, depth + 1, false, false);
        return;
    }
    {
        char *dec = NULL, *conv;
        const char *data = body;
        size_t dlen = blen, cn = 0;
        bool text = strncmp(h.part.ctype, "text/", 5) == 0 && !(h.part.attachment &&
                    strcmp(h.part.ctype, "text/plain") != 0 && strcmp(h.part.ctype, "text/html") != 0);

        if (strcmp(h.part.cte, "base64") == 0) {
            dec = malloc(blen / 4 * 3 + 4);
            if (dec == NULL)
                return;
            dlen = b64_decode(body, blen, dec);
            data = dec;
        } else if (strcmp(h.part.cte, "quoted-printable") == 0) {
            dec = malloc(blen + 1);
            if (dec == NULL)
                return;
            dlen = qp_decode(body, blen, dec, false);
            data = dec;
        }
        h.part.len = dlen;
        if (text && w->text_used < SPAM_MSG_TEXT_MAX) {
            bool ascii = true;
            if (dlen > SPAM_MSG_TEXT_MAX - w->text_used)
                dlen = SPAM_MSG_TEXT_MAX - w->text_used;
            w->text_used += dlen;
            for (size_t k = 0; k < dlen && ascii; k++)
                ascii = !((unsigned char)data[k] & 0x80);
            if (!ascii && (h.part.charset[0] == '\0' || strcmp(h.part.charset, "us-ascii") == 0))
                h.part.bad_charset = true;
            if (!ascii && strcmp(h.part.charset, "utf-8") == 0 &&
                !valid_utf8((const unsigned char *)data, dlen))
                h.part.bad_charset = true;
            conv = to_utf8(data, dlen, h.part.charset, &cn);
            if (conv) {
                free(dec);
                dec = conv;
                data = conv;
                dlen = cn;
            }
            h.part.data = data;
            h.part.len = dlen;
        }
        if (w->cb->part)
            w->cb->part(w->cb->arg, &h.part);
        free(dec);
    }
}

void spam_msg_walk(const char *msg, size_t len, const struct spam_msg_cb *cb)
{
    struct walk w = { .cb = cb, .parts = 0, .text_used = 0 };

    walk_part(&w, msg, len, 0, true, false);
}
