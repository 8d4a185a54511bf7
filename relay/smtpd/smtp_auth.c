/*
 * smtp_auth.c - the SMTP AUTH command (RFC 4954) on top of auth/ (Cyrus SASL).
 *
 * auth/ answers OK / MORE / FAIL / TEMP / BADMECH / BADPROT; only this file turns that into
 * SMTP: 334 challenges, 235 2.7.0, 535 5.7.8, 454 4.7.0, 504 5.5.4, 501 5.5.2 / 5.0.0,
 * 538 5.7.11 before TLS, 503 5.5.1 for a second AUTH. The SASL steps run on the worker
 * pool; the session waits (busy) and resumes when the answer comes back on the loop.
 *
 * The login throttle (auth/authfail.h) wraps each exchange: authfail_begin() when AUTH
 * starts (a blocked address gets 421 4.7.0 and is disconnected before SASL runs, so the
 * reply cannot depend on the password; otherwise one attempt is reserved), and, once SASL
 * gives a verdict for a login, authfail_end(), whose answer may block that login from this
 * address (421 for any password) and holds the verdict back by the login's delay (a
 * timer; the session keeps its slot at most authfail.login_delay_max). Each counter that
 * reaches its threshold raises one auth.bruteforce event. An exchange that ends without a
 * verdict gives its reservation back.
 */
#include "relay/smtpd/smtp_session.h"

#include "auth/authfail.h"
#include "auth/sasl_server.h"
#include "lib/base64.h"
#include "lib/log.h"
#include "lib/smtp_replies.h"
#include "lib/xalloc.h"
#include "relay/relay_conf.h"
#include "relay/smtpd/smtpd.h"
#include "webhooks/event.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_MECH_MAX 32
#define AUTH_MS_PER_S 1000
#define AUTH_US_PER_MS 1000
#define AUTH_IP_TEXT_MAX (INET6_ADDRSTRLEN + sizeof("/128"))

/* A SASL verdict waiting for the throttle's answer and then for the login's delay. */
struct smtp_auth_held {
    bool success;                   /* SASL said OK */
    struct authfail_result res;     /* the throttle's answer */
    struct event *timer;            /* the delay */
};

static void auth_step_done(const struct auth_result *res, void *arg);

static void auth_wait(struct smtp_session *s)
{
    s->busy = true;
    bufferevent_disable(s->bev, EV_READ);
}

/* The throttle of this session, or NULL when there is none (no Redis, or disabled). */
static struct authfail *auth_throttle(const struct smtp_session *s)
{
    return s->cf->c.authfail.enabled ? s->cf->af : NULL;
}

/* The exchange ended without a verdict (cancelled, malformed, mechanism refused,
 * backend trouble): the attempt reserved at AUTH is given back. */
static void auth_release(struct smtp_session *s)
{
    if (s->af_reserved && auth_throttle(s))
        authfail_release(auth_throttle(s), s->client_ip);
    s->af_reserved = false;
}

static void auth_finish_failure(struct smtp_session *s)
{
    s->auth_pending = AUTH_IDLE;
    smtp_error(s);
}

static void auth_held_free(struct smtp_session *s)
{
    if (s->auth_held == NULL)
        return;
    if (s->auth_held->timer)
        event_free(s->auth_held->timer);
    free(s->auth_held);
    s->auth_held = NULL;
}

/* auth.bruteforce for one counter that reached its threshold (docs/webhooks.md).
 * client_ip is the counted address (the network, for IPv6). */
static void authfail_event(struct smtp_session *s, enum authfail_scope scope,
                           const struct authfail_count *c, const char *login)
{
    static const char *const names[] = {
        [AUTHFAIL_IP] = "ip", [AUTHFAIL_LOGIN_IP] = "login_ip", [AUTHFAIL_LOGIN] = "login" };
    const struct authfail_conf *conf = &s->cf->c.authfail;
    long long threshold = scope == AUTHFAIL_IP ? conf->ip_threshold
                          : scope == AUTHFAIL_LOGIN_IP ? conf->login_ip_threshold
                                                       : conf->login_threshold;
    char ip[AUTH_IP_TEXT_MAX];
    json_t *data;

    if (authfail_ip_text(s->client_ip, (int)conf->ipv6_prefix, ip, sizeof(ip)) < 0)
        snprintf(ip, sizeof(ip), "%s", s->client_ip);
    data = wh_pack("{s:s, s:s, s:s*, s:I, s:I, s:I, s:s}", "scope", names[scope],
                     "client_ip", ip, "login", scope == AUTHFAIL_IP ? NULL : login,
                     "failures", (json_int_t)c->count, "threshold", (json_int_t)threshold,
                     "window_s", (json_int_t)((conf->window_ms + AUTH_MS_PER_S - 1) /
                                              AUTH_MS_PER_S),
                     "listener", s->listener);
    if (data && scope == AUTHFAIL_LOGIN)
        json_object_set_new(data, "delay_s", json_real((double)authfail_delay_ms(
                                conf, c->count) / AUTH_MS_PER_S));
    else if (data)
        json_object_set_new(data, "blocked_for_s", json_integer((json_int_t)c->left_s));
    smtpd_event(s->srv, "auth.bruteforce", data);
}

/* Log and raise the counters this verdict made reach their thresholds. */
static void authfail_crossed(struct smtp_session *s, const struct authfail_result *res,
                             const char *login)
{
    if (res->ip.crossed) {
        log_warn("smtpd", "%s[%s]: too many failed logins from this address (%lld in "
                 "window): blocking AUTH from it for %lld s", s->client_name, s->client_ip,
                 res->ip.count, res->ip.left_s);
        authfail_event(s, AUTHFAIL_IP, &res->ip, login);
    }
    if (res->login_ip.crossed) {
        log_warn("smtpd", "%s[%s]: too many failed logins for %s from this address (%lld in "
                 "window): blocking it from this address for %lld s", s->client_name,
                 s->client_ip, login, res->login_ip.count, res->login_ip.left_s);
        authfail_event(s, AUTHFAIL_LOGIN_IP, &res->login_ip, login);
    }
    if (res->login.crossed) {
        log_warn("smtpd", "%s[%s]: too many failed logins for %s from all addresses (%lld in "
                 "window): delaying its verdicts", s->client_name, s->client_ip, login,
                 res->login.count);
        authfail_event(s, AUTHFAIL_LOGIN, &res->login, login);
    }
}

/* The engine's AUTH stage is over: its refusal of the login (the session stays
 * unauthenticated), or 235. */
static void auth_then(struct smtp_session *s)
{
    const struct engine_reply *r = smtp_engine_reply(s);

    if (r == NULL) {
        smtp_reply(s, R_AUTH_OK);
        return;
    }
    smtp_log_reject_engine(s, "AUTH", r, NULL, NULL);
    free(s->auth_login);
    s->auth_login = NULL;
    engine_session_set_login(s->es, NULL);
    s->cmd_ok[SMTP_VERB_AUTH]--;
    smtp_reply(s, r->code, r->ecode, "%s", r->text);
    if (r->disconnect)
        smtp_close(s);
    else
        smtp_error(s);
}

static void auth_accept(struct smtp_session *s, const char *login)
{
    free(s->auth_login);
    s->auth_login = xstrdup(login);
    s->auth_pending = AUTH_IDLE;
    s->cmd_ok[SMTP_VERB_AUTH]++;
    log_info("smtpd", "%s[%s]: sasl_method=%s, sasl_username=%s", s->client_name,
             s->client_ip, s->auth_mech, s->auth_login);
    if (s->es)
        engine_session_set_login(s->es, s->auth_login);
    smtp_engine_run(s, STAGE_AUTH, auth_then);
}

/* The throttle refuses this AUTH: blocked (421 and close), or Redis failed with
 * authfail.fail_mode closed (454). login is NULL before the exchange. The reply never
 * depends on the password. */
static void auth_refuse_throttled(struct smtp_session *s, const struct authfail_result *res,
                                  const char *login)
{
    s->auth_pending = AUTH_IDLE;
    if (res->blocked_by == AUTHFAIL_NONE) {
        log_warn("smtpd", "%s[%s]: AUTH refused: failed-login counters unavailable "
                 "(authfail.fail_mode closed)", s->client_name, s->client_ip);
        smtp_reply(s, R_AUTH_TEMP);
        return;
    }
    log_warn("smtpd", "%s[%s]: AUTH refused%s%s: too many failed logins from this address "
             "(%s), %lld s left", s->client_name, s->client_ip, login ? " for " : "",
             login ? login : "", res->blocked_by == AUTHFAIL_IP ? "ip" : "login_ip",
             res->retry_s);
    smtp_reply(s, R_AUTH_BLOCKED, s->cf->c.hostname, res->retry_s);
    smtp_close(s);
}

/* Give the client the verdict: success for s->auth_attempt, or failure; res is the
 * throttle's answer (NULL without a throttle). */
static void auth_conclude(struct smtp_session *s, bool success,
                          const struct authfail_result *res)
{
    if (res && res->refused)
        auth_refuse_throttled(s, res, s->auth_attempt);
    else if (success)
        auth_accept(s, s->auth_attempt);
    else {
        smtp_reply(s, R_AUTH_FAILED);
        auth_finish_failure(s);
    }
}

/* The login's delay is over. Loop thread. */
static void auth_held_expired(evutil_socket_t fd, short what, void *arg)
{
    struct smtp_session *s = arg;
    struct smtp_auth_held *h = s->auth_held;

    (void)fd;
    (void)what;
    s->auth_held = NULL;
    if (!s->dead)
        auth_conclude(s, h->success, &h->res);
    event_free(h->timer);
    free(h);
    smtp_resume(s);
}

/* The throttle counted the verdict. Loop thread. */
static void authfail_ended(const struct authfail_result *res, void *arg)
{
    struct smtp_session *s = arg;
    struct smtp_auth_held *h = s->auth_held;
    struct timeval tv;

    s->afreq = NULL;
    if (s->dead) {
        auth_held_free(s);
        smtp_resume(s);
        return;
    }
    h->res = *res;
    authfail_crossed(s, res, s->auth_attempt);
    if (res->delay_ms <= 0) {
        s->auth_held = NULL;
        auth_conclude(s, h->success, res);
        free(h);
        smtp_resume(s);
        return;
    }
    log_info("smtpd", "%s[%s]: AUTH verdict for %s held back %lld ms: %lld failed logins "
             "in window, from all addresses", s->client_name, s->client_ip, s->auth_attempt,
             res->delay_ms, res->login.count);
    tv.tv_sec = res->delay_ms / AUTH_MS_PER_S;
    tv.tv_usec = (res->delay_ms % AUTH_MS_PER_S) * AUTH_US_PER_MS;
    h->timer = evtimer_new(s->srv->base, auth_held_expired, s);
    evtimer_add(h->timer, &tv);
}

/* SASL gave a verdict for login (canonical; NULL when a failed exchange named none). */
static void auth_verdict(struct smtp_session *s, bool success, const char *login)
{
    struct authfail *af = auth_throttle(s);

    free(s->auth_attempt);
    s->auth_attempt = login ? xstrdup(login) : NULL;
    if (af == NULL) {
        auth_conclude(s, success, NULL);
        return;
    }
    s->auth_held = xcalloc(1, sizeof(*s->auth_held));
    s->auth_held->success = success;
    auth_wait(s);
    s->afreq = authfail_end(af, s->client_ip, login, success, s->af_reserved, authfail_ended,
                            s);
    s->af_reserved = false;
}

/* Turn one SASL result into the SMTP reply. */
static void auth_reply(struct smtp_session *s, const struct auth_result *res)
{
    switch (res->status) {
    case AUTH_MORE: {
        char *b64 = xmalloc(BASE64_ENCODED_SIZE(res->challenge_len));
        size_t n;
        base64_encode(res->challenge, res->challenge_len, b64,
                      BASE64_ENCODED_SIZE(res->challenge_len), &n);
        smtp_reply_raw(s, "334 ", 4);
        smtp_reply_raw(s, b64, n);
        smtp_reply_raw(s, "\r\n", 2);
        free(b64);
        s->auth_pending = AUTH_WAIT_LINE;
        return;
    }
    case AUTH_OK:
        auth_verdict(s, true, res->username);
        return;
    case AUTH_FAIL:
        /* Postfix's shape (fail2ban's postfix-sasl filter reads it), sasl_username as 3.x;
         * the username is canonical, so it holds no control characters */
        log_warn("smtpd", "%s[%s]: SASL %s authentication failed: %s%s%s", s->client_name,
                 s->client_ip, s->auth_mech, res->reason ? res->reason : "",
                 res->username ? ", sasl_username=" : "", res->username ? res->username : "");
        auth_verdict(s, false, res->username);
        return;
    case AUTH_TEMP:
        log_warn("smtpd", "%s[%s]: SASL %s temporary failure: %s", s->client_name,
                 s->client_ip, s->auth_mech, res->reason ? res->reason : "");
        smtp_reply(s, R_AUTH_TEMP);
        auth_release(s);
        s->auth_pending = AUTH_IDLE;
        return;
    case AUTH_BADMECH:
        if (auth_sess_needs_tls(s->auth))
            smtp_reply(s, R_AUTH_NEED_TLS);
        else
            smtp_reply(s, R_AUTH_BAD_MECH);
        auth_release(s);
        auth_finish_failure(s);
        return;
    case AUTH_BADPROT:
        smtp_reply(s, R_AUTH_BAD_BASE64);
        auth_release(s);
        auth_finish_failure(s);
        return;
    }
}

static void auth_step_done(const struct auth_result *res, void *arg)
{
    struct smtp_session *s = arg;
    s->aop = NULL;
    if (!s->dead)
        auth_reply(s, res);
    if (s->auth_held == NULL) /* else the throttle's answer or its timer resumes */
        smtp_resume(s);
}

/* Decode a client response; replies 501 and returns -1 on bad base64. */
static int auth_decode(struct smtp_session *s, const char *in, size_t len, unsigned char **out,
                       size_t *out_len)
{
    *out = xmalloc(BASE64_DECODED_MAX(len) + 1);
    if (base64_decode(in, len, *out, BASE64_DECODED_MAX(len) + 1, out_len) != BASE64_OK) {
        free(*out);
        *out = NULL;
        smtp_reply(s, R_AUTH_BAD_BASE64);
        return -1;
    }
    return 0;
}

/* Start the SASL exchange once the throttle said yes. */
static void auth_begin(struct smtp_session *s)
{
    unsigned char *ir = NULL;
    size_t ir_len = 0;
    int present = s->auth_ir != NULL;

    if (present && strcmp(s->auth_ir, "=") != 0 &&
        auth_decode(s, s->auth_ir, strlen(s->auth_ir), &ir, &ir_len) < 0) {
        auth_sess_reset(s->auth);
        auth_release(s);
        auth_finish_failure(s);
        return;
    }
    s->auth_pending = AUTH_RUNNING;
    auth_wait(s);
    s->aop = auth_sess_start(s->auth, s->auth_mech, ir, ir_len, present, auth_step_done, s);
    free(ir);
}

/* The throttle answered at AUTH. Loop thread. */
static void authfail_begun(const struct authfail_result *res, void *arg)
{
    struct smtp_session *s = arg;
    s->afreq = NULL;
    if (s->dead) {
        smtp_resume(s);
        return;
    }
    if (res->refused) {
        auth_refuse_throttled(s, res, NULL);
        smtp_resume(s);
        return;
    }
    s->af_reserved = res->reserved;
    s->busy = false;
    auth_begin(s);
    if (!s->busy)
        smtp_resume(s);
}

void smtp_cmd_auth(struct smtp_session *s, const struct smtp_cmd *cmd)
{
    const char *arg = cmd->arg, *sp;
    size_t mlen, i;

    if (s->auth == NULL) {
        smtp_reply(s, R_AUTH_NOT_ENABLED);
        smtp_error(s);
        return;
    }
    if (s->auth_login) {
        smtp_reply(s, R_AUTH_TWICE);
        smtp_error(s);
        return;
    }
    if (s->tx) {
        smtp_reply(s, R_TX_IN_PROGRESS);
        smtp_error(s);
        return;
    }
    if (s->ssl == NULL && s->cf->c.auth.require_tls) {
        smtp_reply(s, R_AUTH_NEED_TLS);
        smtp_error(s);
        return;
    }
    sp = memchr(arg, ' ', cmd->arg_len);
    mlen = sp ? (size_t)(sp - arg) : cmd->arg_len;
    if (mlen == 0 || mlen >= AUTH_MECH_MAX) {
        smtp_reply(s, R_AUTH_BAD_MECH);
        smtp_error(s);
        return;
    }
    for (i = 0; i < mlen; i++)
        s->auth_mech[i] = (char)toupper((unsigned char)arg[i]);
    s->auth_mech[mlen] = '\0';
    free(s->auth_ir);
    s->auth_ir = sp ? xstrndup(sp + 1, cmd->arg_len - mlen - 1) : NULL;
    if (auth_throttle(s)) {
        auth_wait(s);
        s->afreq = authfail_begin(auth_throttle(s), s->client_ip, authfail_begun, s);
        return;
    }
    auth_begin(s);
}

void smtp_auth_line(struct smtp_session *s, const char *line, size_t len)
{
    unsigned char *data;
    size_t n;

    if (len == 1 && line[0] == '*') {
        auth_sess_reset(s->auth);
        smtp_reply(s, R_AUTH_CANCELLED);
        auth_release(s);
        auth_finish_failure(s);
        return;
    }
    if (auth_decode(s, line, len, &data, &n) < 0) {
        auth_sess_reset(s->auth);
        auth_release(s);
        auth_finish_failure(s);
        return;
    }
    s->auth_pending = AUTH_RUNNING;
    auth_wait(s);
    s->aop = auth_sess_step(s->auth, data, n, auth_step_done, s);
    free(data);
}

void smtp_auth_session_start(struct smtp_session *s, int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char lip[INET6_ADDRSTRLEN] = "127.0.0.1", local[80], remote[80];
    unsigned lport = 0;

    if (s->auth_mode == LISTENER_AUTH_OFF || s->cf->tls == NULL)
        return;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, lip, sizeof(lip));
            lport = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, lip, sizeof(lip));
            lport = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    auth_ipport(local, sizeof(local), lip, lport);
    auth_ipport(remote, sizeof(remote), s->client_ip, s->client_port);
    s->auth = auth_sess_new(s->srv->wp, &s->cf->c.auth, s->cf->c.hostname, local, remote);
}

void smtp_auth_tls_ready(struct smtp_session *s)
{
    if (s->auth)
        auth_sess_set_tls(s->auth, (unsigned)SSL_get_cipher_bits(s->ssl, NULL), NULL);
}

/* An attempt still reserved here (the client left during the exchange) stays counted:
 * leaving before the verdict must not be a way around the address's limit. */
void smtp_auth_session_end(struct smtp_session *s)
{
    if (s->afreq)
        authfail_cancel(s->afreq);
    auth_held_free(s);
    auth_sess_free(s->auth); /* also cancels a step in flight */
    free(s->auth_ir);
    free(s->auth_attempt);
}
