/*
 * smtp_session.h - one SMTP server connection: state, transaction, and the functions the
 * session's files share.
 *
 * The session is split by job: smtp_session.c (connection lifecycle, input framing, replies,
 * TLS, closing), smtp_commands.c (the command table and the command handlers), smtp_data.c
 * (DATA and BDAT chunks: streaming to the spool, end detection, commit). Only relay/ includes this.
 * Everything here runs on the event loop thread.
 */
#ifndef POSTERN_SMTP_SESSION_H
#define POSTERN_SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <netinet/in.h>
#include <openssl/ssl.h>

#include "lib/data_scan.h"
#include "lib/msg_stream.h"
#include "lib/qid.h"
#include "lib/smtp_parse.h"
#include "policy/engine.h"
#include "policy/policy.h"

struct smtpd;
struct config;
struct bufferevent;
struct spool_file;
struct spool_commit;
struct auth_sess;
struct auth_op;
struct authfail_req;
struct event;
struct listener;
struct ip_count;
struct smtp_auth_held;
struct dkim_sign;
struct smtp_sign_job;

#define RCPT_BATCH_MAX POLICY_BATCH_MAX  /* pipelined RCPTs checked together */

enum smtp_state {
    ST_GREETING,   /* banner not sent yet (TLS handshake or CONNECT policy pending) */
    ST_INIT,       /* before HELO/EHLO */
    ST_READY,      /* after HELO/EHLO, no transaction */
    ST_MAIL,       /* MAIL accepted, no recipient yet */
    ST_RCPT,       /* at least one recipient */
    ST_DATA,       /* receiving message data */
    ST_BDAT,       /* BDAT chunks received, the last not yet: BDAT, RSET, QUIT, NOOP, HELO */
    ST_CHUNK,      /* receiving the bytes of one BDAT chunk (counted, not parsed) */
    ST_STARTTLS,   /* 220 sent, switching to TLS */
};

/* The transaction: from MAIL to the end of DATA or RSET. */
struct smtp_tx {
    struct spool_file *file;
    char *end_head;             /* END: the message header for checks that need it */
    char qid[QID_MAX];
    struct smtp_addr sender;
    char **rcpts;
    size_t nrcpt, rcpt_cap;
    size_t rcpt_overshoot;           /* RCPTs refused for the per-message limit */
    bool body_8bit;
    bool smtputf8;
    struct data_scan scan;
    bool too_big;
    unsigned long long size;         /* message bytes in the queue file, Received: included */
    unsigned long long declared_size;/* SIZE= of MAIL (RFC 1870), 0 when not given */
    struct spool_commit *commit;
    char message_id[QID_MAX + 300];  /* what msg_stream inserts when the message has none */
    char date[64];                   /* arrival, RFC 5322 form (Received:, Date:) */
    size_t received_len;             /* bytes of our Received: field, the message's first */
    /* DKIM signing (smtp_sign.c) */
    bool sign_scan;                  /* a logged-in sender and keys: watch for the header end */
    bool sign_decided;               /* the header ended and the signer was chosen (or none) */
    unsigned sign_eoh;               /* bytes of CR LF CR LF matched */
    unsigned long long sign_head;    /* header bytes after Received:, with the empty line */
    struct dkim_sign *dkim;          /* the body hash of the chosen signer, or NULL */
    char sign_domain[256];
    struct smtp_sign_job *sign_job;  /* the signing on a worker, or NULL */
    bool dkim_signed;                /* the signature is in the file: no header change */
    /* Not zeroed at MAIL: keep these members last (see cmd_mail). The RCPT batch being
     * checked by the policy engine, written before it is read; the message as it
     * streams to the spool, initialised at DATA. */
    struct smtp_addr batch[RCPT_BATCH_MAX];
    size_t eng_idx[RCPT_BATCH_MAX];  /* the engine's index of each */
    size_t nbatch;
    struct msg_stream msg;
};

enum auth_pending { AUTH_IDLE, AUTH_RUNNING, AUTH_WAIT_LINE };

/* The SMTP stage a reply answers, for postern_smtp_replies_total{stage}: the greeting
 * (connect), the command being answered, and the reply after the end of the message
 * (end: the final dot, or BDAT LAST). A bounded set: see smtp_reply_stage_name(). */
enum smtp_reply_stage {
    RS_CONNECT, RS_HELO, RS_STARTTLS, RS_AUTH, RS_MAIL, RS_RCPT, RS_DATA, RS_END, RS_OTHER,
    RS_COUNT
};

struct smtp_session {
    struct smtp_session *prev, *next;  /* server's list */
    struct smtpd *srv;
    struct config *cf;                 /* reference held for the session's life */
    char listener[64];
    char profile[64];                  /* the listener's policy profile */
    bool submission;                   /* ... whose direction is submission */
    bool needs_header;          /* a check of the profile reads the header at END */
    int tls_mode;                      /* enum listener_tls */
    int auth_mode;                     /* enum listener_auth */
    int fd;
    bool fd_owned_by_bev;
    struct bufferevent *bev;
    SSL *ssl;                          /* when TLS is active or being negotiated */
    char tls_info[160];                /* "TLSv1.3 with cipher ..." */
    char client_ip[INET6_ADDRSTRLEN];
    char client_name[256];
    char helo[256];                    /* sanitised HELO/EHLO argument */
    char *auth_login;                  /* set by a successful AUTH */
    struct auth_sess *auth;            /* SASL context (submission profiles only) */
    struct auth_op *aop;
    struct authfail_req *afreq;
    bool af_reserved;                  /* an AUTH attempt is reserved with the throttle */
    struct smtp_auth_held *auth_held;  /* a SASL verdict waiting for the throttle */
    enum auth_pending auth_pending;
    char auth_mech[32];
    char *auth_ir;                     /* initial response of the pending AUTH */
    char *auth_attempt;                /* canonical login of the last SASL verdict */
    unsigned client_port;
    const char *reject_greeting;       /* set when over a connection limit */
    enum smtp_state state;
    enum smtp_reply_stage reply_stage; /* what the next reply answers (metrics) */
    bool esmtp;
    bool busy;                         /* waiting for policy, spool or auth */
    bool closing;
    bool dead;                         /* dropped: results of pending work are discarded */
    bool output_full;                  /* replies wait unsent: input is not read */
    struct event *close_timer;         /* bounds a closing session; also frees it */
    struct listener *lst;              /* borrowed: listeners live until server_stop() */
    struct ip_count *ip_count;         /* our slot in the per-IP count, NULL if none */
    struct smtp_line_reader rd;
    unsigned errors;
    unsigned cmd_ok[SMTP_VERB_COUNT], cmd_total[SMTP_VERB_COUNT];
    struct smtp_tx *tx;
    /* the BDAT chunk being read (ST_CHUNK) */
    unsigned long long chunk_size, chunk_left;
    bool chunk_last;
    bool chunk_discard;                /* refused: its bytes are read and dropped */
    enum smtp_state chunk_ret;         /* the state after it */
    struct etrn_req *etrn;             /* ETRN waiting for the queue scan */
    struct engine_session *es;         /* the policy engine's side of the session */
    bool eng_pending;                  /* an engine stage runs: reading waits for it */
    void (*eng_then)(struct smtp_session *s);  /* what to do when it is over */
};

/* smtp_session.c */
struct smtp_session *smtp_session_new(struct smtpd *srv, int fd, const struct sockaddr *sa,
                                      const char *listener, const char *profile,
                                      int tls_mode, int auth_mode,
                                      const char *reject_greeting);
void smtp_session_shutdown(struct smtp_session *s);  /* SIGTERM: 421 now, or after the command */
void smtp_session_free(struct smtp_session *s);      /* server shutdown only */
void smtp_reply(struct smtp_session *s, int code, const char *ecode, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void smtp_reply_raw(struct smtp_session *s, const char *text, size_t len);
/* Count one reply of this code in postern_smtp_replies_total{class, stage} (smtp_reply and
 * smtp_reply_raw do; callers writing a reply themselves call it once per reply). */
void smtp_reply_count(struct smtp_session *s, int code);
/* "connect", "helo", ... "end", "other": the label value of a stage. */
const char *smtp_reply_stage_name(enum smtp_reply_stage st);
void smtp_close(struct smtp_session *s);            /* after the output is flushed */
void smtp_error(struct smtp_session *s);            /* count a client error; may close */
void smtp_resume(struct smtp_session *s);           /* async work done: go on reading */
void smtp_starttls(struct smtp_session *s);         /* after "220 Ready to start TLS" */
void smtp_set_data_timeouts(struct smtp_session *s, bool data);
/* Is there room in the spool for a message of size bytes (0: unknown) at MAIL or DATA (cmd)?
 * If not, logs and replies 452 4.3.1; the caller refuses the command. */
bool smtp_spool_has_room(struct smtp_session *s, const char *cmd, unsigned long long size);
const char *smtp_proto(const struct smtp_session *s);

/* Run an engine stage, then then(s) (at once when the stage completes synchronously;
 * else later, with reading stopped meanwhile, and not at all when the session closes or
 * goes away first). Without an engine session, then(s) runs at once. */
void smtp_engine_run(struct smtp_session *s, enum engine_stage stage,
                     void (*then)(struct smtp_session *s));
/* The engine's reply to the command of the last stage, or NULL to go on. */
const struct engine_reply *smtp_engine_reply(const struct smtp_session *s);

/* smtp_commands.c */
/* The reply stage of a command verb (HELO and EHLO: helo; BDAT: data, the chunk's own
 * reply; RSET, NOOP, QUIT, VRFY, ...: other). */
enum smtp_reply_stage smtp_verb_reply_stage(enum smtp_verb v);
void smtp_dispatch(struct smtp_session *s, const char *line, size_t len);
void smtp_tx_free(struct smtp_session *s);
void smtp_log_reject(struct smtp_session *s, const char *cmd, const struct policy_verdict *v,
                     const char *rcpt);
/* The same for a refusal of the policy engine: its reason, and its symbols (a new
 * reference or NULL) for message.rejected. */
void smtp_log_reject_engine(struct smtp_session *s, const char *cmd,
                            const struct engine_reply *r, const char *rcpt,
                            struct json_t *symbols);
void smtp_etrn_cancel(struct smtp_session *s);      /* a pending ETRN will not answer */

/* smtp_auth.c */
void smtp_cmd_auth(struct smtp_session *s, const struct smtp_cmd *cmd);
void smtp_auth_line(struct smtp_session *s, const char *line, size_t len);
void smtp_auth_session_start(struct smtp_session *s, int fd);
void smtp_auth_tls_ready(struct smtp_session *s);
void smtp_auth_session_end(struct smtp_session *s);

/* smtp_sign.c: DKIM signing at receipt. start at DATA, out with every byte going to the
 * spool after Received:, run once the END checks accepted (then(s) at once, or later
 * unless the session goes away), cancel from smtp_tx_free. */
void smtp_sign_start(struct smtp_session *s);
void smtp_sign_out(struct smtp_session *s, const char *p, size_t n);
void smtp_sign_run(struct smtp_session *s, void (*then)(struct smtp_session *s));
void smtp_sign_cancel(struct smtp_tx *tx);
/* smtp_sign_warn.c: a logged-in sender's mail from domain leaves unsigned (no key): warn
 * once per domain and day when its DMARC policy is reject or quarantine. */
void smtp_sign_warn_unsigned(struct smtp_session *s, const char *domain);
/* smtp_data.c */
void smtp_data_start(struct smtp_session *s);
bool smtp_data_process(struct smtp_session *s);     /* false: wait for more input */
/* BDAT: open the message of the transaction (envelope, Received:) for chunks; false
 * after replying when it cannot be written (the transaction is gone). */
bool smtp_bdat_open(struct smtp_session *s);
/* Read the chunk of s->chunk_size bytes (chunk_last, chunk_discard set by the caller),
 * then go to state ret; a kept chunk goes into the message, the last one ends it. */
void smtp_chunk_start(struct smtp_session *s, bool discard, enum smtp_state ret);
bool smtp_chunk_process(struct smtp_session *s);    /* false: wait for more input */

#endif
