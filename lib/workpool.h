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
 */
#ifndef POSTERN_WORKPOOL_H
#define POSTERN_WORKPOOL_H

struct event_base;
struct workpool;

typedef void (*work_fn)(void *arg);       /* runs on a worker thread */
typedef void (*work_done_fn)(void *arg);  /* runs on the loop thread, after work_fn */

/* Start nthreads workers (1..64) bound to base. Returns NULL if threads can't start. */
struct workpool *workpool_new(struct event_base *base, int nthreads);

/* Queue a job. Never blocks on the work itself. done may be NULL. */
void workpool_submit(struct workpool *wp, work_fn work, work_done_fn done, void *arg);

/* Jobs queued or running, for metrics and for tests. Loop thread only. */
unsigned workpool_pending(const struct workpool *wp);

/* Finish every queued job (running their done functions, and the jobs those queue in
 * turn, on the calling thread once the workers are gone), stop the threads, free. */
void workpool_free(struct workpool *wp);

#endif
