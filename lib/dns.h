/*
 * dns.h - the asynchronous DNS resolver of Postern (c-ares on the libevent loop).
 *
 * One resolver object per event loop serves delivery (MX, A, AAAA) and the policy checks
 * (PTR for reverse DNS, A for HELO names and DNSBLs, TXT for SPF/DMARC later). Lookups are
 * plain queries for one name and one type: no search list, no /etc/hosts, CNAMEs followed
 * by the server. Answers go through a small TTL-capped cache (positive and negative
 * answers; temporary failures are never cached), and identical lookups in flight at the
 * same moment share one query.
 *
 * Outcomes are kept apart, because policy turns them into different SMTP replies:
 *   DNS_OK        records found (for MX, possibly a null MX: see struct dns_result)
 *   DNS_NXDOMAIN  the name does not exist                    - permanent
 *   DNS_NODATA    the name exists, but has no record of this type - permanent
 *   DNS_BADNAME   the name (or IP text) is not valid; nothing was sent - permanent
 *   DNS_TIMEOUT   no answer within the deadline                - temporary
 *   DNS_REFUSED   every server refused or failed: connection refused, or a REFUSED or
 *                 SERVFAIL rcode (c-ares 1.18 moves on to the next server on those
 *                 rcodes and, when none is left, reports them all as "connection
 *                 refused", so the two rcodes cannot be told apart) - temporary
 *   DNS_SERVFAIL  the resolver had no server to ask at all      - temporary
 *   DNS_ERROR     anything else (malformed reply, out of memory) - temporary
 * A dead, slow or refusing server always gives a temporary status, never NXDOMAIN.
 *
 * Threading: everything here runs on the thread of the event loop given to dns_new(),
 * and every callback runs on that loop thread. A callback never runs inside the
 * dns_lookup_* call that started it (cache hits are delivered from the loop too).
 */
#ifndef POSTERN_DNS_H
#define POSTERN_DNS_H

#include "lib/conf.h"

#include <netinet/in.h>
#include <stddef.h>

struct event_base;
struct dns;
struct dns_query;

/* The "dns" config section (lib/dns_conf.c). Hook it into the root table as
 * { "dns", CONF_SECTION, offsetof(root, dns), .sub = &dns_conf_section }. */
struct dns_conf {
    struct conf_strlist servers;  /* "ip", "ip:port", "[ipv6]:port"; empty: resolv.conf */
    long long timeout_ms;         /* wait for one answer from one server */
    long long tries;              /* attempts per server; a lookup ends (DNS_TIMEOUT) after
                                     timeout_ms * tries * servers at the latest */
    long long max_ttl_ms;         /* cap on every cached answer's lifetime */
    long long negative_ttl_ms;    /* NXDOMAIN/NODATA lifetime when the SOA gives none */
    long long cache_size;         /* most answers kept; 0 disables the cache */
    unsigned long long cache_memory; /* most bytes the cached answers may hold */
};
extern const struct conf_section dns_conf_section;

enum dns_type { DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT, DNS_T_PTR };

enum dns_status {
    DNS_OK, DNS_NXDOMAIN, DNS_NODATA, DNS_BADNAME,
    DNS_TIMEOUT, DNS_REFUSED, DNS_SERVFAIL, DNS_ERROR
};

struct dns_mx {
    unsigned pref;
    const char *host;             /* lower case, no trailing dot */
};

struct dns_txt {
    const char *text;             /* the strings of one RR concatenated, NUL-terminated */
    size_t len;                   /* bytes in text (a TXT string may contain NUL) */
};

/*
 * What a callback receives. The struct and everything it points to are valid only
 * during the callback: copy what you keep. Only the array of the queried type is set.
 */
struct dns_result {
    enum dns_type type;
    enum dns_status status;
    const char *name;             /* the name queried, lower case, no trailing dot (for
                                     DNS_BADNAME: the text given, cut to 253 bytes) */
    unsigned ttl;                 /* seconds the answer stays valid (0 for failures) */
    int cached;                   /* 1 when served from the cache */
    int null_mx;                  /* MX only: the domain says it takes no mail (RFC 7505
                                     "MX 0 ."); status is DNS_OK and n is 0 */
    size_t n;                     /* number of records in the array below */
    const struct dns_mx *mx;      /* sorted by preference; equal ones keep server order */
    const struct in_addr *a;      /* A (also for DNSBL lookups) */
    const struct in6_addr *aaaa;
    const char *const *ptr;       /* host names, lower case, no trailing dot */
    const struct dns_txt *txt;    /* one per TXT RR, in server order */
};

/* Runs on the loop thread with the outcome of one lookup; the handle is gone by then. */
typedef void (*dns_cb)(const struct dns_result *res, void *arg);

/* Counters for metrics and tests. */
struct dns_stats {
    unsigned long long sent;       /* queries handed to c-ares */
    unsigned long long cache_hits; /* lookups answered from the cache */
    unsigned long long coalesced;  /* lookups that joined a query already in flight */
    unsigned long long deadlines;  /* lookups ended by the deadline (DNS_TIMEOUT) */
};

/*
 * Create a resolver on base (one per loop). conf is read here only (the caller keeps
 * it). Returns NULL and logs why when c-ares cannot start or a server address is bad.
 */
struct dns *dns_new(struct event_base *base, const struct dns_conf *conf);

/*
 * Destroy the resolver. Lookups still pending are dropped without their callbacks, and
 * their handles become invalid. Never call it from inside a dns callback.
 */
void dns_free(struct dns *dns);

/*
 * Start a lookup. The callback runs exactly once, later, on the loop thread, unless the
 * lookup is cancelled first. The returned handle is owned by the resolver: it is valid
 * until the callback starts or dns_cancel() is called, whichever comes first.
 * name: a host or domain name, with or without the trailing dot, any case.
 */
struct dns_query *dns_lookup(struct dns *dns, enum dns_type type, const char *name,
                             dns_cb cb, void *arg);
struct dns_query *dns_lookup_mx(struct dns *dns, const char *domain, dns_cb cb, void *arg);
struct dns_query *dns_lookup_a(struct dns *dns, const char *name, dns_cb cb, void *arg);
struct dns_query *dns_lookup_aaaa(struct dns *dns, const char *name, dns_cb cb, void *arg);
struct dns_query *dns_lookup_txt(struct dns *dns, const char *name, dns_cb cb, void *arg);

/* PTR of an IP given as text ("192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1" is treated
 * as IPv4). A bad IP gives DNS_BADNAME through the callback. */
struct dns_query *dns_lookup_ptr(struct dns *dns, const char *ip, dns_cb cb, void *arg);

/* A lookup of IP reversed under a DNSBL zone ("127.0.0.2" + "zen.test" ->
 * "2.0.0.127.zen.test"; IPv6 by nibbles). res->name is the constructed name. */
struct dns_query *dns_lookup_dnsbl(struct dns *dns, const char *ip, const char *zone,
                                   dns_cb cb, void *arg);

/* Guarantee that the callback of q will not run, and release q. NULL is a no-op. The
 * query on the wire may still complete; its answer then only fills the cache. */
void dns_cancel(struct dns_query *q);

/* Copy the counters. */
void dns_get_stats(const struct dns *dns, struct dns_stats *out);

/* "ok", "nxdomain", "nodata", "badname", "timeout", "refused", "servfail", "error". */
const char *dns_status_str(enum dns_status status);

/* "A", "AAAA", "MX", "TXT", "PTR". */
const char *dns_type_str(enum dns_type type);

/* 1 for the outcomes that may change on retry (timeout, refused, servfail, error). */
int dns_status_is_temporary(enum dns_status status);

#endif
