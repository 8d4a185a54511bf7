/*
 * web.h - the users' web page under /ui/: login with the mail login, per-user protection
 * settings, and the JSON API behind it (docs/api.md, "User API").
 *
 * An evhttp server of its own on web.address (127.0.0.1:8025 when web.enabled), never the
 * admin HTTP listener's (relay/admin_http.c): users never reach admin endpoints. Off
 * loopback it needs web.cert and web.key (HTTPS); `postern -n` refuses the config
 * otherwise.
 *
 * Login: the same SASL check as SMTP AUTH (auth/sasl_server.h, PLAIN on the worker pool)
 * inside the same brute-force throttle (auth/authfail.h). Sessions live in Redis
 * (pt:web:sess:{ID}, TTL web.session_ttl), so any node serves them; the cookie is
 * HttpOnly; Secure; SameSite=Strict, every form and every API write carries the session's
 * CSRF token, every page is sent with a Content-Security-Policy that allows no inline
 * script and nothing from elsewhere, and every value is HTML-escaped.
 * Settings are the per-user policy overrides of policy/user_prefs.h (pt:pol:{ADDRESS}),
 * the same ones `posternctl policy set|show|unset` writes. A login may change its own
 * settings; a login named in its domain's "admins" list (domains config) those of every
 * address of the domain.
 *
 * It knows nothing of the daemon: the composition root (relay/server_web.c) gives it the
 * loop, Redis, the worker pool and, per request, a view of the current configuration.
 * Loop thread only.
 */
#ifndef POSTERN_ADMIN_WEB_H
#define POSTERN_ADMIN_WEB_H

#include <stdbool.h>

#include "lib/conf.h"

struct event_base;
struct redis;
struct workpool;
struct authfail;
struct authfail_conf;
struct auth_conf;
struct conf_array;
struct domain_conf;
struct json_t;
struct quar;

/* The "web" config section (keys in web_conf.c). */
struct web_conf {
    bool enabled;
    char *address;              /* "127.0.0.1:8025" */
    char *base_url;             /* how users reach it ("https://mail.example.net/ui/"):
                                   browser writes must come from its origin (or from the
                                   Host they name); NULL: http://ADDRESS/ui/ */
    char *cert, *key;           /* PEM files: serve HTTPS (required off loopback) */
    long long session_ttl_ms;   /* idle time after which a login must log in again */
};
extern const struct conf_section web_conf_section;

/* The page's URL as users reach it, ending in '/' (malloc'd): web.base_url (an origin
 * alone means its /ui/), or http://ADDRESS/ui/. The digest links are this + "q/TOKEN". */
char *web_base_url(const struct web_conf *c);

/* What a request sees of the configuration that is current when it starts; it stays
 * valid until deps->view_release(view->handle). */
struct web_view {
    void *handle;
    const char *hostname;                  /* serverFQDN for SASL */
    const struct auth_conf *auth;
    struct authfail *af;                   /* NULL: no throttle */
    const struct authfail_conf *authfail;
    const struct conf_array *domains;      /* struct domain_conf */
    const struct domain_conf *domain_defaults;
    const struct conf_array *levels;       /* struct level_conf */
    const struct conf_strlist *local_domains;
    const char *quar_key;                  /* the digest links' HMAC key (quar_token.h);
                                              NULL: /ui/q/ links are not served */
};

struct web_deps {
    struct event_base *base;
    struct redis *redis;
    struct workpool *wp;                   /* blocking SASL runs here */
    struct quar *quar;                     /* the quarantine index (content/quar.h) */
    void (*view_get)(void *arg, struct web_view *out);
    void (*view_release)(void *handle);
    void (*event)(void *arg, const char *type, struct json_t *data);  /* takes data */
    void *arg;
};

struct web;

/* Listen as c says (c and deps are copied; c's strings must outlive it). NULL with
 * *failed 0 when web.enabled is false; NULL with *failed 1 (logged) when it cannot
 * listen or load its certificate. */
struct web *web_new(const struct web_conf *c, const struct web_deps *deps, int *failed);
void web_free(struct web *w);

#endif
