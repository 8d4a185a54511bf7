/*
 * backup_probe.c - probes the primary MX of each backup-MX domain (see backup_probe.h).
 *
 * One struct probe per domain, kept by name across reloads: MX lookup, then the A record
 * of the chosen host (its first public address, unless transport.mx_allow_private), then
 * an SMTP client up to its EHLO reply, all asynchronous, under one deadline. The outcome
 * moves the domain's state (unknown, up, down) and raises the alerts; only the down -> up
 * step flushes the domain's queue.
 */
#include "relay/backup_probe.h"

#include "lib/dns.h"
#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/xalloc.h"
#include "relay/queue.h"
#include "relay/relay_conf.h"
#include "relay/server.h"
#include "relay/smtp_client.h"

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
    struct dns_query *q;
    struct smtp_client *client;
    struct event *deadline;
    char host[256];
};

struct backup_probe {
    struct server *srv;
    struct event *tick;
    struct probe *probes;
};

static void probe_schedule(struct backup_probe *bp);

/* Stop whatever the probe is waiting for; no callback of it runs afterwards. */
static void probe_stop(struct probe *p)
{
    if (p->q)
        dns_cancel(p->q);
    p->q = NULL;
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
    struct server *srv = p->bp->srv;
    const char *primary = p->host[0] ? p->host : "none";

    probe_stop(p);
    if (error == NULL) {
        if (p->state == PS_DOWN) {
            long long down_s = (long long)(time(NULL) - p->down_since);
            log_info("qmgr", "backup MX %s: primary %s is up again after %lld s; delivering "
                     "its queue now", p->domain, primary, down_s);
            server_event(srv, "backup.primary_up",
                         json_pack("{s:s, s:s, s:I}", "domain", p->domain, "primary", primary,
                                   "down_s", (json_int_t)down_s));
            queue_flush_domain(srv->queue, p->domain, false, NULL, NULL);
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
        server_event(srv, "backup.primary_down",
                     json_pack("{s:s, s:s, s:s, s:I}", "domain", p->domain, "primary",
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

/* The address to probe: the first one, or with transport.mx_allow_private off, the first
 * public one (the rule of MX deliveries, relay/deliver_smtp.c); -1 when there is none. */
static ssize_t probe_pick_address(const struct config *cf, const struct dns_result *res)
{
    size_t i;
    for (i = 0; i < res->n; i++)
        if (cf->c.transport.mx_allow_private ||
            netaddr_scope(AF_INET, (const unsigned char *)&res->a[i]) == NETADDR_PUBLIC)
            return (ssize_t)i;
    return -1;
}

static void on_a(const struct dns_result *res, void *arg)
{
    struct probe *p = arg;
    const struct config *cf = p->cf;
    struct smtp_client_opts o;
    struct sockaddr_in sin;
    ssize_t pick;

    p->q = NULL;
    if (res->status != DNS_OK || res->n == 0) {
        probe_done(p, "no address for the primary");
        return;
    }
    pick = probe_pick_address(cf, res);
    if (pick < 0) {
        char ip[INET_ADDRSTRLEN], why[INET_ADDRSTRLEN + 96];
        inet_ntop(AF_INET, &res->a[0], ip, sizeof(ip));
        snprintf(why, sizeof(why), "the primary's %s address %s is not used "
                 "(transport.mx_allow_private is off)",
                 netaddr_scope_name(netaddr_scope(AF_INET, (const unsigned char *)&res->a[0])),
                 ip);
        probe_done(p, why);
        return;
    }
    memset(&o, 0, sizeof(o));
    o.conf = &cf->c.smtp_client;
    o.helo_name = cf->c.hostname;
    o.tls = SMTP_TLS_NONE;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr = res->a[pick];
    sin.sin_port = htons((unsigned short)(cf->c.transport.mx_port ? cf->c.transport.mx_port
                                                                 : SMTP_PORT));
    p->client = smtp_client_new(p->bp->srv->base, NULL, &o);
    smtp_client_connect(p->client, (const struct sockaddr *)&sin, sizeof(sin), p->host,
                        on_ready, p);
}

/* The best MX above our own name (and not ours); the domain itself without MX records. */
static void on_mx(const struct dns_result *res, void *arg)
{
    struct probe *p = arg;
    const char *self = p->cf->c.hostname;

    p->q = NULL;
    if (res->status == DNS_NODATA) {
        snprintf(p->host, sizeof(p->host), "%s", p->domain);
    } else if (res->status == DNS_OK && res->n > 0 &&
               !(self && strcasecmp(res->mx[0].host, self) == 0)) {
        snprintf(p->host, sizeof(p->host), "%s", res->mx[0].host); /* sorted: the best */
    } else {
        probe_done(p, res->status == DNS_OK ? "no MX host better than this server"
                                            : dns_status_str(res->status));
        return;
    }
    p->q = dns_lookup_a(p->bp->srv->dns, p->host, on_a, p);
}

static void probe_start(struct probe *p)
{
    long long ms = PROBE_DEADLINE_MS;
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    p->running = true;
    p->cf = config_ref(p->bp->srv->cf);
    p->host[0] = '\0';
    if (p->deadline == NULL)
        p->deadline = evtimer_new(p->bp->srv->base, on_deadline, p);
    evtimer_add(p->deadline, &tv);
    p->q = dns_lookup_mx(p->bp->srv->dns, p->domain, on_mx, p);
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
    const struct conf_strlist *b = &bp->srv->cf->c.relay.backup_domains;
    size_t i;

    (void)fd;
    (void)what;
    if (!bp->srv->shutting_down && bp->srv->cf->c.queue.backup_probe_interval_ms > 0)
        for (i = 0; i < b->n; i++) {
            struct probe *p = probe_find(bp, b->v[i]);
            if (!p->running)
                probe_start(p);
        }
    probe_schedule(bp);
}

static void probe_schedule(struct backup_probe *bp)
{
    long long ms = bp->srv->cf->c.queue.backup_probe_interval_ms;
    struct timeval tv;

    if (ms <= 0)
        ms = 60000; /* off: look again later, a reload may turn it on */
    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    evtimer_add(bp->tick, &tv);
}

struct backup_probe *backup_probe_new(struct server *srv)
{
    struct backup_probe *bp = xcalloc(1, sizeof(*bp));
    struct timeval now = { 0, 0 };

    bp->srv = srv;
    bp->tick = evtimer_new(srv->base, on_tick, bp);
    if (srv->cf->c.queue.backup_probe_interval_ms > 0)
        evtimer_add(bp->tick, &now); /* a first look at start */
    else
        probe_schedule(bp);
    return bp;
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
