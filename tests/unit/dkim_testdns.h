/*
 * dkim_testdns.h - an in-memory struct dkim_dns for the DKIM unit tests: a table of
 * names with TXT records (or an outcome), answered from the event loop like lib/dns
 * (never inside lookup_txt), with a "hang" outcome that never answers, and counters of
 * lookups started, answered and cancelled. Header-only; include it once per test file.
 */
#ifndef POSTERN_DKIM_TESTDNS_H
#define POSTERN_DKIM_TESTDNS_H

#include "mailauth/dkim_dns.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TESTDNS_MAX 16
#define TESTDNS_HANG 99           /* an outcome: the lookup never answers */

struct testdns_entry {
    const char *name;
    int status;                   /* enum dkim_dns_status or TESTDNS_HANG */
    const char *txt[4];           /* NULL-terminated records */
};

struct testdns {
    struct event_base *base;
    struct testdns_entry e[TESTDNS_MAX];
    size_t n;
    int started, answered, cancelled;
};

struct testdns_q {
    struct testdns *t;
    struct event *ev;
    char name[300];
    dkim_dns_cb cb;
    void *arg;
};

static inline void testdns_add(struct testdns *t, const char *name, int status,
                               const char *txt0, const char *txt1)
{
    struct testdns_entry *e = &t->e[t->n++];
    memset(e, 0, sizeof(*e));
    e->name = name;
    e->status = status;
    e->txt[0] = txt0;
    e->txt[1] = txt0 ? txt1 : NULL;
}

static inline void testdns_fire(evutil_socket_t fd, short what, void *arg)
{
    struct testdns_q *q = arg;
    struct dkim_txt txt[4];
    size_t n = 0, i;
    int st = DKIM_DNS_NOTFOUND;
    (void)fd, (void)what;
    for (i = 0; i < q->t->n; i++) {
        if (strcmp(q->t->e[i].name, q->name) != 0)
            continue;
        st = q->t->e[i].status;
        for (n = 0; q->t->e[i].txt[n]; n++) {
            txt[n].text = q->t->e[i].txt[n];
            txt[n].len = strlen(txt[n].text);
        }
        break;
    }
    q->t->answered++;
    event_free(q->ev);
    q->cb(q->arg, (enum dkim_dns_status)st, txt, n);
    free(q);
}

static inline void *testdns_lookup(void *ctx, const char *name, dkim_dns_cb cb, void *arg)
{
    struct testdns *t = ctx;
    struct testdns_q *q = calloc(1, sizeof(*q));
    struct timeval now = { 0, 0 };
    size_t i;
    int hang = 0;
    q->t = t;
    q->cb = cb;
    q->arg = arg;
    snprintf(q->name, sizeof(q->name), "%s", name);
    q->ev = evtimer_new(t->base, testdns_fire, q);
    for (i = 0; i < t->n; i++)
        if (strcmp(t->e[i].name, name) == 0 && t->e[i].status == TESTDNS_HANG)
            hang = 1;
    if (!hang)
        evtimer_add(q->ev, &now);
    t->started++;
    return q;
}

static inline void testdns_cancel(void *ctx, void *query)
{
    struct testdns_q *q = query;
    (void)ctx;
    q->t->cancelled++;
    event_free(q->ev);
    free(q);
}

static const struct dkim_dns_ops testdns_ops = { testdns_lookup, testdns_cancel };

static inline struct dkim_dns testdns_iface(struct testdns *t)
{
    struct dkim_dns d = { &testdns_ops, t };
    return d;
}

#endif
