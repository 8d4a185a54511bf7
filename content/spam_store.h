/*
 * spam_store.h - the spam classifier's model in Redis, shared by every node.
 *
 * Keys (one hash tag, so that a Redis Cluster keeps them on one slot and the multi-key
 * commands below work there):
 *   pt:spam:{model}:meta       hash: nspam, nham (messages learned), ver (bumped by every
 *                              learn), cap (max features), expire (days), updated (unix time)
 *   pt:spam:{model}:s:XX       256 shards (XX = top byte of the feature hash, hex): sorted
 *                              packed entries of SPAM_ENTRY_BYTES (feature u64, spam count
 *                              u32, ham count u32, day last learned u32; little endian)
 *   pt:spam:{model}:al:DIGEST  string "spam"/"ham", TTL 30 days: a message autolearned
 *                              (content/spam_learner.h), so that it is learned once
 * No TTL: the model is state that must last (README: AOF, noeviction). Its size is bounded
 * instead: a learn drops features not learned for `expire` days, and keeps at most
 * cap/256 features per shard (the most frequent, then the most recent).
 *
 * A learn merges its counts shard by shard with WATCH/MULTI (optimistic; retried when
 * another node wrote the same shard), then bumps ver. Readers (the daemon's snapshot,
 * `posternctl spam score`) load meta and all shards and score from memory.
 *
 * The encode/merge/decode functions are pure; the spam_store_* ones are blocking
 * (posternctl, tests), never for the daemon's loop (spam_snapshot.h is its reader).
 */
#ifndef POSTERN_CONTENT_SPAM_STORE_H
#define POSTERN_CONTENT_SPAM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "content/spam_model.h"

struct redisContext;

#define SPAM_SHARDS              256
#define SPAM_ENTRY_BYTES         20
#define SPAM_KEY_META            "pt:spam:{model}:meta"
#define SPAM_KEY_SHARD_FMT       "pt:spam:{model}:s:%02x"
#define SPAM_KEY_AUTOLEARNED     "pt:spam:{model}:al:"      /* + digest */
#define SPAM_DEFAULT_CAP         1000000
#define SPAM_DEFAULT_EXPIRE_DAYS 365

static inline unsigned spam_shard_of(uint64_t key) { return (unsigned)(key >> 56); }

/* Add the entries of one shard blob to m (counts added to what m has). Returns the number
 * of entries, or -1 when len is not a multiple of SPAM_ENTRY_BYTES. */
long spam_shard_decode(struct spam_model *m, const char *blob, size_t len);

/* Merge entries d (nd of them, sorted by key, all of one shard) into the blob old
 * (sorted): counts added (sign +1, day set to today) or taken away (sign -1, never
 * below 0; features left with no count dropped); entries older than expire_days dropped; at
 * most per_shard_cap kept (the most frequent, then the most recent). Returns a malloc'd
 * blob (*outlen bytes; may be 0 long), NULL when out of memory. */
char *spam_shard_merge(const char *old, size_t oldlen, const struct spam_entry *d,
                       size_t nd, int sign, uint32_t today, uint32_t expire_days,
                       size_t per_shard_cap, size_t *outlen);

struct spam_store_stats {
    unsigned long long nspam, nham, ver, features, bytes, cap, expire_days, updated;
};

/* Push delta (counts of messages learned into an empty model, its nspam/nham included)
 * into Redis: added (sign +1, learn) or taken away (sign -1, unlearn). cap and
 * expire_days, when not 0, are stored as the model's bounds. Returns 0, or -1 after
 * printing why to stderr. */
int spam_store_learn(struct redisContext *c, const struct spam_model *delta, int sign,
                     unsigned long long cap, unsigned long long expire_days);

/* Load the whole model into m (initialised here). ver: the version loaded. 0 or -1. */
int spam_store_load(struct redisContext *c, struct spam_model *m, unsigned long long *ver);

/* Delete the model (and the marks of autolearned messages: they may be learned again).
 * 0 or -1. */
int spam_store_forget(struct redisContext *c);

int spam_store_stats(struct redisContext *c, struct spam_store_stats *st);

#endif
