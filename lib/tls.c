/*
 * tls.c - server-side OpenSSL setup (see tls.h).
 */
#include "lib/tls.h"

#include "lib/log.h"

#include <openssl/err.h>
#include <stdio.h>

static void tls_log_errors(const char *what, const char *file)
{
    unsigned long e;
    char buf[256];
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        log_error("master", "%s %s: %s", what, file, buf);
    }
}

SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        tls_log_errors("cannot load certificate", cert_file);
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        tls_log_errors("cannot load private key", key_file);
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
