/*
 * dkim_hash.c - body hashes in one streaming pass, and the header hash (see dkim_hash.h).
 * Called by the verifier and the signer; OpenSSL EVP digests.
 */
#include "mailauth/dkim_hash.h"

#include "lib/xalloc.h"
#include "mailauth/dkim_canon.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define N_CANON 2

struct bh_entry {
    enum dkim_canon canon;
    enum dkim_hash hash;
    long long limit;                  /* < 0: none */
    unsigned long long fed;
    EVP_MD_CTX *md;
    unsigned char digest[DKIM_DIGEST_MAX];
    unsigned digest_len;
};

struct canon_sink {                   /* what one canonicalizer's sink needs */
    struct dkim_bodyhash *bh;
    enum dkim_canon canon;
};

struct dkim_bodyhash {
    struct bh_entry e[DKIM_BODYHASH_MAX];
    size_t n;
    struct dkim_body_canon canon[N_CANON];
    struct canon_sink sink[N_CANON];
    bool used[N_CANON];
    bool started, done;
};

static const EVP_MD *md_of(enum dkim_hash h)
{
    return h == DKIM_HASH_SHA1 ? EVP_sha1() : EVP_sha256();
}

/* Sink of one canonicalizer: every hash that uses it, each up to its limit. */
static void feed(void *arg, const char *data, size_t len)
{
    const struct canon_sink *cs = arg;
    struct dkim_bodyhash *bh = cs->bh;
    size_t i;

    for (i = 0; i < bh->n; i++) {
        struct bh_entry *e = &bh->e[i];
        size_t take = len;
        if (e->canon != cs->canon)
            continue;
        if (e->limit >= 0) {
            unsigned long long room = (unsigned long long)e->limit - e->fed;
            if (e->fed >= (unsigned long long)e->limit)
                continue;
            take = len < room ? len : (size_t)room;
        }
        EVP_DigestUpdate(e->md, data, take);
        e->fed += take;
    }
}

struct dkim_bodyhash *dkim_bodyhash_new(void)
{
    struct dkim_bodyhash *bh = xcalloc(1, sizeof(*bh));
    int c;

    for (c = 0; c < N_CANON; c++) {
        bh->sink[c].bh = bh;
        bh->sink[c].canon = (enum dkim_canon)c;
        dkim_body_canon_init(&bh->canon[c], (enum dkim_canon)c, feed, &bh->sink[c]);
    }
    return bh;
}

void dkim_bodyhash_free(struct dkim_bodyhash *bh)
{
    size_t i;

    if (bh == NULL)
        return;
    for (i = 0; i < bh->n; i++)
        EVP_MD_CTX_free(bh->e[i].md);
    free(bh);
}

int dkim_bodyhash_add(struct dkim_bodyhash *bh, enum dkim_canon c, enum dkim_hash h,
                      long long limit)
{
    struct bh_entry *e;
    size_t i;

    if (limit < 0)
        limit = -1;
    for (i = 0; i < bh->n; i++)
        if (bh->e[i].canon == c && bh->e[i].hash == h && bh->e[i].limit == limit)
            return (int)i;
    if (bh->started || bh->n == DKIM_BODYHASH_MAX)
        return -1;
    e = &bh->e[bh->n];
    e->md = EVP_MD_CTX_new();
    if (e->md == NULL || EVP_DigestInit_ex(e->md, md_of(h), NULL) != 1) {
        EVP_MD_CTX_free(e->md);
        e->md = NULL;
        return -1;
    }
    e->canon = c;
    e->hash = h;
    e->limit = limit;
    bh->used[c] = true;
    return (int)bh->n++;
}

void dkim_bodyhash_update(struct dkim_bodyhash *bh, const void *data, size_t len)
{
    int c;

    bh->started = true;
    for (c = 0; c < N_CANON; c++)
        if (bh->used[c])
            dkim_body_canon_update(&bh->canon[c], data, len);
}

void dkim_bodyhash_final(struct dkim_bodyhash *bh)
{
    size_t i;
    int c;

    if (bh->done)
        return;
    bh->started = bh->done = true;
    for (c = 0; c < N_CANON; c++)
        if (bh->used[c])
            dkim_body_canon_final(&bh->canon[c]);
    for (i = 0; i < bh->n; i++)
        if (EVP_DigestFinal_ex(bh->e[i].md, bh->e[i].digest, &bh->e[i].digest_len) != 1)
            bh->e[i].digest_len = 0;
}

bool dkim_bodyhash_done(const struct dkim_bodyhash *bh)
{
    return bh->done;
}

size_t dkim_bodyhash_digest(const struct dkim_bodyhash *bh, int idx, unsigned char *out)
{
    if (!bh->done || idx < 0 || (size_t)idx >= bh->n)
        return 0;
    memcpy(out, bh->e[idx].digest, bh->e[idx].digest_len);
    return bh->e[idx].digest_len;
}

unsigned long long dkim_bodyhash_length(const struct dkim_bodyhash *bh, enum dkim_canon c)
{
    return bh->used[c] ? bh->canon[c].length : 0;
}

/* ---- header hash ---------------------------------------------------------------------- */

/* The field for names[k]: the (uses + 1)-th from the bottom among those of that name. */
static const struct dkim_field *pick(const struct dkim_field *fields, size_t nfields,
                                     const char *const *names, size_t k)
{
    size_t uses = 0, j;

    for (j = 0; j < k; j++)
        if (strcasecmp(names[j], names[k]) == 0)
            uses++;
    for (j = nfields; j-- > 0;)
        if (dkim_field_is(&fields[j], names[k]) && uses-- == 0)
            return &fields[j];
    return NULL;
}

static int hash_field(EVP_MD_CTX *md, enum dkim_canon c, const char *raw, size_t len,
                      bool last)
{
    char *buf = xmalloc(len + 2);
    size_t n = dkim_canon_header(c, raw, len, buf);
    int ok = EVP_DigestUpdate(md, buf, last ? n - 2 : n);

    free(buf);
    return ok == 1 ? 0 : -1;
}

size_t dkim_hash_headers(enum dkim_hash h, enum dkim_canon c, const struct dkim_field *fields,
                         size_t nfields, const char *const *names, size_t nnames,
                         const char *sig_raw, size_t sig_len, size_t b_start, size_t b_end,
                         unsigned char *out)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned len = 0;
    char *self;
    size_t k;
    int bad;

    if (md == NULL || EVP_DigestInit_ex(md, md_of(h), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return 0;
    }
    bad = 0;
    for (k = 0; k < nnames && !bad; k++) {
        const struct dkim_field *f = pick(fields, nfields, names, k);
        if (f != NULL)
            bad = hash_field(md, c, f->raw, f->raw_len, false);
    }
    if (b_start > b_end || b_end > sig_len)
        bad = 1;
    if (!bad) {
        self = xmalloc(sig_len + 1);
        memcpy(self, sig_raw, b_start);
        memcpy(self + b_start, sig_raw + b_end, sig_len - b_end);
        bad = hash_field(md, c, self, sig_len - (b_end - b_start), true);
        free(self);
    }
    if (bad || EVP_DigestFinal_ex(md, out, &len) != 1)
        len = 0;
    EVP_MD_CTX_free(md);
    return len;
}
