/*
 * http_post.h - one HTTP(S) POST with libevent's evhttp client, cancellable.
 *
 * Used by webhooks/delivery.c for each delivery attempt. What evhttp does not do, this
 * does (see shared/research/spikes.md section 6): the Host header; HTTPS through
 * bufferevent_openssl with SNI (for host names), certificate verification AND host name
 * (or IP address) verification, SSL_OP_IGNORE_UNEXPECTED_EOF; name resolution through
 * lib/dns (c-ares) so that nothing blocks; one deadline for the whole request (DNS,
 * connect, TLS, request, response); bounded response headers and body; the connection
 * freed outside evhttp's own callbacks. No retries here: the caller decides.
 *
 * Threading: loop thread only. The callback runs on the loop thread, never inside
 * wh_http_post() itself, and never after wh_http_cancel().
 */
#ifndef POSTERN_WEBHOOKS_HTTP_POST_H
#define POSTERN_WEBHOOKS_HTTP_POST_H

#include <stddef.h>

struct event_base;
struct dns;
struct ssl_ctx_st;
struct wh_http_req;

#define WH_HTTP_ERROR_MAX 256
#define WH_HTTP_RESPONSE_BODY_MAX (64 * 1024)   /* larger answers are an error */
#define WH_HTTP_RESPONSE_HEADERS_MAX (16 * 1024)

/* A parsed endpoint URL. */
struct wh_url {
    int https;
    char *host;          /* without brackets for IPv6 */
    int host_is_ip;      /* IPv4 or IPv6 literal: no DNS, no SNI, IP verification */
    int port;
    char *target;        /* "/path?query", at least "/" */
    char *host_header;   /* "host", "host:port", "[v6]:port" as sent in Host: */
    char *origin;        /* "https://host:port" for logs (no path: it may hold a token) */
};

/* Parse an http:// or https:// URL (no user info, no fragment). Returns 0, or -1 with
 * a reason in err. Free with wh_url_clear. */
int wh_url_parse(const char *url, struct wh_url *out, char *err, size_t err_size);
void wh_url_clear(struct wh_url *u);

/* A client TLS context: TLS >= 1.2, peer verification against ca_file (PEM), or the
 * system store when ca_file is NULL. NULL with a reason in err on failure. */
struct ssl_ctx_st *wh_http_tls_ctx_new(const char *ca_file, char *err, size_t err_size);

struct wh_http_header {
    const char *name;
    const char *value;
};

struct wh_http_result {
    int status;          /* HTTP status; 0 when no response was received */
    long long retry_after_ms; /* the response's Retry-After, -1 without (or unparsable) */
    const char *error;   /* status 0: why ("connection refused", "timeout after 15s",
                            "certificate verify failed: ..."); valid in the callback */
};

/* A Retry-After value (RFC 9110 10.2.3: delay-seconds, or an IMF-fixdate such as
 * "Wed, 21 Oct 2015 07:28:00 GMT") as milliseconds from now_s; -1 when it is neither.
 * A date in the past is 0. Pure. */
long long wh_parse_retry_after(const char *value, long long now_s);

/* The outcome of one request; loop thread. The handle is gone when this runs. */
typedef void (*wh_http_done_fn)(const struct wh_http_result *res, void *arg);

/*
 * POST body to url with the given headers (Host and Content-Length are added). tls is
 * required for https (not owned; must outlive the request). dns may be NULL when the
 * host is an IP literal. Everything given is copied. The callback runs exactly once,
 * unless wh_http_cancel() is called first; the handle is valid until then.
 */
struct wh_http_req *wh_http_post(struct event_base *base, struct dns *dns,
                                 struct ssl_ctx_st *tls, const struct wh_url *url,
                                 const struct wh_http_header *headers, size_t nheaders,
                                 const char *body, size_t body_len, long long timeout_ms,
                                 wh_http_done_fn cb, void *arg);

/* Abort a request: its callback will not run. Not from inside its own callback. */
void wh_http_cancel(struct wh_http_req *req);

#endif
