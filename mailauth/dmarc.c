/*
 * dmarc.c - DMARC policy discovery and evaluation (see dmarc.h). The pure evaluation
 * (dmarc_evaluate) takes the TXT records of the one or two lookups; the asynchronous
 * part only fetches them through the DKIM TXT table and keeps the first answer while
 * the second is pending.
 */
#include "mailauth/dmarc.h"

#include "lib/xalloc.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *dmarc_result_name(enum dmarc_result r)
{
    switch (r) {
    case DMARC_RESULT_PASS:      return "pass";
    case DMARC_RESULT_FAIL:      return "fail";
    case DMARC_RESULT_TEMPERROR: return "temperror";
    case DMARC_RESULT_PERMERROR: return "permerror";
    default:                     return "none";
    }
}

unsigned dmarc_sample(const char *key)
{
    unsigned long h = 2166136261ul;

    if (key == NULL || *key == '\0')
        return 0;
    for (; *key; key++) {
        h ^= (unsigned char)*key;
        h = (h * 16777619ul) & 0xFFFFFFFFul;
    }
    return (unsigned)(h % 100);
}

/* ---- choosing the one record ------------------------------------------------------- */

enum pick { PICK_NONE, PICK_ONE, PICK_MANY };

static enum pick pick_record(const struct dkim_txt *txt, size_t n, size_t *idx)
{
    struct dmarc_record r;
    size_t i, found = 0;

    for (i = 0; i < n; i++)
        if (dmarc_record_parse(txt[i].text, txt[i].len, &r, NULL) != DMARC_REC_NOT_DMARC) {
            if (found++ == 0)
                *idx = i;
        }
    return found == 0 ? PICK_NONE : found == 1 ? PICK_ONE : PICK_MANY;
}

bool dmarc_need_org_lookup(const struct dmarc_input *in, const struct dkim_txt *from,
                           size_t nfrom, char *org, size_t org_size)
{
    char norm[DMARC_DOMAIN_MAX + 1];
    size_t idx;

    if (from == NULL || dmarc_domain_normalize(in->from_domain, norm, sizeof(norm)) < 0 ||
        dmarc_org_domain(norm, org, org_size) < 0)
        return false;
    return pick_record(from, nfrom, &idx) == PICK_NONE && strcmp(norm, org) != 0;
}

/* ---- evaluation -------------------------------------------------------------------- */

static enum dmarc_policy one_down(enum dmarc_policy p)
{
    return p == DMARC_POLICY_REJECT ? DMARC_POLICY_QUARANTINE : DMARC_POLICY_NONE;
}

static void align(const struct dmarc_input *in, struct dmarc_outcome *out)
{
    const struct dmarc_record *r = &out->record;
    size_t i;

    out->spf_aligned = in->spf.pass && in->spf.domain != NULL &&
                       dmarc_aligned(out->from_domain, in->spf.domain, r->aspf);
    for (i = 0; i < in->ndkim && !out->dkim_aligned; i++) {
        if (!in->dkim[i].pass || in->dkim[i].domain == NULL)
            continue;
        if (dmarc_aligned(out->from_domain, in->dkim[i].domain, r->adkim)) {
            out->dkim_aligned = true;
            dmarc_domain_normalize(in->dkim[i].domain, out->dkim_domain,
                                   sizeof(out->dkim_domain));
        }
    }
}

void dmarc_evaluate(const struct dmarc_input *in, const struct dkim_txt *from, size_t nfrom,
                    const struct dkim_txt *org, size_t norg, struct dmarc_outcome *out)
{
    const struct dkim_txt *txt = NULL;
    enum dmarc_record_status st;
    enum pick pk;
    size_t idx = 0;
    const char *why;
    bool at_org = false;

    memset(out, 0, sizeof(*out));
    out->result = DMARC_RESULT_NONE;
    if (dmarc_domain_normalize(in->from_domain, out->from_domain,
                               sizeof(out->from_domain)) < 0 ||
        dmarc_org_domain(out->from_domain, out->org_domain, sizeof(out->org_domain)) < 0) {
        snprintf(out->from_domain, sizeof(out->from_domain), "%s", "");
        out->result = DMARC_RESULT_PERMERROR;
        out->comment = "the From domain is not a domain name";
        return;
    }
    if (from == NULL) {
        out->result = DMARC_RESULT_TEMPERROR;
        out->comment = "DNS failure looking up the From domain's record";
        return;
    }
    pk = pick_record(from, nfrom, &idx);
    if (pk == PICK_ONE) {
        txt = &from[idx];
    } else if (pk == PICK_NONE && strcmp(out->from_domain, out->org_domain) != 0) {
        if (org == NULL) {
            out->result = DMARC_RESULT_TEMPERROR;
            out->comment = "DNS failure looking up the organizational domain's record";
            return;
        }
        pk = pick_record(org, norg, &idx);
        if (pk == PICK_ONE) {
            txt = &org[idx];
            at_org = true;
        }
    }
    if (pk == PICK_MANY) {
        out->comment = "several DMARC records: no policy can be determined";
        return;
    }
    if (txt == NULL) {
        out->comment = "no DMARC record";
        return;
    }
    st = dmarc_record_parse(txt->text, txt->len, &out->record, &why);
    snprintf(out->record_domain, sizeof(out->record_domain), "%s",
             at_org ? out->org_domain : out->from_domain);
    if (st == DMARC_REC_INVALID) {
        out->result = DMARC_RESULT_PERMERROR;
        out->comment = why;
        return;
    }
    if (st != DMARC_REC_OK) {
        out->comment = why;         /* no usable policy: no DMARC processing (6.6.3 6.) */
        return;
    }
    out->have_record = true;
    out->policy = at_org ? out->record.sp : out->record.p;
    align(in, out);
    if (out->spf_aligned || out->dkim_aligned) {
        out->result = DMARC_RESULT_PASS;
        out->comment = out->dkim_aligned ? "aligned DKIM pass" : "aligned SPF pass";
        out->disposition = DMARC_POLICY_NONE;
        return;
    }
    out->result = DMARC_RESULT_FAIL;
    out->comment = "no aligned SPF or DKIM pass";
    out->disposition = out->policy;
    if (in->sample >= out->record.pct && out->policy != DMARC_POLICY_NONE) {
        out->disposition = one_down(out->policy);
        out->sampled_out = true;
    }
}

size_t dmarc_ar_format(char *buf, size_t size, const struct dmarc_outcome *o)
{
    int n;

    if (o->have_record)
        n = snprintf(buf, size, "dmarc=%s (p=%s sp=%s pct=%u dis=%s) header.from=%s",
                     dmarc_result_name(o->result), dmarc_policy_name(o->record.p),
                     dmarc_policy_name(o->record.sp), o->record.pct,
                     dmarc_policy_name(o->disposition), o->from_domain);
    else if (o->from_domain[0] != '\0')
        n = snprintf(buf, size, "dmarc=%s header.from=%s", dmarc_result_name(o->result),
                     o->from_domain);
    else
        n = snprintf(buf, size, "dmarc=%s", dmarc_result_name(o->result));
    return n < 0 ? 0 : (size_t)n;
}

/* ---- asynchronous discovery ---------------------------------------------------------- */

struct dmarc_check {
    struct event_base *base;
    struct dkim_dns dns;
    void *query;               /* the pending TXT lookup, or NULL */
    struct event *later;       /* a completion without DNS, delivered from the loop */
    dmarc_done_cb cb;
    void *arg;
    /* the input, owned */
    struct dmarc_input in;
    char *from_domain, *spf_domain;
    struct dmarc_ident *dkim;
    /* the first answer, kept during the second lookup */
    bool from_temp;
    struct dkim_txt from[DKIM_TXT_MAX_RECORDS];
    size_t nfrom;
};

static void check_free(struct dmarc_check *c)
{
    size_t i;

    for (i = 0; i < c->nfrom; i++)
        free((char *)c->from[i].text);
    for (i = 0; i < c->in.ndkim; i++)
        free((char *)c->dkim[i].domain);
    free(c->dkim);
    free(c->from_domain);
    free(c->spf_domain);
    if (c->later != NULL)
        event_free(c->later);
    free(c);
}

static void finish(struct dmarc_check *c, const struct dkim_txt *org, size_t norg)
{
    struct dmarc_outcome out;

    dmarc_evaluate(&c->in, c->from_temp ? NULL : c->from, c->nfrom, org, norg, &out);
    c->cb(&out, c->arg);
    check_free(c);
}

static void on_org(void *arg, enum dkim_dns_status st, const struct dkim_txt *txt, size_t n)
{
    struct dmarc_check *c = arg;

    c->query = NULL;
    if (st == DKIM_DNS_TEMPFAIL)
        finish(c, NULL, 0);
    else
        finish(c, txt, st == DKIM_DNS_OK ? n : 0);
}

static void on_from(void *arg, enum dkim_dns_status st, const struct dkim_txt *txt, size_t n)
{
    struct dmarc_check *c = arg;
    char org[DMARC_DOMAIN_MAX + 1], name[DMARC_DOMAIN_MAX + 16];
    size_t i;

    c->query = NULL;
    c->from_temp = st == DKIM_DNS_TEMPFAIL;
    if (st == DKIM_DNS_OK)
        for (i = 0; i < n && i < DKIM_TXT_MAX_RECORDS; i++) {
            char *copy = xmalloc(txt[i].len + 1);
            memcpy(copy, txt[i].text, txt[i].len);
            copy[txt[i].len] = '\0';
            c->from[i].text = copy;
            c->from[i].len = txt[i].len;
            c->nfrom = i + 1;
        }
    if (!c->from_temp && dmarc_need_org_lookup(&c->in, c->from, c->nfrom, org, sizeof(org))) {
        snprintf(name, sizeof(name), "_dmarc.%s", org);
        c->query = c->dns.ops->lookup_txt(c->dns.ctx, name, on_org, c);
        return;
    }
    finish(c, NULL, 0);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    finish(arg, NULL, 0);
}

struct dmarc_check *dmarc_check_start(struct event_base *base, const struct dkim_dns *dns,
                                      const struct dmarc_input *in, dmarc_done_cb cb,
                                      void *arg)
{
    struct dmarc_check *c = xcalloc(1, sizeof(*c));
    char norm[DMARC_DOMAIN_MAX + 1], name[DMARC_DOMAIN_MAX + 16];
    size_t i;

    c->base = base;
    c->dns = *dns;
    c->cb = cb;
    c->arg = arg;
    c->in = *in;
    c->from_domain = xstrdup(in->from_domain ? in->from_domain : "");
    c->in.from_domain = c->from_domain;
    c->spf_domain = in->spf.domain ? xstrdup(in->spf.domain) : NULL;
    c->in.spf.domain = c->spf_domain;
    c->dkim = in->ndkim ? xcalloc(in->ndkim, sizeof(*c->dkim)) : NULL;
    for (i = 0; i < in->ndkim; i++) {
        c->dkim[i].pass = in->dkim[i].pass;
        c->dkim[i].domain = in->dkim[i].domain ? xstrdup(in->dkim[i].domain) : NULL;
    }
    c->in.dkim = c->dkim;
    if (dmarc_domain_normalize(c->from_domain, norm, sizeof(norm)) < 0) {
        /* permerror without DNS; still delivered from the loop, as promised */
        c->later = evtimer_new(base, on_later, c);
        struct timeval now = { 0, 0 };
        evtimer_add(c->later, &now);
        return c;
    }
    snprintf(name, sizeof(name), "_dmarc.%s", norm);
    c->query = c->dns.ops->lookup_txt(c->dns.ctx, name, on_from, c);
    return c;
}

void dmarc_cancel(struct dmarc_check *c)
{
    if (c == NULL)
        return;
    if (c->query != NULL)
        c->dns.ops->cancel(c->dns.ctx, c->query);
    check_free(c);
}
