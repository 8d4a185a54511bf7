/*
 * web.c - the web page's listener: requests, routes, replies and the security headers
 * every reply carries (see web.h). The routes themselves are in web_login.c and
 * web_settings.c; sessions in web_session.c.
 *
 * A request that waits (Redis, SASL on the worker pool, the throttle's delay) keeps a
 * struct web_req; when the client goes away meanwhile, evhttp's close callback cancels
 * whatever is pending and frees it, so no callback ever runs for a dead request.
 */
#include "admin/web_int.h"

#include "admin/web_assets.h"
#include "auth/sasl_server.h"
#include "content/quar.h"
#include "lib/http_listen.h"
#include "lib/log.h"
#include "lib/redis.h"
#include "lib/tls.h"
#include "lib/xalloc.h"
#include "policy/domain_conf.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WEB_TIMEOUT_S    30
#define WEB_BODY_MAX     (256 * 1024)   /* the longest list of a user fits */
#define WEB_HEADERS_MAX  16384

/* No inline script or style, nothing from elsewhere, no framing, forms post here only. */
#define WEB_CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " \
                "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "          \
                "base-uri 'none'"

const struct web_asset *web_asset_find(const char *name)
{
    const struct web_asset *a;

    for (a = web_assets; a->name; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}

/* ---- request life ------------------------------------------------------------------ */

static void req_cancel_pending(struct web_req *r)
{
    if (r->rreq) {
        redis_cancel(r->rreq);
        r->rreq = NULL;
    }
    if (r->afreq) {
        authfail_cancel(r->afreq);
        r->afreq = NULL;
    }
    if (r->asess) {
        auth_sess_free(r->asess);   /* cancels a SASL step in flight */
        r->asess = NULL;
    }
    if (r->timer) {
        event_free(r->timer);
        r->timer = NULL;
    }
    if (r->qop) {
        quar_cancel(r->qop);
        r->qop = NULL;
    }
}

static void req_free(struct web_req *r)
{
    size_t i;

    req_cancel_pending(r);
    if (r->conn)
        evhttp_connection_set_closecb(r->conn, NULL, NULL);
    if (r->prev)
        r->prev->next = r->next;
    else
        r->w->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (r->view.handle)
        r->w->deps.view_release(r->view.handle);
    if (r->password) {
        memset(r->password, 0, strlen(r->password));
        free(r->password);
    }
    if (r->body) {
        memset(r->body, 0, r->body_len);   /* may hold a password */
        free(r->body);
    }
    free(r->login);
    free(r->target);
    free(r->try_login);
    free(r->scan_pattern);
    free(r->quar_domain);
    free(r->scratch.p);
    json_decref(r->json);
    for (i = 0; i < r->nfields; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    free(r->names);
    free(r->values);
    for (i = 0; i < r->nusers; i++)
        free(r->users[i]);
    free(r->users);
    free(r);
}

/* The client went away before the reply: drop everything pending. */
static void on_conn_close(struct evhttp_connection *conn, void *arg)
{
    struct web_req *r = arg;

    (void)conn;
    r->conn = NULL;
    if (r->reserved && r->view.af)
        authfail_release(r->view.af, r->ip);   /* an attempt without a verdict */
    req_free(r);
}

void web_add_header(struct web_req *r, const char *name, const char *value)
{
    evhttp_add_header(evhttp_request_get_output_headers(r->req), name, value);
}

void web_send(struct web_req *r, int code, const char *content_type, struct wstr *body)
{
    struct evbuffer *b = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    static const char *const reasons[][2] = {
        { "200", "OK" }, { "303", "See Other" }, { "400", "Bad Request" },
        { "401", "Unauthorized" }, { "403", "Forbidden" }, { "404", "Not Found" },
        { "405", "Method Not Allowed" }, { "413", "Payload Too Large" },
        { "410", "Gone" }, { "415", "Unsupported Media Type" }, { "429", "Too Many Requests" },
        { "500", "Internal Server Error" }, { "503", "Service Unavailable" },
    };
    const char *reason = "OK";
    char num[8];
    size_t i;

    snprintf(num, sizeof(num), "%d", code);
    for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (strcmp(reasons[i][0], num) == 0)
            reason = reasons[i][1];
    if (content_type)
        evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "Content-Security-Policy", WEB_CSP);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Referrer-Policy", "same-origin");  /* "no-referrer" makes a
                                       browser send "Origin: null" on its own forms */
    evhttp_add_header(h, "Cache-Control", "no-store");
    if (r->w->ssl)
        evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
    if (b && body && body->n)
        evbuffer_add(b, body->p, body->n);
    if (r->conn)
        evhttp_connection_set_closecb(r->conn, NULL, NULL);
    r->conn = NULL;
    evhttp_send_reply(r->req, code, reason, b);
    if (b)
        evbuffer_free(b);
    req_free(r);
}

void web_send_json(struct web_req *r, int code, json_t *body)
{
    struct wstr s = { 0 };
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    wstr_adds(&s, text ? text : "{}");
    wstr_adds(&s, "\n");
    free(text);
    json_decref(body);
    web_send(r, code, "application/json", &s);
    free(s.p);
}

void web_error(struct web_req *r, int code, const char *message)
{
    if (r->api) {
        web_send_json(r, code, json_pack("{s:s}", "error", message));
        return;
    }
    {
        const struct web_var vars[] = { { "message", message } };
        web_page(r, code, "Error", "error.html", vars, 1);
    }
}

void web_redirect(struct web_req *r, const char *location)
{
    web_add_header(r, "Location", location);
    web_send(r, 303, "text/plain; charset=utf-8", NULL);
}

void web_page(struct web_req *r, int code, const char *title, const char *tpl,
              const struct web_var *vars, size_t nvars)
{
    const struct web_asset *layout = web_asset_find("layout.html");
    const struct web_asset *page = web_asset_find(tpl);
    struct wstr body = { 0 }, out = { 0 }, who = { 0 };

    if (layout == NULL || page == NULL) {      /* a build without its assets */
        web_send(r, 500, "text/plain; charset=utf-8", NULL);
        return;
    }
    web_template(&body, page->data, page->len, vars, nvars);
    if (r->login) {
        wstr_adds(&who, "<form method=\"post\" action=\"/ui/logout\" class=\"logout\">"
                        "<span>");
        wstr_add_html(&who, r->login);
        wstr_adds(&who, "</span><input type=\"hidden\" name=\"csrf\" value=\"");
        wstr_add_html(&who, r->csrf);
        wstr_adds(&who, "\"><button type=\"submit\">Log out</button></form>");
    }
    {
        const struct web_var lv[] = { { "title", title }, { "body", body.p ? body.p : "" },
                                      { "who", who.p ? who.p : "" } };
        web_template(&out, layout->data, layout->len, lv, 3);
    }
    web_send(r, code, "text/html; charset=utf-8", &out);
    free(body.p);
    free(out.p);
    free(who.p);
}

/* ---- request helpers ------------------------------------------------------------- */

char *web_query_get(const struct web_req *r, const char *name)
{
    return web_form_get(r->query, strlen(r->query), name);
}

char *web_body_get(const struct web_req *r, const char *name)
{
    return r->body ? web_form_get(r->body, r->body_len, name) : NULL;
}

const char *web_header(const struct web_req *r, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(r->req), name);
}

void web_random_hex(char *out, size_t digits)
{
    unsigned char raw[64];
    size_t i, n = digits / 2;

    if (n > sizeof(raw) || RAND_bytes(raw, (int)n) != 1)
        abort();                        /* no randomness: nothing safe to hand out */
    for (i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
    out[2 * n] = '\0';
}

bool web_is_admin_of(const struct web_req *r, const char *login, const char *domain)
{
    const struct domain_conf *d = domain_conf_find(r->view.domains, r->view.domain_defaults,
                                                   domain);
    size_t i;

    for (i = 0; d && i < d->admins.n; i++)
        if (strcasecmp(d->admins.v[i], login) == 0)
            return true;
    return false;
}

bool web_may_edit(const struct web_req *r, const char *address)
{
    const char *at = strrchr(address, '@');

    if (r->login == NULL || at == NULL)
        return false;
    return strcasecmp(r->login, address) == 0 || web_is_admin_of(r, r->login, at + 1);
}

char *web_address(const char *text)
{
    size_t i, n;
    char *a;
    const char *at;

    if (text == NULL)
        return NULL;
    while (*text == ' ' || *text == '\t')
        text++;
    n = strlen(text);
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t' || text[n - 1] == '\r' ||
                     text[n - 1] == '\n'))
        n--;
    if (n == 0 || n > WEB_ADDR_MAX)
        return NULL;
    a = xstrndup(text, n);
    at = strrchr(a, '@');
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];
        if (c <= ' ' || c >= 0x7f || c == '"' || c == '<' || c == '>' || c == ',' ||
            c == ';' || c == '\\' || c == '{' || c == '}' || c == '%') {
            free(a);
            return NULL;
        }
        a[i] = (char)tolower(c);
    }
    if (at == NULL || at == a || at[1] == '\0' || strchr(a, '@') != at) {
        free(a);
        return NULL;
    }
    return a;
}

/* ---- routing ---------------------------------------------------------------------- */

/* A browser's write from another origin is refused before anything else (defence in
 * depth: the CSRF token alone already refuses it). Origin is absent from scripts (curl)
 * and accepted when it is the origin of web.base_url or of the Host the client used. */
static bool origin_ok(const struct web_req *r)
{
    const char *origin = web_header(r, "Origin"), *host = web_header(r, "Host");
    const char *base = r->w->base_url, *p;
    size_t n;

    if (origin == NULL)
        return true;
    p = strstr(base, "://");
    n = p ? (size_t)(strchrnul(p + 3, '/') - base) : strlen(base);
    if (strlen(origin) == n && strncasecmp(origin, base, n) == 0)
        return true;
    if (host != NULL) {
        const char *scheme = r->w->ssl ? "https://" : "http://";
        size_t sl = strlen(scheme);
        if (strncasecmp(origin, scheme, sl) == 0 && strcasecmp(origin + sl, host) == 0)
            return true;
    }
    return false;
}

static void serve_static(struct web_req *r, const char *name)
{
    const struct web_asset *a = web_asset_find(name);
    struct wstr s = { 0 };
    size_t n = strlen(name);

    if (a == NULL || (n < 4 || (strcmp(name + n - 4, ".css") != 0 &&
                                (n < 3 || strcmp(name + n - 3, ".js") != 0)))) {
        web_error(r, 404, "not found");
        return;
    }
    wstr_add(&s, a->data, a->len);
    web_send(r, 200, a->type, &s);
    free(s.p);
}

struct route {
    const char *path;
    unsigned methods;              /* EVHTTP_REQ_* allowed */
    void (*handler)(struct web_req *r);
};

static const struct route routes[] = {
    { "/ui/",             EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, web_route_home },
    { "/ui/login",        EVHTTP_REQ_POST, web_route_login },
    { "/ui/logout",       EVHTTP_REQ_POST, web_route_logout },
    { "/ui/settings",     EVHTTP_REQ_POST, web_route_settings_post },
    { "/ui/api/login",    EVHTTP_REQ_POST, web_route_login },
    { "/ui/api/logout",   EVHTTP_REQ_POST, web_route_logout },
    { "/ui/api/me",       EVHTTP_REQ_GET, web_route_api_me },
    { "/ui/api/settings", EVHTTP_REQ_GET | EVHTTP_REQ_PUT, web_route_api_settings },
    { "/ui/api/users",    EVHTTP_REQ_GET, web_route_api_users },
    { "/ui/quarantine",   EVHTTP_REQ_POST, web_route_quar_post },
    { "/ui/api/quarantine", EVHTTP_REQ_GET, web_route_api_quar },
    { "/ui/api/quarantine/release", EVHTTP_REQ_POST, web_route_api_quar_act },
    { "/ui/api/quarantine/delete", EVHTTP_REQ_POST, web_route_api_quar_act },
    { NULL, 0, NULL }
};

static void on_request(struct evhttp_request *req, void *arg)
{
    struct web *w = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = evhttp_uri_get_path(uri), *query = evhttp_uri_get_query(uri);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    struct web_req *r = xcalloc(1, sizeof(*r));
    const struct route *rt;
    char *peer = NULL;
    ev_uint16_t port = 0;

    r->w = w;
    r->req = req;
    r->conn = evhttp_request_get_connection(req);
    r->next = w->reqs;
    if (w->reqs)
        w->reqs->prev = r;
    w->reqs = r;
    r->query = query ? query : "";
    if (r->conn) {
        evhttp_connection_get_peer(r->conn, &peer, &port);
        snprintf(r->ip, sizeof(r->ip), "%s", peer ? peer : "");
        evhttp_connection_set_closecb(r->conn, on_conn_close, r);
    }
    if (path == NULL)
        path = "/";
    r->api = strncmp(path, "/ui/api/", 8) == 0;
    if (in && evbuffer_get_length(in) > 0) {
        r->body_len = evbuffer_get_length(in);
        r->body = xmalloc(r->body_len + 1);
        evbuffer_remove(in, r->body, r->body_len);
        r->body[r->body_len] = '\0';
    }
    w->deps.view_get(w->deps.arg, &r->view);
    if (strcmp(path, "/") == 0 || strcmp(path, "/ui") == 0) {
        web_redirect(r, "/ui/");
        return;
    }
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD && !origin_ok(r)) {
        web_error(r, 403, "a request from another site was refused (Origin; CSRF protection)");
        return;
    }
    if (strncmp(path, "/ui/static/", 11) == 0) {
        if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
            web_error(r, 405, "GET only");
            return;
        }
        serve_static(r, path + 11);
        return;
    }
    if (strncmp(path, "/ui/q/", 6) == 0) {
        if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD && cmd != EVHTTP_REQ_POST) {
            web_error(r, 405, "GET or POST only");
            return;
        }
        web_route_link(r, path + 6);
        return;
    }
    for (rt = routes; rt->path; rt++)
        if (strcmp(rt->path, path) == 0)
            break;
    if (rt->path == NULL) {
        web_error(r, 404, "not found");
        return;
    }
    if (!(rt->methods & cmd)) {
        web_add_header(r, "Allow", (rt->methods & EVHTTP_REQ_POST) ? "POST"
                                   : (rt->methods & EVHTTP_REQ_PUT) ? "GET, PUT" : "GET");
        web_error(r, 405, "method not allowed");
        return;
    }
    rt->handler(r);
}

/* ---- the listener ---------------------------------------------------------------- */

struct web *web_new(const struct web_conf *c, const struct web_deps *deps, int *failed)
{
    struct http_listen_conf lc = { .address = c->address, .timeout_s = WEB_TIMEOUT_S,
                                   .body_max = WEB_BODY_MAX, .headers_max = WEB_HEADERS_MAX };
    struct web *w;

    *failed = 0;
    if (!c->enabled)
        return NULL;
    if (c->address == NULL || deps->redis == NULL) {
        log_error(WEB_LOG, "the web page needs web.address and Redis (redis.socket or "
                  "redis.address)");
        *failed = 1;
        return NULL;
    }
    w = xcalloc(1, sizeof(*w));
    w->deps = *deps;
    w->address = xstrdup(c->address);
    w->base_url = web_base_url(c);
    w->session_ttl_ms = c->session_ttl_ms;
    if (c->cert != NULL) {
        struct tls_load_error te;
        if ((w->ssl = tls_server_ctx_new(c->cert, c->key, &te)) == NULL) {
            log_error(WEB_LOG, "web.%s: cannot load %s: %s", te.key ? te.key : "cert",
                      te.path ? te.path : c->cert, te.reason);
            web_free(w);
            *failed = 1;
            return NULL;
        }
    }
    lc.ssl = w->ssl;
    if ((w->http = http_listen_new(deps->base, &lc, on_request, w)) == NULL) {
        log_error(WEB_LOG, "cannot listen on %s for the web page", c->address);
        web_free(w);
        *failed = 1;
        return NULL;
    }
    log_info(WEB_LOG, "web page on %s%s/ui/", w->ssl ? "https://" : "http://", c->address);
    return w;
}

void web_free(struct web *w)
{
    if (w == NULL)
        return;
    while (w->reqs)
        req_free(w->reqs);
    if (w->http)
        evhttp_free(w->http);
    if (w->ssl)
        tls_ctx_free(w->ssl);
    free(w->address);
    free(w->base_url);
    free(w);
}
