/*
 * dns_cache.c - the bounded LRU answer cache of the resolver (contracts in dns_cache.h).
 *
 * Chained hash table (a power-of-two bucket count, at least max_entries, so chains stay
 * short) plus a doubly linked LRU list: head = most recently used, tail = next victim.
 * Expired entries are dropped lazily, when looked up, or evicted as least recently used.
 * Caller: lib/dns.c, on the loop thread. No clock, no I/O.
 */
#include "lib/dns_cache.h"

#include "lib/xalloc.h"

#include <stdlib.h>
#include <string.h>

#define DNS_CACHE_MIN_BUCKETS 16
#define FNV_OFFSET 2166136261u
#define FNV_PRIME 16777619u

struct dns_cache_entry {
    struct dns_cache_entry *hnext;              /* bucket chain */
    struct dns_cache_entry *prev, *next;        /* LRU list */
    int type;
    size_t bytes;                               /* the value's cost + the entry itself */
    long long expires_ms;
    void *value;
    char name[];
};

struct dns_cache {
    struct dns_cache_entry **buckets;
    size_t nbuckets;                /* power of two */
    size_t count, max_entries;
    size_t bytes, max_bytes;
    struct dns_cache_entry *head, *tail;
    dns_cache_free_fn free_value;
};

uint32_t dns_key_hash(int type, const char *name)
{
    uint32_t h = FNV_OFFSET ^ (uint32_t)type;

    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * FNV_PRIME;
    return h;
}

struct dns_cache *dns_cache_new(size_t max_entries, size_t max_bytes,
                                dns_cache_free_fn free_value)
{
    struct dns_cache *c = xcalloc(1, sizeof(*c));

    c->nbuckets = DNS_CACHE_MIN_BUCKETS;
    while (c->nbuckets < max_entries)
        c->nbuckets *= 2;
    c->buckets = xcalloc(c->nbuckets, sizeof(*c->buckets));
    c->max_entries = max_entries;
    c->max_bytes = max_bytes;
    c->free_value = free_value;
    return c;
}

static struct dns_cache_entry **bucket_of(struct dns_cache *c, int type, const char *name)
{
    return &c->buckets[dns_key_hash(type, name) & (c->nbuckets - 1)];
}

static void lru_unlink(struct dns_cache *c, struct dns_cache_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(struct dns_cache *c, struct dns_cache_entry *e)
{
    e->prev = NULL;
    e->next = c->head;
    if (c->head)
        c->head->prev = e;
    else
        c->tail = e;
    c->head = e;
}

/* The link that points at the entry for (type, name), or at the NULL ending its chain. */
static struct dns_cache_entry **find_link(struct dns_cache *c, int type, const char *name)
{
    struct dns_cache_entry **link = bucket_of(c, type, name);

    while (*link && ((*link)->type != type || strcmp((*link)->name, name) != 0))
        link = &(*link)->hnext;
    return link;
}

static void entry_remove(struct dns_cache *c, struct dns_cache_entry *e)
{
    struct dns_cache_entry **link = find_link(c, e->type, e->name);

    *link = e->hnext;
    lru_unlink(c, e);
    c->free_value(e->value);
    c->bytes -= e->bytes;
    free(e);
    c->count--;
}

void dns_cache_free(struct dns_cache *c)
{
    if (c == NULL)
        return;
    while (c->head)
        entry_remove(c, c->head);
    free(c->buckets);
    free(c);
}

void *dns_cache_get(struct dns_cache *c, int type, const char *name, long long now_ms,
                    long long *left_ms)
{
    struct dns_cache_entry *e = *find_link(c, type, name);

    if (e == NULL)
        return NULL;
    if (e->expires_ms <= now_ms) {
        entry_remove(c, e);
        return NULL;
    }
    lru_unlink(c, e);
    lru_push_front(c, e);
    *left_ms = e->expires_ms - now_ms;
    return e->value;
}

void dns_cache_put(struct dns_cache *c, int type, const char *name, void *value,
                   size_t bytes, long long expires_ms, long long now_ms)
{
    struct dns_cache_entry **link = find_link(c, type, name), *e;
    size_t len = strlen(name), cost = bytes + sizeof(*e) + len + 1;

    if (*link)
        entry_remove(c, *link);
    if (c->max_entries == 0 || cost > c->max_bytes || expires_ms <= now_ms) {
        c->free_value(value);
        return;
    }
    while (c->count >= c->max_entries || c->bytes + cost > c->max_bytes)
        entry_remove(c, c->tail);
    e = xcalloc(1, sizeof(*e) + len + 1);
    memcpy(e->name, name, len + 1);
    e->type = type;
    e->value = value;
    e->bytes = cost;
    e->expires_ms = expires_ms;
    link = bucket_of(c, type, name);
    e->hnext = *link;
    *link = e;
    lru_push_front(c, e);
    c->count++;
    c->bytes += cost;
}

size_t dns_cache_count(const struct dns_cache *c)
{
    return c->count;
}

size_t dns_cache_bytes(const struct dns_cache *c)
{
    return c->bytes;
}
