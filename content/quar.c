/*
 * quar.c - the quarantine index in Redis and the API over it (see quar.h): listing with
 * filters, sorting and pages, one entry, release and delete requests handed to the holder's
 * job list, and the holder's own index writes and job pops.
 *
 * Every operation is a struct quar_op with the Redis requests it has in flight; the client
 * keeps them on a list so that quar_free() can drop them. Early answers (bad arguments) go
 * through a zero timer so that no callback runs inside the call that started it.
 */
#include "content/quar.h"

#include "lib/redis.h"
#include "lib/xalloc.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct quar {
    struct event_base *base;
    struct redis *redis;
    char *node;
    struct quar_op *ops;             /* pending operations */
};

enum op_kind { OP_LIST, OP_GET, OP_RELEASE, OP_DELETE, OP_ADD, OP_REMOVE, OP_POP };

struct quar_op;

struct sub {                         /* one request of an operation */
    struct quar_op *op;
    size_t i;
    struct redis_req *req;
};

struct quar_op {
    struct quar *q;
    struct quar_op *prev, *next;
    enum op_kind kind;
    int stage;
    struct event *later;             /* early answer */
    int err;
    char text[160];
    struct sub *subs;                /* requests in flight (list: one per entry) */
    size_t nsubs, pending;
    /* what was asked */
    char id[QUAR_ID_MAX];
    char *owner;
    unsigned flags;
    char *key;                       /* list: the zset read */
    char *reason, *search;
    struct quar_query query;
    /* what came back */
    char **ids;
    size_t nids;
    struct quar_entry *ents;
    bool *have;
    struct quar_entry one;
    union {
        quar_list_fn list;
        quar_get_fn get;
        quar_done_fn done;
        quar_job_fn job;
    } cb;
    void *arg;
};

/* ---- pure helpers ------------------------------------------------------------------------ */

static bool has_prefix_ci(const char *s, const char *p)
{
    return strncasecmp(s, p, strlen(p)) == 0;
}

const char *quar_reason_of(const char *detail, const char *symbols)
{
    const char *d = detail ? detail : "";

    if (has_prefix_ci(d, "virus"))
        return "virus";
    if (has_prefix_ci(d, "blocked file") || has_prefix_ci(d, "file"))
        return "file";
    if (has_prefix_ci(d, "dmarc"))
        return "dmarc";
    if (has_prefix_ci(d, "blacklist") || (symbols && strstr(symbols, "BLACKLIST")))
        return "list";
    if (d[0] == '\0' || has_prefix_ci(d, "spam") || has_prefix_ci(d, "bulk"))
        return "spam";
    return "other";
}

bool quar_id_valid(const char *s)
{
    size_t n = 0;

    if (s == NULL)
        return false;
    for (; s[n]; n++)
        if (!isalnum((unsigned char)s[n]) && s[n] != '.')
            return false;
    return n > 0 && n < QUAR_ID_MAX;
}

void quar_entry_clear(struct quar_entry *e)
{
    free(e->rcpt);
    free(e->sender);
    free(e->from);
    free(e->subject);
    free(e->reason);
    free(e->detail);
    free(e->symbols);
    free(e->node);
    free(e->qid);
    memset(e, 0, sizeof(*e));
}

char *quar_key(const char *prefix, const char *name)
{
    char *esc = redis_key_escape(name), *k = xasprintf("%s{%s}", prefix, esc);
    free(esc);
    return k;
}

static const char *domain_of(const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at ? at + 1 : "";
}

/* Fill e from an HGETALL reply; false when the hash is empty. Strings default to "". */
static bool entry_from_hash(const redisReply *r, const char *id, struct quar_entry *e,
                            bool *has_job)
{
    size_t i;
    char **slot;

    memset(e, 0, sizeof(*e));
    *has_job = false;
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 2)
        return false;
    snprintf(e->id, sizeof(e->id), "%s", id);
    for (i = 0; i + 1 < r->elements; i += 2) {
        const char *k = r->element[i]->str, *v = r->element[i + 1]->str;
        if (k == NULL || v == NULL)
            continue;
        slot = strcmp(k, "rcpt") == 0      ? &e->rcpt
               : strcmp(k, "sender") == 0  ? &e->sender
               : strcmp(k, "from") == 0    ? &e->from
               : strcmp(k, "subject") == 0 ? &e->subject
               : strcmp(k, "reason") == 0  ? &e->reason
               : strcmp(k, "detail") == 0  ? &e->detail
               : strcmp(k, "symbols") == 0 ? &e->symbols
               : strcmp(k, "node") == 0    ? &e->node
               : strcmp(k, "qid") == 0     ? &e->qid
                                           : NULL;
        if (slot != NULL) {
            free(*slot);
            *slot = xstrdup(v);
        } else if (strcmp(k, "score") == 0) {
            e->score = strtod(v, NULL);
        } else if (strcmp(k, "date") == 0) {
            e->date = strtoll(v, NULL, 10);
        } else if (strcmp(k, "size") == 0) {
            e->size = strtoull(v, NULL, 10);
        } else if (strcmp(k, "job") == 0) {
            *has_job = true;
        }
    }
#define DEF(f) if (e->f == NULL) e->f = xstrdup("")
    DEF(rcpt); DEF(sender); DEF(from); DEF(subject); DEF(reason); DEF(detail);
    DEF(symbols); DEF(node); DEF(qid);
#undef DEF
    return true;
}

/* ---- operations ---------------------------------------------------------------------------- */

static struct quar_op *op_new(struct quar *q, enum op_kind kind, void *arg)
{
    struct quar_op *op = xcalloc(1, sizeof(*op));

    op->q = q;
    op->kind = kind;
    op->arg = arg;
    op->subs = xcalloc(1, sizeof(*op->subs));
    op->nsubs = 1;
    op->next = q->ops;
    if (q->ops)
        q->ops->prev = op;
    q->ops = op;
    return op;
}

static void op_free(struct quar_op *op)
{
    size_t i;

    if (op->prev)
        op->prev->next = op->next;
    else
        op->q->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    for (i = 0; i < op->nsubs; i++)
        if (op->subs[i].req)
            redis_cancel(op->subs[i].req);
    free(op->subs);
    if (op->later)
        event_free(op->later);
    for (i = 0; i < op->nids; i++) {
        free(op->ids[i]);
        if (op->ents)
            quar_entry_clear(&op->ents[i]);
    }
    free(op->ids);
    free(op->ents);
    free(op->have);
    quar_entry_clear(&op->one);
    free(op->owner);
    free(op->key);
    free(op->reason);
    free(op->search);
    free(op);
}

void quar_cancel(struct quar_op *op)
{
    if (op != NULL)
        op_free(op);
}

/* Answer the caller of a done-type operation and free the op. */
static void op_done(struct quar_op *op, int err, const char *text)
{
    quar_done_fn cb = op->cb.done;
    void *arg = op->arg;
    char t[sizeof(op->text)];

    snprintf(t, sizeof(t), "%s", text);
    op_free(op);
    if (cb)
        cb(arg, err, t);
}

static void later_cb(evutil_socket_t fd, short what, void *arg)
{
    struct quar_op *op = arg;
    (void)fd;
    (void)what;
    switch (op->kind) {
    case OP_LIST: {
        quar_list_fn cb = op->cb.list;
        void *a = op->arg;
        int err = op->err;
        op_free(op);
        cb(a, err, NULL, 0, 0);
        break;
    }
    case OP_GET: {
        quar_get_fn cb = op->cb.get;
        void *a = op->arg;
        int err = op->err;
        op_free(op);
        cb(a, err, NULL);
        break;
    }
    case OP_POP: {
        quar_job_fn cb = op->cb.job;
        void *a = op->arg;
        int err = op->err;
        op_free(op);
        cb(a, err, NULL);
        break;
    }
    default: {
        char t[sizeof(op->text)];
        snprintf(t, sizeof(t), "%s", op->text);
        op_done(op, op->err, t);
        break;
    }
    }
}

/* Answer err (and text) on the next loop turn. Returns op. */
static struct quar_op *op_later(struct quar_op *op, int err, const char *text)
{
    struct timeval zero = { 0, 0 };

    op->err = err;
    snprintf(op->text, sizeof(op->text), "%s", text ? text : "");
    op->later = evtimer_new(op->q->base, later_cb, op);
    evtimer_add(op->later, &zero);
    return op;
}

static void on_reply(enum redis_result res, const struct redisReply *reply, void *arg);

/* Make room for n request slots; only when none is in flight (their callbacks hold
 * pointers into the array). */
static void op_reserve(struct quar_op *op, size_t n)
{
    assert(op->pending == 0);
    free(op->subs);
    op->subs = xcalloc(n, sizeof(*op->subs));
    op->nsubs = n;
}

/* Send one command as request slot i of op (reserved before). */
static void op_send(struct quar_op *op, size_t i, int argc, const char *const *argv)
{
    assert(i < op->nsubs);
    op->subs[i].op = op;
    op->subs[i].i = i;
    op->pending++;
    op->subs[i].req = redis_command_argv(op->q->redis, argc, argv, NULL, on_reply, &op->subs[i]);
}

static int res_err(enum redis_result res)
{
    return res == REDIS_RESULT_OK ? 0 : EIO;
}

/* ---- listing ------------------------------------------------------------------------------- */

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle), i;

    if (n == 0)
        return true;
    for (i = 0; hay[i]; i++)
        if (strncasecmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

static enum quar_sort sort_by;
static bool sort_asc;

static int cmp_entry(const void *pa, const void *pb)
{
    const struct quar_entry *a = *(const struct quar_entry *const *)pa;
    const struct quar_entry *b = *(const struct quar_entry *const *)pb;
    int c = 0;

    switch (sort_by) {
    case QUAR_SORT_SCORE:
        c = a->score < b->score ? -1 : a->score > b->score;
        break;
    case QUAR_SORT_SENDER:
        c = strcasecmp(a->sender, b->sender);
        break;
    case QUAR_SORT_SUBJECT:
        c = strcasecmp(a->subject, b->subject);
        break;
    case QUAR_SORT_DATE:
        break;
    }
    if (c == 0)
        c = a->date < b->date ? -1 : a->date > b->date;
    if (c == 0)
        c = strcmp(a->id, b->id);
    return sort_asc ? c : -c;
}

static void list_finish(struct quar_op *op, int err)
{
    const struct quar_query *qq = &op->query;
    struct quar_entry **m = NULL, *page = NULL;
    size_t i, n = 0, from, count;
    quar_list_fn cb = op->cb.list;
    void *arg = op->arg;

    if (err) {
        op_free(op);
        cb(arg, err, NULL, 0, 0);
        return;
    }
    m = xcalloc(op->nids ? op->nids : 1, sizeof(*m));
    for (i = 0; i < op->nids; i++) {
        struct quar_entry *e = &op->ents[i];
        if (!op->have[i])
            continue;
        if (op->reason && strcasecmp(e->reason, op->reason) != 0)
            continue;
        if (qq->since && e->date <= qq->since)
            continue;
        if (op->search && !contains_ci(e->sender, op->search) &&
            !contains_ci(e->from, op->search) && !contains_ci(e->subject, op->search))
            continue;
        m[n++] = e;
    }
    sort_by = qq->sort;
    sort_asc = qq->ascending;
    if (n > 1)
        qsort(m, n, sizeof(*m), cmp_entry);
    from = qq->offset < n ? qq->offset : n;
    count = n - from;
    if (qq->limit && count > qq->limit)
        count = qq->limit;
    if (count) {
        page = xcalloc(count, sizeof(*page));
        for (i = 0; i < count; i++)
            page[i] = *m[from + i];    /* shallow: the strings stay owned by op */
    }
    cb(arg, 0, page, count, n);
    free(page);
    free(m);
    op_free(op);
}

static void list_on_range(struct quar_op *op, const redisReply *r)
{
    size_t i;

    op->nids = r->elements;
    op->ids = xcalloc(op->nids ? op->nids : 1, sizeof(char *));
    op->ents = xcalloc(op->nids ? op->nids : 1, sizeof(*op->ents));
    op->have = xcalloc(op->nids ? op->nids : 1, sizeof(bool));
    for (i = 0; i < op->nids; i++)
        op->ids[i] = xstrdup(r->element[i]->str ? r->element[i]->str : "");
    op->stage = 1;
    if (op->nids == 0) {
        list_finish(op, 0);
        return;
    }
    op_reserve(op, op->nids);
    for (i = 0; i < op->nids; i++) {
        char *k = xasprintf("pt:q:{%s}", op->ids[i]);
        const char *argv[] = { "HGETALL", k };
        op_send(op, i, 2, argv);
        free(k);
    }
}

static void list_on_entry(struct quar_op *op, size_t i, const redisReply *r)
{
    bool job;

    if (entry_from_hash(r, op->ids[i], &op->ents[i], &job) && !job) {
        op->have[i] = true;
    } else if (!job) {
        /* expired hash: drop the stale member (fire and forget) */
        const char *argv[] = { "ZREM", op->key, op->ids[i] };
        quar_entry_clear(&op->ents[i]);
        redis_command_argv(op->q->redis, 3, argv, NULL, redis_reply_ignore, NULL);
    } else {
        quar_entry_clear(&op->ents[i]);
    }
}

struct quar_op *quar_list(struct quar *q, const struct quar_query *query, quar_list_fn cb,
                          void *arg)
{
    struct quar_op *op = op_new(q, OP_LIST, arg);
    char stop[24];
    const char *argv[4];

    op->cb.list = cb;
    op->query = *query;
    op->query.rcpt = op->query.domain = op->query.reason = op->query.search = NULL;
    if (query->reason && query->reason[0])
        op->reason = xstrdup(query->reason);
    if (query->search && query->search[0])
        op->search = xstrdup(query->search);
    if (query->rcpt && query->rcpt[0])
        op->key = quar_key("pt:qr:", query->rcpt);
    else if (query->domain && query->domain[0])
        op->key = quar_key("pt:qd:", query->domain);
    else
        op->key = xstrdup("pt:qa:{all}");
    snprintf(stop, sizeof(stop), "%d", QUAR_LIST_SCAN_MAX - 1);
    argv[0] = "ZREVRANGE";
    argv[1] = op->key;
    argv[2] = "0";
    argv[3] = stop;
    op_send(op, 0, 4, argv);
    return op;
}

/* ---- one entry ----------------------------------------------------------------------------- */

/* Ask for entry id's hash (a valid id): the first step of get, release and delete. */
static struct quar_op *op_fetch_entry(struct quar_op *op, const char *id)
{
    char *k = xasprintf("pt:q:{%s}", id);
    const char *argv[] = { "HGETALL", k };

    snprintf(op->id, sizeof(op->id), "%s", id);
    op_send(op, 0, 2, argv);
    free(k);
    return op;
}

struct quar_op *quar_get(struct quar *q, const char *id, quar_get_fn cb, void *arg)
{
    struct quar_op *op = op_new(q, OP_GET, arg);

    op->cb.get = cb;
    if (!quar_id_valid(id))
        return op_later(op, ENOENT, "no such entry");
    return op_fetch_entry(op, id);
}

static void get_on_reply(struct quar_op *op, int err, const redisReply *r)
{
    quar_get_fn cb = op->cb.get;
    void *arg = op->arg;
    bool job;

    if (err == 0 && (!entry_from_hash(r, op->id, &op->one, &job) || job))
        err = ENOENT;
    if (err) {
        op_free(op);
        cb(arg, err, NULL);
        return;
    }
    cb(arg, 0, &op->one);
    op_free(op);
}

/* ---- release and delete -------------------------------------------------------------------- */

static bool owner_matches(const char *owner, const char *rcpt)
{
    if (owner == NULL)
        return true;
    if (owner[0] == '@')
        return strcasecmp(domain_of(rcpt), owner + 1) == 0;
    return strcasecmp(owner, rcpt) == 0;
}

static struct quar_op *act_start(struct quar *q, enum op_kind kind, const char *id,
                                 const char *owner, unsigned flags, quar_done_fn cb,
                                 void *arg)
{
    struct quar_op *op = op_new(q, kind, arg);

    op->cb.done = cb;
    op->flags = flags;
    op->owner = owner ? xstrdup(owner) : NULL;
    if (!quar_id_valid(id))
        return op_later(op, ENOENT, "no such quarantine entry");
    return op_fetch_entry(op, id);
}

struct quar_op *quar_release(struct quar *q, const char *id, const char *owner,
                             unsigned flags, quar_done_fn cb, void *arg)
{
    return act_start(q, OP_RELEASE, id, owner, flags, cb, arg);
}

struct quar_op *quar_delete(struct quar *q, const char *id, const char *owner,
                            quar_done_fn cb, void *arg)
{
    return act_start(q, OP_DELETE, id, owner, 0, cb, arg);
}

struct quar_op *quar_release_token(struct quar *q, const void *key, size_t keylen,
                                   const char *token, long long now, quar_done_fn cb,
                                   void *arg)
{
    struct quar_token t;
    enum quar_token_status st = quar_token_verify(key, keylen, token, now, &t);
    struct quar_op *op;

    if (st == QUAR_TOKEN_OK)
        return act_start(q, OP_RELEASE, t.entry, t.rcpt,
                         t.action == QUAR_ACT_RELEASE_LEARN ? QUAR_F_LEARN : 0, cb, arg);
    op = op_new(q, OP_RELEASE, arg);
    op->cb.done = cb;
    if (st == QUAR_TOKEN_EXPIRED)
        return op_later(op, ETIMEDOUT, "this link has expired");
    return op_later(op, EINVAL, "invalid link");
}

/* Stage 0: the entry's hash came back. Check, then claim it with HSETNX job. */
static void act_on_entry(struct quar_op *op, const redisReply *r)
{
    bool job;
    char *k, val[64];

    if (!entry_from_hash(r, op->id, &op->one, &job)) {
        /* gone: released or deleted already (the holder leaves pt:qres for a while)? */
        op->stage = 3;
        k = xasprintf("pt:qres:{%s}", op->id);
        {
            const char *argv[] = { "GET", k };
            op_send(op, 0, 2, argv);
        }
        free(k);
        return;
    }
    if (!owner_matches(op->owner, op->one.rcpt)) {
        /* the same answer as for a missing entry would leak less, but the user's own
           links never get here; an admin sees why */
        op_done(op, EPERM, "this entry belongs to another recipient");
        return;
    }
    if (job) {
        op_done(op, EALREADY, op->kind == OP_RELEASE ? "already released or deleted"
                                                     : "already deleted or released");
        return;
    }
    if (op->kind == OP_RELEASE && strcmp(op->one.reason, "virus") == 0 &&
        !(op->flags & QUAR_F_ADMIN)) {
        op_done(op, EPERM, "a message with a virus can be released only by an admin");
        return;
    }
    op->stage = 1;
    k = xasprintf("pt:q:{%s}", op->id);
    snprintf(val, sizeof(val), "%s %u", op->kind == OP_RELEASE ? "release" : "delete",
             op->flags);
    {
        const char *argv[] = { "HSETNX", k, "job", val };
        op_send(op, 0, 4, argv);
    }
    free(k);
}

/* Stage 1: claimed (or not). Hand the job to the holder. */
static void act_on_claim(struct quar_op *op, const redisReply *r)
{
    char *k, job[QUAR_ID_MAX + 32];

    if (r->type != REDIS_REPLY_INTEGER) {
        op_done(op, EIO, "the quarantine index is unavailable");
        return;
    }
    if (r->integer == 0) {
        op_done(op, EALREADY, "already released or deleted");
        return;
    }
    op->stage = 2;
    k = quar_key("pt:qj:", op->one.node);
    if (op->kind == OP_RELEASE)
        snprintf(job, sizeof(job), "release %s %u", op->id,
                 op->flags & (QUAR_F_LEARN | QUAR_F_ADMIN));
    else
        snprintf(job, sizeof(job), "delete %s", op->id);
    {
        const char *argv[] = { "RPUSH", k, job };
        op_send(op, 0, 3, argv);
    }
    free(k);
}

/* Stage 2: the job is queued: the entry leaves the listings now. */
static void act_on_queued(struct quar_op *op, int err)
{
    char *keys[3], text[160];
    size_t i;

    if (err) {
        /* give the claim back so that the user can try again */
        char *k = xasprintf("pt:q:{%s}", op->id);
        const char *argv[] = { "HDEL", k, "job" };
        redis_command_argv(op->q->redis, 3, argv, NULL, redis_reply_ignore, NULL);
        free(k);
        op_done(op, EIO, "the quarantine index is unavailable");
        return;
    }
    keys[0] = quar_key("pt:qr:", op->one.rcpt);
    keys[1] = quar_key("pt:qd:", domain_of(op->one.rcpt));
    keys[2] = xstrdup("pt:qa:{all}");
    for (i = 0; i < 3; i++) {
        const char *argv[] = { "ZREM", keys[i], op->id };
        redis_command_argv(op->q->redis, 3, argv, NULL, redis_reply_ignore, NULL);
        free(keys[i]);
    }
    snprintf(text, sizeof(text), "%s (on node %s)",
             op->kind == OP_RELEASE ? "released" : "deleted", op->one.node);
    op_done(op, 0, text);
}

/* ---- the holder's side ----------------------------------------------------------------------- */

struct quar_op *quar_index_add(struct quar *q, const struct quar_entry *e, long long ttl_s,
                               quar_done_fn cb, void *arg)
{
    struct quar_op *op = op_new(q, OP_ADD, arg);
    char *k = xasprintf("pt:q:{%s}", e->id), score[32], date[24], size[24], ttl[24];
    char *zk[3];
    size_t i;

    op->cb.done = cb;
    snprintf(op->id, sizeof(op->id), "%s", e->id);
    snprintf(score, sizeof(score), "%.2f", e->score);
    snprintf(date, sizeof(date), "%lld", e->date);
    snprintf(size, sizeof(size), "%llu", e->size);
    snprintf(ttl, sizeof(ttl), "%lld", ttl_s > 0 ? ttl_s : 1);
    op_reserve(op, 5);
    {
        const char *argv[] = { "HSET", k, "rcpt", e->rcpt, "sender", e->sender, "from",
                               e->from, "subject", e->subject, "reason", e->reason,
                               "detail", e->detail, "symbols", e->symbols, "node", q->node,
                               "qid", e->qid, "score", score, "date", date, "size", size };
        op_send(op, 0, (int)(sizeof(argv) / sizeof(argv[0])), argv);
    }
    {
        const char *argv[] = { "EXPIRE", k, ttl };
        op_send(op, 1, 3, argv);
    }
    zk[0] = quar_key("pt:qr:", e->rcpt);
    zk[1] = quar_key("pt:qd:", domain_of(e->rcpt));
    zk[2] = xstrdup("pt:qa:{all}");
    for (i = 0; i < 3; i++) {
        const char *argv[] = { "ZADD", zk[i], date, e->id };
        op_send(op, 2 + i, 4, argv);
        free(zk[i]);
    }
    free(k);
    return op;
}

struct quar_op *quar_index_remove(struct quar *q, const char *id, const char *rcpt,
                                  quar_done_fn cb, void *arg)
{
    struct quar_op *op = op_new(q, OP_REMOVE, arg);
    char *keys[4];
    size_t i;

    op->cb.done = cb;
    snprintf(op->id, sizeof(op->id), "%s", id);
    keys[0] = xasprintf("pt:q:{%s}", id);
    keys[1] = quar_key("pt:qr:", rcpt);
    keys[2] = quar_key("pt:qd:", domain_of(rcpt));
    keys[3] = xstrdup("pt:qa:{all}");
    op_reserve(op, 4);
    {
        const char *argv[] = { "DEL", keys[0] };
        op_send(op, 0, 2, argv);
    }
    for (i = 1; i < 4; i++) {
        const char *argv[] = { "ZREM", keys[i], id };
        op_send(op, i, 3, argv);
    }
    for (i = 0; i < 4; i++)
        free(keys[i]);
    return op;
}

struct quar_op *quar_jobs_pop(struct quar *q, quar_job_fn cb, void *arg)
{
    struct quar_op *op = op_new(q, OP_POP, arg);
    char *k = quar_key("pt:qj:", q->node);
    const char *argv[] = { "LPOP", k };

    op->cb.job = cb;
    op_send(op, 0, 2, argv);
    free(k);
    return op;
}

/* ---- replies ------------------------------------------------------------------------------- */

static void on_reply(enum redis_result res, const struct redisReply *reply, void *arg)
{
    struct sub *s = arg;
    struct quar_op *op = s->op;
    int err = res_err(res);

    s->req = NULL;
    op->pending--;
    switch (op->kind) {
    case OP_LIST:
        if (op->stage == 0) {
            if (err || reply->type != REDIS_REPLY_ARRAY)
                list_finish(op, EIO);
            else
                list_on_range(op, reply);
            return;
        }
        if (err)
            op->err = EIO;
        else
            list_on_entry(op, s->i, reply);
        if (op->pending == 0)
            list_finish(op, op->err);
        return;
    case OP_GET:
        get_on_reply(op, err, reply);
        return;
    case OP_RELEASE:
    case OP_DELETE:
        if (err && op->stage != 2) {
            op_done(op, EIO, "the quarantine index is unavailable");
            return;
        }
        if (op->stage == 0)
            act_on_entry(op, reply);
        else if (op->stage == 1)
            act_on_claim(op, reply);
        else if (op->stage == 2)
            act_on_queued(op, err);
        else if (!err && reply->type == REDIS_REPLY_STRING)
            op_done(op, EALREADY, strncmp(reply->str, "released", 8) == 0
                                      ? "already released" : "already deleted");
        else
            op_done(op, ENOENT, "no such quarantine entry");
        return;
    case OP_ADD:
    case OP_REMOVE:
        if (err || (reply && reply->type == REDIS_REPLY_ERROR))
            op->err = EIO;
        if (op->pending == 0)
            op_done(op, op->err, op->err ? "the quarantine index is unavailable" : "ok");
        return;
    case OP_POP: {
        quar_job_fn cb = op->cb.job;
        void *a = op->arg;
        char *job = NULL;
        if (!err && reply->type == REDIS_REPLY_STRING)
            job = xstrdup(reply->str);
        else if (!err && reply->type != REDIS_REPLY_NIL)
            err = EIO;
        op_free(op);
        cb(a, err, job);
        free(job);
        return;
    }
    }
}

/* ---- the client ------------------------------------------------------------------------------ */

struct quar *quar_new(struct event_base *base, struct redis *redis, const char *node)
{
    struct quar *q = xcalloc(1, sizeof(*q));

    q->base = base;
    q->redis = redis;
    q->node = xstrdup(node);
    return q;
}

void quar_free(struct quar *q)
{
    if (q == NULL)
        return;
    while (q->ops)
        op_free(q->ops);
    free(q->node);
    free(q);
}

const char *quar_node(const struct quar *q)
{
    return q->node;
}
