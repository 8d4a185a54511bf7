/*
 * metrics.h - the daemon's counters, gauges and histograms, and their Prometheus text.
 *
 * Every metric is declared once, in the table of lib/metrics.c (name without the postern_
 * prefix, type, help, label names, histogram buckets), and named in code by its enum id
 * below. A hook is one call:
 *     metrics_inc(M_MESSAGES_ACCEPTED);
 *     metrics_inc2(M_SMTP_REPLIES, "4xx", "rcpt");
 *     metrics_add2(M_CONN_REFUSED, listener_name, "per_ip", 1);
 *     metrics_observe(M_REDIS_SECONDS, 0.0012);
 * Values are C11 atomics: any thread may update them without a lock. A labelled metric
 * keeps at most `max_series` label sets (first come, first kept; the rest are counted under
 * the label value "other"), so label cardinality is bounded whatever the callers pass.
 * The first use of a label set takes a mutex once; every later update is lock-free.
 *
 * metrics_render() reads every value once (a snapshot, relaxed loads) and writes the
 * Prometheus text exposition format (version 0.0.4): # HELP and # TYPE lines, escaped
 * help and label values, histogram _bucket{le=...} with +Inf, _sum and _count. It does no
 * I/O. Gauges that are computed from state the owner already keeps (queue size, pool
 * depth) are set with metrics_set() right before rendering.
 *
 * A separate registry can be made for tests (metrics_registry_new over a caller's table).
 */
#ifndef POSTERN_METRICS_H
#define POSTERN_METRICS_H

#include <stddef.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

#define METRIC_LABELS_MAX   2     /* label names per metric */
#define METRIC_BUCKETS_MAX  16    /* finite histogram bounds per metric */
#define METRIC_VALUE_MAX    64    /* bytes of one label value kept (longer: cut) */

/* One row of a metric table. */
struct metric_def {
    const char *name;                         /* "smtp_replies_total" (prefix added) */
    enum metric_type type;
    const char *help;
    const char *labels[METRIC_LABELS_MAX];    /* NULL-padded */
    unsigned max_series;                      /* label sets kept (0: 64; unlabelled: 1) */
    double buckets[METRIC_BUCKETS_MAX];       /* histograms: ascending upper bounds */
    unsigned nbuckets;
};

/* The daemon's metrics (rows of metrics_table in metrics.c, in this order). */
enum metric_id {
    M_CONN_OPEN,            /* gauge   {listener} */
    M_CONN_TOTAL,           /* counter {listener} */
    M_CONN_REFUSED,         /* counter {listener, reason} */
    M_CONN_PROXY_WAITING,   /* gauge {listener}: connections waiting for a PROXY header */
    M_SMTP_REPLIES,         /* counter {class, stage} "2xx".."5xx", connect..end|other */
    M_MESSAGES_ACCEPTED,    /* counter */
    M_DELIVERIES,           /* counter {result} delivered|deferred|bounced (per recipient) */
    M_QUEUE_MESSAGES,       /* gauge, set at scrape */
    M_QUEUE_OLDEST,         /* gauge seconds, set at scrape */
    M_QUEUE_HELD,           /* gauge {reason} admin|policy|account, set at scrape */
    M_REDIS_REQUESTS,       /* counter */
    M_REDIS_ERRORS,         /* counter {kind} */
    M_REDIS_SECONDS,        /* histogram */
    M_RATELIMIT_REFUSED,    /* counter {stage} mail|rcpt */
    M_WEBHOOK_DELIVERIES,   /* counter {result} delivered|failed|refused, set at scrape */
    M_WEBHOOK_OUTBOX,       /* gauge, set at scrape */
    M_WORKPOOL_QUEUED,      /* gauge {pool}, set at scrape */
    M_POLICY_SYMBOLS,       /* counter {symbol} */
    M_SPAM_ACTIONS,         /* counter {action, direction}: the protection level's action */
    M_SPAM_AUTOLEARN,       /* counter {class} spam|ham: messages autolearned */
    M_SPAM_AUTOLEARN_SKIPPED, /* counter {reason}: autolearn candidates not learned */
    M_UP_SECONDS,           /* gauge, set at scrape */
    M_CHECK_SECONDS,        /* histogram {check}: one policy check call, start to done */
    M_DNS_CACHE,            /* counter {result} hit|miss, set at scrape */
    M_SPOOL_BATCH,          /* histogram: messages made durable by one directory fsync */
    M_SPOOL_FSYNC_SECONDS,  /* histogram: one batch's renames and directory fsync */
    M_GREYLIST_RESULTS,     /* counter {result} greylisted|passed|known|skipped|unavailable */
    M_VIRUS_FOUND,          /* counter: messages in which the scanner found a virus */
    M__COUNT
};

struct metrics_registry;

/* The daemon's registry (built on first use from metrics_table). */
struct metrics_registry *metrics_default(void);

/* A registry over another table of n rows (tests). metrics_registry_free releases it. */
struct metrics_registry *metrics_registry_new(const struct metric_def *defs, size_t n);
void metrics_registry_free(struct metrics_registry *r);

/* Update metric `id` of registry r for the label values v (as many as it has labels; NULL
 * counts as ""). Counters only grow: a negative delta on a counter is ignored. */
void metrics_radd(struct metrics_registry *r, unsigned id, const char *const *v, long long delta);
void metrics_rset(struct metrics_registry *r, unsigned id, const char *const *v, long long value);
void metrics_robserve(struct metrics_registry *r, unsigned id, const char *const *v, double x);

/* The same on the daemon's registry: the one-line hooks. */
#define metrics_add(id, d)             metrics_radd(metrics_default(), (id), NULL, (d))
#define metrics_inc(id)                metrics_add((id), 1)
#define metrics_set(id, x)             metrics_rset(metrics_default(), (id), NULL, (x))
#define metrics_observe(id, x)         metrics_robserve(metrics_default(), (id), NULL, (x))
#define metrics_add1(id, a, d) \
    metrics_radd(metrics_default(), (id), (const char *const[]){ (a), NULL }, (d))
#define metrics_inc1(id, a)            metrics_add1((id), (a), 1)
#define metrics_set1(id, a, x) \
    metrics_rset(metrics_default(), (id), (const char *const[]){ (a), NULL }, (x))
#define metrics_add2(id, a, b, d) \
    metrics_radd(metrics_default(), (id), (const char *const[]){ (a), (b) }, (d))
#define metrics_inc2(id, a, b)         metrics_add2((id), (a), (b), 1)

/* "2xx".."5xx" for an SMTP reply code, "other" for anything else. */
const char *metrics_reply_class(int code);

/* The Prometheus text of every metric of r (malloc'd, NUL-terminated; *len set when
 * len is not NULL). Metrics without any series yet are printed with HELP and TYPE only,
 * except unlabelled ones, which show 0. Series of one metric are sorted by label values. */
char *metrics_render(struct metrics_registry *r, size_t *len);

#endif
