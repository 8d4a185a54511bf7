/*
 * dkim_verify.h - verify the DKIM signatures of one message (RFC 6376, RFC 8463, RFC 8301),
 * asynchronously, while the message streams.
 *
 * Use, per message:
 *   v = dkim_verify_new(conf, fields, n, now);   at the end of the header: parses every
 *       DKIM-Signature (up to conf->max_signatures, top first), hashes the signed header
 *       fields of each, and sets up one body hash per distinct (c=, a=, l=)
 *   dkim_verify_body(v, data, len) ...            each body chunk as it goes to the spool
 *   dkim_verify_body_end(v)                       at the end of DATA
 *   dkim_verify_start(v, base, dns, cb, arg)      any time after new (right after the
 *       header lets the key lookups overlap the body transfer)
 *   cb(v, arg) runs once, on the loop, never inside a dkim_verify_* call, when the body
 *       has ended and every signature has its result (or conf->timeout_ms after start,
 *       for lookups still pending: temperror)
 *   dkim_verify_results(v, &n)                    one result per signature checked
 *   dkim_verify_free(v)                           any time: pending lookups are cancelled
 *                                                 and cb will not run
 * The header fields are borrowed only during dkim_verify_new(). The crypto runs on the
 * loop thread when a key arrives (well under a millisecond per signature: see
 * dkim_crypto.h). Threading: one loop thread.
 */
#ifndef POSTERN_DKIM_VERIFY_H
#define POSTERN_DKIM_VERIFY_H

#include "mailauth/dkim_dns.h"
#include "mailauth/dkim_header.h"
#include "mailauth/dkim_result.h"

#include <stddef.h>

struct event_base;
struct dkim_verify;

/* The "verify" part of the "dkim" config section (dkim_conf.c). */
struct dkim_verify_conf {
    long long max_signatures;     /* signatures checked per message; more are skipped */
    long long timeout_ms;         /* key lookups still pending after this: temperror */
    long long min_rsa_bits;       /* shorter RSA keys: permerror (RFC 8301: 1024) */
};

typedef void (*dkim_verify_cb)(struct dkim_verify *v, void *arg);

/* Start verifying a message whose header is fields[0..n) (borrowed during the call).
 * now: the current time in seconds, for x=. conf is copied. */
struct dkim_verify *dkim_verify_new(const struct dkim_verify_conf *conf,
                                    const struct dkim_field *fields, size_t n, long long now);

/* The next bytes of the body (CRLF line ends, dot-unstuffed). */
void dkim_verify_body(struct dkim_verify *v, const void *data, size_t len);
/* The body is complete. */
void dkim_verify_body_end(struct dkim_verify *v);

/* Look up the keys (dns is copied; its context must outlive v) and arrange for cb. Call
 * once. */
void dkim_verify_start(struct dkim_verify *v, struct event_base *base,
                       const struct dkim_dns *dns, dkim_verify_cb cb, void *arg);

/* The results, in the order of the signatures in the header; valid until free. Final once
 * cb has run. */
const struct dkim_result *dkim_verify_results(const struct dkim_verify *v, size_t *n);
/* Signatures not checked because of max_signatures. */
size_t dkim_verify_skipped(const struct dkim_verify *v);

void dkim_verify_free(struct dkim_verify *v);

#endif
