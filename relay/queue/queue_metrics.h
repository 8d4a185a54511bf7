/*
 * queue_metrics.h - what the queue holds, for the metrics scrape (relay/server_health.c).
 */
#ifndef POSTERN_QUEUE_METRICS_H
#define POSTERN_QUEUE_METRICS_H

struct queue;

/* Messages in the queue and the arrival time (unix s, from the queue ID) of the oldest
 * (-1 when empty). One walk over the in-memory table, no I/O. Loop thread. */
void queue_metrics_get(const struct queue *q, unsigned long long *messages,
                       long long *oldest_arrival);

/* Messages held, by reason: by the admin (posternctl hold), by the policy (only
 * quarantine-held recipients left), because their login is suspended (queue_account.c).
 * A message held for two reasons counts under the first. One walk, no I/O. */
void queue_metrics_held(const struct queue *q, unsigned long long *admin,
                        unsigned long long *policy, unsigned long long *account);

#endif
