/*
 * delivery.c - one (event, endpoint) delivery: attempt, retry, disable, give up.
 *
 * States (internal.h): WAITING (timer) -> READY (endpoint queue, at most `concurrency`
 * requests in flight per endpoint) -> SENDING -> DONE on 2xx (outbox file removed) or
 * when the schedule is exhausted (file moved to failed/); back to WAITING on any other
 * answer or a network error (attempt count and next time written to the outbox first);
 * PARKED when the endpoint answered 410 (the file stays; a reload re-enables it).
 * Each attempt is signed afresh: webhook-timestamp is the time of that attempt, the id
 * and body never change. Called from webhooks.c and store.c; loop thread only.
 */
#include "webhooks/internal.h"

#include "lib/log.h"
#include "lib/xalloc.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HTTP_OK_MIN 200
#define HTTP_OK_MAX 299
#define HTTP_GONE 410
#define HTTP_TOO_MANY 429
#define HTTP_UNAVAILABLE 503
#define RETRY_AFTER_CAP_MS (24LL * 3600 * 1000)  /* a Retry-After longer than a day: a day */
#define MS_PER_S 1000
#define US_PER_MS 1000
#define TS_TEXT_MAX 24
#define DELAY_TEXT_MAX 32
#define NHEADERS 5

long long wh_retry_delay(const long long *schedule, size_t n, long long attempts,
                         uint32_t rnd)
{
    long long base, range;

    if (attempts < 1 || (size_t)attempts > n)
        return -1;
    base = schedule[attempts - 1];
    range = base / WH_JITTER_DIVISOR;
    return base - range + (long long)(rnd % (uint64_t)(2 * range + 1));
}

/* Marsaglia's xorshift64 (shifts 13, 7, 17): jitter needs spread, not secrecy. */
static uint32_t rng_next(struct webhooks *wh)
{
    enum { XS_A = 13, XS_B = 7, XS_C = 17, HIGH_HALF = 32 };

    wh->rng ^= wh->rng << XS_A;
    wh->rng ^= wh->rng >> XS_B;
    wh->rng ^= wh->rng << XS_C;
    return (uint32_t)(wh->rng >> HIGH_HALF);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg);

struct wh_delivery *wh_delivery_new(struct webhooks *wh, struct wh_endpoint *ep,
                                    struct wh_event *ev, long long attempts,
                                    long long next_at_ms, int on_disk)
{
    struct wh_delivery *d = xcalloc(1, sizeof(*d));

    d->wh = wh;
    d->ep = ep;
    d->ev = ev;
    ev->refs++;
    d->ep_name = xstrdup(ep->name);
    d->file = wh_outbox_file_name(ev->id, ep->name);
    d->attempts = attempts;
    d->next_at_ms = next_at_ms;
    d->on_disk = on_disk;
    d->state = WH_D_WAITING;
    d->timer = evtimer_new(wh->base, timer_cb, d);
    d->prev = wh->tail;
    if (wh->tail)
        wh->tail->next = d;
    else
        wh->head = d;
    wh->tail = d;
    wh_endpoint_count(ep, ev, 1);
    return d;
}

void wh_delivery_free(struct wh_delivery *d)
{
    struct webhooks *wh = d->wh;

    wh_delivery_stop(d);
    if (d->prev)
        d->prev->next = d->next;
    else
        wh->head = d->next;
    if (d->next)
        d->next->prev = d->prev;
    else
        wh->tail = d->prev;
    event_free(d->timer);
    wh_event_unref(d->ev);
    free(d->ep_name);
    free(d->file);
    free(d);
}

void wh_delivery_release(struct wh_delivery *d)
{
    if (d->state == WH_D_DONE && d->disk_job == NULL && d->disk_want == WH_DISK_NONE)
        wh_delivery_free(d);
}

void wh_delivery_stop(struct wh_delivery *d)
{
    evtimer_del(d->timer);
    if (d->http) {
        wh_http_cancel(d->http);
        d->http = NULL;
        if (d->ep)
            d->ep->in_flight--;
    }
}

static void park(struct wh_delivery *d)
{
    d->state = WH_D_PARKED;
    d->ep->parked++;
}

static void send_attempt(struct wh_delivery *d);

static void pump(struct wh_endpoint *ep)
{
    while (ep->ready_head && ep->in_flight < (unsigned)ep->concurrency) {
        struct wh_delivery *d = ep->ready_head;
        ep->ready_head = d->qnext;
        if (ep->ready_head == NULL)
            ep->ready_tail = NULL;
        d->qnext = NULL;
        send_attempt(d);
    }
}

/* Due now: queue for a free slot of the endpoint. */
static void make_ready(struct wh_delivery *d)
{
    struct wh_endpoint *ep = d->ep;

    if (ep->disabled) {
        park(d);
        return;
    }
    d->state = WH_D_READY;
    d->qnext = NULL;
    if (ep->ready_tail)
        ep->ready_tail->qnext = d;
    else
        ep->ready_head = d;
    ep->ready_tail = d;
    pump(ep);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    make_ready(arg);
}

void wh_delivery_schedule(struct wh_delivery *d)
{
    long long delay = d->next_at_ms - wh_now_ms();
    struct timeval tv;

    if (d->ep->disabled) {
        park(d);
        return;
    }
    if (delay <= 0) {
        make_ready(d);
        return;
    }
    tv.tv_sec = delay / MS_PER_S;
    tv.tv_usec = (delay % MS_PER_S) * US_PER_MS;
    d->state = WH_D_WAITING;
    evtimer_add(d->timer, &tv);
}

int wh_delivery_retry_now(struct wh_delivery *d)
{
    if (d->state != WH_D_WAITING || d->ep == NULL || d->ep->disabled)
        return 0;
    evtimer_del(d->timer);
    d->next_at_ms = wh_now_ms();
    make_ready(d);
    return 1;
}

/* Leave the active states: counters, then the final outbox operation. */
static void finish(struct wh_delivery *d, enum wh_disk_op op)
{
    wh_endpoint_count(d->ep, d->ev, -1);
    d->ep = NULL;
    d->state = WH_D_DONE;
    evtimer_del(d->timer);
    wh_store_request(d, op);
    wh_delivery_release(d);
}

static void delivered(struct wh_delivery *d, int status)
{
    log_info(WH_LOG, "%s: endpoint=%s type=%s attempt=%lld status=sent (HTTP %d)",
             d->ev->id, d->ep_name, d->ev->type, d->attempts, status);
    d->ep->delivered++;
    d->wh->stats.delivered++;
    finish(d, WH_DISK_REMOVE);
}

/* HTTP 410: disable the endpoint until reload and park its due events. */
static void gone(struct wh_delivery *d)
{
    struct wh_endpoint *ep = d->ep;

    if (!ep->disabled)
        log_warn(WH_LOG, "endpoint %s (%s) answered HTTP 410 Gone: disabled until reload; "
                 "its events stay in the outbox", ep->name, ep->url.origin);
    ep->disabled = 1;
    snprintf(d->last_error, sizeof(d->last_error), "HTTP %d", HTTP_GONE);
    wh_store_request(d, WH_DISK_WRITE);
    park(d);
    while (ep->ready_head) {
        struct wh_delivery *q = ep->ready_head;
        ep->ready_head = q->qnext;
        q->qnext = NULL;
        park(q);
    }
    ep->ready_tail = NULL;
}

static void format_delay(char *buf, size_t len, long long ms)
{
    if (ms < MS_PER_S)
        snprintf(buf, len, "%lldms", ms);
    else
        snprintf(buf, len, "%llds", (ms + MS_PER_S / 2) / MS_PER_S);
}

/* retry_after_ms: the receiver's Retry-After with a 429 or 503 (-1: none). It can make the
 * wait longer than the schedule's (never shorter), up to RETRY_AFTER_CAP_MS; the number
 * of attempts stays the schedule's. */
static void retry_or_fail(struct wh_delivery *d, const char *why, long long retry_after_ms)
{
    struct webhooks *wh = d->wh;
    long long delay = wh_retry_delay(wh->schedule, wh->nschedule, d->attempts, rng_next(wh));
    char dt[DELAY_TEXT_MAX];

    if (retry_after_ms > RETRY_AFTER_CAP_MS)
        retry_after_ms = RETRY_AFTER_CAP_MS;
    if (delay >= 0 && retry_after_ms > delay)
        delay = retry_after_ms;

    snprintf(d->last_error, sizeof(d->last_error), "%s", why);
    if (delay < 0) {
        log_warn(WH_LOG, "%s: endpoint=%s type=%s attempt=%lld status=failed (%s): retry "
                 "schedule exhausted, kept in %s/" WH_OUTBOX_FAILED, d->ev->id, d->ep_name,
                 d->ev->type, d->attempts, why, wh->outbox_dir);
        d->ep->failed++;
        wh->stats.failed++;
        d->failed_at_ms = wh_now_ms();
        finish(d, WH_DISK_FAIL);
        return;
    }
    format_delay(dt, sizeof(dt), delay);
    log_info(WH_LOG, "%s: endpoint=%s type=%s attempt=%lld status=deferred (%s), next "
             "attempt in %s", d->ev->id, d->ep_name, d->ev->type, d->attempts, why, dt);
    d->next_at_ms = wh_now_ms() + delay;
    wh_store_request(d, WH_DISK_WRITE);
    wh_delivery_schedule(d);
}

static void on_http_done(const struct wh_http_result *res, void *arg)
{
    struct wh_delivery *d = arg;
    struct wh_endpoint *ep = d->ep;
    char why[WH_ERROR_MAX];

    d->http = NULL;
    ep->in_flight--;
    if (res->status >= HTTP_OK_MIN && res->status <= HTTP_OK_MAX) {
        delivered(d, res->status);
    } else if (res->status == HTTP_GONE) {
        gone(d);
    } else {
        bool busy = res->status == HTTP_TOO_MANY || res->status == HTTP_UNAVAILABLE;
        if (res->status > 0 && busy && res->retry_after_ms >= 0)
            snprintf(why, sizeof(why), "HTTP %d, Retry-After %llds", res->status,
                     (res->retry_after_ms + MS_PER_S - 1) / MS_PER_S);
        else if (res->status > 0)
            snprintf(why, sizeof(why), "HTTP %d", res->status);
        else
            snprintf(why, sizeof(why), "%s", res->error);
        retry_or_fail(d, why, busy ? res->retry_after_ms : -1);
    }
    pump(ep);
}

static void send_attempt(struct wh_delivery *d)
{
    struct wh_endpoint *ep = d->ep;
    struct webhooks *wh = d->wh;
    char ts[TS_TEXT_MAX], sig[WH_SIGNATURE_SIZE];
    long long now_s = wh_now_ms() / MS_PER_S;
    struct wh_http_header h[NHEADERS] = {
        { "webhook-id", d->ev->id }, { "webhook-timestamp", ts },
        { "webhook-signature", sig }, { "Content-Type", WH_CONTENT_TYPE },
        { "User-Agent", WH_USER_AGENT },
    };

    snprintf(ts, sizeof(ts), "%lld", now_s);
    d->attempts++;
    if (d->attempts > 1)
        wh->stats.retries++;
    if (wh_sign(ep->key, ep->key_len, d->ev->id, now_s, d->ev->body, d->ev->body_len,
                sig) < 0) {
        retry_or_fail(d, "cannot compute the signature", -1);
        return;
    }
    d->state = WH_D_SENDING;
    ep->in_flight++;
    d->http = wh_http_post(wh->base, wh->dns, ep->tls, &ep->url, h, NHEADERS, d->ev->body,
                           d->ev->body_len, wh->timeout_ms, on_http_done, d);
}
