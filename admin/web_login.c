/*
 * web_login.c - log in and out of the web page (POST /ui/login, /ui/api/login,
 * /ui/logout, /ui/api/logout) and the login form.
 *
 * A login is one SASL PLAIN exchange through auth/sasl_server.h, the same check as SMTP
 * AUTH (run on the worker pool, never on the loop), wrapped in the same throttle as SMTP
 * AUTH (auth/authfail.h): authfail_begin refuses a blocked address before SASL runs,
 * authfail_end counts the verdict, may block the (login, address) pair and holds the
 * answer back by the login's delay (a timer). Each counter that reaches its threshold
 * raises one auth.bruteforce event with "listener": "web".
 * The form is protected by a double-submit token (cookie postern_login and hidden field
 * csrf), the API by requiring a JSON body (a cross-site form cannot send one).
 */
#include "admin/web_int.h"

#include "auth/auth_conf.h"
#include "auth/sasl_server.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGIN_SSF      256     /* PLAIN is allowed: the listener is loopback or HTTPS */
#define MS_PER_S       1000
#define US_PER_MS      1000

void web_login_page(struct web_req *r, const char *error)
{
    char token[WEB_CSRF_HEX + 1], cookie[256];
    struct wstr err = { 0 };

    web_random_hex(token, WEB_CSRF_HEX);
    snprintf(cookie, sizeof(cookie), WEB_PRE_COOKIE "=%s; Path=/ui/; HttpOnly; Secure; "
             "SameSite=Strict", token);
    web_add_header(r, "Set-Cookie", cookie);
    if (error) {
        wstr_adds(&err, "<p class=\"error\" role=\"alert\">");
        wstr_add_html(&err, error);
        wstr_adds(&err, "</p>");
    }
    {
        const struct web_var vars[] = { { "csrf", token }, { "error", err.p ? err.p : "" } };
        web_page(r, error ? 401 : 200, "Log in", "login.html", vars, 2);
    }
    free(err.p);
}

static struct authfail *throttle(const struct web_req *r)
{
    return r->view.authfail && r->view.authfail->enabled ? r->view.af : NULL;
}

static void bruteforce_event(struct web_req *r, const char *scope,
                             const struct authfail_count *c, const char *login)
{
    json_t *data;

    if (!c->crossed || r->w->deps.event == NULL)
        return;
    data = json_pack("{s:s, s:s, s:I, s:s}", "scope", scope, "client_ip", r->ip,
                     "failures", (json_int_t)c->count, "listener", "web");
    if (data && login && strcmp(scope, "ip") != 0)
        json_object_set_new(data, "login", json_string(login));
    r->w->deps.event(r->w->deps.arg, "auth.bruteforce", data);
}

static void logged_in(struct web_req *r)
{
    log_info(WEB_LOG, "%s: web login=%s", r->ip, r->login);
    if (r->api) {
        web_send_json(r, 200, json_pack("{s:s, s:s}", "user", r->login, "csrf", r->csrf));
        return;
    }
    web_add_header(r, "Set-Cookie", WEB_PRE_COOKIE "=; Path=/ui/; HttpOnly; Secure; "
                   "SameSite=Strict; Max-Age=0");
    web_redirect(r, "/ui/");
}

static void refused(struct web_req *r, const struct authfail_result *res)
{
    char msg[160];

    if (res->blocked_by == AUTHFAIL_NONE) {
        web_error(r, 503, "logins cannot be checked now; try again later");
        return;
    }
    log_warn(WEB_LOG, "%s: web login refused%s%s: too many failed logins (%s), %lld s left",
             r->ip, r->try_login ? " for " : "", r->try_login ? r->try_login : "",
             res->blocked_by == AUTHFAIL_IP ? "ip" : "login_ip", res->retry_s);
    snprintf(msg, sizeof(msg), "too many failed logins; try again in %lld seconds",
             res->retry_s);
    web_error(r, 429, msg);
}

static void conclude(struct web_req *r)
{
    if (r->afres.refused) {
        refused(r, &r->afres);
        return;
    }
    if (r->success) {
        web_session_create(r, r->try_login, logged_in);
        return;
    }
    log_info(WEB_LOG, "%s: web login failed for %s", r->ip,
             r->try_login ? r->try_login : "(none)");
    if (r->api)
        web_error(r, 401, "wrong login or password");
    else
        web_login_page(r, "Wrong login or password.");
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
    struct web_req *r = arg;

    (void)fd;
    (void)what;
    event_free(r->timer);
    r->timer = NULL;
    conclude(r);
}

static void on_ended(const struct authfail_result *res, void *arg)
{
    struct web_req *r = arg;
    struct timeval tv;

    r->afreq = NULL;
    r->afres = *res;
    bruteforce_event(r, "ip", &res->ip, r->try_login);
    bruteforce_event(r, "login_ip", &res->login_ip, r->try_login);
    bruteforce_event(r, "login", &res->login, r->try_login);
    if (res->delay_ms <= 0 || res->refused) {
        conclude(r);
        return;
    }
    tv.tv_sec = res->delay_ms / MS_PER_S;
    tv.tv_usec = (res->delay_ms % MS_PER_S) * US_PER_MS;
    r->timer = evtimer_new(r->w->deps.base, on_delay, r);
    evtimer_add(r->timer, &tv);
}

static void on_sasl(const struct auth_result *res, void *arg)
{
    struct web_req *r = arg;
    struct authfail *af = throttle(r);

    if (res->status == AUTH_OK || res->status == AUTH_FAIL) {
        r->success = res->status == AUTH_OK;
        free(r->try_login);
        r->try_login = res->username ? xstrdup(res->username) : NULL;
        if (af == NULL) {
            conclude(r);
            return;
        }
        r->afreq = authfail_end(af, r->ip, r->try_login, r->success, r->reserved, on_ended,
                                r);
        r->reserved = false;
        return;
    }
    if (r->reserved && af)
        authfail_release(af, r->ip);
    r->reserved = false;
    log_warn(WEB_LOG, "%s: web login: SASL said %s (%s)", r->ip, auth_status_name(res->status),
             res->reason ? res->reason : "-");
    if (res->status == AUTH_BADPROT)
        web_error(r, 400, "malformed login");
    else if (res->status == AUTH_BADMECH)
        web_error(r, 503, "password logins are not enabled (auth.mechanisms needs PLAIN)");
    else
        web_error(r, 503, "logins cannot be checked now; try again later");
}

static void start_sasl(struct web_req *r)
{
    char remote[96];
    size_t ll = strlen(r->try_login), pl = strlen(r->password);
    unsigned char *ir;

    auth_ipport(remote, sizeof(remote), r->ip, 0);
    r->asess = auth_sess_new(r->w->deps.wp, r->view.auth, r->view.hostname, remote, remote);
    if (r->asess == NULL || auth_sess_set_tls(r->asess, LOGIN_SSF, NULL) < 0) {
        if (r->reserved && throttle(r))
            authfail_release(throttle(r), r->ip);
        r->reserved = false;
        web_error(r, 503, "logins cannot be checked now; try again later");
        return;
    }
    ir = xmalloc(ll + pl + 2);
    ir[0] = '\0';
    memcpy(ir + 1, r->try_login, ll);
    ir[ll + 1] = '\0';
    memcpy(ir + ll + 2, r->password, pl);
    (void)auth_sess_start(r->asess, "PLAIN", ir, ll + pl + 2, 1, on_sasl, r);
    memset(ir, 0, ll + pl + 2);
    free(ir);
}

static void on_begun(const struct authfail_result *res, void *arg)
{
    struct web_req *r = arg;

    r->afreq = NULL;
    bruteforce_event(r, "ip", &res->ip, NULL);
    if (res->refused) {
        refused(r, res);
        return;
    }
    r->reserved = res->reserved;
    start_sasl(r);
}

void web_route_login(struct web_req *r)
{
    struct authfail *af;

    if (r->api) {
        const char *type = web_header(r, "Content-Type");
        json_t *login, *password;
        if (type == NULL || strncmp(type, "application/json", 16) != 0) {
            web_error(r, 415, "send a JSON body: {\"login\": ..., \"password\": ...}");
            return;
        }
        r->json = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
        login = json_object_get(r->json, "login");
        password = json_object_get(r->json, "password");
        if (!json_is_string(login) || !json_is_string(password)) {
            web_error(r, 400, "expected {\"login\": STRING, \"password\": STRING}");
            return;
        }
        r->try_login = xstrdup(json_string_value(login));
        r->password = xstrdup(json_string_value(password));
    } else {
        const char *cookie = web_header(r, "Cookie");
        char pre[WEB_CSRF_HEX + 1];
        char *field = web_body_get(r, "csrf");
        bool ok = field != NULL && cookie != NULL &&
                  web_cookie_get(cookie, WEB_PRE_COOKIE, pre, sizeof(pre)) == 0 &&
                  web_is_hex_token(pre, WEB_CSRF_HEX) && web_token_equal(pre, field);
        free(field);
        if (!ok) {
            web_error(r, 403, "the login form expired or came from another site; open "
                      "/ui/ and log in again");
            return;
        }
        r->try_login = web_body_get(r, "login");
        r->password = web_body_get(r, "password");
        if (r->try_login == NULL || r->password == NULL) {
            web_login_page(r, "Enter your mail login and password.");
            return;
        }
    }
    if (r->try_login[0] == '\0' || strlen(r->try_login) > AUTH_LOGIN_MAX ||
        strlen(r->password) > AUTH_DATA_MAX / 2 || strpbrk(r->try_login, "\r\n") != NULL) {
        if (r->api)
            web_error(r, 400, "login or password out of bounds");
        else
            web_login_page(r, "Enter your mail login and password.");
        return;
    }
    af = throttle(r);
    if (af == NULL) {
        start_sasl(r);
        return;
    }
    r->afreq = authfail_begin(af, r->ip, on_begun, r);
}

static void logged_out(struct web_req *r)
{
    if (r->api)
        web_send_json(r, 200, json_pack("{s:b}", "logged_out", 1));
    else
        web_redirect(r, "/ui/");
}

static void logout_session(struct web_req *r)
{
    if (r->login == NULL) {
        web_error(r, 401, "not logged in");
        return;
    }
    if (!web_csrf_ok(r)) {
        web_error(r, 403, "missing or wrong CSRF token");
        return;
    }
    web_session_destroy(r, logged_out);
}

void web_route_logout(struct web_req *r)
{
    web_session_load(r, logout_session);
}
