/*
 * deliver_self.c - recognise this host's own listeners among next-hop addresses (see
 * deliver_self.h): the pure listener match, and the cached interface list behind it.
 */
#include "relay/deliver/deliver_self.h"

#include "lib/log.h"
#include "lib/xalloc.h"
#include "relay/relay_conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define LISTEN_HOST_MAX (INET6_ADDRSTRLEN + 2)
#define PORT_MAX        65535
#define V4_MAPPED_AT    12

enum wildcard { WILD_NONE, WILD_V4, WILD_ANY };

struct listen_addr {
    enum wildcard wild;
    struct netaddr addr;          /* when not a wildcard */
    unsigned port;
};

/* "host:port" of a listener; false when it is not one we can read. */
static bool parse_listen(const char *listen, struct listen_addr *out)
{
    const char *colon = strrchr(listen, ':');
    char host[LISTEN_HOST_MAX], *end;
    size_t hl;
    long port;

    memset(out, 0, sizeof(*out));
    if (colon == NULL || (hl = (size_t)(colon - listen)) == 0 || hl >= sizeof(host))
        return false;
    port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port < 1 || port > PORT_MAX)
        return false;
    out->port = (unsigned)port;
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0) {
        out->wild = WILD_V4;      /* relay/smtpd/listener.c binds "*" as 0.0.0.0 */
        return true;
    }
    if (strcmp(host, "[::]") == 0) {
        out->wild = WILD_ANY;     /* dual-stack unless net.ipv6.bindv6only: both count */
        return true;
    }
    if (host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        out->addr.family = AF_INET6;
        out->addr.prefix = 128;
        return inet_pton(AF_INET6, host + 1, out->addr.addr) == 1;
    }
    out->addr.family = AF_INET;
    out->addr.prefix = 32;
    return inet_pton(AF_INET, host, out->addr.addr) == 1;
}

/* sa as a full-length netaddr and its port, IPv4-mapped IPv6 turned into IPv4. */
static bool from_sockaddr(const struct sockaddr *sa, struct netaddr *a, unsigned *port)
{
    static const unsigned char v4mapped[V4_MAPPED_AT] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

    memset(a, 0, sizeof(*a));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        a->family = AF_INET;
        a->prefix = 32;
        memcpy(a->addr, &s4->sin_addr, 4);
        *port = ntohs(s4->sin_port);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        *port = ntohs(s6->sin6_port);
        if (memcmp(s6->sin6_addr.s6_addr, v4mapped, V4_MAPPED_AT) == 0) {
            a->family = AF_INET;
            a->prefix = 32;
            memcpy(a->addr, s6->sin6_addr.s6_addr + V4_MAPPED_AT, 4);
        } else {
            a->family = AF_INET6;
            a->prefix = 128;
            memcpy(a->addr, s6->sin6_addr.s6_addr, 16);
        }
        return true;
    }
    return false;
}

static bool same_addr(const struct netaddr *x, const struct netaddr *y)
{
    return x->family == y->family &&
           memcmp(x->addr, y->addr, x->family == AF_INET ? 4 : 16) == 0;
}

/* Connections to a as a wildcard listener of this host would take them. */
static bool is_own(const struct netaddr *a, const struct netaddr *own, size_t nown)
{
    enum netaddr_scope scope = netaddr_scope(a->family, a->addr);
    size_t i;

    if (scope == NETADDR_LOOPBACK || scope == NETADDR_UNSPECIFIED)
        return true;
    for (i = 0; i < nown; i++)
        if (same_addr(a, &own[i]))
            return true;
    return false;
}

static bool covers(const struct listen_addr *l, const struct netaddr *a, unsigned port,
                   const struct netaddr *own, size_t nown)
{
    if (port != l->port)
        return false;
    if (l->wild == WILD_NONE)
        return same_addr(a, &l->addr);
    if (l->wild == WILD_V4 && a->family != AF_INET)
        return false;
    return is_own(a, own, nown);
}

bool deliver_self_listener_covers(const char *listen, const struct sockaddr *sa,
                                  const struct netaddr *own, size_t nown)
{
    struct listen_addr l;
    struct netaddr a;
    unsigned port;

    return parse_listen(listen, &l) && from_sockaddr(sa, &a, &port) &&
           covers(&l, &a, port, own, nown);
}

/* ---- the interface list ------------------------------------------------------------------ */

static void self_reload(struct deliver_self *s, time_t now)
{
    struct ifaddrs *ifs, *i;
    size_t n = 0;

    s->loaded = now;              /* also after a failure: try again at the next refresh */
    if (getifaddrs(&ifs) < 0) {
        log_warn("smtp", "cannot list the interface addresses (getifaddrs: %s); using the "
                 "last list to recognise this host's own addresses", strerror(errno));
        return;
    }
    free(s->own);
    s->own = NULL;
    for (i = ifs; i; i = i->ifa_next)
        if (i->ifa_addr && (i->ifa_addr->sa_family == AF_INET ||
                            i->ifa_addr->sa_family == AF_INET6))
            n++;
    s->own = n ? xcalloc(n, sizeof(*s->own)) : NULL;
    s->n = 0;
    for (i = ifs; i; i = i->ifa_next) {
        unsigned port;
        if (i->ifa_addr && s->n < n && from_sockaddr(i->ifa_addr, &s->own[s->n], &port))
            s->n++;
    }
    freeifaddrs(ifs);
}

bool deliver_self_is_self(struct deliver_self *s, const struct listener_conf *l, size_t n,
                          const struct sockaddr *sa)
{
    time_t now = time(NULL);
    struct netaddr a;
    unsigned port;
    size_t i;

    if (!from_sockaddr(sa, &a, &port))
        return false;
    for (i = 0; i < n; i++) {
        struct listen_addr la;
        if (!parse_listen(l[i].address, &la) || la.port != port)
            continue;
        if (la.wild != WILD_NONE &&
            (s->loaded == 0 || now < s->loaded || now - s->loaded >= DELIVER_SELF_REFRESH_S))
            self_reload(s, now);
        if (covers(&la, &a, port, s->own, s->n))
            return true;
    }
    return false;
}

void deliver_self_free(struct deliver_self *s)
{
    free(s->own);
    memset(s, 0, sizeof(*s));
}
