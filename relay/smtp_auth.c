/*
 * smtp_auth.c - the SMTP AUTH command (RFC 4954) on top of auth/ (Cyrus SASL).
 *
 * auth/ answers OK / MORE / FAIL / TEMP / BADMECH / BADPROT; only this file turns that into
 * SMTP: 334 challenges, 235 2.7.0, 535 5.7.8, 454 4.7.0, 504 5.5.4, 501 5.5.2 / 5.0.0,
 * 538 5.7.11 before TLS, 503 5.5.1 for a second AUTH. Every exchange first asks the login
 * throttle (auth/authfail.c): an IP over the threshold gets 421 4.7.0 and is disconnected;
 * each failure is recorded, and the one that crosses the threshold raises a single
 * auth.bruteforce event. The SASL steps run on the worker pool; the session waits
 * (busy) and resumes when the answer comes back on the loop.
 */
#include "relay/smtp_session.h"

#include "auth/authfail.h"
#include "auth/sasl_server.h"
#include "lib/base64.h"
#include "lib/log.h"
#include "lib/smtp_replies.h"
#include "lib/xalloc.h"
#include "relay/relay_conf.h"
#include "relay/server.h"
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

static void auth_step_done(const struct auth_result *res, void *arg);

static void auth_wait(struct smtp_session *s)
{
    s->busy = true;
    bufferevent_disable(s->bev, EV_READ);
}

static void auth_finish_failure(struct smtp_session *s)
{
    s->auth_pending = AUTH_IDLE;
    smtp_error(s);
}

/* auth.bruteforce: scope is the counter that reached the threshold (the IP's when both did:
 * it blocks first), login is there when its counter did; client_ip is the counted address,
 * the network for IPv6. */
static void authfail_event(struct smtp_session *s, const struct authfail_result *res)
{
    const struct authfail_conf *c = &s->cf->c.authfail;
    bool by_ip = res->crossed_ip;
    char ip[INET6_ADDRSTRLEN + sizeof("/128")];

    if (authfail_ip_text(s->client_ip, (int)c->ipv6_prefix, ip, sizeof(ip)) < 0)
        snprintf(ip, sizeof(ip), "%s", s->client_ip);
    server_event(s->srv, "auth.bruteforce",
                 wh_pack("{s:s, s:s, s:s*, s:I, s:I, s:I, s:I, s:s}",
                           "scope", by_ip ? "ip" : "login", "client_ip", ip,
                           "login", res->crossed_login ? s->auth_attempt : NULL,
                           "failures", (json_int_t)(by_ip ? res->ip_failures
                                                          : res->login_failures),
                           "threshold", (json_int_t)c->threshold,
                           "window_s", (json_int_t)((c->window_ms + 999) / 1000),
                           "blocked_for_s", (json_int_t)res->retry_s,
                           "listener", s->listener));
}

static void authfail_recorded(const struct authfail_result *res, void *arg)
{
    struct smtp_session *s = arg;
    s->afreq = NULL;
    if (res->crossed) {
        log_warn("smtpd", "%s[%s]: too many failed logins (ip %lld, login %lld in window); "
                 "blocking AUTH for %lld s", s->client_name, s->client_ip, res->ip_failures,
                 res->login_failures, res->retry_s);
        authfail_event(s, res);
    }
    smtp_resume(s);
}

static void auth_accept(struct smtp_session *s, const char *login)
{
    free(s->auth_login);
    s->auth_login = xstrdup(login);
    s->auth_pending = AUTH_IDLE;
    s->cmd_ok[SMTP_VERB_AUTH]++;
    log_info("smtpd", "%s[%s]: sasl_method=%s, sasl_username=%s", s->client_name,
             s->client_ip, s->auth_mech, s->auth_login);
    smtp_reply(s, R_AUTH_OK);
}

/* The brute-force counters block this AUTH: 421 and close. login is NULL before the
 * exchange (the address's counter), the login tried after it. */
static void auth_refuse_blocked(struct smtp_session *s, const struct authfail_result *res,
                                const char *login)
{
    log_warn("smtpd", "%s[%s]: AUTH refused%s%s: too many failed logins (%s), %lld s left",
             s->client_name, s->client_ip, login ? " for " : "", login ? login : "",
             res->by == AUTHFAIL_LOGIN ? "login" : "ip", res->retry_s);
    s->auth_pending = AUTH_IDLE;
    smtp_reply(s, R_AUTH_BLOCKED, s->cf->c.hostname, res->retry_s);
    smtp_close(s);
}

/* After a successful exchange: failures for this login from any address (or, since AUTH
 * began, from this one) may have reached the threshold; then the login is refused too. */
static void authfail_login_checked(const struct authfail_result *res, void *arg)
{
    struct smtp_session *s = arg;
    s->afreq = NULL;
    if (s->dead) {
        smtp_resume(s);
        return;
    }
    if (res->blocked)
        auth_refuse_blocked(s, res, s->auth_attempt);
    else
        auth_accept(s, s->auth_attempt);
    smtp_resume(s);
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
        if (s->cf->af) { /* the right password, but is this login under attack? */
            free(s->auth_attempt);
            s->auth_attempt = xstrdup(res->username);
            s->afreq = authfail_check(s->cf->af, s->client_ip, s->auth_attempt,
                                      authfail_login_checked, s);
            auth_wait(s);
            return;
        }
        auth_accept(s, res->username);
        return;
    case AUTH_FAIL: {
        char user[256];
        /* Postfix's shape (fail2ban's postfix-sasl filter reads it), sasl_username as 3.x */
        if (res->username)
            log_sanitize(user, sizeof(user), res->username, strlen(res->username));
        log_warn("smtpd", "%s[%s]: SASL %s authentication failed: %s%s%s", s->client_name,
                 s->client_ip, s->auth_mech, res->reason ? res->reason : "",
                 res->username ? ", sasl_username=" : "", res->username ? user : "");
        smtp_reply(s, R_AUTH_FAILED);
        if (res->username) {
            free(s->auth_attempt);
            s->auth_attempt = xstrdup(res->username);
        }
        auth_finish_failure(s);
        if (s->cf->af && !s->closing) {
            s->afreq = authfail_record_failure(s->cf->af, s->client_ip, s->auth_attempt,
                                               authfail_recorded, s);
            auth_wait(s);
        }
        return;
    }
    case AUTH_TEMP:
        log_warn("smtpd", "%s[%s]: SASL %s temporary failure: %s", s->client_name,
                 s->client_ip, s->auth_mech, res->reason ? res->reason : "");
        smtp_reply(s, R_AUTH_TEMP);
        s->auth_pending = AUTH_IDLE;
        return;
    case AUTH_BADMECH:
        if (auth_sess_needs_tls(s->auth))
            smtp_reply(s, R_AUTH_NEED_TLS);
        else
            smtp_reply(s, R_AUTH_BAD_MECH);
        auth_finish_failure(s);
        return;
    case AUTH_BADPROT:
        smtp_reply(s, R_AUTH_BAD_BASE64);
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
    if (s->afreq == NULL) /* else authfail_recorded() resumes */
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
        auth_finish_failure(s);
        return;
    }
    s->auth_pending = AUTH_RUNNING;
    auth_wait(s);
    s->aop = auth_sess_start(s->auth, s->auth_mech, ir, ir_len, present, auth_step_done, s);
    free(ir);
}

static void authfail_checked(const struct authfail_result *res, void *arg)
{
    struct smtp_session *s = arg;
    s->afreq = NULL;
    if (s->dead) {
        smtp_resume(s);
        return;
    }
    if (res->blocked) {
        auth_refuse_blocked(s, res, NULL);
        smtp_resume(s);
        return;
    }
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
    if (s->cf->af) {
        auth_wait(s);
        s->afreq = authfail_check(s->cf->af, s->client_ip, NULL, authfail_checked, s);
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
        auth_finish_failure(s);
        return;
    }
    if (auth_decode(s, line, len, &data, &n) < 0) {
        auth_sess_reset(s->auth);
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

    if (s->profile == PROFILE_INBOUND || s->cf->tls == NULL)
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

void smtp_auth_session_end(struct smtp_session *s)
{
    if (s->afreq)
        authfail_cancel(s->afreq);
    auth_sess_free(s->auth); /* also cancels a step in flight */
    free(s->auth_ir);
    free(s->auth_attempt);
}
