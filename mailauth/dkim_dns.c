/*
 * dkim_dns.c - the DKIM key lookup interface over lib/dns (see dkim_dns.h): TXT lookups
 * whose outcomes are folded into found / not found / temporary failure.
 */
#include "mailauth/dkim_dns.h"

#include "lib/dns.h"
#include "lib/xalloc.h"

#include <stdlib.h>

struct lookup {
    struct dns_query *q;
    dkim_dns_cb cb;
    void *arg;
};

static void on_txt(const struct dns_result *res, void *arg)
{
    struct lookup *l = arg;
    struct dkim_txt txt[DKIM_TXT_MAX_RECORDS];
    enum dkim_dns_status st;
    size_t n = 0, i;

    if (res->status == DNS_OK) {
        st = DKIM_DNS_OK;
        for (i = 0; i < res->n && n < DKIM_TXT_MAX_RECORDS; i++, n++) {
            txt[n].text = res->txt[i].text;
            txt[n].len = res->txt[i].len;
        }
    } else {
        st = dns_status_is_temporary(res->status) ? DKIM_DNS_TEMPFAIL : DKIM_DNS_NOTFOUND;
    }
    l->cb(l->arg, st, txt, n);
    free(l);
}

static void *resolver_lookup(void *ctx, const char *name, dkim_dns_cb cb, void *arg)
{
    struct lookup *l = xmalloc(sizeof(*l));

    l->cb = cb;
    l->arg = arg;
    l->q = dns_lookup_txt(ctx, name, on_txt, l);
    return l;
}

static void resolver_cancel(void *ctx, void *query)
{
    struct lookup *l = query;

    (void)ctx;
    dns_cancel(l->q);
    free(l);
}

static const struct dkim_dns_ops resolver_ops = { resolver_lookup, resolver_cancel };

struct dkim_dns dkim_dns_resolver(struct dns *resolver)
{
    struct dkim_dns d = { &resolver_ops, resolver };
    return d;
}
