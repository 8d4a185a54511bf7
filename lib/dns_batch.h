/*
 * dns_batch.h - the DNS lookups of one check call, sent together and ended together.
 *
 * A check starts every lookup of its stage on a batch inside its run function (so they
 * are all on the wire before the loop runs again: one round trip, not one per lookup),
 * then seals the batch. Each lookup's callback runs as usual and may add follow-up
 * lookups to the same batch (PTR, then forward confirmation). When the last pending
 * lookup of a sealed batch has answered, `done` runs once. dns_batch_free cancels what is
 * still pending (the check's cancel): no callback runs afterwards.
 *
 * Threading: loop thread of the resolver only, like lib/dns.h.
 */
#ifndef POSTERN_DNS_BATCH_H
#define POSTERN_DNS_BATCH_H

#include "lib/dns.h"

#include <stdbool.h>
#include <stddef.h>

struct dns_batch;

/* done(arg) runs on the loop thread when a sealed batch has nothing pending; it may
 * free the batch (and usually does, through check_done). */
struct dns_batch *dns_batch_new(struct dns *dns, void (*done)(void *arg), void *arg);

/* Start a lookup in the batch; cb(res, cbarg) runs with its answer. kind: */
void dns_batch_lookup(struct dns_batch *b, enum dns_type type, const char *name,
                      dns_cb cb, void *cbarg);
void dns_batch_ptr(struct dns_batch *b, const char *ip, dns_cb cb, void *cbarg);
void dns_batch_dnsbl(struct dns_batch *b, const char *ip, const char *zone, dns_cb cb,
                     void *cbarg);

/* No more lookups from the starter (callbacks may still add). Returns true when nothing
 * is pending (done will NOT run: the caller goes on synchronously), false when done will
 * run later. */
bool dns_batch_seal(struct dns_batch *b);

/* Lookups started, and still pending. */
size_t dns_batch_started(const struct dns_batch *b);
size_t dns_batch_pending(const struct dns_batch *b);

/* Cancel what is pending and free. NULL is a no-op. Never from inside a callback of b. */
void dns_batch_free(struct dns_batch *b);

#endif
