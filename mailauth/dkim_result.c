/*
 * dkim_result.c - names of DKIM results and the dkim= clause of Authentication-Results
 * (RFC 8601; header.b from RFC 6008). Called by the policy engine's Authentication-Results
 * writer and by posternctl dkim verify.
 */
#include "mailauth/dkim_result.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define B_PREFIX_MIN 8            /* RFC 6008: at least 8 characters of b= */

const char *dkim_status_name(enum dkim_status st)
{
    switch (st) {
    case DKIM_NONE:      return "none";
    case DKIM_PASS:      return "pass";
    case DKIM_FAIL:      return "fail";
    case DKIM_POLICY:    return "policy";
    case DKIM_NEUTRAL:   return "neutral";
    case DKIM_TEMPERROR: return "temperror";
    case DKIM_PERMERROR: return "permerror";
    }
    return "?";
}

struct out {
    char *buf;
    size_t size, len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(o->len < o->size ? o->buf + o->len : NULL,
                  o->len < o->size ? o->size - o->len : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

/* RFC 2045 token: printable ASCII but SP and tspecials. "@" is allowed in header.i, whose
 * pvalue may be local-part@domain (RFC 8601 2.2). */
static bool is_token(const char *s, bool at_ok)
{
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c >= 0x7f || (strchr("()<>,;:\\\"/[]?=", c) != NULL) ||
            (c == '@' && !at_ok))
            return false;
    }
    return true;
}

static void put_value(struct out *o, const char *prop, const char *v, size_t max, bool at_ok)
{
    char cut[DKIM_AUID_MAX + 1];
    size_t i, n = strlen(v) < max ? strlen(v) : max;

    memcpy(cut, v, n);
    cut[n] = '\0';
    if (is_token(cut, at_ok)) {
        put(o, " %s=%s", prop, cut);
        return;
    }
    put(o, " %s=\"", prop);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)cut[i];
        if (c == '"' || c == '\\')
            put(o, "\\%c", c);
        else if (c >= ' ' && c < 0x7f)
            put(o, "%c", c);
    }
    put(o, "\"");
}

/* Characters of b= needed so that this result's header.b names it alone. */
static size_t b_needed(const struct dkim_result *r, size_t k, size_t n)
{
    size_t need = B_PREFIX_MIN, i;

    for (i = 0; i < n; i++)
        if (i != k && strncmp(r[i].b_prefix, r[k].b_prefix, B_PREFIX_MIN) == 0)
            need = DKIM_B_PREFIX_MAX;
    return need;
}

static void put_comment(struct out *o, const struct dkim_result *r)
{
    const char *sep = " (";

    if (r->reason) {
        put(o, "%s%s", sep, r->reason);
        sep = "; ";
    }
    if (r->key_bits && r->alg_known) {
        put(o, "%s%u-bit %s key", sep, r->key_bits,
            dkim_alg_keytype(r->alg) == DKIM_KEY_RSA ? "rsa" : "ed25519");
        sep = "; ";
    }
    if (r->weak) {
        put(o, "%sweak algorithm %s", sep, dkim_alg_name(r->alg));
        sep = "; ";
    }
    if (r->body_truncated) {
        put(o, "%sonly the first %llu of %llu body bytes signed", sep, r->l, r->body_length);
        sep = "; ";
    }
    if (r->testing) {
        put(o, "%skey in test mode", sep);
        sep = "; ";
    }
    if (sep[0] == ';')
        put(o, ")");
}

size_t dkim_ar_format(char *buf, size_t size, const struct dkim_result *results, size_t n)
{
    struct out o = { buf, size, 0 };
    size_t k;

    if (size > 0)
        buf[0] = '\0';
    if (n == 0)
        put(&o, "dkim=none");
    for (k = 0; k < n; k++) {
        const struct dkim_result *r = &results[k];
        put(&o, "%sdkim=%s", k ? "; " : "", dkim_status_name(r->status));
        put_comment(&o, r);
        if (r->domain[0])
            put_value(&o, "header.d", r->domain, DKIM_DOMAIN_MAX, false);
        if (r->auid[0])
            put_value(&o, "header.i", r->auid, DKIM_AUID_MAX, true);
        if (r->selector[0])
            put_value(&o, "header.s", r->selector, DKIM_SELECTOR_MAX, false);
        if (r->alg_known)
            put(&o, " header.a=%s", dkim_alg_name(r->alg));
        if (r->b_prefix[0])
            put_value(&o, "header.b", r->b_prefix, b_needed(results, k, n), false);
    }
    return o.len;
}
