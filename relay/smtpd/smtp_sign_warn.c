/*
 * smtp_sign_warn.c - the warning that a domain's mail leaves unsigned although its DMARC
 * policy asks receivers to refuse or quarantine unauthenticated mail (issue: sender
 * authentication, "outbound").
 *
 * When a logged-in sender's message is not signed because dkim.sign holds no key for its
 * From domain (nor a parent), smtp_sign.c calls smtp_sign_warn_unsigned(). Once per domain
 * and SIGN_WARN_INTERVAL_S (a day), the domain's DMARC record is looked up (mailauth/dmarc.h,
 * on the daemon's resolver, asynchronously); when the policy that applies to it is reject
 * or quarantine, one warning is logged:
 *   dkim: warning: mail from logged-in senders at DOMAIN leaves unsigned (no key in
 *   dkim.sign), but DOMAIN publishes DMARC p=reject: receivers may refuse it unless SPF
 *   aligns; add a key (posternctl dkim keygen DOMAIN SELECTOR)
 * dkim.warn_unsigned: false turns it off. At most SIGN_WARN_DOMAINS domains are remembered (the oldest is forgotten first).
 * Lookups still pending when the server stops are cancelled (smtp_sign_warn_stop).
 * Loop thread only.
 */
#include "relay/smtpd/smtp_session.h"

#include "lib/log.h"
#include "lib/xalloc.h"
#include "mailauth/dkim_dns.h"
#include "mailauth/dmarc.h"
#include "relay/relay_conf.h"
#include "relay/smtpd/smtpd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SIGN_WARN_INTERVAL_S 86400
#define SIGN_WARN_DOMAINS 1024

struct sign_warn_domain {
    char name[DMARC_DOMAIN_MAX + 1];
    time_t checked;
};

struct sign_warn_lookup {
    struct sign_warn_lookup *next;
    struct smtpd_sign_warn *w;
    struct dmarc_check *check;
    char domain[DMARC_DOMAIN_MAX + 1];
};

struct smtpd_sign_warn {
    struct sign_warn_domain *v;
    size_t n;
    struct sign_warn_lookup *pending;
};

static void lookup_done(const struct dmarc_outcome *out, void *arg)
{
    struct sign_warn_lookup *l = arg;
    struct sign_warn_lookup **pp;

    if (out->have_record && (out->policy == DMARC_POLICY_REJECT ||
                             out->policy == DMARC_POLICY_QUARANTINE))
        log_warn("dkim", "mail from logged-in senders at %s leaves unsigned (no key in "
                 "dkim.sign), but %s publishes DMARC p=%s: receivers may refuse it unless "
                 "SPF aligns; add a key (posternctl dkim keygen %s SELECTOR)", l->domain,
                 out->record_domain[0] ? out->record_domain : l->domain,
                 out->policy == DMARC_POLICY_REJECT ? "reject" : "quarantine", l->domain);
    for (pp = &l->w->pending; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    free(l);
}

/* Was domain looked at in the last interval? If not, note it now. */
static bool seen_recently(struct smtpd_sign_warn *w, const char *domain, time_t now)
{
    size_t i, oldest = 0;

    for (i = 0; i < w->n; i++) {
        if (strcasecmp(w->v[i].name, domain) == 0) {
            if (now - w->v[i].checked < SIGN_WARN_INTERVAL_S)
                return true;
            w->v[i].checked = now;
            return false;
        }
        if (w->v[i].checked < w->v[oldest].checked)
            oldest = i;
    }
    if (w->n < SIGN_WARN_DOMAINS)
        i = w->n++;
    else
        i = oldest;
    snprintf(w->v[i].name, sizeof(w->v[i].name), "%s", domain);
    w->v[i].checked = now;
    return false;
}

void smtp_sign_warn_unsigned(struct smtp_session *s, const char *domain)
{
    struct smtpd *d = s->srv;
    struct smtpd_sign_warn *w;
    struct sign_warn_lookup *l;
    struct dmarc_input in;
    struct dkim_dns dns;

    if (!s->cf->c.dkim.warn_unsigned || d->dns == NULL || strlen(domain) > DMARC_DOMAIN_MAX)
        return;
    if (d->sign_warn == NULL) {
        d->sign_warn = xcalloc(1, sizeof(*d->sign_warn));
        d->sign_warn->v = xcalloc(SIGN_WARN_DOMAINS, sizeof(*d->sign_warn->v));
    }
    w = d->sign_warn;
    if (seen_recently(w, domain, time(NULL)))
        return;
    l = xcalloc(1, sizeof(*l));
    l->w = w;
    snprintf(l->domain, sizeof(l->domain), "%s", domain);
    memset(&in, 0, sizeof(in));
    in.from_domain = l->domain;
    in.sample = 0;
    dns = dkim_dns_resolver(d->dns);
    l->next = w->pending;
    w->pending = l;
    l->check = dmarc_check_start(d->base, &dns, &in, lookup_done, l);
    if (l->check == NULL) {
        w->pending = l->next;
        free(l);
    }
}

void smtp_sign_warn_stop(struct smtpd *d)
{
    struct smtpd_sign_warn *w = d->sign_warn;

    if (w == NULL)
        return;
    while (w->pending) {
        struct sign_warn_lookup *l = w->pending;
        w->pending = l->next;
        dmarc_cancel(l->check);
        free(l);
    }
    free(w->v);
    free(w);
    d->sign_warn = NULL;
}
