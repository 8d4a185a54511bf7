/*
 * smtp_client_session.c - setting up an outbound SMTP/LMTP session (see smtp_client.h).
 *
 * From the greeting to "ready": 220 -> EHLO (HELO after a 5xx; LHLO for LMTP), STARTTLS
 * by the route's policy through a libevent filter bufferevent (then EHLO again, RFC 3207),
 * and AUTH PLAIN or LOGIN for smarthosts, only over TLS unless the route allows otherwise,
 * and only over a verified TLS session when the route asks for verification.
 * Any failure ends the session with one result that says which stage failed; the owner's
 * ready callback gets it. Called by smtp_client.c (replies in the set-up states, TLS
 * handshake events); everything runs on the event loop thread.
 * TLS pitfalls from shared/research/spikes.md section 1: plaintext received after the 220
 * to STARTTLS is discarded (never fed to OpenSSL, never taken as a reply: the response
 * injection of CVE-2011-0411's kind), SNI + SSL_set1_host (also for IP literals, which
 * OpenSSL 3 checks against IP SANs), OpenSSL errors read per bufferevent.
 */
#include "relay/deliver/smtp_client_int.h"

#include "lib/log.h"
#include "lib/xalloc.h"
#include "lib/tls.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLS_DESC_MAX       160
#define TLS_SOCKET_CHUNKS  2      /* encrypted bytes queued on the socket, in data chunks */
#define B64_SIZE(n)        ((((n) + 2) / 3) * 4 + 1)

enum sc_auth_step { AUTH_STEP_PLAIN, AUTH_STEP_LOGIN, AUTH_STEP_LOGIN_USER, AUTH_STEP_LOGIN_PASS };

/* A failed set-up step; the server's reply says why. force_temp: never permanent. */
static void sc_fail_reply(struct smtp_client *c, enum smtp_stage stage,
                          const struct sc_reply *r, bool force_temp)
{
    struct smtp_result res;
    sc_result_reply(&res, stage, r);
    res.session = true;
    if (force_temp || res.status == SMTP_SENT)
        res.status = SMTP_TEMPFAIL;
    sc_abort(c, &res, r->code != 421);
}

static void sc_ready(struct smtp_client *c)
{
    c->state = SC_READY;
    evtimer_del(c->timer);
    sc_ready_done(c, NULL);
}

static void sc_send_ehlo(struct smtp_client *c)
{
    sc_write_line(c, "%s %s", c->opts.lmtp ? "LHLO" : "EHLO", c->opts.helo_name);
    c->state = SC_EHLO;
    sc_expect(c, SMTP_STAGE_EHLO, c->opts.conf->helo_ms);
}

static const char *sc_tls_name(const struct smtp_client *c)
{
    return c->opts.tls_name != NULL ? c->opts.tls_name : c->host;
}

/* Send base64(data) after prefix ("AUTH PLAIN " or ""), then wipe the copy. */
static void sc_write_b64(struct smtp_client *c, const char *prefix, const char *data, size_t n)
{
    size_t cap = B64_SIZE(n);
    unsigned char *b64 = xmalloc(cap);
    EVP_EncodeBlock(b64, (const unsigned char *)data, (int)n);
    sc_write_line(c, "%s%s", prefix, (const char *)b64);
    OPENSSL_cleanse(b64, cap);
    free(b64);
}

static void sc_auth_start(struct smtp_client *c)
{
    const char *user = c->opts.auth_user, *pass = c->opts.auth_pass;
    struct smtp_result res;

    if (c->opts.tls_verify && !c->tls_verified) {
        sc_result_local(&res, SMTP_STAGE_AUTH, true, SC_R_AUTH_UNVERIFIED, c->relay);
        sc_abort(c, &res, true);
        return;
    }
    if (c->ssl == NULL && !c->opts.auth_plaintext) {
        sc_result_local(&res, SMTP_STAGE_AUTH, true, SC_R_AUTH_PLAINTEXT, c->relay);
        sc_abort(c, &res, true);
        return;
    }
    if (c->ext.auth & SMTP_AUTH_PLAIN) {
        size_t ul = strlen(user), pl = strlen(pass), n = ul + pl + 2;
        char *msg = xmalloc(n);                  /* authzid "" NUL user NUL pass */
        msg[0] = '\0';
        memcpy(msg + 1, user, ul);
        msg[1 + ul] = '\0';
        memcpy(msg + 2 + ul, pass, pl);
        sc_write_b64(c, "AUTH PLAIN ", msg, n);
        OPENSSL_cleanse(msg, n);
        free(msg);
        c->auth_step = AUTH_STEP_PLAIN;
    } else if (c->ext.auth & SMTP_AUTH_LOGIN) {
        sc_write_line(c, "AUTH LOGIN");
        c->auth_step = AUTH_STEP_LOGIN;
    } else {
        sc_result_local(&res, SMTP_STAGE_AUTH, true, SC_R_AUTH_NO_MECH, c->relay);
        sc_abort(c, &res, true);
        return;
    }
    c->state = SC_AUTH;
    sc_expect(c, SMTP_STAGE_AUTH, c->opts.conf->auth_ms);
}

/* After a successful EHLO/HELO: STARTTLS by policy, then AUTH, then ready. */
static void sc_after_ehlo(struct smtp_client *c)
{
    struct smtp_result res;

    if (c->ssl == NULL && c->opts.tls != SMTP_TLS_NONE && !c->tls_tried) {
        if (c->ext.ext & SMTP_EXT_STARTTLS) {
            sc_write_line(c, "STARTTLS");
            c->state = SC_STARTTLS;
            sc_expect(c, SMTP_STAGE_STARTTLS, c->opts.conf->starttls_ms);
            return;
        }
        if (c->opts.tls == SMTP_TLS_REQUIRED) {
            sc_result_local(&res, SMTP_STAGE_STARTTLS, true, SC_R_TLS_NOT_OFFERED, c->relay);
            sc_abort(c, &res, true);
            return;
        }
    }
    if (c->opts.auth_user != NULL && (c->ext.ext & SMTP_EXT_AUTH)) {
        sc_auth_start(c);
        return;
    }
    sc_ready(c);
}

static void sc_on_greeting(struct smtp_client *c, const struct sc_reply *r)
{
    if (r->code / 100 == 2)
        sc_send_ehlo(c);
    else
        sc_fail_reply(c, SMTP_STAGE_GREETING, r, false);
}

static void sc_on_ehlo(struct smtp_client *c, const struct sc_reply *r)
{
    if (r->code / 100 == 2) {
        c->ext = r->ehlo;
        sc_after_ehlo(c);
    } else if (r->code / 100 == 5 && !c->opts.lmtp) {
        sc_write_line(c, "HELO %s", c->opts.helo_name);
        c->state = SC_HELO;
        sc_expect(c, SMTP_STAGE_EHLO, c->opts.conf->helo_ms);
    } else {
        sc_fail_reply(c, SMTP_STAGE_EHLO, r, false);
    }
}

static void sc_on_helo(struct smtp_client *c, const struct sc_reply *r)
{
    if (r->code / 100 != 2) {
        sc_fail_reply(c, SMTP_STAGE_EHLO, r, false);
        return;
    }
    memset(&c->ext, 0, sizeof(c->ext));
    sc_after_ehlo(c);
}

static bool sc_is_ip_literal(const char *name)
{
    unsigned char addr[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

/* 220 to STARTTLS: put a TLS filter over the socket bufferevent and start the handshake. */
static void sc_tls_start(struct smtp_client *c)
{
    struct bufferevent *plain = c->bev;
    struct evbuffer *in = bufferevent_get_input(plain);
    size_t junk = evbuffer_get_length(in);
    const char *name = sc_tls_name(c);
    SSL *ssl = SSL_new(c->ssl_ctx);

    if (ssl == NULL) {
        log_error(sc_component(c), "SSL_new failed: out of memory");
        abort();
    }
    if (junk > 0) {   /* injected before the handshake: never a reply, never TLS data */
        log_warn(sc_component(c), "%s: discarding %zu bytes received after the reply to STARTTLS",
                 c->relay, junk);
        evbuffer_drain(in, junk);
    }
    c->tls_tried = true;
    if (name != NULL && name[0] != '\0') {
        if (!sc_is_ip_literal(name))
            SSL_set_tlsext_host_name(ssl, name);
        SSL_set1_host(ssl, name);
    }
    SSL_set_verify(ssl, c->opts.tls_verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    c->bev = bufferevent_openssl_filter_new(c->base, plain, ssl, BUFFEREVENT_SSL_CONNECTING,
                                            BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (c->bev == NULL) {   /* spikes.md: ownership is unclear on failure; only OOM gets here */
        log_error(sc_component(c), "bufferevent_openssl_filter_new failed: out of memory");
        abort();
    }
    c->ssl = ssl;
    bufferevent_setwatermark(plain, EV_WRITE, 0, TLS_SOCKET_CHUNKS * c->opts.conf->data_chunk);
    sc_watch(c);
    c->state = SC_HANDSHAKE;
    sc_expect(c, SMTP_STAGE_STARTTLS, c->opts.conf->starttls_ms);
}

static void sc_on_starttls(struct smtp_client *c, const struct sc_reply *r)
{
    if (r->code / 100 == 2) {
        sc_tls_start(c);
    } else if (c->opts.tls == SMTP_TLS_REQUIRED) {
        sc_fail_reply(c, SMTP_STAGE_STARTTLS, r, true);
    } else {
        c->tls_tried = true;               /* opportunistic: carry on in plaintext */
        sc_after_ehlo(c);
    }
}

void sc_tls_done(struct smtp_client *c)
{
    char desc[TLS_DESC_MAX];
    const char *name = sc_tls_name(c);

    c->tls_version = SSL_get_version(c->ssl);
    c->tls_verified = SSL_get_verify_result(c->ssl) == X509_V_OK && name != NULL &&
                      name[0] != '\0';       /* the chain is trusted and the name matched */
    tls_describe(c->ssl, desc, sizeof(desc));
    log_info(sc_component(c), "%s TLS connection established to %s: %s",
             c->tls_verified ? "Verified" : "Untrusted", c->relay, desc);
    memset(&c->ext, 0, sizeof(c->ext));     /* RFC 3207: forget what was said in plaintext */
    sc_send_ehlo(c);
}

void sc_tls_failed(struct smtp_client *c)
{
    char err[SC_ERR_TEXT_MAX] = "connection closed during the handshake", why[SC_ERR_TEXT_MAX * 2];
    unsigned long e, first = 0;
    long v = SSL_get_verify_result(c->ssl);
    struct smtp_result res;

    while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
        if (first == 0)
            first = e;
    if (first != 0)
        ERR_error_string_n(first, err, sizeof(err));
    if (v != X509_V_OK)
        snprintf(why, sizeof(why), "%s (%s)", err, X509_verify_cert_error_string(v));
    else
        snprintf(why, sizeof(why), "%s", err);
    sc_result_local(&res, SMTP_STAGE_STARTTLS, true, SC_R_TLS_FAILED, c->relay, why);
    sc_abort(c, &res, false);
}

static void sc_on_auth(struct smtp_client *c, const struct sc_reply *r)
{
    bool challenge = r->code == 334;
    if (challenge && c->auth_step == AUTH_STEP_LOGIN) {
        sc_write_b64(c, "", c->opts.auth_user, strlen(c->opts.auth_user));
        c->auth_step = AUTH_STEP_LOGIN_USER;
    } else if (challenge && c->auth_step == AUTH_STEP_LOGIN_USER) {
        sc_write_b64(c, "", c->opts.auth_pass, strlen(c->opts.auth_pass));
        c->auth_step = AUTH_STEP_LOGIN_PASS;
    } else if (r->code / 100 == 2 && !challenge &&
               (c->auth_step == AUTH_STEP_PLAIN || c->auth_step == AUTH_STEP_LOGIN_PASS)) {
        sc_ready(c);
        return;
    } else {   /* soft bounce: a refused login must not bounce the queue */
        sc_fail_reply(c, SMTP_STAGE_AUTH, r, true);
        return;
    }
    sc_expect(c, SMTP_STAGE_AUTH, c->opts.conf->auth_ms);
}

void sc_session_reply(struct smtp_client *c, const struct sc_reply *r)
{
    switch (c->state) {
    case SC_GREETING:  sc_on_greeting(c, r); break;
    case SC_EHLO:      sc_on_ehlo(c, r); break;
    case SC_HELO:      sc_on_helo(c, r); break;
    case SC_STARTTLS:  sc_on_starttls(c, r); break;
    case SC_AUTH:      sc_on_auth(c, r); break;
    default:           break;
    }
}
