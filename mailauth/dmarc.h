/*
 * dmarc.h - DMARC evaluation (RFC 7489): policy discovery in DNS, identifier alignment,
 * the result and the policy to apply. Asynchronous and cancellable, on the event loop.
 *
 * One evaluation is about one RFC5322.From domain (see policy/header_from.h for how a
 * message's From field becomes that domain, and what to do with several or none):
 *   1. TXT _dmarc.FROMDOMAIN; when that gives no record starting with v=DMARC1
 *      (NXDOMAIN, NODATA, only other TXT records), TXT _dmarc.ORGDOMAIN when the
 *      organizational domain differs (6.6.3 steps 1-4). Several DMARC records at the
 *      step that found any, or one without a usable p= (and no valid rua=), end
 *      discovery: none (6.6.3 steps 5-6). A temporary DNS failure at either step is
 *      temperror; a record with a malformed tag-list is permerror.
 *   2. Alignment (3.1): an SPF pass whose domain aligns with the From domain under aspf=,
 *      or any DKIM pass whose d= aligns under adkim=, makes the result pass; otherwise
 *      fail. No record: none.
 *   3. The policy: p=, or sp= when the record came from the organizational domain for a
 *      subdomain (6.6.3). For a fail, pct= picks the messages it applies to: a message
 *      whose sample (0..99) is at or above pct gets the next policy down (reject ->
 *      quarantine, quarantine -> none; 6.6.4). The sample is the caller's, so it is
 *      deterministic and testable; dmarc_sample() derives one from a key (the queue ID).
 *
 * DNS goes through the same TXT table as DKIM key lookups (struct dkim_dns, in
 * mailauth/dkim_dns.h): dkim_dns_resolver() over lib/dns in the daemon and in posternctl,
 * an in-memory table in the unit tests.
 *
 * Threading: the loop thread of `base` only. The callback runs once, later, on the loop
 * (never inside dmarc_check_start()), unless dmarc_cancel() was called first.
 * Who calls it: policy/checks/check_dmarc.c and posternctl dmarc.
 */
#ifndef POSTERN_DMARC_H
#define POSTERN_DMARC_H

#include "mailauth/dkim_dns.h"
#include "mailauth/dmarc_org.h"
#include "mailauth/dmarc_record.h"

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct dmarc_check;

enum dmarc_result {
    DMARC_RESULT_NONE, DMARC_RESULT_PASS, DMARC_RESULT_FAIL, DMARC_RESULT_TEMPERROR,
    DMARC_RESULT_PERMERROR
};

/* An authenticated identifier: the SPF domain (MAIL FROM, or the HELO name for the null
 * sender: RFC 7208 2.4 makes postmaster@HELO the MAIL FROM identity then) or a DKIM d=,
 * with whether its check passed. Only passes count for DMARC. */
struct dmarc_ident {
    const char *domain;
    bool pass;
};

struct dmarc_input {
    const char *from_domain;           /* the RFC5322.From domain */
    struct dmarc_ident spf;            /* domain NULL: no SPF result */
    const struct dmarc_ident *dkim;    /* one per DKIM signature verified */
    size_t ndkim;
    unsigned sample;                   /* 0..99, for pct= (dmarc_sample) */
};

struct dmarc_outcome {
    enum dmarc_result result;
    bool have_record;                  /* a DMARC record was found (result is not none) */
    struct dmarc_record record;        /* when have_record */
    char from_domain[DMARC_DOMAIN_MAX + 1];
    char org_domain[DMARC_DOMAIN_MAX + 1];
    char record_domain[DMARC_DOMAIN_MAX + 1]; /* where the record was found ("" if none) */
    enum dmarc_policy policy;          /* the published policy that applies (p or sp) */
    enum dmarc_policy disposition;     /* what to do with the message: for a fail, policy
                                          after pct=; none for every other result */
    bool sampled_out;                  /* a fail that pct= moved one step down */
    bool spf_aligned, dkim_aligned;    /* an aligned pass of each kind */
    char dkim_domain[DMARC_DOMAIN_MAX + 1]; /* the d= of the first aligned DKIM pass */
    const char *comment;               /* static text: why (for logs and the AR comment) */
};

typedef void (*dmarc_done_cb)(const struct dmarc_outcome *out, void *arg);

/*
 * Start an evaluation. in is read here only (copied). dns is copied, its ctx borrowed
 * and must outlive the check. Returns the handle, valid until the callback has returned
 * or dmarc_cancel(). A From domain that is not a domain name completes with permerror
 * through the callback.
 */
struct dmarc_check *dmarc_check_start(struct event_base *base, const struct dkim_dns *dns,
                                      const struct dmarc_input *in, dmarc_done_cb cb,
                                      void *arg);

/* Stop: the pending lookup is cancelled, the callback will not run. NULL is a no-op. Not
 * from inside the check's own callback. */
void dmarc_cancel(struct dmarc_check *check);

/*
 * The pure part, for tests and for callers that have the records already: evaluate in
 * against the TXT records found at _dmarc.FROMDOMAIN (from[0..nfrom)) and, when needed,
 * at _dmarc.ORGDOMAIN (org[0..norg)). A NULL array stands for a temporary DNS failure
 * at that step; nfrom == 0 for no records. Fills out.
 */
void dmarc_evaluate(const struct dmarc_input *in, const struct dkim_txt *from, size_t nfrom,
                    const struct dkim_txt *org, size_t norg, struct dmarc_outcome *out);

/* Does in need a second lookup at the organizational domain after the records found at
 * the From domain (NULL = temporary failure)? Writes the org domain when it does. */
bool dmarc_need_org_lookup(const struct dmarc_input *in, const struct dkim_txt *from,
                           size_t nfrom, char *org, size_t org_size);

/* A sample in 0..99 from key (FNV-1a), for pct=: the same key always gives the same
 * sample. NULL or "" gives 0 (the policy applies). */
unsigned dmarc_sample(const char *key);

/* "none", "pass", "fail", "temperror", "permerror". */
const char *dmarc_result_name(enum dmarc_result r);

/* The dmarc= clause of Authentication-Results (RFC 7489 11.2, RFC 8601):
 * "dmarc=fail (p=reject sp=none pct=100 dis=quarantine) header.from=example.com".
 * snprintf-style: returns the length needed. */
size_t dmarc_ar_format(char *buf, size_t size, const struct dmarc_outcome *o);

#endif
