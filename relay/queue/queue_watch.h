/*
 * queue_watch.h - raises queue.stuck when the oldest queued message is older than
 * webhooks.queue_stuck_after. A timer on the loop starts a scan of the queue directory on
 * the worker pool (file names only: queue IDs encode the arrival time); the result comes
 * back to the loop, which raises at most one event per threshold period.
 */
#ifndef POSTERN_QUEUE_WATCH_H
#define POSTERN_QUEUE_WATCH_H

struct server;
struct queue_watch;

struct queue_watch *queue_watch_new(struct server *srv);
void queue_watch_free(struct queue_watch *w);  /* after the workpool has stopped */

#endif
