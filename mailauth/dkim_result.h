/*
 * dkim_result.h - the outcome of verifying one DKIM signature, shaped for the policy
 * engine's symbols, for DMARC (the d= to align with the From domain, whether the result
 * is a pass) and for the dkim= clause of Authentication-Results (RFC 8601), which
 * dkim_ar_format() writes.
 *
 * Results (RFC 8601 2.7.1) and when the verifier gives them:
 *   pass       the signature verified (see weak, body_truncated, testing for the caveats)
 *   fail       the body hash or the signature did not match: the message was changed
 *   policy     a valid signature this verifier refuses: x= has passed
 *   neutral    the signature cannot be processed: syntax, missing tag, unknown algorithm,
 *              i= outside d=, From not signed
 *   permerror  the key: none published (NXDOMAIN/NODATA), revoked (p= empty), malformed,
 *              of the wrong type, not allowing the hash, not for email, t=s violated,
 *              an RSA key shorter than the configured minimum
 *   temperror  the key lookup failed temporarily or passed the caller's deadline
 *   none       (the message has no signature: dkim_ar_format() with n == 0)
 */
#ifndef POSTERN_DKIM_RESULT_H
#define POSTERN_DKIM_RESULT_H

#include "mailauth/dkim_sig.h"

#include <stdbool.h>
#include <stddef.h>

enum dkim_status {
    DKIM_NONE, DKIM_PASS, DKIM_FAIL, DKIM_POLICY, DKIM_NEUTRAL, DKIM_TEMPERROR, DKIM_PERMERROR
};

struct dkim_result {
    enum dkim_status status;
    const char *reason;                   /* static text; NULL for a plain pass */
    char domain[DKIM_DOMAIN_MAX + 1];     /* d=, lower case ("" when unreadable) */
    char selector[DKIM_SELECTOR_MAX + 1]; /* s= ("" when unreadable) */
    char auid[DKIM_AUID_MAX + 1];         /* i=, or "@" d= ("" when unreadable) */
    bool alg_known;
    enum dkim_alg alg;
    char b_prefix[DKIM_B_PREFIX_MAX + 1]; /* start of b=, for header.b (RFC 6008) */
    unsigned key_bits;                    /* 0 when no key was used */
    bool weak;                            /* rsa-sha1 (RFC 8301): verified, but weak */
    bool testing;                         /* the key says t=y */
    bool has_l;                           /* l= present... */
    unsigned long long l;
    bool body_truncated;                  /* ...and the body goes on past it: the rest
                                             of the body is not covered by the signature */
    unsigned long long body_length;       /* canonical body length (when known) */
    long long timestamp, expires;         /* t=, x=; -1 when absent */
};

/* "none", "pass", "fail", "policy", "neutral", "temperror", "permerror". */
const char *dkim_status_name(enum dkim_status st);

/*
 * Write the dkim= clauses of Authentication-Results for results[0..n), separated by
 * "; ", into buf (snprintf-style: returns the length the whole text needs, writes at most
 * size - 1 bytes and a NUL). Each is
 *   dkim=RESULT [(comment)] header.d=D header.i=I header.s=S header.a=A header.b=B
 * with header.b the first 8 characters of b=, or more when two results share them; no
 * result (n == 0) gives "dkim=none". Values that are not RFC 2045 tokens are quoted.
 */
size_t dkim_ar_format(char *buf, size_t size, const struct dkim_result *results, size_t n);

#endif
