/*
 * callout.c - recipient probes to the next hop of a domain (see callout.h and
 * policy/callout.h): the service behind recipient verification by callout.
 *
 * A request is one domain and some of its recipients. The next hop is the one delivery
 * would use (the transport table: MX of the domain with our own name cutting the list,
 * relay:[host]:port, relay:host (its MX), lmtp:host:port, lmtp:unix:/path); only its best
 * host's first address is asked (a callout must answer within a stage deadline, failover
 * would not fit); on MX routes only a public address, unless transport.mx_allow_private
 * (as delivery). A backup domain whose primary the backup-MX probe found down is not
 * asked at all. The probe is MAIL FROM:<sender> and one RCPT per recipient on an SMTP
 * client connection (smtp_client.h, SMTP_MSG_PROBE: never DATA), without TLS or AUTH;
 * the connection is then kept idle for the next probe to the same address (RSET first)
 * for CALLOUT_IDLE_MS. 2xx to RCPT: valid; 5xx to RCPT: invalid; anything else (4xx,
 * MAIL refused, no connection, the request's deadline): temporary. Loop thread only.
 */
#include "relay/deliver/callout.h"

#include "lib/log.h"
#include "lib/netaddr.h"
#include "lib/xalloc.h"
#include "relay/relay_conf.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

#define CALLOUT_IDLE_MS   30000   /* an idle probe connection waits this long for the next */
#define CALLOUT_CONNS_MAX 64      /* probe connections at once, busy and idle */
#define KEY_MAX           (PATH_MAX + 16)

struct cconn {
    struct cconn *next, *prev;
    struct callout *co;
    struct config *cf;            /* held: the client reads its smtp_client section */
    char key[KEY_MAX];            /* "smtp 192.0.2.1:25", "lmtp unix:/path" */
    struct smtp_client *client;
    struct callout_req *req;      /* the request it serves; NULL while idle */
    struct event *idle;
    bool ready;                   /* greeting and EHLO done */
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
    struct event *deadline;
    struct event *later;          /* reports a result decided before any I/O */
    struct route route;
    bool lmtp;
    unsigned port;
    struct dns_query *q;
    bool mx_step;                 /* q is the MX lookup (then the A lookup follows) */
    char host[ROUTE_HOST_MAX];
    struct cconn *conn;
    struct smtp_client_msg msg;
};

struct callout {
    struct callout_deps deps;
    struct callout_service svc;
    struct callout_req *reqs;
    struct cconn *conns;
    size_t nconns;
};

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
    dns_cancel(r->q);
    if (r->conn)
        conn_free(r->conn);         /* a probe in flight: the connection cannot be reused */
    event_free(r->deadline);
    event_free(r->later);
    for (i = 0; i < r->n; i++)
        free(r->rcpts[i]);
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
        log_info("callout", "to=<%s>, relay=%s, result=%s (%s)", r->rcpts[i],
                 r->host[0] ? r->host : "none",
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

static void on_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    req_report(arg);
}

/* A result decided without the next hop: reported from the loop, never inside start. */
static void req_report_later(struct callout_req *r)
{
    event_active(r->later, 0, 0);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct callout_req *r = arg;

    (void)fd;
    (void)what;
    req_temp(r, "no answer from the next hop in time");
    req_report(r);
}

/* ---- the probe ------------------------------------------------------------------------- */

static void on_sent(struct smtp_client *cl, const struct smtp_client_report *rep, void *arg)
{
    struct cconn *cc = arg;
    struct callout_req *r = cc->req;
    size_t i;

    (void)cl;
    cc->req = NULL;
    r->conn = NULL;
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
        req_temp(r, "%d %s %.200s", err->code, err->enhanced, err->text);
        req_report(r);               /* frees the connection with the request */
        return;
    }
    cc->ready = true;
    probe_send(r);
}

/* Probe on a connection to sa: an idle one to the same address, or a new one. */
static void probe_connect(struct callout_req *r, const struct sockaddr *sa, socklen_t len,
                          const char *where)
{
    struct callout *co = r->co;
    struct smtp_client_opts o;
    struct cconn *cc;
    char key[KEY_MAX];

    snprintf(key, sizeof(key), "%s %s", r->lmtp ? "lmtp" : "smtp", where);
    for (cc = co->conns; cc != NULL; cc = cc->next)
        if (cc->req == NULL && cc->ready && strcmp(cc->key, key) == 0 &&
            smtp_client_usable(cc->client))
            break;
    if (cc != NULL) {
        evtimer_del(cc->idle);
        cc->req = r;
        r->conn = cc;
        probe_send(r);
        return;
    }
    if (co->nconns >= CALLOUT_CONNS_MAX) {
        req_temp(r, "too many callout connections");
        req_report_later(r);
        return;
    }
    cc = xcalloc(1, sizeof(*cc));
    cc->co = co;
    cc->cf = config_ref(r->cf);
    snprintf(cc->key, sizeof(cc->key), "%s", key);
    cc->idle = evtimer_new(co->deps.base, on_idle, cc);
    cc->next = co->conns;
    if (co->conns)
        co->conns->prev = cc;
    co->conns = cc;
    co->nconns++;
    memset(&o, 0, sizeof(o));
    o.conf = &cc->cf->c.smtp_client;
    o.helo_name = cc->cf->c.hostname;
    o.lmtp = r->lmtp;
    o.tls = SMTP_TLS_NONE;
    cc->client = smtp_client_new(co->deps.base, NULL, &o);
    cc->req = r;
    r->conn = cc;
    smtp_client_connect(cc->client, sa, len, r->host, on_ready, cc);
}

static void connect_ip(struct callout_req *r, int family, const void *bytes)
{
    struct sockaddr_storage ss;
    char ip[INET6_ADDRSTRLEN], where[INET6_ADDRSTRLEN + 16];
    socklen_t len;

    memset(&ss, 0, sizeof(ss));
    inet_ntop(family, bytes, ip, sizeof(ip));
    if (r->route.kind == ROUTE_MX && !r->cf->c.transport.mx_allow_private &&
        netaddr_scope(family, bytes) != NETADDR_PUBLIC) {
        /* as delivery: a domain's DNS cannot aim us at internal hosts */
        req_temp(r, "the %s address %s of %s is not used (transport.mx_allow_private is off)",
                 netaddr_scope_name(netaddr_scope(family, bytes)), ip, r->host);
        req_report_later(r);
        return;
    }
    if (family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)r->port);
        memcpy(&s4->sin_addr, bytes, sizeof(s4->sin_addr));
        len = sizeof(*s4);
        snprintf(where, sizeof(where), "%s:%u", ip, r->port);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)r->port);
        memcpy(&s6->sin6_addr, bytes, sizeof(s6->sin6_addr));
        len = sizeof(*s6);
        snprintf(where, sizeof(where), "[%s]:%u", ip, r->port);
    }
    probe_connect(r, (const struct sockaddr *)&ss, len, where);
}

/* ---- finding the next hop -------------------------------------------------------------- */

static void on_a(const struct dns_result *res, void *arg)
{
    struct callout_req *r = arg;

    r->q = NULL;
    if (res->status != DNS_OK || res->n == 0) {
        req_temp(r, "no address for %s (%s)", r->host, dns_status_str(res->status));
        req_report(r);
        return;
    }
    connect_ip(r, AF_INET, &res->a[0]);
}

/* The host's address: literal, or its A record. */
static void resolve_host(struct callout_req *r)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (inet_pton(AF_INET, r->host, &a4) == 1) {
        connect_ip(r, AF_INET, &a4);
    } else if (inet_pton(AF_INET6, r->host, &a6) == 1) {
        connect_ip(r, AF_INET6, &a6);
    } else {
        r->mx_step = false;
        r->q = dns_lookup_a(r->co->deps.dns, r->host, on_a, r);
    }
}

static void on_mx(const struct dns_result *res, void *arg)
{
    struct callout_req *r = arg;
    const char *self = r->cf->c.hostname;
    size_t i;

    r->q = NULL;
    if (res->status == DNS_NODATA) {
        resolve_host(r);            /* no MX: the name itself (RFC 5321 5.1) */
        return;
    }
    if (res->status != DNS_OK || res->n == 0) {
        req_temp(r, "no MX for %s (%s)", r->host, res->null_mx ? "null MX"
                                                  : dns_status_str(res->status));
        req_report(r);
        return;
    }
    for (i = 0; i < res->n; i++)     /* sorted; our own name cuts the list (RFC 5321 5.1) */
        if (self != NULL && strcasecmp(res->mx[i].host, self) == 0)
            break;
    if (i == 0) {
        req_temp(r, "no MX host of %s better than this server", r->host);
        req_report(r);
        return;
    }
    snprintf(r->host, sizeof(r->host), "%s", res->mx[0].host);
    resolve_host(r);
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
    r->lmtp = r->route.kind == ROUTE_LMTP;
    if (r->route.is_unix) {
        struct sockaddr_un un;
        memset(&un, 0, sizeof(un));
        un.sun_family = AF_UNIX;
        if (strlen(r->route.path) >= sizeof(un.sun_path)) {
            req_temp(r, "socket path too long: %.100s", r->route.path);
            req_report_later(r);
            return;
        }
        memcpy(un.sun_path, r->route.path, strlen(r->route.path) + 1);
        snprintf(r->host, sizeof(r->host), "localhost");
        char where[KEY_MAX];
        snprintf(where, sizeof(where), "unix:%s", r->route.path);
        probe_connect(r, (const struct sockaddr *)&un, sizeof(un), where);
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
        r->mx_step = true;
        r->q = dns_lookup_mx(co->deps.dns, r->host, on_mx, r);
        return;
    }
    resolve_host(r);
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
    free(co);
}
