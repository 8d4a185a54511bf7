/*
 * queue_route.c - route a loaded message's pending recipients and take the results.
 *
 * Recipients are grouped by destination ("mx:DOMAIN" for MX routes, the route text for
 * relays, LMTP and maildirs), copy and envelope sender (a newsletter recipient's own
 * bounce address, from its "verp" record) and cut into transactions of queue.rcpts_per_transaction;
 * each group is one deliver job (relay/deliver/deliver.h). Each result is logged and turned into
 * a record right away ("done", "deferred"); permanent failures wait for the end of the
 * attempt, where their DSN is queued first (queue.c, queue_result.c).
 */
#include "relay/queue/queue_int.h"

#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/xalloc.h"
#include "relay/queue/queue_file.h"
#include "relay/relay_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void qmsg_job_done(void *arg, const struct deliver_report *rep)
{
    struct qjob *j = arg;
    struct qmsg *m = j->m;
    struct qjob **pp;
    long long t = (long long)queue_now();
    size_t i;

    for (i = 0; i < rep->nrcpts && i < j->n; i++) {
        size_t idx = j->idx[i];
        const struct smtp_result *r = &rep->rcpt[i];
        struct qres *qr = &m->res[idx];
        const char *status = r->status == SMTP_SENT ? "sent"
                             : r->status == SMTP_PERMFAIL ? "bounced" : "deferred";

        qr->have = true;
        qr->r = *r;
        snprintf(qr->relay, sizeof(qr->relay), "%s", rep->relay);
        free(qr->remote_host);
        qr->remote_host = !r->local && rep->remote_host ? xstrdup(rep->remote_host) : NULL;
        qres_log(m, qres_component(j->kind), j->rcpts[i], rep, r, status);
        metrics_inc1(M_DELIVERIES, r->status == SMTP_SENT ? "delivered" : status);
        if (r->status == SMTP_SENT) {
            qres_learn(m, j->rcpts[i]);
            qsb_take(&m->recs, qres_record("done", idx, t, r, rep->relay));
            m->qf->rcpts[idx].state = QF_DONE;
        } else if (r->status == SMTP_PERMFAIL) {
            qr->bounce = true;
        } else {
            qsb_take(&m->recs, qres_record("deferred", idx, t, r, rep->relay));
        }
    }
    for (pp = &m->jobs; *pp; pp = &(*pp)->next)
        if (*pp == j) {
            *pp = j->next;
            break;
        }
    free(j->idx);
    free(j->rcpts);
    free(j);
    if (--m->jobs_pending == 0)
        qmsg_attempt_end(m);
}

/* Every recipient of an unroutable group gets the same local result. */
static void fail_group_now(struct qmsg *m, const size_t *idx, size_t n, const char *why)
{
    long long t = (long long)queue_now();
    size_t i;
    for (i = 0; i < n; i++) {
        struct qres *qr = &m->res[idx[i]];
        qr->have = true;
        memset(&qr->r, 0, sizeof(qr->r));
        qr->r.status = SMTP_TEMPFAIL;
        qr->r.local = true;
        qr->r.code = 451;
        snprintf(qr->r.enhanced, sizeof(qr->r.enhanced), "4.3.5");
        snprintf(qr->r.text, sizeof(qr->r.text), "%s", why);
        snprintf(qr->relay, sizeof(qr->relay), "none");
        log_warn("qmgr", "%s: to=<%s>: %s", m->qid, m->qf->rcpts[idx[i]].addr, why);
        qsb_take(&m->recs, queue_file_rec_rcpt("deferred", idx[i], t, "4.3.5", "none", why));
    }
}

/* ---- routing ---------------------------------------------------------------------------- */

struct group {
    char key[QUEUE_DEST_MAX];
    int variant;                  /* the recipients' copy (m->pol), -1: the stored bytes */
    const char *sender;           /* their envelope sender (a VERP address or the file's) */
    struct route route;
    const char *domain;
    size_t *idx;
    size_t n;
    bool bad;
    char why[200];
};

void qmsg_attempt_route(struct qmsg *m)
{
    struct queue_file *qf = m->qf;
    const struct transport_conf *tc = &m->cf->c.transport;
    const struct queue_conf *qc = &m->cf->c.queue;
    struct deliver_limits lim = { qc->concurrency, qc->destination_concurrency, qc->mx_addresses,
                                  qc->connection_cache_ms };
    struct group *g = NULL;
    size_t ng = 0, i, k;
    unsigned flags = 0;

    m->state = QM_ACTIVE;
    m->res = xcalloc(qf->nrcpt, sizeof(*m->res));
    for (i = 0; i < qf->nrcpt; i++) {
        const char *domain, *text;
        struct route r;
        char key[QUEUE_DEST_MAX], err[200];
        bool bad = false;

        if (qf->rcpts[i].state != QF_PENDING || queue_file_rcpt_held(&qf->rcpts[i]))
            continue;
        if (qpolicy_discard(qf, i)) {
            const char *why = qf->rcpts[i].policy->reason;
            char *dtext = xasprintf("discarded: %s", why ? why : "policy");
            log_info("qmgr", "%s: to=<%s>, status=discarded (%s)", m->qid,
                     qf->rcpts[i].addr, why ? why : "policy");
            qsb_take(&m->recs, queue_file_rec_rcpt("done", i, (long long)queue_now(), "2.0.0",
                                                   "none", dtext));
            free(dtext);
            qf->rcpts[i].state = QF_DONE;
            continue;
        }
        if (qf->rcpts[i].policy && m->pol.err[0]) {
            fail_group_now(m, &i, 1, m->pol.err);
            continue;
        }
        domain = qres_domain(qf->rcpts[i].addr);
        text = transport_route_for(tc, domain);
        if (route_parse(text, &r, err, sizeof(err)) < 0) {
            bad = true;
            snprintf(key, sizeof(key), "bad:%s", text);
        } else if (r.kind == ROUTE_MX) {
            snprintf(key, sizeof(key), "mx:%s", domain);
        } else {
            snprintf(key, sizeof(key), "%s", text);
        }
        for (k = 0; k < ng; k++)
            if (strcasecmp(g[k].key, key) == 0 && g[k].variant == m->pol.rcpt_variant[i] &&
                strcmp(g[k].sender, queue_file_rcpt_sender(qf, i)) == 0)
                break;
        if (k == ng) {
            g = xrealloc(g, (ng + 1) * sizeof(*g));
            memset(&g[ng], 0, sizeof(*g));
            snprintf(g[ng].key, sizeof(g[ng].key), "%s", key);
            g[ng].route = r;
            g[ng].domain = domain;
            g[ng].bad = bad;
            g[ng].variant = m->pol.rcpt_variant[i];
            g[ng].sender = queue_file_rcpt_sender(qf, i);
            if (bad)
                snprintf(g[ng].why, sizeof(g[ng].why), "bad route \"%.60s\": %.100s", text,
                         err);
            ng++;
        }
        g[k].idx = xrealloc(g[k].idx, (g[k].n + 1) * sizeof(size_t));
        g[k].idx[g[k].n++] = i;
    }
    if (qf->body && strcasecmp(qf->body, "8BITMIME") == 0)
        flags |= SMTP_MSG_8BIT;
    if (qf->smtputf8)
        flags |= SMTP_MSG_SMTPUTF8;
    m->jobs_pending = 1; /* held while submitting, so a quick failure cannot end the attempt */
    for (k = 0; k < ng; k++) {
        size_t off;
        if (g[k].bad) {
            fail_group_now(m, g[k].idx, g[k].n, g[k].why);
            continue;
        }
        for (off = 0; off < g[k].n; off += (size_t)qc->rcpts_per_transaction) {
            size_t n = g[k].n - off, x;
            struct qjob *j = xcalloc(1, sizeof(*j));
            struct deliver_msg dm;
            if (n > (size_t)qc->rcpts_per_transaction)
                n = (size_t)qc->rcpts_per_transaction;
            j->m = m;
            j->kind = g[k].route.kind;
            j->n = n;
            j->idx = xcalloc(n, sizeof(size_t));
            j->rcpts = xcalloc(n, sizeof(char *));
            for (x = 0; x < n; x++) {
                j->idx[x] = g[k].idx[off + x];
                j->rcpts[x] = qf->rcpts[j->idx[x]].addr;
            }
            memset(&dm, 0, sizeof(dm));
            dm.qid = m->qid;
            dm.sender = g[k].sender;
            dm.rcpts = j->rcpts;
            dm.nrcpts = n;
            if (g[k].variant >= 0) {
                dm.fd = m->pol.v[g[k].variant].fd;
                dm.offset = 0;
                dm.length = m->pol.v[g[k].variant].len;
            } else {
                dm.fd = m->fd;
                dm.offset = (off_t)qf->msg_offset;
                dm.length = (size_t)qf->msg_size;
            }
            dm.flags = flags;
            j->next = m->jobs;
            m->jobs = j;
            m->jobs_pending++;
            j->dj = deliver_submit(m->q->dlv, m->cf, &lim, g[k].key, &g[k].route, g[k].domain,
                                   &dm, qmsg_job_done, j);
        }
    }
    for (k = 0; k < ng; k++)
        free(g[k].idx);
    free(g);
    if (--m->jobs_pending == 0)
        qmsg_attempt_end(m);
}

