/*
 * spam_tok.c - the spam tokenizer (spam_tok.h): walks the message through spam_msg.h and
 * turns what a reader sees into hashed features, collecting the rules' facts on the way.
 *
 * A feature is the hash of (context, token): contexts keep the Subject's words apart from
 * the body's, hidden text apart from visible text, and so on. Words of the body and the
 * Subject also give orthogonal sparse bigrams: each word paired with each of the
 * SPAM_OSB_WINDOW words before it, the distance being part of the feature.
 */
#include "content/spam_tok.h"

#include "content/mime_header.h"
#include "content/spam_msg.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORD_MAX     40
#define GTUBE        "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

/* contexts (one byte mixed into the hash) */
enum {
    C_BODY = 'b', C_SUBJ = 's', C_HID = 'h', C_FROMN = 'f', C_FROMD = 'F', C_TON = 't',
    C_TOD = 'T', C_RTD = 'r', C_MAILER = 'm', C_HDR = 'H', C_URL = 'u', C_ATT = 'a',
    C_SHAPE = 'x', C_TAG = 'g', C_CAPS = 'C', C_ALT = 'l',
};

struct tok {
    struct spam_features *f;
    struct spam_facts *facts;
    uint64_t prev[SPAM_OSB_WINDOW];   /* previous word hashes of the running sequence */
    int nprev;
    int seq_ctx;
    char from_dom[128];
    char reply_dom[128];
    char subject_cs[32];
    bool has_mimeole, has_threadidx;
    char mailer[160];
    int ct_top_multipart;
    bool top_seen;
    int nurl;
};

/* ---- hashing ------------------------------------------------------------------------- */

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t spam_hash(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ seed;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return mix64(h);
}

static void feat_add(struct tok *t, uint64_t h)
{
    struct spam_features *f = t->f;

    if (f->n >= SPAM_FEATURES_MAX)
        return;
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 1024;
        uint64_t *nv = realloc(f->v, nc * sizeof(*nv));
        if (nv == NULL)
            return;
        f->v = nv;
        f->cap = nc;
    }
    f->v[f->n++] = h ? h : 1;
}

static void tok_add(struct tok *t, int ctx, const char *s, size_t n)
{
    feat_add(t, spam_hash(s, n, (uint64_t)ctx * 0x9e3779b97f4a7c15ULL));
}

static void tok_addf(struct tok *t, int ctx, const char *a, const char *b)
{
    char buf[256];
    size_t la = strlen(a), lb = b ? strlen(b) : 0;

    if (la + lb >= sizeof(buf))
        lb = sizeof(buf) - 1 - la;
    memcpy(buf, a, la);
    if (lb)
        memcpy(buf + la, b, lb);
    tok_add(t, ctx, buf, la + lb);
}

/* A word of a sequence: its unigram and its bigrams with the previous words. */
static void seq_reset(struct tok *t, int ctx)
{
    t->nprev = 0;
    t->seq_ctx = ctx;
}

static void seq_word(struct tok *t, const char *w, size_t n)
{
    uint64_t h = spam_hash(w, n, (uint64_t)t->seq_ctx * 0x9e3779b97f4a7c15ULL);
    int d;

    feat_add(t, h);
    if (t->seq_ctx == C_BODY || t->seq_ctx == C_SUBJ)
        for (d = 0; d < t->nprev; d++)
            feat_add(t, mix64(t->prev[d] * 0x2545f4914f6cdd1dULL + h + (uint64_t)(d + 1) * 0x632be59bd9b4e019ULL));
    memmove(t->prev + 1, t->prev, sizeof(t->prev[0]) * (SPAM_OSB_WINDOW - 1));
    t->prev[0] = h;
    if (t->nprev < SPAM_OSB_WINDOW)
        t->nprev++;
}

/* ---- words ------------------------------------------------------------------------------ */

static inline bool word_byte(unsigned char c)
{
    return isalnum(c) || c >= 0x80 || c == '$' || c == '\'' || c == '-' || c == '.' ||
           c == '_' || c == '!' || c == '%' || c == '@';
}

/* One raw word: normalised and given to the sequence; caps words also as their own token. */
static void word(struct tok *t, const char *s, size_t n)
{
    char w[WORD_MAX + 8];
    size_t i, up = 0, low = 0, dig = 0;

    while (n > 0 && strchr(".-'_!%@", s[n - 1]) != NULL && !(s[n - 1] == '!' && n > 1 &&
           s[n - 2] != '!'))
        n--;
    while (n > 0 && strchr(".-'_", s[0]) != NULL)
        s++, n--;
    if (n == 0)
        return;
    if (n > WORD_MAX) {
        char lw[16];
        int k = snprintf(lw, sizeof(lw), "L%c%zu", isalpha((unsigned char)s[0]) ? 'a' : '#',
                         n / 8);
        seq_word(t, lw, (size_t)k);
        return;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z') {
            up++;
            w[i] = (char)(c + 32);
        } else {
            if (c >= 'a' && c <= 'z')
                low++;
            else if (c >= '0' && c <= '9')
                dig++;
            w[i] = (char)c;
        }
    }
    if (t->facts && t->seq_ctx == C_BODY) {
        t->facts->upper += up;
        t->facts->letters += up + low;
    }
    if (dig > 0 && n > 5) {
        /* long numbers, codes, prices: their shape */
        for (i = 0; i < n; i++)
            if (w[i] >= '0' && w[i] <= '9')
                w[i] = '9';
    }
    if (n == 1 && dig == 0 && up + low == 1)
        return;
    seq_word(t, w, n);
    if (up >= 3 && low == 0)
        tok_add(t, C_CAPS, w, n);
}

static void text_words(struct tok *t, const char *s, size_t n)
{
    size_t i = 0;

    if (s == NULL)
        return;
    while (i < n) {
        size_t st;
        while (i < n && !word_byte((unsigned char)s[i]))
            i++;
        st = i;
        while (i < n && word_byte((unsigned char)s[i]))
            i++;
        if (i > st)
            word(t, s + st, i - st);
    }
}

/* ---- URLs ------------------------------------------------------------------------------- */

static const char *const shorteners[] = {
    "bit.ly", "tinyurl.com", "goo.gl", "t.co", "ow.ly", "is.gd", "buff.ly", "tiny.cc",
    "rebrand.ly", "cutt.ly", "shorturl.at", "rb.gy", "v.gd", "bitly.com", "t.ly", "s.id",
    "tr.im", "x.co", "lnkd.in", "snip.ly", NULL
};

/* Host of the URL at s (after "scheme://" or at "www."), lower case into host. */
static size_t url_host(const char *s, size_t n, char *host, size_t hl)
{
    size_t i = 0, o = 0;
    const char *p = memchr(s, ':', n < 12 ? n : 12);

    if (p && p + 2 < s + n && p[1] == '/' && p[2] == '/')
        i = (size_t)(p - s) + 3;
    /* skip userinfo */
    for (size_t j = i; j < n && j < i + 64; j++) {
        if (s[j] == '@') { i = j + 1; break; }
        if (s[j] == '/' || s[j] == '?' || isspace((unsigned char)s[j]) || s[j] == '"')
            break;
    }
    while (i < n && o + 1 < hl && (isalnum((unsigned char)s[i]) || s[i] == '.' ||
                                  s[i] == '-' || s[i] == '_')) {
        host[o++] = (char)tolower((unsigned char)s[i]);
        i++;
    }
    while (o > 0 && host[o - 1] == '.')
        o--;
    host[o] = '\0';
    return o;
}

static bool host_is_ip(const char *h)
{
    for (; *h; h++)
        if (!isdigit((unsigned char)*h) && *h != '.')
            return false;
    return true;
}

/* The last two labels (three when the second-level one is short, as in co.uk). */
static const char *reg_domain(const char *h)
{
    const char *dots[3] = { NULL, NULL, NULL };
    const char *p;
    int nd = 0;

    for (p = h + strlen(h); p > h; p--)
        if (p[-1] == '.') {
            dots[nd++] = p - 1;
            if (nd == 3)
                break;
        }
    if (nd < 2)
        return h;
    if (dots[0] - dots[1] - 1 <= 3 && nd == 3)
        return dots[2] + 1;
    if (dots[0] - dots[1] - 1 <= 3 && nd == 2)
        return h;
    return dots[1] + 1;
}

static bool is_shortener(const char *host)
{
    for (int i = 0; shorteners[i]; i++)
        if (strcmp(host, shorteners[i]) == 0)
            return true;
    return false;
}

static void url_tokens(struct tok *t, const char *host)
{
    if (host[0] == '\0')
        return;
    t->nurl++;
    if (t->facts) {
        t->facts->links++;
        if (is_shortener(host))
            t->facts->shortener_links++;
    }
    if (host_is_ip(host)) {
        tok_addf(t, C_URL, "ip", NULL);
        return;
    }
    tok_addf(t, C_URL, host, NULL);
    tok_addf(t, C_URL, "rd:", reg_domain(host));
    {
        const char *tld = strrchr(host, '.');
        if (tld)
            tok_addf(t, C_URL, "tld", tld);
    }
}

/* URLs written in text */
static void text_urls(struct tok *t, const char *s, size_t n)
{
    const char *p = s, *e;
    char host[128];

    if (s == NULL)
        return;
    e = s + n;
    while (p < e && (p = memchr(p, ':', (size_t)(e - p))) != NULL) {
        const char *st = p;
        if (p + 2 < e && p[1] == '/' && p[2] == '/') {
            while (st > s && isalpha((unsigned char)st[-1]) && p - st < 6)
                st--;
            if (p - st >= 3 && p - st <= 5) {
                url_host(st, (size_t)(e - st), host, sizeof(host));
                url_tokens(t, host);
            }
        }
        p++;
    }
}

/* ---- HTML ------------------------------------------------------------------------------ */

static const char *attr_val(const char *a, size_t n, const char *name, size_t *vl)
{
    size_t nl = strlen(name), i;

    for (i = 0; i + nl < n; i++) {
        if ((i == 0 || isspace((unsigned char)a[i - 1])) && strncasecmp(a + i, name, nl) == 0) {
            size_t j = i + nl;
            while (j < n && isspace((unsigned char)a[j]))
                j++;
            if (j < n && a[j] == '=') {
                const char *v;
                j++;
                while (j < n && isspace((unsigned char)a[j]))
                    j++;
                if (j < n && (a[j] == '"' || a[j] == '\'')) {
                    char q = a[j++];
                    v = a + j;
                    while (j < n && a[j] != q)
                        j++;
                } else {
                    v = a + j;
                    while (j < n && !isspace((unsigned char)a[j]) && a[j] != '>')
                        j++;
                }
                *vl = (size_t)(a + j - v);
                return v;
            }
        }
    }
    return NULL;
}

static bool style_hidden(const char *v, size_t n)
{
    char s[256];
    size_t o = 0;

    for (size_t i = 0; i < n && o + 1 < sizeof(s); i++)
        if (!isspace((unsigned char)v[i]))
            s[o++] = (char)tolower((unsigned char)v[i]);
    s[o] = '\0';
    return strstr(s, "display:none") || strstr(s, "visibility:hidden") ||
           strstr(s, "font-size:0") || strstr(s, "font-size:1px") ||
           strstr(s, "font-size:2px") || strstr(s, "opacity:0;");
}

static int entity(const char *s, size_t n, size_t *used)
{
    static const struct { const char *name; int c; } ents[] = {
        { "nbsp;", ' ' }, { "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' },
        { "apos;", '\'' }, { "copy;", 0xa9 }, { "reg;", 0xae }, { NULL, 0 }
    };
    if (n > 2 && s[1] == '#') {
        size_t i = 2;
        long v = 0;
        bool hex = i < n && (s[i] == 'x' || s[i] == 'X');
        if (hex)
            i++;
        while (i < n && i < 10 && (hex ? isxdigit((unsigned char)s[i]) : isdigit((unsigned char)s[i]))) {
            v = v * (hex ? 16 : 10) + (isdigit((unsigned char)s[i]) ? s[i] - '0' :
                                       tolower((unsigned char)s[i]) - 'a' + 10);
            i++;
        }
        if (i < n && s[i] == ';')
            i++;
        *used = i;
        return v > 0 && v < 0x10000 ? (int)v : ' ';
    }
    for (int k = 0; ents[k].name; k++) {
        size_t l = strlen(ents[k].name);
        if (n > l && strncasecmp(s + 1, ents[k].name, l) == 0) {
            *used = l + 1;
            return ents[k].c;
        }
    }
    *used = 1;
    return '&';
}

struct htext {
    char *v;
    size_t n, cap;
};

static void ht_put(struct htext *h, const char *s, size_t n)
{
    if (h->n + n + 4 > h->cap) {
        size_t nc = (h->cap + n) * 2 + 256;
        char *nv = realloc(h->v, nc);
        if (nv == NULL)
            return;
        h->v = nv;
        h->cap = nc;
    }
    memcpy(h->v + h->n, s, n);
    h->n += n;
}

static void ht_putc(struct htext *h, int c)
{
    char b[4];
    size_t k;

    if (c < 0x80) {
        b[0] = (char)c;
        k = 1;
    } else if (c < 0x800) {
        b[0] = (char)(0xc0 | (c >> 6)); b[1] = (char)(0x80 | (c & 0x3f)); k = 2;
    } else {
        b[0] = (char)(0xe0 | (c >> 12)); b[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        b[2] = (char)(0x80 | (c & 0x3f)); k = 3;
    }
    ht_put(h, b, k);
}

static size_t count_letters(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (isalpha((unsigned char)s[i]) || (unsigned char)s[i] >= 0xc0)
            k++;
    return k;
}

/* Reduce HTML to its visible text (words into the body sequence), hidden text, and the
 * structure: tag names, link and image hosts, link text that shows another host. */
static void html(struct tok *t, const char *s, size_t n)
{
    struct htext vis = { 0 }, hid = { 0 }, anchor = { 0 };
    size_t i = 0;
    int hidden_depth = 0, in_a = 0;
    char a_host[128] = "";

    while (i < n) {
        if (s[i] == '<') {
            size_t j = i + 1, nl = 0;
            char name[16];
            bool close = false;
            const char *gt;

            if (j + 2 < n && s[j] == '!' && s[j + 1] == '-' && s[j + 2] == '-') {
                const char *e = memmem(s + j, n - j, "-->", 3);
                i = e ? (size_t)(e - s) + 3 : n;
                continue;
            }
            if (j < n && s[j] == '/') {
                close = true;
                j++;
            }
            while (j < n && nl + 1 < sizeof(name) && isalnum((unsigned char)s[j]))
                name[nl++] = (char)tolower((unsigned char)s[j++]);
            name[nl] = '\0';
            if (nl == 0) {
                ht_put(hidden_depth ? &hid : &vis, "<", 1);
                i++;
                continue;
            }
            gt = memchr(s + j, '>', n - j);
            if (gt == NULL)
                break;
            {
                const char *attrs = s + j;
                size_t al = (size_t)(gt - attrs), vl;
                const char *v;

                if (!close)
                    tok_addf(t, C_TAG, name, NULL);
                i = (size_t)(gt - s) + 1;
                if (!close && (strcmp(name, "script") == 0 || strcmp(name, "style") == 0)) {
                    char endtag[12];
                    int el = snprintf(endtag, sizeof(endtag), "</%s", name);
                    const char *e = NULL;
                    for (size_t k = i; k + (size_t)el <= n; k++)
                        if (s[k] == '<' && strncasecmp(s + k, endtag, (size_t)el) == 0) {
                            e = s + k;
                            break;
                        }
                    i = e ? (size_t)(e - s) : n;
                    continue;
                }
                if (strcmp(name, "br") == 0 || strcmp(name, "p") == 0 ||
                    strcmp(name, "div") == 0 || strcmp(name, "td") == 0 ||
                    strcmp(name, "tr") == 0 || strcmp(name, "li") == 0)
                    ht_put(hidden_depth ? &hid : &vis, " ", 1);
                if (close) {
                    if (strcmp(name, "a") == 0 && in_a) {
                        /* link text showing a URL of another host */
                        char shown[128];
                        const char *u = NULL;
                        for (size_t k = 0; k + 4 < anchor.n; k++)
                            if (strncasecmp(anchor.v + k, "http", 4) == 0 ||
                                strncasecmp(anchor.v + k, "www.", 4) == 0) {
                                u = anchor.v + k;
                                break;
                            }
                        if (u && a_host[0] &&
                            url_host(u, anchor.n - (size_t)(u - anchor.v), shown,
                                     sizeof(shown)) > 3 &&
                            strchr(shown, '.') &&
                            strcmp(reg_domain(shown), reg_domain(a_host)) != 0) {
                            if (t->facts)
                                t->facts->link_mismatch++;
                            tok_addf(t, C_SHAPE, "linkmismatch", NULL);
                        }
                        in_a = 0;
                        anchor.n = 0;
                    }
                    if (hidden_depth > 0 && (strcmp(name, "div") == 0 ||
                        strcmp(name, "span") == 0 || strcmp(name, "font") == 0 ||
                        strcmp(name, "p") == 0 || strcmp(name, "td") == 0))
                        hidden_depth--;
                    continue;
                }
                v = attr_val(attrs, al, "style", &vl);
                if (v && style_hidden(v, vl)) {
                    hidden_depth++;
                    tok_addf(t, C_SHAPE, "hiddenstyle", NULL);
                } else if (hidden_depth > 0 && (strcmp(name, "div") == 0 ||
                           strcmp(name, "span") == 0 || strcmp(name, "font") == 0 ||
                           strcmp(name, "p") == 0 || strcmp(name, "td") == 0)) {
                    hidden_depth++;
                }
                if (strcmp(name, "a") == 0) {
                    v = attr_val(attrs, al, "href", &vl);
                    a_host[0] = '\0';
                    if (v) {
                        url_host(v, vl, a_host, sizeof(a_host));
                        url_tokens(t, a_host);
                        if (vl >= 7 && strncasecmp(v, "mailto:", 7) == 0)
                            tok_addf(t, C_URL, "mailto", NULL);
                    }
                    in_a = 1;
                    anchor.n = 0;
                } else if (strcmp(name, "img") == 0) {
                    char host[128];
                    if (t->facts)
                        t->facts->html_images++;
                    v = attr_val(attrs, al, "src", &vl);
                    if (v) {
                        url_host(v, vl, host, sizeof(host));
                        if (host[0])
                            tok_addf(t, C_URL, "img:", reg_domain(host));
                    }
                    v = attr_val(attrs, al, "alt", &vl);
                    if (v) {
                        int sc = t->seq_ctx;
                        seq_reset(t, C_ALT);
                        text_words(t, v, vl);
                        seq_reset(t, sc);
                    }
                } else if (strcmp(name, "font") == 0) {
                    v = attr_val(attrs, al, "size", &vl);
                    if (v && vl >= 1 && (v[0] == '1' || v[0] == '0') && (vl == 1 || v[1] == '"'))
                        tok_addf(t, C_SHAPE, "fontsize1", NULL);
                    v = attr_val(attrs, al, "color", &vl);
                    if (v && vl >= 4 && vl < 16) {
                        char c[16];
                        for (size_t k = 0; k < vl; k++)
                            c[k] = (char)tolower((unsigned char)v[k]);
                        tok_add(t, C_TAG, c, vl);
                    }
                }
            }
            continue;
        }
        if (s[i] == '&') {
            size_t used;
            int c = entity(s + i, n - i, &used);
            ht_putc(hidden_depth ? &hid : &vis, c);
            if (in_a)
                ht_putc(&anchor, c);
            i += used;
            continue;
        }
        {
            size_t st = i;
            while (i < n && s[i] != '<' && s[i] != '&')
                i++;
            ht_put(hidden_depth ? &hid : &vis, s + st, i - st);
            if (in_a && anchor.n < 512)
                ht_put(&anchor, s + st, i - st);
        }
    }
    if (t->facts)
        t->facts->html_chars += count_letters(vis.v, vis.n);
    seq_reset(t, C_BODY);
    text_words(t, vis.v, vis.n);
    text_urls(t, vis.v, vis.n);
    if (hid.n > 0) {
        seq_reset(t, C_HID);
        text_words(t, hid.v, hid.n);
    }
    free(vis.v);
    free(hid.v);
    free(anchor.v);
}

/* ---- headers ----------------------------------------------------------------------------- */

static bool name_is(const char *n, size_t nl, const char *what)
{
    return strlen(what) == nl && strncasecmp(n, what, nl) == 0;
}

/* Shape of a string: runs of digits 9, lower a, upper A, other bytes as is; max 24. */
static size_t shape(const char *s, size_t n, char *out, size_t ol)
{
    size_t o = 0;
    char last = 0;

    for (size_t i = 0; i < n && o + 1 < ol; i++) {
        unsigned char c = (unsigned char)s[i];
        char k = isdigit(c) ? '9' : islower(c) ? 'a' : isupper(c) ? 'A' : (char)c;
        if (k == last && (k == '9' || k == 'a' || k == 'A'))
            continue;
        out[o++] = k;
        last = k;
    }
    out[o] = '\0';
    return o;
}

/* Split an address header value into display names and address domains. */
static void addr_header(struct tok *t, const char *v, size_t vl, int name_ctx, int dom_ctx,
                        char *first_dom, size_t fdl, bool *ok)
{
    char dec[1024];
    size_t n = mime_decode_words(v, vl, dec, sizeof(dec), NULL), i;
    const char *at = memchr(dec, '@', n);
    const char *lt = memchr(dec, '<', n);
    int sc = t->seq_ctx;

    if (ok)
        *ok = at != NULL;
    if (lt) {
        seq_reset(t, name_ctx);
        text_words(t, dec, (size_t)(lt - dec));
        if (lt == dec)
            tok_addf(t, name_ctx, "noname", NULL);
    }
    /* every domain */
    for (i = 0; i < n; i++) {
        if (dec[i] == '@') {
            char d[128];
            size_t o = 0, j = i + 1, k = i;
            while (j < n && o + 1 < sizeof(d) && (isalnum((unsigned char)dec[j]) ||
                                                  dec[j] == '.' || dec[j] == '-'))
                d[o++] = (char)tolower((unsigned char)dec[j++]);
            d[o] = '\0';
            if (o == 0)
                continue;
            tok_addf(t, dom_ctx, d, NULL);
            tok_addf(t, dom_ctx, "rd:", reg_domain(d));
            if (first_dom && first_dom[0] == '\0')
                snprintf(first_dom, fdl, "%s", reg_domain(d));
            /* local part shape */
            while (k > 0 && !isspace((unsigned char)dec[k - 1]) && dec[k - 1] != '<' &&
                   dec[k - 1] != ',' && dec[k - 1] != '"')
                k--;
            if (i > k) {
                char sh[32];
                size_t sl = shape(dec + k, i - k, sh, sizeof(sh));
                tok_addf(t, dom_ctx, "lp:", sh);
                (void)sl;
            }
        }
    }
    seq_reset(t, sc);
}

static bool date_valid(const char *v, size_t vl)
{
    /* [Day,] D Mon YYYY HH:MM[:SS] ZONE */
    static const char *const mons[] = { "jan", "feb", "mar", "apr", "may", "jun", "jul",
                                        "aug", "sep", "oct", "nov", "dec", NULL };
    char buf[128];
    char mon[8] = "", zone[16] = "";
    int d, y, hh, mm, ss = 0, k = 0;
    const char *p;

    if (vl >= sizeof(buf))
        return false;
    memcpy(buf, v, vl);
    buf[vl] = '\0';
    p = buf;
    if (isalpha((unsigned char)p[0])) {
        p = strchr(p, ',');
        if (p == NULL)
            return false;
        p++;
    }
    if (sscanf(p, " %d %3s %d %d:%d%n", &d, mon, &y, &hh, &mm, &k) != 5)
        return false;
    p += k;
    if (*p == ':')
        if (sscanf(p, ":%d%n", &ss, &k) != 1)
            return false;
    if (*p == ':')
        p += k;
    if (sscanf(p, " %15s", zone) != 1)
        return false;
    for (k = 0; mons[k]; k++)
        if (strncasecmp(mon, mons[k], 3) == 0)
            break;
    if (mons[k] == NULL || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 60 ||
        (y < 100 ? false : y < 1970) || y > 2200)
        return false;
    return zone[0] == '+' || zone[0] == '-' || isalpha((unsigned char)zone[0]);
}

static bool msgid_valid(const char *v, size_t vl)
{
    const char *at;

    if (vl < 5 || v[0] != '<')
        return false;
    at = memchr(v, '@', vl);
    return at != NULL && at > v + 1 && memchr(at, '>', (size_t)(v + vl - at)) != NULL &&
           !memchr(v, ' ', vl);
}

static void on_header(void *arg, const char *name, size_t nl, const char *v, size_t vl)
{
    struct tok *t = arg;
    struct spam_facts *fa = t->facts;
    char lname[48];
    size_t i;

    for (i = 0; i < nl && i + 1 < sizeof(lname); i++)
        lname[i] = (char)tolower((unsigned char)name[i]);
    lname[i] = '\0';
    tok_addf(t, C_HDR, "hn:", lname);
    if (name_is(name, nl, "subject")) {
        char dec[1024];
        size_t n = mime_decode_words(v, vl, dec, sizeof(dec), NULL), up = 0, low = 0;
        fa->has_subject = true;
        seq_reset(t, C_SUBJ);
        text_words(t, dec, n);
        for (i = 0; i < n; i++) {
            if (isupper((unsigned char)dec[i]))
                up++;
            else if (islower((unsigned char)dec[i]))
                low++;
        }
        if (up >= 10 && low == 0) {
            fa->subject_caps = true;
            tok_addf(t, C_SHAPE, "subjcaps", NULL);
        }
        if (n == 0)
            tok_addf(t, C_SHAPE, "subjempty", NULL);
        if (memchr(dec, '!', n))
            tok_addf(t, C_SHAPE, "subjexcl", NULL);
        if (vl > 2 && memmem(v, vl, "=?", 2)) {
            const char *q = memmem(v, vl, "=?", 2);
            const char *q2 = memchr(q + 2, '?', (size_t)(v + vl - q - 2));
            if (q2 && q2 - q - 2 < 31) {
                size_t l = (size_t)(q2 - q - 2);
                for (i = 0; i < l; i++)
                    t->subject_cs[i] = (char)tolower((unsigned char)q[2 + i]);
                t->subject_cs[l] = '\0';
                tok_addf(t, C_HDR, "subjcs:", t->subject_cs);
            }
        }
    } else if (name_is(name, nl, "from")) {
        fa->has_from = true;
        addr_header(t, v, vl, C_FROMN, C_FROMD, t->from_dom, sizeof(t->from_dom), &fa->from_ok);
    } else if (name_is(name, nl, "to") || name_is(name, nl, "cc")) {
        size_t commas = 0;
        for (i = 0; i < vl; i++)
            commas += v[i] == ',';
        tok_addf(t, C_TOD, "n:", commas == 0 ? "1" : commas < 5 ? "few" : "many");
        addr_header(t, v, vl, C_TON, C_TOD, NULL, 0, NULL);
    } else if (name_is(name, nl, "reply-to")) {
        addr_header(t, v, vl, C_TON, C_RTD, t->reply_dom, sizeof(t->reply_dom), NULL);
    } else if (name_is(name, nl, "date")) {
        fa->has_date = true;
        fa->date_ok = date_valid(v, vl);
        if (vl > 5) {
            const char *sp = v + vl;
            while (sp > v && sp[-1] != ' ')
                sp--;
            tok_add(t, C_HDR, sp, (size_t)(v + vl - sp) < 12 ? (size_t)(v + vl - sp) : 12);
        }
    } else if (name_is(name, nl, "message-id")) {
        const char *at = memchr(v, '@', vl);
        fa->has_msgid = true;
        fa->msgid_ok = msgid_valid(v, vl);
        if (at) {
            char d[96], sh[48];
            size_t o = 0;
            for (const char *p = at + 1; p < v + vl && *p != '>' && o + 1 < sizeof(d); p++)
                d[o++] = (char)tolower((unsigned char)*p);
            d[o] = '\0';
            tok_addf(t, C_HDR, "mid:", reg_domain(d));
            shape(v, (size_t)(at - v), sh, sizeof(sh));
            tok_addf(t, C_HDR, "midsh:", sh);
        }
    } else if (name_is(name, nl, "x-mailer") || name_is(name, nl, "user-agent")) {
        size_t c = vl < sizeof(t->mailer) - 1 ? vl : sizeof(t->mailer) - 1;
        memcpy(t->mailer, v, c);
        t->mailer[c] = '\0';
        seq_reset(t, C_MAILER);
        text_words(t, v, vl);
    } else if (name_is(name, nl, "x-mimeole")) {
        t->has_mimeole = true;
    } else if (name_is(name, nl, "thread-index")) {
        t->has_threadidx = true;
    } else if (name_is(name, nl, "received")) {
        fa->received++;
        /* the protocol and whether the sending host had a name */
        const char *w = memmem(v, vl, " with ", 6);
        if (w) {
            char proto[16];
            size_t o = 0;
            for (const char *p = w + 6; p < v + vl && isalnum((unsigned char)*p) && o + 1 < sizeof(proto); p++)
                proto[o++] = (char)tolower((unsigned char)*p);
            proto[o] = '\0';
            tok_addf(t, C_HDR, "rw:", proto);
        }
        if (memmem(v, vl, "unknown", 7))
            tok_addf(t, C_HDR, "rcv:unknown", NULL);
    } else if (name_is(name, nl, "content-type")) {
        char ct[64], b[80], sh[40];
        size_t o = 0;
        while (o < vl && o + 1 < sizeof(ct) && v[o] != ';' && !isspace((unsigned char)v[o])) {
            ct[o] = (char)tolower((unsigned char)v[o]);
            o++;
        }
        ct[o] = '\0';
        tok_addf(t, C_HDR, "ct:", ct);
        if (mime_hdr_param(v, "boundary", false, b, sizeof(b), NULL)) {
            shape(b, strlen(b) < 20 ? strlen(b) : 20, sh, sizeof(sh));
            tok_addf(t, C_HDR, "bnd:", sh);
        }
        if (mime_hdr_param(v, "charset", false, b, sizeof(b), NULL)) {
            for (i = 0; b[i]; i++)
                b[i] = (char)tolower((unsigned char)b[i]);
            tok_addf(t, C_HDR, "cs:", b);
        }
    } else if (name_is(name, nl, "precedence") || name_is(name, nl, "x-priority") ||
               name_is(name, nl, "x-msmail-priority") || name_is(name, nl, "importance")) {
        char buf[64];
        snprintf(buf, sizeof(buf), "%s=%.*s", lname, (int)(vl < 20 ? vl : 20), v);
        for (i = 0; buf[i]; i++)
            buf[i] = (char)tolower((unsigned char)buf[i]);
        tok_addf(t, C_HDR, buf, NULL);
    }
}

/* ---- parts -------------------------------------------------------------------------------- */

static void on_part(void *arg, const struct spam_part *p)
{
    struct tok *t = arg;
    struct spam_facts *fa = t->facts;
    bool html_part = strcmp(p->ctype, "text/html") == 0;
    bool text_part = strncmp(p->ctype, "text/", 5) == 0 && p->data != NULL;

    if (p->multipart) {
        tok_addf(t, C_SHAPE, "mp:", p->ctype);
        return;
    }
    if (p->depth > 0 || !text_part)
        tok_addf(t, C_SHAPE, "part:", p->ctype);
    if (p->filename[0] || (!text_part && strncmp(p->ctype, "message/", 8) != 0)) {
        const char *dot = strrchr(p->filename, '.');
        fa->attach_parts++;
        if (strncmp(p->ctype, "image/", 6) == 0)
            fa->image_parts++;
        tok_addf(t, C_ATT, "type:", p->ctype);
        if (dot) {
            char ext[12];
            size_t o = 0;
            for (dot++; *dot && o + 1 < sizeof(ext); dot++)
                ext[o++] = (char)tolower((unsigned char)*dot);
            ext[o] = '\0';
            tok_addf(t, C_ATT, "ext:", ext);
        }
        if (p->filename[0]) {
            int sc = t->seq_ctx;
            seq_reset(t, C_ATT);
            text_words(t, p->filename, strlen(p->filename));
            seq_reset(t, sc);
        }
        if (!text_part)
            return;
    }
    if (!text_part)
        return;
    if (p->bad_charset) {
        fa->charset_mismatch = true;
        tok_addf(t, C_SHAPE, "badcharset", NULL);
    }
    if (p->charset[0])
        tok_addf(t, C_HDR, "pcs:", p->charset);
    if (strcmp(p->cte, "base64") == 0 && !html_part && strcmp(p->ctype, "text/plain") == 0) {
        fa->base64_text = true;
        tok_addf(t, C_SHAPE, "b64text", NULL);
    }
    if (p->cte[0])
        tok_addf(t, C_SHAPE, "cte:", p->cte);
    if (!fa->gtube && p->len >= 68 && memmem(p->data, p->len, GTUBE, sizeof(GTUBE) - 1))
        fa->gtube = true;
    if (html_part) {
        fa->html_parts++;
        html(t, p->data, p->len);
    } else {
        fa->text_parts++;
        fa->plain_chars += count_letters(p->data, p->len);
        seq_reset(t, C_BODY);
        text_words(t, p->data, p->len);
        text_urls(t, p->data, p->len);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static const char *bucket(size_t v, const size_t *edges, const char *const *names)
{
    int i;
    for (i = 0; edges[i] && v >= edges[i]; i++)
        ;
    return names[i];
}

void spam_analyze(const char *msg, size_t len, struct spam_features *f,
                  struct spam_facts *facts)
{
    struct spam_facts local;
    struct tok t;
    struct spam_msg_cb cb = { on_header, on_part, &t };
    size_t i, o;

    memset(&t, 0, sizeof(t));
    t.f = f;
    t.facts = facts ? facts : &local;
    memset(t.facts, 0, sizeof(*t.facts));
    f->n = 0;
    seq_reset(&t, C_BODY);
    spam_msg_walk(msg, len, &cb);

    /* shape features */
    {
        struct spam_facts *fa = t.facts;
        static const size_t len_e[] = { 512, 1024, 2048, 4096, 8192, 16384, 65536, 0 };
        static const char *const len_n[] = { "l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7" };
        static const size_t url_e[] = { 1, 2, 4, 8, 16, 0 };
        static const char *const url_n[] = { "u0", "u1", "u2", "u4", "u8", "u16" };
        static const size_t rc_e[] = { 1, 2, 3, 4, 6, 9, 0 };
        static const char *const rc_n[] = { "r0", "r1", "r2", "r3", "r4", "r6", "r9" };
        tok_addf(&t, C_SHAPE, bucket(len, len_e, len_n), NULL);
        tok_addf(&t, C_SHAPE, bucket((size_t)fa->links, url_e, url_n), NULL);
        tok_addf(&t, C_SHAPE, bucket((size_t)fa->received, rc_e, rc_n), NULL);
        if (fa->html_parts > 0 && fa->text_parts == 0)
            tok_addf(&t, C_SHAPE, "htmlonly", NULL);
        if (fa->image_parts > 0 && fa->plain_chars + fa->html_chars < 100)
            tok_addf(&t, C_SHAPE, "imgonly", NULL);
        if (fa->letters >= 40) {
            size_t pct = fa->upper * 100 / fa->letters;
            tok_addf(&t, C_SHAPE, pct < 5 ? "caps0" : pct < 15 ? "caps1" : pct < 30 ? "caps2" :
                                  pct < 50 ? "caps3" : "caps4", NULL);
        }
        if (t.mailer[0] && strstr(t.mailer, "Outlook") && !t.has_mimeole && !t.has_threadidx)
            fa->forged_outlook = strstr(t.mailer, "Outlook Express") == NULL;
        if (t.mailer[0] && strstr(t.mailer, "Outlook Express") && !t.has_mimeole)
            fa->forged_oe = true;
        if (fa->forged_outlook || fa->forged_oe)
            tok_addf(&t, C_SHAPE, "forgedmua", NULL);
        if (t.reply_dom[0] && t.from_dom[0] && strcmp(t.reply_dom, t.from_dom) != 0)
            tok_addf(&t, C_SHAPE, "replydiffers", NULL);
        if (!fa->has_date)
            tok_addf(&t, C_SHAPE, "nodate", NULL);
        if (!fa->has_msgid)
            tok_addf(&t, C_SHAPE, "nomsgid", NULL);
    }

    qsort(f->v, f->n, sizeof(f->v[0]), cmp_u64);
    for (i = 0, o = 0; i < f->n; i++)
        if (o == 0 || f->v[o - 1] != f->v[i])
            f->v[o++] = f->v[i];
    f->n = o;
}

void spam_features_free(struct spam_features *f)
{
    free(f->v);
    f->v = NULL;
    f->n = f->cap = 0;
}
