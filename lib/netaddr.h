/*
 * netaddr.h - IP networks ("192.0.2.0/24", "2001:db8::/32", "127.0.0.1") and matching.
 * Pure functions; used for trusted_networks and, later, greylisting nets and DNSBL names.
 */
#ifndef POSTERN_NETADDR_H
#define POSTERN_NETADDR_H

#include <stdbool.h>

struct netaddr {
    int family;                 /* AF_INET or AF_INET6 */
    unsigned char addr[16];     /* network byte order; v4 uses the first 4 bytes */
    int prefix;                 /* bits */
};

/* Parse "ip" or "ip/len". 0 on success, -1 on bad syntax or a prefix out of range. */
int netaddr_parse(const char *s, struct netaddr *out);

/* True if the textual address ip lies in net (v4-mapped v6 addresses match v4 nets). */
bool netaddr_contains(const struct netaddr *net, const char *ip);

#endif
