/*
 * tls.h - OpenSSL contexts for the SMTP server (STARTTLS and implicit TLS).
 *
 * TLS 1.2 and 1.3 only; SSL_OP_IGNORE_UNEXPECTED_EOF so a peer closing without
 * close_notify is an EOF, not an error (libevent 2.1 predates OpenSSL 3); no
 * renegotiation. Contexts are built at start and on SIGHUP (certificate reload).
 */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/* Why a server context could not be built: which file ("cert" or "key"; NULL when
 * OpenSSL itself failed), its path, and the first OpenSSL reason as one phrase. */
struct tls_load_error {
    const char *key;
    const char *path;
    char reason[160];
};

/* Build a server context from PEM files; NULL on failure, with *err saying why. */
SSL_CTX *tls_server_ctx_new(const char *cert_file, const char *key_file,
                            struct tls_load_error *err);

/* The one line a config check prints for err:
 * "FILE: error: /tls/cert: cannot load PATH: No such file or directory (hint)". */
void tls_load_error_print(FILE *out, const char *file, const struct tls_load_error *err);
void tls_ctx_free(SSL_CTX *ctx);

/* "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" for Received: and logs. */
void tls_describe(SSL *ssl, char *buf, size_t len);

#endif
