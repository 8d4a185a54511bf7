/*
 * ssl_cache.c - client TLS contexts by CA file, made once (see ssl_cache.h).
 */
#include "relay/deliver/ssl_cache.h"

#include "lib/xalloc.h"
#include "relay/deliver/smtp_client.h"

#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

struct ssl_cache_entry {
    struct ssl_cache_entry *next;
    char *cafile;                 /* NULL: the system store */
    SSL_CTX *ctx;
};

SSL_CTX *ssl_cache_get(struct ssl_cache *c, const char *cafile)
{
    struct ssl_cache_entry *e;

    for (e = c->head; e; e = e->next)
        if ((e->cafile == NULL && cafile == NULL) ||
            (e->cafile && cafile && strcmp(e->cafile, cafile) == 0))
            return e->ctx;
    e = xcalloc(1, sizeof(*e));
    e->cafile = cafile ? xstrdup(cafile) : NULL;
    e->ctx = smtp_client_ssl_ctx_new(cafile);
    e->next = c->head;
    c->head = e;
    return e->ctx;
}

void ssl_cache_clear(struct ssl_cache *c)
{
    struct ssl_cache_entry *e;

    while ((e = c->head) != NULL) {
        c->head = e->next;
        SSL_CTX_free(e->ctx);     /* NULL is fine */
        free(e->cafile);
        free(e);
    }
}
