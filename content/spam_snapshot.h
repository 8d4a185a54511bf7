/*
 * spam_snapshot.h - each node's read-only copy of the classifier model, refreshed from
 * Redis (spam_store.h) so that scoring costs no Redis round trip.
 *
 * Every refresh interval the refresher asks for the model's version (one HMGET); when it
 * changed, it fetches meta and all shards (one MGET), builds a new table on a worker
 * thread and swaps it in on the loop thread. Scoring takes a reference to the current
 * snapshot (spam_snapshot_get) and drops it when done, from any thread; an old snapshot is
 * freed when its last scorer lets go. When Redis is down the last snapshot stays in use.
 *
 * Threading: new/get/free and the refresh on the loop thread; spam_snap_unref and
 * spam_snap_model from any thread.
 */
#ifndef POSTERN_CONTENT_SPAM_SNAPSHOT_H
#define POSTERN_CONTENT_SPAM_SNAPSHOT_H

#include "content/spam_model.h"

struct event_base;
struct redis;
struct workpool;
struct spam_snap;
struct spam_snapshot;

/* Start refreshing every refresh_ms (first load at once). pool may be NULL (the build
 * then runs on the loop thread). */
struct spam_snapshot *spam_snapshot_new(struct event_base *base, struct redis *redis,
                                        struct workpool *pool, long long refresh_ms);
void spam_snapshot_free(struct spam_snapshot *s);

/* The current snapshot with a reference taken, or NULL before the first load. */
struct spam_snap *spam_snapshot_get(struct spam_snapshot *s);
unsigned long long spam_snapshot_version(const struct spam_snapshot *s);

/* A snapshot of a model built elsewhere (tests, posternctl): takes m's table. */
struct spam_snap *spam_snap_wrap(struct spam_model *m);
const struct spam_model *spam_snap_model(const struct spam_snap *snap);
void spam_snap_unref(struct spam_snap *snap);
struct spam_snap *spam_snap_ref(struct spam_snap *snap);

#endif
