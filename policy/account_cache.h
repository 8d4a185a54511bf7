/*
 * account_cache.h - what this node knows about logins' suspensions (account_breaker.h)
 * without asking Redis for every transaction.
 *
 * The account check would cost one HGET per transaction of every authenticated session.
 * Instead the node remembers each login's answer and lets Redis tell it when that answer
 * may have changed: a key watch (lib/redis.h redis_watch_new, CLIENT TRACKING BCAST on the
 * prefix pt:acct:) reports every write, deletion or expiry of a pt:acct:{LOGIN} key by
 * any client (a strike or suspension on another node, posternctl account release,
 * redis-cli). So the suspension promise holds as before: a login suspended anywhere gets
 * 450 4.7.1 at its next MAIL on every node.
 *   - An answer is remembered only while the watch is subscribed, and only if no change
 *     was reported between the question and the answer (the epoch), so a suspension that
 *     races with a lookup is never hidden; and each lookup first applies what the watch
 *     has already received, so a suspension Redis confirmed before the MAIL counts.
 *   - While the watch is down (Redis unreachable, Redis older than 6), nothing is
 *     remembered: every MAIL asks Redis, as without the cache.
 *   - account.cache bounds how long an answer is trusted even while the watch is up (a
 *     watch left on a partitioned old master after a sentinel failover).
 * Owner: the daemon, one for its lifetime (relay/server.c), handed to the checks as
 * engine_env.accounts. Threading: loop thread only.
 */
#ifndef POSTERN_POLICY_ACCOUNT_CACHE_H
#define POSTERN_POLICY_ACCOUNT_CACHE_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct redis_conf;
struct account_cache;

#define ACCOUNT_KEY_PREFIX "pt:acct:"
#define ACCOUNT_CACHE_MAX  65536   /* logins remembered at most; then it starts over */

enum account_known { ACCOUNT_UNKNOWN = -1, ACCOUNT_ACTIVE = 0, ACCOUNT_SUSPENDED = 1 };

/* An empty cache trusting answers for max_age_ms (0: never remembers anything). It is
 * not valid (remembers nothing) until account_cache_set_valid(true). */
struct account_cache *account_cache_new(long long max_age_ms);
void account_cache_free(struct account_cache *ac);

/* Start the key watch over Redis conf (borrowed: it must outlive the cache); the watch's
 * state makes the cache valid or not. Returns 0, or -1 when it cannot start. */
int account_cache_watch(struct account_cache *ac, struct event_base *base,
                        const struct redis_conf *conf);

void account_cache_set_max_age(struct account_cache *ac, long long max_age_ms);

/* What is known of login (as the account check names it) at now_ms (monotonic). It
 * first applies what the watch has already received (redis_watch_sync), so a change
 * Redis confirmed to its writer before this call is never answered from memory. */
enum account_known account_cache_get(struct account_cache *ac, const char *login,
                                     long long now_ms);

/* The epoch to take before asking Redis, and to give back with the answer: put keeps
 * the answer only when nothing changed in between and the cache is valid. */
unsigned long long account_cache_epoch(const struct account_cache *ac);
void account_cache_put(struct account_cache *ac, const char *login, bool suspended,
                       unsigned long long epoch, long long now_ms);

/* What the watch reports (also for tests): key changed (NULL: anything may have); the
 * watch is subscribed or not. */
void account_cache_invalidate(struct account_cache *ac, const char *key, size_t len);
void account_cache_set_valid(struct account_cache *ac, bool valid);

/* Is the watch subscribed (answers may be remembered)? */
bool account_cache_valid(const struct account_cache *ac);

/* Tell fn about every change the watch reports, after the cache has applied it: tag is
 * the changed login's hash tag (redis_key_escape of the login, len bytes), or NULL when
 * anything may have changed (the watch (re)started, or a key it cannot name). fn may run
 * inside account_cache_get (through redis_watch_sync): it must only take note and do its
 * work later. One listener (the queue runner's held mail, relay/queue/queue_account.c);
 * fn NULL removes it. */
typedef void (*account_change_fn)(void *arg, const char *tag, size_t len);
void account_cache_on_change(struct account_cache *ac, account_change_fn fn, void *arg);

/* Logins remembered now (tests). */
size_t account_cache_size(const struct account_cache *ac);

/* Monotonic clock in ms, for callers. */
long long account_cache_now_ms(void);

#endif
