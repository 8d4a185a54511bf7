/*
 * dkim_verify.c - the DKIM verifier of one message: signatures parsed and their header
 * hashes computed at the end of the header, body hashes while the body streams, keys
 * fetched through struct dkim_dns with a deadline, the crypto when a key arrives, the
 * results when both are done (see dkim_verify.h).
 */
#include "mailauth/dkim_verify.h"

#include "lib/xalloc.h"
#include "mailauth/dkim_crypto.h"
#include "mailauth/dkim_hash.h"
#include "mailauth/dkim_key.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DOMAINKEY_LABEL "._domainkey."
#define DNS_NAME_MAX 253
#define MS_PER_S 1000

enum vsig_state {
    VS_FINAL,          /* the result is known */
    VS_WAIT_KEY,       /* header hashed; the key is being looked up */
    VS_KEY_CHECKED,    /* key found and the signature checked; the body hash decides */
};

struct vsig {
    struct dkim_verify *v;
    size_t idx;
    enum vsig_state state;
    struct dkim_sig sig;
    int bh_idx;
    unsigned char hdigest[DKIM_DIGEST_MAX];
    size_t hdigest_len;
    void *query;                  /* pending key lookup */
    bool sig_ok;
};

struct dkim_verify {
    struct dkim_verify_conf conf;
    long long now;
    struct vsig *sigs;
    struct dkim_result *res;
    size_t n, skipped;
    struct dkim_bodyhash *bh;
    struct dkim_dns dns;
    struct event *timer, *deliver;
    dkim_verify_cb cb;
    void *cb_arg;
    size_t pending;
    bool started, body_done, finishing;
};

static void set_final(struct vsig *s, enum dkim_status st, const char *reason)
{
    s->state = VS_FINAL;
    s->v->res[s->idx].status = st;
    s->v->res[s->idx].reason = reason;
}

static void fill_names(struct dkim_result *r, const struct dkim_sig *sig)
{
    memcpy(r->domain, sig->d, sizeof(r->domain));
    memcpy(r->selector, sig->s, sizeof(r->selector));
    memcpy(r->auid, sig->i, sizeof(r->auid));
    memcpy(r->b_prefix, sig->b_prefix, sizeof(r->b_prefix));
}

/* Parse one DKIM-Signature and hash the header for it. */
static void prepare(struct dkim_verify *v, struct vsig *s, const struct dkim_field *fields,
                    size_t n, const struct dkim_field *f)
{
    struct dkim_result *r = &v->res[s->idx];
    const char *colon = memchr(f->raw, ':', f->raw_len);
    size_t off = (size_t)(colon - f->raw) + 1, k;
    const char *names[DKIM_H_MAX];
    enum dkim_sig_status st = dkim_sig_parse(colon + 1, f->raw_len - off, &s->sig);

    r->timestamp = s->sig.t;
    r->expires = s->sig.x;
    fill_names(r, &s->sig);
    if (st != DKIM_SIG_OK) {
        if (st != DKIM_SIG_SYNTAX && st != DKIM_SIG_MISSING && st != DKIM_SIG_ALGORITHM &&
            st != DKIM_SIG_VERSION)
            r->alg_known = true, r->alg = s->sig.alg;
        set_final(s, DKIM_NEUTRAL, dkim_sig_strerror(st));
        return;
    }
    r->alg_known = true;
    r->alg = s->sig.alg;
    r->has_l = s->sig.has_l;
    r->l = s->sig.l;
    r->weak = s->sig.alg == DKIM_ALG_RSA_SHA1;
    if (s->sig.x >= 0 && s->sig.x < v->now) {
        set_final(s, DKIM_POLICY, "signature expired");
        return;
    }
    for (k = 0; k < s->sig.h_n; k++)
        names[k] = dkim_sig_h(&s->sig, k);
    s->hdigest_len = dkim_hash_headers(dkim_alg_hash(s->sig.alg), s->sig.hcanon, fields, n,
                                       names, s->sig.h_n, f->raw, f->raw_len,
                                       off + s->sig.b_raw_start, off + s->sig.b_raw_end,
                                       s->hdigest);
    s->bh_idx = dkim_bodyhash_add(v->bh, s->sig.bcanon, dkim_alg_hash(s->sig.alg),
                                  s->sig.has_l ? (long long)s->sig.l : -1);
    if (s->hdigest_len == 0 || s->bh_idx < 0) {
        set_final(s, DKIM_TEMPERROR, "internal error while hashing");
        return;
    }
    s->state = VS_WAIT_KEY;
}

struct dkim_verify *dkim_verify_new(const struct dkim_verify_conf *conf,
                                    const struct dkim_field *fields, size_t n, long long now)
{
    struct dkim_verify *v = xcalloc(1, sizeof(*v));
    size_t i, count = 0;

    v->conf = *conf;
    v->now = now;
    v->bh = dkim_bodyhash_new();
    for (i = 0; i < n; i++)
        if (dkim_field_is(&fields[i], "dkim-signature"))
            count++;
    v->skipped = count > (size_t)conf->max_signatures ? count - (size_t)conf->max_signatures : 0;
    count -= v->skipped;
    v->sigs = xcalloc(count ? count : 1, sizeof(*v->sigs));
    v->res = xcalloc(count ? count : 1, sizeof(*v->res));
    for (i = 0; i < n && v->n < count; i++) {
        struct vsig *s;
        if (!dkim_field_is(&fields[i], "dkim-signature") ||
            memchr(fields[i].raw, ':', fields[i].raw_len) == NULL)
            continue;
        s = &v->sigs[v->n];
        s->v = v;
        s->idx = v->n++;
        prepare(v, s, fields, n, &fields[i]);
    }
    return v;
}

void dkim_verify_body(struct dkim_verify *v, const void *data, size_t len)
{
    if (!v->body_done)
        dkim_bodyhash_update(v->bh, data, len);
}

/* ---- keys ----------------------------------------------------------------------------- */

/* Check one parsed key against the signature; NULL when it is usable. */
static const char *key_unusable(const struct vsig *s, const struct dkim_key *key)
{
    const char *at = strrchr(s->sig.i, '@');

    if (key->revoked)
        return "key revoked";
    if (key->type != dkim_alg_keytype(s->sig.alg))
        return "key type does not match the signature algorithm";
    if (dkim_alg_hash(s->sig.alg) == DKIM_HASH_SHA1 ? !key->allow_sha1 : !key->allow_sha256)
        return "key does not allow the signature's hash";
    if (!key->service_email)
        return "key is not for email";
    if (key->strict && at && strcasecmp(at + 1, s->sig.d) != 0)
        return "key requires i= to use exactly d= (t=s)";
    return NULL;
}

static void check_signature(struct vsig *s, const struct dkim_key *key)
{
    struct dkim_result *r = &s->v->res[s->idx];
    EVP_PKEY *pkey = dkim_crypto_public_key(key->type, key->p, key->p_len);
    const char *why = key_unusable(s, key);

    r->testing = key->testing;
    if (why == NULL && pkey == NULL)
        why = "key record p= is not a public key";
    if (why == NULL) {
        r->key_bits = (unsigned)EVP_PKEY_get_bits(pkey);
        if (key->type == DKIM_KEY_RSA && (long long)r->key_bits < s->v->conf.min_rsa_bits)
            why = "RSA key too short";
    }
    if (why != NULL) {
        set_final(s, DKIM_PERMERROR, why);
    } else {
        s->sig_ok = dkim_crypto_verify(pkey, s->sig.alg, s->hdigest, s->hdigest_len,
                                       s->sig.b, s->sig.b_len) == 1;
        s->state = VS_KEY_CHECKED;
    }
    EVP_PKEY_free(pkey);
}

static void maybe_finish(struct dkim_verify *v);
static void on_deliver(evutil_socket_t fd, short what, void *arg);

/* Loop thread: the key record(s) of one signature. The first record that parses as a key
 * is used (RFC 6376 3.6.2.2 leaves several records undefined). */
static void on_key(void *arg, enum dkim_dns_status st, const struct dkim_txt *txt, size_t n)
{
    struct vsig *s = arg;
    enum dkim_key_status kst = DKIM_KEY_NO_P;
    struct dkim_key *key = xmalloc(sizeof(*key));
    size_t i;

    s->query = NULL;
    s->v->pending--;
    if (st == DKIM_DNS_TEMPFAIL) {
        set_final(s, DKIM_TEMPERROR, "key lookup failed");
    } else if (st == DKIM_DNS_NOTFOUND || n == 0) {
        set_final(s, DKIM_PERMERROR, "no key for signature");
    } else {
        for (i = 0; i < n; i++) {
            enum dkim_key_status k = dkim_key_parse(txt[i].text, txt[i].len, key);
            if (k == DKIM_KEY_OK || i == 0)
                kst = k;
            if (k == DKIM_KEY_OK)
                break;
        }
        if (kst == DKIM_KEY_OK)
            check_signature(s, key);
        else
            set_final(s, DKIM_PERMERROR, dkim_key_strerror(kst));
    }
    free(key);
    maybe_finish(s->v);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct dkim_verify *v = arg;
    size_t i;

    (void)fd, (void)what;
    for (i = 0; i < v->n; i++) {
        struct vsig *s = &v->sigs[i];
        if (s->query == NULL)
            continue;
        v->dns.ops->cancel(v->dns.ctx, s->query);
        s->query = NULL;
        v->pending--;
        set_final(s, DKIM_TEMPERROR, "key lookup timed out");
    }
    maybe_finish(v);
}

static void start_lookup(struct dkim_verify *v, struct vsig *s)
{
    char name[DNS_NAME_MAX + 2];
    int len = snprintf(name, sizeof(name), "%s" DOMAINKEY_LABEL "%s", s->sig.s, s->sig.d);

    if (len < 0 || len > DNS_NAME_MAX) {
        set_final(s, DKIM_PERMERROR, "key name too long");
        return;
    }
    v->pending++;
    s->query = v->dns.ops->lookup_txt(v->dns.ctx, name, on_key, s);
}

void dkim_verify_start(struct dkim_verify *v, struct event_base *base,
                       const struct dkim_dns *dns, dkim_verify_cb cb, void *arg)
{
    size_t i;

    if (v->started)
        return;
    v->started = true;
    v->dns = *dns;
    v->cb = cb;
    v->cb_arg = arg;
    v->deliver = event_new(base, -1, 0, on_deliver, v);
    for (i = 0; i < v->n; i++)
        if (v->sigs[i].state == VS_WAIT_KEY)
            start_lookup(v, &v->sigs[i]);
    if (v->pending > 0 && v->conf.timeout_ms > 0) {
        struct timeval tv = { v->conf.timeout_ms / MS_PER_S,
                              (v->conf.timeout_ms % MS_PER_S) * MS_PER_S };
        v->timer = evtimer_new(base, on_timeout, v);
        evtimer_add(v->timer, &tv);
    }
    maybe_finish(v);
}

/* ---- results -------------------------------------------------------------------------- */

static void final_result(struct dkim_verify *v, struct vsig *s)
{
    struct dkim_result *r = &v->res[s->idx];
    unsigned char d[DKIM_DIGEST_MAX];
    size_t len = dkim_bodyhash_digest(v->bh, s->bh_idx, d);

    r->body_length = dkim_bodyhash_length(v->bh, s->sig.bcanon);
    r->body_truncated = s->sig.has_l && r->body_length > s->sig.l;
    if (len != s->sig.bh_len || memcmp(d, s->sig.bh, len) != 0)
        set_final(s, DKIM_FAIL, "body hash mismatch");
    else if (!s->sig_ok)
        set_final(s, DKIM_FAIL, "signature did not verify");
    else
        set_final(s, DKIM_PASS, NULL);
}

static void on_deliver(evutil_socket_t fd, short what, void *arg)
{
    struct dkim_verify *v = arg;

    (void)fd, (void)what;
    v->cb(v, v->cb_arg);
}

static void maybe_finish(struct dkim_verify *v)
{
    size_t i;

    if (!v->started || !v->body_done || v->pending > 0 || v->finishing)
        return;
    v->finishing = true;
    if (v->timer)
        evtimer_del(v->timer);
    for (i = 0; i < v->n; i++)
        if (v->sigs[i].state == VS_KEY_CHECKED)
            final_result(v, &v->sigs[i]);
    event_active(v->deliver, 0, 0);
}

void dkim_verify_body_end(struct dkim_verify *v)
{
    if (v->body_done)
        return;
    dkim_bodyhash_final(v->bh);
    v->body_done = true;
    maybe_finish(v);
}

const struct dkim_result *dkim_verify_results(const struct dkim_verify *v, size_t *n)
{
    *n = v->n;
    return v->res;
}

size_t dkim_verify_skipped(const struct dkim_verify *v)
{
    return v->skipped;
}

void dkim_verify_free(struct dkim_verify *v)
{
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; i < v->n; i++)
        if (v->sigs[i].query != NULL)
            v->dns.ops->cancel(v->dns.ctx, v->sigs[i].query);
    if (v->timer)
        event_free(v->timer);
    if (v->deliver)
        event_free(v->deliver);
    dkim_bodyhash_free(v->bh);
    free(v->sigs);
    free(v->res);
    free(v);
}
