/*
 * backup_probe.c - probes the primary MX of each backup-MX domain (see backup_probe.h).
 *
 * One struct probe per domain, kept by name across reloads: the primaries (MX lookup, then
 * the A and AAAA records of every MX host ranked above us), then an SMTP client to the
 * best one up to its EHLO reply, all asynchronous, under one deadline. The outcome moves
 * the domain's state (unknown, up, down) and raises the alerts; only the down -> up step
 * flushes the domain's queue. The same resolution of the primaries answers ETRN's
 * question: is this client one of them (backup_probe_check)?
 */
#include "relay/deliver/backup_probe.h"

#include "lib/dns.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/xalloc.h"
#include "relay/relay_conf.h"
#include "relay/deliver/smtp_client.h"
#include "webhooks/event.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PROBE_DEADLINE_MS 30000   /* a whole probe: lookups, connect, greeting, EHLO */
#define PROBE_DOWN_AFTER  2       /* failed probes in a row before "down" */
#define SMTP_PORT         25
#define PRIMARY_HOSTS_MAX 8       /* MX hosts above us that are looked at */
#define PRIMARY_ADDRS_MAX 8       /* A, and as many AAAA, records kept per host */
#define NAME_MAX_LEN      256

/* ---- the primaries of a backup domain ------------------------------------------------ */

/* The MX hosts of a domain ranked above this server (RFC 5321 5.1: our own host name cuts
 * the list at its preference; all of them when we are not listed; the domain itself when
 * it has no MX record), best first, with the A and AAAA records of each. Used by the
 * probe (it connects to the first address) and by ETRN (is the client one of them?). */
struct primary_host {
    struct primaries *pr;
    char name[NAME_MAX_LEN];
    struct dns_query *qa, *qaaaa;
    struct in_addr a[PRIMARY_ADDRS_MAX];
    struct in6_addr aaaa[PRIMARY_ADDRS_MAX];
    size_t na, naaaa;
};

typedef void (*primaries_fn)(struct primaries *pr, void *arg);

struct primaries {
    struct dns *dns;
    struct config *cf;            /* held while resolving: our host name */
    char domain[NAME_MAX_LEN];
    struct dns_query *mxq;
    struct primary_host hosts[PRIMARY_HOSTS_MAX];
    size_t nhosts;
    unsigned lookups;             /* host lookups in flight */
    const char *error;            /* why there is no address (static text) */
    bool temporary;               /* a DNS failure that may go away */
    primaries_fn done;
    void *arg;
};

static void primaries_cancel(struct primaries *pr)
{
    size_t i;

    dns_cancel(pr->mxq);
    pr->mxq = NULL;
    for (i = 0; i < pr->nhosts; i++) {
        dns_cancel(pr->hosts[i].qa);
        dns_cancel(pr->hosts[i].qaaaa);
        pr->hosts[i].qa = pr->hosts[i].qaaaa = NULL;
    }
    pr->lookups = 0;
    if (pr->cf)
        config_unref(pr->cf);
    pr->cf = NULL;
}

static size_t primaries_naddrs(const struct primaries *pr)
{
    size_t i, n = 0;
    for (i = 0; i < pr->nhosts; i++)
        n += pr->hosts[i].na + pr->hosts[i].naaaa;
    return n;
}

static void primaries_finish(struct primaries *pr, const char *error, bool temporary)
{
    if (error == NULL && primaries_naddrs(pr) == 0) {
        error = "no address for the primary";
        temporary = pr->temporary;
    }
    pr->error = error;
    pr->temporary = temporary;
    primaries_cancel(pr);
    pr->done(pr, pr->arg);
}

static void on_host_addr(const struct dns_result *res, void *arg)
{
    struct primary_host *h = arg;
    struct primaries *pr = h->pr;
    size_t i;

    if (res->type == DNS_T_A) {
        h->qa = NULL;
        for (i = 0; res->status == DNS_OK && i < res->n && h->na < PRIMARY_ADDRS_MAX; i++)
            h->a[h->na++] = res->a[i];
    } else {
        h->qaaaa = NULL;
        for (i = 0; res->status == DNS_OK && i < res->n && h->naaaa < PRIMARY_ADDRS_MAX; i++)
            h->aaaa[h->naaaa++] = res->aaaa[i];
    }
    if (dns_status_is_temporary(res->status))
        pr->temporary = true;
    if (--pr->lookups == 0)
        primaries_finish(pr, NULL, false);
}

static void primaries_add(struct primaries *pr, const char *host)
{
    struct primary_host *h = &pr->hosts[pr->nhosts++];

    memset(h, 0, sizeof(*h));
    h->pr = pr;
    snprintf(h->name, sizeof(h->name), "%s", host);
}

static void on_mx(const struct dns_result *res, void *arg)
{
    struct primaries *pr = arg;
    const char *self = pr->cf->c.hostname;
    unsigned cut = ~0u;
    size_t i;

    pr->mxq = NULL;
    if (res->status == DNS_NODATA) {
        primaries_add(pr, pr->domain);
    } else if (res->status == DNS_OK) {
        for (i = 0; i < res->n; i++)
            if (self && strcasecmp(res->mx[i].host, self) == 0 && res->mx[i].pref < cut)
                cut = res->mx[i].pref;
        for (i = 0; i < res->n && pr->nhosts < PRIMARY_HOSTS_MAX; i++)
            if (res->mx[i].pref < cut)      /* sorted: the best first */
                primaries_add(pr, res->mx[i].host);
        if (pr->nhosts == 0) {
            primaries_finish(pr, "no MX host better than this server", false);
            return;
        }
    } else {
        primaries_finish(pr, dns_status_str(res->status),
                         dns_status_is_temporary(res->status));
        return;
    }
    /* lookups counts first: a callback never runs inside dns_lookup_*() */
    pr->lookups = (unsigned)(2 * pr->nhosts);
    for (i = 0; i < pr->nhosts; i++) {
        pr->hosts[i].qa = dns_lookup_a(pr->dns, pr->hosts[i].name, on_host_addr, &pr->hosts[i]);
        pr->hosts[i].qaaaa = dns_lookup_aaaa(pr->dns, pr->hosts[i].name, on_host_addr,
                                             &pr->hosts[i]);
    }
}

/* Resolve the primaries of domain; done(pr, arg) runs later, on the loop, unless
 * primaries_cancel() comes first. pr is the caller's (it must stay put until then). */
static void primaries_start(struct primaries *pr, const struct backup_probe_deps *d,
                            const char *domain, primaries_fn done, void *arg)
{
    memset(pr, 0, sizeof(*pr));
    pr->dns = d->dns;
    pr->cf = config_ref(*d->cf);
    snprintf(pr->domain, sizeof(pr->domain), "%s", domain);
    pr->done = done;
    pr->arg = arg;
    pr->mxq = dns_lookup_mx(pr->dns, domain, on_mx, pr);
}

/* ---- the probe ------------------------------------------------------------------------ */

enum probe_state { PS_UNKNOWN, PS_UP, PS_DOWN };

struct probe {
    struct probe *next;
    struct backup_probe *bp;
    char *domain;
    enum probe_state state;
    unsigned fails;
    time_t down_since;
    bool running;
    struct config *cf;            /* held while a probe runs: the client reads its conf */
    struct primaries pr;
    bool resolving;
    struct smtp_client *client;
    struct event *deadline;
    char host[NAME_MAX_LEN];
};

struct backup_probe {
    struct backup_probe_deps d;
    struct event *tick;
    struct probe *probes;
};

static void probe_schedule(struct backup_probe *bp);

/* Stop whatever the probe is waiting for; no callback of it runs afterwards. */
static void probe_stop(struct probe *p)
{
    if (p->resolving)
        primaries_cancel(&p->pr);
    p->resolving = false;
    if (p->client)
        smtp_client_free(p->client);
    p->client = NULL;
    if (p->deadline)
        evtimer_del(p->deadline);
    if (p->cf)
        config_unref(p->cf);
    p->cf = NULL;
    p->running = false;
}

static void probe_done(struct probe *p, const char *error)
{
    const struct backup_probe_deps *d = &p->bp->d;
    const char *primary = p->host[0] ? p->host : "none";

    probe_stop(p);
    if (error == NULL) {
        if (p->state == PS_DOWN) {
            long long down_s = (long long)(time(NULL) - p->down_since);
            log_info("qmgr", "backup MX %s: primary %s is up again after %lld s; delivering "
                     "its queue now", p->domain, primary, down_s);
            d->event(d->event_arg, "backup.primary_up",
                         wh_pack("{s:s, s:s, s:I}", "domain", p->domain, "primary", primary,
                                 "down_s", (json_int_t)down_s));
            d->flush_domain(d->flush_arg, p->domain);
        } else if (p->state == PS_UNKNOWN) {
            log_info("qmgr", "backup MX %s: primary %s is up", p->domain, primary);
        }
        p->state = PS_UP;
        p->fails = 0;
        return;
    }
    p->fails++;
    log_info("qmgr", "backup MX %s: probe of primary %s failed (%u in a row): %s", p->domain,
             primary, p->fails, error);
    if (p->fails >= PROBE_DOWN_AFTER && p->state != PS_DOWN) {
        p->state = PS_DOWN;
        p->down_since = time(NULL);
        log_warn("qmgr", "backup MX %s: primary %s is down: %s", p->domain, primary, error);
        d->event(d->event_arg, "backup.primary_down",
                     wh_pack("{s:s, s:s, s:s, s:I}", "domain", p->domain, "primary",
                             primary, "error", error, "failed_probes",
                             (json_int_t)p->fails));
    }
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    probe_done(arg, "timed out");
}

static void on_ready(struct smtp_client *c, const struct smtp_result *err, void *arg)
{
    struct probe *p = arg;
    char why[sizeof(err->text) + 16];

    p->client = NULL;
    if (err) {
        snprintf(why, sizeof(why), "%d %s", err->code, err->text);
        smtp_client_free(c);
        probe_done(p, why);
        return;
    }
    smtp_client_quit(c);
    probe_done(p, NULL);
}

/* The address to probe: the first one of the best primary (IPv4 first), or, with
 * transport.mx_allow_private off, its first public one (the rule of MX deliveries,
 * relay/deliver/deliver_smtp.c). Fills ss and returns its length, 0 when there is none. */
static socklen_t probe_pick_address(const struct config *cf, const struct primary_host *h,
                                    unsigned short port, struct sockaddr_storage *ss)
{
    bool any = cf->c.transport.mx_allow_private;
    size_t i;

    memset(ss, 0, sizeof(*ss));
    for (i = 0; i < h->na; i++)
        if (any || netaddr_scope(AF_INET, (const unsigned char *)&h->a[i]) == NETADDR_PUBLIC) {
            struct sockaddr_in *sin = (struct sockaddr_in *)ss;
            sin->sin_family = AF_INET;
            sin->sin_addr = h->a[i];
            sin->sin_port = htons(port);
            return sizeof(*sin);
        }
    for (i = 0; i < h->naaaa; i++)
        if (any || netaddr_scope(AF_INET6, (const unsigned char *)&h->aaaa[i]) ==
                       NETADDR_PUBLIC) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
            sin6->sin6_family = AF_INET6;
            sin6->sin6_addr = h->aaaa[i];
            sin6->sin6_port = htons(port);
            return sizeof(*sin6);
        }
    return 0;
}

/* The primaries are known: connect to the address of the best one. */
static void on_primaries(struct primaries *pr, void *arg)
{
    struct probe *p = arg;
    const struct config *cf = p->cf;
    const struct primary_host *h = &pr->hosts[0];
    unsigned short port = (unsigned short)(cf->c.transport.mx_port ? cf->c.transport.mx_port
                                                                   : SMTP_PORT);
    struct smtp_client_opts o;
    struct sockaddr_storage ss;
    socklen_t len;

    p->resolving = false;
    if (pr->nhosts > 0)
        snprintf(p->host, sizeof(p->host), "%s", h->name);
    if (pr->error) {
        probe_done(p, pr->error);
        return;
    }
    len = probe_pick_address(cf, h, port, &ss);
    if (len == 0 && h->na + h->naaaa == 0) {
        probe_done(p, "no address for the primary");
        return;
    }
    if (len == 0) {
        char ip[INET6_ADDRSTRLEN], why[INET6_ADDRSTRLEN + 96];
        int af = h->na > 0 ? AF_INET : AF_INET6;
        const void *a0 = h->na > 0 ? (const void *)&h->a[0] : (const void *)&h->aaaa[0];
        inet_ntop(af, a0, ip, sizeof(ip));
        snprintf(why, sizeof(why), "the primary's %s address %s is not used "
                 "(transport.mx_allow_private is off)",
                 netaddr_scope_name(netaddr_scope(af, a0)), ip);
        probe_done(p, why);
        return;
    }
    memset(&o, 0, sizeof(o));
    o.conf = &cf->c.smtp_client;
    o.helo_name = cf->c.hostname;
    o.tls = SMTP_TLS_NONE;
    p->client = smtp_client_new(p->bp->d.base, NULL, &o);
    smtp_client_connect(p->client, (const struct sockaddr *)&ss, len, p->host, on_ready, p);
}

static void probe_start(struct probe *p)
{
    long long ms = PROBE_DEADLINE_MS;
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    p->running = true;
    p->cf = config_ref(*p->bp->d.cf);
    p->host[0] = '\0';
    if (p->deadline == NULL)
        p->deadline = evtimer_new(p->bp->d.base, on_deadline, p);
    evtimer_add(p->deadline, &tv);
    p->resolving = true;
    primaries_start(&p->pr, &p->bp->d, p->domain, on_primaries, p);
}

static struct probe *probe_find(struct backup_probe *bp, const char *domain)
{
    struct probe *p;
    for (p = bp->probes; p; p = p->next)
        if (strcasecmp(p->domain, domain) == 0)
            return p;
    p = xcalloc(1, sizeof(*p));
    p->bp = bp;
    p->domain = xstrdup(domain);
    p->next = bp->probes;
    bp->probes = p;
    return p;
}

/* Probe the domains of the running configuration (a reload may add or remove some). */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct backup_probe *bp = arg;
    const struct config *cf = *bp->d.cf;
    const struct conf_strlist *b = &cf->c.relay.backup_domains;
    size_t i;

    (void)fd;
    (void)what;
    if (!*bp->d.shutting_down && cf->c.queue.backup_probe_interval_ms > 0)
        for (i = 0; i < b->n; i++) {
            struct probe *p = probe_find(bp, b->v[i]);
            if (!p->running)
                probe_start(p);
        }
    probe_schedule(bp);
}

static void probe_schedule(struct backup_probe *bp)
{
    long long ms = (*bp->d.cf)->c.queue.backup_probe_interval_ms;
    struct timeval tv;

    if (ms <= 0)
        ms = 60000; /* off: look again later, a reload may turn it on */
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    evtimer_add(bp->tick, &tv);
}

struct backup_probe *backup_probe_new(const struct backup_probe_deps *deps)
{
    struct backup_probe *bp = xcalloc(1, sizeof(*bp));
    struct timeval now = { 0, 0 };

    bp->d = *deps;
    bp->tick = evtimer_new(bp->d.base, on_tick, bp);
    if ((*bp->d.cf)->c.queue.backup_probe_interval_ms > 0)
        evtimer_add(bp->tick, &now); /* a first look at start */
    else
        probe_schedule(bp);
    return bp;
}

bool backup_probe_down(const struct backup_probe *bp, const char *domain)
{
    const struct probe *p;

    for (p = bp ? bp->probes : NULL; p != NULL; p = p->next)
        if (strcasecmp(p->domain, domain) == 0)
            return p->state == PS_DOWN;
    return false;
}

void backup_probe_free(struct backup_probe *bp)
{
    struct probe *p, *next;

    if (bp == NULL)
        return;
    for (p = bp->probes; p; p = next) {
        next = p->next;
        probe_stop(p);
        if (p->deadline)
            event_free(p->deadline);
        free(p->domain);
        free(p);
    }
    event_free(bp->tick);
    free(bp);
}

/* ---- ETRN: is the client a primary? ----------------------------------------------------- */

struct backup_check {
    struct primaries pr;
    char ip[64];
    backup_check_fn cb;
    void *arg;
};

/* Is ip one of the addresses of the primaries? netaddr_contains also matches an IPv4
 * client seen as a v4-mapped IPv6 address. */
static bool primaries_have(const struct primaries *pr, const char *ip)
{
    char text[INET6_ADDRSTRLEN];
    struct netaddr n;
    size_t i, k;

    for (i = 0; i < pr->nhosts; i++) {
        const struct primary_host *h = &pr->hosts[i];
        for (k = 0; k < h->na + h->naaaa; k++) {
            if (k < h->na)
                inet_ntop(AF_INET, &h->a[k], text, sizeof(text));
            else
                inet_ntop(AF_INET6, &h->aaaa[k - h->na], text, sizeof(text));
            if (netaddr_parse(text, &n) == 0 && netaddr_contains(&n, ip))
                return true;
        }
    }
    return false;
}

static void on_check_primaries(struct primaries *pr, void *arg)
{
    struct backup_check *c = arg;
    enum backup_check_result r;

    if (primaries_have(pr, c->ip))
        r = BACKUP_CHECK_PRIMARY;
    else if (pr->error && pr->temporary)
        r = BACKUP_CHECK_UNKNOWN;
    else
        r = BACKUP_CHECK_OTHER;
    if (r == BACKUP_CHECK_UNKNOWN)
        log_info("qmgr", "backup MX %s: cannot tell whether %s is a primary MX of the "
                 "domain: %s", pr->domain, c->ip, pr->error);
    else if (r == BACKUP_CHECK_OTHER)
        log_info("qmgr", "backup MX %s: %s is not a primary MX of the domain%s%s", pr->domain,
                 c->ip, pr->error ? ": " : "", pr->error ? pr->error : "");
    c->cb(c->arg, r);
    free(c);
}

struct backup_check *backup_probe_check(struct backup_probe *bp, const char *domain,
                                        const char *ip, backup_check_fn cb, void *arg)
{
    struct backup_check *c = xcalloc(1, sizeof(*c));

    snprintf(c->ip, sizeof(c->ip), "%s", ip);
    c->cb = cb;
    c->arg = arg;
    primaries_start(&c->pr, &bp->d, domain, on_check_primaries, c);
    return c;
}

void backup_check_cancel(struct backup_check *c)
{
    if (c == NULL)
        return;
    primaries_cancel(&c->pr);
    free(c);
}
