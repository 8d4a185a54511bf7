/*
 * spf_resolver.c - the evaluator's DNS function table over lib/dns (the daemon's resolver,
 * with its cache and coalescing). lib/dns already guarantees what spf.h asks of a
 * resolver: one callback per lookup, never inside the lookup call, none after cancel.
 * Loop thread only.
 */
#include "mailauth/spf.h"

static void *dns_table_lookup(void *ctx, enum dns_type type, const char *name, dns_cb cb,
                              void *arg)
{
    return dns_lookup(ctx, type, name, cb, arg);
}

static void dns_table_cancel(void *ctx, void *handle)
{
    (void)ctx;
    dns_cancel(handle);
}

struct spf_resolver spf_resolver_dns(struct dns *dns)
{
    struct spf_resolver r = { .lookup = dns_table_lookup, .cancel = dns_table_cancel,
                              .ctx = dns };
    return r;
}
