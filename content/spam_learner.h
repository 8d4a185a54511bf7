/*
 * spam_learner.h - the daemon's asynchronous writer of autolearned messages into the
 * classifier model in Redis (content/spam_store.h), on the loop's Redis connection and
 * the worker pool: mail is never delayed by it, and Redis down only means "not learned".
 *
 * spam_learner_add() takes one message's features, already computed while it was scored
 * on the worker pool, and:
 *   1. takes a token of this node's rate (autolearns per minute; none left: skipped);
 *   2. marks the message as learned: SET pt:spam:{model}:al:DIGEST NX EX 30d (already
 *      there: skipped as a duplicate, so a message is learned once, on any node);
 *   3. counts its features into the pending batch (a delta model, as `posternctl spam
 *      learn` builds one; at most SPAM_LEARN_BATCH messages: more are skipped).
 * A flush merges the batch into Redis at most every SPAM_LEARN_FLUSH_MS: one MGET of the
 * shards it touches, the merge on a worker (spam_shard_merge, the code `posternctl spam
 * learn` uses: same caps and expiry), then per shard a compare-and-set script (the new
 * blob is written only if the shard's SHA-1 is still the one merged into; else that shard
 * is read and merged again), all pipelined; then one script adds nspam/nham and bumps ver,
 * so every node's snapshot reloads. No WATCH/MULTI: the loop's connection is shared.
 * Outcomes: a log line per learned message, postern_spam_autolearn_total{class} and
 * postern_spam_autolearn_skipped_total{reason}.
 *
 * Threading: loop thread (the merge runs on the pool).
 */
#ifndef POSTERN_CONTENT_SPAM_LEARNER_H
#define POSTERN_CONTENT_SPAM_LEARNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct redis;
struct workpool;
struct spam_learner;

#define SPAM_LEARN_BATCH     64       /* messages in one pending batch */
#define SPAM_LEARN_WAITING   64       /* messages whose duplicate check is in flight */
#define SPAM_LEARN_FLUSH_MS  5000     /* between the starts of two flushes, at least */
#define SPAM_LEARN_SEEN_TTL  (30 * 86400)  /* seconds a learned message's digest is kept */

/* pool may be NULL (the merge then runs on the loop thread: tests). every_ms: between
 * the starts of two flushes, at least (the daemon: SPAM_LEARN_FLUSH_MS). */
struct spam_learner *spam_learner_new(struct event_base *base, struct redis *redis,
                                      struct workpool *pool, long long every_ms);
/* Drops what is pending or in flight (not learned). */
void spam_learner_free(struct spam_learner *l);

/* Learn one message (see above). feat: its features (sorted, unique; malloc'd, taken);
 * digest: spam_al_digest() of it; rate: autolearns per minute allowed on this node. */
void spam_learner_add(struct spam_learner *l, const char *qid, bool spam, double score,
                      const char *digest, uint64_t *feat, size_t n, long long rate);

/* Messages waiting, pending or being merged (tests). */
unsigned spam_learner_busy(const struct spam_learner *l);

/* A skipped autolearn: counted (and logged at debug level). For callers that decide not
 * to learn (the guards). */
void spam_learner_skip(const char *qid, const char *reason);

#endif
