/*
 * http_post.c - one cancellable HTTP(S) POST over evhttp (see http_post.h).
 *
 * Life of a request: wh_http_post() copies everything and arms a zero timer, so that no
 * callback can run inside the call. The timer starts the request (DNS through lib/dns
 * when the host is a name, then the connection) and is re-armed as the deadline of the
 * whole request. evhttp's callbacks only record the outcome and activate the "finish"
 * event; finish_cb frees the connection (never inside evhttp's callbacks, which the
 * spike showed to be unsafe), runs the caller's callback, and frees the request.
 * wh_http_cancel() tears down the same way without the callback. Loop thread only.
 */
#include "webhooks/http_post.h"

#include "lib/dns.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HTTP_PORT 80
#define HTTPS_PORT 443
#define PORT_MAX 65535
#define MS_PER_S 1000
#define US_PER_MS 1000
#define IP_TEXT_MAX INET6_ADDRSTRLEN
#define URL_HOST_MAX 256           /* a DNS name is at most 253 characters */
#define RETRY_AFTER_MAX_S 31536000LL /* a year: longer values are not taken as numbers */

struct wh_http_req {
    struct event_base *base;
    struct dns *dns;
    SSL_CTX *tls;
    int https, host_is_ip, port;
    char *host, *target, *host_header;
    char **hnames, **hvalues;
    size_t nheaders;
    char *body;
    size_t body_len;
    long long timeout_ms;
    struct dns_query *dq;
    struct evhttp_connection *conn;
    SSL *ssl;                    /* owned by the connection's bufferevent */
    struct event *timer;         /* first the start (0 s), then the deadline */
    struct event *finish;        /* activated once the outcome is known */
    int started;
    int done;                    /* outcome recorded */
    int tearing_down;            /* evhttp may call back while we free it: ignore */
    int status;
    long long retry_after_ms;
    char error[WH_HTTP_ERROR_MAX];
    wh_http_done_fn cb;
    void *arg;
};

/* ---- URLs ---- */

static int host_is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* Fill the derived fields of out from the parsed URI. */
static void url_fill(struct wh_url *out, const struct evhttp_uri *uri, const char *host)
{
    const char *path = evhttp_uri_get_path(uri), *query = evhttp_uri_get_query(uri);
    int defport = out->https ? HTTPS_PORT : HTTP_PORT;
    int v6 = strchr(host, ':') != NULL;
    const char *ob = v6 ? "[" : "", *cb = v6 ? "]" : "";

    out->host = xstrdup(host);
    out->host_is_ip = host_is_ip_literal(host);
    out->target = xasprintf("%s%s%s", path && *path ? path : "/", query ? "?" : "",
                            query ? query : "");
    if (out->port == defport)
        out->host_header = xasprintf("%s%s%s", ob, host, cb);
    else
        out->host_header = xasprintf("%s%s%s:%d", ob, host, cb, out->port);
    out->origin = xasprintf("%s://%s%s%s:%d", out->https ? "https" : "http", ob, host, cb,
                            out->port);
}

int wh_url_parse(const char *url, struct wh_url *out, char *err, size_t err_size)
{
    struct evhttp_uri *uri = evhttp_uri_parse_with_flags(url, 0);
    const char *scheme, *host;
    char hbuf[URL_HOST_MAX];
    size_t hl;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (uri == NULL) {
        snprintf(err, err_size, "not a valid URL");
        return -1;
    }
    scheme = evhttp_uri_get_scheme(uri);
    host = evhttp_uri_get_host(uri);
    hl = host ? strlen(host) : 0;
    if (scheme == NULL || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        snprintf(err, err_size, "the scheme must be http or https");
    else if (hl == 0 || hl >= sizeof(hbuf))
        snprintf(err, err_size, "no host, or a host name too long");
    else if (evhttp_uri_get_userinfo(uri) || evhttp_uri_get_fragment(uri))
        snprintf(err, err_size, "user info and fragments are not allowed");
    else if (evhttp_uri_get_port(uri) == 0 || evhttp_uri_get_port(uri) > PORT_MAX)
        snprintf(err, err_size, "bad port");
    else
        rc = 0;
    if (rc == 0) {
        /* libevent keeps the brackets of an IPv6 literal */
        if (host[0] == '[' && host[hl - 1] == ']')
            snprintf(hbuf, sizeof(hbuf), "%.*s", (int)(hl - 2), host + 1);
        else
            snprintf(hbuf, sizeof(hbuf), "%s", host);
        out->https = strcmp(scheme, "https") == 0;
        out->port = evhttp_uri_get_port(uri);
        if (out->port < 0)
            out->port = out->https ? HTTPS_PORT : HTTP_PORT;
        url_fill(out, uri, hbuf);
    }
    evhttp_uri_free(uri);
    return rc;
}

void wh_url_clear(struct wh_url *u)
{
    free(u->host);
    free(u->target);
    free(u->host_header);
    free(u->origin);
    memset(u, 0, sizeof(*u));
}

SSL_CTX *wh_http_tls_ctx_new(const char *ca_file, char *err, size_t err_size)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int ok;

    if (ctx == NULL) {
        snprintf(err, err_size, "SSL_CTX_new failed");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                 : SSL_CTX_set_default_verify_paths(ctx);
    if (!ok) {
        snprintf(err, err_size, "cannot load CA certificates from %s: %s",
                 ca_file ? ca_file : "the system store",
                 ERR_reason_error_string(ERR_peek_last_error()));
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* ---- the request ---- */

/* Record the outcome once and schedule finish_cb. */
static void record(struct wh_http_req *r, int status, const char *error)
{
    if (r->done || r->tearing_down)
        return;
    r->done = 1;
    r->status = status;
    snprintf(r->error, sizeof(r->error), "%s", error ? error : "");
    event_active(r->finish, EV_TIMEOUT, 0);
}

/* Free the connection and pending lookup; no callback of theirs can reach us after. */
static void teardown(struct wh_http_req *r)
{
    r->tearing_down = 1;
    if (r->dq)
        dns_cancel(r->dq);
    r->dq = NULL;
    if (r->conn)
        evhttp_connection_free(r->conn);
    r->conn = NULL;
}

static void req_free(struct wh_http_req *r)
{
    size_t i;

    teardown(r);
    event_free(r->timer);
    event_free(r->finish);
    for (i = 0; i < r->nheaders; i++) {
        free(r->hnames[i]);
        free(r->hvalues[i]);
    }
    free(r->hnames);
    free(r->hvalues);
    free(r->host);
    free(r->target);
    free(r->host_header);
    free(r->body);
    free(r);
}

static void finish_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wh_http_req *r = arg;
    struct wh_http_result res = { .status = r->status, .retry_after_ms = r->retry_after_ms,
                                  .error = r->error };

    (void)fd;
    (void)what;
    teardown(r);
    r->cb(&res, r->arg);
    req_free(r);
}

/* The TLS reason of a failure, when there is one: verification first, then the
 * OpenSSL error queue of the bufferevent. Empty when TLS is not the cause. */
static void tls_reason(struct wh_http_req *r, char *out, size_t size)
{
    struct bufferevent *bev = r->conn ? evhttp_connection_get_bufferevent(r->conn) : NULL;
    unsigned long e = bev ? bufferevent_get_openssl_error(bev) : 0;
    long v = r->ssl ? SSL_get_verify_result(r->ssl) : X509_V_OK;

    out[0] = '\0';
    if (v != X509_V_OK)
        snprintf(out, size, "certificate verify failed: %s",
                 X509_verify_cert_error_string(v));
    else if (e != 0)
        ERR_error_string_n(e, out, size);
}

static const char *evhttp_error_text(enum evhttp_request_error e)
{
    switch (e) {
    case EVREQ_HTTP_TIMEOUT:        return "timeout";
    case EVREQ_HTTP_EOF:            return "connection closed before a response";
    case EVREQ_HTTP_INVALID_HEADER: return "invalid response header";
    case EVREQ_HTTP_BUFFER_ERROR:   return "connection failed";
    case EVREQ_HTTP_REQUEST_CANCEL: return "cancelled";
    case EVREQ_HTTP_DATA_TOO_LONG:  return "response too large";
    }
    return "error";
}

static void on_error(enum evhttp_request_error e, void *arg)
{
    struct wh_http_req *r = arg;
    char tls[WH_HTTP_ERROR_MAX / 2], msg[WH_HTTP_ERROR_MAX];

    if (r->done || r->tearing_down)
        return;
    tls_reason(r, tls, sizeof(tls));
    if (tls[0])
        snprintf(msg, sizeof(msg), "%s (TLS: %s)", evhttp_error_text(e), tls);
    else
        snprintf(msg, sizeof(msg), "%s", evhttp_error_text(e));
    record(r, 0, msg);
}

long long wh_parse_retry_after(const char *value, long long now_s)
{
    struct tm tm;
    const char *end;
    long long n = 0;

    if (value == NULL)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (*value >= '0' && *value <= '9') {
        for (; *value >= '0' && *value <= '9'; value++) {
            n = n * 10 + (*value - '0');
            if (n > RETRY_AFTER_MAX_S)
                return -1;
        }
        while (*value == ' ' || *value == '\t')
            value++;
        return *value == '\0' ? n * 1000 : -1;
    }
    memset(&tm, 0, sizeof(tm));
    end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL || *end != '\0')
        return -1;
    n = (long long)timegm(&tm) - now_s;
    return n > 0 ? n * 1000 : 0;
}

static void on_done(struct evhttp_request *req, void *arg)
{
    struct wh_http_req *r = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;

    if (code > 0)
        r->retry_after_ms = wh_parse_retry_after(
            evhttp_find_header(evhttp_request_get_input_headers(req), "Retry-After"),
            (long long)time(NULL));

    /* A failed connect reaches here without on_error, and evhttp has already closed
     * the socket (its errno is gone): say what is known. After on_error, a no-op. */
    if (code > 0)
        record(r, code, NULL);
    else
        record(r, 0, "connection refused, unreachable or closed without a response");
}

/* A bufferevent for the connection to ip: TLS with SNI and name/IP checks, or plain. */
static struct bufferevent *make_bev(struct wh_http_req *r)
{
    const int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;
    struct bufferevent *bev;
    SSL *ssl;

    if (!r->https)
        return bufferevent_socket_new(r->base, -1, opts);
    if (r->tls == NULL || (ssl = SSL_new(r->tls)) == NULL)
        return NULL;
    if (r->host_is_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), r->host);
    } else {
        SSL_set_tlsext_host_name(ssl, r->host);
        SSL_set1_host(ssl, r->host);
    }
    bev = bufferevent_openssl_socket_new(r->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, opts);
    if (bev == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    r->ssl = ssl;
    return bev;
}

static void connect_ip(struct wh_http_req *r, const char *ip)
{
    struct bufferevent *bev = make_bev(r);
    struct timeval tv = { r->timeout_ms / MS_PER_S, (r->timeout_ms % MS_PER_S) * US_PER_MS };
    struct evhttp_request *req;
    struct evkeyvalq *h;
    size_t i;

    if (bev == NULL) {
        record(r, 0, "cannot create a connection");
        return;
    }
    r->conn = evhttp_connection_base_bufferevent_new(r->base, NULL, bev, ip,
                                                     (unsigned short)r->port);
    if (r->conn == NULL) {
        bufferevent_free(bev);
        record(r, 0, "cannot create a connection");
        return;
    }
    evhttp_connection_set_timeout_tv(r->conn, &tv);
    evhttp_connection_set_max_body_size(r->conn, WH_HTTP_RESPONSE_BODY_MAX);
    evhttp_connection_set_max_headers_size(r->conn, WH_HTTP_RESPONSE_HEADERS_MAX);
    req = evhttp_request_new(on_done, r);
    evhttp_request_set_error_cb(req, on_error);
    h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", r->host_header);
    for (i = 0; i < r->nheaders; i++)
        evhttp_add_header(h, r->hnames[i], r->hvalues[i]);
    evbuffer_add(evhttp_request_get_output_buffer(req), r->body, r->body_len);
    if (evhttp_make_request(r->conn, req, EVHTTP_REQ_POST, r->target) < 0)
        record(r, 0, "cannot start the request");
}

static void on_dns(const struct dns_result *res, void *arg)
{
    struct wh_http_req *r = arg;
    char ip[IP_TEXT_MAX], msg[WH_HTTP_ERROR_MAX];

    r->dq = NULL;
    if (res->status == DNS_OK && res->n > 0) {
        if (res->type == DNS_T_A)
            inet_ntop(AF_INET, &res->a[0], ip, sizeof(ip));
        else
            inet_ntop(AF_INET6, &res->aaaa[0], ip, sizeof(ip));
        connect_ip(r, ip);
    } else if (res->type == DNS_T_A && (res->status == DNS_NODATA || res->status == DNS_OK)) {
        r->dq = dns_lookup_aaaa(r->dns, r->host, on_dns, r);
    } else {
        snprintf(msg, sizeof(msg), "DNS lookup of %s: %s", r->host,
                 dns_status_str(res->status));
        record(r, 0, msg);
    }
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wh_http_req *r = arg;
    struct timeval tv = { r->timeout_ms / MS_PER_S, (r->timeout_ms % MS_PER_S) * US_PER_MS };
    char msg[WH_HTTP_ERROR_MAX];

    (void)fd;
    (void)what;
    if (r->started) {
        snprintf(msg, sizeof(msg), "timeout after %lldms", r->timeout_ms);
        record(r, 0, msg);
        return;
    }
    r->started = 1;
    evtimer_add(r->timer, &tv);
    if (r->host_is_ip)
        connect_ip(r, r->host);
    else if (r->dns == NULL)
        record(r, 0, "no DNS resolver for a host name");
    else
        r->dq = dns_lookup_a(r->dns, r->host, on_dns, r);
}

struct wh_http_req *wh_http_post(struct event_base *base, struct dns *dns, SSL_CTX *tls,
                                 const struct wh_url *url,
                                 const struct wh_http_header *headers, size_t nheaders,
                                 const char *body, size_t body_len, long long timeout_ms,
                                 wh_http_done_fn cb, void *arg)
{
    struct wh_http_req *r = xcalloc(1, sizeof(*r));
    struct timeval now = { 0, 0 };
    size_t i;

    r->retry_after_ms = -1;
    r->base = base;
    r->dns = dns;
    r->tls = tls;
    r->https = url->https;
    r->host_is_ip = url->host_is_ip;
    r->port = url->port;
    r->host = xstrdup(url->host);
    r->target = xstrdup(url->target);
    r->host_header = xstrdup(url->host_header);
    r->nheaders = nheaders;
    r->hnames = xcalloc(nheaders + 1, sizeof(char *));
    r->hvalues = xcalloc(nheaders + 1, sizeof(char *));
    for (i = 0; i < nheaders; i++) {
        r->hnames[i] = xstrdup(headers[i].name);
        r->hvalues[i] = xstrdup(headers[i].value);
    }
    r->body = xmalloc(body_len + 1);
    memcpy(r->body, body, body_len);
    r->body_len = body_len;
    r->timeout_ms = timeout_ms;
    r->cb = cb;
    r->arg = arg;
    r->timer = evtimer_new(base, timer_cb, r);
    r->finish = event_new(base, -1, 0, finish_cb, r);
    evtimer_add(r->timer, &now);
    return r;
}

void wh_http_cancel(struct wh_http_req *req)
{
    if (req)
        req_free(req);
}
