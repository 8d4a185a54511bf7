/*
 * internal.h - what the files of webhooks/ share; not for other modules.
 *
 * webhooks.c   the object, endpoints, emit, reload, stats
 * delivery.c   one (event, endpoint) delivery: attempts, retries, 410, failure
 * store.c      the outbox on the worker pool: writes, removals, loading, rescans
 * Ownership: struct webhooks owns its endpoints and every delivery (a doubly linked
 * list); a delivery holds a reference on its event. A delivery is freed only when it is
 * finished (DONE) and no outbox job of its is queued or running, so that the list is
 * also the set of files the daemon is responsible for. Loop thread only.
 */
#ifndef POSTERN_WEBHOOKS_INTERNAL_H
#define POSTERN_WEBHOOKS_INTERNAL_H

#include "webhooks/event.h"
#include "webhooks/http_post.h"
#include "webhooks/outbox.h"
#include "webhooks/sign.h"
#include "webhooks/webhooks.h"

#include <stdint.h>

#define WH_LOG "webhooks"
#define WH_USER_AGENT "postern/0.1"
#define WH_CONTENT_TYPE "application/json"
#define WH_ERROR_MAX 256
#define WH_JITTER_DIVISOR 10          /* +-10% */

struct ssl_ctx_st;
struct wh_disk_job;
struct wh_load_job;

/* One raised event, shared by its deliveries (one per endpoint). */
struct wh_event {
    int refs;
    char *id, *type;
    size_t type_idx;                  /* wh_event_type_index(type) */
    json_t *payload;
    char *body;                       /* the bytes sent and signed */
    size_t body_len;
};

struct wh_endpoint {
    char *name;
    struct wh_url url;
    unsigned char key[WH_KEY_MAX];
    size_t key_len;
    char **events;                    /* filter patterns */
    size_t nevents;
    struct ssl_ctx_st *tls;           /* https only */
    long long concurrency;
    long long max_pending;
    long long type_max;               /* pending events of one type at most (the rest of
                                         max_pending is reserved_share) */
    unsigned *type_pending;           /* pending events per wh_event_type_index(), and
                                         one more counter for unknown types */
    int refusing;                     /* over max_pending: logged once until it drains */
    int disabled;                     /* HTTP 410 seen: park everything until reload */
    struct wh_delivery *ready_head, *ready_tail;   /* due, waiting for a slot */
    unsigned pending, parked, in_flight;
    unsigned long long delivered, failed, refused;
};

enum wh_dstate {
    WH_D_WAITING,   /* timer armed for next_at_ms */
    WH_D_READY,     /* in the endpoint's ready queue */
    WH_D_SENDING,   /* request in flight */
    WH_D_PARKED,    /* endpoint disabled */
    WH_D_DONE       /* delivered, failed or detached: only outbox work left */
};

enum wh_disk_op { WH_DISK_NONE, WH_DISK_WRITE, WH_DISK_REMOVE, WH_DISK_FAIL };

struct wh_delivery {
    struct wh_delivery *prev, *next;  /* all deliveries of wh */
    struct wh_delivery *qnext;        /* endpoint ready queue */
    struct webhooks *wh;
    struct wh_endpoint *ep;           /* NULL once DONE */
    struct wh_event *ev;
    char *ep_name;
    char *file;                       /* EVENTID.ENDPOINT.json */
    enum wh_dstate state;
    long long attempts;               /* attempts made */
    long long next_at_ms;             /* unix ms */
    long long failed_at_ms;
    struct event *timer;
    struct wh_http_req *http;
    struct wh_disk_job *disk_job;     /* queued or running */
    enum wh_disk_op disk_want;        /* to submit when disk_job is done */
    int on_disk;                      /* our file exists (as far as we know) */
    int disk_error_logged;
    char last_error[WH_ERROR_MAX];
};

struct webhooks {
    struct event_base *base;
    struct workpool *wp;
    struct dns *dns;
    char *outbox_dir;
    long long timeout_ms;
    long long *schedule;
    size_t nschedule;
    long long rescan_ms;
    struct wh_endpoint *eps;
    size_t neps;
    struct wh_delivery *head, *tail;
    struct wh_coalesce *coalesce;
    long long coalesce_ms;            /* coalesce_window */
    struct event *coalesce_timer;     /* sends the counted events of ended windows */
    long long coalesce_due_ms;        /* monotonic time it is armed for; -1: not armed */
    long long coalesce_swept_ms;      /* monotonic time of the last sweep */
    uint64_t rng;                     /* xorshift state for the jitter */
    struct event *rescan;
    struct wh_load_job *load_job;     /* in flight */
    int store_started;                /* the initial load was submitted */
    int loading;                      /* initial load not done: outbox jobs wait */
    struct webhooks_stats stats;      /* counters; the gauges are summed on demand */
};

/* ---- webhooks.c ---- */
long long wh_now_ms(void);                                  /* wall clock, unix ms */
struct wh_endpoint *wh_endpoint_find(struct webhooks *wh, const char *name);
/* One more (delta 1) or one less (-1) event of ev's type pending for ep. */
void wh_endpoint_count(struct wh_endpoint *ep, const struct wh_event *ev, int delta);
struct wh_event *wh_event_new(const char *id, const char *type, json_t *payload);
void wh_event_unref(struct wh_event *ev);
/* A delivery made from an outbox record (loaded at start or adopted from new/). */
void wh_adopt_record(struct webhooks *wh, struct wh_record *rec, int initial);

/* ---- delivery.c ---- */
/* A delivery waiting for its next attempt is made due now (posternctl webhooks retry):
 * 1, or 0 when it was not waiting (sending, parked, done). */
int wh_delivery_retry_now(struct wh_delivery *d);
/* Delay before the next attempt after `attempts` failed ones, with jitter from rnd;
 * -1 when the schedule is exhausted. Pure. */
long long wh_retry_delay(const long long *schedule, size_t n, long long attempts,
                         uint32_t rnd);
struct wh_delivery *wh_delivery_new(struct webhooks *wh, struct wh_endpoint *ep,
                                    struct wh_event *ev, long long attempts,
                                    long long next_at_ms, int on_disk);
/* Arm the timer for next_at_ms, or queue now, or park when the endpoint is disabled. */
void wh_delivery_schedule(struct wh_delivery *d);
/* Cancel the timer and the request (nothing else changes). */
void wh_delivery_stop(struct wh_delivery *d);
/* Unlink and free d when it is DONE and has no outbox work left. */
void wh_delivery_release(struct wh_delivery *d);
/* Free d unconditionally (webhooks_free). */
void wh_delivery_free(struct wh_delivery *d);

/* ---- store.c ---- */
/* Ask for an outbox operation; final ones (REMOVE, FAIL) override WRITE. */
void wh_store_request(struct wh_delivery *d, enum wh_disk_op op);
/* Submit the wanted operation when none is running (and loading is over). */
void wh_store_kick(struct wh_delivery *d);
/* Submit what d still wants even if a job runs, and let its jobs finish without it
 * (webhooks_free). Returns 1 when d's file will exist afterwards. */
int wh_store_orphan(struct wh_delivery *d);
/* Load the outbox (prepare dirs, adopt new/, read all) and start the rescan timer. */
void wh_store_start(struct webhooks *wh);
/* Look at outbox_dir/new/ now (posternctl webhooks retry), unless a load runs. */
void wh_store_rescan_now(struct webhooks *wh);
/* Stop the rescan timer and orphan the load job. */
void wh_store_stop(struct webhooks *wh);

#endif
