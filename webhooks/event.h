/*
 * event.h - the webhook event model: the table of event types, event IDs, RFC 3339
 * timestamps, the JSON payload, endpoint type filters, and local coalescing.
 *
 * Adding an event type is one row in wh_event_types[] (event.c) and one section in
 * docs/webhooks.md. The payload sent for every event is
 *   {"type": "sender.rate_limited", "timestamp": "2025-03-01T12:00:00.123Z",
 *    "id": "evt_01JN7Q8Z9K3M4P5R6S7T8V9W0X", "data": {...}}
 * and its id is also the webhook-id header, stable across retries.
 * Used by webhooks.c (emit), delivery.c, outbox.c and the config check.
 * Everything here is pure except wh_event_id_generate (reads the kernel's random source);
 * the coalescing table belongs to one thread (the loop's).
 */
#ifndef POSTERN_WEBHOOKS_EVENT_H
#define POSTERN_WEBHOOKS_EVENT_H

#include <jansson.h>
#include <stddef.h>

#define WH_EVENT_ID_PREFIX "evt_"
#define WH_ULID_LEN 26
#define WH_ULID_RANDOM_BYTES 10                   /* 80 bits after the 48-bit time */
#define WH_EVENT_ID_SIZE 32                       /* "evt_" + 26 + NUL fits */
#define WH_TIMESTAMP_SIZE 32                      /* "2025-03-01T12:00:00.123Z" + NUL */
#define WH_EVENT_TYPE_MAX 64                      /* longest type name accepted */
#define WH_EVENT_BODY_MAX (64 * 1024)             /* larger payloads lose their data */

struct wh_event_type {
    const char *name;       /* "sender.rate_limited" */
    const char *summary;    /* one line for docs and the config reference */
};

/* Every type Postern emits, terminated by { NULL }. */
extern const struct wh_event_type wh_event_types[];

/* The row of a type name, or NULL for an unknown type. */
const struct wh_event_type *wh_event_type_find(const char *name);

/* 1 when pattern is a valid endpoint filter: "*", a known type, or "PREFIX.*" where
 * some known type starts with "PREFIX." (e.g. "message.*"). */
int wh_event_filter_valid(const char *pattern);

/* 1 when type passes one of the n patterns (validated as above). */
int wh_event_filter_match(char *const *patterns, size_t n, const char *type);

/* Write "evt_" + a ULID (10 characters of unix_ms, 16 of the 10 random bytes, Crockford
 * base32) into out. Pure: the caller supplies the randomness. */
void wh_event_id_format(char out[WH_EVENT_ID_SIZE], long long unix_ms,
                        const unsigned char rnd[WH_ULID_RANDOM_BYTES]);

/* The same with random bytes from getrandom(2). Any thread. */
void wh_event_id_generate(char out[WH_EVENT_ID_SIZE], long long unix_ms);

/* 1 when id looks like an event ID we make ("evt_" + 26 Crockford characters), which
 * also makes it safe in a file name. */
int wh_event_id_valid(const char *id);

/* RFC 3339 UTC with milliseconds: "2025-03-01T12:00:00.123Z". */
void wh_event_timestamp(char out[WH_TIMESTAMP_SIZE], long long unix_ms);

/* The payload object {"type","timestamp","id","data"}. Steals data (NULL becomes {}).
 * Returns a new reference. */
json_t *wh_event_payload(const char *type, long long unix_ms, const char *id, json_t *data);

/* The exact bytes that are sent and signed: compact JSON, keys in insertion order.
 * Returns a malloc'd NUL-terminated string (length in *len), or NULL if not encodable. */
char *wh_event_body(const json_t *payload, size_t *len);

/* ---- coalescing: at most one event per (type, key) per window, on this node ---- */

#define WH_COALESCE_MAX 4096    /* keys remembered; the soonest to expire is evicted */

struct wh_coalesce;

struct wh_coalesce *wh_coalesce_new(size_t capacity);
void wh_coalesce_free(struct wh_coalesce *c);

/* 1 when (type, key) has no open window at now_ms (monotonic ms): a window of window_ms
 * is opened and the caller emits; 0 while the window is open (the caller drops). */
int wh_coalesce_first(struct wh_coalesce *c, const char *type, const char *key,
                      long long now_ms, long long window_ms);

#endif
