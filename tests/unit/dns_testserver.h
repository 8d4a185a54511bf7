/*
 * dns_testserver.h - a loopback DNS server for unit tests that drive the real resolver
 * (lib/dns.h) on a libevent loop: a UDP socket on 127.0.0.1 (port chosen by the kernel),
 * answered from a table of (name, type, records) on the same loop. A name present with
 * another type gives NODATA, an absent name NXDOMAIN; a row may instead ask for SERVFAIL
 * or no answer at all (timeout). Built with the packet writer of dns_testpkt.h.
 * Header-only; include it once per test file. Never leaves loopback.
 */
#ifndef POSTERN_DNS_TESTSERVER_H
#define POSTERN_DNS_TESTSERVER_H

#include "lib/dns.h"
#include "tests/unit/dns_testpkt.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define TDS_MAX 32
enum tds_mode { TDS_ANSWER, TDS_SERVFAIL, TDS_DROP };

struct tds_row {
    const char *name;
    unsigned type;                 /* PKT_T_TXT, PKT_T_A */
    enum tds_mode mode;
    const char *txt[4];            /* TXT: one RR each */
    unsigned char a[4];            /* A */
};

struct tds {
    int fd;
    unsigned short port;
    struct event *ev;
    struct tds_row rows[TDS_MAX];
    size_t n;
    unsigned queries;
    char server[32];               /* "127.0.0.1:PORT" for dns_conf.servers */
};

static inline void tds_txt(struct tds *t, const char *name, const char *txt0, const char *txt1)
{
    struct tds_row *r = &t->rows[t->n++];
    memset(r, 0, sizeof(*r));
    r->name = name;
    r->type = PKT_T_TXT;
    r->txt[0] = txt0;
    r->txt[1] = txt1;
}

static inline void tds_mode(struct tds *t, const char *name, unsigned type, enum tds_mode m)
{
    struct tds_row *r = &t->rows[t->n++];
    memset(r, 0, sizeof(*r));
    r->name = name;
    r->type = type;
    r->mode = m;
}

/* Read the question's name (uncompressed) into out; returns the offset after it or 0. */
static inline size_t tds_qname(const unsigned char *q, size_t len, char *out, size_t size)
{
    size_t i = 12, o = 0;
    while (i < len && q[i] != 0) {
        size_t l = q[i++];
        if (l > 63 || i + l > len || o + l + 2 > size)
            return 0;
        if (o > 0)
            out[o++] = '.';
        memcpy(out + o, q + i, l);
        o += l;
        i += l;
    }
    out[o] = '\0';
    return i < len ? i + 1 : 0;
}

static inline void tds_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct tds *t = arg;
    unsigned char q[512];
    struct sockaddr_storage from;
    socklen_t fl = sizeof(from);
    ssize_t len = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
    char name[256];
    size_t at, i, an = 0;
    unsigned qtype;
    int known = 0;
    struct pkt p;
    const struct tds_row *hit = NULL;

    (void)what;
    if (len < 12 || (at = tds_qname(q, (size_t)len, name, sizeof(name))) == 0 ||
        at + 4 > (size_t)len)
        return;
    t->queries++;
    qtype = (unsigned)(q[at] << 8 | q[at + 1]);
    for (i = 0; i < t->n; i++)
        if (strcasecmp(t->rows[i].name, name) == 0) {
            known = 1;
            if (t->rows[i].type == qtype)
                hit = &t->rows[i];
        }
    if (hit != NULL && hit->mode == TDS_DROP)
        return;
    if (hit != NULL && hit->mode == TDS_ANSWER) {
        if (hit->type != PKT_T_TXT)
            an = 1;
        else
            while (an < 4 && hit->txt[an] != NULL)
                an++;
    }
    pkt_start(&p, hit != NULL && hit->mode == TDS_SERVFAIL ? 2u
                  : known ? 0u : PKT_RCODE_NXDOMAIN, name, qtype, (unsigned)an, 0);
    p.b[0] = q[0];
    p.b[1] = q[1];
    for (i = 0; i < an; i++) {
        if (hit->type == PKT_T_TXT) {
            const char *one[2] = { hit->txt[i], NULL };
            pkt_txt(&p, name, 60, one);
        } else {
            pkt_a(&p, name, 60, hit->a);
        }
    }
    sendto(fd, p.b, p.len, 0, (struct sockaddr *)&from, fl);
}

/* Start serving on base; returns 0 or -1. */
static inline int tds_start(struct tds *t, struct event_base *base)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t sl = sizeof(sa);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    t->fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (t->fd < 0 || bind(t->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(t->fd, (struct sockaddr *)&sa, &sl) < 0)
        return -1;
    evutil_make_socket_nonblocking(t->fd);
    t->port = ntohs(sa.sin_port);
    snprintf(t->server, sizeof(t->server), "127.0.0.1:%u", t->port);
    t->ev = event_new(base, t->fd, EV_READ | EV_PERSIST, tds_on_read, t);
    return event_add(t->ev, NULL);
}

static inline void tds_stop(struct tds *t)
{
    if (t->ev != NULL)
        event_free(t->ev);
    if (t->fd >= 0)
        close(t->fd);
    t->ev = NULL;
    t->fd = -1;
}

/* A resolver on base asking only t, no cache, short timeouts. */
static inline struct dns *tds_resolver(struct tds *t, struct event_base *base)
{
    static char *servers[1];
    struct dns_conf conf = { .timeout_ms = 300, .tries = 1, .max_ttl_ms = 0,
                             .negative_ttl_ms = 0, .cache_size = 0, .cache_memory = 0 };

    servers[0] = t->server;
    conf.servers.v = servers;
    conf.servers.n = 1;
    return dns_new(base, &conf);
}

#endif
