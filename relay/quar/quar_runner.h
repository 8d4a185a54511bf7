/*
 * quar_runner.h - the quarantine on this node: its store (quar_store.h) and its place in the
 * shared index (content/quar.h).
 *
 *   - at start (worker pool): finish releases a crash interrupted, then index every entry of
 *     the store again (Redis may have lost them);
 *   - the queue runner hands over the entries it made while loading a message
 *     (quar_runner_added): indexed, and their recipients marked for the next digest;
 *   - every quarantine.poll: pop this node's job list and carry out releases (the file is
 *     moved into the queue, with learning as ham when asked) and deletes;
 *   - every quarantine.sweep: delete entries past their domain's quarantine_retention, and
 *     the oldest over its quarantine_max_size (logged), then send the digests that are due
 *     (quar_digest.c).
 * Loop thread; file work on the worker pool. Without Redis the store still keeps mail
 * (retention applies) but nothing lists or releases it.
 */
#ifndef POSTERN_QUAR_RUNNER_H
#define POSTERN_QUAR_RUNNER_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct event_base;
struct queue;
struct quar;
struct quar_entry;
struct quar_runner;
struct redis;
struct spool;
struct workpool;

/* What the runner is given (borrowed: all outlive it). */
struct quar_env {
    struct event_base *base;
    struct workpool *wp;            /* file work and learning */
    struct redis *redis;            /* the index; NULL: none */
    struct spool *spool;            /* digests are queued here */
    struct queue *queue;            /* released messages are handed to it */
    struct config *const *cf;       /* the current config (swapped on SIGHUP) */
};

/* Open the store under the spool and start. NULL after logging when the store cannot be
 * opened. */
struct quar_runner *quar_runner_new(const struct quar_env *env);

/* The index client (content/quar.h) the web page and others use; NULL without Redis. */
struct quar *quar_runner_index(const struct quar_runner *r);

/* The store directory's descriptor (for the queue runner's worker jobs). */
int quar_runner_dirfd(const struct quar_runner *r);

/* Entries e[0..n) were just stored (by the queue runner): index them. Loop thread. */
void quar_runner_added(struct quar_runner *r, const struct quar_entry *e, size_t n);

/* Stop the timers (shutdown); jobs in flight finish. */
void quar_runner_stop(struct quar_runner *r);

/* Free, with the index client (after the worker pool is gone, before Redis). NULL is a
 * no-op. */
void quar_runner_free(struct quar_runner *r);

/* The digests (quar_digest.c), called by the sweep. */
void quar_digest_tick(struct quar_runner *r);

/* The digest schedule (pure): periods of interval_s seconds (> 0) that start at offset_s
 * seconds after midnight UTC (digest_time; with the daily interval, one period a day from
 * that time). quar_digest_period() is the period time t falls in; quar_digest_due() is
 * true when a period has begun since the oldest undigested entry was dated (since): its
 * digest goes out at the first sweep after digest_time (+ k * interval), not before. */
long long quar_digest_period(long long t, long long interval_s, long long offset_s);
bool quar_digest_due(long long since, long long now, long long interval_s, long long offset_s);

/* A test hook: with POSTERN_TEST_QUAR_CLOCK=FILE in the environment, the digests' clock is
 * the real one plus the seconds written in FILE (read at every sweep), so a test can move
 * it past a digest_time without waiting for it. */
#define QUAR_TEST_CLOCK_ENV "POSTERN_TEST_QUAR_CLOCK"

#endif
