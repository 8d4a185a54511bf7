/*
 * dkim_sign.h - DKIM signing of outbound mail (RFC 6376, RFC 8463).
 *
 * A signer holds one sending domain's keys and options, loaded from its config entry
 * (dkim_conf.h). For each message:
 *   m = dkim_sign_new(signer)                 before the body
 *   dkim_sign_body(m, data, len) ...          each body chunk as it goes to the spool
 *   text = dkim_sign_finish(m, fields, n, now, err, len)
 *       the DKIM-Signature field(s) to put on top of the message, one per key, each
 *       "DKIM-Signature: v=1; a=...; c=...; d=...; s=...; t=...; [x=...;] h=...; bh=...;
 *       b=..." folded into lines of at most 78 characters, b= last, with CRLFs (malloc'd)
 *   dkim_sign_free(m)
 * h= lists every configured header present (as many times as it is present) and, for the
 * oversigned ones, one more. The body hash is shared by all the keys (all use SHA-256 and
 * the same canonicalization). Signing costs about 0.35 ms per RSA-2048 key and 0.05 ms per
 * Ed25519 key (dkim_crypto.h): cheap enough for the loop thread at END (an RSA-4096 key,
 * about 4 ms, is not).
 * Threading: a signer is read-only once loaded (any thread); a struct dkim_sign is one
 * message's.
 */
#ifndef POSTERN_DKIM_SIGN_H
#define POSTERN_DKIM_SIGN_H

#include "mailauth/dkim_conf.h"
#include "mailauth/dkim_header.h"

#include <stddef.h>

struct dkim_signer;
struct dkim_signers;
struct dkim_sign;

/* Load the keys of one domain entry. NULL with a reason in err when a key cannot be
 * used (config validation checks the same at load). */
struct dkim_signer *dkim_signer_load(const struct dkim_domain_conf *dc, char *err,
                                     size_t err_len);
void dkim_signer_free(struct dkim_signer *s);
/* The domain it signs for (d=). */
const char *dkim_signer_domain(const struct dkim_signer *s);

/* Every domain of the "sign" map, for the daemon; NULL with err when one fails. */
struct dkim_signers *dkim_signers_load(const struct dkim_conf *c, char *err, size_t err_len);
/* The signer of domain (case-insensitive), or NULL when it has none. */
const struct dkim_signer *dkim_signers_find(const struct dkim_signers *set, const char *domain);
void dkim_signers_free(struct dkim_signers *set);

struct dkim_sign *dkim_sign_new(const struct dkim_signer *s);
void dkim_sign_body(struct dkim_sign *m, const void *data, size_t len);
/* Ends the body and signs the header fields[0..n) (borrowed). now: seconds, for t=.
 * NULL with err on a crypto failure. */
char *dkim_sign_finish(struct dkim_sign *m, const struct dkim_field *fields, size_t n,
                       long long now, char *err, size_t err_len);
void dkim_sign_free(struct dkim_sign *m);

#endif
