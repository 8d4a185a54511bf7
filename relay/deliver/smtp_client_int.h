/*
 * smtp_client_int.h - private to the outbound SMTP client (relay/deliver/smtp_client*.c).
 *
 * smtp_client.c owns the connection: lifecycle, I/O callbacks, reply framing, timers and
 * closing. smtp_client_session.c sets the session up: greeting, EHLO/HELO/LHLO, STARTTLS,
 * AUTH.
 * smtp_client_tx.c owns one message: local checks, RSET, MAIL/RCPT/DATA (pipelined or
 * not), streaming the body, and the per-recipient results.
 * Everything runs on the event loop thread.
 */
#ifndef POSTERN_SMTP_CLIENT_INT_H
#define POSTERN_SMTP_CLIENT_INT_H

#include "relay/deliver/smtp_client.h"

#include <openssl/ssl.h>

struct bufferevent;
struct event;
struct evbuffer;
struct sc_tx;

#define SC_ERR_TEXT_MAX 256                   /* one OpenSSL error string */
#define SC_HOST_LOG_MAX 256                   /* the host name as logged */
#define SC_RELAY_MAX (SC_HOST_LOG_MAX + 144)  /* "host[ip]:port", "host[/unix/path]" */

enum sc_state {
    SC_NEW,          /* created, smtp_client_connect() not called yet */
    SC_CONNECTING,   /* TCP/unix connect in progress (or failed, reported from defer) */
    SC_GREETING,     /* waiting for the 220 banner */
    SC_EHLO,         /* EHLO or LHLO sent */
    SC_HELO,         /* HELO sent after a 5xx to EHLO */
    SC_STARTTLS,     /* STARTTLS sent */
    SC_HANDSHAKE,    /* TLS handshake in progress */
    SC_AUTH,         /* AUTH exchange in progress */
    SC_READY,        /* idle: may take a message */
    SC_CHECK_UTF8,   /* reading the header for non-ASCII bytes, one chunk per loop turn */
    SC_CHECK_8BIT,   /* reading the body for 8-bit bytes, one chunk per loop turn */
    SC_REPORT,       /* results decided locally, reported from the defer event */
    SC_RSET,         /* RSET sent before the next MAIL */
    SC_TX,           /* MAIL / RCPT / DATA replies pending */
    SC_BODY,         /* streaming the message body */
    SC_DATA_END,     /* waiting for the reply (LMTP: replies) to the final dot */
    SC_BROKEN,       /* the connection is gone */
};

/* A reply, reduced to what the handlers use, copied out of the input buffer. */
/* Replies this client makes up itself (code, enhanced code, format), in one table. */
#define SC_R_CONNECT         451, "4.4.1", "connect to %s: %s"
#define SC_R_LOST            451, "4.4.2", "lost connection with %s while %s"
#define SC_R_TIMEOUT         451, "4.4.2", "conversation with %s timed out while %s"
#define SC_R_PROTOCOL        451, "4.5.0", "%s from %s while %s"
#define SC_R_TLS_NOT_OFFERED 451, "4.7.4", "TLS is required, but was not offered by host %s"
#define SC_R_TLS_FAILED      454, "4.7.5", "TLS handshake with %s failed: %s"
#define SC_R_AUTH_PLAINTEXT  451, "4.7.0", "not sending AUTH credentials to %s without TLS"
#define SC_R_AUTH_UNVERIFIED 451, "4.7.5", "not sending AUTH credentials to %s: its certificate is not verified"
#define SC_R_AUTH_NO_MECH    451, "4.7.4", "%s offers no AUTH mechanism this client speaks (PLAIN, LOGIN)"
#define SC_R_READ_FAILED     451, "4.3.0", "cannot read the queue file: %s"
#define SC_R_SIZE            552, "5.3.4", "message size %llu exceeds size limit %llu of %s"
#define SC_R_8BIT            554, "5.6.3", "conversion required but not supported: 8-bit message and %s does not offer 8BITMIME"
#define SC_R_SMTPUTF8        553, "5.6.7", "SMTPUTF8 is required, but was not offered by host %s"

struct sc_reply {
    int code;
    char enhanced[SMTP_ENHANCED_MAX];
    char text[SMTP_RESULT_TEXT_MAX];
    struct smtp_ehlo ehlo;             /* filled in SC_EHLO only */
};

struct smtp_client {
    struct event_base *base;
    SSL_CTX *ssl_ctx;                  /* borrowed */
    struct smtp_client_opts opts;      /* strings are our copies */
    struct smtp_reply_limits limits;
    size_t reply_bound;                /* input bytes one reply may need, at most */
    struct smtp_reply reply;           /* parser output (large: kept off the stack) */
    struct bufferevent *bev;           /* socket bev, or the TLS filter over it */
    SSL *ssl;                          /* owned by bev once TLS started */
    struct event *timer;               /* deadline of the current stage */
    struct event *defer;               /* connect failure, local reports, content scans */
    enum sc_state state;
    enum smtp_stage stage;             /* what a timeout or lost connection interrupts */
    int connect_errno;                 /* connect failure reported from defer */
    char *host;
    char relay[SC_RELAY_MAX];
    struct smtp_ehlo ext;              /* what the server offers (after the last EHLO) */
    bool tls_tried;                    /* STARTTLS attempted (or refused by the server) */
    const char *tls_version;           /* SSL_get_version() once TLS is up */
    bool tls_verified;
    int auth_step;                     /* enum sc_auth_step in smtp_client.c */
    bool need_rset;                    /* the last transaction did not end with a dot */
    int busy;                          /* our callbacks on the stack */
    bool dead;                         /* freed by the owner while busy */
    smtp_client_ready_fn ready_cb;
    void *ready_arg;
    struct sc_tx *tx;                  /* the message in progress */
};

/* ---- smtp_client.c, used by the other two ---------------------------------------------- */

/* "smtp" or "lmtp", the log component. */
const char *sc_component(const struct smtp_client *c);

/* Install the client's callbacks on c->bev (a new socket or TLS bufferevent) and enable it. */
void sc_watch(struct smtp_client *c);

/* Run the owner's ready callback once: err NULL for "ready". */
void sc_ready_done(struct smtp_client *c, const struct smtp_result *err);

/* Queue one command line (CRLF added) or a whole pipelined batch. */
void sc_write_line(struct smtp_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sc_write_batch(struct smtp_client *c, struct evbuffer *batch);

/* Enter stage and (re)arm the stage timer. */
void sc_expect(struct smtp_client *c, enum smtp_stage stage, long long ms);

/* Fill res from a server reply (2xx sent, 5xx permanent, anything else temporary;
 * session when 421) or from our own decision (status from the code; .local set). */
void sc_result_reply(struct smtp_result *res, enum smtp_stage stage, const struct sc_reply *r);
void sc_result_local(struct smtp_result *res, enum smtp_stage stage, bool session, int code,
                     const char *enhanced, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Close the connection (politely: QUIT in the background) and fail whatever is pending
 * with why: the ready callback, or the message's undecided recipients. */
void sc_abort(struct smtp_client *c, const struct smtp_result *why, bool polite);

/* ---- smtp_client_session.c, used by smtp_client.c -------------------------------------- */

/* A reply arrived in SC_GREETING, SC_EHLO, SC_HELO, SC_STARTTLS or SC_AUTH. */
void sc_session_reply(struct smtp_client *c, const struct sc_reply *r);

/* The TLS handshake finished (EHLO again) / failed (the session ends). */
void sc_tls_done(struct smtp_client *c);
void sc_tls_failed(struct smtp_client *c);

/* ---- smtp_client_tx.c, used by smtp_client.c ------------------------------------------ */

/* A reply arrived in SC_RSET, SC_TX, SC_BODY or SC_DATA_END. */
void sc_tx_reply(struct smtp_client *c, const struct sc_reply *r);

/* The output drained below the low watermark while in SC_BODY. */
void sc_tx_writable(struct smtp_client *c);

/* The defer event fired in SC_CHECK_UTF8, SC_CHECK_8BIT or SC_REPORT. */
void sc_tx_deferred(struct smtp_client *c);

/* The connection failed: every undecided recipient gets why; then report. */
void sc_tx_fail(struct smtp_client *c, const struct smtp_result *why);

/* Release the message state without reporting (the client is being freed). */
void sc_tx_free(struct sc_tx *tx);

#endif
