/*
 * dkim_crypto.h - the public-key operations of DKIM on OpenSSL 3 EVP: RSASSA-PKCS1-v1_5
 * with SHA-256 or SHA-1 (RFC 6376), and Ed25519 (PureEdDSA) over the SHA-256 of the
 * canonicalized header data (RFC 8463). Both work on the header digest computed by
 * dkim_hash_headers(), so the header data is hashed once.
 *
 * Costs measured on the 2-core development machine (make bench prints them): verifying
 * one signature takes about 0.025 ms for RSA-2048, 0.08 ms for RSA-4096 and 0.11 ms for
 * Ed25519; signing takes about 0.35 ms for RSA-2048, 4 ms for RSA-4096 and 0.05 ms for
 * Ed25519.
 * Threading: any thread; the keys are reference-counted OpenSSL objects.
 */
#ifndef POSTERN_DKIM_CRYPTO_H
#define POSTERN_DKIM_CRYPTO_H

#include "mailauth/dkim_sig.h"

#include <openssl/evp.h>
#include <stddef.h>

/* The key of a key record's p= bytes: for rsa a SubjectPublicKeyInfo (or a bare PKCS#1
 * RSAPublicKey, which some publish), for ed25519 the 32 raw bytes. NULL when the bytes
 * are not a key of that type. The caller frees it with EVP_PKEY_free(). */
EVP_PKEY *dkim_crypto_public_key(enum dkim_keytype type, const unsigned char *p, size_t len);

/* The DKIM key type of key: 0 and *type set, or -1 for any other kind of key. */
int dkim_crypto_key_type(const EVP_PKEY *key, enum dkim_keytype *type);

/* 1 when sig is alg's signature of the header digest under key, 0 otherwise. */
int dkim_crypto_verify(EVP_PKEY *key, enum dkim_alg alg, const unsigned char *digest,
                       size_t digest_len, const unsigned char *sig, size_t sig_len);

/* Sign the header digest with the private key: the signature's length (written to out,
 * out_size bytes; EVP_PKEY_get_size(key) is enough), or 0 on failure. */
size_t dkim_crypto_sign(EVP_PKEY *key, enum dkim_alg alg, const unsigned char *digest,
                        size_t digest_len, unsigned char *out, size_t out_size);

/* Read a PEM private key (PKCS#8 "PRIVATE KEY", or "RSA PRIVATE KEY") from path. NULL
 * with a reason in err (never the key's bytes) when it cannot. */
EVP_PKEY *dkim_crypto_load_private(const char *path, char *err, size_t err_len);

#endif
