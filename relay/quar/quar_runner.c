/*
 * quar_runner.c - the quarantine on this node (see quar_runner.h): start-up recovery and
 * re-indexing, the job list, retention and size caps.
 */
#include "relay/quar/quar_runner.h"

#include "content/quar.h"
#include "content/spam_model.h"
#include "content/spam_score.h"
#include "content/spam_store.h"
#include "lib/log.h"
#include "lib/redis.h"
#include "lib/workpool.h"
#include "lib/xalloc.h"
#include "policy/domain_conf.h"
#include "relay/quar/quar_int.h"
#include "relay/quar/quar_store.h"
#include "relay/queue/queue.h"
#include "relay/relay_conf.h"

#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LEARN_MAX (10u * 1024 * 1024)   /* bytes of a released message learned as ham */

static long long now_s(void)
{
    return (long long)time(NULL);
}

static const char *domain_of(const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at ? at + 1 : "";
}

static const struct domain_conf *dconf(const struct quar_runner *r, const char *domain)
{
    const struct relay_conf *c = &(*r->env.cf)->c;
    return domain_conf_find(&c->domains, &c->domain_defaults, domain);
}

/* ---- the table of this node's entries ------------------------------------------------------ */

static struct quar_item *item_find(struct quar_runner *r, const char *id)
{
    size_t i;
    for (i = 0; i < r->nitems; i++)
        if (strcmp(r->items[i].id, id) == 0)
            return &r->items[i];
    return NULL;
}

static void item_add(struct quar_runner *r, const struct quar_entry *e)
{
    struct quar_item *it = item_find(r, e->id);

    if (it == NULL) {
        r->items = xrealloc(r->items, (r->nitems + 1) * sizeof(*r->items));
        it = &r->items[r->nitems++];
        memset(it, 0, sizeof(*it));
        snprintf(it->id, sizeof(it->id), "%s", e->id);
    } else {
        free(it->domain);
    }
    it->domain = xstrdup(domain_of(e->rcpt));
    it->date = e->date;
    it->size = e->size;
}

static void item_remove(struct quar_runner *r, const char *id)
{
    struct quar_item *it = item_find(r, id);

    if (it == NULL)
        return;
    free(it->domain);
    *it = r->items[--r->nitems];
}

static void on_indexed(void *arg, int err, const char *text)
{
    struct quar_runner *r = arg;

    (void)text;
    if (err)
        r->reindex = true;         /* again, from the files, when Redis is back */
}

/* Index one entry (retention of its domain as TTL, plus a day). */
static void index_entry(struct quar_runner *r, const struct quar_entry *e)
{
    long long ttl = dconf(r, domain_of(e->rcpt))->quarantine_retention_ms / 1000 + 86400;

    if (r->quar)
        quar_index_add(r->quar, e, ttl, on_indexed, r);
}

/* ---- start: recovery and re-indexing (worker) ---------------------------------------------- */

static void act_start(struct quar_runner *r, const char *id, bool release, unsigned flags);

struct resume {
    struct quar_runner *r;
    char id[QUAR_ID_MAX];
};

/* A job asked before a restart whose list entry was popped (and lost): do it now. */
static void on_resume(enum redis_result res, const struct redisReply *reply, void *arg)
{
    struct resume *rs = arg;
    unsigned flags = 0;
    char verb[16];

    if (res == REDIS_RESULT_OK && reply->type == REDIS_REPLY_STRING && !rs->r->stopping &&
        sscanf(reply->str, "%15s %u", verb, &flags) >= 1 &&
        (strcmp(verb, "release") == 0 || strcmp(verb, "delete") == 0)) {
        log_info("quarantine", "%s: resuming the %s asked before the restart", rs->id, verb);
        act_start(rs->r, rs->id, verb[0] == 'r', flags);
    }
    free(rs);
}

static void resume_job(struct quar_runner *r, const char *id)
{
    struct resume *rs;
    char *k;

    if (r->env.redis == NULL)
        return;
    rs = xcalloc(1, sizeof(*rs));
    rs->r = r;
    snprintf(rs->id, sizeof(rs->id), "%s", id);
    k = xasprintf("pt:q:{%s}", id);
    {
        const char *argv[] = { "HGET", k, "job" };
        redis_command_argv(r->env.redis, 3, argv, NULL, on_resume, rs);
    }
    free(k);
}

struct start_job {
    struct quar_runner *r;
    int queue_dir;                 /* start: where interrupted releases go; -1: reindex */
    char **released;
    size_t nreleased;
    struct quar_entry *e;
    size_t n;
};

static void start_work(void *arg)
{
    struct start_job *j = arg;
    char **ids;
    size_t n, i;

    if (j->queue_dir >= 0) {
        j->released = quar_store_recover(j->r->dirfd, j->queue_dir, &j->nreleased);
        close(j->queue_dir);
    }
    ids = quar_store_list(j->r->dirfd, &n);
    j->e = xcalloc(n ? n : 1, sizeof(*j->e));
    for (i = 0; i < n; i++) {
        if (quar_store_read(j->r->dirfd, ids[i], &j->e[j->n]) == 0)
            j->n++;
        free(ids[i]);
    }
    free(ids);
}

static void start_done(void *arg)
{
    struct start_job *j = arg;
    struct quar_runner *r = j->r;
    bool reindex = j->queue_dir < 0;
    size_t i;

    r->jobs--;
    for (i = 0; i < j->nreleased; i++) {
        char *sp = strchr(j->released[i], ' ');
        *sp = '\0';
        log_info("quarantine", "%s: release finished after a restart: queued as %s", sp + 1,
                 j->released[i]);
        if (!r->stopping)
            queue_add(r->env.queue, j->released[i]);
        r->gone = xrealloc(r->gone, (r->ngone + 1) * sizeof(*r->gone));
        r->gone[r->ngone++] = xstrdup(sp + 1);
        free(j->released[i]);
    }
    free(j->released);
    for (i = 0; i < j->n; i++) {
        if (reindex) {
            /* what Redis may have lost, and the jobs a restart interrupted */
            index_entry(r, &j->e[i]);
            resume_job(r, j->e[i].id);
        } else {
            item_add(r, &j->e[i]);
        }
        quar_entry_clear(&j->e[i]);
    }
    if (reindex) {
        for (i = 0; i < r->ngone; i++) {
            quar_index_remove(r->quar, r->gone[i], "", NULL, NULL);
            free(r->gone[i]);
        }
        free(r->gone);
        r->gone = NULL;
        r->ngone = 0;
        r->reindexing = false;
    } else if (j->n) {
        log_info("quarantine", "%zu quarantined messages on this node", j->n);
    }
    free(j->e);
    free(j);
    r->ready = true;
}

/* Index every entry again (at start, and after an index write failed) once Redis is up. */
static void maybe_reindex(struct quar_runner *r)
{
    struct start_job *j;

    if (!r->reindex || r->reindexing || !r->ready || r->stopping || r->quar == NULL ||
        redis_state(r->env.redis) != REDIS_STATE_UP)
        return;
    r->reindex = false;
    r->reindexing = true;
    j = xcalloc(1, sizeof(*j));
    j->r = r;
    j->queue_dir = -1;
    r->jobs++;
    workpool_submit(r->env.wp, start_work, start_done, j);
}

/* ---- the entries the queue runner made ----------------------------------------------------- */

void quar_runner_added(struct quar_runner *r, const struct quar_entry *e, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        item_add(r, &e[i]);
        index_entry(r, &e[i]);
        if (r->env.redis) {
            /* new for the digest: the recipient's, and the domain report's */
            const char *dom = domain_of(e[i].rcpt);
            char date[24], *who = xasprintf("@%s", dom);
            const char *argv[] = { "ZADD", "pt:qn:{all}", "NX", date, e[i].rcpt };
            snprintf(date, sizeof(date), "%lld", e[i].date);
            redis_command_argv(r->env.redis, 5, argv, NULL, redis_reply_ignore, NULL);
            if (dconf(r, dom)->digest_address) {
                argv[4] = who;
                redis_command_argv(r->env.redis, 5, argv, NULL, redis_reply_ignore, NULL);
            }
            free(who);
        }
    }
}

/* ---- jobs: release and delete ------------------------------------------------------------- */

struct act_job {
    struct quar_runner *r;
    struct config *cf;             /* for learning (Redis settings) */
    char id[QUAR_ID_MAX];
    bool release, learn, admin;
    int queue_dir;
    char newqid[QID_MAX];
    char *rcpt;
    struct quar_entry e;           /* the entry as it was (re-indexed after a failure) */
    bool have_e;
    int err;
    bool learned;
};

/* Train the classifier with the message as ham (blocking Redis: worker thread). */
static bool learn_ham(struct act_job *j)
{
    size_t len = 0;
    char *msg = quar_store_message(j->r->dirfd, j->id, LEARN_MAX, &len);
    redisContext *rc;
    struct spam_model delta;
    bool ok = false;

    if (msg == NULL)
        return false;
    rc = redis_connect_blocking(&j->cf->c.redis);
    if (rc != NULL) {
        spam_model_init(&delta, 1 << 12);
        spam_score_learn(&delta, msg, len, false, 1);
        ok = spam_store_learn(rc, &delta, 1, 0, 0) == 0;
        spam_model_clear(&delta);
        redisFree(rc);
    }
    free(msg);
    return ok;
}

static void act_work(void *arg)
{
    struct act_job *j = arg;

    if (quar_store_read(j->r->dirfd, j->id, &j->e) == 0) {
        j->rcpt = xstrdup(j->e.rcpt);
        j->have_e = true;
    }
    if (j->release) {
        if (j->learn)
            j->learned = learn_ham(j);
        if (quar_store_release(j->r->dirfd, j->queue_dir, j->id,
                               j->admin ? "an admin" : "its recipient", now_s(), j->newqid) < 0)
            j->err = errno;
    } else if (quar_store_delete(j->r->dirfd, j->id) < 0) {
        j->err = errno;
    }
}

static void act_done(void *arg)
{
    struct act_job *j = arg;
    struct quar_runner *r = j->r;
    struct quar_item *it = item_find(r, j->id);

    r->jobs--;
    close(j->queue_dir);
    if (it)
        it->busy = false;
    if (j->err == 0 || j->err == ENOENT) {
        if (j->err == 0 && j->release) {
            log_info("quarantine", "%s: to=<%s>, released as %s%s", j->id,
                     j->rcpt ? j->rcpt : "?", j->newqid,
                     j->learn ? j->learned ? ", learned as ham" : ", learning failed" : "");
            if (!r->stopping)
                queue_add(r->env.queue, j->newqid);
            if (r->env.redis) {
                char *k = xasprintf("pt:qres:{%s}", j->id), *v = xasprintf("released %s",
                                                                           j->newqid);
                const char *argv[] = { "SET", k, v, "EX", "3600" };
                redis_command_argv(r->env.redis, 5, argv, NULL, redis_reply_ignore, NULL);
                free(k);
                free(v);
            }
        } else if (j->err == 0) {
            log_info("quarantine", "%s: to=<%s>, deleted", j->id, j->rcpt ? j->rcpt : "?");
            if (r->env.redis) {
                char *k = xasprintf("pt:qres:{%s}", j->id);
                const char *argv[] = { "SET", k, "deleted", "EX", "3600" };
                redis_command_argv(r->env.redis, 5, argv, NULL, redis_reply_ignore, NULL);
                free(k);
            }
        } else {
            log_warn("quarantine", "%s: no such entry on this node", j->id);
        }
        item_remove(r, j->id);
        if (r->quar)
            quar_index_remove(r->quar, j->id, j->rcpt ? j->rcpt : "", NULL, NULL);
    } else {
        log_error("quarantine", "%s: cannot %s: %s", j->id, j->release ? "release" : "delete",
                  strerror(j->err));
        /* back in the listings, unclaimed: it can be asked for again */
        if (j->have_e && r->env.redis) {
            char *k = xasprintf("pt:q:{%s}", j->id);
            const char *argv[] = { "HDEL", k, "job" };
            redis_command_argv(r->env.redis, 3, argv, NULL, redis_reply_ignore, NULL);
            free(k);
            index_entry(r, &j->e);
        }
    }
    quar_entry_clear(&j->e);
    config_unref(j->cf);
    free(j->rcpt);
    free(j);
}

/* Start a release (flags QUAR_F_LEARN: also as ham; QUAR_F_ADMIN: asked by an admin) or a
 * delete of entry id. */
static void act_start(struct quar_runner *r, const char *id, bool release, unsigned flags)
{
    struct act_job *j;
    struct quar_item *it = item_find(r, id);
    int qd;

    if (it && it->busy)
        return;
    qd = open((*r->env.cf)->c.spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (qd >= 0) {
        int q = openat(qd, "queue", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        close(qd);
        qd = q;
    }
    if (qd < 0) {
        log_error("quarantine", "%s: cannot open the queue directory: %s", id, strerror(errno));
        return;
    }
    if (it)
        it->busy = true;
    j = xcalloc(1, sizeof(*j));
    j->r = r;
    j->cf = config_ref((*r->env.cf));
    snprintf(j->id, sizeof(j->id), "%s", id);
    j->release = release;
    j->learn = (flags & QUAR_F_LEARN) != 0;
    j->admin = (flags & QUAR_F_ADMIN) != 0;
    j->queue_dir = qd;
    r->jobs++;
    workpool_submit(r->env.wp, act_work, act_done, j);
}

static void on_job(void *arg, int err, const char *job);

static void pop_next(struct quar_runner *r)
{
    if (r->quar && !r->stopping && r->ready)
        r->popping = quar_jobs_pop(r->quar, on_job, r);
}

static void on_job(void *arg, int err, const char *job)
{
    struct quar_runner *r = arg;
    char verb[16], id[QUAR_ID_MAX];
    unsigned flags = 0;

    r->popping = NULL;
    if (err || job == NULL)
        return;
    if (sscanf(job, "%15s %63s %u", verb, id, &flags) >= 2 && quar_id_valid(id) &&
        (strcmp(verb, "release") == 0 || strcmp(verb, "delete") == 0))
        act_start(r, id, verb[0] == 'r', flags);
    else
        log_warn("quarantine", "ignoring a malformed job: %.80s", job);
    pop_next(r);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    struct quar_runner *r = arg;
    struct timeval tv;
    long long ms = (*r->env.cf)->c.quarantine.poll_ms;

    (void)fd;
    (void)what;
    maybe_reindex(r);
    if (r->popping == NULL)
        pop_next(r);
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    if (!r->stopping)
        evtimer_add(r->poll, &tv);
}

/* ---- retention and size caps --------------------------------------------------------------- */

static int by_date(const void *a, const void *b)
{
    const struct quar_item *x = a, *y = b;
    return x->date < y->date ? -1 : x->date > y->date;
}

static void sweep_store(struct quar_runner *r)
{
    long long now = now_s();
    struct quar_item *v;
    size_t i, k, n = r->nitems;
    char **del = NULL;
    size_t ndel = 0;

    if (n == 0)
        return;
    v = xmalloc(n * sizeof(*v));
    memcpy(v, r->items, n * sizeof(*v));
    qsort(v, n, sizeof(*v), by_date);
    /* retention */
    for (i = 0; i < n; i++) {
        const struct domain_conf *d = dconf(r, v[i].domain);
        if (!v[i].busy && now - v[i].date >= d->quarantine_retention_ms / 1000) {
            log_info("quarantine", "%s: retention of %s over (%lld s): deleted", v[i].id,
                     v[i].domain, d->quarantine_retention_ms / 1000);
            del = xrealloc(del, (ndel + 1) * sizeof(*del));
            del[ndel++] = v[i].id;
            v[i].busy = true;          /* counted as gone below */
        }
    }
    /* size caps: the bytes kept per domain, then the oldest go first until under */
    {
        struct dom_total { const char *domain; unsigned long long total, cap; } *t = NULL;
        size_t nt = 0;
        for (i = 0; i < n; i++) {
            if (v[i].busy)
                continue;
            for (k = 0; k < nt && strcasecmp(t[k].domain, v[i].domain) != 0; k++)
                ;
            if (k == nt) {
                t = xrealloc(t, (nt + 1) * sizeof(*t));
                t[nt].domain = v[i].domain;
                t[nt].total = 0;
                t[nt].cap = dconf(r, v[i].domain)->quarantine_max_size;
                nt++;
            }
            t[k].total += v[i].size;
        }
        for (i = 0; i < n; i++) {
            if (v[i].busy)
                continue;
            for (k = 0; k < nt && strcasecmp(t[k].domain, v[i].domain) != 0; k++)
                ;
            if (k == nt || t[k].cap == 0 || t[k].total <= t[k].cap)
                continue;
            log_info("quarantine", "%s: %s is over its quarantine_max_size (%llu > %llu "
                     "bytes): the oldest entry is deleted", v[i].id, v[i].domain, t[k].total,
                     t[k].cap);
            t[k].total -= v[i].size;
            del = xrealloc(del, (ndel + 1) * sizeof(*del));
            del[ndel++] = v[i].id;
            v[i].busy = true;
        }
        free(t);
    }
    for (i = 0; i < ndel; i++)
        act_start(r, del[i], false, QUAR_F_ADMIN);
    free(del);
    free(v);
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct quar_runner *r = arg;
    long long ms = (*r->env.cf)->c.quarantine.sweep_ms;
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    (void)fd;
    (void)what;
    if (r->ready && !r->stopping) {
        sweep_store(r);
        quar_digest_tick(r);
    }
    if (!r->stopping)
        evtimer_add(r->sweep, &tv);
}

/* ---- life --------------------------------------------------------------------------------- */

struct quar_runner *quar_runner_new(const struct quar_env *env)
{
    const struct relay_conf *c = &(*env->cf)->c;
    struct quar_runner *r;
    struct start_job *j;
    struct timeval soon = { 0, 100000 };
    int qd;

    qd = quar_store_open(c->spool_dir);
    if (qd < 0) {
        log_error("quarantine", "cannot open %s/%s: %s", c->spool_dir, QUAR_STORE_DIR,
                  strerror(errno));
        return NULL;
    }
    r = xcalloc(1, sizeof(*r));
    r->env = *env;
    r->dirfd = qd;
    r->reindex = true;
    if (env->redis)
        r->quar = quar_new(env->base, env->redis,
                           c->quarantine.node ? c->quarantine.node : c->hostname);
    r->poll = evtimer_new(env->base, on_poll, r);
    r->sweep = evtimer_new(env->base, on_sweep, r);
    evtimer_add(r->poll, &soon);
    evtimer_add(r->sweep, &soon);
    j = xcalloc(1, sizeof(*j));
    j->r = r;
    {
        int sd = open(c->spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        j->queue_dir = sd >= 0 ? openat(sd, "queue", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (sd >= 0)
            close(sd);
    }
    r->jobs++;
    workpool_submit(env->wp, start_work, start_done, j);
    return r;
}

struct quar *quar_runner_index(const struct quar_runner *r)
{
    return r->quar;
}

int quar_runner_dirfd(const struct quar_runner *r)
{
    return r->dirfd;
}

void quar_runner_stop(struct quar_runner *r)
{
    if (r == NULL)
        return;
    r->stopping = true;
    evtimer_del(r->poll);
    evtimer_del(r->sweep);
    if (r->popping) {
        quar_cancel(r->popping);
        r->popping = NULL;
    }
    quar_digest_free(r);
}

void quar_runner_free(struct quar_runner *r)
{
    size_t i;

    if (r == NULL)
        return;
    quar_runner_stop(r);
    event_free(r->poll);
    event_free(r->sweep);
    quar_free(r->quar);
    for (i = 0; i < r->nitems; i++)
        free(r->items[i].domain);
    free(r->items);
    for (i = 0; i < r->ngone; i++)
        free(r->gone[i]);
    free(r->gone);
    close(r->dirfd);
    free(r);
}
