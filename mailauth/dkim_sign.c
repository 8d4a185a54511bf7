/*
 * dkim_sign.c - the DKIM signer (see dkim_sign.h): builds the h= list from the message's
 * fields, hashes the body while it streams, and writes one folded DKIM-Signature per key.
 */
#include "mailauth/dkim_sign.h"

#include "lib/base64.h"
#include "lib/xalloc.h"
#include "mailauth/dkim_crypto.h"
#include "mailauth/dkim_hash.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_COLS 78          /* fold before a line would pass this */
#define B64_COLS 72               /* base64 characters per folded b= line */
#define MS_PER_S 1000
#define SIG_MAX_BYTES 1024        /* an RSA-8192 signature */

struct sign_key {
    char *selector;
    enum dkim_alg alg;
    EVP_PKEY *pkey;
};

struct dkim_signer {
    char *domain;
    struct sign_key *keys;
    size_t nkeys;
    char **headers, **oversign;   /* lower case */
    size_t nheaders, noversign;
    enum dkim_canon hcanon, bcanon;
    long long expire_s;
};

struct dkim_signers {
    struct dkim_signer **v;
    size_t n;
};

struct dkim_sign {
    const struct dkim_signer *s;
    struct dkim_bodyhash *bh;
    int bh_idx;
};

static char *lower_dup(const char *s)
{
    char *d = xstrdup(s), *p;

    for (p = d; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return d;
}

static char **lower_copy(const struct conf_strlist *l)
{
    char **v = xcalloc(l->n ? l->n : 1, sizeof(*v));
    size_t i;

    for (i = 0; i < l->n; i++)
        v[i] = lower_dup(l->v[i]);
    return v;
}

static void canon_of(int c, enum dkim_canon *h, enum dkim_canon *b)
{
    *h = c == DKIM_SIGN_SIMPLE_RELAXED || c == DKIM_SIGN_SIMPLE_SIMPLE ? DKIM_CANON_SIMPLE
                                                                       : DKIM_CANON_RELAXED;
    *b = c == DKIM_SIGN_RELAXED_SIMPLE || c == DKIM_SIGN_SIMPLE_SIMPLE ? DKIM_CANON_SIMPLE
                                                                       : DKIM_CANON_RELAXED;
}

struct dkim_signer *dkim_signer_load(const struct dkim_domain_conf *dc, char *err,
                                     size_t err_len)
{
    struct dkim_signer *s = xcalloc(1, sizeof(*s));
    const struct dkim_key_conf *kc = dc->keys.items;
    size_t i;

    s->domain = lower_dup(dc->name);
    s->keys = xcalloc(dc->keys.n ? dc->keys.n : 1, sizeof(*s->keys));
    s->headers = lower_copy(&dc->headers);
    s->nheaders = dc->headers.n;
    s->oversign = lower_copy(&dc->oversign);
    s->noversign = dc->oversign.n;
    canon_of(dc->canonicalization, &s->hcanon, &s->bcanon);
    s->expire_s = dc->expire_ms / MS_PER_S;
    for (i = 0; i < dc->keys.n; i++) {
        struct sign_key *k = &s->keys[s->nkeys];
        enum dkim_keytype type;
        k->alg = dkim_sign_alg_of(kc[i].algorithm);
        k->pkey = dkim_crypto_load_private(kc[i].file, err, err_len);
        if (k->pkey == NULL) {
            dkim_signer_free(s);
            return NULL;
        }
        s->nkeys++;
        k->selector = xstrdup(kc[i].selector);
        if (dkim_crypto_key_type(k->pkey, &type) < 0 || type != dkim_alg_keytype(k->alg)) {
            snprintf(err, err_len, "%s does not hold a key for %s", kc[i].file,
                     dkim_alg_name(k->alg));
            dkim_signer_free(s);
            return NULL;
        }
    }
    return s;
}

static void free_list(char **v, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void dkim_signer_free(struct dkim_signer *s)
{
    size_t i;

    if (s == NULL)
        return;
    for (i = 0; i < s->nkeys; i++) {
        free(s->keys[i].selector);
        EVP_PKEY_free(s->keys[i].pkey);
    }
    free(s->keys);
    free_list(s->headers, s->nheaders);
    free_list(s->oversign, s->noversign);
    free(s->domain);
    free(s);
}

const char *dkim_signer_domain(const struct dkim_signer *s)
{
    return s->domain;
}

struct dkim_signers *dkim_signers_load(const struct dkim_conf *c, char *err, size_t err_len)
{
    struct dkim_signers *set = xcalloc(1, sizeof(*set));
    const struct dkim_domain_conf *d = c->sign.items;
    size_t i;

    set->v = xcalloc(c->sign.n ? c->sign.n : 1, sizeof(*set->v));
    for (i = 0; i < c->sign.n; i++) {
        set->v[i] = dkim_signer_load(&d[i], err, err_len);
        if (set->v[i] == NULL) {
            dkim_signers_free(set);
            return NULL;
        }
        set->n++;
    }
    return set;
}

const struct dkim_signer *dkim_signers_find(const struct dkim_signers *set, const char *domain)
{
    size_t i;

    for (i = 0; domain && i < set->n; i++)
        if (strcasecmp(set->v[i]->domain, domain) == 0)
            return set->v[i];
    return NULL;
}

void dkim_signers_free(struct dkim_signers *set)
{
    size_t i;

    if (set == NULL)
        return;
    for (i = 0; i < set->n; i++)
        dkim_signer_free(set->v[i]);
    free(set->v);
    free(set);
}

/* ---- one message ---------------------------------------------------------------------- */

struct dkim_sign *dkim_sign_new(const struct dkim_signer *s)
{
    struct dkim_sign *m = xcalloc(1, sizeof(*m));

    m->s = s;
    m->bh = dkim_bodyhash_new();
    m->bh_idx = dkim_bodyhash_add(m->bh, s->bcanon, DKIM_HASH_SHA256, -1);
    return m;
}

void dkim_sign_body(struct dkim_sign *m, const void *data, size_t len)
{
    dkim_bodyhash_update(m->bh, data, len);
}

void dkim_sign_free(struct dkim_sign *m)
{
    if (m == NULL)
        return;
    dkim_bodyhash_free(m->bh);
    free(m);
}

/* A growing string with a column count, folding with CRLF HTAB. */
struct text {
    char *p;
    size_t len, cap, col;
};

static void add(struct text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = xrealloc(t->p, t->cap);
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
    t->col += n;
}

/* Add s, first folding the line when s would make it too long. */
static void add_word(struct text *t, const char *s, bool space)
{
    size_t n = strlen(s);

    if (t->col + n + (space ? 1 : 0) > LINE_MAX_COLS) {
        add(t, "\r\n\t", 3);
        t->col = 1;
    } else if (space) {
        add(t, " ", 1);
    }
    add(t, s, n);
}

static void add_fmt(struct text *t, bool space, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_fmt(struct text *t, bool space, const char *fmt, ...)
{
    char buf[DKIM_SELECTOR_MAX + DKIM_DOMAIN_MAX + 64];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    add_word(t, buf, space);
}

static bool in_list(char *const *v, size_t n, const char *name)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (strcmp(v[i], name) == 0)
            return true;
    return false;
}

/* The h= names: each configured header once per field present, oversigned ones once
 * more, at most DKIM_H_MAX (what verifiers such as ours accept). */
static size_t h_names(const struct dkim_signer *s, const struct dkim_field *fields, size_t n,
                      const char **names)
{
    size_t k = 0, i, j;

    for (i = 0; i < s->nheaders; i++) {
        size_t present = 0;
        for (j = 0; j < n; j++)
            if (dkim_field_is(&fields[j], s->headers[i]))
                present++;
        if (in_list(s->oversign, s->noversign, s->headers[i]))
            present++;
        for (j = 0; j < present && k < DKIM_H_MAX; j++)
            names[k++] = s->headers[i];
    }
    return k;
}

/* One DKIM-Signature for key k, appended to out. */
static int sign_one(const struct dkim_sign *m, const struct sign_key *k,
                    const struct dkim_field *fields, size_t n, const char **names,
                    size_t nnames, const char *bh64, long long now, struct text *out,
                    char *err, size_t err_len)
{
    const struct dkim_signer *s = m->s;
    struct text t = { NULL, 0, 0, 0 };
    unsigned char digest[DKIM_DIGEST_MAX], sig[SIG_MAX_BYTES];
    char *b64;
    size_t i, dlen, slen, b64len;

    add(&t, "DKIM-Signature:", strlen("DKIM-Signature:"));
    add_fmt(&t, true, "v=1;");
    add_fmt(&t, true, "a=%s;", dkim_alg_name(k->alg));
    add_fmt(&t, true, "c=%s/%s;", dkim_canon_name(s->hcanon), dkim_canon_name(s->bcanon));
    add_fmt(&t, true, "d=%s;", s->domain);
    add_fmt(&t, true, "s=%s;", k->selector);
    add_fmt(&t, true, "t=%lld;", now);
    if (s->expire_s > 0)
        add_fmt(&t, true, "x=%lld;", now + s->expire_s);
    for (i = 0; i < nnames; i++)
        add_fmt(&t, i == 0, "%s%s%s", i ? "" : "h=", names[i], i + 1 < nnames ? ":" : ";");
    add_fmt(&t, true, "bh=%s;", bh64);
    add_word(&t, "b=", true);
    dlen = dkim_hash_headers(DKIM_HASH_SHA256, s->hcanon, fields, n, names, nnames, t.p, t.len,
                             t.len, t.len, digest);
    slen = dlen ? dkim_crypto_sign(k->pkey, k->alg, digest, dlen, sig, sizeof(sig)) : 0;
    if (slen == 0) {
        snprintf(err, err_len, "signing with %s key %s failed", dkim_alg_name(k->alg),
                 k->selector);
        free(t.p);
        return -1;
    }
    b64 = xmalloc(BASE64_ENCODED_SIZE(slen));
    base64_encode(sig, slen, b64, BASE64_ENCODED_SIZE(slen), &b64len);
    for (i = 0; i < b64len; i += B64_COLS) {
        size_t take = b64len - i < B64_COLS ? b64len - i : B64_COLS;
        if (t.col + take > LINE_MAX_COLS) {
            add(&t, "\r\n\t", 3);
            t.col = 1;
        }
        add(&t, b64 + i, take);
    }
    add(&t, "\r\n", 2);
    add(out, t.p, t.len);
    free(b64);
    free(t.p);
    return 0;
}

char *dkim_sign_finish(struct dkim_sign *m, const struct dkim_field *fields, size_t n,
                       long long now, char *err, size_t err_len)
{
    const struct dkim_signer *s = m->s;
    const char **names = xcalloc(DKIM_H_MAX, sizeof(*names));
    size_t nnames = h_names(s, fields, n, names), i, len;
    unsigned char bh[DKIM_DIGEST_MAX];
    char bh64[BASE64_ENCODED_SIZE(DKIM_DIGEST_MAX)];
    struct text out = { NULL, 0, 0, 0 };

    dkim_bodyhash_final(m->bh);
    len = dkim_bodyhash_digest(m->bh, m->bh_idx, bh);
    base64_encode(bh, len, bh64, sizeof(bh64), &len);
    for (i = 0; i < s->nkeys; i++) {
        if (sign_one(m, &s->keys[i], fields, n, names, nnames, bh64, now, &out, err,
                     err_len) < 0) {
            free(out.p);
            free(names);
            return NULL;
        }
    }
    free(names);
    return out.p;
}
