/*
 * http_listen.h - one evhttp listener, set up the same way for every HTTP face of the
 * daemon: bound to an "IP:port" / "[IPv6]:port" / "name:port" address, HTTPS when given an
 * OpenSSL context, request limits (timeout, body and header sizes), the methods GET, HEAD,
 * POST, PUT and DELETE, and one callback for every request. Used by the admin listener
 * (relay/admin_http.c) and the users' web page (admin/web.c); each keeps its own routing,
 * authentication and TLS context (certificates, client CA). Loop thread only.
 */
#ifndef POSTERN_HTTP_LISTEN_H
#define POSTERN_HTTP_LISTEN_H

#include <stddef.h>

#include <openssl/ssl.h>

struct event_base;
struct evhttp;
struct evhttp_request;

struct http_listen_conf {
    const char *address;          /* "127.0.0.1:8026", "[::1]:8025", "localhost:8026" */
    SSL_CTX *ssl;                 /* HTTPS with it (borrowed: must outlive the listener);
                                     NULL: plain HTTP */
    int timeout_s;                /* a connection idle this long is closed */
    size_t body_max;              /* larger request bodies get 413 */
    size_t headers_max;           /* larger request headers are refused */
};

/* An evhttp on base bound to c->address, calling cb(req, arg) for every request. NULL
 * when the address does not parse or cannot be bound (the caller logs it); free the
 * result with evhttp_free(). */
struct evhttp *http_listen_new(struct event_base *base, const struct http_listen_conf *c,
                               void (*cb)(struct evhttp_request *req, void *arg), void *arg);

/* Split "IP:port", "[IPv6]:port" or "name:port" into host and port 1..65535 (pure);
 * -1 when malformed. */
int http_listen_split(const char *address, char *host, size_t hostlen, int *port);

/* True when address ("IP:port", "[IPv6]:port", "localhost:port") names a loopback
 * address: the listeners that may run without TLS or a token. */
int http_address_is_loopback(const char *address);

#endif
