/*
 * listener.c - listening sockets, connection limits and session start (see listener.h).
 * On a proxy_protocol listener only the configured balancers may connect, and the
 * session starts once proxy_wait.c has read the PROXY header, with the client it names.
 */
#include "relay/smtpd/listener.h"

#include "auth/authfail.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/netaddr.h"
#include "lib/smtp_replies.h"
#include "lib/xalloc.h"
#include "relay/relay_conf.h"
#include "relay/smtpd/smtpd.h"
#include "relay/smtpd/smtp_session.h"
#include "relay/smtpd/proxy_wait.h"

#include <arpa/inet.h>
#include <event2/listener.h>
#include <jansson.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define IP_BUCKETS 1024
#define IP_KEY_MAX (INET6_ADDRSTRLEN + sizeof("/128"))

/* Sessions of one client: an IPv4 address, or an IPv6 network ("2001:db8:1:2::/64"). */
struct ip_count {
    struct ip_count *next;
    unsigned n;
    char ip[IP_KEY_MAX];
};

struct listener {
    struct listener *next;
    struct smtpd *srv;
    struct evconnlistener *ev;       /* NULL once closed */
    char name[64];
    char profile[64];                /* its policy profile */
    int tls;                         /* enum listener_tls */
    int auth;                        /* enum listener_auth */
    long long max_sessions;          /* listeners[].connections; 0: no limit of its own */
    unsigned nsessions;
    bool proxy;                      /* proxy_protocol: a PROXY header comes first */
    struct netaddr *balancers;       /* proxy_networks */
    size_t nbalancers;
    long long proxy_timeout_ms;
    struct proxy_wait *waiting;      /* connections whose header is being read */
    unsigned nwaiting;               /* ... how many (they hold places in the limits) */
};

static unsigned ip_hash(const char *ip)
{
    unsigned h = 2166136261u;
    for (; *ip; ip++)
        h = (h ^ (unsigned char)*ip) * 16777619u;
    return h % IP_BUCKETS;
}

static struct ip_count **ip_slot(struct smtpd *srv, const char *ip)
{
    struct ip_count **p;
    if (srv->ip_counts == NULL)
        srv->ip_counts = xcalloc(IP_BUCKETS, sizeof(struct ip_count *));
    p = (struct ip_count **)srv->ip_counts + ip_hash(ip);
    while (*p && strcmp((*p)->ip, ip) != 0)
        p = &(*p)->next;
    return p;
}

/* Count one more session of this client (key: an address or a network). */
static struct ip_count *ip_acquire(struct smtpd *srv, const char *key)
{
    struct ip_count **p = ip_slot(srv, key);
    if (*p == NULL) {
        *p = xcalloc(1, sizeof(**p));
        snprintf((*p)->ip, sizeof((*p)->ip), "%s", key);
    }
    (*p)->n++;
    return *p;
}

static void ip_release(struct smtpd *srv, struct ip_count *e)
{
    struct ip_count **p = ip_slot(srv, e->ip);
    if (--e->n == 0) {
        *p = e->next;
        free(e);
    }
}

void listener_session_gone(struct smtpd *srv, struct smtp_session *s)
{
    if (s->ip_count)
        ip_release(srv, s->ip_count);
    s->ip_count = NULL;
    s->lst->nsessions--;
    metrics_add1(M_CONN_OPEN, s->lst->name, -1);
}

void smtpd_event(struct smtpd *d, const char *type, struct json_t *data)
{
    if (d->event != NULL)
        d->event(d->event_arg, type, data);
    else
        json_decref(data);
}

void smtpd_session_gone(struct smtpd *d, struct smtp_session *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        d->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    d->nsessions--;
    listener_session_gone(d, s);
}

static void sockaddr_ip(const struct sockaddr *sa, char *buf, size_t len)
{
    if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)len);
    else
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)len);
}

/* Is the total limit or the listener's reached? Connections waiting for their PROXY
 * header hold places in both (not in the per-IP count: until the header names the client,
 * the address is the balancer's, shared by all its clients). Logs and counts a refusal. */
static bool listener_full(struct listener *l, const char *ip)
{
    struct smtpd *srv = l->srv;
    const struct limits_conf *lim = &srv->cf->c.limits;
    char why[96] = "";

    if (srv->nsessions + srv->nwaiting >= (unsigned long long)lim->connections) {
        if (srv->nwaiting > 0)
            snprintf(why, sizeof(why), " (%u sessions, %u waiting for a PROXY header)",
                     srv->nsessions, srv->nwaiting);
        log_warn("smtpd", "connection limit %lld reached%s; refusing %s", lim->connections,
                 why, ip);
        metrics_inc2(M_CONN_REFUSED, l->name, "connections");
        return true;
    }
    if (l->max_sessions > 0 && l->nsessions + l->nwaiting >= (unsigned long long)l->max_sessions) {
        if (l->nwaiting > 0)
            snprintf(why, sizeof(why), " (%u sessions, %u waiting for a PROXY header)",
                     l->nsessions, l->nwaiting);
        log_warn("smtpd", "connection limit %lld of listener %s reached%s; refusing %s",
                 l->max_sessions, l->name, why, ip);
        metrics_inc2(M_CONN_REFUSED, l->name, "listener_connections");
        return true;
    }
    return false;
}

/* A client is known (the peer, or the client a PROXY header named): the connection limits,
 * then its session. */
static void listener_admit(struct listener *l, int fd, const struct sockaddr *sa)
{
    struct smtpd *srv = l->srv;
    const struct limits_conf *lim = &srv->cf->c.limits;
    char ip[INET6_ADDRSTRLEN], key[IP_KEY_MAX];
    struct ip_count *ipc = NULL;
    const char *reject = NULL;
    static char reject_buf[512];

    sockaddr_ip(sa, ip, sizeof(ip));
    if (srv->shutting_down) {
        close(fd);
        return;
    }
    if (authfail_ip_text(ip, (int)lim->ipv6_prefix, key, sizeof(key)) < 0)
        snprintf(key, sizeof(key), "%s", ip);
    if (listener_full(l, ip)) {
        smtp_reply_format(reject_buf, sizeof(reject_buf), R_TOO_MANY_CONN, srv->cf->c.hostname);
        reject = reject_buf;
    } else if ((ipc = ip_acquire(srv, key))->n > (unsigned)lim->connections_per_ip) {
        smtp_reply_format(reject_buf, sizeof(reject_buf), R_TOO_MANY_FROM, srv->cf->c.hostname,
                          key);
        reject = reject_buf;
        log_warn("smtpd", "per-IP connection limit %lld reached for %s", lim->connections_per_ip,
                 key);
        metrics_inc2(M_CONN_REFUSED, l->name, "connections_per_ip");
        ip_release(srv, ipc);
        ipc = NULL;
    }
    if (reject == NULL || l->tls != LISTENER_TLS_IMPLICIT) {
        struct smtp_session *s = smtp_session_new(srv, fd, sa, l->name, l->profile,
                                                  l->tls, l->auth, reject);
        s->lst = l;
        s->ip_count = ipc;
        l->nsessions++;
        metrics_add1(M_CONN_OPEN, l->name, 1);
        s->next = srv->sessions;
        if (srv->sessions)
            srv->sessions->prev = s;
        srv->sessions = s;
        srv->nsessions++;
    } else {
        close(fd); /* implicit TLS: no way to say 421 without a handshake; just close */
    }
}

/* A connection stops waiting for its header (read, refused, or the listener closed):
 * its places in the limits are given back. Called once per proxy_wait_start. */
static void listener_wait_release(struct listener *l, unsigned n)
{
    l->nwaiting -= n;
    l->srv->nwaiting -= n;
    metrics_add1(M_CONN_PROXY_WAITING, l->name, -(long long)n);
}

static void listener_proxy_done(void *arg, int fd, const struct sockaddr *client)
{
    struct listener *l = arg;
    listener_wait_release(l, 1);   /* first: the session takes its place */
    listener_admit(l, fd, client);
}

static void listener_proxy_fail(void *arg)
{
    struct listener *l = arg;
    listener_wait_release(l, 1);
    metrics_inc2(M_CONN_REFUSED, l->name, "proxy_header");
}

/* Over a limit before the header is read: a plain listener answers 421 at once (what the
 * balancer passes on to its client); an implicit-TLS one can only close. */
static void listener_refuse_unread(struct listener *l, int fd)
{
    char buf[512];
    size_t n;

    if (l->tls != LISTENER_TLS_IMPLICIT) {
        n = smtp_reply_format(buf, sizeof(buf), R_TOO_MANY_CONN, l->srv->cf->c.hostname);
        /* a fresh socket's buffer takes it; if not, the close says enough */
        (void)send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        metrics_inc2(M_SMTP_REPLIES, metrics_reply_class(421), "connect");
    }
    close(fd);
}

static bool listener_is_balancer(const struct listener *l, const char *ip)
{
    size_t i;
    for (i = 0; i < l->nbalancers; i++)
        if (netaddr_contains(&l->balancers[i], ip))
            return true;
    return false;
}

static void listener_on_accept(struct evconnlistener *evl, evutil_socket_t fd,
                               struct sockaddr *sa, int salen, void *arg)
{
    struct listener *l = arg;
    char ip[INET6_ADDRSTRLEN];
    int one = 1;
    (void)evl;
    (void)salen;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    metrics_inc1(M_CONN_TOTAL, l->name);
    if (!l->proxy) {
        listener_admit(l, fd, sa);
        return;
    }
    sockaddr_ip(sa, ip, sizeof(ip));
    if (l->srv->shutting_down) {
        close(fd);
        return;
    }
    if (!listener_is_balancer(l, ip)) {
        log_warn("smtpd", "listener %s: connection from [%s] refused: not in proxy_networks "
                 "(a PROXY protocol listener takes only its load balancers)", l->name, ip);
        metrics_inc2(M_CONN_REFUSED, l->name, "proxy_not_balancer");
        close(fd);
        return;
    }
    if (listener_full(l, ip)) {
        listener_refuse_unread(l, fd);
        return;
    }
    l->nwaiting++;
    l->srv->nwaiting++;
    metrics_add1(M_CONN_PROXY_WAITING, l->name, 1);
    proxy_wait_start(l->srv->base, fd, sa, l->proxy_timeout_ms, l->name, &l->waiting,
                     listener_proxy_done, listener_proxy_fail, l);
}

static int listener_bind(struct smtpd *srv, const struct listener_conf *lc)
{
    struct sockaddr_storage ss;
    int sslen = sizeof(ss);
    char addr[300];
    struct listener *l;

    if (strncmp(lc->address, "*:", 2) == 0)
        snprintf(addr, sizeof(addr), "0.0.0.0%s", lc->address + 1);
    else
        snprintf(addr, sizeof(addr), "%s", lc->address);
    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sslen) < 0) {
        log_error("master", "listener %s: bad address %s", lc->name, lc->address);
        return -1;
    }
    l = xcalloc(1, sizeof(*l));
    l->srv = srv;
    snprintf(l->profile, sizeof(l->profile), "%s", lc->profile);
    l->tls = lc->tls;
    l->auth = lc->auth;
    l->max_sessions = lc->connections;
    l->proxy = lc->proxy_protocol;
    l->proxy_timeout_ms = lc->proxy_timeout_ms;
    l->balancers = xcalloc(lc->proxy_networks.n + 1, sizeof(*l->balancers));
    for (size_t i = 0; i < lc->proxy_networks.n; i++) /* validated at load */
        if (netaddr_parse(lc->proxy_networks.v[i], &l->balancers[l->nbalancers]) == 0)
            l->nbalancers++;
    snprintf(l->name, sizeof(l->name), "%s", lc->name);
    l->ev = evconnlistener_new_bind(srv->base, listener_on_accept, l,
                                    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                    LEV_OPT_CLOSE_ON_EXEC, (int)lc->backlog,
                                    (struct sockaddr *)&ss, sslen);
    if (l->ev == NULL) {
        log_error("master", "listener %s: cannot listen on %s: %m", lc->name, lc->address);
        free(l->balancers);
        free(l);
        return -1;
    }
    l->next = srv->listeners;
    srv->listeners = l;
    log_info("master", "listening on %s (%s, %s%s)", lc->address, lc->name, lc->profile,
             l->proxy ? ", PROXY protocol" : "");
    return 0;
}

int listeners_open(struct smtpd *srv)
{
    const struct listener_conf *lc = srv->cf->c.listeners.items;
    size_t i;
    for (i = 0; i < srv->cf->c.listeners.n; i++) {
        if (listener_bind(srv, &lc[i]) < 0) {
            listeners_free(srv);
            return -1;
        }
    }
    return 0;
}

void listeners_close(struct smtpd *srv)
{
    struct listener *l;
    for (l = srv->listeners; l; l = l->next) {
        if (l->ev)
            evconnlistener_free(l->ev);
        l->ev = NULL;
        listener_wait_release(l, proxy_wait_cancel_all(&l->waiting));
    }
}

void listeners_free(struct smtpd *srv)
{
    struct listener *l, *next;
    listeners_close(srv);
    for (l = srv->listeners; l; l = next) {
        next = l->next;
        free(l->balancers);
        free(l);
    }
    srv->listeners = NULL;
}
