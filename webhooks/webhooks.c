/*
 * webhooks.c - the webhooks object: endpoints, raising events, reload, stats.
 *
 * webhook_emit() builds the payload once (webhooks/event.c), makes one delivery per
 * matching endpoint (webhooks/delivery.c) and asks for its outbox file
 * (webhooks/store.c); it never waits for the disk or the network. Endpoints are built
 * from the config (URL parsed, secret decoded, TLS context made) at start and on reload.
 * Called by any module on the loop thread; see webhooks.h for the contracts.
 */
#include "webhooks/internal.h"

#include "lib/log.h"
#include "lib/xalloc.h"

#include <event2/event.h>
#include <limits.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define MS_PER_S 1000
#define NS_PER_MS 1000000
#define US_PER_MS 1000
#define ERR_MAX 256
#define PERCENT 100
#define COALESCE_TICK_MS 1000         /* sweeps of ended windows: at most this often */

static void coalesce_timer_cb(evutil_socket_t fd, short what, void *arg);
static void emit_counted(void *arg, const char *type, json_t *data);

long long wh_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * MS_PER_S + ts.tv_nsec / NS_PER_MS;
}

static long long mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * MS_PER_S + ts.tv_nsec / NS_PER_MS;
}

/* ---- events ---- */

struct wh_event *wh_event_new(const char *id, const char *type, json_t *payload)
{
    struct wh_event *ev;
    size_t len;
    char *body = wh_event_body(payload, &len);

    if (body == NULL) {
        json_decref(payload);
        return NULL;
    }
    ev = xcalloc(1, sizeof(*ev));
    ev->refs = 1;
    ev->id = xstrdup(id);
    ev->type = xstrdup(type);
    ev->type_idx = wh_event_type_index(type);
    ev->payload = payload;
    ev->body = body;
    ev->body_len = len;
    return ev;
}

void wh_event_unref(struct wh_event *ev)
{
    if (ev == NULL || --ev->refs > 0)
        return;
    free(ev->id);
    free(ev->type);
    json_decref(ev->payload);
    free(ev->body);
    free(ev);
}

/* ---- endpoints ---- */

static void endpoint_clear(struct wh_endpoint *ep)
{
    size_t i;

    free(ep->name);
    wh_url_clear(&ep->url);
    for (i = 0; i < ep->nevents; i++)
        free(ep->events[i]);
    free(ep->events);
    free(ep->type_pending);
    if (ep->tls)
        SSL_CTX_free(ep->tls);
    memset(ep, 0, sizeof(*ep));
}

static void endpoints_free(struct wh_endpoint *eps, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        endpoint_clear(&eps[i]);
    free(eps);
}

/* Build one endpoint from its (validated) config. -1 with a reason in err. */
static int endpoint_init(struct wh_endpoint *ep, const struct webhooks_endpoint_conf *c,
                         const char *global_ca, char *err, size_t err_size)
{
    size_t i;

    ep->name = xstrdup(c->name);
    ep->concurrency = c->concurrency > 0 ? c->concurrency : 1;
    ep->max_pending = c->max_pending > 0 ? c->max_pending : 1;
    ep->type_max = ep->max_pending - ep->max_pending * c->reserved_share / PERCENT;
    if (ep->type_max < 1)
        ep->type_max = 1;
    ep->type_pending = xcalloc(wh_event_type_count() + 1, sizeof(*ep->type_pending));
    ep->nevents = c->events.n;
    ep->events = xcalloc(c->events.n + 1, sizeof(char *));
    for (i = 0; i < c->events.n; i++)
        ep->events[i] = xstrdup(c->events.v[i]);
    if (wh_url_parse(c->url, &ep->url, err, err_size) < 0)
        return -1;
    if (wh_secret_decode(c->secret, ep->key, &ep->key_len) != WH_SECRET_OK) {
        snprintf(err, err_size, "bad secret");
        return -1;
    }
    if (ep->url.https &&
        (ep->tls = wh_http_tls_ctx_new(c->ca_file ? c->ca_file : global_ca, err,
                                       err_size)) == NULL)
        return -1;
    return 0;
}

/* Endpoints of every enabled entry of conf; NULL (logged) on failure. */
static struct wh_endpoint *endpoints_build(const struct webhooks_conf *conf, size_t *n)
{
    const struct webhooks_endpoint_conf *c = conf->endpoints.items;
    struct wh_endpoint *eps = xcalloc(conf->endpoints.n + 1, sizeof(*eps));
    char err[ERR_MAX];
    size_t i, k = 0;

    for (i = 0; i < conf->endpoints.n; i++) {
        if (!c[i].enabled)
            continue;
        if (endpoint_init(&eps[k++], &c[i], conf->ca_file, err, sizeof(err)) < 0) {
            log_error(WH_LOG, "endpoint %s: %s", c[i].name, err);
            endpoints_free(eps, k);
            return NULL;
        }
    }
    *n = k;
    return eps;
}

void wh_endpoint_count(struct wh_endpoint *ep, const struct wh_event *ev, int delta)
{
    ep->pending += (unsigned)delta;
    ep->type_pending[ev->type_idx] += (unsigned)delta;
}

struct wh_endpoint *wh_endpoint_find(struct webhooks *wh, const char *name)
{
    size_t i;

    for (i = 0; i < wh->neps; i++)
        if (strcmp(wh->eps[i].name, name) == 0)
            return &wh->eps[i];
    return NULL;
}

/* Copy the scalar settings of conf. -1 when the schedule does not parse. */
static int settings_apply(struct webhooks *wh, const struct webhooks_conf *conf)
{
    size_t n;
    long long *s = webhooks_conf_schedule(conf, &n);

    if (s == NULL) {
        log_error(WH_LOG, "retry_schedule: an entry is not a duration");
        return -1;
    }
    free(wh->schedule);
    wh->schedule = s;
    wh->nschedule = n;
    wh->timeout_ms = conf->timeout_ms;
    wh->rescan_ms = conf->rescan_interval_ms;
    wh->coalesce_ms = conf->coalesce_window_ms;
    return 0;
}

struct webhooks *webhooks_new(struct event_base *base, struct workpool *wp, struct dns *dns,
                              const struct webhooks_conf *conf)
{
    struct webhooks *wh = xcalloc(1, sizeof(*wh));

    wh->base = base;
    wh->wp = wp;
    wh->dns = dns;
    wh->outbox_dir = xstrdup(conf->outbox_dir);
    wh->coalesce = wh_coalesce_new(WH_COALESCE_MAX);
    wh->coalesce_timer = evtimer_new(base, coalesce_timer_cb, wh);
    wh->coalesce_due_ms = -1;
    while (getrandom(&wh->rng, sizeof(wh->rng), 0) != sizeof(wh->rng) || wh->rng == 0)
        ;
    if (settings_apply(wh, conf) < 0 ||
        (wh->eps = endpoints_build(conf, &wh->neps)) == NULL) {
        webhooks_free(wh);
        return NULL;
    }
    if (wh->neps > 0)
        wh_store_start(wh);
    log_info(WH_LOG, "%zu endpoints, outbox %s", wh->neps, wh->outbox_dir);
    return wh;
}

/* Reload: move d to the endpoint of the same name in the new set, sending at once what
 * was in flight or parked; without one, d leaves memory and its file stays. */
static void reattach(struct webhooks *wh, struct wh_delivery *d)
{
    struct wh_endpoint *ep = wh_endpoint_find(wh, d->ep_name);
    int was_busy = d->state == WH_D_SENDING || d->state == WH_D_PARKED ||
                   d->state == WH_D_READY;

    wh_delivery_stop(d);
    d->qnext = NULL;
    if (ep == NULL) {
        if (!d->on_disk && d->disk_job == NULL && d->disk_want != WH_DISK_WRITE)
            log_error(WH_LOG, "%s: endpoint %s is gone and the event was not in the "
                      "outbox: dropped", d->ev->id, d->ep_name);
        d->ep = NULL;
        d->state = WH_D_DONE;
        if (d->disk_want != WH_DISK_WRITE)
            d->disk_want = WH_DISK_NONE;
        wh_store_kick(d);
        wh_delivery_release(d);
        return;
    }
    d->ep = ep;
    wh_endpoint_count(ep, d->ev, 1);
    if (was_busy)
        d->next_at_ms = wh_now_ms();
    wh_delivery_schedule(d);
}

int webhooks_reload(struct webhooks *wh, const struct webhooks_conf *conf)
{
    struct wh_endpoint *old = wh->eps, *eps;
    size_t nold = wh->neps, n;
    struct wh_delivery *d, *next;

    if ((eps = endpoints_build(conf, &n)) == NULL)
        return -1;
    if (settings_apply(wh, conf) < 0) {
        endpoints_free(eps, n);
        return -1;
    }
    if (strcmp(conf->outbox_dir, wh->outbox_dir) != 0)
        log_warn(WH_LOG, "outbox_dir changed to %s: it takes effect at the next start",
                 conf->outbox_dir);
    wh->eps = eps;
    wh->neps = n;
    for (d = wh->head; d; d = next) {
        next = d->next;
        if (d->state != WH_D_DONE)
            reattach(wh, d);
    }
    endpoints_free(old, nold);
    if (wh->neps > 0)
        wh_store_start(wh);
    log_info(WH_LOG, "reloaded: %zu endpoints", wh->neps);
    return 0;
}

void webhooks_free(struct webhooks *wh)
{
    struct wh_delivery *d;
    unsigned lost = 0;

    if (wh == NULL)
        return;
    if (wh->coalesce_timer) {
        /* what was counted goes to the outbox with the rest, and is sent after a restart */
        wh_coalesce_sweep(wh->coalesce, LLONG_MAX, emit_counted, wh);
        event_free(wh->coalesce_timer);
    }
    wh_store_stop(wh);
    while ((d = wh->head) != NULL) {
        int kept = wh_store_orphan(d);
        if (d->state != WH_D_DONE && !kept)
            lost++;
        wh_delivery_free(d);
    }
    if (lost > 0)
        log_error(WH_LOG, "%u pending events were not in the outbox and are lost", lost);
    endpoints_free(wh->eps, wh->neps);
    wh_coalesce_free(wh->coalesce);
    free(wh->schedule);
    free(wh->outbox_dir);
    free(wh);
}

/* ---- raising events ---- */

/* 1 when ep takes one more event: fewer than max_pending are pending, and fewer than
 * type_max of its type (the rest is kept for the other types). Else count it and log
 * the first refusal of a run. */
static int endpoint_has_room(struct webhooks *wh, struct wh_endpoint *ep,
                             const struct wh_event *ev)
{
    bool full = ep->pending >= (unsigned long long)ep->max_pending;

    if (!full && ep->type_pending[ev->type_idx] < (unsigned long long)ep->type_max) {
        ep->refusing = 0;
        return 1;
    }
    if (!ep->refusing)
        log_error(WH_LOG, "%s: type=%s endpoint=%s: %u events already pending (%s): "
                  "not sent; further refusals are counted, not logged, until it drains",
                  ev->id, ev->type, ep->name, full ? ep->pending
                  : ep->type_pending[ev->type_idx],
                  full ? "max_pending" : "of this type: the rest is reserved_share");
    ep->refusing = 1;
    ep->refused++;
    wh->stats.refused++;
    return 0;
}

static void fan_out(struct webhooks *wh, struct wh_event *ev, long long now)
{
    size_t i, n = 0;

    for (i = 0; i < wh->neps; i++) {
        struct wh_endpoint *ep = &wh->eps[i];
        struct wh_delivery *d;

        if (!wh_event_filter_match(ep->events, ep->nevents, ev->type) ||
            !endpoint_has_room(wh, ep, ev))
            continue;
        d = wh_delivery_new(wh, ep, ev, 0, now, 0);
        wh_store_request(d, WH_DISK_WRITE);
        wh_delivery_schedule(d);
        n++;
    }
    if (n > 0)
        log_info(WH_LOG, "%s: type=%s endpoints=%zu", ev->id, ev->type, n);
    else
        log_debug(WH_LOG, "%s: type=%s: no endpoint wants it", ev->id, ev->type);
}

/* Build the event and hand it to the endpoints. -1 when it cannot be encoded. */
static int emit_now(struct webhooks *wh, const char *type, json_t *data, long long now)
{
    char id[WH_EVENT_ID_SIZE];
    struct wh_event *ev;

    wh_event_id_generate(id, now);
    ev = wh_event_new(id, type, wh_event_payload(type, now, id, data));
    if (ev != NULL && ev->body_len > WH_EVENT_BODY_MAX) {
        /* still tell the admin, with the fields replaced by the reason */
        log_warn(WH_LOG, "%s: type=%s: %zu bytes of data, more than %d: data replaced",
                 id, type, ev->body_len, WH_EVENT_BODY_MAX);
        data = json_pack("{s:s, s:I}", "error", "data too large",
                         "bytes", (json_int_t)ev->body_len);
        wh_event_unref(ev);
        ev = wh_event_new(id, type, wh_event_payload(type, now, id, data));
    }
    if (ev == NULL) {
        log_error(WH_LOG, "event %s cannot be encoded as JSON; not sent", type);
        return -1;
    }
    wh->stats.emitted++;
    fan_out(wh, ev, now);
    wh_event_unref(ev);
    return 0;
}

/* A window of a coalesced type ended with counted events: send the last one. */
static void emit_counted(void *arg, const char *type, json_t *data)
{
    struct webhooks *wh = arg;
    json_t *count = json_object_get(data, "count");

    log_info(WH_LOG, "type=%s: %lld more in the coalescing window, sent as one", type,
             (long long)json_integer_value(count));
    emit_now(wh, type, data, wh_now_ms());
}

/* Arm the sweep for due_ms (monotonic), unless it is armed sooner; never sooner than
 * COALESCE_TICK_MS after the last sweep, so that a flood of new keys costs one sweep a
 * tick. */
static void coalesce_arm(struct webhooks *wh, long long due_ms)
{
    long long now = mono_ms(), delay;
    struct timeval tv;

    if (due_ms < 0 || (wh->coalesce_due_ms >= 0 && wh->coalesce_due_ms <= due_ms))
        return;
    if (due_ms < wh->coalesce_swept_ms + COALESCE_TICK_MS)
        due_ms = wh->coalesce_swept_ms + COALESCE_TICK_MS;
    delay = due_ms > now ? due_ms - now : 0;
    tv.tv_sec = delay / MS_PER_S;
    tv.tv_usec = (delay % MS_PER_S) * US_PER_MS;
    wh->coalesce_due_ms = due_ms;
    evtimer_add(wh->coalesce_timer, &tv);
}

static void coalesce_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct webhooks *wh = arg;
    long long next;

    (void)fd;
    (void)what;
    wh->coalesce_due_ms = -1;
    wh->coalesce_swept_ms = mono_ms();
    next = wh_coalesce_sweep(wh->coalesce, wh->coalesce_swept_ms, emit_counted, wh);
    coalesce_arm(wh, next);
}

/* The coalescing key of data for type t ("VALUE\nVALUE", malloc'd), or NULL when t is not
 * coalesced or data lacks the first field. */
static char *coalesce_key(const struct wh_event_type *t, const json_t *data)
{
    char *key = NULL, *next;
    size_t i;

    if (t->coalesce_by == NULL || json_object_get(data, t->coalesce_by[0]) == NULL)
        return NULL;
    for (i = 0; t->coalesce_by[i]; i++) {
        const char *v = json_string_value(json_object_get(data, t->coalesce_by[i]));
        next = xasprintf("%s%s%s", key ? key : "", i ? "\n" : "", v ? v : "");
        free(key);
        key = next;
    }
    return key;
}

int webhook_emit(struct webhooks *wh, const char *type, json_t *data)
{
    long long now = wh_now_ms(), due;
    const struct wh_event_type *t;
    char *key;

    if (wh == NULL) {
        json_decref(data);
        return 0;
    }
    if ((t = wh_event_type_find(type)) == NULL) {
        log_error(WH_LOG, "unknown event type \"%s\" raised; not sent", type);
        json_decref(data);
        return -1;
    }
    if (!json_is_object(data)) {
        log_warn(WH_LOG, "event %s raised without a data object; sent with empty data",
                 type);
        json_decref(data);
        data = NULL;
    }
    if (data && wh->coalesce_ms > 0 && (key = coalesce_key(t, data)) != NULL) {
        int first = wh_coalesce_fold(wh->coalesce, type, key, mono_ms(), wh->coalesce_ms,
                                     now, data, &due);
        free(key);
        coalesce_arm(wh, due);
        if (!first) {
            wh->stats.coalesced++;
            return 0;
        }
        wh_coalesce_stamp(data, 1, now, now);
    }
    return emit_now(wh, type, data, now);
}

int webhook_emit_once(struct webhooks *wh, const char *type, const char *key,
                      long long window_ms, json_t *data)
{
    if (wh != NULL && wh_event_type_find(type) != NULL &&
        !wh_coalesce_first(wh->coalesce, type, key ? key : "", mono_ms(), window_ms)) {
        log_debug(WH_LOG, "type=%s key=%s: coalesced", type, key ? key : "");
        wh->stats.coalesced++;
        json_decref(data);
        return 1;
    }
    return webhook_emit(wh, type, data);
}

void wh_adopt_record(struct webhooks *wh, struct wh_record *rec, int initial)
{
    struct wh_endpoint *ep = wh_endpoint_find(wh, rec->endpoint);
    struct wh_event *ev;
    struct wh_delivery *d;

    if (ep == NULL) {
        log_warn(WH_LOG, "outbox: %s for endpoint %s, which is not configured: kept for "
                 "later", wh_record_id(rec), rec->endpoint);
        return;
    }
    ev = wh_event_new(wh_record_id(rec), wh_record_type(rec), json_incref(rec->event));
    if (ev == NULL)
        return;
    if (!initial)
        log_info(WH_LOG, "%s: type=%s endpoint=%s: picked up from the outbox", ev->id,
                 ev->type, ep->name);
    d = wh_delivery_new(wh, ep, ev, rec->attempts, rec->next_attempt_ms, 1);
    wh_event_unref(ev);
    wh_delivery_schedule(d);
}

/* ---- state ---- */

unsigned webhooks_retry_now(struct webhooks *wh)
{
    struct wh_delivery *d, *next;
    unsigned n = 0;

    if (wh == NULL)
        return 0;
    for (d = wh->head; d; d = next) {
        next = d->next;           /* making one due may finish it (a sync failure) */
        n += (unsigned)wh_delivery_retry_now(d);
    }
    wh_store_rescan_now(wh);
    return n;
}

void webhooks_get_stats(const struct webhooks *wh, struct webhooks_stats *out)
{
    size_t i;

    *out = wh->stats;
    out->pending = out->parked = out->in_flight = 0;
    for (i = 0; i < wh->neps; i++) {
        out->pending += wh->eps[i].pending;
        out->parked += wh->eps[i].parked;
        out->in_flight += wh->eps[i].in_flight;
    }
}

size_t webhooks_endpoint_count(const struct webhooks *wh)
{
    return wh->neps;
}

void webhooks_get_endpoint_stats(const struct webhooks *wh, size_t i,
                                 struct webhooks_endpoint_stats *out)
{
    const struct wh_endpoint *ep = &wh->eps[i];

    out->name = ep->name;
    out->disabled = ep->disabled;
    out->pending = ep->pending;
    out->parked = ep->parked;
    out->in_flight = ep->in_flight;
    out->delivered = ep->delivered;
    out->failed = ep->failed;
    out->refused = ep->refused;
}
