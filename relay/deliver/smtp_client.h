/*
 * smtp_client.h - the outbound SMTP/LMTP client used by the queue runner.
 *
 * One struct smtp_client is one connection to one already-resolved address (the router
 * resolves MX/A records; trying the next MX is the caller's job, and every result says
 * whether the failure was about the host/session rather than the message, see
 * smtp_result.session). The life of a client:
 *
 *   c = smtp_client_new(base, ssl_ctx, &opts);
 *   smtp_client_connect(c, sa, salen, "mx.example", ready_cb, arg);
 *       connect, greeting, EHLO (HELO after a 5xx; LHLO for LMTP), STARTTLS by the route's
 *       policy (then EHLO again), AUTH PLAIN/LOGIN for smarthosts; then ready_cb(c, NULL).
 *   smtp_client_send(c, &msg, sent_cb, arg);        (again after each sent_cb: reuse)
 *       MAIL (SIZE=, BODY=8BITMIME, SMTPUTF8), RCPT..., DATA -- one batch with PIPELINING --,
 *       the body streamed from the spool file with dot-stuffing, then one result per
 *       recipient (LMTP: one reply per accepted recipient after the final dot).
 *   smtp_client_quit(c);   or   smtp_client_free(c);
 *
 * Cancellation: smtp_client_quit() and smtp_client_free() may be called at any time, also
 * from inside ready_cb/sent_cb; after either, no callback of this client ever runs.
 *
 * Local decisions (made without asking the server, result .local = true):
 *   - SIZE: a message larger than the server's announced SIZE limit fails permanently
 *     (552 5.3.4) without MAIL being sent.
 *   - 8-bit: a message flagged SMTP_MSG_8BIT goes with BODY=8BITMIME when the server offers
 *     it. When it does not, the body is first read through (in chunks, one per loop turn) and
 *     sent unchanged when it turns out 7-bit clean; otherwise it fails permanently with
 *     554 5.6.3 "conversion required but not supported": Postern never converts and never
 *     sends 8-bit data to a 7-bit server. (Unflagged messages are sent as they are.)
 *   - SMTPUTF8 (RFC 6531 3.2): a message needs it when an address of the transaction has
 *     non-ASCII text, or, for a message flagged SMTP_MSG_SMTPUTF8, when its header
 *     section has a non-ASCII byte (read from prepend and file, one chunk per loop turn,
 *     up to the empty line). A message that needs it goes with MAIL ... SMTPUTF8 when the
 *     server offers it and fails permanently with 553 5.6.7 when it does not; one that
 *     does not need it goes without the parameter, to any server.
 *   - TLS policy "required" with no STARTTLS offered, or a failed STARTTLS: temporary
 *     failure (451 4.7.4 / 454 4.7.5); no MAIL is ever sent in plaintext.
 *   - AUTH credentials are only sent over TLS unless opts.auth_plaintext allows it (else a
 *     temporary 451 4.7.0), and with opts.tls_verify only over a TLS session whose
 *     certificate was verified (else a temporary 451 4.7.5). A 5xx AUTH reply is reported
 *     as a temporary failure (like Postfix's smtp_sasl_auth_soft_bounce): a wrong password
 *     must not bounce the queue.
 *     A server that offers no AUTH at all is used without it (as Postfix does).
 *   - Lost connection and timeouts: temporary (451 4.4.2); connection refused or
 *     unreachable: temporary (451 4.4.1).
 * Everything runs on the event loop thread; no function here may be called from a worker.
 */
#ifndef POSTERN_SMTP_CLIENT_H
#define POSTERN_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "lib/conf.h"
#include "lib/smtp_reply_parse.h"

struct event_base;
struct ssl_ctx_st;
struct smtp_client;

/* ---- configuration ------------------------------------------------------------------ */

/* The "smtp_client" section of the root config (keys in smtp_client.c): timeouts per stage
 * (RFC 5321 4.5.3.2 defaults) and the bounds on what a server may send. */
struct smtp_client_conf {
    long long connect_ms;      /* TCP connect */
    long long greeting_ms;     /* 220 banner: 5m */
    long long helo_ms;         /* EHLO / HELO / LHLO reply */
    long long starttls_ms;     /* STARTTLS reply and the TLS handshake */
    long long auth_ms;         /* each AUTH step */
    long long mail_ms;         /* MAIL reply: 5m */
    long long rcpt_ms;         /* each RCPT reply: 5m */
    long long data_ms;         /* DATA's 354: 2m */
    long long data_block_ms;   /* no progress while sending the body: 3m */
    long long data_done_ms;    /* reply(ies) to the final dot: 10m */
    long long rset_ms;         /* RSET reply */
    long long quit_ms;         /* QUIT reply, then close regardless */
    long long reply_line_max;  /* longest reply line accepted, CRLF excluded */
    long long reply_lines_max; /* most lines in one reply (EHLO lists) */
    unsigned long long data_chunk; /* bytes read from the spool file per read */
    bool chunking;             /* send with BDAT when the server offers CHUNKING */
};

extern const struct conf_section smtp_client_conf_section;

/* Per-route TLS policy; smtp_tls_policy_names[] is its CONF_ENUM choices list
 * ("none", "opportunistic", "required") for the router's route table. */
enum smtp_tls_policy { SMTP_TLS_NONE, SMTP_TLS_OPPORTUNISTIC, SMTP_TLS_REQUIRED };
extern const char *const smtp_tls_policy_names[];

/* What one connection needs: the global conf plus the route's choices. Strings are copied
 * by smtp_client_new(); conf must outlive the client. */
struct smtp_client_opts {
    const struct smtp_client_conf *conf;
    const char *helo_name;     /* our name in EHLO/HELO/LHLO */
    bool lmtp;                 /* LHLO and per-recipient replies after the dot */
    enum smtp_tls_policy tls;
    bool tls_verify;           /* require a trusted certificate matching tls_name */
    const char *tls_name;      /* SNI and the name checked; NULL: the host given to connect */
    const char *auth_user;     /* smarthost credentials; NULL: no AUTH */
    const char *auth_pass;
    bool auth_plaintext;       /* allow AUTH without TLS (trusted local networks only) */
};

/* ---- results ------------------------------------------------------------------------- */

enum smtp_stage {
    SMTP_STAGE_CONNECT, SMTP_STAGE_GREETING, SMTP_STAGE_EHLO, SMTP_STAGE_STARTTLS,
    SMTP_STAGE_AUTH, SMTP_STAGE_RSET, SMTP_STAGE_MAIL, SMTP_STAGE_RCPT, SMTP_STAGE_DATA,
    SMTP_STAGE_DATA_END
};

/* "connect", "greeting", "ehlo", "starttls", "auth", "rset", "mail", "rcpt", "data"
 * (the DATA command and the body), "data-end" (the reply to the final dot). */
const char *smtp_stage_name(enum smtp_stage stage);

enum smtp_status { SMTP_SENT, SMTP_TEMPFAIL, SMTP_PERMFAIL };

/* "sent", "tempfail", "permfail". */
const char *smtp_status_name(enum smtp_status status);

#define SMTP_RESULT_TEXT_MAX 512

struct smtp_result {
    enum smtp_status status;
    enum smtp_stage stage;     /* the step that decided it */
    bool local;                /* decided by this client, not a server reply */
    bool session;              /* about the host or connection, not this message: the
                                * caller may try the next MX / retry soon */
    int code;                  /* the server's code (or ours when local) */
    char enhanced[SMTP_ENHANCED_MAX];          /* "5.1.1", "" when the server gave none */
    char text[SMTP_RESULT_TEXT_MAX];           /* one line, printable ASCII */
};

/* What smtp_client_send() reports: one result per recipient, in msg->rcpts order. */
struct smtp_client_report {
    const struct smtp_result *rcpt;
    size_t nrcpts;
};

/* Runs on the loop thread once the session is ready (err == NULL) or has failed (err is
 * the reason; the client is then unusable, free it). err is valid during the call. */
typedef void (*smtp_client_ready_fn)(struct smtp_client *c, const struct smtp_result *err,
                                     void *arg);
/* Runs on the loop thread when the message is done; rep is valid during the call. The
 * client may be given the next message (or freed) from inside the callback. */
typedef void (*smtp_client_sent_fn)(struct smtp_client *c, const struct smtp_client_report *rep,
                                    void *arg);

/* ---- messages ------------------------------------------------------------------------ */

#define SMTP_MSG_8BIT     0x1u   /* the body may contain 8-bit bytes (BODY=8BITMIME) */
#define SMTP_MSG_SMTPUTF8 0x2u   /* the envelope or headers may need SMTPUTF8 (the client
                                    asked for it): the header section is checked */
#define SMTP_MSG_PROBE    0x4u   /* a recipient probe (callout): MAIL and the RCPTs only,
                                    never DATA; each recipient's result is the reply to its
                                    RCPT (2xx: SMTP_SENT). fd/length are unused; the next
                                    transaction on the connection starts with RSET */

/* One message; it and everything it points to must stay valid until sent_cb runs or the
 * client is freed. The body is fd[offset, offset + length) in wire form (CRLF line ends,
 * not dot-stuffed, ending with CRLF), after prepend (whole header lines ending in CRLF,
 * held in memory, may be NULL). The client reads fd with pread() and never moves its
 * offset; it never holds more than a few chunks of the body in memory. */
struct smtp_client_msg {
    const char *sender;                 /* "" for the null sender <> */
    const char *const *rcpts;
    size_t nrcpts;                      /* >= 1 */
    int fd;
    off_t offset;
    size_t length;
    const char *prepend;
    size_t prepend_len;
    unsigned flags;                     /* SMTP_MSG_* */
};

/* ---- the client ---------------------------------------------------------------------- */

/* A client that is not connected yet. ssl_ctx may be NULL when opts->tls is SMTP_TLS_NONE;
 * otherwise it is borrowed (see smtp_client_ssl_ctx_new) and must outlive the client. */
struct smtp_client *smtp_client_new(struct event_base *base, struct ssl_ctx_st *ssl_ctx,
                                    const struct smtp_client_opts *opts);

/* Start connecting to sa (AF_INET, AF_INET6 or AF_UNIX); host names the peer in logs
 * ("relay=host[ip]:port") and is the TLS name unless opts->tls_name is set. ready_cb runs
 * exactly once, never before this returns. Returns 0, or -1 when called twice. */
int smtp_client_connect(struct smtp_client *c, const struct sockaddr *sa, socklen_t salen,
                        const char *host, smtp_client_ready_fn ready_cb, void *arg);

/* Deliver one message on a ready connection (RSET first when the last transaction did not
 * finish). sent_cb runs exactly once, never before this returns. Returns 0, or -1 when the
 * client is not ready (still connecting, busy, or the connection is gone) or the message
 * is unusable (no recipient, a control character such as CR or LF in an address). */
int smtp_client_send(struct smtp_client *c, const struct smtp_client_msg *msg,
                     smtp_client_sent_fn sent_cb, void *arg);

/* True when the connection is idle and may take another message. */
bool smtp_client_usable(const struct smtp_client *c);

/* "host[1.2.3.4]:25" or "host[/path/to/socket]", for Postfix-style "relay=" log fields. */
const char *smtp_client_relay(const struct smtp_client *c);

/* "TLSv1.3" when TLS is active, else NULL; whether the peer's certificate was trusted and
 * matched the TLS name (also when verification was not required). */
const char *smtp_client_tls_version(const struct smtp_client *c);
bool smtp_client_tls_verified(const struct smtp_client *c);

/* Politely end the session: send QUIT when the connection is idle and let it close in the
 * background (bounded by quit_ms), then free the client. No callback runs afterwards.
 * During a transaction this is smtp_client_free(). */
void smtp_client_quit(struct smtp_client *c);

/* Drop the connection at once and free the client; no callback runs afterwards. NULL is
 * allowed. */
void smtp_client_free(struct smtp_client *c);

/* A client TLS context: TLS 1.2+, SSL_OP_IGNORE_UNEXPECTED_EOF, trust anchors from cafile
 * (PEM) or, when cafile is NULL, the system store. NULL (after logging) on failure. Free it
 * with SSL_CTX_free(). */
struct ssl_ctx_st *smtp_client_ssl_ctx_new(const char *cafile);

#endif
