/*
 * spam_learner.c - autolearned messages merged into the model in Redis, asynchronously
 * (spam_learner.h).
 */
#include "content/spam_learner.h"

#include "content/spam_model.h"
#include "content/spam_store.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/redis.h"
#include "lib/workpool.h"
#include "lib/xalloc.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAS_ROUNDS 10      /* a shard another writer keeps changing: give up after this */

/* KEYS[1] shard, ARGV[1] SHA-1 (hex) of the blob the merge started from, ARGV[2] the
 * merged blob ("" deletes). 1: written; 0: the shard changed meanwhile. */
static const char cas_source[] =
    "local cur = redis.call('GET', KEYS[1]) or ''\n"
    "if redis.sha1hex(cur) ~= ARGV[1] then return 0 end\n"
    "if #ARGV[2] == 0 then redis.call('DEL', KEYS[1])\n"
    "else redis.call('SET', KEYS[1], ARGV[2]) end\n"
    "return 1\n";

/* KEYS[1] meta, ARGV nspam, nham (to add), now. Counts never go below 0; bumps ver. */
static const char meta_source[] =
    "local function add(f, d)\n"
    "  if redis.call('HINCRBY', KEYS[1], f, d) < 0 then redis.call('HSET', KEYS[1], f, 0) end\n"
    "end\n"
    "add('nspam', tonumber(ARGV[1]))\n"
    "add('nham', tonumber(ARGV[2]))\n"
    "redis.call('HSET', KEYS[1], 'updated', ARGV[3])\n"
    "return redis.call('HINCRBY', KEYS[1], 'ver', 1)\n";

struct item {                      /* one message of a batch, for its log line */
    char qid[32];
    bool spam;
    double score;
};

struct waiting {                   /* a message whose duplicate check is in flight */
    struct spam_learner *l;
    struct waiting *next, *prev;
    struct redis_req *req;
    struct item it;
    uint64_t *feat;
    size_t n;
};

struct batch;

struct shard_job {
    struct batch *b;
    struct redis_req *req;         /* its compare-and-set in flight */
    unsigned shard;
    char *old;                     /* the blob read (copy), may be NULL */
    size_t oldlen;
    char sha[41];                  /* of old */
    char *blob;                    /* merged */
    size_t len;
    bool done;                     /* written */
};

struct batch {
    struct spam_learner *l;        /* NULL once the learner is gone */
    struct spam_model delta;
    struct item items[SPAM_LEARN_BATCH];
    size_t nitems;
    /* flushing */
    struct spam_entry *d;          /* the delta's entries sorted by key */
    size_t nd;
    size_t from[SPAM_SHARDS + 1];  /* entries of shard s: d[from[s] .. from[s+1]) */
    struct shard_job *jobs;        /* the shards of this round */
    size_t njobs;
    unsigned long long cap, expire;
    size_t replies;                /* CAS answers of this round */
    int round;
    bool failed;
    const char *why;
    struct redis_req *req;         /* the one request of a phase in flight, or NULL */
};

struct spam_learner {
    struct event_base *base;
    struct redis *redis;
    struct workpool *pool;
    struct redis_script *meta;
    struct waiting *waiting;
    unsigned nwaiting;
    struct batch *pending;         /* filling */
    struct batch *flushing;        /* being merged */
    bool in_worker;                /* flushing is on the pool */
    struct event *timer;           /* the next flush */
    long long every_ms;            /* between flushes, at least */
    struct timespec last_flush;
    bool flushed_once;
    double tokens;                 /* the rate's bucket: rate per minute, up to rate */
    bool tokens_started;
    struct timespec tokens_at;
};

static double mono_s(const struct timespec *t)
{
    return (double)t->tv_sec + t->tv_nsec / 1e9;
}

void spam_learner_skip(const char *qid, const char *reason)
{
    metrics_inc1(M_SPAM_AUTOLEARN_SKIPPED, reason);
    log_info("spam", "%s: autolearn: not learned: %s", qid ? qid : "-", reason);
}

static void skip_batch(struct batch *b, const char *reason)
{
    size_t i;

    for (i = 0; i < b->nitems; i++)
        metrics_inc1(M_SPAM_AUTOLEARN_SKIPPED, reason);
    if (b->nitems > 0)
        log_warn("spam", "autolearn: %zu message%s not learned: %s", b->nitems,
                 b->nitems == 1 ? "" : "s", b->why ? b->why : reason);
}

static void batch_free(struct batch *b)
{
    size_t i;

    if (b == NULL)
        return;
    spam_model_clear(&b->delta);
    free(b->d);
    for (i = 0; i < b->njobs; i++) {
        free(b->jobs[i].old);
        free(b->jobs[i].blob);
    }
    free(b->jobs);
    free(b);
}

static struct batch *batch_new(struct spam_learner *l)
{
    struct batch *b = xcalloc(1, sizeof(*b));

    b->l = l;
    spam_model_init(&b->delta, 4096);
    return b;
}

/* ---- the flush --------------------------------------------------------------------------- */

static void flush_start(struct spam_learner *l);
static void round_read(struct batch *b);

static void flush_end(struct batch *b)
{
    struct spam_learner *l = b->l;
    size_t i;

    if (b->failed)
        skip_batch(b, "redis");
    else
        for (i = 0; i < b->nitems; i++) {
            metrics_inc1(M_SPAM_AUTOLEARN, b->items[i].spam ? "spam" : "ham");
            log_info("spam", "%s: autolearn: learned as %s (score %.1f)", b->items[i].qid,
                     b->items[i].spam ? "spam" : "ham", b->items[i].score);
        }
    batch_free(b);
    if (l == NULL)
        return;
    l->flushing = NULL;
    clock_gettime(CLOCK_MONOTONIC, &l->last_flush);
    if (l->pending != NULL)
        flush_start(l);
}

static void fail(struct batch *b, const char *why)
{
    if (!b->failed) {
        b->failed = true;
        b->why = why;
    }
}

static void on_meta(enum redis_result res, const struct redisReply *r, void *arg)
{
    struct batch *b = arg;

    b->req = NULL;
    if (res != REDIS_RESULT_OK || r->type != REDIS_REPLY_INTEGER)
        fail(b, res == REDIS_RESULT_REPLY_ERROR ? r->str : "redis unavailable");
    flush_end(b);
}

static void round_done(struct batch *b)
{
    struct spam_learner *l = b->l;
    size_t i, left = 0;
    char ns[24], nh[24], now[24];
    const char *keys[1] = { SPAM_KEY_META };
    const char *args[3] = { ns, nh, now };

    b->req = NULL;
    if (b->failed || l == NULL) {
        fail(b, "learner stopped");
        flush_end(b);
        return;
    }
    for (i = 0; i < b->njobs; i++)
        if (!b->jobs[i].done)
            left++;
    if (left > 0) {
        log_debug("spam", "autolearn: %zu shard%s changed meanwhile: merged again", left,
                  left == 1 ? "" : "s");
        if (++b->round >= CAS_ROUNDS) {
            fail(b, "shards changed by other writers too often");
            flush_end(b);
            return;
        }
        round_read(b);      /* again, for the shards that changed */
        return;
    }
    snprintf(ns, sizeof(ns), "%llu", (unsigned long long)b->delta.nspam);
    snprintf(nh, sizeof(nh), "%llu", (unsigned long long)b->delta.nham);
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    b->req = redis_script_call(l->redis, l->meta, 1, keys, 3, args, on_meta, b);
}

static void on_cas(enum redis_result res, const struct redisReply *r, void *arg)
{
    struct shard_job *j = arg;
    struct batch *b = j->b;

    j->req = NULL;
    if (res == REDIS_RESULT_OK && r->type == REDIS_REPLY_INTEGER)
        j->done = r->integer == 1;      /* 0: changed meanwhile, merged again next round */
    else
        fail(b, res == REDIS_RESULT_REPLY_ERROR ? r->str : "redis unavailable");
    if (++b->replies == b->njobs)
        round_done(b);
}

static void merge_done(void *arg)
{
    struct batch *b = arg;
    struct spam_learner *l = b->l;
    size_t i;

    if (l != NULL)
        l->in_worker = false;
    if (l == NULL || b->failed) {
        fail(b, "learner stopped");
        flush_end(b);
        return;
    }
    b->replies = 0;
    for (i = 0; i < b->njobs; i++) {
        struct shard_job *j = &b->jobs[i];
        char key[64];
        const char *argv[6];
        size_t argvlen[6];
        if (j->done) {
            b->replies++;
            continue;
        }
        snprintf(key, sizeof(key), SPAM_KEY_SHARD_FMT, j->shard);
        /* EVAL with the source (a few hundred bytes next to the blob): the blob is binary,
         * which redis_script_call's C strings cannot carry */
        argv[0] = "EVAL";
        argv[1] = cas_source;
        argv[2] = "1";
        argv[3] = key;
        argv[4] = j->sha;
        argv[5] = j->blob;
        for (int k = 0; k < 5; k++)
            argvlen[k] = strlen(argv[k]);
        argvlen[5] = j->len;
        j->req = redis_command_argv(l->redis, 6, argv, argvlen, on_cas, j);
    }
    if (b->replies == b->njobs)
        round_done(b);
}

static void sha1_hex(const char *p, size_t n, char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0, i;

    EVP_Digest(p, n, md, &mdlen, EVP_sha1(), NULL);
    for (i = 0; i < mdlen && i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[40] = '\0';
}

/* Worker: merge each shard of the round. */
static void merge_work(void *arg)
{
    struct batch *b = arg;
    uint32_t today = (uint32_t)(time(NULL) / 86400);
    size_t i;

    for (i = 0; i < b->njobs; i++) {
        struct shard_job *j = &b->jobs[i];
        size_t s = j->shard;
        if (j->done)
            continue;
        free(j->blob);
        j->blob = spam_shard_merge(j->old ? j->old : "", j->oldlen, b->d + b->from[s],
                                   b->from[s + 1] - b->from[s], +1, today,
                                   (uint32_t)b->expire,
                                   (size_t)(b->cap + SPAM_SHARDS - 1) / SPAM_SHARDS, &j->len);
        sha1_hex(j->old ? j->old : "", j->oldlen, j->sha);
        if (j->blob == NULL)
            b->failed = true, b->why = "out of memory";
    }
}

static void on_shards(enum redis_result res, const struct redisReply *r, void *arg)
{
    struct batch *b = arg;
    struct spam_learner *l = b->l;
    size_t i, k = 0;

    b->req = NULL;
    if (res != REDIS_RESULT_OK || r->type != REDIS_REPLY_ARRAY) {
        fail(b, res == REDIS_RESULT_REPLY_ERROR ? r->str : "redis unavailable");
        flush_end(b);
        return;
    }
    for (i = 0; i < b->njobs; i++) {
        struct shard_job *j = &b->jobs[i];
        const struct redisReply *e;
        if (j->done)
            continue;
        if (k >= r->elements) {
            fail(b, "bad reply");
            break;
        }
        e = r->element[k++];
        free(j->old);
        j->old = NULL;
        j->oldlen = 0;
        if (e->type == REDIS_REPLY_STRING && e->len > 0) {
            j->old = xmalloc(e->len);
            memcpy(j->old, e->str, e->len);
            j->oldlen = e->len;
        }
    }
    if (b->failed) {
        flush_end(b);
        return;
    }
    l->in_worker = true;
    if (l->pool)
        workpool_submit(l->pool, merge_work, merge_done, b);
    else {
        merge_work(b);
        merge_done(b);
    }
}

/* Read the shards of this round that are not written yet. */
static void round_read(struct batch *b)
{
    const char **argv = xcalloc(b->njobs + 1, sizeof(*argv));
    char (*keys)[32] = xcalloc(b->njobs, sizeof(*keys));
    size_t i;
    int argc = 1;

    argv[0] = "MGET";
    for (i = 0; i < b->njobs; i++)
        if (!b->jobs[i].done) {
            snprintf(keys[i], sizeof(keys[i]), SPAM_KEY_SHARD_FMT, b->jobs[i].shard);
            argv[argc++] = keys[i];
        }
    b->req = redis_command_argv(b->l->redis, argc, argv, NULL, on_shards, b);
    free(argv);
    free(keys);
}

static unsigned long long reply_ull(const struct redisReply *r, size_t i, bool *present)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
        r->element[i]->type != REDIS_REPLY_STRING) {
        if (present)
            *present = false;
        return 0;
    }
    if (present)
        *present = true;
    return strtoull(r->element[i]->str, NULL, 10);
}

static int cmp_key(const void *a, const void *b)
{
    uint64_t x = ((const struct spam_entry *)a)->key, y = ((const struct spam_entry *)b)->key;
    return x < y ? -1 : x > y;
}

static void on_bounds(enum redis_result res, const struct redisReply *r, void *arg)
{
    struct batch *b = arg;
    bool has_expire;
    size_t i, s;

    b->req = NULL;
    if (res != REDIS_RESULT_OK || r->type != REDIS_REPLY_ARRAY) {
        fail(b, res == REDIS_RESULT_REPLY_ERROR ? r->str : "redis unavailable");
        flush_end(b);
        return;
    }
    b->cap = reply_ull(r, 0, NULL);
    if (b->cap == 0)
        b->cap = SPAM_DEFAULT_CAP;
    b->expire = reply_ull(r, 1, &has_expire);
    if (!has_expire)
        b->expire = SPAM_DEFAULT_EXPIRE_DAYS;
    /* the delta's entries, sorted: each shard is one run of them */
    b->d = xmalloc((b->delta.used + 1) * sizeof(*b->d));
    for (i = 0; i < b->delta.cap; i++)
        if (b->delta.tab[i].key != 0)
            b->d[b->nd++] = b->delta.tab[i];
    qsort(b->d, b->nd, sizeof(*b->d), cmp_key);
    b->jobs = xcalloc(SPAM_SHARDS, sizeof(*b->jobs));
    for (s = 0, i = 0; s < SPAM_SHARDS; s++) {
        b->from[s] = i;
        while (i < b->nd && spam_shard_of(b->d[i].key) == s)
            i++;
        if (i > b->from[s]) {
            b->jobs[b->njobs].b = b;
            b->jobs[b->njobs++].shard = (unsigned)s;
        }
    }
    b->from[SPAM_SHARDS] = i;
    if (b->njobs == 0) {
        round_done(b);
        return;
    }
    round_read(b);
}

/* Start the flush of the pending batch now (the timer fired). */
static void flush_now(struct spam_learner *l)
{
    static const char *const argv[] = { "HMGET", SPAM_KEY_META, "cap", "expire" };
    struct batch *b;

    if (l->flushing != NULL || l->pending == NULL)
        return;
    clock_gettime(CLOCK_MONOTONIC, &l->last_flush);
    l->flushed_once = true;
    b = l->pending;
    l->pending = NULL;
    l->flushing = b;
    b->req = redis_command_argv(l->redis, 4, argv, NULL, on_bounds, b);
}

/* Flush the pending batch when the interval since the last flush is over (at the
 * earliest on the next loop turn, so that what arrives together is merged together). */
static void flush_start(struct spam_learner *l)
{
    struct timespec now;
    struct timeval tv = { 0, 0 };
    double wait = 0;

    if (l->flushing != NULL || l->pending == NULL || evtimer_pending(l->timer, NULL))
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (l->flushed_once)
        wait = l->every_ms / 1000.0 - (mono_s(&now) - mono_s(&l->last_flush));
    if (wait > 0) {
        tv.tv_sec = (time_t)wait;
        tv.tv_usec = (suseconds_t)((wait - (double)tv.tv_sec) * 1e6);
    }
    evtimer_add(l->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush_now(arg);
}

/* ---- adding ---------------------------------------------------------------------------- */

static void waiting_unlink(struct spam_learner *l, struct waiting *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        l->waiting = w->next;
    if (w->next)
        w->next->prev = w->prev;
    l->nwaiting--;
}

static void on_seen(enum redis_result res, const struct redisReply *r, void *arg)
{
    struct waiting *w = arg;
    struct spam_learner *l = w->l;
    struct spam_features f;

    w->req = NULL;
    waiting_unlink(l, w);
    if (res != REDIS_RESULT_OK) {
        spam_learner_skip(w->it.qid, "redis");
    } else if (r->type == REDIS_REPLY_NIL) {
        spam_learner_skip(w->it.qid, "duplicate");
        l->tokens += 1;          /* nothing was learned: give the token back */
    } else if (l->pending != NULL && l->pending->nitems >= SPAM_LEARN_BATCH) {
        spam_learner_skip(w->it.qid, "queue_full");
    } else {
        if (l->pending == NULL)
            l->pending = batch_new(l);
        f.v = w->feat;
        f.n = f.cap = w->n;
        spam_nb_learn(&l->pending->delta, &f, w->it.spam, +1,
                      (uint32_t)(time(NULL) / 86400));
        l->pending->items[l->pending->nitems++] = w->it;
        flush_start(l);
    }
    free(w->feat);
    free(w);
}

void spam_learner_add(struct spam_learner *l, const char *qid, bool spam, double score,
                      const char *digest, uint64_t *feat, size_t n, long long rate)
{
    struct timespec now;
    struct waiting *w;
    char key[128];
    const char *argv[6];
    char ttl[24];

    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!l->tokens_started) {          /* the bucket starts full */
        l->tokens_started = true;
        l->tokens = (double)rate;
    }
    l->tokens += (mono_s(&now) - mono_s(&l->tokens_at)) * (double)rate / 60.0;
    l->tokens_at = now;
    if (l->tokens > (double)rate)
        l->tokens = (double)rate;
    if (redis_state(l->redis) != REDIS_STATE_UP) {
        spam_learner_skip(qid, "redis");
        free(feat);
        return;
    }
    if (l->tokens < 1.0) {
        spam_learner_skip(qid, "rate");
        free(feat);
        return;
    }
    if (l->nwaiting >= SPAM_LEARN_WAITING) {
        spam_learner_skip(qid, "queue_full");
        free(feat);
        return;
    }
    l->tokens -= 1.0;
    w = xcalloc(1, sizeof(*w));
    w->l = l;
    snprintf(w->it.qid, sizeof(w->it.qid), "%s", qid ? qid : "-");
    w->it.spam = spam;
    w->it.score = score;
    w->feat = feat;
    w->n = n;
    w->next = l->waiting;
    if (l->waiting)
        l->waiting->prev = w;
    l->waiting = w;
    l->nwaiting++;
    snprintf(key, sizeof(key), SPAM_KEY_AUTOLEARNED "%s", digest);
    snprintf(ttl, sizeof(ttl), "%d", SPAM_LEARN_SEEN_TTL);
    argv[0] = "SET";
    argv[1] = key;
    argv[2] = spam ? "spam" : "ham";
    argv[3] = "NX";
    argv[4] = "EX";
    argv[5] = ttl;
    w->req = redis_command_argv(l->redis, 6, argv, NULL, on_seen, w);
}

unsigned spam_learner_busy(const struct spam_learner *l)
{
    return l->nwaiting + (l->pending ? (unsigned)l->pending->nitems : 0) +
           (l->flushing ? (unsigned)l->flushing->nitems : 0);
}

struct spam_learner *spam_learner_new(struct event_base *base, struct redis *redis,
                                      struct workpool *pool, long long every_ms)
{
    struct spam_learner *l = xcalloc(1, sizeof(*l));

    l->every_ms = every_ms;
    l->base = base;
    l->redis = redis;
    l->pool = pool;
    l->meta = redis_script_new(redis, meta_source);
    l->timer = evtimer_new(base, on_timer, l);
    clock_gettime(CLOCK_MONOTONIC, &l->tokens_at);
    return l;
}

void spam_learner_free(struct spam_learner *l)
{
    struct waiting *w, *next;

    if (l == NULL)
        return;
    for (w = l->waiting; w != NULL; w = next) {
        next = w->next;
        redis_cancel(w->req);
        spam_learner_skip(w->it.qid, "redis");
        free(w->feat);
        free(w);
    }
    if (l->pending) {
        l->pending->why = "shutting down";
        skip_batch(l->pending, "redis");
        batch_free(l->pending);
    }
    if (l->flushing) {
        struct batch *b = l->flushing;
        size_t i;
        if (b->req)
            redis_cancel(b->req);
        for (i = 0; i < b->njobs; i++)
            if (b->jobs[i].req)
                redis_cancel(b->jobs[i].req);
        if (l->in_worker) {
            b->l = NULL;            /* merge_done frees it */
        } else {
            b->why = "shutting down";
            skip_batch(b, "redis");
            batch_free(b);
        }
    }
    event_free(l->timer);
    free(l);
}
