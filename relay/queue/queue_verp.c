/*
 * queue_verp.c - a permanent (5xx) reply to a newsletter recipient's VERP copy at delivery
 * counts as a hard bounce of that recipient, exactly as a DSN sent back to its bounce
 * address does (policy/newsletter_feed.h): recipient.bounced with the queue ID, the
 * address on the login's suppression list, the login's bounce rate and, over the limit,
 * the breaker (account.suspended). Once per recipient: when its "bounced" record is
 * written. Not for 4xx, expiry, local failures (a bad route, a loop: ours, not the
 * recipient's) nor replies to MAIL or before it (about the sender or the host).
 * The newsletter settings are those of the profile of the listener the message came in on
 * (its "listener" line; the "profile" line names only the direction); without them (the
 * listener is gone, or its profile no longer runs the check) nothing is counted.
 * Loop thread only. Feeds still in Redis are cancelled by queue_stop (qverp_stop).
 */
#include "relay/queue/queue_int.h"

#include "lib/log.h"
#include "lib/redis.h"
#include "lib/xalloc.h"
#include "policy/newsletter_feed.h"
#include "relay/queue/queue_file.h"
#include "relay/relay_conf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct qverp {
    struct qverp *next, **prevp;
    struct queue *q;
    struct nl_feed *feed;
    char *login;
};

static void on_fed(void *arg, const char *reason)
{
    struct qverp *v = arg;

    if (v->next)
        v->next->prevp = v->prevp;
    *v->prevp = v->next;
    if (reason != NULL) {
        json_t *ev = nl_feed_suspended_event(v->login, reason);
        json_object_set_new(ev, "queued_held",
                            json_integer((json_int_t)queue_login_queued(v->q, v->login)));
        queue_event(v->q, "account.suspended", ev);
    }
    free(v->login);
    free(v);
}

/* A reply of the recipient's own: to RCPT, or to the message (DATA, the final dot). */
static bool recipient_refused(const struct qres *qr)
{
    return qr->have && qr->bounce && !qr->expired && !qr->r.local &&
           qr->r.status == SMTP_PERMFAIL &&
           (qr->r.stage == SMTP_STAGE_RCPT || qr->r.stage == SMTP_STAGE_DATA ||
            qr->r.stage == SMTP_STAGE_DATA_END);
}

/* The profile of listener name in the running configuration, or NULL. */
static const char *listener_profile(const struct relay_conf *c, const char *name)
{
    const struct listener_conf *l = c->listeners.items;
    size_t i;

    for (i = 0; name != NULL && i < c->listeners.n; i++)
        if (strcmp(l[i].name, name) == 0)
            return l[i].profile;
    return NULL;
}

void qverp_bounced(struct qmsg *m, size_t idx, const struct qres *qr)
{
    struct queue *q = m->q;
    const struct queue_file *qf = m->qf;
    const struct nl_settings *ns;
    const char *profile;
    char buf[QF_DSN_MAX], diag[QUEUE_LOG_TEXT];
    const char *status;
    struct qverp *v;

    if (qf->rcpts[idx].verp == NULL || qf->auth == NULL || q->d.redis == NULL ||
        !recipient_refused(qr))
        return;
    profile = listener_profile(&m->cf->c, qf->listener);
    ns = profile ? nl_settings_of(&m->cf->c.policy.profiles, profile) : NULL;
    if (ns == NULL) {
        log_warn("newsletter", "%s: to=<%s>: a VERP copy refused, but listener %s (profile "
                 "%s) does not run the newsletter check: not counted", m->qid,
                 qf->rcpts[idx].addr, qf->listener ? qf->listener : "(none)",
                 profile ? profile : "(none)");
        return;
    }
    status = qres_dsn(&qr->r, buf, sizeof(buf));
    snprintf(diag, sizeof(diag), "smtp; %d %s%s%s", qr->r.code, qr->r.enhanced,
             qr->r.enhanced[0] ? " " : "", qr->r.text);
    queue_event(q, "recipient.bounced",
                nl_feed_event(qf->auth, qf->rcpts[idx].addr, m->qid, "hard", status, diag));
    log_info("newsletter", "%s: hard bounce at delivery for %s of login %s (status %s)",
             m->qid, qf->rcpts[idx].addr, qf->auth, status);
    v = xcalloc(1, sizeof(*v));
    v->q = q;
    v->login = xstrdup(qf->auth);
    v->next = q->verp_feeds;
    v->prevp = &q->verp_feeds;
    if (v->next)
        v->next->prevp = &v->next;
    q->verp_feeds = v;
    v->feed = nl_feed_start(q->d.redis, ns, qf->auth, qf->rcpts[idx].addr, false, on_fed, v);
}

void qverp_stop(struct queue *q)
{
    while (q->verp_feeds) {
        struct qverp *v = q->verp_feeds;
        q->verp_feeds = v->next;
        nl_feed_cancel(v->feed);
        free(v->login);
        free(v);
    }
}
