/*
 * dkim_sig.h - the DKIM-Signature header field (RFC 6376 section 3.5, RFC 8463), parsed
 * into a plain struct, and the names DKIM uses for algorithms and canonicalizations.
 *
 * dkim_sig_parse() takes the field's value (the text after "DKIM-Signature:", folding
 * included) and checks what RFC 6376 6.1.1 asks of a signature before any key is fetched:
 * v=1; the required tags a, b, bh, d, h, s; a known algorithm (rsa-sha1, rsa-sha256,
 * ed25519-sha256), canonicalization and query method (dns/txt); i= in d= or a subdomain;
 * From among the signed fields; x= not before t=. Pure: no allocation, no I/O; the struct
 * holds copies, so it outlives the text. Used by the verifier (dkim_verify.c) and by the
 * fuzz target tests/fuzz/fuzz_dkim_sig.c.
 */
#ifndef POSTERN_DKIM_SIG_H
#define POSTERN_DKIM_SIG_H

#include <stdbool.h>
#include <stddef.h>

#define DKIM_DOMAIN_MAX 253       /* d= (and the domain of i=) */
#define DKIM_SELECTOR_MAX 253     /* s=; selector._domainkey.d must fit in 253 too */
#define DKIM_AUID_MAX 320         /* i= : local-part (64) "@" domain (253), with margin */
#define DKIM_H_MAX 100            /* names in h= */
#define DKIM_H_TEXT_MAX 4096      /* their bytes, NUL-terminated each */
#define DKIM_B_MAX 1024           /* decoded b= : an RSA-8192 signature */
#define DKIM_BH_MAX 64            /* decoded bh= : a SHA-512 would fit */
#define DKIM_B_PREFIX_MAX 16      /* b= characters kept for header.b (RFC 6008) */

enum dkim_alg { DKIM_ALG_RSA_SHA1, DKIM_ALG_RSA_SHA256, DKIM_ALG_ED25519_SHA256 };
enum dkim_canon { DKIM_CANON_SIMPLE, DKIM_CANON_RELAXED };
enum dkim_hash { DKIM_HASH_SHA1, DKIM_HASH_SHA256 };
enum dkim_keytype { DKIM_KEY_RSA, DKIM_KEY_ED25519 };

enum dkim_sig_status {
    DKIM_SIG_OK,
    DKIM_SIG_SYNTAX,          /* not a tag-list, or a tag value that is not well formed */
    DKIM_SIG_VERSION,         /* v= missing or not 1 */
    DKIM_SIG_MISSING,         /* a required tag is missing (a b bh d h s) */
    DKIM_SIG_ALGORITHM,       /* a= unknown */
    DKIM_SIG_CANON,           /* c= unknown */
    DKIM_SIG_QUERY,           /* q= without dns/txt */
    DKIM_SIG_AUID,            /* i= not in d= or a subdomain of it */
    DKIM_SIG_FROM,            /* h= does not name From */
    DKIM_SIG_TIMES,           /* x= earlier than t= */
};

struct dkim_sig {
    enum dkim_alg alg;
    enum dkim_canon hcanon, bcanon;
    char d[DKIM_DOMAIN_MAX + 1];      /* lower case */
    char s[DKIM_SELECTOR_MAX + 1];    /* lower case */
    char i[DKIM_AUID_MAX + 1];        /* as written; "@" d when absent */
    size_t h_n;                       /* names in h=, lower case, in order */
    unsigned short h_off[DKIM_H_MAX]; /* offsets into h_text */
    char h_text[DKIM_H_TEXT_MAX];
    unsigned char bh[DKIM_BH_MAX];
    size_t bh_len;
    unsigned char b[DKIM_B_MAX];
    size_t b_len;
    char b_prefix[DKIM_B_PREFIX_MAX + 1];  /* first characters of b=, whitespace removed */
    size_t b_raw_start, b_raw_end;    /* the b= value in the parsed text: the bytes to
                                         delete (RFC 6376 3.7) when hashing this field */
    bool has_l;
    unsigned long long l;             /* body length limit; huge values are clamped */
    long long t, x;                   /* -1 when absent */
};

/* Parse the value of one DKIM-Signature field. On DKIM_SIG_OK every field of out is set;
 * on an error out is partly filled (d and s when they could be read, for the result). */
enum dkim_sig_status dkim_sig_parse(const char *value, size_t len, struct dkim_sig *out);

/* The name of h= entry k (lower case, NUL-terminated). */
static inline const char *dkim_sig_h(const struct dkim_sig *sig, size_t k)
{
    return sig->h_text + sig->h_off[k];
}

/* "syntax error in the signature" ... for logs and Authentication-Results comments. */
const char *dkim_sig_strerror(enum dkim_sig_status st);

/* "rsa-sha1", "rsa-sha256", "ed25519-sha256". */
const char *dkim_alg_name(enum dkim_alg alg);
/* The hash and key type an algorithm uses. */
enum dkim_hash dkim_alg_hash(enum dkim_alg alg);
enum dkim_keytype dkim_alg_keytype(enum dkim_alg alg);
/* "simple", "relaxed". */
const char *dkim_canon_name(enum dkim_canon c);

/* Lower-case copy of a domain name (letters, digits, "-", "_", dots between non-empty
 * labels; at most max - 1 bytes) into out. Returns 0, or -1 when it is not one. Also used
 * for selectors and for the domains of signing keys. */
int dkim_domain_copy(const char *s, size_t len, char *out, size_t max);

/* 1 when sub equals domain or ends with "." domain (case-insensitive). */
bool dkim_domain_within(const char *sub, const char *domain);

#endif
