/*
 * smtp_commands.c - the SMTP command table and its handlers (RFC 5321, 1869, 3207, 2920,
 * 3030).
 *
 * Each row of the table names a verb, the states in which it is allowed, whether it takes
 * an argument, and its handler, so the ordering rules of SMTP are visible in one place.
 * Handlers parse with lib/smtp_parse.c, run the policy engine's stage of the command
 * (policy/engine.h: HELO, MAIL, RCPT, DATA; CONNECT and AUTH in their files), and reply
 * from the table in smtp_replies.h. Pipelined RCPT commands that are already buffered
 * are collected into one batch and checked with one engine run.
 */
#include "relay/smtpd/smtp_session.h"

#include "auth/sasl_server.h"
#include "auth/sender_owner.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "relay/relay_conf.h"
#include "relay/smtpd/smtpd.h"
#include "lib/smtp_replies.h"
#include "relay/spool/spool.h"
#include "webhooks/event.h"

#include <event2/buffer.h>
#include <jansson.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ST(x) (1u << (x))
#define ANY_CMD_STATE (ST(ST_INIT) | ST(ST_READY) | ST(ST_MAIL) | ST(ST_RCPT) | ST(ST_BDAT))

enum arg_rule { ARG_NONE, ARG_REQUIRED, ARG_OPTIONAL };

struct smtp_command {
    enum smtp_verb verb;
    unsigned states;            /* where the command is allowed */
    enum arg_rule arg;
    void (*handler)(struct smtp_session *s, const struct smtp_cmd *cmd);
    int (*refuse)(struct smtp_session *s); /* reply when used in a wrong state */
};

static void cmd_helo(struct smtp_session *s, const struct smtp_cmd *cmd);
static void cmd_ehlo(struct smtp_session *s, const struct smtp_cmd *cmd);
static void cmd_mail(struct smtp_session *s, const struct smtp_cmd *cmd);
static void cmd_rcpt(struct smtp_session *s, const struct smtp_cmd *cmd);
static void cmd_data(struct smtp_session *s, const struct smtp_cmd *cmd);
static void cmd_rset(struct smtp_session *s, const struct smtp_cmd *cmd);
static void cmd_noop(struct smtp_session *s, const struct smtp_cmd *cmd);
static void cmd_quit(struct smtp_session *s, const struct smtp_cmd *cmd);
static void cmd_vrfy(struct smtp_session *s, const struct smtp_cmd *cmd);
static void cmd_help(struct smtp_session *s, const struct smtp_cmd *cmd);
static void cmd_starttls(struct smtp_session *s, const struct smtp_cmd *cmd);
static void cmd_not_implemented(struct smtp_session *s, const struct smtp_cmd *cmd);
static void cmd_etrn(struct smtp_session *s, const struct smtp_cmd *cmd);
static void cmd_bdat(struct smtp_session *s, const struct smtp_cmd *cmd);
static int refuse_need_helo(struct smtp_session *s);
static int refuse_mail(struct smtp_session *s);
static int refuse_need_mail(struct smtp_session *s);
static int refuse_need_rcpt(struct smtp_session *s);
static int refuse_tls(struct smtp_session *s);
static int refuse_mail_auth(struct smtp_session *s);
static int refuse_etrn(struct smtp_session *s);

static const struct smtp_command commands[] = {
    { SMTP_VERB_HELO, ANY_CMD_STATE, ARG_REQUIRED, cmd_helo, NULL },
    { SMTP_VERB_EHLO, ANY_CMD_STATE, ARG_REQUIRED, cmd_ehlo, NULL },
    { SMTP_VERB_MAIL, ST(ST_READY), ARG_REQUIRED, cmd_mail, refuse_mail },
    { SMTP_VERB_RCPT, ST(ST_MAIL) | ST(ST_RCPT), ARG_REQUIRED, cmd_rcpt, refuse_need_mail },
    { SMTP_VERB_DATA, ST(ST_RCPT), ARG_NONE, cmd_data, refuse_need_rcpt },
    { SMTP_VERB_RSET, ANY_CMD_STATE, ARG_NONE, cmd_rset, NULL },
    { SMTP_VERB_NOOP, ANY_CMD_STATE, ARG_OPTIONAL, cmd_noop, NULL },
    { SMTP_VERB_QUIT, ANY_CMD_STATE, ARG_NONE, cmd_quit, NULL },
    { SMTP_VERB_VRFY, ANY_CMD_STATE, ARG_REQUIRED, cmd_vrfy, NULL },
    { SMTP_VERB_HELP, ANY_CMD_STATE, ARG_OPTIONAL, cmd_help, NULL },
    { SMTP_VERB_STARTTLS, ST(ST_INIT) | ST(ST_READY), ARG_NONE, cmd_starttls, refuse_tls },
    { SMTP_VERB_EXPN, ANY_CMD_STATE, ARG_OPTIONAL, cmd_not_implemented, NULL },
    { SMTP_VERB_ETRN, ST(ST_READY), ARG_REQUIRED, cmd_etrn, refuse_etrn },
    { SMTP_VERB_AUTH, ST(ST_READY), ARG_REQUIRED, smtp_cmd_auth, refuse_mail_auth },
    /* in every state: a refused chunk must still be read (cmd_bdat) */
    { SMTP_VERB_BDAT, ANY_CMD_STATE, ARG_OPTIONAL, cmd_bdat, NULL },
};

static const struct smtp_command *command_find(enum smtp_verb v)
{
    size_t i;
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (commands[i].verb == v)
            return &commands[i];
    return NULL;
}

enum smtp_reply_stage smtp_verb_reply_stage(enum smtp_verb v)
{
    switch (v) {
    case SMTP_VERB_HELO: case SMTP_VERB_EHLO: return RS_HELO;
    case SMTP_VERB_STARTTLS: return RS_STARTTLS;
    case SMTP_VERB_AUTH: return RS_AUTH;
    case SMTP_VERB_MAIL: return RS_MAIL;
    case SMTP_VERB_RCPT: return RS_RCPT;
    case SMTP_VERB_DATA: case SMTP_VERB_BDAT: return RS_DATA;
    default: return RS_OTHER;
    }
}

void smtp_dispatch(struct smtp_session *s, const char *line, size_t len)
{
    struct smtp_cmd cmd;
    const struct smtp_command *c;
    int parsed = smtp_cmd_parse(line, len, &cmd);

    s->reply_stage = smtp_verb_reply_stage(parsed < 0 ? SMTP_VERB_UNKNOWN : cmd.verb);
    if (parsed < 0 || (c = command_find(cmd.verb)) == NULL) {
        char safe[64];
        log_info("smtpd", "warning: %s[%s]: unknown command: %s", s->client_name,
                 s->client_ip, log_sanitize(safe, sizeof(safe), line, len));
        s->cmd_total[SMTP_VERB_UNKNOWN]++;
        smtp_reply(s, R_UNKNOWN_CMD);
        smtp_error(s);
        return;
    }
    s->cmd_total[cmd.verb]++;
    if (!(c->states & ST(s->state))) {
        if (s->state == ST_BDAT) /* RFC 3030 2: chunks, then nothing else of the transaction */
            smtp_reply(s, R_BDAT_ONLY, smtp_verb_name(cmd.verb));
        else if (c->refuse == NULL || c->refuse(s) == 0)
            smtp_reply(s, R_NEED_HELO);
        smtp_error(s);
        return;
    }
    if (c->arg == ARG_NONE && cmd.arg_len > 0) {
        smtp_reply(s, R_NO_ARGS, smtp_verb_name(cmd.verb));
        smtp_error(s);
        return;
    }
    if (c->arg == ARG_REQUIRED && cmd.arg_len == 0) {
        smtp_reply(s, R_SYNTAX, smtp_verb_name(cmd.verb));
        smtp_error(s);
        return;
    }
    c->handler(s, &cmd);
}

/* ---- wrong-state replies ------------------------------------------------------------ */

static int refuse_need_helo(struct smtp_session *s)
{
    smtp_reply(s, R_NEED_HELO);
    return 1;
}

static int refuse_mail(struct smtp_session *s)
{
    if (s->state == ST_INIT)
        return refuse_need_helo(s);
    smtp_reply(s, R_NESTED_MAIL);
    return 1;
}

static int refuse_need_mail(struct smtp_session *s)
{
    if (s->state == ST_INIT)
        return refuse_need_helo(s);
    smtp_reply(s, R_NEED_MAIL);
    return 1;
}

static int refuse_need_rcpt(struct smtp_session *s)
{
    if (s->state == ST_MAIL) {
        smtp_reply(s, R_NEED_RCPT);
        return 1;
    }
    return refuse_need_mail(s);
}

static int refuse_mail_auth(struct smtp_session *s)
{
    if (s->state == ST_INIT)
        return refuse_need_helo(s);
    return refuse_tls(s);
}

static int refuse_tls(struct smtp_session *s)
{
    smtp_reply(s, R_TX_IN_PROGRESS);
    return 1;
}

/* ---- transaction ------------------------------------------------------------------- */

void smtp_tx_free(struct smtp_session *s)
{
    struct smtp_tx *tx = s->tx;
    size_t i;

    if (tx == NULL)
        return;
    if (tx->commit)
        spool_commit_cancel(tx->commit);
    smtp_sign_cancel(tx);
    if (tx->file)
        spool_file_abort(tx->file);
    for (i = 0; i < tx->nrcpt; i++)
        free(tx->rcpts[i]);
    free(tx->rcpts);
    free(tx->end_head);
    free(tx);
    s->tx = NULL;
    if (s->es)
        engine_tx_end(s->es);
    if (s->state == ST_MAIL || s->state == ST_RCPT || s->state == ST_DATA ||
        s->state == ST_BDAT)
        s->state = ST_READY;
}

/* The reason category (docs/webhooks.md) of the session's own refusals (protocol limits:
 * "limits", "smuggling"); the policy engine's carry theirs (check_def.reason). */
static const char *reject_reason(const char *check)
{
    if (check != NULL && strcmp(check, "limits") == 0)
        return "size";
    if (check != NULL && strcmp(check, "smuggling") == 0)
        return "policy";
    return "other";
}

/* The refused recipients: the RCPT's own, or at the end of DATA every accepted one. */
static json_t *reject_rcpts(const struct smtp_tx *tx, const char *rcpt)
{
    json_t *a;
    size_t i;

    if (rcpt)
        return wh_pack("[s]", rcpt);
    if (tx == NULL || tx->nrcpt == 0)
        return NULL;
    a = json_array();
    for (i = 0; i < tx->nrcpt; i++)
        json_array_append_new(a, wh_json_string(tx->rcpts[i]));
    return a;
}

static void log_reject(struct smtp_session *s, const char *cmd, int code, const char *ecode,
                       const char *text, const char *reason, const char *rcpt, json_t *symbols)
{
    const char *qid = s->tx && s->tx->qid[0] ? s->tx->qid : NULL;
    char stage[16];
    size_t i;

    log_info("smtpd", "%s: reject: %s from %s[%s]: %d %s %s; from=<%s>%s%s%s proto=%s helo=<%s>",
             qid ? qid : "NOQUEUE", cmd, s->client_name, s->client_ip,
             code, ecode, text, s->tx ? s->tx->sender.addr : "",
             rcpt ? " to=<" : "", rcpt ? rcpt : "", rcpt ? ">" : "", smtp_proto(s), s->helo);
    for (i = 0; cmd[i] && i < sizeof(stage) - 1; i++)
        stage[i] = (char)(cmd[i] >= 'A' && cmd[i] <= 'Z' ? cmd[i] - 'A' + 'a' : cmd[i]);
    stage[i] = '\0';
    if (strcmp(stage, "end-of-message") == 0)
        snprintf(stage, sizeof(stage), "data");
    if (symbols != NULL && json_object_size(symbols) == 0) {
        json_decref(symbols);
        symbols = NULL;
    }
    if (strcmp(reason, "greylisted") == 0) { /* expected by every sender: not an alert */
        json_decref(symbols);
        return;
    }
    smtpd_event(s->srv, "message.rejected",
                 wh_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s*, s:s, s:s*, s:o*, s:s*, s:o*}",
                           "stage", stage, "code", code, "enhanced_code", ecode,
                           "text", text, "reason", reason,
                           "client_ip", s->client_ip, "helo", s->helo, "login", s->auth_login,
                           "listener", s->listener,
                           "sender", s->tx ? s->tx->sender.addr : NULL,
                           "recipients", reject_rcpts(s->tx, rcpt), "queue_id", qid,
                           "symbols", symbols));
}

void smtp_log_reject(struct smtp_session *s, const char *cmd, const struct policy_verdict *v,
                     const char *rcpt)
{
    log_reject(s, cmd, v->code, v->ecode, v->text, reject_reason(v->check), rcpt, NULL);
}

void smtp_log_reject_engine(struct smtp_session *s, const char *cmd,
                            const struct engine_reply *r, const char *rcpt, json_t *symbols)
{
    log_reject(s, cmd, r->code, r->ecode, r->text, r->reason ? r->reason : "other", rcpt,
               symbols);
}

/* Reply with the engine's refusal of the current command. */
static void reply_engine(struct smtp_session *s, const struct engine_reply *r)
{
    smtp_reply(s, r->code, r->ecode, "%s", r->text);
    if (r->disconnect)
        smtp_close(s);
    else
        smtp_error(s);
}

/* ---- HELO / EHLO ------------------------------------------------------------------- */

static void set_helo(struct smtp_session *s, const struct smtp_cmd *cmd, bool esmtp)
{
    smtp_tx_free(s);
    log_sanitize(s->helo, sizeof(s->helo), cmd->arg, cmd->arg_len);
    s->esmtp = esmtp;
    s->state = ST_READY;
    s->cmd_ok[esmtp ? SMTP_VERB_EHLO : SMTP_VERB_HELO]++;
    if (s->es)
        engine_session_set_helo(s->es, s->helo);
}

/* The HELO stage is over: the engine's refusal (the client must say HELO again), or
 * the greeting. */
static void helo_then(struct smtp_session *s)
{
    const struct engine_reply *r = smtp_engine_reply(s);
    const char *mechs;

    if (r != NULL) {
        smtp_log_reject_engine(s, s->esmtp ? "EHLO" : "HELO", r, NULL, NULL);
        s->cmd_ok[s->esmtp ? SMTP_VERB_EHLO : SMTP_VERB_HELO]--;
        s->state = ST_INIT;
        s->helo[0] = '\0';
        engine_session_set_helo(s->es, NULL);
        reply_engine(s, r);
        return;
    }
    if (!s->esmtp) {
        smtp_reply(s, R_HELO, s->cf->c.hostname);
        return;
    }
    mechs = s->auth && !s->auth_login ? auth_sess_mechs(s->auth) : "";
    /* straight into the output buffer: no fixed buffer to cut or overrun, whatever the
     * lengths of the hostname and the mechanism list */
    smtp_reply_count(s, 250);
    evbuffer_add_printf(bufferevent_get_output(s->bev),
                        "250-%s\r\n250-PIPELINING\r\n250-SIZE %llu\r\n250-ENHANCEDSTATUSCODES\r\n"
                        "250-8BITMIME\r\n250-CHUNKING\r\n%s%s%s%s%s250 SMTPUTF8\r\n",
                        s->cf->c.hostname, s->cf->c.limits.message_size,
                        s->cf->c.relay.backup_domains.n > 0 ? "250-ETRN\r\n" : "",
                        s->ssl == NULL && s->cf->tls && s->tls_mode == LISTENER_TLS_STARTTLS
                            ? "250-STARTTLS\r\n" : "",
                        *mechs ? "250-AUTH " : "", mechs, *mechs ? "\r\n" : "");
}

static void cmd_helo(struct smtp_session *s, const struct smtp_cmd *cmd)
{
    set_helo(s, cmd, false);
    smtp_engine_run(s, STAGE_HELO, helo_then);
}

static void cmd_ehlo(struct smtp_session *s, const struct smtp_cmd *cmd)
{
    set_helo(s, cmd, true);
    smtp_engine_run(s, STAGE_HELO, helo_then);
}

/* ---- MAIL -------------------------------------------------------------------------- */

/* Check the ESMTP parameters of MAIL; replies and returns -1 on the first bad one. */
static int mail_params(struct smtp_session *s, const struct smtp_path_args *a,
                       struct smtp_tx *tx)
{
    size_t i;
    for (i = 0; i < a->nparams; i++) {
        const struct smtp_param *p = &a->params[i];
        if (p->key_len == 4 && strncasecmp(p->key, "SIZE", 4) == 0) {
            unsigned long long size;
            if (smtp_param_size(p, &size) < 0) {
                smtp_reply(s, R_SYNTAX, "MAIL FROM:<address> SIZE=number");
                return -1;
            }
            if (size > s->cf->c.limits.message_size) {
                smtp_reply(s, R_SIZE_PARAM, s->cf->c.limits.message_size);
                return -1;
            }
            tx->declared_size = size;
        } else if (p->key_len == 4 && strncasecmp(p->key, "BODY", 4) == 0) {
            if (p->value && p->value_len == 8 && strncasecmp(p->value, "8BITMIME", 8) == 0)
                tx->body_8bit = true;
            else if (!(p->value && p->value_len == 4 && strncasecmp(p->value, "7BIT", 4) == 0)) {
                smtp_reply(s, R_BAD_BODY);
                return -1;
            }
        } else if (p->key_len == 8 && strncasecmp(p->key, "SMTPUTF8", 8) == 0 && !p->value) {
            tx->smtputf8 = true;
        } else if (p->key_len == 4 && strncasecmp(p->key, "AUTH", 4) == 0) {
            continue; /* RFC 4954 5: accepted and ignored (we do not relay AUTH=) */
        } else {
            smtp_reply(s, R_BAD_PARAM, (int)p->key_len, p->key);
            return -1;
        }
    }
    return 0;
}

static int mail_refuse_utf8(struct smtp_session *s)
{
    smtp_reply(s, R_NEED_SMTPUTF8);
    return -1;
}

/* The MAIL stage of the engine is over: its refusal, or the queue file and 250. A refusal
 * decided for the recipients (VERDICT_REFUSE) waits for RCPT. */
static void mail_then(struct smtp_session *s)
{
    const struct engine_reply *r = smtp_engine_reply(s);
    struct smtp_tx *tx = s->tx;

    if (r != NULL) {
        smtp_log_reject_engine(s, "MAIL", r, NULL, NULL);
        smtp_tx_free(s);
        reply_engine(s, r);
        return;
    }
    tx->file = spool_file_new(s->srv->spool);
    if (tx->file == NULL) {
        log_error("smtpd", "cannot create queue file: %m");
        smtp_tx_free(s);
        smtp_reply(s, R_LOCAL_ERROR);
        return;
    }
    snprintf(tx->qid, sizeof(tx->qid), "%s", spool_file_qid(tx->file));
    if (s->es)
        engine_tx_set_queue_id(s->es, tx->qid);
    if (s->auth_login)
        log_info("smtpd", "%s: client=%s[%s], sasl_method=%s, sasl_username=%s", tx->qid,
                 s->client_name, s->client_ip, s->auth_mech, s->auth_login);
    else
        log_info("smtpd", "%s: client=%s[%s]", tx->qid, s->client_name, s->client_ip);
    s->state = ST_MAIL;
    s->cmd_ok[SMTP_VERB_MAIL]++;
    smtp_reply(s, R_SENDER_OK);
}

static void cmd_mail(struct smtp_session *s, const struct smtp_cmd *cmd)
{
    struct smtp_path_args a;
    struct smtp_tx *tx;

    switch (smtp_path_parse(cmd->arg, cmd->arg_len, false, &a)) {
    case SMTP_PATH_OK:
        break;
    case SMTP_PATH_BAD_PREFIX:
        smtp_reply(s, R_SYNTAX, "MAIL FROM:<address>");
        smtp_error(s);
        return;
    case SMTP_PATH_TOO_LONG:
        smtp_reply(s, R_ADDR_TOO_LONG);
        smtp_error(s);
        return;
    case SMTP_PATH_BAD_PARAM:
        smtp_reply(s, R_SYNTAX, "MAIL FROM:<address> [parameters]");
        smtp_error(s);
        return;
    default:
        smtp_reply(s, R_BAD_SENDER);
        smtp_error(s);
        return;
    }
    /* The RCPT batch arrays (about 45 KB) are written before they are read: zero only the
     * rest, not 45 KB of memory per transaction. */
    tx = s->tx = xmalloc(sizeof(*tx));
    memset(tx, 0, offsetof(struct smtp_tx, batch));
    tx->nbatch = 0;
    tx->sender = a.path;
    if (mail_params(s, &a, tx) < 0 ||
        (a.path.utf8 && !tx->smtputf8 && mail_refuse_utf8(s) < 0)) {
        smtp_tx_free(s);
        smtp_error(s);
        return;
    }
    if (!smtp_spool_has_room(s, "MAIL", tx->declared_size)) {
        smtp_tx_free(s);
        return;
    }
    engine_tx_begin(s->es, tx->sender.addr, "");
    smtp_engine_run(s, STAGE_MAIL, mail_then);
}

/* ---- RCPT -------------------------------------------------------------------------- */

/* A recipient as it is kept: a bare <postmaster> becomes postmaster@ a domain we deliver. */
static char *rcpt_address(const struct smtp_session *s, const struct smtp_addr *a)
{
    return a->domain[0] ? xstrdup(a->addr) :
        xasprintf("postmaster@%s", policy_postmaster_domain(&s->cf->c.relay, s->cf->c.hostname));
}

/* Accept a recipient. */
static void rcpt_add(struct smtp_session *s, const struct smtp_addr *a)
{
    struct smtp_tx *tx = s->tx;

    if (tx->nrcpt == tx->rcpt_cap) {
        tx->rcpt_cap = tx->rcpt_cap ? tx->rcpt_cap * 2 : 8;
        tx->rcpts = xrealloc(tx->rcpts, tx->rcpt_cap * sizeof(char *));
    }
    tx->rcpts[tx->nrcpt++] = rcpt_address(s, a);
}

/* The engine's RCPT stage is over: one reply per recipient of the batch, in order. */
static void rcpt_then(struct smtp_session *s)
{
    struct smtp_tx *tx = s->tx;
    const struct engine_reply *sr = smtp_engine_reply(s);
    size_t i;

    if (sr != NULL && sr->disconnect) {
        /* a check closes the session (the harvest guard's 421): it answers this batch */
        smtp_log_reject_engine(s, "RCPT", sr, tx->nbatch ? tx->batch[0].addr : NULL, NULL);
        reply_engine(s, sr);
        tx->nbatch = 0;
        return;
    }
    for (i = 0; i < tx->nbatch && !s->closing; i++) {
        const struct engine_reply *r = engine_rcpt_reply(s->es, tx->eng_idx[i]);
        if (r != NULL) {
            smtp_log_reject_engine(s, "RCPT", r, tx->batch[i].addr,
                                   engine_refusal_symbols(s->es, tx->eng_idx[i]));
            reply_engine(s, r);
        } else {
            rcpt_add(s, &tx->batch[i]);
            s->cmd_ok[SMTP_VERB_RCPT]++;
            smtp_reply(s, R_RCPT_OK);
        }
    }
    tx->nbatch = 0;
    if (tx->nrcpt > 0)
        s->state = ST_RCPT;
}

/* Parse one RCPT argument; replies and returns -1 when it is refused before policy. */
static int rcpt_parse(struct smtp_session *s, const struct smtp_cmd *cmd, struct smtp_addr *out)
{
    struct smtp_path_args a;
    enum smtp_path_status st = smtp_path_parse(cmd->arg, cmd->arg_len, true, &a);

    if (st == SMTP_PATH_BAD_PREFIX || st == SMTP_PATH_BAD_PARAM)
        smtp_reply(s, R_SYNTAX, "RCPT TO:<address>");
    else if (st == SMTP_PATH_TOO_LONG)
        smtp_reply(s, R_ADDR_TOO_LONG);
    else if (st != SMTP_PATH_OK)
        smtp_reply(s, R_BAD_RCPT);
    else if (a.nparams > 0)
        smtp_reply(s, R_BAD_PARAM, (int)a.params[0].key_len, a.params[0].key);
    else if (a.path.utf8 && !s->tx->smtputf8)
        smtp_reply(s, R_NEED_SMTPUTF8);
    else {
        *out = a.path;
        return 0;
    }
    smtp_error(s);
    return -1;
}

/* Take further pipelined RCPT lines that are already buffered into the batch. */
static void rcpt_collect(struct smtp_session *s, size_t room)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    struct smtp_tx *tx = s->tx;

    while (tx->nbatch < room) {
        struct smtp_line_reader rd = s->rd;
        size_t avail = evbuffer_get_length(in), want, line_len, consumed;
        const char *buf;
        struct smtp_cmd cmd;
        struct smtp_path_args a;

        want = avail < rd.max + 3 ? avail : rd.max + 3;
        if (want == 0)
            return;
        buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)want);
        if (smtp_line_next(&rd, buf, want, &line_len, &consumed) != SMTP_LINE_OK ||
            smtp_cmd_parse(buf, line_len, &cmd) < 0 || cmd.verb != SMTP_VERB_RCPT ||
            smtp_path_parse(cmd.arg, cmd.arg_len, true, &a) != SMTP_PATH_OK ||
            a.nparams > 0 || (a.path.utf8 && !tx->smtputf8))
            return; /* not a plain valid RCPT: it is handled on its own, in order */
        tx->batch[tx->nbatch++] = a.path;
        s->cmd_total[SMTP_VERB_RCPT]++;
        evbuffer_drain(in, consumed);
    }
}

static void cmd_rcpt(struct smtp_session *s, const struct smtp_cmd *cmd)
{
    struct smtp_tx *tx = s->tx;
    size_t limit = (size_t)s->cf->c.limits.recipients, room, i;

    if (tx->nrcpt >= limit) {
        smtp_reply(s, R_TOO_MANY_RCPT, s->cf->c.limits.recipients);
        if (++tx->rcpt_overshoot > limit)
            smtp_error(s);
        return;
    }
    if (rcpt_parse(s, cmd, &tx->batch[0]) < 0)
        return;
    tx->nbatch = 1;
    room = limit - tx->nrcpt < RCPT_BATCH_MAX ? limit - tx->nrcpt : RCPT_BATCH_MAX;
    rcpt_collect(s, room);

    for (i = 0; i < tx->nbatch; i++) {
        char *addr = rcpt_address(s, &tx->batch[i]);
        tx->eng_idx[i] = engine_rcpt_add(s->es, addr);
        free(addr);
    }
    smtp_engine_run(s, STAGE_RCPT, rcpt_then);
}

/* ---- the rest ---------------------------------------------------------------------- */

/* The engine's DATA stage is over: its refusal (every recipient refused), or the 354. */
static void data_then(struct smtp_session *s)
{
    const struct engine_reply *r = smtp_engine_reply(s);

    if (r != NULL) {
        smtp_log_reject_engine(s, "DATA", r, NULL,
                               engine_refusal_symbols(s->es, ENGINE_MESSAGE));
        reply_engine(s, r);
        return;
    }
    s->cmd_ok[SMTP_VERB_DATA]++;
    smtp_data_start(s);
}

static void cmd_data(struct smtp_session *s, const struct smtp_cmd *cmd)
{
    (void)cmd;
    if (!smtp_spool_has_room(s, "DATA", s->tx->declared_size))
        return;
    smtp_engine_run(s, STAGE_DATA, data_then);
}

/* ---- BDAT (RFC 3030) ------------------------------------------------------------------ */

/* "count" or "count LAST" (count: 1 to 19 digits). 0, or -1 when malformed. */
static int bdat_parse(const struct smtp_cmd *cmd, unsigned long long *count, bool *last)
{
    const char *p = cmd->arg, *end = cmd->arg + cmd->arg_len;
    unsigned long long n = 0;
    size_t digits = 0;

    while (end > p && end[-1] == ' ')
        end--;
    for (; p < end && *p >= '0' && *p <= '9'; p++, digits++)
        n = n * 10 + (unsigned long long)(*p - '0');
    if (digits == 0 || digits > 19)
        return -1;
    *count = n;
    *last = false;
    if (p == end)
        return 0;
    if (end - p == 5 && strncasecmp(p, " LAST", 5) == 0) {
        *last = true;
        return 0;
    }
    return -1;
}

/* The engine's DATA stage is over for the first chunk: its refusal (the chunk is read and
 * dropped), or the message is opened and the chunk goes into it. */
static void bdat_then(struct smtp_session *s)
{
    const struct engine_reply *r = smtp_engine_reply(s);

    if (r != NULL) {
        smtp_log_reject_engine(s, "DATA", r, NULL,
                               engine_refusal_symbols(s->es, ENGINE_MESSAGE));
        reply_engine(s, r);
        smtp_chunk_start(s, true, s->state);
        return;
    }
    if (!smtp_bdat_open(s)) {
        smtp_chunk_start(s, true, s->state);
        return;
    }
    smtp_chunk_start(s, false, ST_BDAT);
}

/* BDAT count [LAST]: the count says where the next command starts, so a BDAT that is
 * refused still has its chunk read (and dropped); one whose count cannot be read leaves
 * no way to find the next command: the session ends. */
static void cmd_bdat(struct smtp_session *s, const struct smtp_cmd *cmd)
{
    char safe[64];

    if (bdat_parse(cmd, &s->chunk_size, &s->chunk_last) < 0) {
        log_info("smtpd", "warning: %s[%s]: malformed BDAT: %s", s->client_name,
                 s->client_ip, log_sanitize(safe, sizeof(safe), cmd->arg, cmd->arg_len));
        smtp_reply(s, R_BDAT_SYNTAX);
        smtp_close(s);
        return;
    }
    switch (s->state) {
    case ST_BDAT:
        smtp_chunk_start(s, false, ST_BDAT);
        return;
    case ST_RCPT:
        if (!smtp_spool_has_room(s, "BDAT", s->tx->declared_size)) {
            smtp_chunk_start(s, true, s->state);
            return;
        }
        smtp_engine_run(s, STAGE_DATA, bdat_then);
        return;
    case ST_MAIL:
        smtp_reply(s, R_NEED_RCPT);
        break;
    case ST_READY:
        smtp_reply(s, R_NEED_MAIL);
        break;
    default:
        smtp_reply(s, R_NEED_HELO);
        break;
    }
    smtp_chunk_start(s, true, s->state);
    smtp_error(s);
}

static void cmd_rset(struct smtp_session *s, const struct smtp_cmd *cmd)
{
    (void)cmd;
    smtp_tx_free(s);
    s->cmd_ok[SMTP_VERB_RSET]++;
    smtp_reply(s, R_OK);
}

static void cmd_noop(struct smtp_session *s, const struct smtp_cmd *cmd)
{
    (void)cmd;
    s->cmd_ok[SMTP_VERB_NOOP]++;
    smtp_reply(s, R_OK);
}

static void cmd_quit(struct smtp_session *s, const struct smtp_cmd *cmd)
{
    (void)cmd;
    s->cmd_ok[SMTP_VERB_QUIT]++;
    smtp_reply(s, R_BYE);
    smtp_close(s);
}

static void cmd_vrfy(struct smtp_session *s, const struct smtp_cmd *cmd)
{
    (void)cmd;
    s->cmd_ok[SMTP_VERB_VRFY]++;
    smtp_reply(s, R_VRFY);
}

static void cmd_help(struct smtp_session *s, const struct smtp_cmd *cmd)
{
    (void)cmd;
    s->cmd_ok[SMTP_VERB_HELP]++;
    smtp_reply(s, R_HELP);
}

static void cmd_starttls(struct smtp_session *s, const struct smtp_cmd *cmd)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    size_t junk = evbuffer_get_length(in);
    (void)cmd;

    if (s->ssl) {
        smtp_reply(s, R_TLS_ACTIVE);
        smtp_error(s);
        return;
    }
    if (s->cf->tls == NULL || s->tls_mode != LISTENER_TLS_STARTTLS) {
        smtp_reply(s, R_TLS_UNAVAIL);
        return;
    }
    if (junk > 0) {
        /* RFC 3207 / CVE-2011-0411: never execute plaintext pipelined after STARTTLS */
        log_warn("smtpd", "%s[%s]: discarded %zu plaintext bytes pipelined after STARTTLS",
                 s->client_name, s->client_ip, junk);
        evbuffer_drain(in, junk);
    }
    smtp_tx_free(s);
    s->cmd_ok[SMTP_VERB_STARTTLS]++;
    smtp_reply(s, R_READY_TLS);
    smtp_starttls(s);
}

/* ---- ETRN ---------------------------------------------------------------------------- */

struct etrn_req {
    void *check;                       /* while the primaries are resolved */
    char node[256];                    /* as given, sanitised: for logs and replies */
    char domain[256];
    bool subdomains;
};

/* Flush from the queue's index, at most once per domain per queue.etrn_interval. */
static void etrn_flush(struct smtp_session *s, const struct etrn_req *e)
{
    unsigned n = 0;

    if (s->srv->etrn_flush(s->srv->hook_arg, e->domain, e->subdomains, &n) == 1)
        smtp_reply(s, R_ETRN_QUEUED, e->node); /* one ran lately; the next at its end */
    else if (n == 0)
        smtp_reply(s, R_ETRN_NONE, e->node);
    else
        smtp_reply(s, R_ETRN_STARTED, n, e->node);
    s->cmd_ok[SMTP_VERB_ETRN]++;
}

static void etrn_checked(void *arg, enum smtpd_etrn_check r)
{
    struct smtp_session *s = arg;
    struct etrn_req *e = s->etrn;

    e->check = NULL;
    s->etrn = NULL;
    if (!s->dead) {
        if (r == ETRN_CHECK_PRIMARY) {
            etrn_flush(s, e);
        } else {
            log_info("smtpd", "%s[%s]: ETRN %s refused: %s", s->client_name, s->client_ip,
                     e->node, r == ETRN_CHECK_UNKNOWN ? "its primary MX cannot be resolved now"
                                                        : "not a primary MX of the domain");
            if (r == ETRN_CHECK_UNKNOWN)
                smtp_reply(s, R_ETRN_UNABLE, e->node);
            else
                smtp_reply(s, R_ETRN_NOT_PRIMARY, e->node);
            smtp_error(s);
        }
    }
    free(e);
    smtp_resume(s);
}

void smtp_etrn_cancel(struct smtp_session *s)
{
    if (s->etrn) {
        s->srv->etrn_check_cancel(s->srv->hook_arg, s->etrn->check);
        free(s->etrn);
    }
    s->etrn = NULL;
}

/* ETRN domain (or @domain, with subdomains): a primary that is back asks its backup MX to
 * deliver now. Only for relay.backup_domains, and only from relay.trusted_networks or an
 * address of one of the domain's primary MX hosts (each ETRN flushes the domain's
 * messages out of their retry schedule: not something for anyone to ask). */
static void cmd_etrn(struct smtp_session *s, const struct smtp_cmd *cmd)
{
    const struct conf_strlist *b = &s->cf->c.relay.backup_domains;
    const char *node = cmd->arg, *dom;
    size_t len = cmd->arg_len, i;
    struct etrn_req *e;
    char name[256];

    while (len > 0 && node[len - 1] == ' ')
        len--;
    dom = node[0] == '@' ? node + 1 : node;
    if (len == 0 || len >= sizeof(name) || (size_t)(dom - node) >= len ||
        memchr(node, ' ', len) || memchr(dom, '@', len - (size_t)(dom - node)) ||
        node[0] == '#') {
        smtp_reply(s, R_ETRN_SYNTAX);
        smtp_error(s);
        return;
    }
    snprintf(name, sizeof(name), "%.*s", (int)(len - (size_t)(dom - node)), dom);
    for (i = 0; i < b->n; i++)
        if (strcasecmp(b->v[i], name) == 0)
            break;
    if (i == b->n || s->srv->etrn_flush == NULL) {
        char shown[256];
        log_sanitize(shown, sizeof(shown), node, len);
        smtp_reply(s, R_ETRN_DENIED, shown);
        smtp_error(s);
        return;
    }
    e = xcalloc(1, sizeof(*e));
    log_sanitize(e->node, sizeof(e->node), node, len); /* it goes into logs and replies */
    snprintf(e->domain, sizeof(e->domain), "%s", name);
    e->subdomains = node[0] == '@';
    log_info("smtpd", "%s[%s]: ETRN %s", s->client_name, s->client_ip, e->node);
    if (policy_client_trusted(&s->cf->c.relay, s->client_ip)) {
        etrn_flush(s, e);
        free(e);
        return;
    }
    s->etrn = e;
    s->busy = true;
    bufferevent_disable(s->bev, EV_READ);
    e->check = s->srv->etrn_check(s->srv->hook_arg, name, s->client_ip, etrn_checked, s);
    if (e->check == NULL) {
        s->etrn = NULL;
        s->busy = false;
        bufferevent_enable(s->bev, EV_READ);
        log_info("smtpd", "%s[%s]: ETRN %s refused: its primary MX cannot be resolved now",
                 s->client_name, s->client_ip, e->node);
        smtp_reply(s, R_ETRN_UNABLE, e->node);
        smtp_error(s);
        free(e);
    }
}

static int refuse_etrn(struct smtp_session *s)
{
    return refuse_mail_auth(s); /* before HELO, or during a transaction (RFC 1985 5) */
}

static void cmd_not_implemented(struct smtp_session *s, const struct smtp_cmd *cmd)
{
    (void)cmd;
    smtp_reply(s, R_NOT_IMPL);
    smtp_error(s);
}
