/*
 * queue_account.c - the queued mail of a suspended login (policy/account_breaker.h, the
 * compromised-account breaker) is held, on every node, until the login is released.
 *
 * At each attempt, once the queue file is loaded, its auth login is looked up: in the
 * node's account cache (policy/account_cache.h: kept exact by a Redis key watch), and
 * only when the cache does not know it, with one HGET whose answer goes into the cache.
 *   - suspended: the message is held ("account suspended"): a "suspended TIME" record is
 *     appended (once per spell), it leaves the attempt undelivered, untried (its tries
 *     and next try stay as they were) and is scheduled no more. posternctl queue lists
 *     it as held; posternctl status counts it as held.
 *   - active: delivered as usual; a message that was held gets "unsuspended TIME" with
 *     its records, so the held time does not count towards queue.lifetime (an admin who
 *     takes a day to look must not make the mail expire and bounce to its sender).
 *   - released with --drop-queued (pt:acct:{LOGIN} dropped=MS): a message that was held
 *     and arrived before then is deleted instead (no DSN: the mail of a stolen login).
 *   - Redis does not answer: delivered (as the account check accepts new mail then: a
 *     Redis outage must not stop every user's mail); a login known to be suspended stays
 *     held.
 * Release: the logins with held mail are listed here; the account cache reports every
 * change of their pt:acct: keys (by any node, posternctl, redis-cli), and each changed
 * login is asked again (one HGET); when it is active its held messages are scheduled at
 * once. The same question is asked every account.cache (10 s when 0) in case the watch
 * missed a change (Redis older than 6, a watch left on an old master).
 *
 * Loop thread only. A message waiting for Redis stays in LOADING and counts as busy.
 */
#include "relay/queue/queue_int.h"

#include "lib/log.h"
#include "lib/redis.h"
#include "lib/workpool.h"
#include "lib/xalloc.h"
#include "policy/account_cache.h"
#include "relay/queue/queue_file.h"
#include "relay/relay_conf.h"

#include <errno.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QACCT_RECHECK_DEFAULT_MS 10000
#define QACCT_RECHECK_MIN_MS     1000

/* A suspended login with held mail on this node. */
struct qheld {
    struct qheld *next;
    struct qacct *a;
    char *login;
    char *tag;                    /* redis_key_escape(login): the watch names it so */
    bool dirty;                   /* its key changed: ask Redis again */
    struct redis_req *req;
    unsigned long long epoch;
};

struct qacct {
    struct queue *q;
    struct qheld *held;
    struct event *wake;           /* ask about the dirty logins (never inside the watch) */
    struct event *recheck;        /* every account.cache: every held login is dirty */
};

/* The answer of HMGET pt:acct:{L} suspended dropped. */
struct acct_state {
    bool ok;                      /* Redis answered */
    bool suspended;
    long long dropped_ms;         /* released with --drop-queued at (unix ms), 0: not */
};

static char *acct_key(const char *login)
{
    char *tag = redis_key_escape(login), *key = xasprintf(ACCOUNT_KEY_PREFIX "{%s}", tag);

    free(tag);
    return key;
}

static struct redis_req *acct_ask(struct queue *q, const char *login, redis_reply_fn cb,
                                  void *arg)
{
    char *key = acct_key(login);
    const char *argv[4] = { "HMGET", key, "suspended", "dropped" };
    struct redis_req *req = redis_command_argv(q->d.redis, 4, argv, NULL, cb, arg);

    free(key);
    return req;
}

static struct acct_state acct_parse(enum redis_result res, const redisReply *reply)
{
    struct acct_state st = { false, false, 0 };

    if (res != REDIS_RESULT_OK || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
        return st;
    st.ok = true;
    st.suspended = reply->element[0]->type == REDIS_REPLY_STRING &&
                   strcmp(reply->element[0]->str, "1") == 0;
    if (reply->element[1]->type == REDIS_REPLY_STRING)
        st.dropped_ms = strtoll(reply->element[1]->str, NULL, 10);
    return st;
}

static long long recheck_ms(const struct queue *q)
{
    long long ms = queue_cf(q)->c.account.cache_ms;

    if (ms <= 0)
        ms = QACCT_RECHECK_DEFAULT_MS;
    return ms < QACCT_RECHECK_MIN_MS ? QACCT_RECHECK_MIN_MS : ms;
}

static void arm_recheck(struct qacct *a)
{
    long long ms = recheck_ms(a->q);
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

    if (a->held != NULL && !evtimer_pending(a->recheck, NULL))
        evtimer_add(a->recheck, &tv);
}

/* ---- holding ------------------------------------------------------------------------- */

static struct qheld *held_find(struct qacct *a, const char *login)
{
    struct qheld *h;

    for (h = a->held; h; h = h->next)
        if (strcasecmp(h->login, login) == 0)
            return h;
    return NULL;
}

static void held_add(struct qacct *a, const char *login)
{
    struct qheld *h;

    if (held_find(a, login) != NULL)
        return;
    h = xcalloc(1, sizeof(*h));
    h->a = a;
    h->login = xstrdup(login);
    h->tag = redis_key_escape(login);
    h->next = a->held;
    a->held = h;
    arm_recheck(a);
}

static void held_remove(struct qacct *a, struct qheld *h)
{
    struct qheld **pp;

    for (pp = &a->held; *pp; pp = &(*pp)->next)
        if (*pp == h) {
            *pp = h->next;
            break;
        }
    if (h->req)
        redis_cancel(h->req);
    free(h->login);
    free(h->tag);
    free(h);
}

struct mark_job {
    struct qmsg *m;
    int dirfd;
    char qid[QID_MAX];
    char *rec;
    int err;
};

static void mark_work(void *arg)
{
    struct mark_job *j = arg;

    if (queue_file_append(j->dirfd, j->qid, j->rec, strlen(j->rec)) < 0)
        j->err = errno;
}

static void mark_done(void *arg)
{
    struct mark_job *j = arg;
    struct qmsg *m = j->m;

    if (qmsg_unbusy(m)) {
        if (j->err)
            log_error("qmgr", "%s: cannot record the hold: %s", m->qid, strerror(j->err));
        qmsg_attempt_close(m);
    }
    free(j->rec);
    free(j);
}

/* The login of m (loaded) is suspended: hold m and end the attempt. */
static void hold(struct qmsg *m)
{
    struct queue *q = m->q;
    struct mark_job *j;

    m->acct_held = true;
    held_add(q->acct, m->login);
    if (m->qf->suspended) {        /* held before (a restart, a flush): recorded already */
        qmsg_attempt_close(m);
        return;
    }
    log_info("qmgr", "%s: held: account suspended (login %s)", m->qid, m->login);
    j = xcalloc(1, sizeof(*j));
    j->m = m;
    j->dirfd = q->dirfd;
    snprintf(j->qid, sizeof(j->qid), "%s", m->qid);
    j->rec = queue_file_rec_mark("suspended", (long long)queue_now());
    qmsg_busy(m);
    workpool_submit(q->d.wp, mark_work, mark_done, j);
}

static void drop_answer(void *arg, int err, const char *text)
{
    char *qid = arg;

    if (err)
        log_error("qmgr", "%s: cannot drop the held message: %s", qid, text);
    free(qid);
}

/* Was the message held, and was its login released with --drop-queued after it came? */
static bool dropped(const struct queue_file *qf, long long dropped_ms)
{
    return dropped_ms > 0 && qf->suspended && qf->arrival * 1000.0 < (double)dropped_ms;
}

/* The login's state is known: go on with the loaded message. */
static void decide(struct qmsg *m, struct acct_state st)
{
    struct queue *q = m->q;
    struct queue_file *qf = m->qf;

    if (m->delete_ops || m->held || q->stopping) {
        qmsg_attempt_close(m);
        return;
    }
    if (st.suspended) {
        hold(m);
        return;
    }
    if (dropped(qf, st.dropped_ms)) {
        log_info("qmgr", "%s: removed: login %s was released with its queued mail dropped "
                 "(no DSN)", m->qid, m->login);
        queue_delete(q, m->qid, drop_answer, xstrdup(m->qid));  /* at the close below */
        qmsg_attempt_close(m);
        return;
    }
    if (qf->suspended) {
        long long now = (long long)queue_now();
        log_info("qmgr", "%s: released: login %s is no longer suspended", m->qid, m->login);
        qsb_take(&m->recs, queue_file_rec_mark("unsuspended", now));
        if (now > qf->suspended_since)
            qf->suspended_s += now - qf->suspended_since;
        qf->suspended = false;
    }
    qmsg_attempt_route(m);
}

static void on_lookup(enum redis_result res, const redisReply *reply, void *arg)
{
    struct qmsg *m = arg;
    struct acct_state st = acct_parse(res, reply);
    struct account_cache *ac = m->q->d.accounts;

    m->acct_req = NULL;
    if (!qmsg_unbusy(m))
        return;
    if (!st.ok) {
        log_warn("qmgr", "%s: Redis did not answer whether login %s is suspended: "
                 "delivering", m->qid, m->login);
    } else if (ac != NULL) {
        account_cache_put(ac, m->login, st.suspended, m->acct_epoch, account_cache_now_ms());
    }
    decide(m, st);
}

void qacct_route(struct qmsg *m)
{
    struct queue *q = m->q;
    struct account_cache *ac = q->d.accounts;
    enum account_known k = ACCOUNT_UNKNOWN;

    if (m->qf->auth == NULL || m->qf->auth[0] == '\0' || q->d.redis == NULL) {
        qmsg_attempt_route(m);
        return;
    }
    if (m->login == NULL || strcmp(m->login, m->qf->auth) != 0) {
        free(m->login);
        m->login = xstrdup(m->qf->auth);
    }
    if (ac != NULL)
        k = account_cache_get(ac, m->login, account_cache_now_ms());
    /* known: no round trip; except that mail held before asks (a release may drop it) */
    if (k == ACCOUNT_SUSPENDED || (k == ACCOUNT_ACTIVE && !m->qf->suspended)) {
        decide(m, (struct acct_state){ true, k == ACCOUNT_SUSPENDED, 0 });
        return;
    }
    m->acct_epoch = ac != NULL ? account_cache_epoch(ac) : 0;
    qmsg_busy(m);
    m->acct_req = acct_ask(q, m->login, on_lookup, m);
}

/* ---- release ------------------------------------------------------------------------- */

/* The login of h is active again: its held messages are loaded now, and delivered (or,
 * when it was released with --drop-queued, deleted: decide() at their load). */
static void release_login(struct qacct *a, struct qheld *h, long long dropped_ms)
{
    struct queue *q = a->q;
    unsigned n = 0;
    size_t i;

    for (i = 0; i < q->nbuckets; i++) {
        struct qmsg *m, *next;
        for (m = q->hash[i]; m; m = next) {
            next = m->hnext;
            if (!m->acct_held || m->login == NULL || strcasecmp(m->login, h->login) != 0)
                continue;
            m->acct_held = false;
            if (m->gone || m->state != QM_IDLE)
                continue;
            evtimer_del(m->timer);
            qmsg_ready(m);
            n++;
        }
    }
    log_info("qmgr", "login %s is no longer suspended: %u held messages scheduled%s",
             h->login, n, dropped_ms > 0 ? " (to be dropped)" : "");
    held_remove(a, h);
    queue_pump(q);
}

static void on_recheck_reply(enum redis_result res, const redisReply *reply, void *arg)
{
    struct qheld *h = arg;
    struct qacct *a = h->a;
    struct acct_state st = acct_parse(res, reply);
    struct account_cache *ac = a->q->d.accounts;

    h->req = NULL;
    if (!st.ok) {
        h->dirty = true;           /* asked again at the next recheck */
        return;
    }
    if (ac != NULL)
        account_cache_put(ac, h->login, st.suspended, h->epoch, account_cache_now_ms());
    if (!st.suspended)
        release_login(a, h, st.dropped_ms);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct qacct *a = arg;
    struct qheld *h;

    (void)fd;
    (void)what;
    if (a->q->stopping)
        return;
    for (h = a->held; h; h = h->next) {
        if (!h->dirty || h->req != NULL)
            continue;
        h->dirty = false;
        h->epoch = a->q->d.accounts ? account_cache_epoch(a->q->d.accounts) : 0;
        h->req = acct_ask(a->q, h->login, on_recheck_reply, h);
    }
}

static void wake_soon(struct qacct *a)
{
    struct timeval tv = { 0, 0 };

    if (!evtimer_pending(a->wake, NULL))
        evtimer_add(a->wake, &tv);
}

static void on_recheck(evutil_socket_t fd, short what, void *arg)
{
    struct qacct *a = arg;
    struct qheld *h;

    (void)fd;
    (void)what;
    for (h = a->held; h; h = h->next)
        h->dirty = true;
    on_wake(-1, 0, a);
    arm_recheck(a);
}

/* The account cache saw a change (maybe inside account_cache_get: only take note). */
static void on_change(void *arg, const char *tag, size_t len)
{
    struct qacct *a = arg;
    struct qheld *h;
    bool any = false;

    for (h = a->held; h; h = h->next)
        if (tag == NULL || (strlen(h->tag) == len && memcmp(h->tag, tag, len) == 0)) {
            h->dirty = true;
            any = true;
        }
    if (any)
        wake_soon(a);
}

unsigned queue_login_queued(const struct queue *q, const char *login)
{
    unsigned n = 0;
    size_t i;

    for (i = 0; q && login && i < q->nbuckets; i++) {
        const struct qmsg *m;
        for (m = q->hash[i]; m; m = m->hnext)
            n += !m->gone && m->login != NULL && strcasecmp(m->login, login) == 0;
    }
    return n;
}

/* ---- life ---------------------------------------------------------------------------- */

void qacct_new(struct queue *q)
{
    struct qacct *a = xcalloc(1, sizeof(*a));

    a->q = q;
    a->wake = evtimer_new(q->d.base, on_wake, a);
    a->recheck = evtimer_new(q->d.base, on_recheck, a);
    q->acct = a;
    if (q->d.accounts != NULL)
        account_cache_on_change(q->d.accounts, on_change, a);
}

void qacct_stop(struct queue *q)
{
    struct qacct *a = q->acct;
    struct qheld *h;
    size_t i;

    if (a == NULL)
        return;
    evtimer_del(a->wake);
    evtimer_del(a->recheck);
    for (h = a->held; h; h = h->next)
        if (h->req) {
            redis_cancel(h->req);
            h->req = NULL;
        }
    for (i = 0; i < q->nbuckets; i++) {
        struct qmsg *m;
        for (m = q->hash[i]; m; m = m->hnext)
            if (m->acct_req) {
                redis_cancel(m->acct_req);
                m->acct_req = NULL;
            }
    }
}

void qacct_free(struct queue *q)
{
    struct qacct *a = q->acct;

    if (a == NULL)
        return;
    qacct_stop(q);
    if (q->d.accounts != NULL)
        account_cache_on_change(q->d.accounts, NULL, NULL);
    while (a->held)
        held_remove(a, a->held);
    event_free(a->wake);
    event_free(a->recheck);
    free(a);
    q->acct = NULL;
}
