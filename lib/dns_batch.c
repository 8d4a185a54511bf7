/*
 * dns_batch.c - a check call's lookups, together (see dns_batch.h).
 */
#include "lib/dns_batch.h"

#include "lib/xalloc.h"

#include <stdlib.h>

struct slot {
    struct dns_batch *b;
    struct dns_query *q;
    dns_cb cb;
    void *cbarg;
    struct slot *prev, *next;
};

struct dns_batch {
    struct dns *dns;
    void (*done)(void *arg);
    void *arg;
    struct slot *head;
    size_t pending, started;
    bool sealed;
};

struct dns_batch *dns_batch_new(struct dns *dns, void (*done)(void *arg), void *arg)
{
    struct dns_batch *b = xcalloc(1, sizeof(*b));

    b->dns = dns;
    b->done = done;
    b->arg = arg;
    return b;
}

static void unlink_slot(struct slot *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        s->b->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
}

static void on_answer(const struct dns_result *res, void *arg)
{
    struct slot *s = arg;
    struct dns_batch *b = s->b;

    unlink_slot(s);
    s->cb(res, s->cbarg);
    free(s);
    if (--b->pending == 0 && b->sealed)
        b->done(b->arg);           /* may free b: nothing after this */
}

static struct slot *slot_new(struct dns_batch *b, dns_cb cb, void *cbarg)
{
    struct slot *s = xcalloc(1, sizeof(*s));

    s->b = b;
    s->cb = cb;
    s->cbarg = cbarg;
    s->next = b->head;
    if (b->head)
        b->head->prev = s;
    b->head = s;
    b->pending++;
    b->started++;
    return s;
}

void dns_batch_lookup(struct dns_batch *b, enum dns_type type, const char *name,
                      dns_cb cb, void *cbarg)
{
    struct slot *s = slot_new(b, cb, cbarg);

    s->q = dns_lookup(b->dns, type, name, on_answer, s);
}

void dns_batch_ptr(struct dns_batch *b, const char *ip, dns_cb cb, void *cbarg)
{
    struct slot *s = slot_new(b, cb, cbarg);

    s->q = dns_lookup_ptr(b->dns, ip, on_answer, s);
}

void dns_batch_dnsbl(struct dns_batch *b, const char *ip, const char *zone, dns_cb cb,
                     void *cbarg)
{
    struct slot *s = slot_new(b, cb, cbarg);

    s->q = dns_lookup_dnsbl(b->dns, ip, zone, on_answer, s);
}

bool dns_batch_seal(struct dns_batch *b)
{
    b->sealed = true;
    return b->pending == 0;
}

size_t dns_batch_started(const struct dns_batch *b)
{
    return b->started;
}

size_t dns_batch_pending(const struct dns_batch *b)
{
    return b->pending;
}

void dns_batch_free(struct dns_batch *b)
{
    struct slot *s, *next;

    if (b == NULL)
        return;
    for (s = b->head; s != NULL; s = next) {
        next = s->next;
        dns_cancel(s->q);
        free(s);
    }
    free(b);
}
