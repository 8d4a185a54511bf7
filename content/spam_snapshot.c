/*
 * spam_snapshot.c - the node's refreshed copy of the classifier model (spam_snapshot.h).
 */
#include "content/spam_snapshot.h"

#include "content/spam_store.h"
#include "lib/log.h"
#include "lib/redis.h"
#include "lib/workpool.h"
#include "lib/xalloc.h"

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct spam_snap {
    atomic_int refs;
    struct spam_model m;
};

struct build {
    struct spam_snapshot *owner;   /* NULL once the refresher is gone */
    unsigned long long ver, nspam, nham;
    char *blob;                    /* the shards, one after the other */
    size_t *lens;
    size_t total;
    struct spam_snap *snap;
};

struct spam_snapshot {
    struct event_base *base;
    struct redis *redis;
    struct workpool *pool;
    struct event *timer;
    struct timeval every;
    struct spam_snap *cur;
    unsigned long long ver;        /* of cur */
    unsigned long long want_ver, want_nspam, want_nham;
    struct redis_req *req;
    struct build *building;
    bool loaded;
};

struct spam_snap *spam_snap_wrap(struct spam_model *m)
{
    struct spam_snap *s = xcalloc(1, sizeof(*s));

    atomic_init(&s->refs, 1);
    s->m = *m;
    memset(m, 0, sizeof(*m));
    return s;
}

const struct spam_model *spam_snap_model(const struct spam_snap *snap)
{
    return &snap->m;
}

struct spam_snap *spam_snap_ref(struct spam_snap *snap)
{
    if (snap)
        atomic_fetch_add(&snap->refs, 1);
    return snap;
}

void spam_snap_unref(struct spam_snap *snap)
{
    if (snap && atomic_fetch_sub(&snap->refs, 1) == 1) {
        spam_model_clear(&snap->m);
        free(snap);
    }
}

struct spam_snap *spam_snapshot_get(struct spam_snapshot *s)
{
    return spam_snap_ref(s->cur);
}

unsigned long long spam_snapshot_version(const struct spam_snapshot *s)
{
    return s->ver;
}

/* ---- building (worker) and swapping (loop) ------------------------------------------------- */

static void build_work(void *arg)
{
    struct build *b = arg;
    struct spam_model m;
    size_t i, off = 0;

    spam_model_init(&m, b->total / SPAM_ENTRY_BYTES);
    m.nspam = b->nspam;
    m.nham = b->nham;
    for (i = 0; i < SPAM_SHARDS; i++) {
        spam_shard_decode(&m, b->blob + off, b->lens[i]);
        off += b->lens[i];
    }
    b->snap = spam_snap_wrap(&m);
}

static void build_done(void *arg)
{
    struct build *b = arg;
    struct spam_snapshot *s = b->owner;

    if (s != NULL) {
        s->building = NULL;
        spam_snap_unref(s->cur);
        s->cur = b->snap;
        s->ver = b->ver;
        b->snap = NULL;
        if (!s->loaded)
            log_info("spam", "model loaded: version %llu, %llu spam, %llu ham",
                     b->ver, b->nspam, b->nham);
        s->loaded = true;
    }
    spam_snap_unref(b->snap);
    free(b->blob);
    free(b->lens);
    free(b);
}

static void on_shards(enum redis_result res, const struct redisReply *r, void *arg)
{
    struct spam_snapshot *s = arg;
    struct build *b;
    size_t i, off = 0;

    s->req = NULL;
    if (res != REDIS_RESULT_OK || r->type != REDIS_REPLY_ARRAY || r->elements != SPAM_SHARDS)
        return;
    b = xcalloc(1, sizeof(*b));
    b->owner = s;
    b->ver = s->want_ver;
    b->nspam = s->want_nspam;
    b->nham = s->want_nham;
    b->lens = xcalloc(SPAM_SHARDS, sizeof(*b->lens));
    for (i = 0; i < SPAM_SHARDS; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            r->element[i]->len % SPAM_ENTRY_BYTES == 0)
            b->total += r->element[i]->len;
    b->blob = xmalloc(b->total + 1);
    for (i = 0; i < SPAM_SHARDS; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            r->element[i]->len % SPAM_ENTRY_BYTES == 0) {
            memcpy(b->blob + off, r->element[i]->str, r->element[i]->len);
            b->lens[i] = r->element[i]->len;
            off += r->element[i]->len;
        }
    s->building = b;
    if (s->pool)
        workpool_submit(s->pool, build_work, build_done, b);
    else {
        build_work(b);
        build_done(b);
    }
}

static unsigned long long reply_ull(const struct redisReply *r, size_t i)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
        r->element[i]->type != REDIS_REPLY_STRING)
        return 0;
    return strtoull(r->element[i]->str, NULL, 10);
}

static void on_meta(enum redis_result res, const struct redisReply *r, void *arg)
{
    struct spam_snapshot *s = arg;
    const char *argv[SPAM_SHARDS + 1];
    char keys[SPAM_SHARDS][32];
    unsigned long long ver;
    size_t i;

    s->req = NULL;
    if (res != REDIS_RESULT_OK || r->type != REDIS_REPLY_ARRAY)
        return;
    ver = reply_ull(r, 2);
    if (s->loaded && ver == s->ver)
        return;
    s->want_nspam = reply_ull(r, 0);
    s->want_nham = reply_ull(r, 1);
    s->want_ver = ver;
    argv[0] = "MGET";
    for (i = 0; i < SPAM_SHARDS; i++) {
        snprintf(keys[i], sizeof(keys[i]), SPAM_KEY_SHARD_FMT, (unsigned)i);
        argv[i + 1] = keys[i];
    }
    s->req = redis_command_argv(s->redis, SPAM_SHARDS + 1, argv, NULL, on_shards, s);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct spam_snapshot *s = arg;
    static const char *const argv[] = { "HMGET", SPAM_KEY_META, "nspam", "nham", "ver" };

    (void)fd;
    (void)what;
    if (s->req == NULL && s->building == NULL)
        s->req = redis_command_argv(s->redis, 5, argv, NULL, on_meta, s);
    evtimer_add(s->timer, &s->every);
}

struct spam_snapshot *spam_snapshot_new(struct event_base *base, struct redis *redis,
                                        struct workpool *pool, long long refresh_ms)
{
    struct spam_snapshot *s = xcalloc(1, sizeof(*s));
    struct timeval now = { 0, 0 };

    s->base = base;
    s->redis = redis;
    s->pool = pool;
    s->every.tv_sec = refresh_ms / 1000;
    s->every.tv_usec = (refresh_ms % 1000) * 1000;
    s->timer = evtimer_new(base, on_timer, s);
    evtimer_add(s->timer, &now);
    return s;
}

void spam_snapshot_free(struct spam_snapshot *s)
{
    if (s == NULL)
        return;
    if (s->req)
        redis_cancel(s->req);
    if (s->building)
        s->building->owner = NULL;
    event_free(s->timer);
    spam_snap_unref(s->cur);
    free(s);
}
