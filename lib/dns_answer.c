/*
 * dns_answer.c - turn one c-ares query reply into a decoded, shareable answer.
 *
 * Called by lib/dns.c on the loop thread when ares_query() completes. No I/O: it only
 * maps c-ares statuses onto Postern's result kinds, runs the c-ares parser of the type
 * (MX sorted by preference, null MX recognised, TXT strings of one RR joined), and works
 * out how long the answer may be cached (answer TTLs or the SOA of a negative answer,
 * capped by dns.max_ttl). Answers are immutable and reference-counted (dns_answer.h).
 */
#include "lib/dns_answer.h"

#include "lib/dns_wire.h"
#include "lib/xalloc.h"

#include <ares.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_S 1000LL

struct dns_answer *dns_answer_new(enum dns_type type, enum dns_status status)
{
    struct dns_answer *ans = xcalloc(1, sizeof(*ans));

    ans->refs = 1;
    ans->type = type;
    ans->status = status;
    ans->bytes = sizeof(*ans);
    return ans;
}

/* Memory held by a decoded answer (arrays and strings). */
static size_t answer_bytes(const struct dns_answer *ans)
{
    size_t b = sizeof(*ans);

    for (size_t i = 0; i < ans->n; i++) {
        if (ans->mx)
            b += sizeof(*ans->mx) + strlen(ans->mx[i].host) + 1;
        if (ans->a)
            b += sizeof(*ans->a);
        if (ans->aaaa)
            b += sizeof(*ans->aaaa);
        if (ans->ptr)
            b += sizeof(*ans->ptr) + strlen(ans->ptr[i]) + 1;
        if (ans->txt)
            b += sizeof(*ans->txt) + ans->txt[i].len + 1;
    }
    return b;
}

int dns_answer_cacheable(const struct dns_answer *ans)
{
    return ans->ttl_ms > 0 && (ans->status == DNS_OK || ans->status == DNS_NXDOMAIN ||
                               ans->status == DNS_NODATA);
}

struct dns_answer *dns_answer_ref(struct dns_answer *ans)
{
    ans->refs++;
    return ans;
}

void dns_answer_unref(struct dns_answer *ans)
{
    if (ans == NULL || --ans->refs > 0)
        return;
    for (size_t i = 0; i < ans->n; i++) {
        if (ans->mx)
            free((char *)ans->mx[i].host);
        if (ans->ptr)
            free(ans->ptr[i]);
        if (ans->txt)
            free((char *)ans->txt[i].text);
    }
    free(ans->mx);
    free(ans->a);
    free(ans->aaaa);
    free(ans->ptr);
    free(ans->txt);
    free(ans);
}

void dns_answer_to_result(const struct dns_answer *ans, const char *name, unsigned ttl,
                          int cached, struct dns_result *res)
{
    memset(res, 0, sizeof(*res));
    res->type = ans->type;
    res->status = ans->status;
    res->name = name;
    res->ttl = ttl;
    res->cached = cached;
    res->null_mx = ans->null_mx;
    res->n = ans->n;
    res->mx = ans->mx;
    res->a = ans->a;
    res->aaaa = ans->aaaa;
    res->ptr = (const char *const *)ans->ptr;
    res->txt = ans->txt;
}

/* A host name from a reply: lower case, without a trailing dot. */
static char *host_copy(const char *s)
{
    char *h = xstrdup(s);
    size_t len = strlen(h);

    if (len > 0 && h[len - 1] == '.')
        h[len - 1] = '\0';
    for (char *p = h; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return h;
}

struct mx_sorted {
    struct dns_mx mx;
    size_t order;               /* position in the reply, to keep equal ones in order */
};

static int mx_cmp(const void *pa, const void *pb)
{
    const struct mx_sorted *a = pa, *b = pb;

    if (a->mx.pref != b->mx.pref)
        return a->mx.pref < b->mx.pref ? -1 : 1;
    return a->order < b->order ? -1 : (a->order > b->order);
}

static int is_root(const char *host)
{
    return host[0] == '\0' || strcmp(host, ".") == 0;
}

static int decode_mx(struct dns_answer *ans, const unsigned char *abuf, int alen)
{
    struct ares_mx_reply *list, *r;
    struct mx_sorted *tmp;
    size_t total = 0, n = 0, roots = 0;
    int rc = ares_parse_mx_reply(abuf, alen, &list);

    if (rc != ARES_SUCCESS)
        return rc;
    for (r = list; r; r = r->next)
        total++;
    tmp = xcalloc(total ? total : 1, sizeof(*tmp));
    for (r = list; r; r = r->next) {
        if (is_root(r->host)) {
            roots++;
            continue;
        }
        tmp[n].mx.pref = r->priority;
        tmp[n].mx.host = host_copy(r->host);
        tmp[n].order = n;
        n++;
    }
    ares_free_data(list);
    qsort(tmp, n, sizeof(*tmp), mx_cmp);
    ans->mx = xcalloc(n ? n : 1, sizeof(*ans->mx));
    for (size_t i = 0; i < n; i++)
        ans->mx[i] = tmp[i].mx;
    free(tmp);
    ans->n = n;
    ans->null_mx = (n == 0 && roots > 0);
    return n || roots ? ARES_SUCCESS : ARES_ENODATA;
}

static int decode_txt(struct dns_answer *ans, const unsigned char *abuf, int alen)
{
    struct ares_txt_ext *list, *r, *s;
    size_t n = 0, i = 0;
    int rc = ares_parse_txt_reply_ext(abuf, alen, &list);

    if (rc != ARES_SUCCESS)
        return rc;
    for (r = list; r; r = r->next)
        n += (r == list || r->record_start);
    ans->txt = xcalloc(n ? n : 1, sizeof(*ans->txt));
    for (r = list; r; r = s, i++) {
        size_t len = 0;
        char *text;
        for (s = r; s && (s == r || !s->record_start); s = s->next)
            len += s->length;
        text = xmalloc(len + 1);
        ans->txt[i].text = text;
        ans->txt[i].len = len;
        for (s = r; s && (s == r || !s->record_start); s = s->next) {
            memcpy(text, s->txt, s->length);
            text += s->length;
        }
        *text = '\0';
    }
    ares_free_data(list);
    ans->n = n;
    return n ? ARES_SUCCESS : ARES_ENODATA;
}

static size_t count_list(char **v)
{
    size_t n = 0;

    while (v && v[n])
        n++;
    return n;
}

static int decode_addrs(struct dns_answer *ans, const unsigned char *abuf, int alen)
{
    struct hostent *h;
    size_t n, size = ans->type == DNS_T_A ? sizeof(struct in_addr) : sizeof(struct in6_addr);
    unsigned char *out;
    int rc = ans->type == DNS_T_A ? ares_parse_a_reply(abuf, alen, &h, NULL, NULL)
                                  : ares_parse_aaaa_reply(abuf, alen, &h, NULL, NULL);

    if (rc != ARES_SUCCESS)
        return rc;
    n = count_list(h->h_addr_list);
    out = xcalloc(n ? n : 1, size);
    for (size_t i = 0; i < n; i++)
        memcpy(out + i * size, h->h_addr_list[i], size);
    ares_free_hostent(h);
    if (ans->type == DNS_T_A)
        ans->a = (struct in_addr *)(void *)out;
    else
        ans->aaaa = (struct in6_addr *)(void *)out;
    ans->n = n;
    return n ? ARES_SUCCESS : ARES_ENODATA;
}

/* ares_parse_ptr_reply() copies the queried address into the hostent it builds; the
 * answer does not use it, so a zero address of the largest size is passed. */
static int decode_ptr(struct dns_answer *ans, const unsigned char *abuf, int alen)
{
    static const unsigned char unused_addr[sizeof(struct in6_addr)];
    struct hostent *h;
    size_t n;
    int rc = ares_parse_ptr_reply(abuf, alen, unused_addr, sizeof(unused_addr), AF_INET6,
                                  &h);

    if (rc != ARES_SUCCESS)
        return rc;
    n = count_list(h->h_aliases);
    ans->ptr = xcalloc(n ? n : 1, sizeof(*ans->ptr));
    for (size_t i = 0; i < n; i++)
        ans->ptr[i] = host_copy(h->h_aliases[i]);
    ares_free_hostent(h);
    ans->n = n;
    return n ? ARES_SUCCESS : ARES_ENODATA;
}

static int decode_records(struct dns_answer *ans, const unsigned char *abuf, int alen)
{
    switch (ans->type) {
    case DNS_T_MX:
        return decode_mx(ans, abuf, alen);
    case DNS_T_TXT:
        return decode_txt(ans, abuf, alen);
    case DNS_T_A:
    case DNS_T_AAAA:
        return decode_addrs(ans, abuf, alen);
    case DNS_T_PTR:
        return decode_ptr(ans, abuf, alen);
    }
    return ARES_EBADQUERY;
}

static enum dns_status map_status(int ares_status)
{
    switch (ares_status) {
    case ARES_SUCCESS:
        return DNS_OK;
    case ARES_ENOTFOUND:
        return DNS_NXDOMAIN;
    case ARES_ENODATA:
        return DNS_NODATA;
    case ARES_EBADNAME:
        return DNS_BADNAME;
    case ARES_ETIMEOUT:
        return DNS_TIMEOUT;
    case ARES_EREFUSED:
    case ARES_ECONNREFUSED:
        return DNS_REFUSED;
    case ARES_ESERVFAIL:
        return DNS_SERVFAIL;
    default:
        return DNS_ERROR;
    }
}

/* How long ans may be cached: answer TTLs for records, the SOA (or the configured
 * fallback) for NXDOMAIN/NODATA, nothing for the rest; always capped. */
static long long cache_ttl_ms(const struct dns_answer *ans, const unsigned char *abuf,
                              int alen, const struct dns_ttl_policy *pol)
{
    uint32_t ttl_s;
    long long ms;

    if (ans->status == DNS_OK)
        ms = dns_packet_ttl(abuf, (size_t)alen, 0, &ttl_s) == 0 ? ttl_s * MS_PER_S : 0;
    else if (ans->status == DNS_NXDOMAIN || ans->status == DNS_NODATA)
        ms = abuf && dns_packet_ttl(abuf, (size_t)alen, 1, &ttl_s) == 0
             ? ttl_s * MS_PER_S : pol->negative_ttl_ms;
    else
        ms = 0;
    return ms < pol->max_ttl_ms ? ms : pol->max_ttl_ms;
}

struct dns_answer *dns_answer_from_reply(enum dns_type type, int ares_status,
                                         const unsigned char *abuf, int alen,
                                         const struct dns_ttl_policy *pol)
{
    struct dns_answer *ans = dns_answer_new(type, map_status(ares_status));

    if (ans->status == DNS_OK) {
        int rc = abuf ? decode_records(ans, abuf, alen) : ARES_EBADRESP;
        if (rc != ARES_SUCCESS) {
            struct dns_answer *bad = dns_answer_new(type, rc == ARES_ENODATA ? DNS_NODATA
                                                                             : DNS_ERROR);
            dns_answer_unref(ans);
            ans = bad;
        }
    }
    ans->ttl_ms = cache_ttl_ms(ans, abuf, alen, pol);
    ans->bytes = answer_bytes(ans);
    return ans;
}
