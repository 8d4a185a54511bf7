/*
 * smtp_session.c - lifecycle and I/O of one SMTP server connection.
 *
 * Owns the bufferevent: reads raw bytes and frames command lines with the pure parser
 * (lib/smtp_parse.c; libevent's readln is never used, it accepts bare LF), writes replies,
 * switches to TLS (STARTTLS or implicit), enforces timeouts and the error limit, and
 * closes after the last reply is flushed. Commands are handed to smtp_commands.c, message
 * data to smtp_data.c. While the session waits for asynchronous work (policy, spool,
 * authentication) it stops reading: pipelined input stays buffered (bounded by the
 * read high-watermark) and is processed in order when smtp_resume() is called.
 * Replies are bounded too: while more than OUTPUT_HIGH_WATER bytes of them wait to be sent
 * (a client that pipelines and does not read), no input is read until they are down to
 * OUTPUT_LOW_WATER.
 * A session always ends in bounded time: idle peers meet the read timeout, peers that do
 * not read meet the write timeout (the session is freed at once: nothing more can be
 * sent), and a closing session, or one whose peer left while it was busy, has its own
 * timer (timeouts.close) that frees it, cancelling what it still waits for.
 * A session is never freed inside one of its own callbacks: it is marked and its close
 * timer, armed with a zero delay, frees it.
 */
#include "relay/smtpd/smtp_session.h"

#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/xalloc.h"
#include "relay/smtpd/listener.h"
#include "relay/relay_conf.h"
#include "relay/smtpd/smtpd.h"
#include "lib/smtp_replies.h"
#include "relay/spool/spool.h"
#include "lib/tls.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INPUT_HIGH_WATER  (256 * 1024)  /* stop reading when this much input is buffered */
#define OUTPUT_HIGH_WATER (64 * 1024)   /* stop reading commands while this much output waits */
#define OUTPUT_LOW_WATER  (16 * 1024)   /* ... and go on once it is down to this */
#define REPLY_MAX         1024

/* Command lines are copied here before dispatch; the loop is single-threaded. */
static char line_buf[65536 + 8];

static void session_on_read(struct bufferevent *bev, void *arg);
static void session_on_event(struct bufferevent *bev, short what, void *arg);
static void session_on_close_timer(evutil_socket_t fd, short what, void *arg);
static void session_process(struct smtp_session *s);

static void tv_from_ms(struct timeval *tv, long long ms)
{
    tv->tv_sec = ms / 1000;
    tv->tv_usec = (ms % 1000) * 1000;
}

void smtp_set_data_timeouts(struct smtp_session *s, bool data)
{
    struct timeval rd, wr;
    const struct relay_conf *c = &s->cf->c;
    tv_from_ms(&rd, data ? c->timeouts.data_ms : c->timeouts.command_ms);
    tv_from_ms(&wr, c->timeouts.command_ms);
    bufferevent_set_timeouts(s->bev, &rd, &wr);
}

static void session_setup_bev(struct smtp_session *s, struct bufferevent *bev)
{
    s->bev = bev;
    bufferevent_setcb(bev, session_on_read, NULL, session_on_event, s);
    bufferevent_setwatermark(bev, EV_READ, 0, INPUT_HIGH_WATER);
    if (s->ssl) { /* until the handshake is done: session_tls_ready() sets the command timeouts */
        struct timeval tv;
        tv_from_ms(&tv, s->cf->c.timeouts.tls_handshake_ms);
        bufferevent_set_timeouts(bev, &tv, &tv);
    } else {
        smtp_set_data_timeouts(s, false);
    }
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* The CONNECT stage is over: take what the checks learned, then the banner (or the
 * engine's refusal of the connection, and close). */
static void session_greet_after(struct smtp_session *s)
{
    const struct engine_reply *r = smtp_engine_reply(s);
    json_t *name = s->es ? engine_fact(s->es, "rdns.name") : NULL;

    if (json_is_string(name) && json_string_length(name) > 0) {
        log_sanitize(s->client_name, sizeof(s->client_name), json_string_value(name),
                     json_string_length(name));
        engine_session_set_client_name(s->es, s->client_name);
    }
    if (r != NULL) {
        smtp_log_reject_engine(s, "CONNECT", r, NULL, NULL);
        smtp_reply(s, r->code, r->ecode, "%s", r->text);
        smtp_close(s);
        return;
    }
    s->state = ST_INIT;
    smtp_reply(s, R_GREETING, s->cf->c.hostname);
}

static void session_greet(struct smtp_session *s)
{
    if (s->reject_greeting) {
        smtp_reply_raw(s, s->reject_greeting, strlen(s->reject_greeting));
        smtp_close(s);
        return;
    }
    smtp_engine_run(s, STAGE_CONNECT, session_greet_after);
}

/* The listener's rate-limit class (listeners[].rate_class), for the ratelimit check. */
static void session_rate_class(struct smtp_session *s, const char *listener)
{
    const struct listener_conf *l = s->cf->c.listeners.items;
    size_t i;

    for (i = 0; i < s->cf->c.listeners.n; i++)
        if (strcmp(l[i].name, listener) == 0 && l[i].rate_class != NULL) {
            engine_fact_set(s->es, FACT_SESSION, "ratelimit.endpoint_class",
                            json_string(l[i].rate_class));
            return;
        }
}

/* What the session knows that checks may read: the local address. */
static void session_engine_start(struct smtp_session *s, const char *listener)
{
    const struct engine_profile *p;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char ip[INET6_ADDRSTRLEN];

    p = engine_profile_find(s->cf->engine, s->profile);
    if (p == NULL) { /* config validation makes this impossible; never run unchecked */
        log_error("smtpd", "listener %s: no policy profile %s", listener, s->profile);
        s->reject_greeting = "421 4.3.0 Service not available: no policy\r\n";
        p = engine_profile_find(s->cf->engine, "inbound");
    }
    s->es = engine_session_new(s->cf->engine, p, listener, s->client_ip);
    s->submission = engine_profile_submission(p);
    s->needs_header = engine_profile_needs_header(p);
    engine_fact_set(s->es, FACT_SESSION, "smtpd.auth",
                    json_string(listener_auth_names[s->auth_mode]));
    if (getsockname(s->fd, (struct sockaddr *)&ss, &len) == 0 &&
        ((ss.ss_family == AF_INET &&
          inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip))) ||
         (ss.ss_family == AF_INET6 &&
          inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof(ip)))))
        engine_fact_set(s->es, FACT_SESSION, "smtpd.local_ip", json_string(ip));
    engine_fact_set(s->es, FACT_SESSION, "smtpd.early_talk", json_false());
    session_rate_class(s, listener);
}

static void session_engine_done(void *arg)
{
    struct smtp_session *s = arg;
    void (*then)(struct smtp_session *s) = s->eng_then;

    s->eng_pending = false;
    s->eng_then = NULL;
    if (!s->dead && !s->closing)
        then(s);
    smtp_resume(s);
}

void smtp_engine_run(struct smtp_session *s, enum engine_stage stage,
                     void (*then)(struct smtp_session *s))
{
    if (s->es == NULL || engine_run(s->es, stage, session_engine_done, s) == ENGINE_DONE) {
        then(s);
        return;
    }
    s->eng_pending = true;
    s->eng_then = then;
    s->busy = true;
    /* Before the banner, input stays readable: what a client sends then marks it as an
     * early talker (smtpd.early_talk), and waits in the buffer until the banner. */
    if (stage != STAGE_CONNECT)
        bufferevent_disable(s->bev, EV_READ);
}

const struct engine_reply *smtp_engine_reply(const struct smtp_session *s)
{
    return s->es ? engine_reply(s->es) : NULL;
}

struct smtp_session *smtp_session_new(struct smtpd *srv, int fd, const struct sockaddr *sa,
                                      const char *listener, const char *profile,
                                      int tls_mode, int auth_mode,
                                      const char *reject_greeting)
{
    struct smtp_session *s = xcalloc(1, sizeof(*s));
    struct bufferevent *bev;

    s->srv = srv;
    s->cf = config_ref(srv->cf);
    s->fd = fd;
    snprintf(s->profile, sizeof(s->profile), "%s", profile);
    s->tls_mode = tls_mode;
    s->auth_mode = auth_mode;
    s->reject_greeting = reject_greeting;
    snprintf(s->listener, sizeof(s->listener), "%s", listener);
    snprintf(s->client_name, sizeof(s->client_name), "unknown");
    if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, s->client_ip,
                  sizeof(s->client_ip));
        s->client_port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, s->client_ip,
                  sizeof(s->client_ip));
        s->client_port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    }
    s->rd.max = (size_t)s->cf->c.limits.command_line;
    s->close_timer = evtimer_new(srv->base, session_on_close_timer, s);
    if (s->close_timer == NULL)
        abort(); /* out of memory */
    smtp_auth_session_start(s, fd);
    session_engine_start(s, listener);

    if (tls_mode == LISTENER_TLS_IMPLICIT) {
        s->ssl = SSL_new(s->cf->tls);
        bev = bufferevent_openssl_socket_new(srv->base, fd, s->ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
        s->fd_owned_by_bev = true;
    } else {
        bev = bufferevent_socket_new(srv->base, fd, 0);
    }
    if (bev == NULL)
        abort(); /* out of memory: see spikes.md on bufferevent_openssl ownership */
    session_setup_bev(s, bev);
    log_info("smtpd", "connect from %s[%s]", s->client_name, s->client_ip);
    if (s->ssl == NULL)
        session_greet(s);
    else
        s->state = ST_GREETING; /* after the handshake */
    return s;
}

const char *smtp_reply_stage_name(enum smtp_reply_stage st)
{
    static const char *const names[RS_COUNT] = {
        [RS_CONNECT] = "connect", [RS_HELO] = "helo", [RS_STARTTLS] = "starttls",
        [RS_AUTH] = "auth", [RS_MAIL] = "mail", [RS_RCPT] = "rcpt", [RS_DATA] = "data",
        [RS_END] = "end", [RS_OTHER] = "other",
    };
    return (unsigned)st < RS_COUNT ? names[st] : names[RS_OTHER];
}

void smtp_reply_count(struct smtp_session *s, int code)
{
    metrics_inc2(M_SMTP_REPLIES, metrics_reply_class(code), smtp_reply_stage_name(s->reply_stage));
}

void smtp_reply_raw(struct smtp_session *s, const char *text, size_t len)
{
    evbuffer_add(bufferevent_get_output(s->bev), text, len);
    if (len >= 4 && (text[3] == ' ' || text[3] == '-'))
        smtp_reply_count(s, atoi(text));
}

void smtp_reply(struct smtp_session *s, int code, const char *ecode, const char *fmt, ...)
{
    char buf[REPLY_MAX];
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    n = smtp_reply_vformat(buf, sizeof(buf), code, ecode, fmt, ap);
    va_end(ap);
    smtp_reply_raw(s, buf, n);
}

/* The floor is Postfix's (queue_minfree at least 1.5 x message_size_limit) plus a reserve
 * for what the daemon itself must still write when mail stops coming in: queue records,
 * bounces, the webhook outbox. Reading the free space costs no system call on a busy server
 * (spool_free_space() asks the file system at most every SPOOL_FREE_CHECK_MS). */
bool smtp_spool_has_room(struct smtp_session *s, const char *cmd, unsigned long long size)
{
    const struct limits_conf *l = &s->cf->c.limits;
    unsigned long long need = l->spool_reserve + l->message_size + l->message_size / 2 + size;
    uint64_t avail = spool_free_space(s->srv->spool);

    if (avail >= need)
        return true;
    log_warn("smtpd", "%s: reject: %s from %s[%s]: 452 4.3.1 Insufficient system storage: "
             "%llu bytes free in the spool, %llu needed (1.5 x limits.message_size + "
             "limits.spool_reserve%s)", s->tx && s->tx->qid[0] ? s->tx->qid : "NOQUEUE", cmd,
             s->client_name, s->client_ip, (unsigned long long)avail, need,
             size ? " + SIZE" : "");
    smtp_reply(s, R_SPOOL_FULL);
    return false;
}

const char *smtp_proto(const struct smtp_session *s)
{
    if (!s->esmtp)
        return "SMTP";
    if (s->ssl)
        return s->auth_login ? "ESMTPSA" : "ESMTPS";
    return s->auth_login ? "ESMTPA" : "ESMTP";
}

static void session_log_disconnect(struct smtp_session *s)
{
    char stats[512];
    size_t off = 0;
    unsigned ok = 0, total = 0;
    int v;

    for (v = 0; v < SMTP_VERB_COUNT; v++) {
        if (s->cmd_total[v] == 0)
            continue;
        ok += s->cmd_ok[v];
        total += s->cmd_total[v];
        if (s->cmd_ok[v] == s->cmd_total[v])
            off += (size_t)snprintf(stats + off, sizeof(stats) - off, " %s=%u",
                                    smtp_verb_name(v), s->cmd_ok[v]);
        else
            off += (size_t)snprintf(stats + off, sizeof(stats) - off, " %s=%u/%u",
                                    smtp_verb_name(v), s->cmd_ok[v], s->cmd_total[v]);
        if (off >= sizeof(stats))
            off = sizeof(stats) - 1;
    }
    for (char *p = stats; p < stats + off; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    if (ok == total)
        log_info("smtpd", "disconnect from %s[%s]%.*s commands=%u", s->client_name,
                 s->client_ip, (int)off, stats, total);
    else
        log_info("smtpd", "disconnect from %s[%s]%.*s commands=%u/%u", s->client_name,
                 s->client_ip, (int)off, stats, ok, total);
}

void smtp_session_free(struct smtp_session *s)
{
    smtp_etrn_cancel(s);
    smtp_auth_session_end(s);
    smtp_tx_free(s);
    engine_session_free(s->es); /* cancels a stage still running */
    s->es = NULL;
    session_log_disconnect(s);
    if (s->bev) {
        if (s->ssl && s->fd_owned_by_bev)
            SSL_shutdown(s->ssl);
        bufferevent_free(s->bev);
    }
    if (!s->fd_owned_by_bev)
        close(s->fd);
    event_free(s->close_timer);
    smtpd_session_gone(s->srv, s);
    config_unref(s->cf);
    free(s->auth_login);
    free(s);
}

/* The close timer: a zero delay set by session_free_later(), or timeouts.close running out
 * for a session that is closing or whose peer left while it was busy. */
static void session_on_close_timer(evutil_socket_t fd, short what, void *arg)
{
    struct smtp_session *s = arg;
    (void)fd;
    (void)what;
    if (!s->dead)
        log_info("smtpd", "close timeout for %s[%s]: %zu bytes unsent", s->client_name,
                 s->client_ip, evbuffer_get_length(bufferevent_get_output(s->bev)));
    else if (s->busy)
        log_info("smtpd", "close timeout for %s[%s]: pending work cancelled", s->client_name,
                 s->client_ip);
    smtp_session_free(s); /* cancels whatever it still waits for */
}

/* Free the session at the next turn of the loop; results of pending work that arrive
 * before then are discarded (dead). Safe to call more than once. */
static void session_free_later(struct smtp_session *s)
{
    static const struct timeval now = { 0, 0 };
    s->closing = s->dead = true;
    bufferevent_disable(s->bev, EV_READ | EV_WRITE);
    bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
    evtimer_add(s->close_timer, &now);
}

/* A closing session may take timeouts.close to send its last replies or to see its
 * pending work answer; then its close timer frees it. */
static void session_linger(struct smtp_session *s)
{
    struct timeval tv;
    tv_from_ms(&tv, s->cf->c.timeouts.close_ms);
    evtimer_add(s->close_timer, &tv);
}

static void session_on_flushed(struct bufferevent *bev, void *arg)
{
    (void)bev;
    session_free_later(arg);
}

void smtp_close(struct smtp_session *s)
{
    if (s->closing)
        return;
    s->closing = true;
    bufferevent_disable(s->bev, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
        session_free_later(s);
        return;
    }
    /* free once everything is sent (write callback at an empty buffer), or at the close
     * timer, whichever comes first */
    bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
    bufferevent_setcb(s->bev, NULL, session_on_flushed, session_on_event, s);
    bufferevent_enable(s->bev, EV_WRITE);
    session_linger(s);
}

void smtp_error(struct smtp_session *s)
{
    if (++s->errors >= (unsigned)s->cf->c.limits.errors) {
        log_warn("smtpd", "too many errors from %s[%s]", s->client_name, s->client_ip);
        smtp_reply(s, R_TOO_MANY_ERRORS, s->cf->c.hostname);
        smtp_close(s);
    }
}

void smtp_resume(struct smtp_session *s)
{
    if (s->eng_pending && !s->dead)
        return; /* an engine stage still runs: its end resumes */
    if (s->tx && (s->tx->sign_job || s->tx->commit) && !s->dead)
        return; /* the message is being signed or committed: its reply resumes */
    s->busy = false;
    if (s->dead) {
        session_free_later(s);
        return;
    }
    if (s->closing || s->output_full)
        return; /* session_on_drained() goes on */
    bufferevent_enable(s->bev, EV_READ);
    session_process(s);
}

/* Replies are down to OUTPUT_LOW_WATER: read commands again. */
static void session_on_drained(struct bufferevent *bev, void *arg)
{
    struct smtp_session *s = arg;

    s->output_full = false;
    bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
    bufferevent_setcb(bev, session_on_read, NULL, session_on_event, s);
    if (s->busy)
        return; /* smtp_resume() goes on */
    bufferevent_enable(bev, EV_READ);
    session_process(s);
}

/* A client that pipelines commands and does not read the replies would make us buffer
 * them without bound (a reply is often 20 times the size of its command): while
 * OUTPUT_HIGH_WATER bytes wait, read nothing more. */
static bool session_output_full(struct smtp_session *s)
{
    if (s->output_full)
        return true;
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) < OUTPUT_HIGH_WATER)
        return false;
    s->output_full = true;
    bufferevent_disable(s->bev, EV_READ);
    bufferevent_setwatermark(s->bev, EV_WRITE, OUTPUT_LOW_WATER, 0);
    bufferevent_setcb(s->bev, session_on_read, session_on_drained, session_on_event, s);
    return true;
}

void smtp_session_shutdown(struct smtp_session *s)
{
    if (s->closing || s->busy || s->state == ST_DATA || s->state == ST_CHUNK ||
        s->state == ST_STARTTLS)
        return; /* finishes its current command first, then gets 421 */
    smtp_reply(s, R_SHUTDOWN, s->cf->c.hostname);
    smtp_close(s);
}

/* STARTTLS: the 220 has been queued; once it is on the wire, wrap the socket in TLS.
 * Plaintext that followed STARTTLS was already discarded by the command handler. */
static void session_tls_switch(struct bufferevent *old, void *arg)
{
    struct smtp_session *s = arg;
    struct bufferevent *bev;

    bufferevent_free(old); /* no CLOSE_ON_FREE: the fd stays open */
    s->ssl = SSL_new(s->cf->tls);
    bev = bufferevent_openssl_socket_new(s->srv->base, s->fd, s->ssl,
                                         BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL)
        abort();
    s->fd_owned_by_bev = true;
    session_setup_bev(s, bev);
}

void smtp_starttls(struct smtp_session *s)
{
    s->state = ST_STARTTLS;
    bufferevent_disable(s->bev, EV_READ);
    bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0); /* switch once the 220 is sent */
    bufferevent_setcb(s->bev, NULL, session_tls_switch, session_on_event, s);
}

/* The TLS handshake finished (STARTTLS or implicit TLS). */
static void session_tls_ready(struct smtp_session *s)
{
    tls_describe(s->ssl, s->tls_info, sizeof(s->tls_info));
    log_info("smtpd", "Anonymous TLS connection established from %s[%s]: %s", s->client_name,
             s->client_ip, s->tls_info);
    smtp_set_data_timeouts(s, false);
    smtp_auth_tls_ready(s);
    if (s->es)
        engine_session_set_tls(s->es, true);
    if (s->state == ST_GREETING) {
        session_greet(s);
        return;
    }
    /* RFC 3207 4.2: forget everything learned before TLS */
    s->state = ST_INIT;
    s->esmtp = false;
    s->helo[0] = '\0';
    if (s->es)
        engine_session_set_helo(s->es, NULL);
}

static void session_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct smtp_session *s = arg;
    (void)bev;

    if (what & BEV_EVENT_CONNECTED) {
        session_tls_ready(s);
        return;
    }
    if (s->closing) {
        session_free_later(s);
        return;
    }
    if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_WRITING)) {
        /* The client does not read its replies, and libevent has stopped writing: nothing
         * more can be said. End now, busy or not (freeing cancels pending work). */
        log_info("smtpd", "timeout sending to %s[%s]: %zu bytes unsent", s->client_name,
                 s->client_ip, evbuffer_get_length(bufferevent_get_output(bev)));
        session_free_later(s);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        log_info("smtpd", "timeout after %s from %s[%s]",
                 s->state == ST_DATA ? "DATA" : s->state == ST_CHUNK ? "BDAT" : "command",
                 s->client_name, s->client_ip);
        if (s->state != ST_GREETING && s->state != ST_STARTTLS)
            smtp_reply(s, R_TIMEOUT, s->cf->c.hostname);
        smtp_close(s);
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        unsigned long e = s->ssl ? bufferevent_get_openssl_error(bev) : 0;
        if (e) {
            char buf[256];
            ERR_error_string_n(e, buf, sizeof(buf));
            log_info("smtpd", "SSL error from %s[%s]: %s", s->client_name, s->client_ip, buf);
        }
    }
    if (s->state != ST_DATA && s->state != ST_CHUNK &&
        evbuffer_get_length(bufferevent_get_input(bev)) > 0)
        session_process(s); /* the EOF may arrive with the last commands */
    if (!s->closing) {
        if (s->state == ST_DATA || s->tx)
            log_info("smtpd", "lost connection after %s from %s[%s]",
                     s->state == ST_DATA ? "DATA" :
                     s->state == ST_CHUNK || s->state == ST_BDAT ? "BDAT" : "RCPT",
                     s->client_name, s->client_ip);
        if (s->busy) {
            s->closing = s->dead = true; /* smtp_resume() frees it, or the close timer */
            bufferevent_disable(s->bev, EV_READ | EV_WRITE);
            bufferevent_setcb(s->bev, NULL, NULL, NULL, NULL);
            session_linger(s);
            return;
        }
        s->closing = true;
        session_free_later(s);
    }
}

static void session_on_read(struct bufferevent *bev, void *arg)
{
    struct smtp_session *s = arg;

    (void)bev;
    if (s->state == ST_GREETING && s->eng_pending)
        engine_fact_set(s->es, FACT_SESSION, "smtpd.early_talk", json_true());
    session_process(s);
}

/* Frame and dispatch complete command lines until input runs out or we must wait. */
static void session_process(struct smtp_session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);

    while (!s->busy && !s->closing && !session_output_full(s)) {
        size_t avail, want, line_len = 0, consumed = 0;
        enum smtp_line_status st;
        const char *buf;

        if (s->state == ST_DATA) {
            if (!smtp_data_process(s))
                return;
            continue;
        }
        if (s->state == ST_CHUNK) {
            if (!smtp_chunk_process(s))
                return;
            continue;
        }
        if (s->state == ST_STARTTLS || s->state == ST_GREETING)
            return;
        avail = evbuffer_get_length(in);
        if (avail == 0)
            return;
        want = avail < s->rd.max + 3 ? avail : s->rd.max + 3;
        buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
        st = smtp_line_next(&s->rd, buf, want, &line_len, &consumed);
        if (st == SMTP_LINE_OK)
            memcpy(line_buf, buf, line_len);
        evbuffer_drain(in, consumed);
        if (st == SMTP_LINE_NEED_MORE) {
            if (consumed == 0)
                return;
            continue;
        }
        if (s->srv->shutting_down) {
            smtp_reply(s, R_SHUTDOWN, s->cf->c.hostname);
            smtp_close(s);
            return;
        }
        switch (st) {
        case SMTP_LINE_OK:
            line_buf[line_len] = '\0';
            if (s->auth_pending == AUTH_WAIT_LINE)
                smtp_auth_line(s, line_buf, line_len);
            else
                smtp_dispatch(s, line_buf, line_len);
            break;
        case SMTP_LINE_TOO_LONG:
            smtp_reply(s, R_LINE_TOO_LONG, s->rd.max);
            smtp_error(s);
            break;
        case SMTP_LINE_BARE_LF:
            smtp_reply(s, R_BARE_LF_CMD);
            smtp_error(s);
            break;
        case SMTP_LINE_BARE_CR:
            smtp_reply(s, R_BARE_CR_CMD);
            smtp_error(s);
            break;
        default:
            smtp_reply(s, R_NUL_CMD);
            smtp_error(s);
            break;
        }
    }
}
