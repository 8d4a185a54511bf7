/*
 * dkim_keygen.h - DKIM key pairs for signing domains: generate one, write the private key
 * (PEM, mode 0600, never over an existing file), and write the DNS TXT record that
 * publishes the public key, as record text and as a zone-file line whose strings are at
 * most 255 bytes (RFC 1035: a TXT string is length-prefixed by one byte).
 * Used by posternctl dkim keygen, the tests and the benchmark.
 */
#ifndef POSTERN_DKIM_KEYGEN_H
#define POSTERN_DKIM_KEYGEN_H

#include "mailauth/dkim_sig.h"

#include <openssl/evp.h>
#include <stddef.h>

#define DKIM_RSA_BITS_MIN 1024    /* RFC 8301: verifiers refuse shorter keys */
#define DKIM_RSA_BITS_DEFAULT 2048
#define DKIM_RSA_BITS_MAX 8192
#define DKIM_TXT_STRING_MAX 255

/* A new key pair (bits: RSA only). NULL on failure. Free with EVP_PKEY_free(). */
EVP_PKEY *dkim_keygen(enum dkim_keytype type, unsigned bits);

/* Write key's private half to path as PEM (PKCS#8), created with mode 0600 (O_EXCL).
 * 0, or -1 with a reason in err. */
int dkim_key_write_private(const char *path, EVP_PKEY *key, char *err, size_t err_len);

/* "v=DKIM1; k=rsa; p=BASE64" (SubjectPublicKeyInfo) or "v=DKIM1; k=ed25519; p=BASE64"
 * (the 32 raw bytes), malloc'd; NULL for another kind of key. */
char *dkim_key_record(EVP_PKEY *key);

/* The zone-file line publishing record at selector._domainkey.domain:
 *   SELECTOR._domainkey.DOMAIN. IN TXT ( "..." "..." )
 * each string at most DKIM_TXT_STRING_MAX bytes. malloc'd. */
char *dkim_key_zone_line(const char *selector, const char *domain, const char *record);

#endif
