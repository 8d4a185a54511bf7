/*
 * queue_result.c - what a delivery result becomes: a log line in Postfix's shape
 * (`QID: to=<rcpt>, relay=host[ip]:port, delay=, delays=a/b/c/d, dsn=, status= (text)`,
 * which pflogsumm reads), the DSN status and text kept in the records, and the delivery
 * status notifications (lib/dsn.h) queued to the sender through the spool, or not sent
 * when the recipient domain's "bounces" setting forbids them (backscatter).
 *
 * delays: a = arrival until the job was handed to an agent (queue wait, loading),
 * b = waiting for a connection slot, c = DNS, connect, greeting, TLS, AUTH,
 * d = the transaction.
 */
#include "relay/queue/queue_int.h"

#include "lib/log.h"
#include "lib/redis.h"
#include "policy/rcpt_list.h"
#include "lib/xalloc.h"
#include "relay/queue/queue_file.h"
#include "relay/relay_conf.h"
#include "relay/spool/spool.h"
#include "webhooks/event.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *qres_domain(const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at ? at + 1 : "";
}

/* A successful delivery to a served domain whose recipients are learned
 * (domains.D.recipients_learned): the address is a valid recipient from now on (the set
 * recipient verification reads, policy/rcpt_list.h). Fire and forget. */
void qres_learn(const struct qmsg *m, const char *rcpt)
{
    const struct relay_conf *c = &m->cf->c;
    const char *domain = qres_domain(rcpt);
    struct redis *redis = m->q->d.redis;
    const char *argv[3];
    char *key, *member;

    if (redis == NULL || (!qmsg_domain_listed(&c->relay.local_domains, domain) &&
                          !qmsg_domain_listed(&c->relay.backup_domains, domain)) ||
        !domain_conf_find(&c->domains, &c->domain_defaults, domain)->recipients_learned)
        return;
    key = rcpt_learned_key(rcpt);
    member = redis_key_escape(rcpt);
    argv[0] = "SADD";
    argv[1] = key;
    argv[2] = member;
    redis_command_argv(redis, 3, argv, NULL, redis_reply_ignore, NULL);
    free(member);
    free(key);
}

static void fmt_delay(char *buf, size_t len, double v)
{
    if (v < 0.005) {
        snprintf(buf, len, "0");
    } else if (v < 10) {
        size_t n;
        snprintf(buf, len, "%.2f", v);
        n = strlen(buf);
        while (n > 0 && buf[n - 1] == '0')
            buf[--n] = '\0';
        if (n > 0 && buf[n - 1] == '.')
            buf[--n] = '\0';
    } else {
        snprintf(buf, len, "%.0f", v);
    }
}

static const char *stage_command(enum smtp_stage st)
{
    switch (st) {
    case SMTP_STAGE_CONNECT:
    case SMTP_STAGE_GREETING: return "initial greeting";
    case SMTP_STAGE_EHLO: return "EHLO command";
    case SMTP_STAGE_STARTTLS: return "STARTTLS command";
    case SMTP_STAGE_AUTH: return "AUTH command";
    case SMTP_STAGE_RSET: return "RSET command";
    case SMTP_STAGE_MAIL: return "MAIL FROM command";
    case SMTP_STAGE_RCPT: return "RCPT TO command";
    case SMTP_STAGE_DATA: return "DATA command";
    case SMTP_STAGE_DATA_END: return "end of DATA command";
    }
    return "command";
}

/* The DSN status of a result; the class follows our decision, so a 5xx that we treat as
 * temporary (a refused AUTH) is reported as 4.x.x, as Postfix's soft bounce does. */
const char *qres_dsn(const struct smtp_result *r, char *buf, size_t len)
{
    if (r->enhanced[0] && r->status == SMTP_TEMPFAIL && r->enhanced[0] != '4') {
        snprintf(buf, len, "4%s", r->enhanced + 1);
        return buf;
    }
    if (r->enhanced[0] && r->status == SMTP_PERMFAIL && r->enhanced[0] != '5') {
        snprintf(buf, len, "5%s", r->enhanced + 1);
        return buf;
    }
    if (r->enhanced[0])
        return r->enhanced;
    snprintf(buf, len, "%d.0.0", r->status == SMTP_SENT ? 2 : r->status == SMTP_PERMFAIL ? 5 : 4);
    return buf;
}

/* The reply as the server gave it: "550 5.1.1 No such user". */
static void qres_reply(char *buf, size_t len, const struct smtp_result *r)
{
    snprintf(buf, len, "%d%s%s %s", r->code, r->enhanced[0] ? " " : "", r->enhanced, r->text);
}

/* The text in parentheses of a delivery log line (Postfix's wording). */
void qres_log_text(char *buf, size_t len, const struct smtp_result *r, const char *relay)
{
    char reply[SMTP_RESULT_TEXT_MAX + 32];
    if (r->local) {
        snprintf(buf, len, "%s", r->text);
        return;
    }
    qres_reply(reply, sizeof(reply), r);
    if (r->status == SMTP_SENT)
        snprintf(buf, len, "%s", reply);
    else
        snprintf(buf, len, "host %s said: %s (in reply to %s)", relay, reply,
                 stage_command(r->stage));
}

char *qres_record(const char *kind, size_t idx, long long t, const struct smtp_result *r,
                  const char *relay)
{
    char dsnbuf[QF_DSN_MAX], text[QUEUE_LOG_TEXT];
    qres_log_text(text, sizeof(text), r, relay);
    return queue_file_rec_rcpt(kind, idx, t, qres_dsn(r, dsnbuf, sizeof(dsnbuf)), relay, text);
}

const char *qres_component(enum route_kind k)
{
    return k == ROUTE_LMTP ? "lmtp" : k == ROUTE_MAILDIR ? "virtual" : "smtp";
}

void qres_log(const struct qmsg *m, const char *component, const char *rcpt,
              const struct deliver_report *rep, const struct smtp_result *r, const char *status)
{
    char d[16], a[16], b[16], c[16], e[16], dsnbuf[QF_DSN_MAX], text[QUEUE_LOG_TEXT];
    double arrival = m->qf->arrival;

    fmt_delay(d, sizeof(d), rep->t_done - arrival);
    fmt_delay(a, sizeof(a), rep->t_queued - arrival);
    fmt_delay(b, sizeof(b), rep->t_started - rep->t_queued);
    fmt_delay(c, sizeof(c), rep->t_ready - rep->t_started);
    fmt_delay(e, sizeof(e), rep->t_done - rep->t_ready);
    qres_log_text(text, sizeof(text), r, rep->relay);
    log_info(component, "%s: to=<%s>, relay=%s, delay=%s, delays=%s/%s/%s/%s, dsn=%s, "
             "status=%s (%s)", m->qid, rcpt, rep->relay, d, a, b, c, e,
             qres_dsn(r, dsnbuf, sizeof(dsnbuf)), status, text);
}

/* ---- backscatter: the DSNs that are not sent ---- */

/* The "bounces" setting that applies to a DSN about rcpt: BOUNCES_ALWAYS when it may be
 * sent. Only mail received on the inbound profile from a client that did not log in, for
 * a recipient in a served domain (local or backup), is concerned: anyone may claim any
 * envelope sender there, and a DSN to a forged one is backscatter. Mail submitted by
 * users, and mail relayed for relay.trusted_networks to other domains, get DSNs. */
static enum domain_bounces dsn_rule(const struct qmsg *m, const char *rcpt)
{
    const struct relay_conf *c = &m->cf->c;
    const struct queue_file *qf = m->qf;
    const char *domain = qres_domain(rcpt);
    int rule;

    if (qf->profile == NULL || strcmp(qf->profile, listener_profile_names[PROFILE_INBOUND]) ||
        qf->auth != NULL)
        return BOUNCES_ALWAYS;
    if (!qmsg_domain_listed(&c->relay.local_domains, domain) &&
        !qmsg_domain_listed(&c->relay.backup_domains, domain))
        return BOUNCES_ALWAYS;
    rule = domain_conf_find(&c->domains, &c->domain_defaults, domain)->bounces;
    /* "authenticated": the DSN goes when the sender was authenticated at receipt (SPF
     * pass for the MAIL FROM domain, or a DKIM pass aligned with it: the queue file's
     * sender_auth record) */
    if (rule == BOUNCES_AUTHENTICATED)
        return qf->sender_auth[0] ? BOUNCES_ALWAYS : BOUNCES_AUTHENTICATED;
    return rule == BOUNCES_ALWAYS ? BOUNCES_ALWAYS : BOUNCES_NEVER;
}

/* Log and raise message.bounce_suppressed for the n recipients whose DSN rule[i] stopped:
 * one line and one event per rule. */
static void dsn_suppressed(const struct qmsg *m, enum dsn_action action,
                           const char *const *rcpts, const enum domain_bounces *rule, size_t n)
{
    static const enum domain_bounces rules[] = { BOUNCES_NEVER, BOUNCES_AUTHENTICATED };
    const struct queue_file *qf = m->qf;
    const char *kind = action == DSN_FAILED ? "non-delivery" : "delay";
    char queued[WH_TIMESTAMP_SIZE];
    size_t r, i;

    wh_event_timestamp(queued, (long long)(qf->arrival * 1000));
    for (r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
        json_t *list = json_array();
        const char *first = NULL, *name = domain_bounces_names[rules[r]];
        size_t k = 0;
        for (i = 0; i < n; i++)
            if (rule[i] == rules[r]) {
                json_array_append_new(list, wh_json_string(rcpts[i]));
                first = first ? first : rcpts[i];
                k++;
            }
        if (k == 0) {
            json_decref(list);
            continue;
        }
        log_info("bounce", "%s: sender %s notification to <%s> not sent: bounces=%s for "
                 "<%s>%s (inbound mail; the sender may be forged)", m->qid, kind,
                 qf->sender, name, first, k > 1 ? " and others" : "");
        queue_event(m->q, "message.bounce_suppressed",
                     wh_pack("{s:s, s:s, s:s, s:s, s:o, s:s*, s:s*, s:s*, s:s}",
                             "queue_id", m->qid, "sender", qf->sender,
                             "notification", action == DSN_FAILED ? "failed" : "delayed",
                             "bounces", name, "recipients", list, "client_ip", qf->client,
                             "helo", qf->helo, "listener", qf->listener,
                             "queued_at", queued));
    }
}

struct dsn_ctx {
    struct qmsg *m;
    enum dsn_action action;
    size_t size;
};

static void on_dsn_committed(void *arg, int err, const char *qid)
{
    struct dsn_ctx *d = arg;
    struct qmsg *m = d->m;
    enum dsn_action action = d->action;
    size_t size = d->size;

    free(d);
    if (!qmsg_unbusy(m))
        return;
    if (err) {
        log_error("bounce", "%s: cannot queue the %s notification: %s", m->qid,
                  action == DSN_FAILED ? "non-delivery" : "delay", strerror(err));
        if (action == DSN_FAILED)
            m->bounce_dsn_failed = true;
    } else {
        log_info("bounce", "%s: sender %s notification: %s", m->qid,
                 action == DSN_FAILED ? "non-delivery" : "delay", qid);
        log_info("qmgr", "%s: from=<>, size=%zu, nrcpt=1 (queue active)", qid, size);
        if (action == DSN_DELAYED)
            m->warn_dsn_ok = true;
    }
    if (--m->dsn_pending == 0)
        qmsg_attempt_write(m);
}

/* Queue a DSN about the recipients chosen by action (bounce set, or pending ones).
 * Returns true when a commit is under way. */
bool qmsg_bounce(struct qmsg *m, enum dsn_action action)
{
    struct queue *q = m->q;
    struct queue_file *qf = m->qf;
    struct dsn_rcpt *dr = xcalloc(qf->nrcpt, sizeof(*dr));
    char **diag = xcalloc(qf->nrcpt, sizeof(char *)), **reason = xcalloc(qf->nrcpt, sizeof(char *));
    char msgid[QID_MAX + 300];
    char **dsn_codes = xcalloc(qf->nrcpt, sizeof(char *));
    const char **quiet = xcalloc(qf->nrcpt, sizeof(char *));
    enum domain_bounces *quiet_rule = xcalloc(qf->nrcpt, sizeof(*quiet_rule));
    struct dsn_report rep;
    struct dsn_message out;
    struct spool_file *f;
    struct spool_envelope env;
    const char *rcpt_list[1];
    long long now = (long long)queue_now();
    size_t i, n = 0, nquiet = 0;
    bool ok = false;

    for (i = 0; i < qf->nrcpt; i++) {
        struct qres *qr = &m->res[i];
        const struct qf_rcpt *fr = &qf->rcpts[i];
        char buf[QF_DSN_MAX], text[QUEUE_LOG_TEXT];
        if (action == DSN_FAILED ? !qr->bounce : (fr->state != QF_PENDING || qr->bounce ||
                                                  queue_file_rcpt_held(fr)))
            continue;
        if ((quiet_rule[nquiet] = dsn_rule(m, fr->addr)) != BOUNCES_ALWAYS) {
            quiet[nquiet++] = fr->addr;
            continue;
        }
        dr[n].addr = fr->addr;
        dr[n].last_attempt = qr->have ? now : fr->time;
        if (qr->have) {
            dsn_codes[n] = xstrdup(qres_dsn(&qr->r, buf, sizeof(buf)));
            qres_log_text(text, sizeof(text), &qr->r, qr->relay);
            if (qr->expired) {
                char age[32];
                dsn_format_age(age, sizeof(age), now - (long long)qf->arrival);
                reason[n] = xasprintf("message could not be delivered for %s: %s", age, text);
            }
            else
                reason[n] = xstrdup(text);
            if (!qr->r.local) {
                diag[n] = xasprintf("%d%s%s %s", qr->r.code, qr->r.enhanced[0] ? " " : "",
                                    qr->r.enhanced, qr->r.text);
                dr[n].remote_mta = qr->remote_host;
            }
        } else {
            dsn_codes[n] = xstrdup(fr->dsn[0] ? fr->dsn : "4.0.0");
            reason[n] = xstrdup(fr->text ? fr->text : "delivery temporarily suspended");
        }
        dr[n].status = dsn_codes[n];
        dr[n].diagnostic = diag[n];
        dr[n].reason = reason[n];
        n++;
    }
    if (nquiet > 0) {
        dsn_suppressed(m, action, quiet, quiet_rule, nquiet);
        if (n == 0 && action == DSN_DELAYED)
            m->warn_dsn_ok = true; /* recorded as "warned": decided once, not every try */
    }
    if (n == 0)
        goto out;
    f = spool_file_new(q->d.spool);
    if (f == NULL) {
        log_error("bounce", "%s: cannot create a notification: %s", m->qid, strerror(errno));
        goto out;
    }
    snprintf(msgid, sizeof(msgid), "%s.%lld@%s", spool_file_qid(f), now, m->cf->c.hostname);
    memset(&rep, 0, sizeof(rep));
    rep.action = action;
    rep.reporting_mta = m->cf->c.hostname;
    rep.qid = m->qid;
    rep.sender = qf->sender;
    rep.arrival = (long long)qf->arrival;
    rep.now = now;
    rep.retry_until = (long long)qf->arrival + m->cf->c.queue.lifetime_ms / 1000;
    rep.message_id = msgid;
    rep.rcpts = dr;
    rep.nrcpt = n;
    rep.headers = m->head;
    rep.headers_len = m->head_len;
    rep.headers_max = (size_t)m->cf->c.queue.bounce_headers_max;
    if (dsn_build(&rep, &out) < 0) {
        log_error("bounce", "%s: cannot build a notification for <%s>", m->qid, qf->sender);
        spool_file_abort(f);
        goto out;
    }
    memset(&env, 0, sizeof(env));
    env.arrival = queue_now();
    env.client_ip = "127.0.0.1";
    env.client_name = "localhost";
    env.helo = m->cf->c.hostname;
    env.listener = "bounce";
    env.proto = "LOCAL";
    env.body = out.eightbit ? "8BITMIME" : NULL;
    env.smtputf8 = qf->smtputf8;
    env.sender = "";
    rcpt_list[0] = qf->sender;
    env.rcpts = rcpt_list;
    env.nrcpt = 1;
    if (spool_file_write_envelope(f, &env) < 0 || spool_file_write(f, out.text, out.len) < 0) {
        log_error("bounce", "%s: cannot write a notification: %s", m->qid, strerror(errno));
        spool_file_abort(f);
        free(out.text);
        goto out;
    }
    free(out.text);
    {
        struct dsn_ctx *d = xcalloc(1, sizeof(*d));
        d->size = out.len;
        d->m = m;
        d->action = action;
        qmsg_busy(m);
        m->dsn_pending++;
        spool_file_commit(f, on_dsn_committed, d);
        ok = true;
    }
out:
    for (i = 0; i < qf->nrcpt; i++) {
        free(diag[i]);
        free(reason[i]);
        free(dsn_codes[i]);
    }
    free(diag);
    free(reason);
    free(dsn_codes);
    free(quiet);
    free(quiet_rule);
    free(dr);
    return ok;
}

