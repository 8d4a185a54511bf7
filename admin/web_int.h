/*
 * web_int.h - what the files of the web page share (web.c, web_session.c, web_login.c,
 * web_settings.c): the listener, one request in flight, and the reply helpers.
 * Not for use outside admin/web*.c. Loop thread only.
 */
#ifndef POSTERN_ADMIN_WEB_INT_H
#define POSTERN_ADMIN_WEB_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "admin/web.h"
#include "admin/web_parse.h"
#include "auth/authfail.h"

struct evhttp;
struct evhttp_request;
struct evhttp_connection;
struct redis_req;
struct auth_sess;
struct event;
struct ssl_ctx_st;

#define WEB_LOG        "web"
#define WEB_SID_HEX    64          /* session id: 32 random bytes in hex */
#define WEB_CSRF_HEX   64
#define WEB_COOKIE     "postern_session"
#define WEB_PRE_COOKIE "postern_login"   /* the login form's CSRF token (double submit) */
#define WEB_ADDR_MAX   320

struct web {
    struct evhttp *http;
    struct ssl_ctx_st *ssl;
    struct web_deps deps;
    char *address, *base_url;
    long long session_ttl_ms;
    struct web_req *reqs;          /* requests in flight (freed with the listener) */
};

/* One request between its arrival and its reply. */
struct web_req {
    struct web *w;
    struct web_req *next, *prev;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    struct web_view view;
    bool api;                      /* under /ui/api/: JSON errors */
    char ip[64];                   /* the client's address */
    const char *query;             /* raw query string, or "" */
    char *body;                    /* request body, NUL-terminated */
    size_t body_len;
    /* the session (web_session_load) */
    char sid[WEB_SID_HEX + 1];
    char csrf[WEB_CSRF_HEX + 1];
    char *login;                   /* NULL: not logged in */
    /* pending operations, cancelled when the client goes away */
    struct redis_req *rreq;
    struct authfail_req *afreq;
    struct auth_sess *asess;
    struct event *timer;
    struct quar_op *qop;
    /* handler state */
    void (*cont)(struct web_req *r);
    char *target;                  /* the address whose settings are shown or changed */
    char *try_login, *password;
    bool success, reserved;
    struct authfail_result afres;
    struct json_t *json;           /* parsed body, or the answer being built */
    struct wstr scratch;
    int step;
    char **names;                  /* fields being written (settings) */
    char **values;                 /* NULL value: unset */
    size_t nfields, field_i;
    char **users;                  /* users listed (SCAN) */
    size_t nusers;
    char cursor[32];
    char *scan_pattern;            /* SCAN MATCH pattern of the users listing */
    char *quar_domain;             /* the page shows this domain's whole quarantine */
};

/* ---- replies (web.c): each ends the request and frees r ---- */
void web_send(struct web_req *r, int code, const char *content_type, struct wstr *body);
void web_send_json(struct web_req *r, int code, struct json_t *body);  /* takes body */
void web_error(struct web_req *r, int code, const char *message);
void web_redirect(struct web_req *r, const char *location);
/* A page: the layout template around the named body template. */
void web_page(struct web_req *r, int code, const char *title, const char *tpl,
              const struct web_var *vars, size_t nvars);
void web_add_header(struct web_req *r, const char *name, const char *value);

/* ---- request helpers (web.c) ---- */
char *web_query_get(const struct web_req *r, const char *name);   /* malloc'd or NULL */
char *web_body_get(const struct web_req *r, const char *name);    /* form field */
const char *web_header(const struct web_req *r, const char *name);
void web_random_hex(char *out, size_t digits);                    /* out: digits + 1 */
bool web_is_admin_of(const struct web_req *r, const char *login, const char *domain);
/* May r->login see and change address's settings? Sets *why for the 403. */
bool web_may_edit(const struct web_req *r, const char *address);
/* Set r->target to the address given (NULL: the login) when r->login may edit it; else
 * answer 400 or 403 and return false. */
bool web_pick_target(struct web_req *r, const char *given);
/* The start of every form POST of the page: logged in (else 401), the form's CSRF token
 * (else 403), its user field picked as the target (web_pick_target). False: answered. */
bool web_form_start(struct web_req *r);
/* Canonical address (lower-case, trimmed) or NULL when it is not user@domain. */
char *web_address(const char *text);

/* ---- sessions (web_session.c) ---- */
/* Read the session named by the request's cookie; then cont(r) with r->login set, or
 * NULL when there is none (or it expired). A Redis failure answers 503. */
void web_session_load(struct web_req *r, void (*cont)(struct web_req *r));
/* A new session for login: stored, the cookie header added; then cont(r). */
void web_session_create(struct web_req *r, const char *login, void (*cont)(struct web_req *r));
/* Delete the session and clear the cookie; then cont(r). */
void web_session_destroy(struct web_req *r, void (*cont)(struct web_req *r));
/* Does the request carry the session's CSRF token (form field csrf, or the
 * X-CSRF-Token header for the API)? */
bool web_csrf_ok(const struct web_req *r);

/* ---- routes (web_login.c, web_settings.c) ---- */
void web_login_page(struct web_req *r, const char *error);
void web_route_login(struct web_req *r);        /* POST /ui/login, /ui/api/login */
void web_route_logout(struct web_req *r);       /* POST /ui/logout, /ui/api/logout */
void web_route_home(struct web_req *r);         /* GET /ui/ */
void web_route_settings_post(struct web_req *r);/* POST /ui/settings */
void web_route_api_me(struct web_req *r);       /* GET /ui/api/me */
void web_route_api_settings(struct web_req *r); /* GET/PUT /ui/api/settings */
void web_route_api_users(struct web_req *r);    /* GET /ui/api/users */
void web_route_quar_post(struct web_req *r);    /* POST /ui/quarantine */
void web_route_api_quar(struct web_req *r);     /* GET /ui/api/quarantine */
void web_route_api_quar_act(struct web_req *r); /* POST /ui/api/quarantine/{release,delete} */
void web_route_link(struct web_req *r, const char *token);  /* GET/POST /ui/q/TOKEN */
/* The quarantine section of the settings page for r->target, then cont(r) with the HTML
 * in r->scratch (web_quar.c). */
void web_quar_section(struct web_req *r, void (*cont)(struct web_req *r));

#endif
