/*
 * user_store_redis.c - the Redis backend of the user store (see user_store.h).
 *
 * A fetch of n addresses sends n HGETALL pt:pol:{ADDRESS} at once on the shared
 * connection (lib/redis.h pipelines them: one round trip) and answers when the last
 * reply is in. Each command has the client's own deadline; a timeout or a lost
 * connection makes that address unavailable (NULL prefs). A write is one HSET or HDEL.
 * Loop thread only.
 */
#include "policy/user_store.h"

#include "lib/redis.h"
#include "lib/xalloc.h"
#include "policy/user_prefs.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#define FIELDS_MAX 64     /* hash fields read per user; more are ignored */

struct redis_store {
    struct user_store base;       /* first: the handle given out */
    struct redis *redis;
};

struct user_store_req;

/* One HGETALL of a fetch. */
struct part {
    struct user_store_req *req;
    struct redis_req *rr;         /* NULL once answered */
};

struct user_store_req {
    struct redis_store *st;
    size_t n, waiting;
    struct part *parts;
    struct user_prefs **prefs;
    bool unavailable;
    user_fetch_fn fetch_cb;
    /* write */
    struct redis_req *wr;
    user_write_fn write_cb;
    void *arg;
};

static void fetch_free(struct user_store_req *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        user_prefs_unref(r->prefs[i]);
    free(r->prefs);
    free(r->parts);
    free(r);
}

/* The pairs of an HGETALL reply; a reply that is not an array of strings reads as no
 * overrides for the valid pairs and counts the rest as bad fields. */
static struct user_prefs *prefs_from_reply(const redisReply *rep)
{
    const char *names[FIELDS_MAX], *values[FIELDS_MAX];
    size_t i, k = 0;

    for (i = 0; i + 1 < rep->elements && k < FIELDS_MAX; i += 2) {
        const redisReply *a = rep->element[i], *b = rep->element[i + 1];
        if (a->type != REDIS_REPLY_STRING || b->type != REDIS_REPLY_STRING ||
            strlen(a->str) != a->len || strlen(b->str) != b->len)
            continue; /* binary junk: not a field we know */
        names[k] = a->str;
        values[k++] = b->str;
    }
    return user_prefs_parse(names, values, k);
}

static void on_hgetall(enum redis_result res, const struct redisReply *rep, void *arg)
{
    struct part *p = arg;
    struct user_store_req *r = p->req;
    size_t i = (size_t)(p - r->parts);

    p->rr = NULL;
    if (res == REDIS_RESULT_OK && rep->type == REDIS_REPLY_ARRAY)
        r->prefs[i] = prefs_from_reply(rep);
    else
        r->unavailable = true;
    if (--r->waiting > 0)
        return;
    r->fetch_cb(r->arg, r->prefs, r->n, r->unavailable);
    fetch_free(r);
}

static struct user_store_req *redis_fetch(void *impl, const char *const *addrs, size_t n,
                                          user_fetch_fn cb, void *arg)
{
    struct redis_store *st = impl;
    struct user_store_req *r = xcalloc(1, sizeof(*r));
    size_t i;

    r->st = st;
    r->n = r->waiting = n;
    r->parts = xcalloc(n, sizeof(*r->parts));
    r->prefs = xcalloc(n, sizeof(*r->prefs));
    r->fetch_cb = cb;
    r->arg = arg;
    for (i = 0; i < n; i++) {
        char *key = user_prefs_key(addrs[i]);
        const char *argv[2] = { "HGETALL", key };
        r->parts[i].req = r;
        r->parts[i].rr = redis_command_argv(st->redis, 2, argv, NULL, on_hgetall, &r->parts[i]);
        free(key);
    }
    return r;
}

static void on_write(enum redis_result res, const struct redisReply *rep, void *arg)
{
    struct user_store_req *r = arg;

    (void)rep;
    r->wr = NULL;
    r->write_cb(r->arg, res == REDIS_RESULT_OK ? 0 : -1);
    free(r);
}

static struct user_store_req *redis_write(void *impl, const char *addr, const char *field,
                                          const char *value, user_write_fn cb, void *arg)
{
    struct redis_store *st = impl;
    struct user_store_req *r = xcalloc(1, sizeof(*r));
    char *key = user_prefs_key(addr);
    const char *argv[4] = { value ? "HSET" : "HDEL", key, field, value };

    r->st = st;
    r->write_cb = cb;
    r->arg = arg;
    r->wr = redis_command_argv(st->redis, value ? 4 : 3, argv, NULL, on_write, r);
    free(key);
    return r;
}

static void redis_cancel_req(void *impl, struct user_store_req *r)
{
    size_t i;

    (void)impl;
    if (r->write_cb != NULL) {
        if (r->wr != NULL)
            redis_cancel(r->wr);
        free(r);
        return;
    }
    for (i = 0; i < r->n; i++)
        if (r->parts[i].rr != NULL)
            redis_cancel(r->parts[i].rr);
    fetch_free(r);
}

static void redis_store_free(void *impl)
{
    free(impl);
}

static const struct user_store_ops redis_ops = {
    .fetch = redis_fetch, .write = redis_write, .cancel = redis_cancel_req,
    .free = redis_store_free,
};

struct user_store *user_store_redis_new(struct redis *redis)
{
    struct redis_store *st = xcalloc(1, sizeof(*st));

    st->base.ops = &redis_ops;
    st->base.impl = st;
    st->redis = redis;
    return &st->base;
}
