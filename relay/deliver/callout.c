/*
 * callout.c - recipient probes to the next hop of a domain (see callout.h and
 * policy/callout.h): the service behind recipient verification by callout.
 *
 * A request is one domain and some of its recipients. The next hop is the one delivery
 * would use (the transport table: MX of the domain with our own name cutting the list,
 * relay:[host]:port, relay:host (its MX), lmtp:host:port, lmtp:unix:/path), talked to as
 * delivery would (hop_opts.h): the same STARTTLS policy (transport.mx_tls, a relay's
 * entry in transport.relays, opportunistic for other relays), certificate check and
 * smarthost AUTH, all done by the SMTP client; a next hop whose policy requires TLS and
 * that cannot give it is a temporary failure, never a plaintext probe. Failover within
 * the request's deadline: the hosts in MX order, each host's addresses (A, then AAAA),
 * at most CALLOUT_ATTEMPTS new connections per request, each connect bounded by a third
 * of the request's timeout (smtp_client.connect_ms when that is shorter); a connection
 * that fails before the probe (refused, connect timeout, greeting/EHLO/STARTTLS/AUTH
 * refused) moves on to the next address. On MX routes only public addresses are used,
 * unless transport.mx_allow_private (as delivery). A backup domain whose primary the
 * backup-MX probe found down is not asked at all. The probe is MAIL FROM:<sender> and
 * one RCPT per recipient on an SMTP client connection (smtp_client.h, SMTP_MSG_PROBE:
 * never DATA); the connection is then kept idle for the next probe to the same next hop
 * (RSET first) for CALLOUT_IDLE_MS; a kept connection the server has closed meanwhile is
 * replaced by a new one. 2xx to RCPT: valid; 5xx to RCPT: invalid; anything else (4xx,
 * MAIL refused, no connection, the request's deadline): temporary. Loop thread only.
 */
#include "relay/deliver/callout.h"
#include "relay/deliver/ssl_cache.h"

#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/xalloc.h"
#include "relay/deliver/hop_opts.h"
#include "relay/relay_conf.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

#define CALLOUT_IDLE_MS    30000  /* an idle probe connection waits this long for the next */
#define CALLOUT_CONNS_MAX  64     /* probe connections at once, busy and idle */
#define CALLOUT_ATTEMPTS   3      /* new connections one request may open (failover) */
#define CALLOUT_HOSTS_MAX  8      /* MX hosts one request may look up */
#define CALLOUT_ADDRS_MAX  16     /* addresses of one host */
#define CALLOUT_CONNECT_MIN_MS 100
#define KEY_MAX            (PATH_MAX + ROUTE_HOST_MAX + 32)
#define WHERE_MAX          (PATH_MAX + 8)

struct cconn {
    struct cconn *next, *prev;
    struct callout *co;
    struct config *cf;            /* held: the options point into it */
    struct smtp_client_conf conf; /* the config's, with connect_ms cut for failover */
    char key[KEY_MAX];            /* "smtp 1 mx.example 192.0.2.1:25", "lmtp 2 localhost unix:/p" */
    struct smtp_client *client;
    struct callout_req *req;      /* the request it serves; NULL while idle */
    struct event *idle;
    bool ready;                   /* greeting, EHLO (STARTTLS, AUTH) done */
    bool reused;                  /* serves a request after an idle time */
};

struct caddr {
    struct sockaddr_storage sa;
    socklen_t len;
};

struct callout_req {
    struct callout_req *next, *prev;
    struct callout *co;
    struct config *cf;
    char *domain, *sender;
    char **rcpts;
    size_t n;
    struct callout_result *res;
    callout_fn cb;
    void *arg;
    long long timeout_ms;
    struct event *deadline;
    struct event *later;          /* reports a result decided before any I/O */
    bool reporting;               /* later is armed: nothing else may start */
    struct route route;
    unsigned port;
    struct dns_query *q_mx, *q_a, *q_aaaa;
    int a_pending;
    char *hosts[CALLOUT_HOSTS_MAX];
    size_t nhosts, host_i;
    char host[ROUTE_HOST_MAX];    /* the host being tried */
    struct caddr addrs[CALLOUT_ADDRS_MAX];
    size_t naddrs, addr_i;
    unsigned attempts;            /* new connections opened */
    char err[CALLOUT_TEXT_MAX];   /* the last failure, for the report when nothing answers */
    char relay[WHERE_MAX + ROUTE_HOST_MAX + 4];  /* "host[ip]:port" that answered */
    char tls[16];                 /* its TLS version, "" for none */
    struct cconn *conn;
    struct smtp_client_msg msg;
};


struct callout {
    struct callout_deps deps;
    struct callout_service svc;
    struct callout_req *reqs;
    struct cconn *conns;
    size_t nconns;
    struct ssl_cache ssl;         /* client TLS contexts by CA file (as delivery's) */
};

static void next_addr(struct callout_req *r);

/* ---- connections ---------------------------------------------------------------------- */

static void conn_free(struct cconn *cc)
{
    struct callout *co = cc->co;

    if (cc->prev)
        cc->prev->next = cc->next;
    else
        co->conns = cc->next;
    if (cc->next)
        cc->next->prev = cc->prev;
    co->nconns--;
    if (cc->req)
        cc->req->conn = NULL;
    smtp_client_free(cc->client);
    if (cc->idle)
        event_free(cc->idle);
    config_unref(cc->cf);
    free(cc);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    struct cconn *cc = arg;

    (void)fd;
    (void)what;
    smtp_client_quit(cc->client);   /* QUIT in the background, then freed */
    cc->client = NULL;
    conn_free(cc);
}

/* ---- requests -------------------------------------------------------------------------- */

static void req_cancel_dns(struct callout_req *r)
{
    dns_cancel(r->q_mx);
    dns_cancel(r->q_a);
    dns_cancel(r->q_aaaa);
    r->q_mx = r->q_a = r->q_aaaa = NULL;
}

static void req_free(struct callout_req *r)
{
    struct callout *co = r->co;
    size_t i;

    if (r->prev)
        r->prev->next = r->next;
    else
        co->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    req_cancel_dns(r);
    if (r->conn)
        conn_free(r->conn);         /* a probe in flight: the connection cannot be reused */
    event_free(r->deadline);
    event_free(r->later);
    for (i = 0; i < r->n; i++)
        free(r->rcpts[i]);
    for (i = 0; i < r->nhosts; i++)
        free(r->hosts[i]);
    free(r->rcpts);
    free(r->res);
    free(r->domain);
    free(r->sender);
    config_unref(r->cf);
    free(r);
}

static void req_report(struct callout_req *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        log_info("callout", "to=<%s>, relay=%s%s%s, result=%s (%s)", r->rcpts[i],
                 r->relay[0] ? r->relay : r->host[0] ? r->host : "none",
                 r->tls[0] ? ", tls=" : "", r->tls,
                 r->res[i].answer == CALLOUT_VALID     ? "valid"
                 : r->res[i].answer == CALLOUT_INVALID ? "invalid"
                                                       : "temporary",
                 r->res[i].text);
    r->cb(r->arg, r->res, r->n);
    req_free(r);
}

/* Every recipient gets a temporary failure with this text. */
static void req_temp(struct callout_req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void req_temp(struct callout_req *r, const char *fmt, ...)
{
    char text[CALLOUT_TEXT_MAX];
    va_list ap;
    size_t i;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    for (i = 0; i < r->n; i++) {
        r->res[i].answer = CALLOUT_TEMP;
        r->res[i].code = 0;
        snprintf(r->res[i].text, sizeof(r->res[i].text), "%s", text);
    }
}

/* Remember why a try failed (the report's text when no later try answers). */
static void req_err(struct callout_req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void req_err(struct callout_req *r, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
}

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    req_report(arg);
}

/* A result decided without (more) I/O: reported from the loop, never inside start. */
static void req_report_later(struct callout_req *r)
{
    r->reporting = true;
    event_active(r->later, 0, 0);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct callout_req *r = arg;

    (void)fd;
    (void)what;
    if (r->attempts > 1 && r->err[0])
        req_temp(r, "no answer from the next hop in time (%d tries; %s)", (int)r->attempts,
                 r->err);
    else
        req_temp(r, "no answer from the next hop in time");
    req_report(r);
}

/* ---- the probe ------------------------------------------------------------------------- */

static void probe_connect(struct callout_req *r, const struct caddr *a, bool reuse);

/* A kept connection that the server closed while it was idle: the failure is about the
 * connection (lost at RSET or MAIL), not about the recipients. */
static bool stale_conn(const struct smtp_client_report *rep)
{
    return rep->nrcpts > 0 && rep->rcpt[0].status == SMTP_TEMPFAIL && rep->rcpt[0].local &&
           rep->rcpt[0].session &&
           (rep->rcpt[0].stage == SMTP_STAGE_RSET || rep->rcpt[0].stage == SMTP_STAGE_MAIL);
}

static void on_sent(struct smtp_client *cl, const struct smtp_client_report *rep, void *arg)
{
    struct cconn *cc = arg;
    struct callout_req *r = cc->req;
    size_t i;

    (void)cl;
    cc->req = NULL;
    r->conn = NULL;
    if (cc->reused && stale_conn(rep) && r->addr_i > 0) {
        conn_free(cc);
        probe_connect(r, &r->addrs[r->addr_i - 1], false);   /* the same address, afresh */
        return;
    }
    snprintf(r->relay, sizeof(r->relay), "%s", smtp_client_relay(cc->client));
    snprintf(r->tls, sizeof(r->tls), "%s",
             smtp_client_tls_version(cc->client) ? smtp_client_tls_version(cc->client) : "");
    for (i = 0; i < r->n && i < rep->nrcpts; i++) {
        const struct smtp_result *s = &rep->rcpt[i];
        struct callout_result *o = &r->res[i];
        o->answer = s->status == SMTP_SENT ? CALLOUT_VALID
                    : s->status == SMTP_PERMFAIL && s->stage == SMTP_STAGE_RCPT && !s->local
                        ? CALLOUT_INVALID
                        : CALLOUT_TEMP;
        o->code = s->local ? 0 : s->code;
        snprintf(o->text, sizeof(o->text), "%d %s%s%.200s", s->code, s->enhanced,
                 s->enhanced[0] ? " " : "", s->text);
    }
    if (smtp_client_usable(cc->client)) {
        struct timeval tv = { CALLOUT_IDLE_MS / 1000, (CALLOUT_IDLE_MS % 1000) * 1000 };
        evtimer_add(cc->idle, &tv);
    } else {
        conn_free(cc);
    }
    req_report(r);
}

static void probe_send(struct callout_req *r)
{
    struct cconn *cc = r->conn;

    memset(&r->msg, 0, sizeof(r->msg));
    r->msg.sender = r->sender;
    r->msg.rcpts = (const char *const *)r->rcpts;
    r->msg.nrcpts = r->n;
    r->msg.fd = -1;
    r->msg.flags = SMTP_MSG_PROBE;
    if (smtp_client_send(cc->client, &r->msg, on_sent, cc) != 0) {
        req_temp(r, "cannot probe %s (an address it cannot take)", r->host);
        req_report_later(r);
    }
}

static void on_ready(struct smtp_client *cl, const struct smtp_result *err, void *arg)
{
    struct cconn *cc = arg;
    struct callout_req *r = cc->req;

    (void)cl;
    if (err != NULL) {
        /* the session did not get ready: the next address may (as delivery fails over) */
        req_err(r, "%s: %d %s %.200s", smtp_client_relay(cc->client), err->code,
                err->enhanced, err->text);
        log_info("callout", "domain=%s, relay=%s, try %u failed: %d %s %.200s", r->domain,
                 smtp_client_relay(cc->client), r->attempts, err->code, err->enhanced,
                 err->text);
        conn_free(cc);              /* also clears r->conn */
        next_addr(r);
        return;
    }
    cc->ready = true;
    probe_send(r);
}

/* "192.0.2.1:25", "[2001:db8::1]:25", "unix:/path". */
static void addr_text(const struct caddr *a, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";

    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(out, outlen, "%s:%u", ip, (unsigned)ntohs(s4->sin_port));
    } else if (a->sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(out, outlen, "[%s]:%u", ip, (unsigned)ntohs(s6->sin6_port));
    } else {
        snprintf(out, outlen, "unix:%s", ((const struct sockaddr_un *)&a->sa)->sun_path);
    }
}

/* Probe on a connection to a: an idle one to the same next hop (when reuse), or a new one
 * with the options delivery would use. */
static void probe_connect(struct callout_req *r, const struct caddr *a, bool reuse)
{
    struct callout *co = r->co;
    struct smtp_client_opts o;
    struct cconn *cc;
    SSL_CTX *ctx = NULL;
    char key[KEY_MAX], where[WHERE_MAX];
    long long cut;

    addr_text(a, where, sizeof(where));
    snprintf(key, sizeof(key), "%s %d %s %s", r->route.kind == ROUTE_LMTP ? "lmtp" : "smtp",
             (int)r->route.kind, r->host, where);
    for (cc = co->conns; reuse && cc != NULL; cc = cc->next)
        if (cc->req == NULL && cc->ready && cc->cf == r->cf && strcmp(cc->key, key) == 0 &&
            smtp_client_usable(cc->client))
            break;
    if (reuse && cc != NULL) {
        evtimer_del(cc->idle);
        cc->req = r;
        cc->reused = true;
        r->conn = cc;
        probe_send(r);
        return;
    }
    if (co->nconns >= CALLOUT_CONNS_MAX) {
        req_temp(r, "too many callout connections");
        req_report_later(r);
        return;
    }
    hop_client_opts(r->cf, &r->route, &o);
    if (o.tls != SMTP_TLS_NONE) {
        ctx = ssl_cache_get(&co->ssl, r->cf->c.transport.ca_file);
        if (ctx == NULL && o.tls == SMTP_TLS_REQUIRED) {
            req_temp(r, "cannot set up TLS for %s (TLS is required)", r->host);
            req_report_later(r);
            return;
        }
        if (ctx == NULL)
            o.tls = SMTP_TLS_NONE;
    }
    r->attempts++;
    cc = xcalloc(1, sizeof(*cc));
    cc->co = co;
    cc->cf = config_ref(r->cf);
    cc->conf = r->cf->c.smtp_client;
    cut = r->timeout_ms / CALLOUT_ATTEMPTS;
    if (cut < CALLOUT_CONNECT_MIN_MS)
        cut = CALLOUT_CONNECT_MIN_MS;
    if (cc->conf.connect_ms > cut)
        cc->conf.connect_ms = cut;  /* a dead address leaves time for the next */
    o.conf = &cc->conf;
    snprintf(cc->key, sizeof(cc->key), "%s", key);
    cc->idle = evtimer_new(co->deps.base, on_idle, cc);
    cc->next = co->conns;
    if (co->conns)
        co->conns->prev = cc;
    co->conns = cc;
    co->nconns++;
    cc->client = smtp_client_new(co->deps.base, ctx, &o);
    cc->req = r;
    r->conn = cc;
    smtp_client_connect(cc->client, (const struct sockaddr *)&a->sa, a->len, r->host,
                        on_ready, cc);
}

/* ---- finding the next hop -------------------------------------------------------------- */

/* MX routes go where the recipient domain's DNS says: public addresses only, unless
 * transport.mx_allow_private (as delivery). */
static bool addr_allowed(struct callout_req *r, const struct caddr *a)
{
    enum netaddr_scope scope;
    char where[WHERE_MAX];

    if (r->route.kind != ROUTE_MX || r->cf->c.transport.mx_allow_private ||
        a->sa.ss_family == AF_UNIX)
        return true;
    scope = netaddr_scope_sa((const struct sockaddr *)&a->sa);
    if (scope == NETADDR_PUBLIC)
        return true;
    addr_text(a, where, sizeof(where));
    req_err(r, "the %s address %s of %s is not used (transport.mx_allow_private is off)",
            netaddr_scope_name(scope), where, r->host);
    return false;
}

static void add_addr(struct callout_req *r, int family, const void *bytes)
{
    struct caddr *a;

    if (r->naddrs >= CALLOUT_ADDRS_MAX)
        return;
    a = &r->addrs[r->naddrs++];
    memset(a, 0, sizeof(*a));
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)r->port);
        memcpy(&s4->sin_addr, bytes, sizeof(s4->sin_addr));
        a->len = sizeof(*s4);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)r->port);
        memcpy(&s6->sin6_addr, bytes, sizeof(s6->sin6_addr));
        a->len = sizeof(*s6);
    }
}

static void on_addr(const struct dns_result *res, void *arg, bool v6)
{
    struct callout_req *r = arg;
    size_t i;

    if (v6)
        r->q_aaaa = NULL;
    else
        r->q_a = NULL;
    if (res->status == DNS_OK) {
        for (i = 0; i < res->n; i++)
            add_addr(r, v6 ? AF_INET6 : AF_INET,
                     v6 ? (const void *)&res->aaaa[i] : (const void *)&res->a[i]);
    } else if (res->status != DNS_NODATA || r->err[0] == '\0') {
        req_err(r, "no %s address for %s (%s)", v6 ? "IPv6" : "IPv4", r->host,
                dns_status_str(res->status));
    }
    if (--r->a_pending > 0)
        return;
    /* IPv4 first, whatever order the answers came in (as delivery) */
    {
        size_t n4 = 0, k;
        for (k = 0; k < r->naddrs; k++)
            if (r->addrs[k].sa.ss_family == AF_INET) {
                struct caddr t = r->addrs[k];
                memmove(&r->addrs[n4 + 1], &r->addrs[n4], (k - n4) * sizeof(t));
                r->addrs[n4++] = t;
            }
    }
    next_addr(r);
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
static void next_host(struct callout_req *r)
{
    unsigned char buf[16];

    r->naddrs = r->addr_i = 0;
    snprintf(r->host, sizeof(r->host), "%s", r->hosts[r->host_i++]);
    if (inet_pton(AF_INET, r->host, buf) == 1) {
        add_addr(r, AF_INET, buf);
        next_addr(r);
    } else if (inet_pton(AF_INET6, r->host, buf) == 1) {
        add_addr(r, AF_INET6, buf);
        next_addr(r);
    } else {
        r->a_pending = 2;
        r->q_a = dns_lookup_a(r->co->deps.dns, r->host, on_a, r);
        r->q_aaaa = dns_lookup_aaaa(r->co->deps.dns, r->host, on_aaaa, r);
    }
}

/* Try the next address of the current host, then the next host, within the request's
 * CALLOUT_ATTEMPTS connections; when none is left, the last failure is the answer. */
static void next_addr(struct callout_req *r)
{
    if (r->reporting)
        return;
    while (r->addr_i < r->naddrs && r->attempts < CALLOUT_ATTEMPTS) {
        const struct caddr *a = &r->addrs[r->addr_i++];
        if (!addr_allowed(r, a))
            continue;
        probe_connect(r, a, true);
        return;
    }
    if (r->attempts < CALLOUT_ATTEMPTS && r->host_i < r->nhosts) {
        next_host(r);
        return;
    }
    if (r->err[0] == '\0')
        req_err(r, "no address for %s", r->host);
    if (r->attempts > 1)
        req_temp(r, "%s (%u tries)", r->err, r->attempts);
    else
        req_temp(r, "%s", r->err);
    req_report_later(r);
}

static void add_host(struct callout_req *r, const char *name)
{
    if (r->nhosts < CALLOUT_HOSTS_MAX)
        r->hosts[r->nhosts++] = xstrdup(name);
}

static void on_mx(const struct dns_result *res, void *arg)
{
    struct callout_req *r = arg;
    const char *name = r->host;
    const char *self = r->cf->c.hostname;
    unsigned cut = ~0u;
    size_t i;

    r->q_mx = NULL;
    if (res->status == DNS_NODATA) {
        add_host(r, name);          /* no MX: the name itself (RFC 5321 5.1) */
        next_host(r);
        return;
    }
    if (res->status != DNS_OK || res->n == 0) {
        req_temp(r, "no MX for %s (%s)", name, res->null_mx ? "null MX"
                                               : dns_status_str(res->status));
        req_report_later(r);
        return;
    }
    /* our own name cuts the list at its preference (RFC 5321 5.1) */
    for (i = 0; i < res->n; i++)
        if (self != NULL && strcasecmp(res->mx[i].host, self) == 0 && res->mx[i].pref < cut)
            cut = res->mx[i].pref;
    for (i = 0; i < res->n; i++)
        if (res->mx[i].pref < cut)
            add_host(r, res->mx[i].host);
    if (r->nhosts == 0) {
        req_temp(r, "no MX host of %s better than this server", name);
        req_report_later(r);
        return;
    }
    next_host(r);
}

static void req_begin(struct callout_req *r)
{
    struct callout *co = r->co;
    const char *text;
    char err[200];

    if (co->deps.primary_down != NULL && co->deps.primary_down(co->deps.arg, r->domain)) {
        req_temp(r, "the primary MX of %s is down", r->domain);
        req_report_later(r);
        return;
    }
    text = transport_route_for(&r->cf->c.transport, r->domain);
    if (route_parse(text, &r->route, err, sizeof(err)) != 0 || r->route.kind == ROUTE_MAILDIR) {
        req_temp(r, "no SMTP or LMTP next hop for %s (route %s)", r->domain, text);
        req_report_later(r);
        return;
    }
    if (r->route.is_unix) {
        struct sockaddr_un *un = (struct sockaddr_un *)&r->addrs[0].sa;
        if (strlen(r->route.path) >= sizeof(un->sun_path)) {
            req_temp(r, "socket path too long: %.100s", r->route.path);
            req_report_later(r);
            return;
        }
        memset(&r->addrs[0], 0, sizeof(r->addrs[0]));
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, r->route.path, strlen(r->route.path) + 1);
        r->addrs[0].len = sizeof(*un);
        r->naddrs = 1;
        snprintf(r->host, sizeof(r->host), "localhost");
        next_addr(r);
        return;
    }
    if (r->route.kind == ROUTE_MX) {
        r->port = (unsigned)r->cf->c.transport.mx_port;
        snprintf(r->host, sizeof(r->host), "%s", r->domain);
    } else {
        r->port = r->route.port;
        snprintf(r->host, sizeof(r->host), "%s", r->route.host);
    }
    if (r->route.kind == ROUTE_MX || r->route.mx_lookup) {
        r->q_mx = dns_lookup_mx(co->deps.dns, r->host, on_mx, r);
        return;
    }
    add_host(r, r->host);
    next_host(r);
}

/* ---- the service ------------------------------------------------------------------------ */

static struct callout_req *svc_start(void *svc, const char *domain, const char *sender,
                                     const char *const *rcpts, size_t n, long long timeout_ms,
                                     callout_fn cb, void *arg)
{
    struct callout *co = svc;
    struct callout_req *r = xcalloc(1, sizeof(*r));
    struct timeval tv = { (time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000 };
    size_t i;

    r->co = co;
    r->cf = config_ref(co->deps.config(co->deps.arg));
    r->domain = xstrdup(domain);
    r->sender = xstrdup(sender ? sender : "");
    r->n = n;
    r->rcpts = xcalloc(n, sizeof(*r->rcpts));
    for (i = 0; i < n; i++)
        r->rcpts[i] = xstrdup(rcpts[i]);
    r->res = xcalloc(n, sizeof(*r->res));
    r->cb = cb;
    r->arg = arg;
    r->timeout_ms = timeout_ms;
    r->deadline = evtimer_new(co->deps.base, on_deadline, r);
    r->later = event_new(co->deps.base, -1, 0, on_later, r);
    evtimer_add(r->deadline, &tv);
    r->next = co->reqs;
    if (co->reqs)
        co->reqs->prev = r;
    co->reqs = r;
    if (n == 0) {
        req_report_later(r);
        return r;
    }
    req_begin(r);
    return r;
}

static void svc_cancel(struct callout_req *r)
{
    if (r != NULL)
        req_free(r);
}

struct callout *callout_new(const struct callout_deps *deps)
{
    struct callout *co = xcalloc(1, sizeof(*co));

    co->deps = *deps;
    co->svc.start = svc_start;
    co->svc.cancel = svc_cancel;
    co->svc.svc = co;
    return co;
}

const struct callout_service *callout_service(const struct callout *co)
{
    return &co->svc;
}

void callout_free(struct callout *co)
{
    if (co == NULL)
        return;
    while (co->reqs)
        req_free(co->reqs);
    while (co->conns)
        conn_free(co->conns);
    ssl_cache_clear(&co->ssl);
    free(co);
}
