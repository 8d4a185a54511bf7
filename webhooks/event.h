/*
 * event.h - the webhook event model: the table of event types, event IDs, RFC 3339
 * timestamps, the JSON payload, endpoint type filters, event data made from strings
 * nobody checked (event_pack.c), and local coalescing.
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
    /* Data fields whose values make the coalescing key (NULL-terminated; NULL: never
     * coalesced): events of this type with the same values are sent at most once per
     * webhooks.coalesce_window, the others counted (webhooks.c). An event without the
     * first field is not coalesced. */
    const char *const *coalesce_by;
};

/* Every type Postern emits, terminated by { NULL }. */
extern const struct wh_event_type wh_event_types[];

/* The row of a type name, or NULL for an unknown type. */
const struct wh_event_type *wh_event_type_find(const char *name);

/* Number of rows of wh_event_types[], and the position of a type name in it (the count
 * for an unknown type), for counters kept per type. */
size_t wh_event_type_count(void);
size_t wh_event_type_index(const char *name);

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

/* ---- event data from strings nobody checked (event_pack.c) ---- */

/* s[0..len) as valid UTF-8: every byte that does not belong to a well-formed sequence
 * (lib/utf8.h), and NUL, becomes U+FFFD. Malloc'd, NUL-terminated; its length in *out_len (may be
 * NULL). */
char *wh_utf8_sanitize(const char *s, size_t len, size_t *out_len);

/* A JSON string of s made valid UTF-8 (as above); NULL for NULL. New reference. */
json_t *wh_json_string(const char *s);

/*
 * json_pack() for event data, that never fails because of a string: the formats events
 * use ({} [] s i I b f n o O, with * and ? after s, o and O) mean what they mean for
 * json_pack, and every string, keys included, is made valid UTF-8 (wh_utf8_sanitize).
 * A NULL string or object leaves its field out (its element, in an array), with or
 * without '*'; with '?' it is JSON null. "o" steals the reference, "O" adds one.
 * Returns a new reference, or NULL for a format it does not know (a programming error).
 */
json_t *wh_pack(const char *fmt, ...);

/* ---- coalescing, on this node ----
 * Two uses of one table of (type, key) windows:
 *   wh_coalesce_first   at most one event per window; the others are dropped
 *                       (webhook_emit_once);
 *   wh_coalesce_fold    at most one event per window; the others are counted, and when
 *                       the window ends the last of them is sent with the count
 *                       (wh_coalesce_sweep), and a new window starts (types with
 *                       coalesce_by: webhook_emit).
 * Windows run on a monotonic clock (mono_ms); "first_seen" and "last_seen" are wall
 * clock times (unix_ms). */

#define WH_COALESCE_MAX 4096    /* keys remembered; the soonest to expire is evicted */

struct wh_coalesce;

struct wh_coalesce *wh_coalesce_new(size_t capacity);
/* Frees the table; counted events that were not swept are dropped. NULL is a no-op. */
void wh_coalesce_free(struct wh_coalesce *c);

/* 1 when (type, key) has no open window at mono_ms: a window of window_ms is opened and
 * the caller emits; 0 while the window is open (the caller drops). */
int wh_coalesce_first(struct wh_coalesce *c, const char *type, const char *key,
                      long long mono_ms, long long window_ms);

/* 1 when (type, key) has no open window at mono_ms: one of window_ms is opened and the
 * caller sends data (data stays the caller's). 0 while one is open: data (an object) is
 * taken and counted. *due_ms is set to the monotonic time at which wh_coalesce_sweep
 * has something to send (the window's end, or now when a full table evicted a window
 * with counted events), or -1 when nothing new became due. */
int wh_coalesce_fold(struct wh_coalesce *c, const char *type, const char *key,
                     long long mono_ms, long long window_ms, long long unix_ms,
                     json_t *data, long long *due_ms);

/* For each window that ended by mono_ms with counted events: emit(arg, type, data) with
 * the data of the last counted event plus "count", "first_seen" and "last_seen" (the
 * callee takes data), then a new window of the same length starts. Windows that ended
 * without one are forgotten. Returns the monotonic time of the next window end with
 * counted events, or -1. mono_ms LLONG_MAX sends everything that was counted (at stop). */
typedef void (*wh_coalesce_emit_fn)(void *arg, const char *type, json_t *data);
long long wh_coalesce_sweep(struct wh_coalesce *c, long long mono_ms,
                            wh_coalesce_emit_fn emit, void *arg);

/* Add "count", "first_seen" and "last_seen" (RFC 3339, from unix ms) to an event's data:
 * the fields of a coalesced type. */
void wh_coalesce_stamp(json_t *data, unsigned long long count, long long first_unix_ms,
                       long long last_unix_ms);

#endif
