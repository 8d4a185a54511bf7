/*
 * deliver_self.h - is a next-hop address one of this host's own listeners? (RFC 5321 5.1:
 * never deliver to ourselves.)
 *
 * An address is ours when a listener of the running config accepts connections made to
 * it: a listener bound to that exact address and port, or a wildcard listener ("*:25",
 * "0.0.0.0:25", "[::]:25") on that port when the address is one of this host's interface
 * addresses, a loopback address or the unspecified address. The interface addresses come
 * from getifaddrs(), read when a wildcard listener needs them and again once they are
 * DELIVER_SELF_REFRESH_S old. Used by relay/deliver/deliver_smtp.c on the loop thread.
 */
#ifndef POSTERN_DELIVER_SELF_H
#define POSTERN_DELIVER_SELF_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/netaddr.h"

struct sockaddr;
struct listener_conf;

#define DELIVER_SELF_REFRESH_S 60

/* This host's interface addresses (zeroed: not read yet). */
struct deliver_self {
    struct netaddr *own;          /* full-length prefixes */
    size_t n;
    time_t loaded;                /* 0: never */
};

/* Pure: does a listener bound to listen ("192.0.2.1:25", "[2001:db8::1]:25", "*:25",
 * "0.0.0.0:25", "[::]:25") accept a connection to sa (AF_INET or AF_INET6; IPv4-mapped
 * IPv6 counts as IPv4)? own[0..nown) are the host's interface addresses. */
bool deliver_self_listener_covers(const char *listen, const struct sockaddr *sa,
                                  const struct netaddr *own, size_t nown);

/* Whether sa is ours for any of the listeners l[0..n). Reads or refreshes s's interface
 * list when a wildcard listener on sa's port needs it (getifaddrs; a failure keeps the
 * last list and is logged). */
bool deliver_self_is_self(struct deliver_self *s, const struct listener_conf *l, size_t n,
                          const struct sockaddr *sa);

void deliver_self_free(struct deliver_self *s);

#endif
