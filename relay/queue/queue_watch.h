/*
 * queue_watch.h - raises queue.stuck when the oldest queued message is older than
 * webhooks.queue_stuck_after. A timer on the loop starts a scan of the queue directory on
 * the worker pool (file names only: queue IDs encode the arrival time); the result comes
 * back to the loop, which raises at most one event per threshold period.
 */
#ifndef POSTERN_QUEUE_WATCH_H
#define POSTERN_QUEUE_WATCH_H

struct event_base;
struct workpool;
struct spool;
struct config;
struct webhooks;
struct queue_watch;

/* What it is given by the composition root (relay/server.c). */
struct queue_watch_deps {
    struct event_base *base;
    struct workpool *wp;             /* the directory scan */
    struct spool *spool;
    struct config *const *cf;        /* where the current configuration is (reloads) */
    struct webhooks *webhooks;       /* queue.stuck, once per period */
};

/* deps is copied. */
struct queue_watch *queue_watch_new(const struct queue_watch_deps *deps);
void queue_watch_free(struct queue_watch *w);  /* after the workpool has stopped */

#endif
