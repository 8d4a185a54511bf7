/*
 * smtp_client_tx.c - one message on an outbound SMTP/LMTP connection (see smtp_client.h).
 *
 * smtp_client_send() checks what can be decided locally (SIZE; whether the message needs
 * SMTPUTF8 -- a non-ASCII address, or for a message flagged SMTPUTF8 a non-ASCII header
 * byte, read from the content one chunk per loop turn -- and whether the server offers
 * it; 8-bit content against a server without 8BITMIME), sends RSET when the previous
 * transaction did not end with a dot, then MAIL, every RCPT and DATA -- as one batch
 * when the server offers PIPELINING, one command per reply otherwise -- and reads the
 * replies in order. After 354 the body is streamed: the prepended header lines, then the
 * spool file read with pread() in data_chunk pieces, dot-stuffed on the way; the next
 * piece is read only when the bufferevent's output falls to the low watermark, so a 50 MB
 * message never sits in memory. The final ".\r\n" leaves with the last piece. When the
 * server offers CHUNKING (RFC 3030) and smtp_client.chunking is on, DATA is left out: once
 * the RCPT replies are in and one was accepted, "BDAT size LAST" is followed by the same
 * pieces as they are, with no stuffing and no end marker, and its reply is the one the
 * final dot would get. One result
 * per recipient is reported through the sent callback (LMTP: one reply per accepted
 * recipient).
 * Called by smtp_client.c; everything runs on the event loop thread.
 */
#include "relay/deliver/smtp_client_int.h"

#include "lib/utf8.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EOD             ".\r\n"
#define EOD_LEN         3
#define EOD_RESERVE     (2 + EOD_LEN)   /* a CRLF to end an unterminated last line, ".\r\n" */
#define STUFF_FACTOR    2               /* dot-stuffing at most doubles a piece */
#define ASCII_SPACE     0x20u
#define ASCII_DEL       0x7fu

enum sc_rcpt_state { RS_PENDING, RS_ACCEPTED, RS_DONE };

struct sc_tx {
    const struct smtp_client_msg *msg;   /* the caller's, valid until the report */
    smtp_client_sent_fn cb;
    void *arg;
    struct smtp_result *res;             /* one per recipient */
    unsigned char *rs;                   /* enum sc_rcpt_state per recipient */
    size_t accepted;                     /* recipients with a 2xx to RCPT */
    size_t next_reply;                   /* 0: MAIL, 1..n: RCPT n-1, n + 1: DATA */
    bool pipelined;
    bool bdat;                           /* BDAT instead of DATA (CHUNKING) */
    bool body_8bitmime;                  /* MAIL gets BODY=8BITMIME */
    bool smtputf8;                       /* MAIL gets SMTPUTF8 */
    struct utf8_header_scan hscan;       /* SC_CHECK_UTF8: the header read so far */
    bool mail_failed;
    bool discard_dot;                    /* 354 with nothing to send: ".", reply ignored */
    size_t lmtp_next;                    /* first recipient that may await its LMTP reply */
    unsigned long long pos;              /* content bytes streamed (or scanned for 8-bit) */
    bool bol;                            /* the next content byte starts a line */
    char tail[2];                        /* the last two content bytes sent */
    char *in;                            /* data_chunk bytes read from the file */
    char *out;                           /* a stuffed piece, STUFF_FACTOR * data_chunk + EOD_RESERVE */
};

static unsigned long long sc_tx_total(const struct smtp_client_msg *m)
{
    return (unsigned long long)m->prepend_len + m->length;
}

void sc_tx_free(struct sc_tx *tx)
{
    if (tx == NULL)
        return;
    free(tx->res);
    free(tx->rs);
    free(tx->in);
    free(tx->out);
    free(tx);
}

/* ---- reporting ------------------------------------------------------------------------------ */

/* Hand the results to the owner; the client is idle again unless the connection is gone. */
static void sc_tx_report(struct smtp_client *c)
{
    struct sc_tx *tx = c->tx;
    struct smtp_client_report rep = { tx->res, tx->msg->nrcpts };

    c->tx = NULL;
    event_del(c->defer);
    if (c->state != SC_BROKEN) {
        c->state = SC_READY;
        evtimer_del(c->timer);
    }
    tx->cb(c, &rep, tx->arg);      /* may free c, or send the next message */
    sc_tx_free(tx);
}

/* Every recipient not decided yet gets res. */
static void sc_tx_decide_rest(struct sc_tx *tx, const struct smtp_result *res)
{
    size_t i;
    for (i = 0; i < tx->msg->nrcpts; i++) {
        if (tx->rs[i] != RS_DONE) {
            tx->res[i] = *res;
            tx->rs[i] = RS_DONE;
        }
    }
}

/* Every accepted recipient gets the reply r at stage. */
static void sc_tx_decide_accepted(struct sc_tx *tx, enum smtp_stage stage, const struct sc_reply *r)
{
    size_t i;
    for (i = 0; i < tx->msg->nrcpts; i++) {
        if (tx->rs[i] == RS_ACCEPTED) {
            sc_result_reply(&tx->res[i], stage, r);
            tx->rs[i] = RS_DONE;
        }
    }
}

void sc_tx_fail(struct smtp_client *c, const struct smtp_result *why)
{
    sc_tx_decide_rest(c->tx, why);
    sc_tx_report(c);
}

/* A decision made without the server: report it from the defer event, never from inside
 * smtp_client_send(). */
static void sc_tx_report_later(struct smtp_client *c, const struct smtp_result *res)
{
    sc_tx_decide_rest(c->tx, res);
    c->state = SC_REPORT;
    event_active(c->defer, 0, 0);
}

/* ---- content ---------------------------------------------------------------------------------- */

/* The next piece of content (prepend, then the file) at tx->pos, at most one chunk: *p
 * points to it. Returns its length (0 at the end) or -1 with errno set (EIO for a file that
 * is shorter than the message says). */
static ssize_t sc_tx_piece(struct smtp_client *c, const char **p)
{
    struct sc_tx *tx = c->tx;
    const struct smtp_client_msg *m = tx->msg;
    unsigned long long left = sc_tx_total(m) - tx->pos;
    size_t want = left < c->opts.conf->data_chunk ? (size_t)left : (size_t)c->opts.conf->data_chunk;
    ssize_t n;

    if (tx->pos < m->prepend_len) {
        size_t in_prepend = m->prepend_len - (size_t)tx->pos;
        *p = m->prepend + tx->pos;
        return (ssize_t)(want < in_prepend ? want : in_prepend);
    }
    if (want == 0)
        return 0;
    if (tx->in == NULL)
        tx->in = xmalloc(c->opts.conf->data_chunk);
    do
        n = pread(m->fd, tx->in, want, m->offset + (off_t)(tx->pos - m->prepend_len));
    while (n < 0 && errno == EINTR);
    if (n == 0) {
        errno = EIO;
        return -1;
    }
    *p = tx->in;
    return n;
}

static void sc_tx_read_failed(struct smtp_client *c, enum smtp_stage stage, int err)
{
    struct smtp_result res;
    sc_result_local(&res, stage, false, SC_R_READ_FAILED,
                    err == EIO ? "file shorter than the message" : strerror(err));
    if (c->state == SC_BODY)
        sc_abort(c, &res, false);  /* no dot: the server drops the half-sent message */
    else
        sc_tx_fail(c, &res);
}

/* Copy in[0..n) to out with a '.' doubled at the start of every line (RFC 5321 4.5.2);
 * *bol carries "at line start" across pieces. out needs STUFF_FACTOR * n bytes. */
static size_t sc_stuff(const char *in, size_t n, char *out, bool *bol)
{
    size_t i = 0, o = 0;
    while (i < n) {
        const char *nl;
        size_t end;
        if (*bol && in[i] == '.')
            out[o++] = '.';
        nl = memchr(in + i, '\n', n - i);
        end = nl != NULL ? (size_t)(nl - in) + 1 : n;
        memcpy(out + o, in + i, end - i);
        o += end - i;
        i = end;
        *bol = nl != NULL;
    }
    return o;
}

static void sc_tx_remember_tail(struct sc_tx *tx, const char *p, size_t n)
{
    if (n >= 2) {
        tx->tail[0] = p[n - 2];
        tx->tail[1] = p[n - 1];
    } else if (n == 1) {
        tx->tail[0] = tx->tail[1];
        tx->tail[1] = p[0];
    }
}

/* The end of data after the last piece: a CRLF first if the content did not end with one
 * (the spool always does; this only keeps the protocol intact), then ".\r\n". */
static size_t sc_tx_eod(const struct sc_tx *tx, char *dst)
{
    size_t k = 0;
    if (tx->pos > 0 && !(tx->tail[0] == '\r' && tx->tail[1] == '\n')) {
        dst[k++] = '\r';
        dst[k++] = '\n';
    }
    memcpy(dst + k, EOD, EOD_LEN);
    return k + EOD_LEN;
}

/* Queue pieces while the output is at or below the low watermark (one data_chunk). */
static void sc_tx_feed(struct smtp_client *c)
{
    struct sc_tx *tx = c->tx;
    size_t low = (size_t)c->opts.conf->data_chunk;

    while (evbuffer_get_length(bufferevent_get_output(c->bev)) <= low) {
        const char *p = NULL;
        ssize_t n = sc_tx_piece(c, &p);
        size_t m;
        if (n < 0) {
            sc_tx_read_failed(c, SMTP_STAGE_DATA, errno);
            return;
        }
        if (tx->bdat) {           /* the exact bytes: BDAT counted them */
            memcpy(tx->out, p, (size_t)n);
            m = (size_t)n;
        } else {
            m = sc_stuff(p, (size_t)n, tx->out, &tx->bol);
        }
        sc_tx_remember_tail(tx, p, (size_t)n);
        tx->pos += (unsigned long long)n;
        if (tx->pos == sc_tx_total(tx->msg)) {
            if (!tx->bdat)
                m += sc_tx_eod(tx, tx->out + m);
            bufferevent_write(c->bev, tx->out, m);
            bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
            c->state = SC_DATA_END;
            sc_expect(c, SMTP_STAGE_DATA_END, c->opts.conf->data_done_ms);
            return;
        }
        bufferevent_write(c->bev, tx->out, m);
    }
    sc_expect(c, SMTP_STAGE_DATA, c->opts.conf->data_block_ms);   /* progress: new deadline */
}

void sc_tx_writable(struct smtp_client *c)
{
    sc_tx_feed(c);
}

static void sc_tx_body_start(struct smtp_client *c)
{
    struct sc_tx *tx = c->tx;
    size_t chunk = (size_t)c->opts.conf->data_chunk;

    tx->out = xmalloc(STUFF_FACTOR * chunk + EOD_RESERVE);
    tx->pos = 0;
    tx->bol = true;
    if (tx->bdat)
        sc_write_line(c, "BDAT %llu LAST", sc_tx_total(tx->msg));
    bufferevent_setwatermark(c->bev, EV_WRITE, chunk, 0);
    c->state = SC_BODY;
    sc_tx_feed(c);
}

/* ---- commands ------------------------------------------------------------------------------ */

static void sc_tx_add_mail(struct smtp_client *c, struct evbuffer *b)
{
    const struct sc_tx *tx = c->tx;
    const struct smtp_client_msg *m = tx->msg;

    evbuffer_add_printf(b, "MAIL FROM:<%s>", m->sender);
    if ((c->ext.ext & SMTP_EXT_SIZE) && !(m->flags & SMTP_MSG_PROBE))
        evbuffer_add_printf(b, " SIZE=%llu", sc_tx_total(m));
    if (tx->body_8bitmime)
        evbuffer_add_printf(b, " BODY=8BITMIME");
    if (tx->smtputf8)
        evbuffer_add_printf(b, " SMTPUTF8");
    evbuffer_add(b, "\r\n", 2);
}

/* Arm the timer for the reply tx->next_reply stands for. */
static void sc_tx_expect_next(struct smtp_client *c)
{
    const struct sc_tx *tx = c->tx;
    const struct smtp_client_conf *conf = c->opts.conf;

    if (tx->next_reply == 0)
        sc_expect(c, SMTP_STAGE_MAIL, conf->mail_ms);
    else if (tx->next_reply <= tx->msg->nrcpts)
        sc_expect(c, SMTP_STAGE_RCPT, conf->rcpt_ms);
    else
        sc_expect(c, SMTP_STAGE_DATA, conf->data_ms);
}

/* MAIL; with PIPELINING also every RCPT and DATA, in one write. */
static void sc_tx_mail(struct smtp_client *c)
{
    struct sc_tx *tx = c->tx;
    struct evbuffer *b = evbuffer_new();
    size_t i;

    sc_tx_add_mail(c, b);
    if (tx->pipelined) {
        for (i = 0; i < tx->msg->nrcpts; i++)
            evbuffer_add_printf(b, "RCPT TO:<%s>\r\n", tx->msg->rcpts[i]);
        if (!(tx->msg->flags & SMTP_MSG_PROBE) && !tx->bdat)
            evbuffer_add(b, "DATA\r\n", 6);
    }
    sc_write_batch(c, b);
    evbuffer_free(b);
    c->need_rset = true;           /* until the reply to the dot */
    c->state = SC_TX;
    tx->next_reply = 0;
    sc_tx_expect_next(c);
}

static void sc_tx_begin(struct smtp_client *c)
{
    if (!c->need_rset) {
        sc_tx_mail(c);
        return;
    }
    sc_write_line(c, "RSET");
    c->state = SC_RSET;
    sc_expect(c, SMTP_STAGE_RSET, c->opts.conf->rset_ms);
}

/* ---- local checks: SMTPUTF8, 8-bit ---------------------------------------------------------- */

/* The message may go as far as SMTPUTF8 is concerned: on to the 8-bit check, then MAIL. */
static void sc_tx_check_8bit_or_begin(struct smtp_client *c)
{
    struct sc_tx *tx = c->tx;
    const struct smtp_client_msg *m = tx->msg;

    if ((m->flags & SMTP_MSG_8BIT) && (c->ext.ext & SMTP_EXT_8BITMIME)) {
        tx->body_8bitmime = true;
        sc_tx_begin(c);
    } else if (m->flags & SMTP_MSG_8BIT) {
        tx->pos = 0;
        c->state = SC_CHECK_8BIT;
        event_active(c->defer, 0, 0);
    } else {
        sc_tx_begin(c);
    }
}

/* Whether the message needs SMTPUTF8 is known (RFC 6531 3.2): send it with SMTPUTF8 when
 * it does and the server offers it, refuse it when it does and the server does not, and
 * send it without otherwise (an ASCII message flagged SMTPUTF8 goes to any server). */
static void sc_tx_utf8_decided(struct smtp_client *c, bool needed)
{
    struct smtp_result res;

    if (needed && !(c->ext.ext & SMTP_EXT_SMTPUTF8)) {
        sc_result_local(&res, SMTP_STAGE_MAIL, false, SC_R_SMTPUTF8, c->relay);
        sc_tx_report_later(c, &res);
        return;
    }
    c->tx->smtputf8 = needed;
    sc_tx_check_8bit_or_begin(c);
}

/* One chunk of the header section per loop turn, until it ends or shows a non-ASCII
 * byte. */
static void sc_tx_check_utf8_step(struct smtp_client *c)
{
    struct sc_tx *tx = c->tx;
    const char *p = NULL;
    ssize_t n = sc_tx_piece(c, &p);

    if (n < 0) {
        sc_tx_read_failed(c, SMTP_STAGE_MAIL, errno);
        return;
    }
    tx->pos += utf8_header_scan(&tx->hscan, p, (size_t)n);
    if (!tx->hscan.done && n > 0 && tx->pos < sc_tx_total(tx->msg)) {
        event_active(c->defer, 0, 0);
        return;
    }
    tx->pos = 0;
    sc_tx_utf8_decided(c, tx->hscan.non_ascii);
}

/* One chunk of the content per loop turn, so a long message does not hold up the loop. */
static void sc_tx_check_8bit_step(struct smtp_client *c)
{
    struct sc_tx *tx = c->tx;
    struct smtp_result res;
    const char *p = NULL;
    ssize_t n = sc_tx_piece(c, &p);

    if (n < 0) {
        sc_tx_read_failed(c, SMTP_STAGE_MAIL, errno);
        return;
    }
    if (!utf8_is_ascii(p, (size_t)n)) {
        sc_result_local(&res, SMTP_STAGE_MAIL, false, SC_R_8BIT, c->relay);
        sc_tx_fail(c, &res);
        return;
    }
    tx->pos += (unsigned long long)n;
    if (tx->pos < sc_tx_total(tx->msg)) {
        event_active(c->defer, 0, 0);
        return;
    }
    tx->pos = 0;                   /* 7-bit clean after all: send it as it is */
    sc_tx_begin(c);
}

void sc_tx_deferred(struct smtp_client *c)
{
    if (c->state == SC_CHECK_UTF8)
        sc_tx_check_utf8_step(c);
    else if (c->state == SC_CHECK_8BIT)
        sc_tx_check_8bit_step(c);
    else if (c->state == SC_REPORT)
        sc_tx_report(c);
}

/* ---- replies ----------------------------------------------------------------------------------- */

static void sc_tx_on_rset(struct smtp_client *c, const struct sc_reply *r)
{
    struct smtp_result res;
    if (r->code / 100 == 2) {
        c->need_rset = false;
        sc_tx_mail(c);
        return;
    }
    sc_result_reply(&res, SMTP_STAGE_RSET, r);    /* not about the message: try again later */
    res.status = SMTP_TEMPFAIL;
    res.session = true;
    sc_abort(c, &res, r->code != 421);
}

static void sc_tx_on_mail(struct sc_tx *tx, const struct sc_reply *r)
{
    struct smtp_result res;
    if (r->code / 100 == 2)
        return;
    tx->mail_failed = true;
    sc_result_reply(&res, SMTP_STAGE_MAIL, r);
    sc_tx_decide_rest(tx, &res);
}

static void sc_tx_on_rcpt(struct sc_tx *tx, size_t i, const struct sc_reply *r)
{
    if (tx->mail_failed)
        return;                    /* "503 need MAIL" after a refused MAIL: already decided */
    if (r->code / 100 == 2 && (tx->msg->flags & SMTP_MSG_PROBE)) {
        sc_result_reply(&tx->res[i], SMTP_STAGE_RCPT, r);   /* the probe's answer */
        tx->rs[i] = RS_DONE;
        tx->accepted++;
        return;
    }
    if (r->code / 100 == 2) {
        tx->rs[i] = RS_ACCEPTED;
        tx->accepted++;
        return;
    }
    sc_result_reply(&tx->res[i], SMTP_STAGE_RCPT, r);
    tx->rs[i] = RS_DONE;
}

static void sc_tx_on_data(struct smtp_client *c, const struct sc_reply *r)
{
    struct sc_tx *tx = c->tx;
    struct smtp_result res;

    if (r->code == 354 && tx->accepted > 0 && !tx->mail_failed) {
        sc_tx_body_start(c);
        return;
    }
    if (r->code == 354) {          /* RFC 2920: nobody to deliver to, end the data at once */
        sc_write_line(c, ".");
        if (c->opts.lmtp) {        /* LMTP answers once per accepted recipient: no reply */
            sc_tx_report(c);
            return;
        }
        tx->discard_dot = true;
        c->state = SC_DATA_END;
        sc_expect(c, SMTP_STAGE_DATA_END, c->opts.conf->data_done_ms);
        return;
    }
    sc_result_reply(&res, SMTP_STAGE_DATA, r);
    if (res.status == SMTP_SENT)   /* a 2xx that is not 354 is no go-ahead either */
        res.status = SMTP_TEMPFAIL;
    sc_tx_decide_rest(tx, &res);
    sc_tx_report(c);
}

/* A reply to MAIL, a RCPT or DATA, in the order they were sent. */
static void sc_tx_on_reply(struct smtp_client *c, const struct sc_reply *r)
{
    struct sc_tx *tx = c->tx;
    size_t k = tx->next_reply++, n = tx->msg->nrcpts;

    if (k > n) {
        sc_tx_on_data(c, r);
        return;
    }
    if (k == 0)
        sc_tx_on_mail(tx, r);
    else
        sc_tx_on_rcpt(tx, k - 1, r);
    if ((tx->msg->flags & SMTP_MSG_PROBE) && (k == n || (tx->mail_failed && !tx->pipelined))) {
        sc_tx_report(c);           /* a probe ends after the RCPTs; RSET comes next time */
        return;
    }
    if (tx->bdat && k == n) {      /* the last RCPT reply: no DATA, the chunk or nothing */
        if (tx->mail_failed || tx->accepted == 0)
            sc_tx_report(c);       /* RSET before the next MAIL */
        else
            sc_tx_body_start(c);
        return;
    }
    if (tx->pipelined) {
        sc_tx_expect_next(c);
        return;
    }
    if (tx->mail_failed || (k == n && tx->accepted == 0)) {
        sc_tx_report(c);           /* nothing to deliver; RSET before the next MAIL */
        return;
    }
    if (k < n)
        sc_write_line(c, "RCPT TO:<%s>", tx->msg->rcpts[k]);
    else
        sc_write_line(c, "DATA");
    sc_tx_expect_next(c);
}

/* The reply to the final dot (LMTP: the next accepted recipient's). */
static void sc_tx_on_data_end(struct smtp_client *c, const struct sc_reply *r)
{
    struct sc_tx *tx = c->tx;
    size_t i, n = tx->msg->nrcpts;

    if (tx->discard_dot || !c->opts.lmtp) {
        sc_tx_decide_accepted(tx, SMTP_STAGE_DATA_END, r);
    } else {
        for (i = tx->lmtp_next; i < n && tx->rs[i] != RS_ACCEPTED; i++)
            ;
        sc_result_reply(&tx->res[i], SMTP_STAGE_DATA_END, r);
        tx->rs[i] = RS_DONE;
        tx->lmtp_next = i + 1;
        for (i = tx->lmtp_next; i < n && tx->rs[i] != RS_ACCEPTED; i++)
            ;
        if (i < n) {
            sc_expect(c, SMTP_STAGE_DATA_END, c->opts.conf->data_done_ms);
            return;
        }
    }
    c->need_rset = false;
    sc_tx_report(c);
}

void sc_tx_reply(struct smtp_client *c, const struct sc_reply *r)
{
    struct smtp_result res;

    if (r->code == 421 || c->state == SC_BODY) {
        /* the server is closing, or spoke before the dot: this connection is done */
        sc_result_reply(&res, c->state == SC_BODY ? SMTP_STAGE_DATA : c->stage, r);
        if (res.status == SMTP_SENT)
            res.status = SMTP_TEMPFAIL;
        sc_abort(c, &res, false);
        return;
    }
    switch (c->state) {
    case SC_RSET:     sc_tx_on_rset(c, r); break;
    case SC_TX:       sc_tx_on_reply(c, r); break;
    case SC_DATA_END: sc_tx_on_data_end(c, r); break;
    default:          break;
    }
}

/* ---- public --------------------------------------------------------------------------------- */

/* SIZE: decided before anything is sent. Returns true when res is set. */
static bool sc_tx_too_big(struct smtp_client *c, struct smtp_result *res)
{
    unsigned long long size = sc_tx_total(c->tx->msg);

    if ((c->ext.ext & SMTP_EXT_SIZE) && c->ext.size_max > 0 && size > c->ext.size_max) {
        sc_result_local(res, SMTP_STAGE_MAIL, false, SC_R_SIZE, size, c->ext.size_max, c->relay);
        return true;
    }
    return false;
}

/* An address of this transaction with non-ASCII text needs SMTPUTF8, flagged or not. */
static bool sc_tx_addrs_utf8(const struct smtp_client_msg *m)
{
    size_t i;
    if (!utf8_is_ascii(m->sender, strlen(m->sender)))
        return true;
    for (i = 0; i < m->nrcpts; i++)
        if (!utf8_is_ascii(m->rcpts[i], strlen(m->rcpts[i])))
            return true;
    return false;
}

/* No control character may reach a command line (CR LF would inject commands). */
static bool sc_tx_addr_ok(const char *a)
{
    for (; *a != '\0'; a++)
        if ((unsigned char)*a < ASCII_SPACE || (unsigned char)*a == ASCII_DEL)
            return false;
    return true;
}

static bool sc_tx_msg_ok(const struct smtp_client_msg *m)
{
    size_t i;
    if (m->nrcpts == 0 || !sc_tx_addr_ok(m->sender))
        return false;
    for (i = 0; i < m->nrcpts; i++)
        if (!sc_tx_addr_ok(m->rcpts[i]))
            return false;
    return true;
}

int smtp_client_send(struct smtp_client *c, const struct smtp_client_msg *msg,
                     smtp_client_sent_fn sent_cb, void *arg)
{
    struct sc_tx *tx;
    struct smtp_result res;

    if (!smtp_client_usable(c) || !sc_tx_msg_ok(msg))
        return -1;
    tx = xcalloc(1, sizeof(*tx));
    tx->msg = msg;
    tx->cb = sent_cb;
    tx->arg = arg;
    tx->res = xcalloc(msg->nrcpts, sizeof(*tx->res));
    tx->rs = xcalloc(msg->nrcpts, sizeof(*tx->rs));
    tx->pipelined = (c->ext.ext & SMTP_EXT_PIPELINING) != 0;
    tx->bdat = (c->ext.ext & SMTP_EXT_CHUNKING) && c->opts.conf->chunking && !c->opts.lmtp;
    c->tx = tx;
    if (sc_tx_too_big(c, &res)) {
        sc_tx_report_later(c, &res);
    } else if (sc_tx_addrs_utf8(msg)) {
        sc_tx_utf8_decided(c, true);
    } else if (msg->flags & SMTP_MSG_SMTPUTF8) {
        c->state = SC_CHECK_UTF8;  /* the header decides */
        event_active(c->defer, 0, 0);
    } else {
        sc_tx_check_8bit_or_begin(c);
    }
    return 0;
}
