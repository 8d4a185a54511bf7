/*
 * metrics.c - the metric table, lock-free updates and the Prometheus renderer (metrics.h).
 *
 * Each metric is a family of series (one per label set) in a small open-addressing table
 * that never shrinks and never moves: a series is filled under the family's mutex and then
 * published with one release store, so readers and updaters probe it without a lock.
 */
#include "lib/metrics.h"

#include "lib/xalloc.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SERIES_DEFAULT  64

/* Latency buckets in seconds: 0.25 ms .. 5 s. */
#define LATENCY_BUCKETS { 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, \
                          0.25, 0.5, 1, 2.5, 5 }, 14
#define OTHER_VALUE     "other"

/* The daemon's metrics, in enum metric_id order. Names follow Prometheus conventions:
 * the postern_ prefix is added, counters end in _total, units are base units. */
static const struct metric_def metrics_table[M__COUNT] = {
    [M_CONN_OPEN] = { "connections_open", METRIC_GAUGE,
        "SMTP sessions open now, by listener", { "listener" }, 0, { 0 }, 0 },
    [M_CONN_TOTAL] = { "connections_total", METRIC_COUNTER,
        "SMTP connections accepted by a listener (refused ones included)", { "listener" },
        0, { 0 }, 0 },
    [M_CONN_REFUSED] = { "connections_refused_total", METRIC_COUNTER,
        "SMTP connections refused before the banner, by listener and reason",
        { "listener", "reason" }, 0, { 0 }, 0 },
    [M_CONN_PROXY_WAITING] = { "connections_proxy_waiting", METRIC_GAUGE,
        "connections of a PROXY protocol listener waiting for their header (they count "
        "against limits.connections and the listener's connections)", { "listener" }, 0,
        { 0 }, 0 },
    [M_SMTP_REPLIES] = { "smtp_replies_total", METRIC_COUNTER,
        "SMTP replies sent by the server, by code class and the SMTP stage they answer "
        "(connect, helo, starttls, auth, mail, rcpt, data, end, other)",
        { "class", "stage" }, 48, { 0 }, 0 },
    [M_MESSAGES_ACCEPTED] = { "messages_accepted_total", METRIC_COUNTER,
        "messages accepted (250 after DATA: on disk and fsynced)", { NULL }, 0, { 0 }, 0 },
    [M_DELIVERIES] = { "delivery_results_total", METRIC_COUNTER,
        "results of delivery attempts per recipient: delivered, deferred (retried later) "
        "or bounced (given up)", { "result" }, 8, { 0 }, 0 },
    [M_QUEUE_MESSAGES] = { "queue_messages", METRIC_GAUGE,
        "messages in the queue", { NULL }, 0, { 0 }, 0 },
    [M_QUEUE_OLDEST] = { "queue_oldest_message_age_seconds", METRIC_GAUGE,
        "age of the oldest message in the queue (0 when empty)", { NULL }, 0, { 0 }, 0 },
    [M_QUEUE_HELD] = { "queue_held_messages", METRIC_GAUGE,
        "messages in the queue that are not delivered until released, by reason: admin "
        "(posternctl hold), policy (only quarantine-held recipients left), account (the "
        "login is suspended by the compromised-account breaker)", { "reason" }, 4, { 0 }, 0 },
    [M_REDIS_REQUESTS] = { "redis_requests_total", METRIC_COUNTER,
        "Redis commands and scripts sent (round trips)", { NULL }, 0, { 0 }, 0 },
    [M_REDIS_ERRORS] = { "redis_errors_total", METRIC_COUNTER,
        "Redis requests that failed, by kind (error reply, timeout, connection)",
        { "kind" }, 8, { 0 }, 0 },
    [M_REDIS_SECONDS] = { "redis_request_duration_seconds", METRIC_HISTOGRAM,
        "time from sending a Redis request to its answer (error replies included)",
        { NULL }, 0, LATENCY_BUCKETS },
    [M_RATELIMIT_REFUSED] = { "ratelimit_refused_total", METRIC_COUNTER,
        "commands refused because the sender's rate limit was reached: MAIL (message "
        "limit, or no recipient left) and RCPT (one per recipient)", { "stage" }, 4,
        { 0 }, 0 },
    [M_WEBHOOK_DELIVERIES] = { "webhook_deliveries_total", METRIC_COUNTER,
        "webhook (event, endpoint) pairs by outcome: delivered (2xx), failed (retries "
        "exhausted), refused (outbox limits)", { "result" }, 8, { 0 }, 0 },
    [M_WEBHOOK_OUTBOX] = { "webhook_outbox_pending", METRIC_GAUGE,
        "webhook (event, endpoint) pairs in the outbox, not yet delivered or failed",
        { NULL }, 0, { 0 }, 0 },
    [M_WORKPOOL_QUEUED] = { "workpool_jobs", METRIC_GAUGE,
        "jobs queued or running in a worker pool", { "pool" }, 8, { 0 }, 0 },
    [M_POLICY_SYMBOLS] = { "policy_symbols_total", METRIC_COUNTER,
        "policy symbols added to the evidence of a session, message or recipient",
        { "symbol" }, 512, { 0 }, 0 },
    [M_SPAM_ACTIONS] = { "spam_actions_total", METRIC_COUNTER,
        "the protection level's action per recipient of a message, from its score and "
        "lists: none, tag, subject, quarantine, discard, refuse; by direction (inbound, "
        "backup, submission)", { "action", "direction" }, 32, { 0 }, 0 },
    [M_SPAM_AUTOLEARN] = { "spam_autolearn_total", METRIC_COUNTER,
        "messages the classifier learned by itself (autolearn), by class: spam, ham",
        { "class" }, 4, { 0 }, 0 },
    [M_SPAM_AUTOLEARN_SKIPPED] = { "spam_autolearn_skipped_total", METRIC_COUNTER,
        "autolearn candidates not learned, by reason: gtube, listed, refused_early, deferred, "
        "classifier_only, strong_rule, disagree, duplicate, rate, queue_full, redis",
        { "reason" }, 16, { 0 }, 0 },
    [M_UP_SECONDS] = { "uptime_seconds", METRIC_GAUGE,
        "seconds since the daemon started", { NULL }, 0, { 0 }, 0 },
    [M_CHECK_SECONDS] = { "policy_check_duration_seconds", METRIC_HISTOGRAM,
        "time of one policy check call, from its start to its result, by check",
        { "check" }, 64, LATENCY_BUCKETS },
    [M_DNS_CACHE] = { "dns_cache_lookups_total", METRIC_COUNTER,
        "DNS lookups by where the answer came from: hit (the cache) or miss (a query, or "
        "one already in flight)", { "result" }, 4, { 0 }, 0 },
    [M_SPOOL_BATCH] = { "spool_fsync_batch_messages", METRIC_HISTOGRAM,
        "messages made durable by one fsync of the queue directory (group commit)",
        { NULL }, 0, { 1, 2, 4, 8, 16, 32, 64, 128 }, 8 },
    [M_SPOOL_FSYNC_SECONDS] = { "spool_fsync_batch_duration_seconds", METRIC_HISTOGRAM,
        "time of one group commit: the batch's renames into queue/ and the directory "
        "fsync", { NULL }, 0, LATENCY_BUCKETS },
    [M_GREYLIST_RESULTS] = { "greylist_results_total", METRIC_COUNTER,
        "greylisting outcomes per recipient: greylisted (deferred), passed (retried after "
        "the delay), known (triplet or network already passed), skipped (exempt), "
        "unavailable (Redis)", { "result" }, 8, { 0 }, 0 },
    [M_VIRUS_FOUND] = { "virus_found_total", METRIC_COUNTER,
        "messages in which the scanner found a virus", { NULL }, 0, { 0 }, 0 },
};

struct series {
    _Atomic int published;
    char v[METRIC_LABELS_MAX][METRIC_VALUE_MAX];
    _Atomic long long value;                  /* counter, gauge */
    _Atomic unsigned long long *buckets;      /* histogram: nbuckets + 1 (the last: +Inf) */
    _Atomic double sum;
};

struct family {
    const struct metric_def *def;
    unsigned nlabels, max, cap;               /* cap: power of two > max */
    unsigned used;                            /* under mu */
    struct series *s;
    pthread_mutex_t mu;
};

struct metrics_registry {
    struct family *f;
    size_t n;
};

struct metrics_registry *metrics_registry_new(const struct metric_def *defs, size_t n)
{
    struct metrics_registry *r = xcalloc(1, sizeof(*r));
    size_t i;

    r->f = xcalloc(n, sizeof(*r->f));
    r->n = n;
    for (i = 0; i < n; i++) {
        struct family *f = &r->f[i];
        f->def = &defs[i];
        while (f->nlabels < METRIC_LABELS_MAX && defs[i].labels[f->nlabels])
            f->nlabels++;
        f->max = f->nlabels == 0 ? 1 : defs[i].max_series ? defs[i].max_series : SERIES_DEFAULT;
        for (f->cap = 2; f->cap <= 2 * (f->max + 1); f->cap *= 2)
            ;
        f->s = xcalloc(f->cap, sizeof(*f->s));
        pthread_mutex_init(&f->mu, NULL);
    }
    return r;
}

void metrics_registry_free(struct metrics_registry *r)
{
    size_t i, j;
    if (r == NULL)
        return;
    for (i = 0; i < r->n; i++) {
        for (j = 0; j < r->f[i].cap; j++)
            free((void *)r->f[i].s[j].buckets);
        free(r->f[i].s);
        pthread_mutex_destroy(&r->f[i].mu);
    }
    free(r->f);
    free(r);
}

static struct metrics_registry *default_registry;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_init(void)
{
    default_registry = metrics_registry_new(metrics_table, M__COUNT);
}

struct metrics_registry *metrics_default(void)
{
    pthread_once(&default_once, default_init);
    return default_registry;
}

/* The stored form of a label value: at most METRIC_VALUE_MAX - 1 printable ASCII bytes
 * (anything else becomes '?'), so that what is kept is always valid in the output. */
static void value_copy(char out[METRIC_VALUE_MAX], const char *s)
{
    size_t i = 0;
    for (; s && s[i] && i < METRIC_VALUE_MAX - 1; i++)
        out[i] = (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f ? s[i] : '?';
    out[i] = '\0';
}

static unsigned key_hash(char v[][METRIC_VALUE_MAX], unsigned n)
{
    uint32_t h = 2166136261u;                 /* FNV-1a */
    unsigned i;
    const char *p;
    for (i = 0; i < n; i++) {
        for (p = v[i]; *p; p++)
            h = (h ^ (unsigned char)*p) * 16777619u;
        h = (h ^ 0x1f) * 16777619u;
    }
    return h;
}

static bool key_eq(const struct series *s, char v[][METRIC_VALUE_MAX], unsigned n)
{
    unsigned i;
    for (i = 0; i < n; i++)
        if (strcmp(s->v[i], v[i]) != 0)
            return false;
    return true;
}

/* The published series of key v, or the empty slot where it would go (NULL: none). */
static struct series *probe(struct family *f, char v[][METRIC_VALUE_MAX], bool *found)
{
    unsigned i, at = key_hash(v, f->nlabels) & (f->cap - 1);
    for (i = 0; i < f->cap; i++, at = (at + 1) & (f->cap - 1)) {
        struct series *s = &f->s[at];
        if (!atomic_load_explicit(&s->published, memory_order_acquire)) {
            *found = false;
            return s;
        }
        if (key_eq(s, v, f->nlabels)) {
            *found = true;
            return s;
        }
    }
    *found = false;
    return NULL;
}

static struct series *series_get(struct metrics_registry *r, unsigned id,
                                 const char *const *vals)
{
    char v[METRIC_LABELS_MAX][METRIC_VALUE_MAX];
    struct family *f;
    struct series *s;
    bool found;
    unsigned i;

    if (r == NULL || id >= r->n)
        return NULL;
    f = &r->f[id];
    for (i = 0; i < f->nlabels; i++)
        value_copy(v[i], vals ? vals[i] : NULL);
    s = probe(f, v, &found);
    if (found)
        return s;
    pthread_mutex_lock(&f->mu);
    s = probe(f, v, &found);
    if (!found && f->used >= f->max) {        /* over the cap: count it as "other" */
        for (i = 0; i < f->nlabels; i++)
            value_copy(v[i], OTHER_VALUE);
        s = probe(f, v, &found);
    }
    if (!found && s != NULL) {
        memcpy(s->v, v, sizeof(v));
        if (f->def->type == METRIC_HISTOGRAM)
            s->buckets = xcalloc(f->def->nbuckets + 1, sizeof(*s->buckets));
        f->used++;
        atomic_store_explicit(&s->published, 1, memory_order_release);
    }
    pthread_mutex_unlock(&f->mu);
    return s;
}

void metrics_radd(struct metrics_registry *r, unsigned id, const char *const *v, long long delta)
{
    struct series *s;
    if (r && id < r->n && r->f[id].def->type == METRIC_COUNTER && delta < 0)
        return;
    if ((s = series_get(r, id, v)) != NULL)
        atomic_fetch_add_explicit(&s->value, delta, memory_order_relaxed);
}

void metrics_rset(struct metrics_registry *r, unsigned id, const char *const *v, long long value)
{
    struct series *s = series_get(r, id, v);
    if (s)
        atomic_store_explicit(&s->value, value, memory_order_relaxed);
}

void metrics_robserve(struct metrics_registry *r, unsigned id, const char *const *v, double x)
{
    const struct metric_def *d;
    struct series *s;
    double old;
    unsigned b = 0;

    if (r == NULL || id >= r->n || r->f[id].def->type != METRIC_HISTOGRAM || isnan(x))
        return;
    if ((s = series_get(r, id, v)) == NULL)
        return;
    d = r->f[id].def;
    while (b < d->nbuckets && x > d->buckets[b])
        b++;
    atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
    old = atomic_load_explicit(&s->sum, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&s->sum, &old, old + x,
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

const char *metrics_reply_class(int code)
{
    static const char *const classes[] = { "2xx", "3xx", "4xx", "5xx" };
    return code >= 200 && code < 600 ? classes[code / 100 - 2] : OTHER_VALUE;
}

/* ---- rendering -------------------------------------------------------------------------- */

struct out {
    char *p;
    size_t len, cap;
};

static void out_add(struct out *o, const char *s, size_t n)
{
    if (o->len + n + 1 > o->cap) {
        while (o->len + n + 1 > o->cap)
            o->cap = o->cap ? o->cap * 2 : 4096;
        o->p = xrealloc(o->p, o->cap);
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void out_str(struct out *o, const char *s)
{
    out_add(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void out_fmt(struct out *o, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        out_add(o, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* HELP text: backslash and newline escaped. Label values: also the double quote. */
static void out_escaped(struct out *o, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            out_str(o, "\\\\");
        else if (*s == '\n')
            out_str(o, "\\n");
        else if (*s == '"' && quote)
            out_str(o, "\\\"");
        else
            out_add(o, s, 1);
    }
}

/* The shortest decimal text that reads back as x; +Inf, -Inf and NaN as Prometheus
 * spells them. */
static void out_double(struct out *o, double x)
{
    char buf[40];
    int prec;
    if (isnan(x)) {
        out_str(o, "NaN");
        return;
    }
    if (isinf(x)) {
        out_str(o, x > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (x == floor(x) && fabs(x) < 1e15) {    /* whole numbers without an exponent */
        snprintf(buf, sizeof(buf), "%.0f", x);
        out_str(o, buf);
        return;
    }
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    out_str(o, buf);
}

/* {a="x",b="y"} with an extra label (le) when extra_name is given; nothing when empty. */
static void out_labels(struct out *o, const struct family *f, const struct series *s,
                       const char *extra_name, const char *extra_value)
{
    unsigned i;
    if (f->nlabels == 0 && extra_name == NULL)
        return;
    out_str(o, "{");
    for (i = 0; i < f->nlabels; i++) {
        out_fmt(o, "%s%s=\"", i ? "," : "", f->def->labels[i]);
        out_escaped(o, s->v[i], true);
        out_str(o, "\"");
    }
    if (extra_name) {
        out_fmt(o, "%s%s=\"%s\"", f->nlabels ? "," : "", extra_name, extra_value);
    }
    out_str(o, "}");
}

static int series_cmp(const void *a, const void *b)
{
    const struct series *x = *(const struct series *const *)a;
    const struct series *y = *(const struct series *const *)b;
    unsigned i;
    for (i = 0; i < METRIC_LABELS_MAX; i++) {
        int c = strcmp(x->v[i], y->v[i]);
        if (c)
            return c;
    }
    return 0;
}

static void render_histogram(struct out *o, const struct family *f, const struct series *s,
                             const char *name)
{
    const struct metric_def *d = f->def;
    unsigned long long counts[METRIC_BUCKETS_MAX + 1], cum = 0;
    double sum = atomic_load_explicit(&s->sum, memory_order_relaxed);
    unsigned b;

    for (b = 0; b <= d->nbuckets; b++)
        counts[b] = atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
    for (b = 0; b <= d->nbuckets; b++) {
        char le[40];
        struct out t = { 0 };
        cum += counts[b];
        if (b < d->nbuckets) {
            out_double(&t, d->buckets[b]);
            snprintf(le, sizeof(le), "%s", t.p);
            free(t.p);
        } else {
            snprintf(le, sizeof(le), "+Inf");
        }
        out_fmt(o, "%s_bucket", name);
        out_labels(o, f, s, "le", le);
        out_fmt(o, " %llu\n", cum);
    }
    out_fmt(o, "%s_sum", name);
    out_labels(o, f, s, NULL, NULL);
    out_str(o, " ");
    out_double(o, sum);
    out_str(o, "\n");
    out_fmt(o, "%s_count", name);
    out_labels(o, f, s, NULL, NULL);
    out_fmt(o, " %llu\n", cum);
}

static void render_family(struct out *o, struct family *f)
{
    static const char *const type_names[] = { "counter", "gauge", "histogram" };
    const struct metric_def *d = f->def;
    struct series **list = xcalloc(f->cap, sizeof(*list));
    size_t n = 0, i;
    char name[128];

    snprintf(name, sizeof(name), "postern_%s", d->name);
    out_fmt(o, "# HELP %s ", name);
    out_escaped(o, d->help, false);
    out_fmt(o, "\n# TYPE %s %s\n", name, type_names[d->type]);
    for (i = 0; i < f->cap; i++)
        if (atomic_load_explicit(&f->s[i].published, memory_order_acquire))
            list[n++] = &f->s[i];
    qsort(list, n, sizeof(*list), series_cmp);
    for (i = 0; i < n; i++) {
        if (d->type == METRIC_HISTOGRAM) {
            render_histogram(o, f, list[i], name);
            continue;
        }
        out_str(o, name);
        out_labels(o, f, list[i], NULL, NULL);
        out_fmt(o, " %lld\n", atomic_load_explicit(&list[i]->value, memory_order_relaxed));
    }
    free(list);
}

char *metrics_render(struct metrics_registry *r, size_t *len)
{
    struct out o = { 0 };
    size_t i;

    out_add(&o, "", 0);
    for (i = 0; r && i < r->n; i++) {
        if (r->f[i].nlabels == 0)             /* unlabelled: always one series, 0 at first */
            (void)series_get(r, (unsigned)i, NULL);
        render_family(&o, &r->f[i]);
    }
    if (len)
        *len = o.len;
    return o.p;
}
