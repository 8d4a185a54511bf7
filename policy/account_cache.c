/*
 * account_cache.c - logins' suspension state remembered between transactions, kept
 * honest by a Redis key watch (see account_cache.h).
 *
 * A chained hash table keyed by the login's hash tag (redis_key_escape, the text between
 * the braces of pt:acct:{TAG}), so an invalidated key names its entry directly.
 */
#include "policy/account_cache.h"

#include "lib/redis.h"
#include "lib/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACCOUNT_CACHE_BUCKETS 1024   /* a power of two */

struct account_entry {
    struct account_entry *next;
    char *tag;
    bool suspended;
    long long at_ms;
};

struct account_cache {
    struct account_entry *buckets[ACCOUNT_CACHE_BUCKETS];
    size_t n;
    long long max_age_ms;
    bool valid;
    unsigned long long epoch;
    struct redis *watch;
    account_change_fn on_change;  /* the listener (account_cache_on_change) */
    void *on_change_arg;
};

long long account_cache_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned bucket_of(const char *tag, size_t len)
{
    uint32_t h = 2166136261u;   /* FNV-1a */
    size_t i;

    for (i = 0; i < len; i++)
        h = (h ^ (unsigned char)tag[i]) * 16777619u;
    return h & (ACCOUNT_CACHE_BUCKETS - 1);
}

static void clear_all(struct account_cache *ac)
{
    struct account_entry *e, *next;
    size_t i;

    for (i = 0; i < ACCOUNT_CACHE_BUCKETS; i++) {
        for (e = ac->buckets[i]; e; e = next) {
            next = e->next;
            free(e->tag);
            free(e);
        }
        ac->buckets[i] = NULL;
    }
    ac->n = 0;
}

/* Remove the entry of tag (len bytes); no-op when absent. */
static void remove_tag(struct account_cache *ac, const char *tag, size_t len)
{
    struct account_entry **pp = &ac->buckets[bucket_of(tag, len)], *e;

    for (; (e = *pp) != NULL; pp = &e->next)
        if (strlen(e->tag) == len && memcmp(e->tag, tag, len) == 0) {
            *pp = e->next;
            free(e->tag);
            free(e);
            ac->n--;
            return;
        }
}

static struct account_entry *find(struct account_cache *ac, const char *tag)
{
    struct account_entry *e;

    for (e = ac->buckets[bucket_of(tag, strlen(tag))]; e; e = e->next)
        if (strcmp(e->tag, tag) == 0)
            return e;
    return NULL;
}

struct account_cache *account_cache_new(long long max_age_ms)
{
    struct account_cache *ac = xcalloc(1, sizeof(*ac));

    ac->max_age_ms = max_age_ms;
    return ac;
}

void account_cache_free(struct account_cache *ac)
{
    if (ac == NULL)
        return;
    if (ac->watch != NULL)
        redis_free(ac->watch);
    clear_all(ac);
    free(ac);
}

void account_cache_set_max_age(struct account_cache *ac, long long max_age_ms)
{
    ac->max_age_ms = max_age_ms;
    if (max_age_ms <= 0)
        clear_all(ac);
}

enum account_known account_cache_get(struct account_cache *ac, const char *login,
                                     long long now_ms)
{
    struct account_entry *e;
    char *tag;
    enum account_known k = ACCOUNT_UNKNOWN;

    if (ac->watch != NULL && ac->n > 0)
        redis_watch_sync(ac->watch);   /* a change announced by now counts */
    if (!ac->valid || ac->max_age_ms <= 0 || ac->n == 0)
        return ACCOUNT_UNKNOWN;
    tag = redis_key_escape(login);
    e = find(ac, tag);
    if (e != NULL) {
        if (now_ms - e->at_ms < ac->max_age_ms)
            k = e->suspended ? ACCOUNT_SUSPENDED : ACCOUNT_ACTIVE;
        else
            remove_tag(ac, tag, strlen(tag));
    }
    free(tag);
    return k;
}

unsigned long long account_cache_epoch(const struct account_cache *ac)
{
    return ac->epoch;
}

void account_cache_put(struct account_cache *ac, const char *login, bool suspended,
                       unsigned long long epoch, long long now_ms)
{
    struct account_entry *e;
    char *tag;
    unsigned b;

    if (!ac->valid || ac->max_age_ms <= 0 || epoch != ac->epoch)
        return;
    tag = redis_key_escape(login);
    if ((e = find(ac, tag)) != NULL) {
        free(tag);
    } else {
        if (ac->n >= ACCOUNT_CACHE_MAX)
            clear_all(ac);
        b = bucket_of(tag, strlen(tag));
        e = xcalloc(1, sizeof(*e));
        e->tag = tag;
        e->next = ac->buckets[b];
        ac->buckets[b] = e;
        ac->n++;
    }
    e->suspended = suspended;
    e->at_ms = now_ms;
}

static void changed(struct account_cache *ac, const char *tag, size_t len)
{
    if (ac->on_change != NULL)
        ac->on_change(ac->on_change_arg, tag, len);
}

void account_cache_invalidate(struct account_cache *ac, const char *key, size_t len)
{
    static const char prefix[] = ACCOUNT_KEY_PREFIX "{";
    const char *end;

    ac->epoch++;
    if (key == NULL) {
        clear_all(ac);
        changed(ac, NULL, 0);
        return;
    }
    if (len <= sizeof(prefix) - 1 || memcmp(key, prefix, sizeof(prefix) - 1) != 0)
        return;
    key += sizeof(prefix) - 1;
    len -= sizeof(prefix) - 1;
    end = memchr(key, '}', len);
    if (end == NULL) {
        clear_all(ac);   /* not a key of ours: forget everything rather than guess */
        changed(ac, NULL, 0);
        return;
    }
    remove_tag(ac, key, (size_t)(end - key));
    changed(ac, key, (size_t)(end - key));
}

void account_cache_set_valid(struct account_cache *ac, bool valid)
{
    ac->epoch++;
    ac->valid = valid;
    clear_all(ac);
    if (valid)
        changed(ac, NULL, 0);   /* what changed while the watch was down is unknown */
}

bool account_cache_valid(const struct account_cache *ac)
{
    return ac->valid;
}

void account_cache_on_change(struct account_cache *ac, account_change_fn fn, void *arg)
{
    ac->on_change = fn;
    ac->on_change_arg = arg;
}

size_t account_cache_size(const struct account_cache *ac)
{
    return ac->n;
}

static void on_watch_key(const char *key, size_t len, void *arg)
{
    account_cache_invalidate(arg, key, len);
}

static void on_watch_state(enum redis_state state, const char *why, void *arg)
{
    (void)why;
    account_cache_set_valid(arg, state == REDIS_STATE_UP);
}

int account_cache_watch(struct account_cache *ac, struct event_base *base,
                        const struct redis_conf *conf)
{
    if (ac->watch != NULL)
        return 0;
    ac->watch = redis_watch_new(base, conf, ACCOUNT_KEY_PREFIX, on_watch_key, on_watch_state,
                                ac);
    return ac->watch != NULL ? 0 : -1;
}
