/*
 * user_store.h - where per-user policy overrides are kept: a small interface with two
 * backends, Redis for the daemon and memory for tests.
 *
 * The daemon uses the Redis backend (user_store_redis_new over lib/redis.h): the
 * overrides of an address are the hash pt:pol:{ADDRESS} (format in user_prefs.h); a
 * fetch of n addresses sends n HGETALL back to back (one round trip, and each key keeps
 * its own hash tag, so it works on a Redis Cluster too). Unit tests use the memory
 * backend, which answers on the next loop turn and can be told to be down. The engine
 * does not call a store directly but through user_cache.h (a few seconds of cache).
 *
 * Contract of every backend: callbacks run on the loop thread, exactly once, never inside
 * the call that started the request, and never after the request was cancelled.
 */
#ifndef POSTERN_POLICY_USER_STORE_H
#define POSTERN_POLICY_USER_STORE_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct redis;
struct user_prefs;
struct user_store_req;

/* prefs[i] is the parsed overrides of addrs[i] (a reference the callee may keep with
 * user_prefs_ref; the store drops its own after the callback), or NULL when that
 * address could not be read (Redis down, timeout): `unavailable` is then true. */
typedef void (*user_fetch_fn)(void *arg, struct user_prefs *const *prefs, size_t n,
                              bool unavailable);
/* A write finished: 0 done, -1 failed (the store was unavailable). */
typedef void (*user_write_fn)(void *arg, int status);

struct user_store_ops {
    struct user_store_req *(*fetch)(void *impl, const char *const *addrs, size_t n,
                                    user_fetch_fn cb, void *arg);
    /* Set field to value, or delete it when value is NULL. */
    struct user_store_req *(*write)(void *impl, const char *addr, const char *field,
                                    const char *value, user_write_fn cb, void *arg);
    void (*cancel)(void *impl, struct user_store_req *req);
    void (*free)(void *impl);
};

struct user_store {
    const struct user_store_ops *ops;
    void *impl;
};

/* Fetch the overrides of n addresses (n >= 1); see the contract above. */
struct user_store_req *user_store_fetch(struct user_store *s, const char *const *addrs,
                                        size_t n, user_fetch_fn cb, void *arg);
struct user_store_req *user_store_write(struct user_store *s, const char *addr,
                                        const char *field, const char *value,
                                        user_write_fn cb, void *arg);
void user_store_cancel(struct user_store *s, struct user_store_req *req);
/* Free the store; cancel its requests first. */
void user_store_free(struct user_store *s);

/* The Redis backend over a client the caller owns (and frees after the store). */
struct user_store *user_store_redis_new(struct redis *redis);

/* The memory backend (tests, `posternctl check` without Redis). */
struct user_store *user_store_memory_new(struct event_base *base);
/* Set (value) or delete (NULL) a field directly, at once. */
void user_store_memory_put(struct user_store *s, const char *addr, const char *field,
                           const char *value);
/* While down, fetches answer unavailable and writes fail. */
void user_store_memory_set_down(struct user_store *s, bool down);
/* Fetch calls made so far (a batch counts once): what tests count round trips with. */
unsigned user_store_memory_fetches(const struct user_store *s);

#endif
