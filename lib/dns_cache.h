/*
 * dns_cache.h - the bounded answer cache of the resolver: (type, name) -> value + expiry.
 *
 * Pure data structure: a hash table with an LRU list, holding at most max_entries
 * entries and at most max_bytes of values (each put says what its value costs). It
 * reads no clock (the caller passes now_ms, so tests inject time) and knows nothing of
 * DNS answers (values are opaque, released through the free function given at creation).
 * Names are compared exactly: the caller normalizes them (dns_name_normalize).
 * Used by lib/dns.c on the loop thread; not thread-safe.
 */
#ifndef POSTERN_DNS_CACHE_H
#define POSTERN_DNS_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct dns_cache;

/* The hash of a (type, name) key, shared with the resolver's table of queries in flight. */
uint32_t dns_key_hash(int type, const char *name);

/* Releases one value when its entry is replaced, evicted, expires or the cache is freed. */
typedef void (*dns_cache_free_fn)(void *value);

/* A cache of at most max_entries entries whose costs add up to at most max_bytes
 * (either 0: every put is dropped at once). */
struct dns_cache *dns_cache_new(size_t max_entries, size_t max_bytes,
                                dns_cache_free_fn free_value);

/* Release every value and the cache. */
void dns_cache_free(struct dns_cache *c);

/*
 * The value stored for (type, name) if it has not expired at now_ms, else NULL (an
 * expired entry is removed). The value stays owned by the cache: it is valid until the
 * next put or free. *left_ms receives the time it has left. A hit becomes the most
 * recently used entry.
 */
void *dns_cache_get(struct dns_cache *c, int type, const char *name, long long now_ms,
                    long long *left_ms);

/*
 * Store value, which costs `bytes` of memory, for (type, name) until expires_ms,
 * replacing any previous value. The cache takes ownership of value. Least recently used
 * entries are evicted until the new one fits. A value already expired at now_ms, or
 * costing more than max_bytes on its own, is released at once.
 */
void dns_cache_put(struct dns_cache *c, int type, const char *name, void *value,
                   size_t bytes, long long expires_ms, long long now_ms);

/* Entries held, and the sum of their costs (expired ones included until they are looked
 * up or evicted). */
size_t dns_cache_count(const struct dns_cache *c);
size_t dns_cache_bytes(const struct dns_cache *c);

#endif
