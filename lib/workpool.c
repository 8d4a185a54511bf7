/*
 * workpool.c - worker threads with completions delivered to the libevent loop.
 *
 * Jobs go into one mutex-protected FIFO served by all workers. A finished job moves to a
 * "done" list and the worker writes one byte to an eventfd watched by the loop; the loop
 * callback takes the whole done list and runs the done functions. This avoids libevent's
 * threading mode (no locks on bufferevents) and the starvation of low-priority events.
 */
#include "lib/workpool.h"

#include "lib/xalloc.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct job {
    struct job *next;
    work_fn work;
    work_done_fn done;
    void *arg;
};

struct workpool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *todo_head, *todo_tail;
    struct job *done_head, *done_tail;
    int stopping;
    int nthreads;
    unsigned pending;
    unsigned max_jobs;        /* 0: unbounded */
    pthread_t *threads;
    int efd;
    struct event *ev;
};

static void job_append(struct job **head, struct job **tail, struct job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static void *workpool_thread(void *p)
{
    struct workpool *wp = p;
    uint64_t one = 1;

    pthread_mutex_lock(&wp->lock);
    for (;;) {
        struct job *j;
        while (wp->todo_head == NULL && !wp->stopping)
            pthread_cond_wait(&wp->cond, &wp->lock);
        if (wp->todo_head == NULL)
            break;
        j = wp->todo_head;
        wp->todo_head = j->next;
        if (wp->todo_head == NULL)
            wp->todo_tail = NULL;
        pthread_mutex_unlock(&wp->lock);

        j->work(j->arg);

        pthread_mutex_lock(&wp->lock);
        job_append(&wp->done_head, &wp->done_tail, j);
        if (write(wp->efd, &one, sizeof(one)) != sizeof(one))
            abort(); /* an eventfd write can only fail on a programming error */
    }
    pthread_mutex_unlock(&wp->lock);
    return NULL;
}

/* Run the done functions of every finished job. Loop thread. */
static void workpool_reap(struct workpool *wp)
{
    struct job *list, *next;

    pthread_mutex_lock(&wp->lock);
    list = wp->done_head;
    wp->done_head = wp->done_tail = NULL;
    pthread_mutex_unlock(&wp->lock);
    for (; list; list = next) {
        next = list->next;
        wp->pending--;
        if (list->done)
            list->done(list->arg);
        free(list);
    }
}

static void workpool_on_event(evutil_socket_t fd, short what, void *arg)
{
    uint64_t n;
    (void)what;
    if (read(fd, &n, sizeof(n)) < 0)
        return;
    workpool_reap(arg);
}

struct workpool *workpool_new(struct event_base *base, int nthreads)
{
    struct workpool *wp = xcalloc(1, sizeof(*wp));
    int i;

    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > 64)
        nthreads = 64;
    pthread_mutex_init(&wp->lock, NULL);
    pthread_cond_init(&wp->cond, NULL);
    wp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wp->efd < 0) {
        free(wp);
        return NULL;
    }
    wp->ev = event_new(base, wp->efd, EV_READ | EV_PERSIST, workpool_on_event, wp);
    event_add(wp->ev, NULL);
    wp->threads = xcalloc((size_t)nthreads, sizeof(pthread_t));
    for (i = 0; i < nthreads; i++) {
        if (pthread_create(&wp->threads[i], NULL, workpool_thread, wp) != 0)
            break;
    }
    wp->nthreads = i;
    if (i == 0) {
        workpool_free(wp);
        return NULL;
    }
    return wp;
}

struct workpool *workpool_new_bounded(struct event_base *base, int nthreads,
                                      unsigned max_jobs)
{
    struct workpool *wp = workpool_new(base, nthreads);

    if (wp != NULL)
        wp->max_jobs = max_jobs ? max_jobs : 1;
    return wp;
}

int workpool_try_submit(struct workpool *wp, work_fn work, work_done_fn done, void *arg)
{
    if (wp->max_jobs != 0 && wp->pending >= wp->max_jobs)
        return -1;
    workpool_submit(wp, work, done, arg);
    return 0;
}

void workpool_submit(struct workpool *wp, work_fn work, work_done_fn done, void *arg)
{
    struct job *j = xmalloc(sizeof(*j));
    j->work = work;
    j->done = done;
    j->arg = arg;
    wp->pending++;
    pthread_mutex_lock(&wp->lock);
    job_append(&wp->todo_head, &wp->todo_tail, j);
    pthread_cond_signal(&wp->cond);
    pthread_mutex_unlock(&wp->lock);
}

unsigned workpool_pending(const struct workpool *wp)
{
    return wp->pending;
}

void workpool_free(struct workpool *wp)
{
    int i;
    if (wp == NULL)
        return;
    pthread_mutex_lock(&wp->lock);
    wp->stopping = 1;
    pthread_cond_broadcast(&wp->cond);
    pthread_mutex_unlock(&wp->lock);
    for (i = 0; i < wp->nthreads; i++)
        pthread_join(wp->threads[i], NULL);
    workpool_reap(wp);
    /* Done functions may have queued more jobs (a next stage): run them here, in order. */
    while (wp->todo_head) {
        struct job *j = wp->todo_head;
        wp->todo_head = j->next;
        if (wp->todo_head == NULL)
            wp->todo_tail = NULL;
        j->work(j->arg);
        job_append(&wp->done_head, &wp->done_tail, j);
        workpool_reap(wp);
    }
    if (wp->ev)
        event_free(wp->ev);
    close(wp->efd);
    pthread_mutex_destroy(&wp->lock);
    pthread_cond_destroy(&wp->cond);
    free(wp->threads);
    free(wp);
}
