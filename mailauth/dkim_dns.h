/*
 * dkim_dns.h - how DKIM fetches key records: a small table of functions, so that the
 * verifier runs on lib/dns in the daemon and in posternctl, and on an in-memory table in
 * unit tests.
 *
 * Contract of an implementation: lookup_txt() starts a TXT lookup of name and returns a
 * handle (never NULL); the callback runs exactly once, later, on the loop thread, never
 * inside lookup_txt(), unless cancel() is called first; after cancel() it never runs.
 * Outcomes: DKIM_DNS_OK (records, possibly none), DKIM_DNS_NOTFOUND (NXDOMAIN, NODATA or
 * a name that cannot exist: permanent), DKIM_DNS_TEMPFAIL (timeout, SERVFAIL, refused:
 * may change on retry).
 */
#ifndef POSTERN_DKIM_DNS_H
#define POSTERN_DKIM_DNS_H

#include <stddef.h>

struct dns;

#define DKIM_TXT_MAX_RECORDS 16   /* TXT records of one name looked at; more are ignored */

enum dkim_dns_status { DKIM_DNS_OK, DKIM_DNS_NOTFOUND, DKIM_DNS_TEMPFAIL };

struct dkim_txt {
    const char *text;     /* one TXT record, its strings joined */
    size_t len;
};

/* txt[0..n) is valid only during the call. */
typedef void (*dkim_dns_cb)(void *arg, enum dkim_dns_status st, const struct dkim_txt *txt,
                            size_t n);

struct dkim_dns_ops {
    void *(*lookup_txt)(void *ctx, const char *name, dkim_dns_cb cb, void *arg);
    void (*cancel)(void *ctx, void *query);
};

struct dkim_dns {
    const struct dkim_dns_ops *ops;
    void *ctx;
};

/* The implementation over the daemon's resolver (lib/dns.h), which stays the caller's. */
struct dkim_dns dkim_dns_resolver(struct dns *resolver);

#endif
