/*
 * smtp_client.c - the outbound SMTP/LMTP client: the connection (see smtp_client.h).
 *
 * Owns the connection of one struct smtp_client: the non-blocking connect (TCP_NODELAY on
 * TCP), framing of replies with lib/smtp_reply_parse (bounded input), dispatching them to
 * the session set-up (smtp_client_session.c) or the message (smtp_client_tx.c), the stage
 * timer, results, and closing. Called by the queue runner; everything runs on the event
 * loop thread.
 *
 * Use-after-free safety: every libevent callback of the client counts itself in c->busy;
 * smtp_client_free() during a callback (the owner's ready/sent callback included) only
 * stops the I/O and marks the client dead, and the last callback to leave frees it. Code
 * that runs after an owner callback checks c->dead first. bufferevents use
 * BEV_OPT_DEFER_CALLBACKS, so no callback runs inside our own calls into libevent.
 * Closing politely (QUIT) hands the bufferevent to a small "linger" object that waits for
 * the reply, EOF or quit_ms, so the client itself can be freed at once (spikes.md: never
 * free a bufferevent with output pending). The input is processed before an EOF/error
 * event is acted on, since the eventcb may run first for the same read (spikes.md).
 */
#include "relay/deliver/smtp_client_int.h"

#include "lib/log.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define MS_PER_S           1000
#define US_PER_MS          1000
#define REPLY_CRLF         2      /* line end bytes counted in the input bound */

static const char *const stage_names[] = {
    "connect", "greeting", "ehlo", "starttls", "auth", "rset", "mail", "rcpt", "data",
    "data-end"
};

/* What the client was doing at each stage, for "lost connection ... while %s". */
static const char *const stage_doing[] = {
    "connecting", "receiving the initial server greeting", "performing the EHLO handshake",
    "performing the STARTTLS handshake", "performing AUTH", "sending RSET",
    "sending MAIL FROM", "sending RCPT TO", "sending DATA command",
    "sending end of data -- message may be sent more than once"
};

static const char *const status_names[] = { "sent", "tempfail", "permfail" };

const char *smtp_stage_name(enum smtp_stage stage)
{
    return stage_names[stage];
}

const char *smtp_status_name(enum smtp_status status)
{
    return status_names[status];
}

const char *sc_component(const struct smtp_client *c)
{
    return c->opts.lmtp ? "lmtp" : "smtp";
}

static const char *sc_doing(const struct smtp_client *c)
{
    return c->state == SC_BODY ? "sending message body" : stage_doing[c->stage];
}

/* ---- results ------------------------------------------------------------------------------ */

void sc_result_reply(struct smtp_result *res, enum smtp_stage stage, const struct sc_reply *r)
{
    int cls = r->code / 100;
    memset(res, 0, sizeof(*res));
    res->status = cls == 2 ? SMTP_SENT : cls == 5 ? SMTP_PERMFAIL : SMTP_TEMPFAIL;
    res->stage = stage;
    res->session = r->code == 421;
    res->code = r->code;
    snprintf(res->enhanced, sizeof(res->enhanced), "%s", r->enhanced);
    snprintf(res->text, sizeof(res->text), "%s", r->text);
}

void sc_result_local(struct smtp_result *res, enum smtp_stage stage, bool session, int code,
                     const char *enhanced, const char *fmt, ...)
{
    va_list ap;
    memset(res, 0, sizeof(*res));
    res->status = code / 100 == 5 ? SMTP_PERMFAIL : SMTP_TEMPFAIL;
    res->stage = stage;
    res->local = true;
    res->session = session;
    res->code = code;
    snprintf(res->enhanced, sizeof(res->enhanced), "%s", enhanced);
    va_start(ap, fmt);
    vsnprintf(res->text, sizeof(res->text), fmt, ap);
    va_end(ap);
}

/* ---- output -------------------------------------------------------------------------------- */

void sc_write_batch(struct smtp_client *c, struct evbuffer *batch)
{
    bufferevent_write_buffer(c->bev, batch);
}

void sc_write_line(struct smtp_client *c, const char *fmt, ...)
{
    struct evbuffer *b = evbuffer_new();
    va_list ap;
    va_start(ap, fmt);
    evbuffer_add_vprintf(b, fmt, ap);
    va_end(ap);
    evbuffer_add(b, "\r\n", 2);
    sc_write_batch(c, b);          /* one write: one TLS record, one segment */
    evbuffer_free(b);
}

void sc_expect(struct smtp_client *c, enum smtp_stage stage, long long ms)
{
    struct timeval tv = { (time_t)(ms / MS_PER_S), (suseconds_t)(ms % MS_PER_S * US_PER_MS) };
    c->stage = stage;
    evtimer_add(c->timer, &tv);
}

/* ---- closing ------------------------------------------------------------------------------ */

/* A closed client's connection, kept until the server answers QUIT, closes, or quit_ms. */
struct sc_linger {
    struct bufferevent *bev;
    struct event *timer;
};

static void linger_free(struct sc_linger *l)
{
    bufferevent_free(l->bev);
    event_free(l->timer);
    free(l);
}

/* Loop thread. Any complete line is the reply to QUIT: done. */
static void linger_read_cb(struct bufferevent *bev, void *arg)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    bool line = evbuffer_search(in, "\n", 1, NULL).pos >= 0;
    evbuffer_drain(in, evbuffer_get_length(in));
    if (line)
        linger_free(arg);
}

/* Loop thread. */
static void linger_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        linger_free(arg);
}

/* Loop thread. */
static void linger_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    linger_free(arg);
}

static void sc_linger(struct smtp_client *c)
{
    struct sc_linger *l = xcalloc(1, sizeof(*l));
    struct evbuffer *in = bufferevent_get_input(c->bev);
    long long ms = c->opts.conf->quit_ms;
    struct timeval tv = { (time_t)(ms / MS_PER_S), (suseconds_t)(ms % MS_PER_S * US_PER_MS) };

    l->bev = c->bev;
    l->timer = evtimer_new(c->base, linger_timer_cb, l);
    evbuffer_drain(in, evbuffer_get_length(in));
    bufferevent_setwatermark(l->bev, EV_WRITE, 0, 0);
    bufferevent_setcb(l->bev, linger_read_cb, NULL, linger_event_cb, l);
    bufferevent_enable(l->bev, EV_READ | EV_WRITE);
    sc_write_line(c, "QUIT");
    evtimer_add(l->timer, &tv);
    c->bev = NULL;
    c->ssl = NULL;
}

/* Stop all I/O of c: QUIT in the background when polite, else drop the connection. */
static void sc_close(struct smtp_client *c, bool polite)
{
    evtimer_del(c->timer);
    event_del(c->defer);
    if (c->bev != NULL && polite) {
        sc_linger(c);
    } else if (c->bev != NULL) {
        bufferevent_free(c->bev);      /* frees the SSL, the filter's socket bev, the fd */
        c->bev = NULL;
        c->ssl = NULL;
    }
    c->state = SC_BROKEN;
}

void sc_ready_done(struct smtp_client *c, const struct smtp_result *err)
{
    smtp_client_ready_fn cb = c->ready_cb;
    c->ready_cb = NULL;
    if (cb != NULL && !c->dead)
        cb(c, err, c->ready_arg);
}

void sc_abort(struct smtp_client *c, const struct smtp_result *why, bool polite)
{
    enum sc_state was = c->state;
    sc_close(c, polite);
    if (was < SC_READY)
        sc_ready_done(c, why);
    else if (c->tx != NULL)
        sc_tx_fail(c, why);
}

static void sc_destroy(struct smtp_client *c)
{
    sc_close(c, false);
    event_free(c->timer);
    event_free(c->defer);
    sc_tx_free(c->tx);
    if (c->opts.auth_pass != NULL)
        OPENSSL_cleanse((char *)c->opts.auth_pass, strlen(c->opts.auth_pass));
    free((char *)c->opts.helo_name);
    free((char *)c->opts.tls_name);
    free((char *)c->opts.auth_user);
    free((char *)c->opts.auth_pass);
    free(c->host);
    free(c);
}

static void sc_enter(struct smtp_client *c)
{
    c->busy++;
}

static void sc_leave(struct smtp_client *c)
{
    if (--c->busy == 0 && c->dead)
        sc_destroy(c);
}

/* ---- input ---------------------------------------------------------------------------------- */

/* A reply when none was expected (421 while idle, or garbage): the connection is done. */
static void sc_unexpected(struct smtp_client *c, const struct sc_reply *r)
{
    struct smtp_result res;
    sc_result_reply(&res, c->stage, r);
    res.status = SMTP_TEMPFAIL;
    res.session = true;
    sc_abort(c, &res, false);
}

static void sc_dispatch(struct smtp_client *c, const struct sc_reply *r)
{
    switch (c->state) {
    case SC_GREETING:
    case SC_EHLO:
    case SC_HELO:
    case SC_STARTTLS:
    case SC_AUTH:      sc_session_reply(c, r); break;
    case SC_RSET:
    case SC_TX:
    case SC_BODY:
    case SC_DATA_END:  sc_tx_reply(c, r); break;
    default:           sc_unexpected(c, r); break;
    }
}

static void sc_protocol_error(struct smtp_client *c, enum smtp_reply_status st)
{
    static const char *const what[] = {
        [SMTP_REPLY_SYNTAX] = "malformed reply",
        [SMTP_REPLY_TOO_LONG] = "reply line too long",
        [SMTP_REPLY_TOO_MANY_LINES] = "reply with too many lines",
    };
    struct smtp_result res;
    sc_result_local(&res, c->stage, true, SC_R_PROTOCOL,
                    st == SMTP_REPLY_NEED_MORE ? what[SMTP_REPLY_TOO_LONG] : what[st], c->relay,
                    sc_doing(c));
    sc_abort(c, &res, false);
}

/* Frame and handle every complete reply in the input, in order (pipelined replies too). */
static void sc_read(struct smtp_client *c)
{
    while (c->bev != NULL && !c->dead) {
        struct evbuffer *in = bufferevent_get_input(c->bev);
        size_t len = evbuffer_get_length(in), n = len < c->reply_bound ? len : c->reply_bound;
        size_t used;
        struct sc_reply r;
        enum smtp_reply_status st;

        if (n == 0)
            return;
        st = smtp_reply_parse((const char *)evbuffer_pullup(in, (ev_ssize_t)n), n, &c->limits,
                              &c->reply, &used);
        if (st == SMTP_REPLY_NEED_MORE && n < c->reply_bound)
            return;
        if (st != SMTP_REPLY_OK) {
            sc_protocol_error(c, st);
            return;
        }
        r.code = c->reply.code;
        memcpy(r.enhanced, c->reply.enhanced, sizeof(r.enhanced));
        smtp_reply_text(&c->reply, r.text, sizeof(r.text));
        if (c->state == SC_EHLO)
            smtp_ehlo_parse(&c->reply, &r.ehlo);
        else
            memset(&r.ehlo, 0, sizeof(r.ehlo));
        evbuffer_drain(in, used);
        sc_dispatch(c, &r);
    }
}

/* Loop thread. */
static void sc_read_cb(struct bufferevent *bev, void *arg)
{
    struct smtp_client *c = arg;
    (void)bev;
    sc_enter(c);
    sc_read(c);
    sc_leave(c);
}

/* Loop thread: the output fell to the low watermark (set while streaming the body). */
static void sc_write_cb(struct bufferevent *bev, void *arg)
{
    struct smtp_client *c = arg;
    (void)bev;
    sc_enter(c);
    if (c->state == SC_BODY)
        sc_tx_writable(c);
    sc_leave(c);
}

static void sc_event_cb(struct bufferevent *bev, short what, void *arg);

void sc_watch(struct smtp_client *c)
{
    bufferevent_setcb(c->bev, sc_read_cb, sc_write_cb, sc_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void sc_connect_failed(struct smtp_client *c, int err)
{
    struct smtp_result res;
    sc_result_local(&res, SMTP_STAGE_CONNECT, true, SC_R_CONNECT, c->relay,
                    err != 0 ? strerror(err) : "connection closed");
    sc_abort(c, &res, false);
}

static void sc_lost(struct smtp_client *c)
{
    struct smtp_result res;
    sc_result_local(&res, c->stage, true, SC_R_LOST, c->relay, sc_doing(c));
    sc_abort(c, &res, false);
}

/* Loop thread. The eventcb may run before the readcb for the same read (spikes.md), so
 * the input is handled first: a final reply may be waiting there. */
static void sc_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct smtp_client *c = arg;
    int err = EVUTIL_SOCKET_ERROR();

    sc_enter(c);
    if (what & BEV_EVENT_CONNECTED) {
        if (c->state == SC_CONNECTING) {
            c->state = SC_GREETING;
            sc_expect(c, SMTP_STAGE_GREETING, c->opts.conf->greeting_ms);
        } else if (c->state == SC_HANDSHAKE) {
            sc_tls_done(c);
        }
    } else {
        sc_read(c);
        if (!c->dead && c->bev == bev) {
            if (c->state == SC_CONNECTING)
                sc_connect_failed(c, err);
            else if (c->state == SC_HANDSHAKE)
                sc_tls_failed(c);
            else
                sc_lost(c);
        }
    }
    sc_leave(c);
}

/* Loop thread: the current stage ran out of time. */
static void sc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct smtp_client *c = arg;
    struct smtp_result res;
    (void)fd;
    (void)what;
    sc_enter(c);
    if (c->state == SC_CONNECTING)
        sc_result_local(&res, SMTP_STAGE_CONNECT, true, SC_R_CONNECT, c->relay, "timed out");
    else
        sc_result_local(&res, c->stage, true, SC_R_TIMEOUT, c->relay, sc_doing(c));
    sc_abort(c, &res, false);
    sc_leave(c);
}

/* Loop thread: work queued without I/O (a connect that failed at once, local reports,
 * the 8-bit scan). */
static void sc_defer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct smtp_client *c = arg;
    (void)fd;
    (void)what;
    sc_enter(c);
    if (c->state == SC_CONNECTING)
        sc_connect_failed(c, c->connect_errno);
    else
        sc_tx_deferred(c);
    sc_leave(c);
}

/* ---- public ---------------------------------------------------------------------------------- */

static char *xstrdup_or_null(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

struct smtp_client *smtp_client_new(struct event_base *base, struct ssl_ctx_st *ssl_ctx,
                                    const struct smtp_client_opts *opts)
{
    struct smtp_client *c = xcalloc(1, sizeof(*c));
    const struct smtp_client_conf *conf = opts->conf;

    assert(opts->helo_name != NULL && (opts->tls == SMTP_TLS_NONE || ssl_ctx != NULL));
    assert(opts->auth_user == NULL || opts->auth_pass != NULL);
    c->base = base;
    c->ssl_ctx = ssl_ctx;
    c->opts = *opts;
    c->opts.helo_name = xstrdup(opts->helo_name);
    c->opts.tls_name = xstrdup_or_null(opts->tls_name);
    c->opts.auth_user = xstrdup_or_null(opts->auth_user);
    c->opts.auth_pass = xstrdup_or_null(opts->auth_pass);
    c->limits.line_max = (size_t)conf->reply_line_max;
    c->limits.lines_max = (size_t)conf->reply_lines_max < SMTP_REPLY_LINES_CAP
                              ? (size_t)conf->reply_lines_max : SMTP_REPLY_LINES_CAP;
    c->reply_bound = c->limits.lines_max * (c->limits.line_max + REPLY_CRLF);
    c->timer = evtimer_new(base, sc_timer_cb, c);
    c->defer = event_new(base, -1, 0, sc_defer_cb, c);
    c->state = SC_NEW;
    return c;
}

static void sc_format_relay(struct smtp_client *c, const struct sockaddr *sa, socklen_t salen)
{
    char host[SC_HOST_LOG_MAX], ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    log_sanitize(host, sizeof(host), c->host, strlen(c->host));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
    } else if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t plen = salen > offsetof(struct sockaddr_un, sun_path)
                          ? strnlen(un->sun_path, salen - offsetof(struct sockaddr_un, sun_path))
                          : 0;
        char path[sizeof(un->sun_path) + 1];
        log_sanitize(path, sizeof(path), un->sun_path, plen);
        snprintf(c->relay, sizeof(c->relay), "%s[%s]", host, path);
        return;
    }
    snprintf(c->relay, sizeof(c->relay), "%s[%s]:%u", host, ip, port);
}

int smtp_client_connect(struct smtp_client *c, const struct sockaddr *sa, socklen_t salen,
                        const char *host, smtp_client_ready_fn ready_cb, void *arg)
{
    int fd, one = 1;

    assert(host != NULL);
    if (c->state != SC_NEW)
        return -1;
    c->host = xstrdup(host);
    c->ready_cb = ready_cb;
    c->ready_arg = arg;
    c->state = SC_CONNECTING;
    sc_format_relay(c, sa, salen);
    sc_expect(c, SMTP_STAGE_CONNECT, c->opts.conf->connect_ms);
    fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        c->connect_errno = errno;
        event_active(c->defer, 0, 0);
        return 0;
    }
    if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));   /* spikes.md: no 40 ms stalls */
    c->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    sc_watch(c);
    if (bufferevent_socket_connect(c->bev, sa, (int)salen) < 0) {
        c->connect_errno = errno;
        bufferevent_free(c->bev);
        c->bev = NULL;
        event_active(c->defer, 0, 0);
    }
    return 0;
}

bool smtp_client_usable(const struct smtp_client *c)
{
    return !c->dead && c->state == SC_READY && c->bev != NULL;
}

const char *smtp_client_relay(const struct smtp_client *c)
{
    return c->relay;
}

const char *smtp_client_tls_version(const struct smtp_client *c)
{
    return c->tls_version;
}

bool smtp_client_tls_verified(const struct smtp_client *c)
{
    return c->tls_verified;
}

void smtp_client_quit(struct smtp_client *c)
{
    if (c == NULL || c->dead)
        return;
    if (smtp_client_usable(c))
        sc_close(c, true);
    smtp_client_free(c);
}

void smtp_client_free(struct smtp_client *c)
{
    if (c == NULL || c->dead)
        return;
    c->dead = true;
    c->ready_cb = NULL;
    if (c->busy == 0)
        sc_destroy(c);
    else
        sc_close(c, false);        /* no more events; freed when the last callback leaves */
}

struct ssl_ctx_st *smtp_client_ssl_ctx_new(const char *cafile)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    unsigned long e;
    char buf[SC_ERR_TEXT_MAX];

    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION |
                             SSL_OP_NO_COMPRESSION);
    if ((cafile != NULL ? SSL_CTX_load_verify_locations(ctx, cafile, NULL)
                        : SSL_CTX_set_default_verify_paths(ctx)) == 1)
        return ctx;
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        log_error("smtp", "cannot load trust anchors %s: %s", cafile ? cafile : "(system)", buf);
    }
    SSL_CTX_free(ctx);
    return NULL;
}
