/*
 * queue_watch.c - the queue.stuck alert (see queue_watch.h).
 */
#include "relay/queue/queue_watch.h"

#include "lib/log.h"
#include "lib/qid.h"
#include "lib/workpool.h"
#include "lib/xalloc.h"
#include "relay/relay_conf.h"
#include "relay/spool/spool.h"

#include <dirent.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define QUEUE_WATCH_PERIOD_MAX_MS 60000  /* look at least once a minute ... */
#define QUEUE_WATCH_PERIOD_MIN_MS 500    /* ... and at most twice a second */

struct queue_watch {
    struct queue_watch_deps d;
    struct event *timer;
    bool scanning;
    bool stopping;         /* freed while a scan was on a worker: the done callback frees */
    /* filled by the worker */
    long long oldest;      /* arrival of the oldest message, -1 when the queue is empty */
    char oldest_qid[QID_MAX];
    unsigned long count;
};

static void watch_scan(void *arg)   /* worker thread */
{
    struct queue_watch *w = arg;
    DIR *d = opendir(spool_queue_dir(w->d.spool));
    struct dirent *e;

    w->oldest = -1;
    w->count = 0;
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        long long t = qid_arrival(e->d_name);
        if (t < 0)
            continue;
        w->count++;
        if (w->oldest < 0 || t < w->oldest) {
            w->oldest = t;
            snprintf(w->oldest_qid, sizeof(w->oldest_qid), "%.*s", QID_MAX - 1, e->d_name);
        }
    }
    closedir(d);
}

static void watch_done(void *arg)   /* loop thread */
{
    struct queue_watch *w = arg;
    long long threshold_s = (*w->d.cf)->c.webhooks.queue_stuck_after_ms / 1000;
    long long age;

    w->scanning = false;
    if (w->stopping) {
        free(w);
        return;
    }
    age = w->oldest < 0 ? 0 : (long long)time(NULL) - w->oldest;
    if (w->oldest < 0 || age < threshold_s)
        return;
    log_warn("qmgr", "queue stuck: oldest message is %lld s old, %lu messages queued", age,
             w->count);
    webhook_emit_once(w->d.webhooks, "queue.stuck", "queue",
                      (*w->d.cf)->c.webhooks.queue_stuck_after_ms,
                      json_pack("{s:s, s:I, s:I, s:I}", "oldest_queue_id", w->oldest_qid,
                                "oldest_age_s", (json_int_t)age,
                                "threshold_s", (json_int_t)threshold_s,
                                "queue_size", (json_int_t)w->count));
}

static void watch_tick(evutil_socket_t fd, short what, void *arg)
{
    struct queue_watch *w = arg;
    (void)fd;
    (void)what;
    if (w->scanning)
        return;
    w->scanning = true;
    workpool_submit(w->d.wp, watch_scan, watch_done, w);
}

struct queue_watch *queue_watch_new(const struct queue_watch_deps *deps)
{
    struct queue_watch *w = xcalloc(1, sizeof(*w));
    long long ms = (*deps->cf)->c.webhooks.queue_stuck_after_ms / 2;
    struct timeval tv;

    if (ms > QUEUE_WATCH_PERIOD_MAX_MS)
        ms = QUEUE_WATCH_PERIOD_MAX_MS;
    if (ms < QUEUE_WATCH_PERIOD_MIN_MS)
        ms = QUEUE_WATCH_PERIOD_MIN_MS;
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    w->d = *deps;
    w->timer = event_new(w->d.base, -1, EV_PERSIST, watch_tick, w);
    event_add(w->timer, &tv);
    return w;
}

void queue_watch_free(struct queue_watch *w)
{
    if (w == NULL)
        return;
    event_free(w->timer);
    if (w->scanning)
        w->stopping = true;
    else
        free(w);
}
