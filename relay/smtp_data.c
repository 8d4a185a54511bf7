/*
 * smtp_data.c - the DATA phase: stream the message to the spool, find its end, commit.
 *
 * After "354" the raw input goes through the pure scanner (lib/data_scan.c), which removes
 * dot-stuffing and recognises only <CRLF>.<CRLF> as the end (the SMTP smuggling defence);
 * its output is written to the spool file as it arrives, so a 50 MB message never sits in
 * memory. Limits (size, line length, bare LF/CR, NUL) are noted while streaming and
 * answered once the data has ended, as RFC 5321 requires; nothing of a refused message is
 * kept. An accepted message is committed with group commit (relay/spool.c) and only then
 * answered "250 2.0.0 Ok: queued as ID".
 */
#include "relay/smtp_session.h"

#include "auth/sender_owner.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "relay/relay_conf.h"
#include "relay/server.h"
#include "lib/smtp_replies.h"
#include "relay/spool.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define DATA_CHUNK 65536
#define HEAD_MAX   65536  /* header bytes kept for the From: check; longer: not found */

/* Scanner output; the loop is single-threaded. */
static char data_out[2 * DATA_CHUNK];

static void data_refuse(struct smtp_session *s, const struct policy_verdict *v);

static int write_received(struct smtp_session *s, time_t now)
{
    struct smtp_tx *tx = s->tx;
    char hdr[2048], date[64], tls[200] = "", auth[320] = "", rcpt[SMTP_ADDR_MAX + 16] = "";
    struct tm tm;
    int n;

    localtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
    if (s->ssl)
        snprintf(tls, sizeof(tls), "\t(using %s)\r\n", s->tls_info);
    if (s->auth_login && s->cf->c.smtp.received_auth_login)
        snprintf(auth, sizeof(auth), "\t(Authenticated sender: %s)\r\n", s->auth_login);
    if (tx->nrcpt == 1)
        snprintf(rcpt, sizeof(rcpt), "\r\n\tfor <%s>", tx->rcpts[0]);
    n = snprintf(hdr, sizeof(hdr),
                 "Received: from %s (%s [%s%s])\r\n%s%s\tby %s (Postern) with %s id %s%s;"
                 "\r\n\t%s\r\n",
                 s->helo, s->client_name, strchr(s->client_ip, ':') ? "IPv6:" : "",
                 s->client_ip, tls, auth, s->cf->c.hostname, smtp_proto(s), tx->qid, rcpt, date);
    if (n < 0 || (size_t)n >= sizeof(hdr))
        return -1;
    return spool_file_write(tx->file, hdr, (size_t)n);
}

void smtp_data_start(struct smtp_session *s)
{
    struct smtp_tx *tx = s->tx;
    const struct relay_conf *c = &s->cf->c;
    struct timeval tv;
    struct spool_envelope env;

    gettimeofday(&tv, NULL);
    memset(&env, 0, sizeof(env));
    env.arrival = (double)tv.tv_sec + tv.tv_usec / 1e6;
    env.client_ip = s->client_ip;
    env.client_name = s->client_name;
    env.helo = s->helo;
    env.listener = s->listener;
    env.profile = listener_profile_names[s->profile];
    env.proto = smtp_proto(s);
    env.auth_login = s->auth_login;
    env.body = tx->body_8bit ? "8BITMIME" : NULL;
    env.smtputf8 = tx->smtputf8;
    env.sender = tx->sender.addr;
    env.rcpts = (const char *const *)tx->rcpts;
    env.nrcpt = tx->nrcpt;
    if (spool_file_write_envelope(tx->file, &env) < 0 || write_received(s, tv.tv_sec) < 0) {
        log_error("smtpd", "%s: cannot write queue file: %s", tx->qid, strerror(errno));
        if (errno == ENOSPC)
            smtp_reply(s, R_SPOOL_FULL);
        else
            smtp_reply(s, R_LOCAL_ERROR);
        smtp_tx_free(s);
        return;
    }
    data_scan_init(&tx->scan, (size_t)c->limits.data_line, c->smtp.bare_lf == BARE_LF_NORMALIZE);
    s->state = ST_DATA;
    smtp_set_data_timeouts(s, true);
    smtp_reply(s, R_START_DATA);
}

/* Does this message need its header kept (auth.header_from_must_match on submission)? */
static bool data_wants_head(const struct smtp_session *s)
{
    return s->auth_login && s->profile != PROFILE_INBOUND && s->cf->c.auth.header_from_must_match;
}

/* Keep message bytes until the end of the header (bounded by HEAD_MAX). */
static void data_keep_head(struct smtp_tx *tx, const char *p, size_t n)
{
    size_t room = HEAD_MAX - tx->head_len, from = tx->head_len > 3 ? tx->head_len - 3 : 0;
    if (tx->head_done || room == 0)
        return;
    if (tx->head == NULL)
        tx->head = xmalloc(HEAD_MAX);
    if (n > room)
        n = room;
    memcpy(tx->head + tx->head_len, p, n);
    tx->head_len += n;
    if (tx->head_len >= 2 && tx->head[0] == '\r' && tx->head[1] == '\n')
        tx->head_done = true; /* no header at all */
    for (; from + 4 <= tx->head_len && !tx->head_done; from++)
        if (memcmp(tx->head + from, "\r\n\r\n", 4) == 0) {
            tx->head_len = from + 2;
            tx->head_done = true;
        }
}

/* The value of the first From: header field in the kept header, unfolded in place.
 * Returns its length, or -1 when there is none. */
static ssize_t data_header_from(struct smtp_tx *tx, const char **value)
{
    char *p = tx->head, *end = tx->head ? tx->head + tx->head_len : NULL;
    while (p && p < end) {
        char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (eol == NULL)
            eol = end;
        if (eol - p >= 5 && strncasecmp(p, "From:", 5) == 0) {
            char *v = p + 5, *w = v;
            /* unfold: copy continuation lines (CRLF + WSP) onto this one */
            while (eol < end && eol + 2 < end && (eol[2] == ' ' || eol[2] == '\t')) {
                char *next = memmem(eol + 2, (size_t)(end - eol - 2), "\r\n", 2);
                if (next == NULL)
                    next = end;
                memmove(eol, eol + 2, (size_t)(next - eol - 2));
                eol = next - 2;
            }
            *value = w;
            return eol - v;
        }
        p = eol + 2;
    }
    return -1;
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
        smtp_reply(s, R_QUEUED, qid, tx->quota_note);
    }
    smtp_tx_free(s);
    smtp_resume(s);
}

static void data_commit(struct smtp_session *s)
{
    struct smtp_tx *tx = s->tx;
    struct spool_file *f = tx->file;

    tx->file = NULL;
    tx->size = spool_file_size(f);
    s->busy = true;
    bufferevent_disable(s->bev, EV_READ);
    tx->commit = spool_file_commit(f, commit_done, s);
}

static void data_policy_done(void *arg, struct policy_result *res)
{
    struct smtp_session *s = arg;
    s->preq = NULL;
    if (s->dead) {
        smtp_resume(s); /* the client is gone: it was never told "queued", keep nothing */
        return;
    }
    if (res->verdicts[0].action != POLICY_PASS) {
        data_refuse(s, &res->verdicts[0]);
        smtp_resume(s);
        return;
    }
    data_commit(s);
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
    smtp_set_data_timeouts(s, false);
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
    else if (data_wants_head(s)) {
        const char *from = NULL;
        ssize_t n = data_header_from(tx, &from);
        if (n < 0 || !sender_header_from_matches(&c->auth, s->auth_login, from, (size_t)n))
            policy_verdict_set(&v, POLICY_REFUSE, "sender_owner", R_HEADER_FROM_NOT_OWNED,
                               s->auth_login);
    }
    if (v.action != POLICY_PASS) {
        data_refuse(s, &v);
        return;
    }
    s->pctx = (struct policy_ctx){
        .stage = POLICY_DATA_END, .profile = s->profile, .listener = s->listener,
        .client_ip = s->client_ip, .client_name = s->client_name, .helo = s->helo,
        .auth_login = s->auth_login, .tls = s->ssl != NULL, .queue_id = tx->qid,
        .sender = &tx->sender, .rcpts_accepted = tx->nrcpt,
        .message_size = tx->scan.out_total, .quota_left = s->quota_left,
    };
    s->pres = (struct policy_result){ .verdicts = &s->verdict, .n = 1 };
    s->preq = policy_run(s->cf->policy, &s->pctx, &s->pres, data_policy_done, s);
    if (s->preq) {
        s->busy = true;
        bufferevent_disable(s->bev, EV_READ);
        return;
    }
    if (s->verdict.action != POLICY_PASS) {
        data_refuse(s, &s->verdict);
        return;
    }
    data_commit(s);
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
    /* A write error (disk full) is sticky in the file and reported by the commit. */
    if (!tx->too_big && out_len > 0)
        (void)spool_file_write(tx->file, data_out, out_len);
    if (out_len > 0 && !tx->head_done && data_wants_head(s))
        data_keep_head(tx, data_out, out_len);
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
