/*
 * tls.c - server-side OpenSSL setup (see tls.h).
 */
#include "lib/tls.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

/* The first (innermost) queued OpenSSL error as one phrase, the queue emptied: "No such
 * file or directory" for a missing file rather than three lines of library codes. */
static void first_error(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    const char *reason = NULL;

    if (e != 0 && ERR_SYSTEM_ERROR(e))
        reason = strerror(ERR_GET_REASON(e));
    else if (e != 0)
        reason = ERR_reason_error_string(e);
    snprintf(buf, len, "%s", reason ? reason : "unknown error");
    ERR_clear_error();
}

SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file,
                            struct tls_load_error *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    memset(err, 0, sizeof(*err));
    if (ctx == NULL) {
        first_error(err->reason, sizeof(err->reason));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        err->key = "cert";
        err->path = cert_file;
        first_error(err->reason, sizeof(err->reason));
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        err->key = "key";
        err->path = key_file;
        first_error(err->reason, sizeof(err->reason));
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

void tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

void tls_describe(SSL *ssl, char *buf, size_t len)
{
    int alg_bits = 0;
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    int bits = SSL_CIPHER_get_bits(c, &alg_bits);
    snprintf(buf, len, "%s with cipher %s (%d/%d bits)", SSL_get_version(ssl),
             SSL_CIPHER_get_name(c), bits, alg_bits);
}

void tls_load_error_print(FILE *out, const char *file, const struct tls_load_error *err)
{
    if (err->key == NULL) {
        fprintf(out, "%s: error: /tls: cannot set up TLS: %s\n", file, err->reason);
        return;
    }
    fprintf(out, "%s: error: /tls/%s: cannot load %s: %s (%s)\n", file, err->key, err->path,
            err->reason, strcmp(err->key, "cert") == 0
                ? "expected a PEM certificate chain, server certificate first"
                : "expected the PEM private key of tls.cert");
}
