/*
 * smtp_sign.c - DKIM signing of mail from logged-in senders, at receipt, so that the
 * message committed to the spool is the signed one (RFC 6376, RFC 8463; keys in
 * "dkim.sign", mailauth/dkim_sign.h).
 *
 * Who is signed: a transaction of an authenticated session (a submission listener, the
 * newsletter endpoint, AUTH on any listener) whose header has exactly one From: address
 * whose domain, or a parent of it, has keys in dkim.sign (the closest one wins: a key for
 * example.com signs mail from news.example.com, which DMARC's relaxed alignment accepts),
 * when the login may sign for it (sign_allowed: never for another hosted domain).
 *
 * How, in three steps that keep the event loop free of the RSA work:
 *   1. while DATA streams (smtp_sign_out, loop thread), the bytes msg_stream gives to the
 *      spool are watched for the empty line that ends the header; there the signer is
 *      chosen from the From: field msg_stream kept, and from then on every body byte goes
 *      into the body hash (dkim_sign_body): the body is never read twice;
 *   2. once the END checks accepted the message (smtp_sign_run), a worker of the general
 *      pool reads the header back from the spool file (the page cache), signs it
 *      (dkim_sign_finish: 0.3-4 ms per RSA key, well under 0.1 ms per Ed25519 key) and
 *      inserts the DKIM-Signature field(s) below Postern's own Received: field, moving the
 *      rest of the file up (pread/pwrite from the end, on a dup of the descriptor);
 *   3. back on the loop, the spool file is told it grew (spool_file_inserted) and the
 *      transaction goes on to its records and the commit.
 * A session that goes away meanwhile leaves the worker writing into an unlinked file; the
 * done function sees the job was cancelled and only frees it. A failure while the file is
 * being moved (I/O error) answers 451 4.3.0: the file may be half moved and is thrown
 * away. A message that cannot be signed (several From: fields, a header over
 * SIGN_HEAD_MAX) is accepted unsigned, with a log line.
 *
 * A signed message's signed fields are never changed afterwards: when the signature is in
 * the file, the policy results written with the message lose their Subject prefix
 * (engine_results_signed, called by smtp_data.c), so a recipient whose level marks it
 * gets the unsigned X-Spam-Flag/X-Spam-Status fields at delivery instead of "+++SPAM+++".
 *
 * Called by smtp_data.c; loop thread, except sign_work.
 */
#include "relay/smtpd/smtp_session.h"

#include "auth/sender_owner.h"
#include "lib/log.h"
#include "lib/smtp_replies.h"
#include "lib/workpool.h"
#include "lib/xalloc.h"
#include "mailauth/dkim_sign.h"
#include "relay/relay_conf.h"
#include "relay/smtpd/smtpd.h"
#include "relay/spool/spool.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SIGN_HEAD_MAX (1024 * 1024)   /* header bytes signed at most (else: unsigned) */
#define SIGN_FIELDS_MAX 4096          /* header fields of one signed message */
#define SIGN_MOVE_CHUNK (256 * 1024)  /* bytes moved per pread/pwrite */
#define SIGN_ERR_MAX 256

struct smtp_sign_job {
    struct smtp_session *s;          /* NULL once cancelled */
    struct config *cf;               /* a reference: the signer lives in it */
    struct dkim_sign *m;             /* takes tx->dkim */
    void (*then)(struct smtp_session *s);
    int fd;                          /* a dup of the spool file's */
    off_t at;                        /* where the header starts (after our Received:) */
    off_t end;                       /* end of the file */
    size_t head_len;                 /* header bytes, with the empty line */
    char qid[QID_MAX];
    char domain[256];                /* d= */
    char *sig;                       /* the DKIM-Signature field(s), CRLF-ended */
    size_t sig_len;
    bool moved;                      /* the file was changed (an error then loses it) */
    char err[SIGN_ERR_MAX];
};

/* The signer for a From: domain: its own keys, else those of the closest parent. */
static const struct dkim_signer *sign_find(const struct dkim_signers *set, const char *domain)
{
    while (domain != NULL && *domain != '\0') {
        const struct dkim_signer *s = dkim_signers_find(set, domain);
        if (s != NULL)
            return s;
        domain = strchr(domain, '.');
        if (domain != NULL)
            domain++;
    }
    return NULL;
}

/* May the login have the signature of signer on mail From: addr? A signature vouches for
 * the From: domain, so a user of one hosted domain never gets another hosted domain's
 * signature on a forged From:. Yes when the login may use addr (auth.senders, as for
 * MAIL FROM), or when the same signer signs for the login's own domain or for the
 * domain of an envelope sender the login may use (a user, or a newsletter account, of
 * the domain writing as another address of it). */
static bool sign_allowed(const struct smtp_session *s, const char *addr,
                         const struct dkim_signer *signer)
{
    const struct auth_conf *ac = &s->cf->c.auth;
    const char *login = s->auth_login, *sender = s->tx->sender.addr, *at;

    if (sender_owned(ac, login, addr))
        return true;
    if ((at = strrchr(login, '@')) != NULL && sign_find(s->cf->signers, at + 1) == signer)
        return true;
    return sender[0] != '\0' && (at = strrchr(sender, '@')) != NULL &&
           sender_owned(ac, login, sender) && sign_find(s->cf->signers, at + 1) == signer;
}

/* The header has ended: sign this message? (tx->dkim set when yes) */
static void sign_choose(struct smtp_session *s)
{
    struct smtp_tx *tx = s->tx;
    const struct msg_stream *m = &tx->msg;
    const struct dkim_signer *signer;
    char addr[SMTP_ADDR_MAX + 1];
    const char *at;

    tx->sign_decided = true;
    if (m->from != 1 || m->from_cut ||
        sender_from_address(m->from_value, m->from_len, addr, sizeof(addr)) != SENDER_FROM_OK ||
        (at = strrchr(addr, '@')) == NULL) {
        log_info("dkim", "%s: not signed: the header has no single From: address", tx->qid);
        return;
    }
    signer = s->cf->signers ? sign_find(s->cf->signers, at + 1) : NULL;
    if (signer == NULL) {
        smtp_sign_warn_unsigned(s, at + 1);
        return;
    }
    if (!sign_allowed(s, addr, signer)) {
        char login[256], from[SMTP_ADDR_MAX + 1];
        log_warn("dkim", "%s: not signed: login %s may not sign for From: <%s> (d=%s)",
                 tx->qid, log_sanitize(login, sizeof(login), s->auth_login,
                                       strlen(s->auth_login)),
                 log_sanitize(from, sizeof(from), addr, strlen(addr)),
                 dkim_signer_domain(signer));
        return;
    }
    tx->dkim = dkim_sign_new(signer);
    snprintf(tx->sign_domain, sizeof(tx->sign_domain), "%s", dkim_signer_domain(signer));
}

void smtp_sign_start(struct smtp_session *s)
{
    struct smtp_tx *tx = s->tx;

    tx->sign_scan = s->auth_login != NULL; /* unsigned: smtp_sign_warn.c looks at DMARC */
    tx->sign_eoh = 2;            /* as if after a CRLF: a message may start with its end */
    tx->sign_decided = false;
    tx->sign_head = 0;
    tx->dkim = NULL;
    tx->dkim_signed = false;
}

void smtp_sign_out(struct smtp_session *s, const char *p, size_t n)
{
    static const char eoh[] = "\r\n\r\n";
    struct smtp_tx *tx = s->tx;
    size_t i = 0;

    if (!tx->sign_scan)
        return;
    if (!tx->sign_decided) {
        for (; i < n; i++) {
            unsigned st = tx->sign_eoh;
            tx->sign_eoh = p[i] == eoh[st] ? st + 1 : p[i] == '\r' ? 1 : 0;
            if (tx->sign_eoh == 4)
                break;
        }
        if (i == n) {
            tx->sign_head += n;
            return;
        }
        i++;
        tx->sign_head += i;
        sign_choose(s);
    }
    if (tx->dkim != NULL && i < n)
        dkim_sign_body(tx->dkim, p + i, n - i);
}

/* Read exactly n bytes at off. */
static int pread_full(int fd, char *buf, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, buf, n, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            return -1;
        }
        buf += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

static int pwrite_full(int fd, const char *buf, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t r = pwrite(fd, buf, n, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            return -1;
        }
        buf += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

/* Move fd's bytes [at, end) up by by bytes, from the end down (the ranges overlap). */
static int sign_move_up(int fd, off_t at, off_t end, size_t by)
{
    char *buf = xmalloc(SIGN_MOVE_CHUNK);
    off_t pos = end;
    int rc = 0;

    while (pos > at) {
        size_t n = pos - at < SIGN_MOVE_CHUNK ? (size_t)(pos - at) : SIGN_MOVE_CHUNK;
        pos -= (off_t)n;
        if (pread_full(fd, buf, n, pos) < 0 || pwrite_full(fd, buf, n, pos + (off_t)by) < 0) {
            rc = -1;
            break;
        }
    }
    free(buf);
    return rc;
}

/* Worker thread: sign the header and insert the signature. Touches only the job. */
static void sign_work(void *arg)
{
    struct smtp_sign_job *j = arg;
    struct dkim_field *f = xcalloc(SIGN_FIELDS_MAX, sizeof(*f));
    char *head = xmalloc(j->head_len + 1);
    size_t n = 0, body = 0;

    if (pread_full(j->fd, head, j->head_len, j->at) < 0) {
        snprintf(j->err, sizeof(j->err), "cannot read the header: %s", strerror(errno));
        goto out;
    }
    if (dkim_header_split(head, j->head_len, f, SIGN_FIELDS_MAX, &n, &body) != DKIM_SPLIT_OK) {
        snprintf(j->err, sizeof(j->err), "header not signable (over %d fields or malformed)",
                 SIGN_FIELDS_MAX);
        goto out;
    }
    j->sig = dkim_sign_finish(j->m, f, n, (long long)time(NULL), j->err, sizeof(j->err));
    if (j->sig == NULL)
        goto out;
    j->sig_len = strlen(j->sig);
    j->moved = true;
    if (sign_move_up(j->fd, j->at, j->end, j->sig_len) < 0 ||
        pwrite_full(j->fd, j->sig, j->sig_len, j->at) < 0)
        snprintf(j->err, sizeof(j->err), "cannot write the signed message: %s",
                 strerror(errno));
out:
    free(f);
    free(head);
}

static void sign_job_free(struct smtp_sign_job *j)
{
    close(j->fd);
    dkim_sign_free(j->m);
    free(j->sig);
    config_unref(j->cf);
    free(j);
}

/* Loop thread: the signature is in the file (or why not). */
static void sign_done(void *arg)
{
    struct smtp_sign_job *j = arg;
    struct smtp_session *s = j->s;
    void (*then)(struct smtp_session *s) = j->then;

    if (s == NULL) {
        sign_job_free(j);
        return;
    }
    s->tx->sign_job = NULL;
    s->busy = false;
    if (s->dead || s->closing) {     /* the client is gone: it never saw a 250 */
        sign_job_free(j);
        smtp_tx_free(s);
        smtp_resume(s);
        return;
    }
    if (j->err[0] == '\0' && spool_file_inserted(s->tx->file, j->sig_len) == 0) {
        log_info("dkim", "%s: signed d=%s (%zu bytes)", j->qid, j->domain, j->sig_len);
        s->tx->dkim_signed = true;
    } else if (j->moved || j->err[0] == '\0') {
        log_error("dkim", "%s: signing failed: %s", j->qid,
                  j->err[0] ? j->err : strerror(errno));
        sign_job_free(j);
        smtp_reply(s, R_LOCAL_ERROR);
        smtp_tx_free(s);
        smtp_resume(s);
        return;
    } else {
        log_warn("dkim", "%s: not signed: %s", j->qid, j->err);
    }
    sign_job_free(j);
    then(s);
}

void smtp_sign_run(struct smtp_session *s, void (*then)(struct smtp_session *s))
{
    struct smtp_tx *tx = s->tx;
    struct smtp_sign_job *j;
    uint64_t msg_off = 0;
    int fd = -1;

    if (tx->sign_scan && !tx->sign_decided) /* the data ended inside the header */
        sign_choose(s);
    if (tx->dkim == NULL) {
        then(s);
        return;
    }
    if (tx->sign_head > SIGN_HEAD_MAX) {
        log_warn("dkim", "%s: not signed: header over %d bytes", tx->qid, SIGN_HEAD_MAX);
        then(s);
        return;
    }
    if (spool_file_readable(tx->file, &fd, &msg_off) < 0 || (fd = dup(fd)) < 0) {
        log_error("dkim", "%s: cannot read the spool file to sign it: %s", tx->qid,
                  strerror(errno));
        smtp_reply(s, R_LOCAL_ERROR);
        smtp_tx_free(s);
        return;
    }
    j = xcalloc(1, sizeof(*j));
    j->s = s;
    j->cf = config_ref(s->cf);
    j->m = tx->dkim;
    tx->dkim = NULL;
    j->then = then;
    j->fd = fd;
    j->at = (off_t)(msg_off + tx->received_len);
    j->end = (off_t)(msg_off + spool_file_size(tx->file));
    j->head_len = (size_t)tx->sign_head;
    snprintf(j->qid, sizeof(j->qid), "%s", tx->qid);
    snprintf(j->domain, sizeof(j->domain), "%s", tx->sign_domain);
    tx->sign_job = j;
    s->busy = true;
    bufferevent_disable(s->bev, EV_READ);
    workpool_submit(s->srv->wp, sign_work, sign_done, j);
}

void smtp_sign_cancel(struct smtp_tx *tx)
{
    if (tx->sign_job != NULL) {
        tx->sign_job->s = NULL;
        tx->sign_job = NULL;
    }
    dkim_sign_free(tx->dkim);
    tx->dkim = NULL;
}
