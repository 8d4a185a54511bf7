/*
 * smtp_data.c - the DATA phase: stream the message to the spool, find its end, commit.
 * BDAT chunks (RFC 3030, at the end of this file) take the same path without the DATA
 * framing.
 *
 * After "354" the raw input goes through the pure scanner (lib/data_scan.c), which removes
 * dot-stuffing and recognises only <CRLF>.<CRLF> as the end (the SMTP smuggling defence);
 * its output goes through lib/msg_stream.c (header fields counted, From: kept, lines over
 * 998 octets folded or broken, Message-ID and Date added on submission) and on to the
 * spool file as it arrives, so a 50 MB message never sits in memory. Every change Postern
 * makes to a message is made here, at receipt, so that anything signed is signed as it will
 * be sent; the DKIM signature of a logged-in sender's message is the last change, made
 * once the END checks accepted it (smtp_sign.c), and the records written with the message
 * (policy results, sender_auth, verp: docs/spool.md) follow it. Limits (size, line length, bare LF/CR, NUL, hop count) are noted while
 * streaming and answered once the data has ended, as RFC 5321 requires; nothing of a
 * refused message is kept. An accepted message is committed with group commit
 * (relay/spool/spool.c) and only then answered "250 2.0.0 Ok: queued as ID".
 */
#include "relay/smtpd/smtp_session.h"

#include "auth/sender_owner.h"
#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include <jansson.h>
#include "lib/utf8.h"
#include "lib/xalloc.h"
#include "policy/autolearn.h"
#include "relay/relay_conf.h"
#include "relay/smtpd/smtpd.h"
#include "lib/smtp_replies.h"
#include "relay/spool/spool.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define DATA_CHUNK 65536

/* Scanner output; the loop is single-threaded. */
static char data_out[2 * DATA_CHUNK];

static void data_refuse(struct smtp_session *s, const struct policy_verdict *v);
static void end_then(struct smtp_session *s);

/* Text from the client or SASL for our own header: printable ASCII only, so that it can
 * neither break the header nor make an ASCII message need SMTPUTF8. */
static const char *header_safe(char *dst, size_t size, const char *src)
{
    size_t i;
    for (i = 0; src[i] && i + 1 < size; i++)
        dst[i] = (unsigned char)src[i] < ' ' || (unsigned char)src[i] >= 0x7f ? '?' : src[i];
    dst[i] = '\0';
    return dst;
}

/* The "with" protocol of Received: (RFC 3848, RFC 6531 3.7.3). */
static const char *received_proto(const struct smtp_session *s)
{
    if (!s->tx->smtputf8)
        return smtp_proto(s);
    if (s->ssl)
        return s->auth_login ? "UTF8SMTPSA" : "UTF8SMTPS";
    return s->auth_login ? "UTF8SMTPA" : "UTF8SMTP";
}

static int write_received(struct smtp_session *s)
{
    struct smtp_tx *tx = s->tx;
    char hdr[2048], tls[200] = "", auth[320] = "", rcpt[SMTP_ADDR_MAX + 16] = "";
    char helo[sizeof(s->helo)], name[sizeof(s->client_name)], login[256];
    int n;

    if (s->ssl)
        snprintf(tls, sizeof(tls), "\t(using %s)\r\n", s->tls_info);
    if (s->auth_login && s->cf->c.smtp.received_auth_login)
        snprintf(auth, sizeof(auth), "\t(Authenticated sender: %s)\r\n",
                 header_safe(login, sizeof(login), s->auth_login));
    if (tx->nrcpt == 1)
        snprintf(rcpt, sizeof(rcpt), "\r\n\tfor <%s>", tx->rcpts[0]);
    n = snprintf(hdr, sizeof(hdr),
                 "Received: from %s (%s [%s%s])\r\n%s%s\tby %s (Postern) with %s id %s%s;"
                 "\r\n\t%s\r\n",
                 header_safe(helo, sizeof(helo), s->helo),
                 header_safe(name, sizeof(name), s->client_name),
                 strchr(s->client_ip, ':') ? "IPv6:" : "", s->client_ip, tls, auth,
                 s->cf->c.hostname, received_proto(s), tx->qid, rcpt, tx->date);
    if (n < 0 || (size_t)n >= sizeof(hdr))
        return -1;
    tx->received_len = (size_t)n;
    return spool_file_write(tx->file, hdr, (size_t)n);
}

/* Does an address of the envelope hold UTF-8 (RFC 6531 3.2)? */
static bool envelope_utf8(const struct smtp_tx *tx)
{
    size_t i;

    for (i = 0; i < tx->nrcpt; i++)
        if (!utf8_is_ascii(tx->rcpts[i], strlen(tx->rcpts[i])))
            return true;
    return tx->sender.utf8;
}

/* The message as it comes out of msg_stream: into the spool file, and its body into the
 * DKIM body hash when it is to be signed. A write error (disk full) is sticky in the file
 * and reported by the commit. */
static void data_spool_out(void *arg, const char *p, size_t n)
{
    struct smtp_session *s = arg;

    (void)spool_file_write(s->tx->file, p, n);
    smtp_sign_out(s, p, n);
}

/* Message-ID and Date for a message that lacks them (RFC 6409 8.3: submission only). */
static void data_stream_start(struct smtp_session *s, const struct tm *tm)
{
    struct smtp_tx *tx = s->tx;
    bool submission = s->submission;
    struct msg_stream_opts o = {
        .break_long_lines = s->cf->c.smtp.long_lines == LONG_LINES_BREAK,
        .seal_header = submission,
    };
    char stamp[16];
    int n;

    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", tm);
    n = snprintf(tx->message_id, sizeof(tx->message_id), "<%s.%s@%s>", stamp, tx->qid,
                 s->cf->c.hostname);
    if (submission) {
        o.message_id = n > 0 && (size_t)n < sizeof(tx->message_id) ? tx->message_id : NULL;
        o.date = tx->date;
    }
    smtp_sign_start(s);
    msg_stream_init(&tx->msg, &o, data_spool_out, s);
}

/* Write the envelope and our Received: field, and start the message stream: what DATA and
 * the first BDAT chunk share. False after replying when the queue file cannot be written
 * (the transaction is gone). */
static bool data_open(struct smtp_session *s)
{
    struct smtp_tx *tx = s->tx;
    struct timeval tv;
    struct spool_envelope env;
    struct tm tm;

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    strftime(tx->date, sizeof(tx->date), "%a, %d %b %Y %H:%M:%S %z", &tm);
    memset(&env, 0, sizeof(env));
    env.arrival = (double)tv.tv_sec + tv.tv_usec / 1e6;
    env.client_ip = s->client_ip;
    env.client_name = s->client_name;
    env.helo = s->helo;
    env.listener = s->listener;
    env.profile = listener_profile_names[s->submission ? PROFILE_SUBMISSION : PROFILE_INBOUND];
    env.proto = smtp_proto(s);
    env.auth_login = s->auth_login;
    env.body = tx->body_8bit ? "8BITMIME" : NULL;
    env.smtputf8 = tx->smtputf8 && envelope_utf8(tx);
    env.smtputf8_asked = tx->smtputf8 && !env.smtputf8;
    env.sender = tx->sender.addr;
    env.rcpts = (const char *const *)tx->rcpts;
    env.nrcpt = tx->nrcpt;
    if (spool_file_write_envelope(tx->file, &env) < 0 || write_received(s) < 0) {
        log_error("smtpd", "%s: cannot write queue file: %s", tx->qid, strerror(errno));
        if (errno == ENOSPC)
            smtp_reply(s, R_SPOOL_FULL);
        else
            smtp_reply(s, R_LOCAL_ERROR);
        smtp_tx_free(s);
        return false;
    }
    data_stream_start(s, &tm);
    return true;
}

void smtp_data_start(struct smtp_session *s)
{
    const struct relay_conf *c = &s->cf->c;

    if (!data_open(s))
        return;
    data_scan_init(&s->tx->scan, (size_t)c->limits.data_line,
                   c->smtp.bare_lf == BARE_LF_NORMALIZE);
    s->state = ST_DATA;
    smtp_set_data_timeouts(s, true);
    smtp_reply(s, R_START_DATA);
}

/* What the header says against the message: a mail loop. */
static void data_check_header(struct smtp_session *s, struct policy_verdict *v)
{
    const struct msg_stream *m = &s->tx->msg;
    const struct relay_conf *c = &s->cf->c;

    if (m->received >= (unsigned long long)c->limits.hop_count)
        policy_verdict_set(v, POLICY_REFUSE, "limits", R_TOO_MANY_HOPS, m->received,
                           c->limits.hop_count);
}

#define END_HEAD_MAX (64 * 1024)  /* header bytes given to END checks, at most */

/* The message header (to its blank line, at most END_HEAD_MAX bytes) for the END checks
 * that need it, read back from the spool file: it was just written, so this is a copy
 * from the page cache, not a disk read. */
static void data_read_header(struct smtp_tx *tx, struct engine_message *m)
{
    size_t want = m->size < END_HEAD_MAX ? (size_t)m->size : END_HEAD_MAX, got;
    const char *eoh;

    free(tx->end_head);
    tx->end_head = xmalloc(want + 1);
    got = pread_all(m->fd, tx->end_head, want, m->offset);
    tx->end_head[got] = '\0';
    eoh = memmem(tx->end_head, got, "\r\n\r\n", 4);
    m->head = tx->end_head;
    m->head_len = eoh ? (size_t)(eoh - tx->end_head) + 2 : got;
}

/* What the header showed, for the END checks: message.from_count (From: fields) and
 * message.from (the address of the only one, when it holds exactly one and was not cut
 * at its bound). */
static void data_header_facts(struct smtp_session *s)
{
    const struct msg_stream *m = &s->tx->msg;
    char addr[SMTP_ADDR_MAX + 1];

    engine_fact_set(s->es, FACT_TX, "message.from_count", json_integer((json_int_t)m->from));
    if (m->from == 1 && !m->from_cut &&
        sender_from_address(m->from_value, m->from_len, addr, sizeof(addr)) == SENDER_FROM_OK) {
        json_t *v = json_string(addr);
        if (v != NULL)
            engine_fact_set(s->es, FACT_TX, "message.from", v);
    }
}

/* The message is accepted: note in the envelope and the log what its header showed. */
static void data_note_header(struct smtp_session *s)
{
    struct smtp_tx *tx = s->tx;

    if (tx->smtputf8 && tx->msg.header_8bit)
        spool_file_smtputf8_needed(tx->file);
    if (tx->msg.breaks > 0)
        log_info("cleanup", "%s: %llu lines over %d octets folded or broken", tx->qid,
                 tx->msg.long_lines, MSG_LINE_MAX);
    if (tx->msg.added_message_id)
        log_info("cleanup", "%s: message-id=%s (added)", tx->qid, tx->message_id);
}

static void commit_done(void *arg, int err, const char *qid)
{
    struct smtp_session *s = arg;
    struct smtp_tx *tx = s->tx;

    tx->commit = NULL;
    if (err) {
        if (err == ENOSPC)
            smtp_reply(s, R_SPOOL_FULL);
        else
            smtp_reply(s, R_LOCAL_ERROR);
    } else {
        log_info("qmgr", "%s: from=<%s>, size=%llu, nrcpt=%zu (queue active)", qid,
                 tx->sender.addr, (unsigned long long)tx->size, tx->nrcpt);
        engine_log_results(s->es, qid);
        policy_autolearn_end(s->es, qid);
        smtp_reply(s, R_QUEUED, qid, engine_note(s->es));
        metrics_inc(M_MESSAGES_ACCEPTED);
    }
    smtp_tx_free(s);
    smtp_resume(s);
}

static void data_commit(struct smtp_session *s)
{
    struct smtp_tx *tx = s->tx;
    struct spool_file *f = tx->file;

    data_note_header(s);
    tx->file = NULL;
    tx->size = spool_file_size(f);
    s->busy = true;
    bufferevent_disable(s->bev, EV_READ);
    tx->commit = spool_file_commit(f, commit_done, s);
}

/* Does any accepted recipient's result ask for something (a record to write)? */
static bool results_matter(const struct engine_session *es)
{
    size_t i, n = engine_accepted(es);

    for (i = 0; i < n; i++) {
        const struct rcpt_result *r = engine_result(es, i);
        if (r != NULL && (r->disp != DISP_PASS || r->headers || r->nadd > 0 || r->nsyms > 0))
            return true;
    }
    return false;
}

/* How the checks authenticated the envelope sender, for the bounce decision of delivery
 * (domains.D.bounces "authenticated"): "spf" (SPF pass for the MAIL FROM domain), "dkim"
 * (a DKIM pass aligned with it), both, or NULL. */
static const char *sender_authenticated(const struct smtp_session *s)
{
    json_t *spf = s->es ? engine_fact(s->es, "spf.result") : NULL;
    json_t *id = s->es ? engine_fact(s->es, "spf.identity") : NULL;
    json_t *dkim = s->es ? engine_fact(s->es, "dkim.sender_aligned") : NULL;
    bool by_spf = json_is_string(spf) && strcmp(json_string_value(spf), "pass") == 0 &&
                  json_is_string(id) && strcmp(json_string_value(id), "mailfrom") == 0;
    bool by_dkim = json_is_true(dkim);

    if (s->tx->sender.addr[0] == '\0')
        return NULL;                  /* the null sender never gets a DSN */
    return by_spf && by_dkim ? "spf+dkim" : by_spf ? "spf" : by_dkim ? "dkim" : NULL;
}

/* The newsletter check's per-recipient bounce addresses (the fact newsletter.verp,
 * {"rcpt": "bounces+TOKEN@domain"}): one "verp IDX ADDRESS" record each, which delivery
 * uses as that recipient's envelope sender. */
static void write_verp(struct smtp_session *s)
{
    struct smtp_tx *tx = s->tx;
    json_t *verp = s->es ? engine_fact(s->es, "newsletter.verp") : NULL;
    size_t i;

    if (!json_is_object(verp))
        return;
    for (i = 0; i < tx->nrcpt; i++) {
        json_t *a = json_object_get(verp, tx->rcpts[i]);
        char *rec = json_is_string(a) ? spool_rec_verp(i, json_string_value(a)) : NULL;
        if (rec != NULL)
            (void)spool_file_write(tx->file, rec, strlen(rec)); /* errors: at the commit */
        free(rec);
    }
}

/* Accepted (and signed): write each recipient's result after the message (one write and
 * fsync with it) and commit. */
static void end_commit(struct smtp_session *s)
{
    const char *how = sender_authenticated(s);
    char *rec;

    if (how != NULL) {
        rec = spool_rec_sender_auth(how);
        (void)spool_file_write(s->tx->file, rec, strlen(rec));
        free(rec);
    }
    write_verp(s);
    if (s->tx->dkim_signed)          /* its signed fields stay as signed: no Subject mark */
        engine_results_signed(s->es);
    if (results_matter(s->es)) {
        rec = engine_records(s->es);
        (void)spool_file_write(s->tx->file, rec, strlen(rec)); /* errors: at the commit */
        free(rec);
    }
    data_commit(s);
}

/* The engine's END stage is over: refuse what every recipient refuses, else sign the
 * message when it is to be signed, and commit. */
static void end_then(struct smtp_session *s)
{
    const struct engine_reply *r = smtp_engine_reply(s);

    if (r != NULL) {
        smtp_log_reject_engine(s, "END-OF-MESSAGE", r, NULL,
                               engine_refusal_symbols(s->es, ENGINE_MESSAGE));
        policy_autolearn_end(s->es, s->tx->qid);
        smtp_reply(s, r->code, r->ecode, "%s", r->text);
        smtp_tx_free(s);
        if (r->disconnect)
            smtp_close(s);
        return;
    }
    smtp_sign_run(s, end_commit);
}

static void data_refuse(struct smtp_session *s, const struct policy_verdict *v)
{
    smtp_log_reject(s, "END-OF-MESSAGE", v, NULL);
    smtp_reply(s, v->code, v->ecode, "%s", v->text);
    smtp_tx_free(s);
    if (v->action == POLICY_DISCONNECT)
        smtp_close(s);
}

/* The end marker was seen: answer for the whole message. */
static void data_end(struct smtp_session *s)
{
    struct smtp_tx *tx = s->tx;
    const struct relay_conf *c = &s->cf->c;
    struct policy_verdict v = { .action = POLICY_PASS };

    s->state = ST_RCPT;
    s->reply_stage = RS_END;
    smtp_set_data_timeouts(s, false);
    if (tx->scan.raw) { /* BDAT: the content ends here; end its last line */
        char tail[2];
        size_t n;
        data_scan_finish(&tx->scan, tail, &n);
        if (tx->scan.out_total > c->limits.message_size)
            tx->too_big = true;
        if (!tx->too_big && n > 0)
            msg_stream_feed(&tx->msg, tail, n);
    }
    if (!tx->too_big)
        msg_stream_finish(&tx->msg);
    if (tx->too_big)
        policy_verdict_set(&v, POLICY_REFUSE, "limits", R_SIZE_EXCEEDED,
                           c->limits.message_size);
    else if ((tx->scan.flags & (DATA_BARE_LF | DATA_BARE_CR)) &&
             c->smtp.bare_lf == BARE_LF_REJECT)
        policy_verdict_set(&v, POLICY_REFUSE, "smuggling", R_DATA_BARE_LF);
    else if (tx->scan.flags & DATA_NUL)
        policy_verdict_set(&v, POLICY_REFUSE, "limits", R_DATA_NUL);
    else if (tx->scan.flags & DATA_LONG_LINE)
        policy_verdict_set(&v, POLICY_REFUSE, "limits", R_DATA_LONG_LINE, c->limits.data_line);
    else if (tx->msg.long_lines > 0 && c->smtp.long_lines == LONG_LINES_REJECT)
        policy_verdict_set(&v, POLICY_REFUSE, "limits", R_DATA_LONG_LINE,
                           (long long)MSG_LINE_MAX);
    else
        data_check_header(s, &v);
    if (v.action != POLICY_PASS) {
        data_refuse(s, &v);
        return;
    }
    spool_file_end_message(tx->file);
    if (engine_session_runs(s->es, STAGE_END)) {
        struct engine_message m = { .fd = -1, .size = spool_file_size(tx->file) };
        uint64_t off = 0;
        if (spool_file_readable(tx->file, &m.fd, &off) < 0)
            m.fd = -1; /* the write error is reported by the commit */
        m.offset = off;
        if (s->needs_header && m.fd >= 0)
            data_read_header(tx, &m);
        engine_set_message(s->es, &m);
        data_header_facts(s);
    }
    smtp_engine_run(s, STAGE_END, end_then);
}

/* Feed one contiguous piece of input; returns bytes consumed, sets *done at the end. */
static size_t data_feed(struct smtp_session *s, const char *p, size_t len, bool *done)
{
    struct smtp_tx *tx = s->tx;
    size_t used, out_len;

    if (len > DATA_CHUNK)
        len = DATA_CHUNK;
    used = data_scan_feed(&tx->scan, p, len, data_out, &out_len, done);
    if (tx->scan.out_total > s->cf->c.limits.message_size)
        tx->too_big = true;
    if (!tx->too_big && out_len > 0)
        msg_stream_feed(&tx->msg, data_out, out_len);
    return used;
}

bool smtp_data_process(struct smtp_session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    struct evbuffer_iovec vec[16];
    size_t consumed = 0;
    bool done = false;
    int n, i;

    if (evbuffer_get_length(in) == 0)
        return false;
    n = evbuffer_peek(in, -1, NULL, vec, 16);
    if (n > 16)
        n = 16;
    for (i = 0; i < n && !done; i++) {
        size_t off = 0;
        while (off < vec[i].iov_len && !done) {
            size_t used = data_feed(s, (const char *)vec[i].iov_base + off,
                                    vec[i].iov_len - off, &done);
            off += used;
        }
        consumed += off;
    }
    evbuffer_drain(in, consumed);
    if (done)
        data_end(s);
    return true;
}

/* ---- BDAT (RFC 3030) --------------------------------------------------------------------
 * Chunks go through the same scanner in raw mode (no dot-unstuffing, no end marker: the
 * count frames the data, so nothing inside it can end the message or start a command),
 * then the same msg_stream, size limit, checks at the end, END stage and commit as DATA. */

bool smtp_bdat_open(struct smtp_session *s)
{
    const struct relay_conf *c = &s->cf->c;

    if (!data_open(s))
        return false;
    data_scan_init_raw(&s->tx->scan, (size_t)c->limits.data_line,
                       c->smtp.bare_lf == BARE_LF_NORMALIZE);
    return true;
}

void smtp_chunk_start(struct smtp_session *s, bool discard, enum smtp_state ret)
{
    s->chunk_left = s->chunk_size;
    s->chunk_discard = discard || s->tx == NULL;
    s->chunk_ret = ret;
    s->state = ST_CHUNK;
    smtp_set_data_timeouts(s, true);
}

/* All of the chunk is read. */
static void chunk_done(struct smtp_session *s)
{
    s->state = s->chunk_ret;
    smtp_set_data_timeouts(s, false);
    if (s->chunk_discard)
        return; /* answered when the BDAT was refused */
    s->cmd_ok[SMTP_VERB_BDAT]++;
    if (s->chunk_last)
        data_end(s);
    else
        smtp_reply(s, R_CHUNK_OK, s->chunk_size);
}

bool smtp_chunk_process(struct smtp_session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->bev);
    struct evbuffer_iovec vec[16];
    size_t consumed = 0, avail, want;
    bool done;
    int n, i;

    if (s->chunk_left > 0) {
        avail = evbuffer_get_length(in);
        if (avail == 0)
            return false;
        want = s->chunk_left < avail ? (size_t)s->chunk_left : avail;
        if (s->chunk_discard) {
            consumed = want;
        } else {
            n = evbuffer_peek(in, (ev_ssize_t)want, NULL, vec, 16);
            if (n > 16)
                n = 16;
            for (i = 0; i < n && consumed < want; i++) {
                size_t off = 0, len = vec[i].iov_len;
                if (len > want - consumed)
                    len = want - consumed;
                while (off < len) /* raw mode consumes all it is given */
                    off += data_feed(s, (const char *)vec[i].iov_base + off, len - off, &done);
                consumed += off;
            }
        }
        evbuffer_drain(in, consumed);
        s->chunk_left -= consumed;
        if (s->chunk_left > 0)
            return true;
    }
    chunk_done(s);
    return true;
}
