/*
 * admin_http.c - the admin HTTP listener: /metrics, /livez, /readyz and the JSON API
 * (/api/v1/, relay/admin_api.c) (see admin_http.h).
 *
 * libevent's evhttp parses the requests; this file only routes them. A scrape renders the
 * metric registry (a snapshot of atomics, no lock on the loop) into one evbuffer.
 */
#include "relay/admin_http.h"

#include "relay/admin_api.h"

#include "lib/http_listen.h"
#include "lib/log.h"
#include "lib/tls.h"
#include "lib/metrics.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTTP_LOG         "admin"
#define HTTP_TIMEOUT_S   10
#define HTTP_BODY_MAX    4096     /* requests carry no body worth reading */
#define HTTP_HEADERS_MAX 8192
#define TOKEN_MIN        16

static int admin_http_validate(void *obj, const char *pointer, struct conf_errors *errs);

#define AH(f) offsetof(struct admin_http_conf, f)
static const struct conf_key admin_http_keys[] = {
    { .name = "address", .type = CONF_STRING, .offset = AH(address),
      .help = "address of the HTTP listener for /metrics, /livez and /readyz, e.g. "
              "\"127.0.0.1:8026\" (null: none); anything but loopback needs a token" },
    { .name = "token", .type = CONF_STRING, .offset = AH(token), .flags = CONF_SECRET,
      .help = "bearer token every request must carry (Authorization: Bearer TOKEN); at "
              "least 16 characters; off loopback a token or client_ca is required" },
    { .name = "tls", .type = CONF_BOOL, .offset = AH(tls), .def = "false",
      .help = "serve HTTPS with the server certificate (tls.cert and tls.key)" },
    { .name = "client_ca", .type = CONF_PATH, .offset = AH(client_ca),
      .help = "PEM file of the CA that signs admin client certificates: the TLS handshake "
              "then requires one (implies tls)" },
    { NULL }
};
const struct conf_section admin_http_conf_section = { "http", admin_http_keys,
                                                      admin_http_validate };

struct admin_http {
    struct evhttp *http;
    SSL_CTX *ssl;                 /* HTTPS; NULL: plain HTTP */
    struct admin_http_deps deps;
    char *token;
    struct api_calls calls;       /* /api/v1/ requests waiting for their command */
};

static int admin_http_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct admin_http_conf *c = obj;
    char host[64], at[128];
    int port;

    if (c->address == NULL)
        return 0;
    snprintf(at, sizeof(at), "%s/address", pointer);
    if (http_listen_split(c->address, host, sizeof(host), &port) < 0)
        return conf_error(errs, at, "expected IP:port or [IPv6]:port, got \"%s\"",
                          c->address);
    snprintf(at, sizeof(at), "%s/token", pointer);
    if (c->token != NULL && strlen(c->token) < TOKEN_MIN)
        return conf_error(errs, at, "at least %d characters", TOKEN_MIN);
    if (c->token == NULL && c->client_ca == NULL &&
        !http_address_is_loopback(c->address))
        return conf_error(errs, at, "the admin listener on %s (not loopback) needs a "
                          "bearer token or client_ca", c->address);
    return 0;
}

/* ---- requests ------------------------------------------------------------------------- */

static void reply_text(struct evhttp_request *req, int code, const char *reason,
                       const char *type, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    if (b && text)
        evbuffer_add(b, text, strlen(text));
    evhttp_send_reply(req, code, reason, b);
    if (b)
        evbuffer_free(b);
}

static int authorized(const struct admin_http *h, struct evhttp_request *req)
{
    const char *auth;
    size_t n;

    if (h->token == NULL)
        return 1;
    auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
        return 0;
    auth += 7;
    n = strlen(h->token);
    return strlen(auth) == n && CRYPTO_memcmp(auth, h->token, n) == 0;
}

/* A Host that names this machine by address or as localhost ("127.0.0.1:8026", "[::1]",
 * "localhost"): what scripts send; a DNS-rebound page's request names its own domain. */
static int host_is_local(const char *host)
{
    char name[256];
    const char *end;
    size_t n;
    struct in6_addr a6;
    struct in_addr a4;

    if (host == NULL)
        return 1;                                   /* HTTP/1.0: no Host, no browser */
    if (host[0] == '[') {
        if ((end = strchr(host, ']')) == NULL || (size_t)(end - host - 1) >= sizeof(name))
            return 0;
        memcpy(name, host + 1, (size_t)(end - host - 1));
        name[end - host - 1] = '\0';
        return inet_pton(AF_INET6, name, &a6) == 1;
    }
    n = strcspn(host, ":");
    if (n == 0 || n >= sizeof(name))
        return 0;
    memcpy(name, host, n);
    name[n] = '\0';
    return strcasecmp(name, "localhost") == 0 || inet_pton(AF_INET, name, &a4) == 1;
}

/* The admin listener serves scripts (posternctl, curl, Prometheus), never a browser: a
 * web page the admin opens must not drive it. Refused: any request a browser marks as
 * coming from a page (Origin, or Sec-Fetch-Site other than "none"); and, when no token
 * protects the listener (a page cannot add the Authorization header, it can reach a
 * token-less loopback listener), an API request whose body is not JSON (a cross-site
 * form can send text/plain without a CORS preflight, never application/json) and a Host
 * that is not an address or localhost (DNS rebinding). Returns the refusal's status, 0
 * to serve. */
static int browser_refusal(const struct admin_http *h, struct evhttp_request *req,
                           const char *path, const char **why)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *site = evhttp_find_header(in, "Sec-Fetch-Site");
    const char *type = evhttp_find_header(in, "Content-Type");

    if (evhttp_find_header(in, "Origin") != NULL ||
        (site != NULL && strcasecmp(site, "none") != 0)) {
        *why = "requests from web pages are refused (the admin API is for scripts)\n";
        return 403;
    }
    if (h->token == NULL && path != NULL && strncmp(path, "/api/", 5) == 0 &&
        evbuffer_get_length(evhttp_request_get_input_buffer(req)) > 0 &&
        (type == NULL || strncasecmp(type, "application/json", 16) != 0 ||
         (type[16] != '\0' && type[16] != ';' && type[16] != ' '))) {
        *why = "a request body must be Content-Type: application/json\n";
        return 415;
    }
    if (h->token == NULL && !host_is_local(evhttp_find_header(in, "Host"))) {
        *why = "Host must be this listener's address or localhost (no token is set)\n";
        return 421;
    }
    return 0;
}

static void serve_metrics(struct admin_http *h, struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    size_t len;
    char *text;

    if (h->deps.collect)
        h->deps.collect(h->deps.arg);
    text = metrics_render(metrics_default(), &len);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    if (b)
        evbuffer_add(b, text, len);
    evhttp_send_reply(req, HTTP_OK, "OK", b);
    if (b)
        evbuffer_free(b);
    free(text);
}

static void serve_readyz(struct admin_http *h, struct evhttp_request *req)
{
    char why[256] = "not ready", body[300];

    if (h->deps.ready == NULL || h->deps.ready(h->deps.arg, why, sizeof(why))) {
        reply_text(req, HTTP_OK, "OK", "text/plain; charset=utf-8", "ready\n");
        return;
    }
    snprintf(body, sizeof(body), "not ready: %s\n", why);
    reply_text(req, 503, "Service Unavailable", "text/plain; charset=utf-8", body);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct admin_http *h = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char *why = NULL;
    int refusal;

    if (!authorized(h, req)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"postern\"");
        reply_text(req, 401, "Unauthorized", "text/plain; charset=utf-8",
                   "a bearer token is required\n");
        return;
    }
    if ((refusal = browser_refusal(h, req, path, &why)) != 0) {
        log_warn(HTTP_LOG, "%s %s refused (%d): %.*s", evhttp_request_get_host(req) ?
                 evhttp_request_get_host(req) : "-", path ? path : "/", refusal,
                 (int)strlen(why) - 1, why);
        reply_text(req, refusal, refusal == 403 ? "Forbidden" : refusal == 415
                   ? "Unsupported Media Type" : "Misdirected Request",
                   "text/plain; charset=utf-8", why);
        return;
    }
    if (path == NULL)
        path = "/";
    if (strncmp(path, "/api/", 5) == 0) {
        admin_api_request(&h->calls, req, path, &h->deps);
        return;
    }
    if (strcmp(path, "/metrics") != 0 && strcmp(path, "/livez") != 0 &&
        strcmp(path, "/readyz") != 0) {
        reply_text(req, HTTP_NOTFOUND, "Not Found", "text/plain; charset=utf-8",
                   "not found (try /metrics, /livez, /readyz, /api/v1/status)\n");
        return;
    }
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        reply_text(req, 405, "Method Not Allowed", "text/plain; charset=utf-8",
                   "GET or HEAD only\n");
        return;
    }
    if (strcmp(path, "/metrics") == 0)
        serve_metrics(h, req);
    else if (strcmp(path, "/livez") == 0)
        reply_text(req, HTTP_OK, "OK", "text/plain; charset=utf-8", "ok\n");
    else
        serve_readyz(h, req);
}

static int ssl_setup(struct admin_http *h, const struct admin_http_conf *c,
                     const struct admin_http_deps *deps)
{
    if (deps->cert == NULL || deps->key == NULL) {
        log_error(HTTP_LOG, "admin.http.tls needs tls.cert and tls.key");
        return -1;
    }
    struct tls_load_error te;

    if ((h->ssl = tls_server_ctx_new(deps->cert, deps->key, &te)) == NULL) {
        log_error(HTTP_LOG, "admin.http.tls: %s: cannot load %s: %s", te.key, te.path,
                  te.reason);
        return -1;
    }
    if (c->client_ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(c->client_ca);
        if (names == NULL || SSL_CTX_load_verify_locations(h->ssl, c->client_ca, NULL) != 1) {
            log_error(HTTP_LOG, "admin.http.client_ca: cannot load CA certificates from %s",
                      c->client_ca);
            if (names)
                sk_X509_NAME_pop_free(names, X509_NAME_free);
            return -1;
        }
        SSL_CTX_set_client_CA_list(h->ssl, names);
        SSL_CTX_set_verify(h->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return 0;
}

struct admin_http *admin_http_new(const struct admin_http_conf *c,
                                  const struct admin_http_deps *deps, int *failed)
{
    struct http_listen_conf lc = { .address = c->address, .timeout_s = HTTP_TIMEOUT_S,
                                   .body_max = HTTP_BODY_MAX,
                                   .headers_max = HTTP_HEADERS_MAX };
    struct admin_http *h;

    *failed = 0;
    if (c->address == NULL)
        return NULL;
    h = xcalloc(1, sizeof(*h));
    h->deps = *deps;
    h->token = c->token ? xstrdup(c->token) : NULL;
    if ((c->tls || c->client_ca) && ssl_setup(h, c, deps) < 0) {
        admin_http_free(h);
        *failed = 1;
        return NULL;
    }
    lc.ssl = h->ssl;
    if ((h->http = http_listen_new(deps->base, &lc, on_request, h)) == NULL) {
        log_error(HTTP_LOG, "cannot listen on %s for the admin HTTP listener", c->address);
        admin_http_free(h);
        *failed = 1;
        return NULL;
    }
    log_info(HTTP_LOG, "admin HTTP listener on %s%s (/metrics, /livez, /readyz, /api/v1/)%s%s",
             h->ssl ? "https://" : "http://", c->address,
             h->token ? ", bearer token required" : "",
             c->client_ca ? ", client certificate required" : "");
    return h;
}

void admin_http_free(struct admin_http *h)
{
    if (h == NULL)
        return;
    admin_api_orphan(&h->calls);
    if (h->http)
        evhttp_free(h->http);
    if (h->ssl)
        tls_ctx_free(h->ssl);
    if (h->token) {
        OPENSSL_cleanse(h->token, strlen(h->token));
        free(h->token);
    }
    free(h);
}
