/*
 * user_cache.h - a few seconds of memory in front of the user store, so the hot path does
 * not pay a Redis round trip per recipient.
 *
 * user_cache_get() answers the addresses it has seen within `ttl` from memory and fetches
 * the others in ONE store call. A change written on another node (posternctl policy set)
 * is therefore seen here within ttl. Entries are kept for at most max_entries addresses
 * (the oldest go first). An address the store could not read is not cached.
 *
 * Threading: loop thread only.
 */
#ifndef POSTERN_POLICY_USER_CACHE_H
#define POSTERN_POLICY_USER_CACHE_H

#include <stdbool.h>
#include <stddef.h>

struct user_store;
struct user_prefs;
struct user_cache;
struct user_cache_req;

/* out[i] is the overrides of addrs[i] (a reference the callee owns), or NULL when the
 * store could not read it (then unavailable is true). */
typedef void (*user_cache_fn)(void *arg, bool unavailable);

/* store: borrowed, must outlive the cache. ttl_ms 0 disables caching. */
struct user_cache *user_cache_new(struct user_store *store, long long ttl_ms,
                                  size_t max_entries);
/* Free the cache; cancel its requests first. */
void user_cache_free(struct user_cache *c);

/* For tests: the clock the cache reads (milliseconds, monotonic). NULL: the real one. */
void user_cache_set_clock(struct user_cache *c, long long (*now_ms)(void));

/*
 * Look up n addresses; out has n slots. When every address is in the cache, fills out
 * now and returns NULL (cb is not called). Otherwise returns a handle: out is filled and
 * cb(arg, unavailable) runs later, once, unless user_cache_cancel() comes first (out then
 * stays untouched, holding no references).
 */
struct user_cache_req *user_cache_get(struct user_cache *c, const char *const *addrs, size_t n,
                                      struct user_prefs **out, user_cache_fn cb, void *arg);
void user_cache_cancel(struct user_cache_req *r);

/* Entries held now (tests). */
size_t user_cache_size(const struct user_cache *c);

#endif
