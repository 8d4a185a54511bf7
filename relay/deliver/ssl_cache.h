/*
 * ssl_cache.h - client TLS contexts by CA file, each made once and kept until the owner
 * stops: delivery (deliver.c) and recipient callouts (callout.c) each keep one cache.
 * Loop thread only.
 */
#ifndef POSTERN_SSL_CACHE_H
#define POSTERN_SSL_CACHE_H

struct ssl_ctx_st;
struct ssl_cache_entry;

struct ssl_cache {
    struct ssl_cache_entry *head;
};

/* The client context for cafile (NULL: the system store), made on first use by
 * smtp_client_ssl_ctx_new; NULL when it could not be made (remembered: not tried again). */
struct ssl_ctx_st *ssl_cache_get(struct ssl_cache *c, const char *cafile);

/* Free every context. */
void ssl_cache_clear(struct ssl_cache *c);

#endif
