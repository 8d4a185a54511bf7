/*
 * dns_answer.h - one decoded DNS answer, as the resolver caches and delivers it.
 *
 * Internal to the resolver (lib/dns.c); not for other modules, which see struct
 * dns_result. An answer is immutable once built and reference-counted, because the
 * cache and every lookup waiting for it share it. Loop thread only (the count is not
 * atomic).
 */
#ifndef POSTERN_DNS_ANSWER_H
#define POSTERN_DNS_ANSWER_H

#include "lib/dns.h"

struct dns_answer {
    unsigned refs;
    enum dns_type type;
    enum dns_status status;
    long long ttl_ms;           /* lifetime when received, capped; 0: not to be cached */
    size_t bytes;               /* memory held, for the cache's budget */
    int null_mx;
    size_t n;
    struct dns_mx *mx;          /* only the array of `type` is set */
    struct in_addr *a;
    struct in6_addr *aaaa;
    char **ptr;
    struct dns_txt *txt;
};

/* Lifetimes applied to answers: the cap on all, and the NXDOMAIN/NODATA fallback. */
struct dns_ttl_policy {
    long long max_ttl_ms;
    long long negative_ttl_ms;
};

/* An answer with no records (a failure, or a name refused before sending). refs = 1. */
struct dns_answer *dns_answer_new(enum dns_type type, enum dns_status status);

/*
 * Decode the reply that ares_query() gave for a query of `type` (status is c-ares'
 * status, abuf/alen its packet, possibly NULL). Failures of c-ares map to temporary
 * statuses, except a server's NXDOMAIN / NODATA. refs = 1.
 */
struct dns_answer *dns_answer_from_reply(enum dns_type type, int ares_status,
                                         const unsigned char *abuf, int alen,
                                         const struct dns_ttl_policy *pol);

/* 1 if ans may go into the cache: records, NXDOMAIN or NODATA, with a lifetime > 0.
 * Temporary failures never are. */
int dns_answer_cacheable(const struct dns_answer *ans);

struct dns_answer *dns_answer_ref(struct dns_answer *ans);
void dns_answer_unref(struct dns_answer *ans);

/* Fill res from ans for a callback (pointers into ans; name and ttl from the caller). */
void dns_answer_to_result(const struct dns_answer *ans, const char *name, unsigned ttl,
                          int cached, struct dns_result *res);

#endif
