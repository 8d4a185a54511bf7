/*
 * event.c - event types, IDs, timestamps, payloads, filters and coalescing (see event.h).
 *
 * Pure functions over their arguments, except wh_event_id_generate (getrandom) and the
 * coalescing table, which belongs to the thread that owns it (the event loop).
 */
#include "webhooks/event.h"

#include "lib/xalloc.h"

#include <limits.h>
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

/* message.rejected: one per client address and SMTP stage per coalescing window */
static const char *const rejected_key[] = { "client_ip", "stage", NULL };

const struct wh_event_type wh_event_types[] = {
    { "sender.rate_limited", "an authenticated sender hit a rate limit (once per window)",
      NULL },
    { "auth.bruteforce", "failed logins from one address or for one login reached the "
                         "threshold (once per window)", NULL },
    { "message.rejected", "a message or recipient was refused during the SMTP dialogue "
                          "(once per client and stage per coalesce_window, with a count)",
      rejected_key },
    { "message.bounced", "delivery failed permanently; a bounce goes to the sender", NULL },
    { "message.bounce_suppressed", "a DSN to the sender of inbound mail was not sent: the "
                                   "recipient domain's \"bounces\" setting", NULL },
    { "message.deferred", "delivery failed temporarily deferred_after_tries times", NULL },
    { "queue.stuck", "the oldest queued message is older than queue_stuck_after", NULL },
    { "queue.corrupt", "a queue file could not be parsed and was moved to corrupt/", NULL },
    { "backup.primary_down", "the primary MX of a backup-MX domain failed its probes", NULL },
    { "backup.primary_up", "the primary MX of a backup-MX domain answers again", NULL },
    { "redis.unavailable", "Redis stopped answering; checks use their fail modes", NULL },
    { "redis.recovered", "Redis answers again", NULL },
    { "policy.check_unavailable", "a service a policy check needs (DNS, Redis, the virus "
                                  "scanner) failed; once per outage", NULL },
    { "recipient.harvest", "a client tried more unknown recipients than the harvest guard "
                           "allows: its sessions are closed for the window", NULL },
    { "backscatter.blocked", "a client sent more backscatter bounces than allowed: its "
                             "bounces are refused for block_time (once per block)", NULL },
    { "message.virus", "the virus scanner found a virus in a message; it was refused (or "
                       "handled as the domain's virus_action says)", NULL },
    { "account.suspended", "the compromised-account breaker suspended a login (its mail was "
                           "refused as spam or virus again and again, or its newsletter "
                           "bounce or complaint rate is over the limit)", NULL },
    { "recipient.bounced", "a bounce to a newsletter's VERP address was matched to the login "
                           "and recipient it was sent for (hard or soft)", NULL },
    { "recipient.complained", "a complaint (ARF feedback report) was matched to the "
                              "newsletter login and recipient", NULL },
    { "webhook.test", "a test event sent by \"posternctl webhooks test\"", NULL },
    { NULL, NULL, NULL }
};

const struct wh_event_type *wh_event_type_find(const char *name)
{
    const struct wh_event_type *t;

    for (t = wh_event_types; name && t->name; t++)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

size_t wh_event_type_count(void)
{
    return sizeof(wh_event_types) / sizeof(wh_event_types[0]) - 1;
}

size_t wh_event_type_index(const char *name)
{
    const struct wh_event_type *t = wh_event_type_find(name);

    return t ? (size_t)(t - wh_event_types) : wh_event_type_count();
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

#define NO_ENTRY ((size_t)-1)

struct wh_coalesce_entry {
    char *key;                  /* "TYPE\nKEY" */
    size_t type_len;            /* bytes of TYPE */
    long long expires_ms;       /* monotonic end of the window */
    long long window_ms;
    unsigned long long count;   /* events counted in this window (wh_coalesce_fold) */
    long long first_ms, last_ms;/* unix ms of the first and last counted */
    json_t *data;               /* the last counted event's data */
    size_t hnext;               /* next entry of its hash bucket, plus one; 0: none */
};

/* A summary due now: its window was evicted or found over before a sweep. */
struct wh_coalesce_due {
    struct wh_coalesce_due *next;
    char *type;
    json_t *data;
};

struct wh_coalesce {
    struct wh_coalesce_entry *e;
    size_t n, cap;
    size_t *bucket;             /* first entry of each bucket, plus one; 0: empty */
    size_t nbuckets;            /* a power of two, at least 2 * cap */
    struct wh_coalesce_due *due, **due_tail;
};

struct wh_coalesce *wh_coalesce_new(size_t capacity)
{
    struct wh_coalesce *c = xcalloc(1, sizeof(*c));

    c->cap = capacity ? capacity : 1;
    c->e = xcalloc(c->cap, sizeof(*c->e));
    for (c->nbuckets = 2; c->nbuckets < 2 * c->cap; c->nbuckets *= 2)
        ;
    c->bucket = xcalloc(c->nbuckets, sizeof(*c->bucket));
    c->due_tail = &c->due;
    return c;
}

void wh_coalesce_free(struct wh_coalesce *c)
{
    size_t i;

    if (c == NULL)
        return;
    for (i = 0; i < c->n; i++) {
        free(c->e[i].key);
        json_decref(c->e[i].data);
    }
    while (c->due) {
        struct wh_coalesce_due *d = c->due;
        c->due = d->next;
        free(d->type);
        json_decref(d->data);
        free(d);
    }
    free(c->e);
    free(c->bucket);
    free(c);
}

static size_t coalesce_hash(const struct wh_coalesce *c, const char *key)
{
    size_t h = 5381;

    while (*key)
        h = h * 33 + (unsigned char)*key++;
    return h & (c->nbuckets - 1);
}

static size_t coalesce_find(const struct wh_coalesce *c, const char *key)
{
    size_t i;

    for (i = c->bucket[coalesce_hash(c, key)]; i != 0; i = c->e[i - 1].hnext)
        if (strcmp(c->e[i - 1].key, key) == 0)
            return i - 1;
    return NO_ENTRY;
}

static void coalesce_link(struct wh_coalesce *c, size_t i)
{
    size_t *b = &c->bucket[coalesce_hash(c, c->e[i].key)];

    c->e[i].hnext = *b;
    *b = i + 1;
}

static void coalesce_unlink(struct wh_coalesce *c, size_t i)
{
    size_t *p = &c->bucket[coalesce_hash(c, c->e[i].key)];

    while (*p != i + 1)
        p = &c->e[*p - 1].hnext;
    *p = c->e[i].hnext;
}

void wh_coalesce_stamp(json_t *data, unsigned long long count, long long first_unix_ms,
                       long long last_unix_ms)
{
    char first[WH_TIMESTAMP_SIZE], last[WH_TIMESTAMP_SIZE];

    wh_event_timestamp(first, first_unix_ms);
    wh_event_timestamp(last, last_unix_ms);
    json_object_set_new(data, "count", json_integer((json_int_t)count));
    json_object_set_new(data, "first_seen", json_string(first));
    json_object_set_new(data, "last_seen", json_string(last));
}

/* The summary of entry i (it has counted events): its data, stamped; the entry's count
 * starts again. *type receives the type (malloc'd). */
static json_t *coalesce_summary(struct wh_coalesce_entry *e, char **type)
{
    json_t *data = e->data;

    *type = xasprintf("%.*s", (int)e->type_len, e->key);
    wh_coalesce_stamp(data, e->count, e->first_ms, e->last_ms);
    e->data = NULL;
    e->count = 0;
    return data;
}

/* Entry i leaves early (evicted, or over before a sweep): its summary waits in c->due. */
static void coalesce_set_due(struct wh_coalesce *c, size_t i)
{
    struct wh_coalesce_due *d;

    if (c->e[i].count == 0)
        return;
    d = xcalloc(1, sizeof(*d));
    d->data = coalesce_summary(&c->e[i], &d->type);
    *c->due_tail = d;
    c->due_tail = &d->next;
}

/* Drop entry i (its summary, if any, must have been taken): the last entry moves into
 * its place. */
static void coalesce_drop(struct wh_coalesce *c, size_t i)
{
    size_t last = c->n - 1;

    coalesce_unlink(c, i);
    free(c->e[i].key);
    json_decref(c->e[i].data);
    if (i != last) {
        coalesce_unlink(c, last);
        c->e[i] = c->e[last];
        coalesce_link(c, i);
    }
    memset(&c->e[last], 0, sizeof(c->e[last]));
    c->n--;
}

/* A slot for a new key: a free one, else one whose window is over, else the soonest to
 * end (evicted; its counted events become due at once). */
static size_t coalesce_slot(struct wh_coalesce *c, long long now_ms)
{
    size_t i, best = 0;

    if (c->n < c->cap)
        return c->n++;
    for (i = 0; i < c->n; i++)
        if (c->e[i].expires_ms <= now_ms) {
            best = i;
            break;
        } else if (c->e[i].expires_ms < c->e[best].expires_ms) {
            best = i;
        }
    coalesce_set_due(c, best);
    coalesce_unlink(c, best);
    free(c->e[best].key);
    json_decref(c->e[best].data);
    memset(&c->e[best], 0, sizeof(c->e[best]));
    return best;
}

/* The entry of (type, key) with a window open at now_ms, or NO_ENTRY after opening one
 * (a new entry, or the old one whose window was over). */
static size_t coalesce_window(struct wh_coalesce *c, const char *type, const char *key,
                              long long now_ms, long long window_ms)
{
    char *k = xasprintf("%s\n%s", type, key);
    size_t i = coalesce_find(c, k);

    if (i != NO_ENTRY && c->e[i].expires_ms > now_ms) {
        free(k);
        return i;
    }
    if (i != NO_ENTRY) {
        coalesce_set_due(c, i);  /* over, but not swept yet */
        free(k);
    } else {
        i = coalesce_slot(c, now_ms);
        c->e[i].key = k;
        c->e[i].type_len = strlen(type);
        coalesce_link(c, i);
    }
    c->e[i].expires_ms = now_ms + window_ms;
    c->e[i].window_ms = window_ms;
    return NO_ENTRY;
}

int wh_coalesce_first(struct wh_coalesce *c, const char *type, const char *key,
                      long long mono_ms, long long window_ms)
{
    return coalesce_window(c, type, key, mono_ms, window_ms) == NO_ENTRY;
}

int wh_coalesce_fold(struct wh_coalesce *c, const char *type, const char *key,
                     long long mono_ms, long long window_ms, long long unix_ms,
                     json_t *data, long long *due_ms)
{
    size_t i = coalesce_window(c, type, key, mono_ms, window_ms);
    struct wh_coalesce_entry *e;

    *due_ms = c->due ? mono_ms : -1;
    if (i == NO_ENTRY)
        return 1;
    e = &c->e[i];
    if (e->count++ == 0)
        e->first_ms = unix_ms;
    e->last_ms = unix_ms;
    json_decref(e->data);
    e->data = data;
    if (*due_ms < 0)
        *due_ms = e->expires_ms;
    return 0;
}

long long wh_coalesce_sweep(struct wh_coalesce *c, long long mono_ms,
                            wh_coalesce_emit_fn emit, void *arg)
{
    long long next = -1;
    size_t i = 0;
    char *type;

    while (c->due) {
        struct wh_coalesce_due *d = c->due;
        c->due = d->next;
        emit(arg, d->type, d->data);
        free(d->type);
        free(d);
    }
    c->due_tail = &c->due;
    while (i < c->n) {
        struct wh_coalesce_entry *e = &c->e[i];
        if (e->expires_ms <= mono_ms && e->count == 0) {
            coalesce_drop(c, i);     /* the last entry moved to i: look at i again */
            continue;
        }
        if (e->expires_ms <= mono_ms) {
            json_t *data = coalesce_summary(e, &type);
            e->expires_ms = mono_ms > LLONG_MAX - e->window_ms ? LLONG_MAX  /* a final sweep */
                            : mono_ms + e->window_ms;
            emit(arg, type, data);
            free(type);
        } else if (e->count > 0 && (next < 0 || e->expires_ms < next)) {
            next = e->expires_ms;
        }
        i++;
    }
    return next;
}
