/*
 * store.c - the outbox on the worker pool (files: see outbox.h).
 *
 * Each delivery has at most one outbox job queued or running, so its operations happen
 * in order (a removal never overtakes the write it follows); what it wants next waits
 * in disk_want, where a final operation (remove, move to failed/) replaces a write.
 * Jobs copy what they need (directory, name, bytes): a job outlives its delivery when
 * webhooks_free runs first, and its done function then only frees the job.
 * The load job prepares the directories, adopts outbox_dir/new/ (files from posternctl)
 * and reads the records; at start it reads every pending file, later (every
 * rescan_interval) only the adopted ones. Outbox jobs of deliveries wait until the
 * initial load is done, so a file written meanwhile is never loaded twice.
 * Work functions run on workers and touch only their job; the rest runs on the loop.
 */
#include "webhooks/internal.h"

#include "lib/log.h"
#include "lib/workpool.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_S 1000
#define US_PER_MS 1000
#define LOAD_INITIAL_CAP 16

struct wh_disk_job {
    struct wh_delivery *d;    /* NULL once orphaned */
    enum wh_disk_op op;
    char *dir, *name, *data;
    size_t len;
    int rc;
};

struct wh_load_job {
    struct webhooks *wh;      /* NULL once orphaned */
    char *dir;
    int initial;
    int prep_rc;
    struct wh_record *recs;
    size_t nrecs, cap;
    char **problems;          /* one line per unreadable file */
    size_t nproblems;
};

/* ---- per-delivery jobs ---- */

static void disk_work(void *arg)
{
    struct wh_disk_job *j = arg;

    switch (j->op) {
    case WH_DISK_WRITE:
        j->rc = wh_outbox_write(j->dir, NULL, j->name, j->data, j->len);
        break;
    case WH_DISK_REMOVE:
        j->rc = wh_outbox_remove(j->dir, NULL, j->name);
        break;
    case WH_DISK_FAIL:
        j->rc = wh_outbox_write(j->dir, WH_OUTBOX_FAILED, j->name, j->data, j->len);
        if (j->rc == 0)
            j->rc = wh_outbox_remove(j->dir, NULL, j->name);
        break;
    case WH_DISK_NONE:
        break;
    }
}

static void disk_job_free(struct wh_disk_job *j)
{
    free(j->dir);
    free(j->name);
    free(j->data);
    free(j);
}

static void disk_log_error(struct wh_delivery *d, const struct wh_disk_job *j)
{
    const char *what = j->op == WH_DISK_WRITE ? "write" : j->op == WH_DISK_REMOVE
                       ? "remove" : "move to " WH_OUTBOX_FAILED "/";

    d->wh->stats.disk_errors++;
    if (j->op == WH_DISK_WRITE && d->disk_error_logged)
        return;
    d->disk_error_logged = 1;
    log_error(WH_LOG, "%s: outbox: cannot %s %s/%s: %s; %s", d->ev->id, what, j->dir,
              j->name, strerror(-j->rc),
              j->op == WH_DISK_WRITE ? "the event is kept in memory only"
              : j->op == WH_DISK_REMOVE ? "it may be sent again after a restart"
              : "the failed event is not recorded");
}

static void disk_done(void *arg)
{
    struct wh_disk_job *j = arg;
    struct wh_delivery *d = j->d;

    if (d == NULL) {
        disk_job_free(j);
        return;
    }
    d->disk_job = NULL;
    d->wh->stats.disk_busy--;
    if (j->rc < 0)
        disk_log_error(d, j);
    else
        d->on_disk = j->op == WH_DISK_WRITE;
    disk_job_free(j);
    wh_store_kick(d);
    wh_delivery_release(d);
}

/* The record of d as it stands now. */
static char *record_text(const struct wh_delivery *d, size_t *len)
{
    struct wh_record r = {
        .endpoint = d->ep_name, .event = d->ev->payload, .attempts = d->attempts,
        .next_attempt_ms = d->next_at_ms,
        .last_error = d->failed_at_ms ? (char *)d->last_error : NULL,
        .failed_at_ms = d->failed_at_ms,
    };
    return wh_record_encode(&r, len);
}

static struct wh_disk_job *disk_job_new(struct wh_delivery *d, enum wh_disk_op op)
{
    struct wh_disk_job *j = xcalloc(1, sizeof(*j));

    j->d = d;
    j->op = op;
    j->dir = xstrdup(d->wh->outbox_dir);
    j->name = xstrdup(d->file);
    if (op != WH_DISK_REMOVE)
        j->data = record_text(d, &j->len);
    return j;
}

void wh_store_request(struct wh_delivery *d, enum wh_disk_op op)
{
    if (op == WH_DISK_WRITE &&
        (d->disk_want == WH_DISK_REMOVE || d->disk_want == WH_DISK_FAIL))
        return;
    d->disk_want = op;
    /* nothing on disk and nothing being written: a removal has nothing to do */
    if (op == WH_DISK_REMOVE && !d->on_disk && d->disk_job == NULL)
        d->disk_want = WH_DISK_NONE;
    wh_store_kick(d);
}

void wh_store_kick(struct wh_delivery *d)
{
    struct webhooks *wh = d->wh;

    if (d->disk_job || d->disk_want == WH_DISK_NONE || wh->loading)
        return;
    if (d->disk_want == WH_DISK_REMOVE && !d->on_disk) {
        d->disk_want = WH_DISK_NONE;
        return;
    }
    d->disk_job = disk_job_new(d, d->disk_want);
    d->disk_want = WH_DISK_NONE;
    wh->stats.disk_busy++;
    workpool_submit(wh->wp, disk_work, disk_done, d->disk_job);
}

int wh_store_orphan(struct wh_delivery *d)
{
    int will_exist = d->on_disk || (d->disk_job && d->disk_job->op == WH_DISK_WRITE);

    if (d->disk_job)
        d->disk_job->d = NULL;
    d->disk_job = NULL;
    if (d->disk_want != WH_DISK_NONE && !(d->disk_want == WH_DISK_REMOVE && !will_exist)) {
        struct wh_disk_job *j = disk_job_new(d, d->disk_want);
        j->d = NULL;
        workpool_submit(d->wh->wp, disk_work, disk_done, j);
        will_exist = d->disk_want == WH_DISK_WRITE;
    }
    d->disk_want = WH_DISK_NONE;
    return will_exist;
}

/* ---- loading ---- */

static void load_problem(struct wh_load_job *j, const char *fmt, const char *name,
                         const char *why)
{
    j->problems = xrealloc(j->problems, (j->nproblems + 1) * sizeof(char *));
    j->problems[j->nproblems++] = xasprintf(fmt, j->dir, name, why);
}

/* Read one pending file; a file that cannot be used goes to failed/ (never deleted). */
static void load_one(struct wh_load_job *j, const char *name)
{
    char *text = NULL, err[WH_ERROR_MAX], *expect;
    size_t len;
    struct wh_record r;
    int rc = wh_outbox_read(j->dir, NULL, name, &text, &len);

    if (rc == -ENOENT)
        return;
    if (rc == 0 && wh_record_decode(text, len, &r, err, sizeof(err)) == 0) {
        expect = wh_outbox_file_name(wh_record_id(&r), r.endpoint);
        if (strcmp(expect, name) == 0) {
            if (j->nrecs == j->cap) {
                j->cap = j->cap ? 2 * j->cap : LOAD_INITIAL_CAP;
                j->recs = xrealloc(j->recs, j->cap * sizeof(*j->recs));
            }
            j->recs[j->nrecs++] = r;
            free(expect);
            free(text);
            return;
        }
        snprintf(err, sizeof(err), "the content does not match the file name");
        free(expect);
        wh_record_clear(&r);
    } else if (rc < 0) {
        snprintf(err, sizeof(err), "%s", strerror(-rc));
    }
    free(text);
    if (wh_outbox_move_failed(j->dir, name) == 0)
        load_problem(j, "outbox: %s/%s: %s; moved to " WH_OUTBOX_FAILED "/", name, err);
    else
        load_problem(j, "outbox: %s/%s: %s; left in place", name, err);
}

static void load_work(void *arg)
{
    struct wh_load_job *j = arg;
    char **names;
    size_t n, i;

    if (j->initial) {
        /* new/ is left alone: posternctl may be writing there right now */
        j->prep_rc = wh_outbox_prepare(j->dir);
        wh_outbox_clean_tmp(j->dir, NULL);
        wh_outbox_clean_tmp(j->dir, WH_OUTBOX_FAILED);
    }
    if (wh_outbox_list(j->dir, WH_OUTBOX_NEW, &names, &n) == 0) {
        for (i = 0; i < n; i++)
            if (wh_outbox_adopt(j->dir, names[i]) == 0 && !j->initial)
                load_one(j, names[i]);
        wh_outbox_names_free(names, n);
    }
    if (j->initial && wh_outbox_list(j->dir, NULL, &names, &n) == 0) {
        for (i = 0; i < n; i++)
            load_one(j, names[i]);
        wh_outbox_names_free(names, n);
    }
}

static void load_job_free(struct wh_load_job *j)
{
    size_t i;

    for (i = 0; i < j->nrecs; i++)
        wh_record_clear(&j->recs[i]);
    for (i = 0; i < j->nproblems; i++)
        free(j->problems[i]);
    free(j->recs);
    free(j->problems);
    free(j->dir);
    free(j);
}

static void rescan_arm(struct webhooks *wh)
{
    struct timeval tv = { wh->rescan_ms / MS_PER_S, (wh->rescan_ms % MS_PER_S) * US_PER_MS };

    evtimer_add(wh->rescan, &tv);
}

/* The initial load is over: start the outbox jobs that waited for it. */
static void loading_over(struct webhooks *wh, const struct wh_load_job *j)
{
    struct wh_delivery *d, *next;

    wh->loading = 0;
    wh->stats.disk_busy--;
    if (j->prep_rc < 0)
        log_error(WH_LOG, "outbox: cannot use %s: %s; events are kept in memory only",
                  j->dir, strerror(-j->prep_rc));
    else
        log_info(WH_LOG, "outbox: %zu pending events loaded from %s", j->nrecs, j->dir);
    for (d = wh->head; d; d = next) {
        next = d->next;
        wh_store_kick(d);
        wh_delivery_release(d);
    }
}

static void load_done(void *arg)
{
    struct wh_load_job *j = arg;
    struct webhooks *wh = j->wh;
    size_t i;

    if (wh == NULL) {
        load_job_free(j);
        return;
    }
    wh->load_job = NULL;
    for (i = 0; i < j->nproblems; i++)
        log_error(WH_LOG, "%s", j->problems[i]);
    for (i = 0; i < j->nrecs; i++)
        wh_adopt_record(wh, &j->recs[i], j->initial);
    if (j->initial)
        loading_over(wh, j);
    load_job_free(j);
    rescan_arm(wh);
}

static void load_submit(struct webhooks *wh, int initial)
{
    struct wh_load_job *j = xcalloc(1, sizeof(*j));

    j->wh = wh;
    j->dir = xstrdup(wh->outbox_dir);
    j->initial = initial;
    wh->load_job = j;
    workpool_submit(wh->wp, load_work, load_done, j);
}

static void rescan_cb(evutil_socket_t fd, short what, void *arg)
{
    struct webhooks *wh = arg;

    (void)fd;
    (void)what;
    if (wh->load_job == NULL)
        load_submit(wh, 0);
}

void wh_store_rescan_now(struct webhooks *wh)
{
    if (wh->store_started && !wh->loading && wh->load_job == NULL)
        load_submit(wh, 0);
}

void wh_store_start(struct webhooks *wh)
{
    if (wh->store_started)
        return;
    wh->store_started = 1;
    wh->loading = 1;
    wh->stats.disk_busy++;
    wh->rescan = evtimer_new(wh->base, rescan_cb, wh);
    load_submit(wh, 1);
}

void wh_store_stop(struct webhooks *wh)
{
    if (wh->rescan)
        event_free(wh->rescan);
    wh->rescan = NULL;
    if (wh->load_job)
        wh->load_job->wh = NULL;
    wh->load_job = NULL;
}
