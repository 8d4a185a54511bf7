/*
 * dkim_hash.h - the hashes DKIM signs: body hashes (bh=) computed in one pass while the
 * body streams, and the hash of the signed header fields.
 *
 * A struct dkim_bodyhash holds every body hash one message needs: one per distinct
 * (canonicalization, hash, l= limit). Work is shared: each canonicalization runs once
 * however many hashes use it, and signatures asking for the same triple share one hash.
 * The verifier adds one entry per signature, the signer one per message.
 * Threading: one message's state; any thread, one at a time.
 */
#ifndef POSTERN_DKIM_HASH_H
#define POSTERN_DKIM_HASH_H

#include "mailauth/dkim_header.h"
#include "mailauth/dkim_sig.h"

#include <stdbool.h>
#include <stddef.h>

#define DKIM_BODYHASH_MAX 16      /* distinct body hashes per message */
#define DKIM_DIGEST_MAX 64        /* bytes of the largest digest (EVP_MAX_MD_SIZE) */

struct dkim_bodyhash;

struct dkim_bodyhash *dkim_bodyhash_new(void);
void dkim_bodyhash_free(struct dkim_bodyhash *bh);

/* Ask for a body hash; limit < 0: the whole body, else the first limit canonical bytes.
 * Returns its index (an identical one already asked for is shared), or -1 when the table
 * is full or the body has started. */
int dkim_bodyhash_add(struct dkim_bodyhash *bh, enum dkim_canon c, enum dkim_hash h,
                      long long limit);

/* Feed body bytes (CRLF line ends, dot-unstuffed), in chunks of any size. */
void dkim_bodyhash_update(struct dkim_bodyhash *bh, const void *data, size_t len);
/* The body has ended. Idempotent. */
void dkim_bodyhash_final(struct dkim_bodyhash *bh);
bool dkim_bodyhash_done(const struct dkim_bodyhash *bh);

/* After final: the digest of entry idx into out (DKIM_DIGEST_MAX bytes); its length. */
size_t dkim_bodyhash_digest(const struct dkim_bodyhash *bh, int idx, unsigned char *out);
/* After final: the length of the whole canonical body (to tell whether l= left part of
 * it unsigned). 0 when no hash used that canonicalization. */
unsigned long long dkim_bodyhash_length(const struct dkim_bodyhash *bh, enum dkim_canon c);

/*
 * The header hash of RFC 6376 3.7: for each name of names[0..nnames), in order, the last
 * field of that name not used yet (bottom-up; a name with no field left adds nothing),
 * canonicalized; then the signature field sig_raw itself, canonicalized, with the bytes
 * [b_start, b_end) (its b= value) removed and without a final CRLF. out receives the
 * digest (DKIM_DIGEST_MAX bytes). Returns the digest length, 0 on an OpenSSL failure.
 */
size_t dkim_hash_headers(enum dkim_hash h, enum dkim_canon c, const struct dkim_field *fields,
                         size_t nfields, const char *const *names, size_t nnames,
                         const char *sig_raw, size_t sig_len, size_t b_start, size_t b_end,
                         unsigned char *out);

#endif
