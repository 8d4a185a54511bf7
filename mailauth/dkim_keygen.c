/*
 * dkim_keygen.c - generate DKIM key pairs and the TXT records that publish them (see
 * dkim_keygen.h). Called by posternctl, tests and the benchmark; not by the daemon.
 */
#include "mailauth/dkim_keygen.h"

#include "lib/base64.h"
#include "lib/xalloc.h"
#include "mailauth/dkim_crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PRIVATE_MODE 0600
#define ED25519_KEY_LEN 32

EVP_PKEY *dkim_keygen(enum dkim_keytype type, unsigned bits)
{
    EVP_PKEY *key;

    if (type == DKIM_KEY_ED25519)
        key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    else
        key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    ERR_clear_error();
    return key;
}

int dkim_key_write_private(const char *path, EVP_PKEY *key, char *err, size_t err_len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, PRIVATE_MODE);
    FILE *f;
    int ok;

    if (fd < 0) {
        snprintf(err, err_len, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    f = fdopen(fd, "w");
    if (f == NULL) {
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    ok = PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
    ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
    if (fclose(f) != 0)
        ok = 0;
    ERR_clear_error();
    if (!ok) {
        snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

char *dkim_key_record(EVP_PKEY *key)
{
    enum dkim_keytype type;
    unsigned char *der = NULL, raw[ED25519_KEY_LEN];
    size_t len = sizeof(raw), b64_len;
    int n;
    char *b64, *rec;

    if (dkim_crypto_key_type(key, &type) < 0)
        return NULL;
    if (type == DKIM_KEY_ED25519) {
        if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1)
            return NULL;
        der = raw;
    } else {
        n = i2d_PUBKEY(key, &der);
        if (n <= 0)
            return NULL;
        len = (size_t)n;
    }
    b64 = xmalloc(BASE64_ENCODED_SIZE(len));
    base64_encode(der, len, b64, BASE64_ENCODED_SIZE(len), &b64_len);
    if (der != raw)
        OPENSSL_free(der);
    rec = xasprintf("v=DKIM1; k=%s; p=%s", type == DKIM_KEY_RSA ? "rsa" : "ed25519", b64);
    free(b64);
    return rec;
}

char *dkim_key_zone_line(const char *selector, const char *domain, const char *record)
{
    size_t len = strlen(record), pos = 0, cap = len + len / DKIM_TXT_STRING_MAX * 8 + 256;
    char *out = xmalloc(cap + strlen(selector) + strlen(domain));
    size_t n = (size_t)sprintf(out, "%s._domainkey.%s. IN TXT (", selector, domain);

    while (pos < len) {
        size_t k = len - pos < DKIM_TXT_STRING_MAX ? len - pos : DKIM_TXT_STRING_MAX;
        n += (size_t)sprintf(out + n, " \"%.*s\"", (int)k, record + pos);
        pos += k;
    }
    sprintf(out + n, " )");
    return out;
}
