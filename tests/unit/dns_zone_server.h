/*
 * dns_zone_server.h - a DNS server inside the test process, on 127.0.0.1 (UDP, a free
 * port), answering from the test's event loop out of a table of records, for unit tests
 * that drive lib/dns (and the checks on it) for real:
 *   - a name in the table answers its records of the asked type, or NODATA;
 *   - a name not in the table answers NXDOMAIN, except under ".hang.test" (never
 *     answered: timeouts) and ".servfail.test" (SERVFAIL);
 *   - hold mode: no query is answered until `hold` queries have arrived; then all of them
 *     are answered, and later ones at once. held_max records how many were waiting at the
 *     moment of release (the concurrency test: a stage that sends its lookups one after
 *     the other never gets there).
 * Records: { "name", "A", "192.0.2.1" }, AAAA, PTR ("host.name"), MX ("10 mx.name", or
 * "0 ." for a null MX), TXT (one record per row: SPF, DKIM keys, DMARC); type "HANG" (the
 * name is never answered), "SERVFAIL", and "NONE" (the name exists with no record:
 * NODATA). dts_resolver gives a resolver that asks only this server. Header-only; include
 * once per test file. Never leaves loopback.
 */
#ifndef POSTERN_DNS_ZONE_SERVER_H
#define POSTERN_DNS_ZONE_SERVER_H

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/dns.h"
#include "tests/unit/dns_testpkt.h"

#define DTS_RECORDS_MAX 128
#define DTS_HELD_MAX 64

struct dts_record {
    const char *name, *type, *data;
};

struct dts_held {
    unsigned char q[512];
    size_t len;
    struct sockaddr_in from;
};

struct dns_testserver {
    int fd;
    unsigned short port;
    struct event *ev;
    struct dts_record rec[DTS_RECORDS_MAX];
    size_t nrec;
    int received;                 /* queries seen */
    int hold;                     /* answer nothing until this many have arrived */
    struct dts_held held[DTS_HELD_MAX];
    size_t nheld;
    size_t held_max;              /* queries waiting when they were released */
    char addr[32];                /* "127.0.0.1:PORT" for dns.servers */
};

static inline void dts_add(struct dns_testserver *s, const char *name, const char *type,
                           const char *data)
{
    s->rec[s->nrec++] = (struct dts_record){ name, type, data };
}

static inline unsigned dts_qtype(const char *t)
{
    return strcmp(t, "A") == 0 ? PKT_T_A : strcmp(t, "AAAA") == 0 ? PKT_T_AAAA
         : strcmp(t, "PTR") == 0 ? PKT_T_PTR : strcmp(t, "MX") == 0 ? PKT_T_MX
         : strcmp(t, "TXT") == 0 ? PKT_T_TXT : 0;
}

static inline int dts_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

static inline void dts_answer(struct dns_testserver *s, const unsigned char *q, size_t len,
                              const struct sockaddr_in *from)
{
    struct pkt p;
    char name[300];
    size_t at = 12, n = 0, qend, i, an = 0;
    unsigned qtype, rcode = 3;

    if (len < 17)
        return;
    while (at < len && q[at] != 0 && n + 64 < sizeof(name)) {
        size_t l = q[at];
        if (at + 1 + l > len)
            return;
        if (n > 0)
            name[n++] = '.';
        memcpy(name + n, q + at + 1, l);
        n += l;
        at += 1 + l;
    }
    name[n] = '\0';
    qend = at + 5;
    if (qend > len)
        return;
    qtype = (unsigned)q[at + 1] << 8 | q[at + 2];
    if (dts_ends_with(name, ".hang.test"))
        return;
    if (dts_ends_with(name, ".servfail.test"))
        rcode = 2;
    for (i = 0; i < s->nrec; i++)
        if (strcasecmp(s->rec[i].name, name) == 0) {
            if (strcmp(s->rec[i].type, "HANG") == 0)
                return;
            if (strcmp(s->rec[i].type, "SERVFAIL") == 0) {
                rcode = 2;
                break;
            }
            rcode = 0;
            if (dts_qtype(s->rec[i].type) == qtype)
                an++;
        }
    if (rcode != 0)
        an = 0;
    p.len = 0;
    pkt_bytes(&p, q, 2);
    pkt_u16(&p, PKT_QR_RD_RA | rcode);
    pkt_u16(&p, 1);
    pkt_u16(&p, (unsigned)an);
    pkt_u16(&p, 0);
    pkt_u16(&p, 0);
    pkt_bytes(&p, q + 12, qend - 12);
    for (i = 0; i < s->nrec; i++) {
        const struct dts_record *r = &s->rec[i];
        unsigned char b[16];
        if (an == 0 || strcasecmp(r->name, name) != 0 || dts_qtype(r->type) != qtype)
            continue;
        if (qtype == PKT_T_A) {
            inet_pton(AF_INET, r->data, b);
            pkt_a(&p, name, 60, b);
        } else if (qtype == PKT_T_AAAA) {
            inet_pton(AF_INET6, r->data, b);
            pkt_rr(&p, name, PKT_T_AAAA, 60);
            pkt_u16(&p, 16);
            pkt_bytes(&p, b, 16);
        } else if (qtype == PKT_T_PTR) {
            pkt_name_rr(&p, name, PKT_T_PTR, 60, r->data);
        } else if (qtype == PKT_T_TXT) {
            const char *one[2] = { r->data, NULL };
            pkt_txt(&p, name, 60, one);
        } else {
            unsigned pref = (unsigned)atoi(r->data);
            const char *host = strchr(r->data, ' ') + 1;
            pkt_mx(&p, name, 60, pref, strcmp(host, ".") == 0 ? "" : host);
        }
    }
    (void)sendto(s->fd, p.b, p.len, 0, (const struct sockaddr *)from, sizeof(*from));
}

static inline void dts_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct dns_testserver *s = arg;
    unsigned char q[512];
    struct sockaddr_in from;
    socklen_t fl = sizeof(from);
    ssize_t n;
    size_t i;

    (void)what;
    while ((n = recvfrom(fd, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *)&from, &fl)) > 0) {
        s->received++;
        if (s->hold > 0 && s->nheld < DTS_HELD_MAX) {
            struct dts_held *h = &s->held[s->nheld++];
            memcpy(h->q, q, (size_t)n);
            h->len = (size_t)n;
            h->from = from;
            if (s->received < s->hold)
                continue;
            s->held_max = s->nheld;
            for (i = 0; i < s->nheld; i++)
                dts_answer(s, s->held[i].q, s->held[i].len, &s->held[i].from);
            s->nheld = 0;
            s->hold = 0;
            continue;
        }
        dts_answer(s, q, (size_t)n, &from);
        fl = sizeof(from);
    }
}

/* Start on base. Returns 0, or -1. */
static inline int dts_start(struct dns_testserver *s, struct event_base *base)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t sl = sizeof(sa);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(s->fd, (struct sockaddr *)&sa, &sl) < 0)
        return -1;
    s->port = ntohs(sa.sin_port);
    snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%u", s->port);
    s->ev = event_new(base, s->fd, EV_READ | EV_PERSIST, dts_on_read, s);
    return event_add(s->ev, NULL);
}

static inline void dts_stop(struct dns_testserver *s)
{
    if (s->ev)
        event_free(s->ev);
    if (s->fd > 0)
        close(s->fd);
    s->ev = NULL;
    s->fd = -1;
}

/* A resolver on base asking only s, no cache, short timeouts. */
static inline struct dns *dts_resolver(struct dns_testserver *s, struct event_base *base)
{
    static char *servers[1];
    struct dns_conf conf = { .timeout_ms = 300, .tries = 1, .max_ttl_ms = 0,
                             .negative_ttl_ms = 0, .cache_size = 0, .cache_memory = 0 };

    servers[0] = s->addr;
    conf.servers.v = servers;
    conf.servers.n = 1;
    return dns_new(base, &conf);
}

#endif
