/*
 * webhooks.h - signed event webhooks: the API other modules call, and the daemon's hooks.
 *
 * Any module raises an event with a type and a JSON object of fields:
 *     webhook_emit(wh, "message.rejected",
 *                  json_pack("{s:s, s:s*, s:i, s:s, s:s}", "client_ip", ip, "sender", from,
 *                            "code", 554, "enhanced_code", "5.7.1", "text", text));
 * webhook_emit() returns at once: it builds the payload, fans it out to every endpoint
 * whose "events" filter matches, starts the first attempt, and queues the outbox write
 * (file + fsync, on the worker pool). Each (event, endpoint) is then delivered as a
 * Standard Webhooks POST (webhook-id / webhook-timestamp / webhook-signature headers),
 * retried on the configured schedule with +-10% jitter until a 2xx answer; HTTP 410
 * disables the endpoint until reload (its events stay in the outbox); when the schedule is
 * exhausted the event moves to outbox_dir/failed/ and is counted. Events pending at a
 * restart are sent after it. Event types and their fields: docs/webhooks.md.
 *
 * Threading: every function here runs on the loop thread of the event_base given to
 * webhooks_new(), except the admin functions at the end (blocking, for posternctl).
 * Worker threads only write and read outbox files.
 */
#ifndef POSTERN_WEBHOOKS_H
#define POSTERN_WEBHOOKS_H

#include "lib/conf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

struct event_base;
struct workpool;
struct dns;
struct webhooks;

/* ---- configuration: the "webhooks" section (webhooks/webhooks_conf.c) ---- */

struct webhooks_endpoint_conf {
    char *name;                    /* [A-Za-z0-9_-]{1,64}, unique; names outbox files */
    char *url;                     /* http:// or https:// */
    char *secret;                  /* "whsec_" + base64 of 24..64 bytes */
    struct conf_strlist events;    /* types, "prefix.*" or "*" */
    char *ca_file;                 /* NULL: webhooks.ca_file */
    long long concurrency;         /* requests in flight to this endpoint */
    long long max_pending;         /* new events beyond this many pending are refused */
    long long reserved_share;      /* percent of max_pending one event type cannot take */
    bool enabled;
};

struct webhooks_conf {
    char *outbox_dir;
    long long timeout_ms;          /* whole request: DNS, connect, TLS, answer */
    struct conf_strlist retry_schedule;   /* durations after attempt 1, 2, ... */
    char *ca_file;                 /* NULL: the system store */
    long long rescan_interval_ms;  /* how often outbox_dir/new/ is checked */
    long long deferred_after_tries;/* read by the queue runner: message.deferred */
    long long queue_stuck_after_ms;/* read by the queue runner: queue.stuck */
    long long coalesce_window_ms;  /* types with coalesce_by (event.c); 0: off */
    struct conf_array endpoints;   /* struct webhooks_endpoint_conf */
};

/* Hook into the root table as
 * { "webhooks", CONF_SECTION, offsetof(root, webhooks), .sub = &webhooks_conf_section }. */
extern const struct conf_section webhooks_conf_section;

/* The retry schedule in ms (n entries, malloc'd), or NULL with *n = 0 when an entry does
 * not parse (the config check refuses that). */
long long *webhooks_conf_schedule(const struct webhooks_conf *conf, size_t *n);

/* ---- the daemon ---- */

/*
 * Start webhooks on base: copies what it needs from conf (the caller keeps ownership),
 * builds TLS contexts, then loads outbox_dir on the worker pool and schedules every
 * pending event. dns resolves endpoint host names (may be NULL when every URL uses an
 * IP address). wp and dns must outlive the object. Returns NULL (logged) when a TLS
 * context or URL cannot be set up.
 */
struct webhooks *webhooks_new(struct event_base *base, struct workpool *wp, struct dns *dns,
                              const struct webhooks_conf *conf);

/*
 * Apply a new config (SIGHUP): endpoints are matched by name; disabled endpoints are
 * enabled again; requests in flight are cancelled and sent again at once; events of
 * endpoints that are gone stay in the outbox (sent after a restart that configures them
 * again). outbox_dir is only read at start. Returns 0, or -1 (logged; the old
 * endpoints stay) when a TLS context cannot be built.
 */
int webhooks_reload(struct webhooks *wh, const struct webhooks_conf *conf);

/* Stop: cancel requests and timers; outbox writes already queued still complete on the
 * worker pool (call before workpool_free). Events that could not be written to the
 * outbox are lost and counted in the log line. NULL is a no-op. */
void webhooks_free(struct webhooks *wh);

/* ---- raising events (any module; loop thread) ---- */

/*
 * Raise an event of a type listed in webhooks/event.c. Steals data (a JSON object; build
 * it with wh_pack (webhooks/event.h), which makes every string valid UTF-8, and leaves
 * out fields that are NULL; NULL data is sent as {} and logged).
 * A type with coalesce_by (message.rejected) is sent at most once per key and
 * coalesce_window: the events after the first are counted, and the last of them is sent
 * with "count", "first_seen" and "last_seen" when the window ends.
 * Returns 0, or -1 for an unknown type (logged; a programming error). wh may be NULL
 * (webhooks not configured): data is released and 0 returned.
 */
int webhook_emit(struct webhooks *wh, const char *type, json_t *data);

/*
 * The same, at most once per (type, key) per window_ms on this node (a local safety net:
 * the rate limiter already raises sender.rate_limited once per window across nodes).
 * Returns 0 when emitted, 1 when coalesced (data released), -1 as above.
 */
int webhook_emit_once(struct webhooks *wh, const char *type, const char *key,
                      long long window_ms, json_t *data);

/* ---- state, for metrics, tests and the admin API ---- */

struct webhooks_stats {
    unsigned long long emitted;     /* events raised (before fan-out) */
    unsigned long long coalesced;   /* dropped by webhook_emit_once, or counted into a
                                       later event (coalesce_window) */
    unsigned long long delivered;   /* (event, endpoint) pairs answered 2xx */
    unsigned long long failed;      /* pairs given up: schedule exhausted */
    unsigned long long retries;     /* attempts after the first */
    unsigned long long disk_errors; /* outbox writes that failed */
    unsigned long long refused;     /* (event, endpoint) pairs over max_pending, or over
                                       the share of one type: not sent */
    unsigned pending;               /* pairs not yet delivered or failed (incl. parked) */
    unsigned parked;                /* pending pairs of disabled endpoints */
    unsigned in_flight;             /* requests on the wire */
    unsigned disk_busy;             /* outbox jobs queued or running, and the initial load */
};

void webhooks_get_stats(const struct webhooks *wh, struct webhooks_stats *out);

/* posternctl webhooks retry: every event waiting for its next attempt is sent now (as
 * the endpoints' concurrency allows), and outbox_dir/new/ is looked at now instead of at
 * the next rescan. Returns the number of deliveries made due. wh may be NULL. Loop thread. */
unsigned webhooks_retry_now(struct webhooks *wh);

struct webhooks_endpoint_stats {
    const char *name;               /* valid until the next reload */
    int disabled;                   /* an HTTP 410 was received */
    unsigned pending, parked, in_flight;
    unsigned long long delivered, failed, refused;
};

/* Number of endpoints, and the state of endpoint i (0 <= i < count). */
size_t webhooks_endpoint_count(const struct webhooks *wh);
void webhooks_get_endpoint_stats(const struct webhooks *wh, size_t i,
                                 struct webhooks_endpoint_stats *out);

/* ---- admin (posternctl; blocking; any thread; webhooks/webhooks_admin.c) ---- */

/*
 * posternctl webhooks [--json]: one line per configured endpoint with its URL origin,
 * enabled flag, event filter and the outbox counts (pending, failed), plus lines for
 * files of endpoints that are not configured. Returns 0, or -1 after printing why.
 */
int webhooks_admin_list(FILE *out, const struct webhooks_conf *conf, int json);

/*
 * posternctl webhooks test [ENDPOINT]: write a webhook.test event into
 * outbox_dir/new/ for ENDPOINT (or every enabled endpoint when NULL, whatever their
 * filters); the running daemon picks it up within rescan_interval, or a daemon started
 * later sends it. Prints the event id. Returns 0, or -1 after printing why.
 */
int webhooks_admin_test(FILE *out, const struct webhooks_conf *conf, const char *endpoint);

#endif
