/*
 * user_cache.c - the short-lived cache of per-user overrides (see user_cache.h).
 *
 * A chained hash table keyed by the lower-cased address, plus a list in insertion order
 * for eviction. An entry holds one reference to its parsed overrides.
 */
#include "policy/user_cache.h"

#include "lib/xalloc.h"
#include "policy/user_prefs.h"
#include "policy/user_store.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct entry {
    char *key;                     /* lower-cased address */
    struct user_prefs *prefs;
    long long expires;             /* ms on the cache's clock */
    struct entry *next_in_bucket;
    struct entry *older, *newer;   /* insertion order */
};

struct user_cache {
    struct user_store *store;
    long long ttl;
    size_t max, count, nbuckets;
    struct entry **buckets;
    struct entry *oldest, *newest;
    long long (*now_ms)(void);
};

struct user_cache_req {
    struct user_cache *c;
    struct user_store_req *sr;
    size_t n;
    struct user_prefs **out;
    struct user_prefs **hits;      /* n slots: cached answers, held until completion */
    size_t *miss;                  /* indices of the addresses asked from the store */
    char **miss_keys;
    size_t nmiss;
    user_cache_fn cb;
    void *arg;
};

static long long real_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *key_of(const char *addr)
{
    char *k = xstrdup(addr);
    size_t i;

    for (i = 0; k[i] != '\0'; i++)
        if (k[i] >= 'A' && k[i] <= 'Z')
            k[i] = (char)(k[i] - 'A' + 'a');
    return k;
}

static size_t hash(const char *s)
{
    size_t h = 14695981039346656037ULL;   /* FNV-1a */

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

struct user_cache *user_cache_new(struct user_store *store, long long ttl_ms,
                                  size_t max_entries)
{
    struct user_cache *c = xcalloc(1, sizeof(*c));

    c->store = store;
    c->ttl = ttl_ms;
    c->max = max_entries ? max_entries : 1;
    for (c->nbuckets = 64; c->nbuckets < c->max && c->nbuckets < (1u << 20); c->nbuckets *= 2)
        ;
    c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
    c->now_ms = real_now_ms;
    return c;
}

void user_cache_set_clock(struct user_cache *c, long long (*now_ms)(void))
{
    c->now_ms = now_ms ? now_ms : real_now_ms;
}

static struct entry **slot_of(struct user_cache *c, const char *key)
{
    struct entry **e = &c->buckets[hash(key) & (c->nbuckets - 1)];

    while (*e != NULL && strcmp((*e)->key, key) != 0)
        e = &(*e)->next_in_bucket;
    return e;
}

static void unlink_entry(struct user_cache *c, struct entry *e)
{
    struct entry **slot = slot_of(c, e->key);

    *slot = e->next_in_bucket;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    user_prefs_unref(e->prefs);
    free(e->key);
    free(e);
    c->count--;
}

static void put(struct user_cache *c, const char *key, struct user_prefs *p)
{
    struct entry **slot = slot_of(c, key), *e;

    if (*slot != NULL)
        unlink_entry(c, *slot);
    while (c->count >= c->max && c->oldest != NULL)
        unlink_entry(c, c->oldest);
    e = xcalloc(1, sizeof(*e));
    e->key = xstrdup(key);
    e->prefs = user_prefs_ref(p);
    e->expires = c->now_ms() + c->ttl;
    slot = slot_of(c, key);
    *slot = e;
    e->older = c->newest;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->count++;
}

void user_cache_free(struct user_cache *c)
{
    if (c == NULL)
        return;
    while (c->oldest != NULL)
        unlink_entry(c, c->oldest);
    free(c->buckets);
    free(c);
}

size_t user_cache_size(const struct user_cache *c)
{
    return c->count;
}

static void req_free(struct user_cache_req *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        user_prefs_unref(r->hits[i]);
    for (i = 0; i < r->nmiss; i++)
        free(r->miss_keys[i]);
    free(r->hits);
    free(r->miss);
    free(r->miss_keys);
    free(r);
}

static void on_fetch(void *arg, struct user_prefs *const *prefs, size_t n, bool unavailable)
{
    struct user_cache_req *r = arg;
    size_t i;

    (void)n;
    for (i = 0; i < r->nmiss; i++) {
        if (prefs[i] != NULL && r->c->ttl > 0)
            put(r->c, r->miss_keys[i], prefs[i]);
        r->out[r->miss[i]] = prefs[i] ? user_prefs_ref(prefs[i]) : NULL;
    }
    for (i = 0; i < r->n; i++) {
        if (r->hits[i] != NULL) {
            r->out[i] = r->hits[i];
            r->hits[i] = NULL;
        }
    }
    r->cb(r->arg, unavailable);
    req_free(r);
}

struct user_cache_req *user_cache_get(struct user_cache *c, const char *const *addrs, size_t n,
                                      struct user_prefs **out, user_cache_fn cb, void *arg)
{
    struct user_cache_req *r = xcalloc(1, sizeof(*r));
    long long now = c->now_ms();
    const char **ask;
    size_t i;

    r->c = c;
    r->n = n;
    r->out = out;
    r->cb = cb;
    r->arg = arg;
    r->hits = xcalloc(n, sizeof(*r->hits));
    r->miss = xcalloc(n, sizeof(*r->miss));
    r->miss_keys = xcalloc(n, sizeof(*r->miss_keys));
    for (i = 0; i < n; i++) {
        char *key = key_of(addrs[i]);
        struct entry *e = *slot_of(c, key);
        if (e != NULL && now < e->expires) {
            r->hits[i] = user_prefs_ref(e->prefs);
            free(key);
            continue;
        }
        r->miss[r->nmiss] = i;
        r->miss_keys[r->nmiss++] = key;
    }
    if (r->nmiss == 0) {
        for (i = 0; i < n; i++) {
            out[i] = r->hits[i];
            r->hits[i] = NULL;
        }
        req_free(r);
        return NULL;
    }
    ask = xcalloc(r->nmiss, sizeof(*ask));
    for (i = 0; i < r->nmiss; i++)
        ask[i] = addrs[r->miss[i]];
    r->sr = user_store_fetch(c->store, ask, r->nmiss, on_fetch, r);
    free(ask);
    return r;
}

void user_cache_cancel(struct user_cache_req *r)
{
    user_store_cancel(r->c->store, r->sr);
    req_free(r);
}
