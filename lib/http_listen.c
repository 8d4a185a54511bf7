/*
 * http_listen.c - one evhttp listener (see http_listen.h): the bind, TLS and limits that
 * the admin listener and the web page share.
 */
#include "lib/http_listen.h"

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HOST_MAX 256

int http_listen_split(const char *address, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(address, ':'), *h = address;
    size_t n;
    char *end;
    long p;

    if (colon == NULL)
        return -1;
    n = (size_t)(colon - address);
    if (address[0] == '[') {
        if (n < 2 || address[n - 1] != ']')
            return -1;
        h = address + 1;
        n -= 2;
    }
    if (n == 0 || n >= hostlen)
        return -1;
    memcpy(host, h, n);
    host[n] = '\0';
    p = strtol(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] == '\0' || p <= 0 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

int http_address_is_loopback(const char *address)
{
    char host[HOST_MAX];
    unsigned char a[16];
    int port;

    if (http_listen_split(address, host, sizeof(host), &port) < 0)
        return 0;
    if (strcasecmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127;
    if (inet_pton(AF_INET6, host, a) == 1)
        return memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\1", 16) == 0;
    return 0;
}

/* evhttp asks for each accepted connection's bufferevent: a TLS one. */
static struct bufferevent *ssl_bevcb(struct event_base *base, void *arg)
{
    SSL *ssl = SSL_new(arg);

    if (ssl == NULL)
        return NULL;
    return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                          BEV_OPT_CLOSE_ON_FREE);
}

struct evhttp *http_listen_new(struct event_base *base, const struct http_listen_conf *c,
                               void (*cb)(struct evhttp_request *req, void *arg), void *arg)
{
    char host[HOST_MAX];
    int port;
    struct evhttp *http;

    if (http_listen_split(c->address, host, sizeof(host), &port) < 0)
        return NULL;
    if ((http = evhttp_new(base)) == NULL)
        return NULL;
    if (c->ssl != NULL)
        evhttp_set_bevcb(http, ssl_bevcb, c->ssl);
    if (evhttp_bind_socket(http, host, (ev_uint16_t)port) != 0) {
        evhttp_free(http);
        return NULL;
    }
    evhttp_set_timeout(http, c->timeout_s);
    evhttp_set_max_body_size(http, (ev_ssize_t)c->body_max);
    evhttp_set_max_headers_size(http, (ev_ssize_t)c->headers_max);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                               EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    evhttp_set_gencb(http, cb, arg);
    return http;
}
