/*
 * dns.c - the asynchronous resolver: c-ares on the libevent loop, with a TTL-capped
 * cache, coalescing of identical lookups, a hard deadline, and cancellable handles.
 *
 * Who calls it: relay/ (delivery: MX, A, AAAA) and policy/ (PTR, HELO A, DNSBL, TXT),
 * through the contracts in dns.h. Threading: loop thread only; every callback runs there.
 *
 * How a lookup flows:
 *   dns_lookup()  -> name normalized (bad: DNS_BADNAME, nothing sent)
 *                 -> cache hit: the handle goes on the `ready` list
 *                 -> same (type, name) in flight: the handle joins that flight
 *                 -> else a new flight: ares_query() + a deadline timer
 *   ares reply    -> dns_answer (lib/dns_answer.c) -> cache (unless temporary or TTL 0)
 *                 -> every waiting handle moves to `ready`
 *   deadline      -> (timeout_ms * tries * servers) waiting handles get DNS_TIMEOUT; the
 *                    flight leaves the table but lives until c-ares ends it, and a late
 *                    answer still fills the cache
 *   deliver_ev    -> runs the callbacks of `ready` handles, then frees them.
 * Callbacks therefore never run inside dns_lookup() nor inside c-ares, and a handle is
 * always on exactly one list (a flight's waiters, or ready), so dns_cancel() unlinks it
 * and frees it: the callback can no longer run. c-ares 1.18 cannot cancel one query, so
 * a flight whose waiters all left simply completes and only feeds the cache.
 *
 * libevent glue (spikes.md section 2): sock_state_cb keeps one persistent event per
 * c-ares socket; one timer is re-armed from ares_timeout() after every submission and
 * every processing step.
 */
#include "lib/dns.h"

#include "lib/dns_answer.h"
#include "lib/dns_cache.h"
#include "lib/dns_wire.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DNS_LOG "dns"
#define DNS_FLIGHT_BUCKETS 256      /* hash buckets of the in-flight table (chained) */
#define MS_PER_S 1000LL
#define NS_PER_MS 1000000LL
#define US_PER_MS 1000LL

struct dns_qlist {
    struct dns_query *head, *tail;
};

struct dns_query {
    struct dns_query *prev, *next;
    struct dns_qlist *list;         /* the list the handle is on */
    dns_cb cb;
    void *arg;
    struct dns_answer *answer;      /* set once ready */
    unsigned ttl;                   /* seconds, for the result */
    int cached;
    unsigned long long seq;         /* order on the ready list */
    char name[DNS_NAME_MAX + 1];
};

struct dns_flight {
    struct dns *dns;
    struct dns_flight *hnext;       /* chain in dns->flights while in_table */
    int in_table;                   /* new lookups may still join it */
    enum dns_type type;
    struct event *deadline;
    struct dns_qlist waiters;
    char name[];
};

struct dns_sock {
    struct dns_sock *next;
    ares_socket_t fd;
    struct event *ev;
};

struct dns {
    struct event_base *base;
    ares_channel ch;
    struct event *timer;            /* ares_timeout() */
    struct event *deliver_ev;       /* runs the ready callbacks */
    struct dns_sock *socks;
    struct dns_cache *cache;
    struct dns_flight *flights[DNS_FLIGHT_BUCKETS];
    struct dns_qlist ready;
    unsigned long long seq;
    struct dns_stats stats;
    struct dns_ttl_policy ttl;
    long long deadline_ms;
    int destroying;
};

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * MS_PER_S + ts.tv_nsec / NS_PER_MS;
}

static struct timeval ms_to_tv(long long ms)
{
    struct timeval tv = { .tv_sec = ms / MS_PER_S, .tv_usec = (ms % MS_PER_S) * US_PER_MS };
    return tv;
}

/* ---- handle lists ---- */

static void qlist_push(struct dns_qlist *l, struct dns_query *q)
{
    q->list = l;
    q->next = NULL;
    q->prev = l->tail;
    if (l->tail)
        l->tail->next = q;
    else
        l->head = q;
    l->tail = q;
}

static void qlist_unlink(struct dns_query *q)
{
    struct dns_qlist *l = q->list;

    if (q->prev)
        q->prev->next = q->next;
    else
        l->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        l->tail = q->prev;
    q->list = NULL;
    q->prev = q->next = NULL;
}

static void query_free(struct dns_query *q)
{
    dns_answer_unref(q->answer);
    free(q);
}

static void qlist_drop_all(struct dns_qlist *l)
{
    struct dns_query *q;

    while ((q = l->head) != NULL) {
        qlist_unlink(q);
        query_free(q);
    }
}

/* ---- delivery ---- */

static void ready_push(struct dns *dns, struct dns_query *q, struct dns_answer *ans,
                       unsigned ttl, int cached)
{
    q->answer = dns_answer_ref(ans);
    q->ttl = ttl;
    q->cached = cached;
    q->seq = dns->seq++;
    qlist_push(&dns->ready, q);
    event_active(dns->deliver_ev, EV_TIMEOUT, 0);
}

static unsigned ttl_seconds(long long ms)
{
    return (unsigned)((ms + MS_PER_S - 1) / MS_PER_S);
}

/* Loop thread. Runs the callbacks of the handles that were ready when it started (a
 * callback that makes new cache hits does not keep this loop spinning). */
static void on_deliver(evutil_socket_t fd, short what, void *arg)
{
    struct dns *dns = arg;
    unsigned long long limit = dns->seq;
    struct dns_query *q;

    (void)fd;
    (void)what;
    while ((q = dns->ready.head) != NULL && q->seq < limit) {
        struct dns_result res;
        qlist_unlink(q);
        dns_answer_to_result(q->answer, q->name, q->ttl, q->cached, &res);
        q->cb(&res, q->arg);
        query_free(q);
    }
    if (dns->ready.head)
        event_active(dns->deliver_ev, EV_TIMEOUT, 0);
}

/* ---- flights ---- */

static struct dns_flight **flight_bucket(struct dns *dns, enum dns_type type,
                                         const char *name)
{
    return &dns->flights[dns_key_hash((int)type, name) % DNS_FLIGHT_BUCKETS];
}

static struct dns_flight *flight_find(struct dns *dns, enum dns_type type, const char *name)
{
    struct dns_flight *f = *flight_bucket(dns, type, name);

    while (f && (f->type != type || strcmp(f->name, name) != 0))
        f = f->hnext;
    return f;
}

static void flight_unpublish(struct dns_flight *f)
{
    struct dns_flight **link = flight_bucket(f->dns, f->type, f->name);

    if (!f->in_table)
        return;
    while (*link != f)
        link = &(*link)->hnext;
    *link = f->hnext;
    f->in_table = 0;
}

static void flight_answer_waiters(struct dns_flight *f, struct dns_answer *ans)
{
    struct dns_query *q;

    while ((q = f->waiters.head) != NULL) {
        qlist_unlink(q);
        ready_push(f->dns, q, ans, ttl_seconds(ans->ttl_ms), 0);
    }
}

static void flight_free(struct dns_flight *f)
{
    flight_unpublish(f);
    qlist_drop_all(&f->waiters);
    event_free(f->deadline);
    free(f);
}

/* Loop thread: the lookup took longer than the configured budget. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct dns_flight *f = arg;
    struct dns_answer *ans = dns_answer_new(f->type, DNS_TIMEOUT);

    (void)fd;
    (void)what;
    for (struct dns_query *q = f->waiters.head; q; q = q->next)
        f->dns->stats.deadlines++;
    flight_unpublish(f);
    flight_answer_waiters(f, ans);
    dns_answer_unref(ans);
}

/* c-ares callback, loop thread (inside ares_process_fd, ares_query or ares_destroy). */
static void on_reply(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns_flight *f = arg;
    struct dns *dns = f->dns;
    struct dns_answer *ans;

    (void)timeouts;
    if (status == ARES_EDESTRUCTION) {
        flight_free(f);
        return;
    }
    ans = dns_answer_from_reply(f->type, status, abuf, alen, &dns->ttl);
    flight_unpublish(f);
    if (dns_answer_cacheable(ans)) {
        long long now = now_ms();
        dns_cache_put(dns->cache, (int)f->type, f->name, dns_answer_ref(ans), ans->bytes,
                      now + ans->ttl_ms, now);
    }
    flight_answer_waiters(f, ans);
    dns_answer_unref(ans);
    flight_free(f);
}

/* ---- libevent glue ---- */

static void timer_rearm(struct dns *dns)
{
    struct timeval tv, *tvp;

    if (dns->destroying)
        return;
    tvp = ares_timeout(dns->ch, NULL, &tv);
    if (tvp)
        evtimer_add(dns->timer, tvp);
    else
        evtimer_del(dns->timer);
}

/* Loop thread: a c-ares socket is readable or writable. */
static void on_sock_io(evutil_socket_t fd, short what, void *arg)
{
    struct dns *dns = arg;

    ares_process_fd(dns->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    timer_rearm(dns);
}

/* Loop thread: c-ares' own retransmission / timeout point. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct dns *dns = arg;

    (void)fd;
    (void)what;
    ares_process_fd(dns->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    timer_rearm(dns);
}

/* c-ares callback: watch fd for reading/writing, or stop watching it (both 0). */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct dns *dns = data;
    struct dns_sock **link = &dns->socks, *s;
    short what = (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));

    while (*link && (*link)->fd != fd)
        link = &(*link)->next;
    s = *link;
    if (s)
        event_free(s->ev);
    if (what == 0) {
        if (s) {
            *link = s->next;
            free(s);
        }
        return;
    }
    if (s == NULL) {
        s = xcalloc(1, sizeof(*s));
        s->fd = fd;
        s->next = dns->socks;
        dns->socks = s;
    }
    s->ev = event_new(dns->base, fd, what | EV_PERSIST, on_sock_io, dns);
    event_add(s->ev, NULL);
}

/* ---- setup ---- */

static char *servers_csv(const struct conf_strlist *servers)
{
    size_t len = 1;
    char *csv;

    for (size_t i = 0; i < servers->n; i++)
        len += strlen(servers->v[i]) + 1;
    csv = xcalloc(1, len);
    for (size_t i = 0; i < servers->n; i++) {
        if (i)
            strcat(csv, ",");
        strcat(csv, servers->v[i]);
    }
    return csv;
}

static int count_servers(ares_channel ch)
{
    struct ares_addr_port_node *list, *p;
    int n = 0;

    if (ares_get_servers_ports(ch, &list) != ARES_SUCCESS)
        return 1;
    for (p = list; p; p = p->next)
        n++;
    ares_free_data(list);
    return n ? n : 1;
}

static int channel_init(struct dns *dns, const struct dns_conf *conf)
{
    static char lookups_dns_only[] = "b";   /* never /etc/hosts */
    struct ares_options o;
    int rc, mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
                   ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB;

    memset(&o, 0, sizeof(o));
    o.flags = ARES_FLAG_NOSEARCH;
    o.timeout = (int)conf->timeout_ms;
    o.tries = (int)conf->tries;
    o.lookups = lookups_dns_only;
    o.sock_state_cb = on_sock_state;
    o.sock_state_cb_data = dns;
    rc = ares_init_options(&dns->ch, &o, mask);
    if (rc != ARES_SUCCESS) {
        log_error(DNS_LOG, "cannot start the resolver: %s", ares_strerror(rc));
        return -1;
    }
    if (conf->servers.n > 0) {
        char *csv = servers_csv(&conf->servers);
        rc = ares_set_servers_ports_csv(dns->ch, csv);
        if (rc != ARES_SUCCESS)
            log_error(DNS_LOG, "bad dns servers \"%s\": %s", csv, ares_strerror(rc));
        free(csv);
        if (rc != ARES_SUCCESS) {
            ares_destroy(dns->ch);
            return -1;
        }
    }
    dns->deadline_ms = conf->timeout_ms * conf->tries * count_servers(dns->ch);
    return 0;
}

static void cache_release(void *value)
{
    dns_answer_unref(value);
}

struct dns *dns_new(struct event_base *base, const struct dns_conf *conf)
{
    struct dns *dns;
    int rc = ares_library_init(ARES_LIB_INIT_ALL);

    if (rc != ARES_SUCCESS) {
        log_error(DNS_LOG, "cannot initialise c-ares: %s", ares_strerror(rc));
        return NULL;
    }
    dns = xcalloc(1, sizeof(*dns));
    dns->base = base;
    if (channel_init(dns, conf) < 0) {
        free(dns);
        ares_library_cleanup();
        return NULL;
    }
    dns->timer = evtimer_new(base, on_timer, dns);
    dns->deliver_ev = event_new(base, -1, 0, on_deliver, dns);
    dns->cache = dns_cache_new((size_t)conf->cache_size, (size_t)conf->cache_memory,
                               cache_release);
    dns->ttl.max_ttl_ms = conf->max_ttl_ms;
    dns->ttl.negative_ttl_ms = conf->negative_ttl_ms;
    return dns;
}

void dns_free(struct dns *dns)
{
    if (dns == NULL)
        return;
    dns->destroying = 1;
    ares_destroy(dns->ch);          /* every flight ends in on_reply(ARES_EDESTRUCTION) */
    while (dns->socks)
        on_sock_state(dns, dns->socks->fd, 0, 0);
    qlist_drop_all(&dns->ready);
    dns_cache_free(dns->cache);
    event_free(dns->timer);
    event_free(dns->deliver_ev);
    free(dns);
    ares_library_cleanup();
}

/* ---- lookups ---- */

static int qtype_code(enum dns_type type)
{
    switch (type) {
    case DNS_T_A:
        return ns_t_a;
    case DNS_T_AAAA:
        return ns_t_aaaa;
    case DNS_T_MX:
        return ns_t_mx;
    case DNS_T_TXT:
        return ns_t_txt;
    case DNS_T_PTR:
        return ns_t_ptr;
    }
    return ns_t_invalid;
}

static struct dns_query *query_new(dns_cb cb, void *arg)
{
    struct dns_query *q = xcalloc(1, sizeof(*q));

    q->cb = cb;
    q->arg = arg;
    return q;
}

/* Deliver status without asking anyone (a name refused before sending). */
static struct dns_query *query_fail(struct dns *dns, struct dns_query *q,
                                    enum dns_type type, enum dns_status status)
{
    struct dns_answer *ans = dns_answer_new(type, status);

    ready_push(dns, q, ans, 0, 0);
    dns_answer_unref(ans);
    return q;
}

static void flight_start(struct dns *dns, enum dns_type type, struct dns_query *q)
{
    size_t len = strlen(q->name);
    struct dns_flight *f = xcalloc(1, sizeof(*f) + len + 1);
    struct dns_flight **bucket = flight_bucket(dns, type, q->name);
    struct timeval tv = ms_to_tv(dns->deadline_ms);

    f->dns = dns;
    f->type = type;
    memcpy(f->name, q->name, len + 1);
    f->hnext = *bucket;
    *bucket = f;
    f->in_table = 1;
    qlist_push(&f->waiters, q);
    f->deadline = evtimer_new(dns->base, on_deadline, f);
    evtimer_add(f->deadline, &tv);
    dns->stats.sent++;
    /* c-ares may answer inside this call (e.g. no usable server) and free f. */
    ares_query(dns->ch, f->name, ns_c_in, qtype_code(type), on_reply, f);
    timer_rearm(dns);
}

/* q->name holds a normalized name. */
static struct dns_query *lookup_normalized(struct dns *dns, enum dns_type type,
                                           struct dns_query *q)
{
    long long left_ms;
    struct dns_answer *ans = dns_cache_get(dns->cache, (int)type, q->name, now_ms(),
                                           &left_ms);
    struct dns_flight *f;

    if (ans) {
        dns->stats.cache_hits++;
        ready_push(dns, q, ans, ttl_seconds(left_ms), 1);
    } else if ((f = flight_find(dns, type, q->name)) != NULL) {
        dns->stats.coalesced++;
        qlist_push(&f->waiters, q);
    } else {
        flight_start(dns, type, q);
    }
    return q;
}

struct dns_query *dns_lookup(struct dns *dns, enum dns_type type, const char *name,
                             dns_cb cb, void *arg)
{
    struct dns_query *q = query_new(cb, arg);

    if (dns_name_normalize(name, q->name, sizeof(q->name)) < 0) {
        snprintf(q->name, sizeof(q->name), "%s", name);
        return query_fail(dns, q, type, DNS_BADNAME);
    }
    return lookup_normalized(dns, type, q);
}

struct dns_query *dns_lookup_mx(struct dns *dns, const char *domain, dns_cb cb, void *arg)
{
    return dns_lookup(dns, DNS_T_MX, domain, cb, arg);
}

struct dns_query *dns_lookup_a(struct dns *dns, const char *name, dns_cb cb, void *arg)
{
    return dns_lookup(dns, DNS_T_A, name, cb, arg);
}

struct dns_query *dns_lookup_aaaa(struct dns *dns, const char *name, dns_cb cb, void *arg)
{
    return dns_lookup(dns, DNS_T_AAAA, name, cb, arg);
}

struct dns_query *dns_lookup_txt(struct dns *dns, const char *name, dns_cb cb, void *arg)
{
    return dns_lookup(dns, DNS_T_TXT, name, cb, arg);
}

static struct dns_query *lookup_reversed(struct dns *dns, enum dns_type type,
                                         const char *ip, const char *zone, dns_cb cb,
                                         void *arg)
{
    struct dns_query *q = query_new(cb, arg);

    if (dns_reverse_name(ip, zone, q->name, sizeof(q->name)) < 0) {
        snprintf(q->name, sizeof(q->name), "%s", ip);
        return query_fail(dns, q, type, DNS_BADNAME);
    }
    return lookup_normalized(dns, type, q);
}

struct dns_query *dns_lookup_ptr(struct dns *dns, const char *ip, dns_cb cb, void *arg)
{
    return lookup_reversed(dns, DNS_T_PTR, ip, NULL, cb, arg);
}

struct dns_query *dns_lookup_dnsbl(struct dns *dns, const char *ip, const char *zone,
                                   dns_cb cb, void *arg)
{
    return lookup_reversed(dns, DNS_T_A, ip, zone, cb, arg);
}

void dns_cancel(struct dns_query *q)
{
    if (q == NULL)
        return;
    qlist_unlink(q);
    query_free(q);
}

void dns_get_stats(const struct dns *dns, struct dns_stats *out)
{
    *out = dns->stats;
}

const char *dns_status_str(enum dns_status status)
{
    static const char *const names[] = {
        [DNS_OK] = "ok", [DNS_NXDOMAIN] = "nxdomain", [DNS_NODATA] = "nodata",
        [DNS_BADNAME] = "badname", [DNS_TIMEOUT] = "timeout", [DNS_REFUSED] = "refused",
        [DNS_SERVFAIL] = "servfail", [DNS_ERROR] = "error",
    };
    return (unsigned)status < sizeof(names) / sizeof(names[0]) ? names[status] : "error";
}

const char *dns_type_str(enum dns_type type)
{
    static const char *const names[] = {
        [DNS_T_A] = "A", [DNS_T_AAAA] = "AAAA", [DNS_T_MX] = "MX", [DNS_T_TXT] = "TXT",
        [DNS_T_PTR] = "PTR",
    };
    return (unsigned)type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

int dns_status_is_temporary(enum dns_status status)
{
    return status == DNS_TIMEOUT || status == DNS_REFUSED || status == DNS_SERVFAIL ||
           status == DNS_ERROR;
}
