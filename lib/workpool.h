/*
 * workpool.h - a small pool of worker threads for blocking work (fsync, scans, SASL).
 *
 * The event loop never blocks: it submits a job whose work function runs on a worker
 * thread, and whose done function then runs back on the loop thread. Workers never touch
 * sessions or bufferevents; they only fill the job's argument. Jobs run in submission
 * order per worker but may complete in any order across workers.
 *
 * Cancellation is the caller's business: keep a flag or handle in `arg` and have the
 * done function check it (the done function always runs, exactly once per job).
 *
 * A bounded pool (workpool_new_bounded) holds at most max_jobs jobs queued, running or
 * waiting for their done function; workpool_try_submit then refuses a job instead of
 * queueing it, so a burst of CPU-heavy work (content scans) is answered with a temporary
 * failure (451 4.3.0) rather than an ever longer queue. The policy engine's check pool is
 * one; the general pool (SASL, queue loads) stays unbounded.
 */
#ifndef POSTERN_WORKPOOL_H
#define POSTERN_WORKPOOL_H

struct event_base;
struct workpool;

typedef void (*work_fn)(void *arg);       /* runs on a worker thread */
typedef void (*work_done_fn)(void *arg);  /* runs on the loop thread, after work_fn */

/* Start nthreads workers (1..64) bound to base. Returns NULL if threads can't start. */
struct workpool *workpool_new(struct event_base *base, int nthreads);

/* Same, with at most max_jobs (>= 1) jobs in the pool at once (see above). */
struct workpool *workpool_new_bounded(struct event_base *base, int nthreads,
                                      unsigned max_jobs);

/* Queue a job. Never blocks on the work itself, never refuses (even on a bounded pool).
 * done may be NULL. Loop thread. */
void workpool_submit(struct workpool *wp, work_fn work, work_done_fn done, void *arg);

/* Queue a job unless the pool is bounded and full. Returns 0 (queued: done runs later) or
 * -1 (refused: nothing queued, neither function will run). Loop thread. */
int workpool_try_submit(struct workpool *wp, work_fn work, work_done_fn done, void *arg);

/* Jobs queued or running, for metrics and for tests. Loop thread only. */
unsigned workpool_pending(const struct workpool *wp);

/* Finish every queued job (running their done functions, and the jobs those queue in
 * turn, on the calling thread once the workers are gone), stop the threads, free. */
void workpool_free(struct workpool *wp);

#endif
