/*
 * event.c - event types, IDs, timestamps, payloads, filters and coalescing (see event.h).
 *
 * Pure functions over their arguments, except wh_event_id_generate (getrandom) and the
 * coalescing table, which belongs to the thread that owns it (the event loop).
 */
#include "webhooks/event.h"

#include "lib/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define CROCKFORD "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#define ULID_TIME_CHARS 10
#define ULID_BITS 5
#define ULID_MASK 31u
#define MS_PER_S 1000
#define WILDCARD "*"
#define PREFIX_WILDCARD ".*"

const struct wh_event_type wh_event_types[] = {
    { "sender.rate_limited", "an authenticated sender hit a rate limit (once per window)" },
    { "auth.bruteforce", "failed logins from one address or for one login reached the "
                         "threshold (once per window)" },
    { "message.rejected", "a message or recipient was refused during the SMTP dialogue" },
    { "message.bounced", "delivery failed permanently; a bounce goes to the sender" },
    { "message.deferred", "delivery failed temporarily deferred_after_tries times" },
    { "queue.stuck", "the oldest queued message is older than queue_stuck_after" },
    { "queue.corrupt", "a queue file could not be parsed and was moved to corrupt/" },
    { "backup.primary_down", "the primary MX of a backup-MX domain failed its probes" },
    { "backup.primary_up", "the primary MX of a backup-MX domain answers again" },
    { "redis.unavailable", "Redis stopped answering; checks use their fail modes" },
    { "redis.recovered", "Redis answers again" },
    { "policy.check_unavailable", "a service a policy check needs (DNS, Redis, the virus "
                                  "scanner) failed; once per outage" },
    { "webhook.test", "a test event sent by \"posternctl webhooks test\"" },
    { NULL, NULL }
};

const struct wh_event_type *wh_event_type_find(const char *name)
{
    const struct wh_event_type *t;

    for (t = wh_event_types; name && t->name; t++)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

/* For "PREFIX.*": length of "PREFIX." (the part that must match), else 0. */
static size_t prefix_len(const char *pattern)
{
    size_t n = strlen(pattern);

    if (n > strlen(PREFIX_WILDCARD) &&
        strcmp(pattern + n - strlen(PREFIX_WILDCARD), PREFIX_WILDCARD) == 0)
        return n - 1;
    return 0;
}

int wh_event_filter_valid(const char *pattern)
{
    const struct wh_event_type *t;
    size_t p;

    if (strcmp(pattern, WILDCARD) == 0 || wh_event_type_find(pattern) != NULL)
        return 1;
    p = prefix_len(pattern);
    for (t = wh_event_types; p > 0 && t->name; t++)
        if (strncmp(t->name, pattern, p) == 0)
            return 1;
    return 0;
}

int wh_event_filter_match(char *const *patterns, size_t n, const char *type)
{
    size_t i, p;

    for (i = 0; i < n; i++) {
        if (strcmp(patterns[i], WILDCARD) == 0 || strcmp(patterns[i], type) == 0)
            return 1;
        p = prefix_len(patterns[i]);
        if (p > 0 && strncmp(patterns[i], type, p) == 0)
            return 1;
    }
    return 0;
}

void wh_event_id_format(char out[WH_EVENT_ID_SIZE], long long unix_ms,
                        const unsigned char rnd[WH_ULID_RANDOM_BYTES])
{
    const size_t plen = strlen(WH_EVENT_ID_PREFIX);
    char *u = out + plen;
    uint64_t t = (uint64_t)unix_ms;
    unsigned acc = 0, bits = 0;
    size_t i, o = ULID_TIME_CHARS;

    memcpy(out, WH_EVENT_ID_PREFIX, plen);
    for (i = ULID_TIME_CHARS; i-- > 0; t >>= ULID_BITS)
        u[i] = CROCKFORD[t & ULID_MASK];
    for (i = 0; i < WH_ULID_RANDOM_BYTES; i++) {
        acc = (acc << 8) | rnd[i];
        bits += 8;
        while (bits >= ULID_BITS) {
            bits -= ULID_BITS;
            u[o++] = CROCKFORD[(acc >> bits) & ULID_MASK];
        }
    }
    u[o] = '\0';
}

void wh_event_id_generate(char out[WH_EVENT_ID_SIZE], long long unix_ms)
{
    unsigned char rnd[WH_ULID_RANDOM_BYTES];
    size_t got = 0;

    while (got < sizeof(rnd)) {
        ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);
        if (n < 0)
            abort(); /* getrandom on Linux >= 3.17 fails only on a programming error */
        got += (size_t)n;
    }
    wh_event_id_format(out, unix_ms, rnd);
}

int wh_event_id_valid(const char *id)
{
    const size_t plen = strlen(WH_EVENT_ID_PREFIX);
    size_t i;

    if (strncmp(id, WH_EVENT_ID_PREFIX, plen) != 0 || strlen(id + plen) != WH_ULID_LEN)
        return 0;
    for (i = 0; i < WH_ULID_LEN; i++)
        if (id[plen + i] == '\0' || strchr(CROCKFORD, id[plen + i]) == NULL)
            return 0;
    return 1;
}

void wh_event_timestamp(char out[WH_TIMESTAMP_SIZE], long long unix_ms)
{
    time_t sec = (time_t)(unix_ms / MS_PER_S);
    struct tm tm;
    size_t n;

    gmtime_r(&sec, &tm);
    n = strftime(out, WH_TIMESTAMP_SIZE, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, WH_TIMESTAMP_SIZE - n, ".%03dZ", (int)(unix_ms % MS_PER_S));
}

json_t *wh_event_payload(const char *type, long long unix_ms, const char *id, json_t *data)
{
    char ts[WH_TIMESTAMP_SIZE];

    wh_event_timestamp(ts, unix_ms);
    if (data == NULL)
        data = json_object();
    return json_pack("{s:s, s:s, s:s, s:o}", "type", type, "timestamp", ts, "id", id,
                     "data", data);
}

char *wh_event_body(const json_t *payload, size_t *len)
{
    char *s = json_dumps(payload, JSON_COMPACT);

    *len = s ? strlen(s) : 0;
    return s;
}

/* ---- coalescing ---- */

struct wh_coalesce_entry {
    char *key;              /* "TYPE\nKEY" */
    long long expires_ms;
};

struct wh_coalesce {
    struct wh_coalesce_entry *e;
    size_t n, cap;
};

struct wh_coalesce *wh_coalesce_new(size_t capacity)
{
    struct wh_coalesce *c = xcalloc(1, sizeof(*c));

    c->cap = capacity ? capacity : 1;
    c->e = xcalloc(c->cap, sizeof(*c->e));
    return c;
}

void wh_coalesce_free(struct wh_coalesce *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < c->n; i++)
        free(c->e[i].key);
    free(c->e);
    free(c);
}

/* Index of the slot for a new key: an expired one, a free one, else the soonest to
 * expire (evicted). */
static size_t coalesce_slot(struct wh_coalesce *c, long long now_ms)
{
    size_t i, best = 0;

    for (i = 0; i < c->n; i++)
        if (c->e[i].expires_ms <= now_ms)
            return i;
    if (c->n < c->cap)
        return c->n++;
    for (i = 1; i < c->n; i++)
        if (c->e[i].expires_ms < c->e[best].expires_ms)
            best = i;
    return best;
}

int wh_coalesce_first(struct wh_coalesce *c, const char *type, const char *key,
                      long long now_ms, long long window_ms)
{
    char *k = xasprintf("%s\n%s", type, key);
    size_t i;

    for (i = 0; i < c->n; i++) {
        if (c->e[i].key && strcmp(c->e[i].key, k) == 0 && c->e[i].expires_ms > now_ms) {
            free(k);
            return 0;
        }
    }
    i = coalesce_slot(c, now_ms);
    free(c->e[i].key);
    c->e[i].key = k;
    c->e[i].expires_ms = now_ms + window_ms;
    return 1;
}
