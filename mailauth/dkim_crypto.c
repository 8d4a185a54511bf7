/*
 * dkim_crypto.c - RSA and Ed25519 signatures for DKIM over OpenSSL 3 EVP (see
 * dkim_crypto.h). Called by the verifier, the signer and the key tools.
 */
#include "mailauth/dkim_crypto.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#define ED25519_KEY_LEN 32

EVP_PKEY *dkim_crypto_public_key(enum dkim_keytype type, const unsigned char *p, size_t len)
{
    const unsigned char *q = p;
    EVP_PKEY *key = NULL;

    if (type == DKIM_KEY_ED25519) {
        if (len != ED25519_KEY_LEN)
            return NULL;
        key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, p, len);
    } else {
        key = d2i_PUBKEY(NULL, &q, (long)len);
        if (key != NULL && (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || q != p + len)) {
            EVP_PKEY_free(key);
            key = NULL;
        }
        if (key == NULL) {
            q = p;
            key = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)len);
            if (key != NULL && q != p + len) {
                EVP_PKEY_free(key);
                key = NULL;
            }
        }
    }
    ERR_clear_error();
    return key;
}

int dkim_crypto_key_type(const EVP_PKEY *key, enum dkim_keytype *type)
{
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:     *type = DKIM_KEY_RSA; return 0;
    case EVP_PKEY_ED25519: *type = DKIM_KEY_ED25519; return 0;
    default:               return -1;
    }
}

static const EVP_MD *rsa_md(enum dkim_alg alg)
{
    return alg == DKIM_ALG_RSA_SHA1 ? EVP_sha1() : EVP_sha256();
}

int dkim_crypto_verify(EVP_PKEY *key, enum dkim_alg alg, const unsigned char *digest,
                       size_t digest_len, const unsigned char *sig, size_t sig_len)
{
    int ok = 0;

    if (alg == DKIM_ALG_ED25519_SHA256) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        ok = md != NULL && EVP_DigestVerifyInit_ex(md, NULL, NULL, NULL, NULL, key, NULL) == 1 &&
             EVP_DigestVerify(md, sig, sig_len, digest, digest_len) == 1;
        EVP_MD_CTX_free(md);
    } else {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(ctx, rsa_md(alg)) == 1 &&
             EVP_PKEY_verify(ctx, sig, sig_len, digest, digest_len) == 1;
        EVP_PKEY_CTX_free(ctx);
    }
    ERR_clear_error();
    return ok;
}

size_t dkim_crypto_sign(EVP_PKEY *key, enum dkim_alg alg, const unsigned char *digest,
                        size_t digest_len, unsigned char *out, size_t out_size)
{
    size_t len = out_size;
    int ok;

    if (alg == DKIM_ALG_ED25519_SHA256) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        ok = md != NULL && EVP_DigestSignInit_ex(md, NULL, NULL, NULL, NULL, key, NULL) == 1 &&
             EVP_DigestSign(md, out, &len, digest, digest_len) == 1;
        EVP_MD_CTX_free(md);
    } else {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
        ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(ctx, rsa_md(alg)) == 1 &&
             EVP_PKEY_sign(ctx, out, &len, digest, digest_len) == 1;
        EVP_PKEY_CTX_free(ctx);
    }
    ERR_clear_error();
    return ok ? len : 0;
}

/* An encrypted key file must fail, not prompt on a terminal the daemon does not have. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
    (void)buf, (void)size, (void)rwflag, (void)arg;
    return -1;
}

EVP_PKEY *dkim_crypto_load_private(const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *key;

    if (f == NULL) {
        snprintf(err, err_len, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
    fclose(f);
    ERR_clear_error();
    if (key == NULL)
        snprintf(err, err_len, "%s holds no unencrypted PEM private key", path);
    return key;
}
