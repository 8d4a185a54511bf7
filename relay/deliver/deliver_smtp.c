/*
 * deliver_smtp.c - the SMTP/LMTP agent: one struct dconn per connection (see
 * deliver_int.h), on top of relay/deliver/smtp_client.
 *
 * A connection serves the job it was started for, then every job still waiting for the
 * same destination (reuse), then says QUIT. Resolving (MX routes and relays without
 * brackets): MX records sorted by preference; a null MX bounces (5.1.10); no MX record
 * means the domain itself is the host (RFC 5321 5.1); our own host name cuts the list at
 * its preference (RFC 5321 5.1: never deliver to ourselves or to a worse MX). Each host's
 * A and AAAA records are looked up together (IPv4 first). On MX routes an address is
 * skipped when one of our listeners takes it (relay/deliver/deliver_self.h: its exact address, or
 * one of the host's own addresses behind a wildcard listener) or when it is not public
 * (lib/netaddr.h: loopback, private, ...) unless transport.mx_allow_private. Failover: a
 * connection failure, a failed greeting/EHLO/TLS/AUTH, or a session-level temporary
 * failure before DATA moves on to the next address, up to limits.mx_addresses addresses.
 * When every try failed, the job's recipients get the last error (temporary), and so do
 * the jobs still waiting for that destination: they would only wait for the same
 * timeouts. Loop thread only.
 */
#include "relay/deliver/deliver_int.h"
#include "relay/deliver/hop_opts.h"

#include "lib/dns.h"
#include "lib/netaddr.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "relay/relay_conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Replies the agent makes up itself (code, enhanced code, format), in one table. */
#define DR_NULL_MX      556, "5.1.10", "Recipient address rejected: domain %s does not accept mail (null MX)"
#define DR_NO_DOMAIN    550, "5.4.4", "Host or domain name not found. Name service error for name=%s type=%s: Host not found"
#define DR_DNS_TEMP     451, "4.4.3", "Host or domain name not found. Name service error for name=%s type=%s: %s"
#define DR_NO_ADDRESS   451, "4.4.4", "no address found for host %s"
#define DR_LOOP         451, "4.4.6", "mail for %s loops back to myself"
#define DR_NOT_PUBLIC   451, "4.4.4", "mail for %s: host %s has the %s address %s, which is not used for delivery"
#define DR_TLS_CTX      451, "4.7.5", "cannot set up TLS for %s"
#define DR_NO_HOST      451, "4.4.4", "no usable next hop for %s"

struct dhost {
    char *name;
    unsigned pref;
};

struct daddr {
    struct sockaddr_storage sa;
    socklen_t len;
};

struct dconn {
    struct dconn *next, *prev;
    struct deliver *d;
    struct ddest *dest;
    struct config *cf;
    struct deliver_limits lim;
    struct route route;
    char *domain;
    struct deliver_job *job;
    struct dns_query *q_mx, *q_a, *q_aaaa;
    int a_pending;
    bool implicit_mx;             /* the domain itself, for lack of MX records */
    bool dns_permanent;           /* every lookup so far failed permanently */
    struct dhost *hosts;
    size_t nhosts, host_i;
    struct daddr *addrs;
    size_t naddrs, addr_i;
    unsigned tried;
    struct smtp_client *client;
    struct smtp_result err;       /* the last failure */
    bool have_err;
    char relay[DELIVER_RELAY_MAX];
    char *remote_host;            /* the host that answered (Remote-MTA) */
    struct event *idle_ev;        /* set while idle: closes the connection when it fires */
};

static void conn_next_host(struct dconn *c);
static void conn_next_addr(struct dconn *c);

static void conn_free_hosts(struct dconn *c)
{
    size_t i;
    for (i = 0; i < c->nhosts; i++)
        free(c->hosts[i].name);
    free(c->hosts);
    c->hosts = NULL;
    c->nhosts = c->host_i = 0;
}

static void conn_cancel_dns(struct dconn *c)
{
    dns_cancel(c->q_mx);
    dns_cancel(c->q_a);
    dns_cancel(c->q_aaaa);
    c->q_mx = c->q_a = c->q_aaaa = NULL;
}

/* The connection is finished (its job, if any, was reported or cancelled). */
static void conn_end(struct dconn *c, bool polite)
{
    struct deliver *d = c->d;
    conn_cancel_dns(c);
    if (c->client) {
        if (polite)
            smtp_client_quit(c->client);
        else
            smtp_client_free(c->client);
    }
    if (c->idle_ev)
        event_free(c->idle_ev);
    conn_free_hosts(c);
    free(c->addrs);
    free(c->domain);
    free(c->remote_host);
    config_unref(c->cf);
    c->dest->active--;
    d->total--;
    if (c->prev)
        c->prev->next = c->next;
    else
        d->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
    deliver_kick(d);
}

/* The current job failed before any server took it: report the error to it and to every
 * job waiting for the same destination, then end the connection. */
static void conn_fail(struct dconn *c, const struct smtp_result *why)
{
    struct smtp_result err = *why;
    struct deliver_job *j = c->job, *w;
    const char *relay = c->relay[0] ? c->relay : "none";
    char relay_copy[DELIVER_RELAY_MAX];

    snprintf(relay_copy, sizeof(relay_copy), "%s", relay);
    if (err.status == SMTP_SENT)
        err.status = SMTP_TEMPFAIL;
    c->job = NULL;
    if (j)
        deliver_job_fail_all(j, &err, relay_copy, NULL);
    /* the others would only wait for the same failure, unless it was about the message */
    if (err.status == SMTP_TEMPFAIL)
        while ((w = deliver_wait_pop(c->dest)) != NULL) {
            w->t_started = deliver_now();
            deliver_job_fail_all(w, &err, relay_copy, NULL);
        }
    conn_end(c, false);
}

static void conn_fail_last(struct dconn *c, const char *what)
{
    struct smtp_result r;
    if (c->have_err) {
        conn_fail(c, &c->err);
        return;
    }
    deliver_result(&r, SMTP_STAGE_CONNECT, DR_NO_HOST, what);
    conn_fail(c, &r);
}

/* An address that one of our listeners takes (deliver_self.h): delivering there would
 * loop. The reason is kept for the report when nothing better comes. */
static bool conn_addr_loops(struct dconn *c, const struct daddr *a)
{
    const struct conf_array *l = &c->cf->c.listeners;

    if (!deliver_self_is_self(&c->d->self, l->items, l->n, (const struct sockaddr *)&a->sa))
        return false;
    if (!c->have_err) {
        deliver_result(&c->err, SMTP_STAGE_CONNECT, DR_LOOP, c->domain);
        c->have_err = true;
    }
    return true;
}

/* MX routes go where the recipient's domain (its DNS, or an address literal) says: only
 * to public addresses, unless transport.mx_allow_private. A refused address is skipped
 * like an unreachable one; its reason is kept for the report when nothing better comes. */
static bool conn_addr_allowed(struct dconn *c, const struct daddr *a, const char *host)
{
    enum netaddr_scope scope;
    char ip[INET6_ADDRSTRLEN] = "?";

    if (c->cf->c.transport.mx_allow_private)
        return true;
    scope = netaddr_scope_sa((const struct sockaddr *)&a->sa);
    if (scope == NETADDR_PUBLIC)
        return true;
    if (a->sa.ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->sa)->sin_addr, ip, sizeof(ip));
    else if (a->sa.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->sa)->sin6_addr, ip, sizeof(ip));
    if (!c->have_err) {
        deliver_result(&c->err, SMTP_STAGE_CONNECT, DR_NOT_PUBLIC, c->domain, host,
                       netaddr_scope_name(scope), ip);
        c->have_err = true;
    }
    return false;
}

static void on_ready(struct smtp_client *cl, const struct smtp_result *err, void *arg);
static void on_sent(struct smtp_client *cl, const struct smtp_client_report *rep, void *arg);

static void conn_send(struct dconn *c)
{
    struct deliver_job *j = c->job;
    struct smtp_client_msg *m = &j->cm;

    memset(m, 0, sizeof(*m));
    m->sender = j->msg.sender;
    m->rcpts = j->msg.rcpts;
    m->nrcpts = j->msg.nrcpts;
    m->fd = j->msg.fd;
    m->offset = j->msg.offset;
    m->length = j->msg.length;
    m->flags = j->msg.flags;
    if (smtp_client_send(c->client, m, on_sent, c) < 0) {
        struct smtp_result r;
        deliver_result(&r, SMTP_STAGE_MAIL, 451, "4.4.2", "connection to %s is not usable",
                     c->relay);
        smtp_client_free(c->client);
        c->client = NULL;
        c->err = r;
        c->have_err = true;
        conn_next_addr(c);
    }
}

/* Fill the options of a client for this connection's route (hop_opts.h: a relay's entry
 * in transport.relays gives its TLS policy, certificate check and credentials).
 * Returns the SSL_CTX to use
 * (NULL with opts->tls = NONE when TLS is off or cannot be set up and is not required);
 * *fail is set when TLS is required and cannot be set up. */
static struct ssl_ctx_st *conn_opts(struct dconn *c, struct smtp_client_opts *o, bool *fail)
{
    struct ssl_ctx_st *ctx = NULL;

    *fail = false;
    hop_client_opts(c->cf, &c->route, o);
    if (o->tls != SMTP_TLS_NONE) {
        ctx = ssl_cache_get(&c->d->ssl, c->cf->c.transport.ca_file);
        if (ctx == NULL) {
            if (o->tls == SMTP_TLS_REQUIRED)
                *fail = true;
            o->tls = SMTP_TLS_NONE;
        }
    }
    return ctx;
}

static void conn_connect(struct dconn *c, const struct daddr *a, const char *host)
{
    struct smtp_client_opts o;
    bool fail;
    struct ssl_ctx_st *ctx = conn_opts(c, &o, &fail);

    if (fail) {
        deliver_result(&c->err, SMTP_STAGE_STARTTLS, DR_TLS_CTX, host);
        c->have_err = true;
        conn_fail(c, &c->err);
        return;
    }
    c->tried++;
    c->client = smtp_client_new(c->d->base, ctx, &o);
    free(c->remote_host);
    c->remote_host = xstrdup(host);
    smtp_client_connect(c->client, (const struct sockaddr *)&a->sa, a->len, host, on_ready, c);
    snprintf(c->relay, sizeof(c->relay), "%s", smtp_client_relay(c->client));
}

/* Try the next address of the current host, or move on to the next host. */
static void conn_next_addr(struct dconn *c)
{
    while (c->addr_i < c->naddrs) {
        const struct daddr *a = &c->addrs[c->addr_i++];
        const char *host = c->nhosts ? c->hosts[c->host_i - 1].name : "localhost";
        if (c->tried >= (unsigned)c->lim.mx_addresses)
            break;
        if (c->route.kind == ROUTE_MX &&
            (conn_addr_loops(c, a) || !conn_addr_allowed(c, a, host)))
            continue;
        conn_connect(c, a, host);
        return;
    }
    if (c->tried >= (unsigned)c->lim.mx_addresses || c->nhosts == 0) {
        conn_fail_last(c, c->domain);
        return;
    }
    conn_next_host(c);
}

static void add_addr(struct dconn *c, int family, const void *bytes, unsigned port)
{
    struct daddr *a;
    c->addrs = xrealloc(c->addrs, (c->naddrs + 1) * sizeof(*c->addrs));
    a = &c->addrs[c->naddrs++];
    memset(a, 0, sizeof(*a));
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        memcpy(&s4->sin_addr, bytes, 4);
        a->len = sizeof(*s4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        memcpy(&s6->sin6_addr, bytes, 16);
        a->len = sizeof(*s6);
    }
}

static unsigned conn_port(const struct dconn *c)
{
    return c->route.kind == ROUTE_MX ? (unsigned)c->cf->c.transport.mx_port : c->route.port;
}

/* Both address lookups of the current host are in. */
static void conn_addrs_done(struct dconn *c)
{
    if (c->naddrs == 0) {
        const char *host = c->hosts[c->host_i - 1].name;
        if (c->implicit_mx && c->dns_permanent && c->route.kind == ROUTE_MX) {
            deliver_result(&c->err, SMTP_STAGE_CONNECT, DR_NO_DOMAIN, host, "A");
            c->have_err = true;
            c->err.session = false;
            conn_fail(c, &c->err);
            return;
        }
        if (!c->have_err) {
            deliver_result(&c->err, SMTP_STAGE_CONNECT, DR_NO_ADDRESS, host);
            c->have_err = true;
        }
    }
    conn_next_addr(c);
}

static void on_addr(const struct dns_result *res, void *arg, bool v6)
{
    struct dconn *c = arg;
    unsigned port = conn_port(c);
    size_t i;

    if (v6)
        c->q_aaaa = NULL;
    else
        c->q_a = NULL;
    if (res->status == DNS_OK) {
        for (i = 0; i < res->n; i++)
            add_addr(c, v6 ? AF_INET6 : AF_INET, v6 ? (const void *)&res->aaaa[i]
                                                      : (const void *)&res->a[i], port);
    } else if (dns_status_is_temporary(res->status)) {
        c->dns_permanent = false;
        deliver_result(&c->err, SMTP_STAGE_CONNECT, DR_DNS_TEMP, res->name, v6 ? "AAAA" : "A",
                     dns_status_str(res->status));
        c->have_err = true;
    }
    if (--c->a_pending == 0) {
        /* IPv4 first: keep the A addresses in front whatever order the answers came in */
        size_t n4 = 0, k;
        for (k = 0; k < c->naddrs; k++)
            if (c->addrs[k].sa.ss_family == AF_INET) {
                struct daddr t = c->addrs[k];
                memmove(&c->addrs[n4 + 1], &c->addrs[n4], (k - n4) * sizeof(t));
                c->addrs[n4++] = t;
            }
        conn_addrs_done(c);
    }
}

static void on_a(const struct dns_result *res, void *arg)
{
    on_addr(res, arg, false);
}

static void on_aaaa(const struct dns_result *res, void *arg)
{
    on_addr(res, arg, true);
}

/* Look up the next host's addresses (or use it as an IP). */
static void conn_next_host(struct dconn *c)
{
    const char *host;
    unsigned char buf[16];

    free(c->addrs);
    c->addrs = NULL;
    c->naddrs = c->addr_i = 0;
    if (c->host_i >= c->nhosts) {
        conn_fail_last(c, c->domain);
        return;
    }
    host = c->hosts[c->host_i++].name;
    if (inet_pton(AF_INET, host, buf) == 1) {
        add_addr(c, AF_INET, buf, conn_port(c));
        conn_next_addr(c);
        return;
    }
    if (inet_pton(AF_INET6, host, buf) == 1) {
        add_addr(c, AF_INET6, buf, conn_port(c));
        conn_next_addr(c);
        return;
    }
    c->a_pending = 2;
    c->q_a = dns_lookup_a(c->d->dns, host, on_a, c);
    c->q_aaaa = dns_lookup_aaaa(c->d->dns, host, on_aaaa, c);
}

static void add_host(struct dconn *c, const char *name, unsigned pref)
{
    c->hosts = xrealloc(c->hosts, (c->nhosts + 1) * sizeof(*c->hosts));
    c->hosts[c->nhosts].name = xstrdup(name);
    c->hosts[c->nhosts].pref = pref;
    c->nhosts++;
}

static void on_mx(const struct dns_result *res, void *arg)
{
    struct dconn *c = arg;
    const char *name = c->route.kind == ROUTE_MX ? c->domain : c->route.host;
    const char *self = c->cf->c.hostname;
    size_t i;
    struct smtp_result r;

    c->q_mx = NULL;
    if (res->status == DNS_OK && res->null_mx) {
        if (c->route.kind == ROUTE_MX) {
            deliver_result(&r, SMTP_STAGE_CONNECT, DR_NULL_MX, name);
            r.session = false;
        } else {
            deliver_result(&r, SMTP_STAGE_CONNECT, DR_NO_ADDRESS, name);
        }
        conn_fail(c, &r);
        return;
    }
    if (res->status == DNS_OK) {
        unsigned cut = ~0u;
        for (i = 0; i < res->n; i++)
            if (self && strcasecmp(res->mx[i].host, self) == 0 && res->mx[i].pref < cut)
                cut = res->mx[i].pref;
        for (i = 0; i < res->n; i++)
            if (res->mx[i].pref < cut)
                add_host(c, res->mx[i].host, res->mx[i].pref);
        if (c->nhosts == 0) {
            deliver_result(&r, SMTP_STAGE_CONNECT, DR_LOOP, name);
            conn_fail(c, &r);
            return;
        }
    } else if (res->status == DNS_NODATA) {
        c->implicit_mx = true;
        c->dns_permanent = true;
        add_host(c, name, 0);
    } else if (!dns_status_is_temporary(res->status)) {
        if (c->route.kind == ROUTE_MX) {
            deliver_result(&r, SMTP_STAGE_CONNECT, DR_NO_DOMAIN, name, "MX");
            r.session = false;
        } else {
            deliver_result(&r, SMTP_STAGE_CONNECT, DR_DNS_TEMP, name, "MX",
                         dns_status_str(res->status));
            r.code = 451;
            r.status = SMTP_TEMPFAIL;
            snprintf(r.enhanced, sizeof(r.enhanced), "4.4.4");
        }
        conn_fail(c, &r);
        return;
    } else {
        deliver_result(&r, SMTP_STAGE_CONNECT, DR_DNS_TEMP, name, "MX",
                     dns_status_str(res->status));
        conn_fail(c, &r);
        return;
    }
    conn_next_host(c);
}

void dconn_start(struct deliver *d, struct ddest *t, struct deliver_job *j)
{
    struct dconn *c = xcalloc(1, sizeof(*c));

    c->d = d;
    c->dest = t;
    c->cf = config_ref(j->cf);
    c->lim = j->lim;
    c->route = j->route;
    c->domain = xstrdup(j->domain);
    c->job = j;
    j->conn = c;
    j->t_started = deliver_now();
    t->active++;
    d->total++;
    c->next = d->conns;
    if (d->conns)
        d->conns->prev = c;
    d->conns = c;
    if (c->route.kind == ROUTE_MX && c->domain[0] == '[') {
        /* an address literal: no lookup */
        const char *ip = c->domain + 1;
        size_t n;
        if (strncasecmp(ip, "IPv6:", 5) == 0)
            ip += 5;
        n = strcspn(ip, "]");
        add_host(c, "", 0);
        free(c->hosts[0].name);
        c->hosts[0].name = xstrndup(ip, n);
        conn_next_host(c);
    } else if (c->route.kind == ROUTE_LMTP && c->route.is_unix) {
        struct sockaddr_un *un;
        c->addrs = xcalloc(1, sizeof(*c->addrs));
        un = (struct sockaddr_un *)&c->addrs[0].sa;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, c->route.path,
               strnlen(c->route.path, sizeof(un->sun_path) - 1)); /* length checked by route_parse */
        c->addrs[0].len = sizeof(*un);
        c->naddrs = 1;
        conn_next_addr(c);
    } else if (c->route.kind == ROUTE_MX || c->route.mx_lookup) {
        c->q_mx = dns_lookup_mx(d->dns, c->route.kind == ROUTE_MX ? c->domain : c->route.host,
                                on_mx, c);
    } else {
        add_host(c, c->route.host, 0);
        conn_next_host(c);
    }
}

static const char *o_component(const struct dconn *c)
{
    return c->route.kind == ROUTE_LMTP ? "lmtp" : "smtp";
}

static void on_ready(struct smtp_client *cl, const struct smtp_result *err, void *arg)
{
    struct dconn *c = arg;
    (void)cl;
    snprintf(c->relay, sizeof(c->relay), "%s", smtp_client_relay(c->client));
    if (err) {
        /* One line per host that failed, also when the next one takes the message
         * (Postfix's "connect to HOST[IP]:25: Connection refused"): the final status line
         * names only the last host tried. */
        if (err->stage == SMTP_STAGE_CONNECT)
            log_info(o_component(c), "%s", err->text);
        else
            log_info(o_component(c), "%s: %s: %d %s%s%s", c->job->msg.qid, c->relay, err->code,
                     err->enhanced, err->enhanced[0] ? " " : "", err->text);
        c->err = *err;
        c->have_err = true;
        smtp_client_free(c->client);
        c->client = NULL;
        conn_next_addr(c);
        return;
    }
    c->job->t_ready = deliver_now();
    conn_send(c);
}

/* A session-level failure before the message was handed over: another host may do. */
static bool report_retryable(const struct smtp_client_report *rep)
{
    size_t i;
    for (i = 0; i < rep->nrcpts; i++)
        if (rep->rcpt[i].status != SMTP_TEMPFAIL || !rep->rcpt[i].session ||
            rep->rcpt[i].stage >= SMTP_STAGE_DATA)
            return false;
    return rep->nrcpts > 0;
}

static void conn_reuse(struct dconn *c, struct deliver_job *next)
{
    c->job = next;
    next->conn = c;
    next->t_started = next->t_ready = deliver_now();
    conn_send(c);
}

static void on_idle_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_end(arg, true);
}

/* Nothing waits for this destination now: keep the session for connection_cache_time. */
static void conn_park(struct dconn *c)
{
    struct timeval tv = { c->lim.cache_ms / 1000, (c->lim.cache_ms % 1000) * 1000 };
    if (c->idle_ev == NULL)
        c->idle_ev = evtimer_new(c->d->base, on_idle_timeout, c);
    evtimer_add(c->idle_ev, &tv);
}

static bool conn_idle(const struct dconn *c)
{
    return c->job == NULL && c->idle_ev != NULL && evtimer_pending(c->idle_ev, NULL);
}

bool dconn_take_idle(struct deliver *d, struct ddest *t)
{
    struct dconn *c, *next;
    for (c = d->conns; c; c = next) {
        next = c->next;
        if (c->dest != t || !conn_idle(c))
            continue;
        evtimer_del(c->idle_ev);
        if (!smtp_client_usable(c->client)) { /* the server closed it meanwhile */
            conn_end(c, false);
            continue;
        }
        conn_reuse(c, deliver_wait_pop(t));
        return true;
    }
    return false;
}

bool dconn_evict_idle(struct deliver *d)
{
    struct dconn *c;
    for (c = d->conns; c; c = c->next)
        if (conn_idle(c)) {
            evtimer_del(c->idle_ev);
            conn_end(c, true);
            return true;
        }
    return false;
}

static void on_sent(struct smtp_client *cl, const struct smtp_client_report *rep, void *arg)
{
    struct dconn *c = arg;
    struct deliver_job *j = c->job, *next;
    char relay[DELIVER_RELAY_MAX];

    snprintf(relay, sizeof(relay), "%s", smtp_client_relay(cl));
    if (report_retryable(rep) && (c->addr_i < c->naddrs || c->host_i < c->nhosts) &&
        c->tried < (unsigned)c->lim.mx_addresses) {
        c->err = rep->rcpt[0];
        c->have_err = true;
        smtp_client_free(c->client);
        c->client = NULL;
        conn_next_addr(c);
        return;
    }
    c->job = NULL;
    deliver_job_finish(j, rep->rcpt, rep->nrcpts, relay, c->remote_host);
    /* reuse the session for the next message to the same destination */
    if (c->client && smtp_client_usable(c->client) && (next = deliver_wait_pop(c->dest)) != NULL) {
        conn_reuse(c, next);
        return;
    }
    if (c->client && smtp_client_usable(c->client) && c->lim.cache_ms > 0) {
        conn_park(c);
        return;
    }
    conn_end(c, true);
}


struct deliver_job *dconn_close(struct dconn *c)
{
    struct deliver_job *j = c->job;
    if (j)
        j->conn = NULL;
    c->job = NULL;
    conn_end(c, false);
    return j;
}
