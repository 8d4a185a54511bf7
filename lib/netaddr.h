/*
 * netaddr.h - IP networks ("192.0.2.0/24", "2001:db8::/32", "127.0.0.1"), matching, and
 * the scope of an address (public or not).
 * Pure functions; used for trusted_networks, for refusing next hops that a domain's DNS
 * aims at internal hosts (relay/deliver/deliver_smtp.c, relay/deliver/backup_probe.c) and, later, for
 * greylisting nets and DNSBL names.
 */
#ifndef POSTERN_NETADDR_H
#define POSTERN_NETADDR_H

#include <stdbool.h>

struct sockaddr;

struct netaddr {
    int family;                 /* AF_INET or AF_INET6 */
    unsigned char addr[16];     /* network byte order; v4 uses the first 4 bytes */
    int prefix;                 /* bits */
};

/* Parse "ip" or "ip/len". 0 on success, -1 on bad syntax or a prefix out of range. */
int netaddr_parse(const char *s, struct netaddr *out);

/* True if the textual address ip lies in net (v4-mapped v6 addresses match v4 nets). */
bool netaddr_contains(const struct netaddr *net, const char *ip);

/* Where an address leads. Everything but NETADDR_PUBLIC is a place a stranger's DNS
 * answer must not send us to: this host, its networks, or nowhere routable. */
enum netaddr_scope {
    NETADDR_PUBLIC,
    NETADDR_UNSPECIFIED,     /* 0.0.0.0/8 ("this network"), :: */
    NETADDR_LOOPBACK,        /* 127.0.0.0/8, ::1 */
    NETADDR_PRIVATE,         /* 10/8, 172.16/12, 192.168/16, 100.64/10 (shared, RFC 6598),
                                fc00::/7 (ULA), fec0::/10 (old site-local),
                                64:ff9b:1::/48 (local-use NAT64, RFC 8215) */
    NETADDR_LINK_LOCAL,      /* 169.254/16, fe80::/10 */
    NETADDR_MULTICAST,       /* 224/4, ff00::/8 */
    NETADDR_DOCUMENTATION,   /* 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32,
                                3fff::/20 (RFC 5737, 3849, 9637) */
    NETADDR_RESERVED,        /* 240/4 and 255.255.255.255, 192.0.0/24 (IETF protocol
                                assignments), 198.18/15 and 2001:2::/48 (benchmarking),
                                100::/64 (discard), the rest of ::/96 (IPv4-compatible) */
};

/*
 * The scope of an address: family AF_INET with 4 bytes or AF_INET6 with 16 bytes at addr
 * (network byte order). IPv6 forms that carry an IPv4 address get the scope of that
 * address: IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96 (RFC 6052) and 6to4 2002::/16
 * (RFC 3056), so ::ffff:10.0.0.1 is private. Any other family is NETADDR_RESERVED.
 */
enum netaddr_scope netaddr_scope(int family, const unsigned char *addr);

/* The same for an AF_INET or AF_INET6 socket address (any other: NETADDR_RESERVED). */
enum netaddr_scope netaddr_scope_sa(const struct sockaddr *sa);

/* "public", "unspecified", "loopback", "private", "link-local", "multicast",
 * "documentation", "reserved". */
const char *netaddr_scope_name(enum netaddr_scope scope);

#endif
