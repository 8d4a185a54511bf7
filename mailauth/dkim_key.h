/*
 * dkim_key.h - a DKIM key record as published in DNS at selector._domainkey.domain
 * (RFC 6376 section 3.6.1, RFC 8463 for k=ed25519).
 *
 *   v=DKIM1 (optional, first if present)   k=rsa|ed25519 (default rsa)
 *   h=sha1:sha256 (hashes allowed; default all)   s=email|* (service; default *)
 *   t=y (testing) :s (i= must use exactly d=)     p=base64 (empty: the key is revoked)
 *
 * dkim_key_parse() is pure (no allocation, no I/O): it decodes p= into bytes; turning
 * those bytes into an OpenSSL key is dkim_crypto.c's job. Used by the verifier and by the
 * fuzz target tests/fuzz/fuzz_dkim_key.c.
 */
#ifndef POSTERN_DKIM_KEY_H
#define POSTERN_DKIM_KEY_H

#include "mailauth/dkim_sig.h"

#include <stdbool.h>
#include <stddef.h>

#define DKIM_KEY_P_MAX 2048       /* decoded p= : an RSA-8192 SubjectPublicKeyInfo fits */

enum dkim_key_status {
    DKIM_KEY_OK,
    DKIM_KEY_SYNTAX,          /* not a tag-list, bad base64, v= not first */
    DKIM_KEY_VERSION,         /* v= is not DKIM1 */
    DKIM_KEY_NO_P,            /* no p= tag */
    DKIM_KEY_TYPE,            /* k= names a key type this verifier does not know */
};

struct dkim_key {
    enum dkim_keytype type;
    bool allow_sha1, allow_sha256;    /* from h= */
    bool service_email;               /* s= includes email or * */
    bool testing;                     /* t=y */
    bool strict;                      /* t=s: i= must have exactly the domain of d= */
    bool revoked;                     /* p= empty */
    unsigned char p[DKIM_KEY_P_MAX];
    size_t p_len;
};

/* Parse one TXT record (its strings joined). */
enum dkim_key_status dkim_key_parse(const char *txt, size_t len, struct dkim_key *out);

/* For logs and Authentication-Results comments. */
const char *dkim_key_strerror(enum dkim_key_status st);

#endif
