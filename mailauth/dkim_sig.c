/*
 * dkim_sig.c - parse and check one DKIM-Signature field value (see dkim_sig.h). Pure;
 * called by the verifier for every signature of a message.
 */
#include "mailauth/dkim_sig.h"

#include "lib/base64.h"
#include "mailauth/dkim_tags.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#define FTEXT_MIN 0x21            /* field-name characters: printable ASCII but ":" */
#define FTEXT_MAX 0x7e
#define DECIMAL 10
#define B64_TEXT_MAX (BASE64_ENCODED_SIZE(DKIM_B_MAX))

const char *dkim_sig_strerror(enum dkim_sig_status st)
{
    switch (st) {
    case DKIM_SIG_OK:        return "ok";
    case DKIM_SIG_SYNTAX:    return "signature syntax error";
    case DKIM_SIG_VERSION:   return "unsupported signature version";
    case DKIM_SIG_MISSING:   return "signature lacks a required tag";
    case DKIM_SIG_ALGORITHM: return "unsupported signature algorithm";
    case DKIM_SIG_CANON:     return "unsupported canonicalization";
    case DKIM_SIG_QUERY:     return "unsupported key query method";
    case DKIM_SIG_AUID:      return "i= is not within d=";
    case DKIM_SIG_FROM:      return "From is not signed";
    case DKIM_SIG_TIMES:     return "x= is before t=";
    }
    return "?";
}

const char *dkim_alg_name(enum dkim_alg alg)
{
    switch (alg) {
    case DKIM_ALG_RSA_SHA1:       return "rsa-sha1";
    case DKIM_ALG_RSA_SHA256:     return "rsa-sha256";
    case DKIM_ALG_ED25519_SHA256: return "ed25519-sha256";
    }
    return "?";
}

enum dkim_hash dkim_alg_hash(enum dkim_alg alg)
{
    return alg == DKIM_ALG_RSA_SHA1 ? DKIM_HASH_SHA1 : DKIM_HASH_SHA256;
}

enum dkim_keytype dkim_alg_keytype(enum dkim_alg alg)
{
    return alg == DKIM_ALG_ED25519_SHA256 ? DKIM_KEY_ED25519 : DKIM_KEY_RSA;
}

const char *dkim_canon_name(enum dkim_canon c)
{
    return c == DKIM_CANON_RELAXED ? "relaxed" : "simple";
}

int dkim_domain_copy(const char *s, size_t len, char *out, size_t max)
{
    size_t i, label = 0;

    if (len == 0 || len >= max)
        return -1;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0)
                return -1;
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_') {
            label++;
        } else {
            return -1;
        }
        out[i] = (char)tolower(c);
    }
    if (label == 0)
        return -1;
    out[len] = '\0';
    return 0;
}

bool dkim_domain_within(const char *sub, const char *domain)
{
    size_t ls = strlen(sub), ld = strlen(domain);

    if (ls == ld)
        return strcasecmp(sub, domain) == 0;
    return ls > ld && sub[ls - ld - 1] == '.' && strcasecmp(sub + ls - ld, domain) == 0;
}

/* Digits only, clamped at LLONG_MAX. -1 when empty or not digits. */
static long long parse_number(const struct dkim_tag *t)
{
    unsigned long long v = 0;
    size_t i;

    if (t->value_len == 0)
        return -1;
    for (i = 0; i < t->value_len; i++) {
        unsigned d = (unsigned)(t->value[i] - '0');
        if (d >= DECIMAL)
            return -1;
        v = v > (unsigned long long)LLONG_MAX / DECIMAL ? (unsigned long long)LLONG_MAX
                                                         : v * DECIMAL + d;
        if (v > (unsigned long long)LLONG_MAX)
            v = (unsigned long long)LLONG_MAX;
    }
    return (long long)v;
}

static int decode_b64(const struct dkim_tag *t, unsigned char *out, size_t size, size_t *len)
{
    char text[B64_TEXT_MAX];
    long n = dkim_tag_compact(t, text, sizeof(text));

    if (n <= 0)
        return -1;
    return base64_decode(text, (size_t)n, out, size, len) == BASE64_OK ? 0 : -1;
}

static int parse_alg(const struct dkim_tag *t, enum dkim_alg *alg)
{
    static const enum dkim_alg all[] = { DKIM_ALG_RSA_SHA1, DKIM_ALG_RSA_SHA256,
                                         DKIM_ALG_ED25519_SHA256 };
    size_t k;

    for (k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
        const char *name = dkim_alg_name(all[k]);
        if (t->value_len == strlen(name) && strncasecmp(t->value, name, t->value_len) == 0) {
            *alg = all[k];
            return 0;
        }
    }
    return -1;
}

static int canon_word(const char *s, size_t len, enum dkim_canon *c)
{
    if (len == strlen("simple") && strncasecmp(s, "simple", len) == 0)
        *c = DKIM_CANON_SIMPLE;
    else if (len == strlen("relaxed") && strncasecmp(s, "relaxed", len) == 0)
        *c = DKIM_CANON_RELAXED;
    else
        return -1;
    return 0;
}

static int parse_canon(const struct dkim_tag *t, struct dkim_sig *sig)
{
    const char *slash = memchr(t->value, '/', t->value_len);

    sig->bcanon = DKIM_CANON_SIMPLE;
    if (slash == NULL)
        return canon_word(t->value, t->value_len, &sig->hcanon);
    if (canon_word(t->value, (size_t)(slash - t->value), &sig->hcanon) < 0)
        return -1;
    return canon_word(slash + 1, t->value_len - (size_t)(slash - t->value) - 1, &sig->bcanon);
}

/* q= is a colon-separated list; dns/txt must be among its entries. */
static bool query_has_dns_txt(const struct dkim_tag *t)
{
    const char *p = t->value, *end = t->value + t->value_len;

    while (p < end) {
        const char *colon = memchr(p, ':', (size_t)(end - p)), *e = colon ? colon : end;
        while (p < e && dkim_is_fws((unsigned char)*p))
            p++;
        while (e > p && dkim_is_fws((unsigned char)e[-1]))
            e--;
        if ((size_t)(e - p) == strlen("dns/txt") && strncasecmp(p, "dns/txt", 7) == 0)
            return true;
        p = colon ? colon + 1 : end;
    }
    return false;
}

/* h= : field names separated by ":" with optional whitespace around them. */
static enum dkim_sig_status parse_h(const struct dkim_tag *t, struct dkim_sig *sig)
{
    const char *p = t->value, *end = t->value + t->value_len;
    size_t used = 0;
    bool from = false;

    sig->h_n = 0;
    for (;;) {
        const char *colon = memchr(p, ':', (size_t)(end - p)), *e = colon ? colon : end;
        while (p < e && dkim_is_fws((unsigned char)*p))
            p++;
        while (e > p && dkim_is_fws((unsigned char)e[-1]))
            e--;
        if (p == e || sig->h_n == DKIM_H_MAX || used + (size_t)(e - p) + 1 > DKIM_H_TEXT_MAX)
            return DKIM_SIG_SYNTAX;
        sig->h_off[sig->h_n++] = (unsigned short)used;
        for (; p < e; p++) {
            unsigned char c = (unsigned char)*p;
            if (c < FTEXT_MIN || c > FTEXT_MAX)
                return DKIM_SIG_SYNTAX;
            sig->h_text[used++] = (char)tolower(c);
        }
        sig->h_text[used++] = '\0';
        if (strcmp(dkim_sig_h(sig, sig->h_n - 1), "from") == 0)
            from = true;
        if (colon == NULL)
            break;
        p = colon + 1;
    }
    return from ? DKIM_SIG_OK : DKIM_SIG_FROM;
}

static enum dkim_sig_status parse_auid(const struct dkim_tag *t, struct dkim_sig *sig)
{
    const char *at;
    char dom[DKIM_DOMAIN_MAX + 1];
    size_t k;

    if (t == NULL) {
        sig->i[0] = '@';
        memcpy(sig->i + 1, sig->d, strlen(sig->d) + 1);
        return DKIM_SIG_OK;
    }
    if (t->value_len == 0 || t->value_len > DKIM_AUID_MAX)
        return DKIM_SIG_SYNTAX;
    for (k = 0; k < t->value_len; k++)
        if (dkim_is_fws((unsigned char)t->value[k]))
            return DKIM_SIG_SYNTAX;
    memcpy(sig->i, t->value, t->value_len);
    sig->i[t->value_len] = '\0';
    at = strrchr(sig->i, '@');
    if (at == NULL || dkim_domain_copy(at + 1, strlen(at + 1), dom, sizeof(dom)) < 0)
        return DKIM_SIG_SYNTAX;
    return dkim_domain_within(dom, sig->d) ? DKIM_SIG_OK : DKIM_SIG_AUID;
}

static enum dkim_sig_status parse_times(const struct dkim_tags *tags, struct dkim_sig *sig)
{
    const struct dkim_tag *t = dkim_tags_find(tags, "t"), *x = dkim_tags_find(tags, "x");
    const struct dkim_tag *l = dkim_tags_find(tags, "l");
    long long n;

    sig->t = sig->x = -1;
    sig->has_l = false;
    sig->l = 0;
    if (t && (sig->t = parse_number(t)) < 0)
        return DKIM_SIG_SYNTAX;
    if (x && (sig->x = parse_number(x)) < 0)
        return DKIM_SIG_SYNTAX;
    if (l) {
        if ((n = parse_number(l)) < 0)
            return DKIM_SIG_SYNTAX;
        sig->has_l = true;
        sig->l = (unsigned long long)n;
    }
    if (sig->t >= 0 && sig->x >= 0 && sig->x < sig->t)
        return DKIM_SIG_TIMES;
    return DKIM_SIG_OK;
}

/* The tags that decide the key lookup (d, s) first, so that a result can name them. */
static enum dkim_sig_status parse_names(const struct dkim_tags *tags, struct dkim_sig *sig)
{
    const struct dkim_tag *d = dkim_tags_find(tags, "d"), *s = dkim_tags_find(tags, "s");

    if (d == NULL || s == NULL)
        return DKIM_SIG_MISSING;
    if (dkim_domain_copy(d->value, d->value_len, sig->d, sizeof(sig->d)) < 0 ||
        dkim_domain_copy(s->value, s->value_len, sig->s, sizeof(sig->s)) < 0)
        return DKIM_SIG_SYNTAX;
    return DKIM_SIG_OK;
}

static enum dkim_sig_status parse_b(const struct dkim_tags *tags, struct dkim_sig *sig)
{
    const struct dkim_tag *b = dkim_tags_find(tags, "b"), *bh = dkim_tags_find(tags, "bh");
    char text[B64_TEXT_MAX];

    if (b == NULL || bh == NULL)
        return DKIM_SIG_MISSING;
    if (decode_b64(b, sig->b, sizeof(sig->b), &sig->b_len) < 0 ||
        decode_b64(bh, sig->bh, sizeof(sig->bh), &sig->bh_len) < 0)
        return DKIM_SIG_SYNTAX;
    long n = dkim_tag_compact(b, text, sizeof(text));

    if (n < 0)
        return DKIM_SIG_SYNTAX;
    n = n < DKIM_B_PREFIX_MAX ? n : DKIM_B_PREFIX_MAX;
    memcpy(sig->b_prefix, text, (size_t)n);
    sig->b_prefix[n] = '\0';
    sig->b_raw_start = b->raw_start;
    sig->b_raw_end = b->raw_end;
    return DKIM_SIG_OK;
}

enum dkim_sig_status dkim_sig_parse(const char *value, size_t len, struct dkim_sig *out)
{
    struct dkim_tags tags;
    const struct dkim_tag *t;
    enum dkim_sig_status st;

    memset(out, 0, sizeof(*out));
    out->t = out->x = -1;
    if (dkim_tags_parse(value, len, &tags) != DKIM_TAGS_OK)
        return DKIM_SIG_SYNTAX;
    if ((st = parse_names(&tags, out)) != DKIM_SIG_OK)
        return st;
    t = dkim_tags_find(&tags, "v");
    if (t == NULL || !dkim_tag_is(t, "1"))
        return DKIM_SIG_VERSION;
    t = dkim_tags_find(&tags, "a");
    if (t == NULL || dkim_tags_find(&tags, "h") == NULL)
        return DKIM_SIG_MISSING;
    if (parse_alg(t, &out->alg) < 0)
        return DKIM_SIG_ALGORITHM;
    if ((st = parse_b(&tags, out)) != DKIM_SIG_OK)
        return st;
    t = dkim_tags_find(&tags, "c");
    if (t ? parse_canon(t, out) < 0 : (out->hcanon = out->bcanon = DKIM_CANON_SIMPLE, 0))
        return DKIM_SIG_CANON;
    t = dkim_tags_find(&tags, "q");
    if (t && !query_has_dns_txt(t))
        return DKIM_SIG_QUERY;
    if ((st = parse_h(dkim_tags_find(&tags, "h"), out)) != DKIM_SIG_OK)
        return st;
    if ((st = parse_auid(dkim_tags_find(&tags, "i"), out)) != DKIM_SIG_OK)
        return st;
    return parse_times(&tags, out);
}
