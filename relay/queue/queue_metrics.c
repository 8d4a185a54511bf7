/*
 * queue_metrics.c - queue size, oldest arrival and held messages for /metrics (see
 * queue_metrics.h).
 */
#include "relay/queue/queue_metrics.h"

#include "lib/qid.h"
#include "relay/queue/queue_int.h"

void queue_metrics_get(const struct queue *q, unsigned long long *messages,
                       long long *oldest_arrival)
{
    size_t i;

    *messages = 0;
    *oldest_arrival = -1;
    for (i = 0; q && i < q->nbuckets; i++) {
        const struct qmsg *m;
        for (m = q->hash[i]; m; m = m->hnext) {
            long long t = qid_arrival(m->qid);
            (*messages)++;
            if (t >= 0 && (*oldest_arrival < 0 || t < *oldest_arrival))
                *oldest_arrival = t;
        }
    }
}

void queue_metrics_held(const struct queue *q, unsigned long long *admin,
                        unsigned long long *policy, unsigned long long *account)
{
    size_t i;

    *admin = *policy = *account = 0;
    for (i = 0; q && i < q->nbuckets; i++) {
        const struct qmsg *m;
        for (m = q->hash[i]; m; m = m->hnext) {
            if (m->held)
                (*admin)++;
            else if (m->parked)
                (*policy)++;
            else if (m->acct_held)
                (*account)++;
        }
    }
}
