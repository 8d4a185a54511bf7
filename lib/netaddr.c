/*
 * netaddr.c - parsing and matching of IP networks, and the scope table of special-purpose
 * address ranges (IANA's IPv4 and IPv6 special-purpose registries, see netaddr.h).
 */
#include "lib/netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int netaddr_parse(const char *s, struct netaddr *out)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    int max;

    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    out->prefix = max;
    if (slash) {
        char *end;
        long p = strtol(slash + 1, &end, 10);
        if (slash[1] == '\0' || *end != '\0' || p < 0 || p > max)
            return -1;
        out->prefix = (int)p;
    }
    return 0;
}

static bool prefix_equal(const unsigned char *a, const unsigned char *b, int bits)
{
    int full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((a[full] ^ b[full]) & (0xff << (8 - rest))) == 0;
}

bool netaddr_contains(const struct netaddr *net, const char *ip)
{
    static const unsigned char v4mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };
    unsigned char a[16];

    if (net->family == AF_INET) {
        if (inet_pton(AF_INET, ip, a) == 1)
            return prefix_equal(a, net->addr, net->prefix);
        if (inet_pton(AF_INET6, ip, a) == 1 && memcmp(a, v4mapped, 12) == 0)
            return prefix_equal(a + 12, net->addr, net->prefix);
        return false;
    }
    return inet_pton(AF_INET6, ip, a) == 1 && prefix_equal(a, net->addr, net->prefix);
}

/* ---- scope ------------------------------------------------------------------------------ */

struct scope_range {
    unsigned char prefix[16];
    int bits;
    enum netaddr_scope scope;
};

/* First match wins, so a more specific range comes before the one containing it. */
static const struct scope_range v4_ranges[] = {
    { { 0 }, 8, NETADDR_UNSPECIFIED },
    { { 10 }, 8, NETADDR_PRIVATE },
    { { 100, 64 }, 10, NETADDR_PRIVATE },
    { { 127 }, 8, NETADDR_LOOPBACK },
    { { 169, 254 }, 16, NETADDR_LINK_LOCAL },
    { { 172, 16 }, 12, NETADDR_PRIVATE },
    { { 192, 0, 0 }, 24, NETADDR_RESERVED },
    { { 192, 0, 2 }, 24, NETADDR_DOCUMENTATION },
    { { 192, 168 }, 16, NETADDR_PRIVATE },
    { { 198, 18 }, 15, NETADDR_RESERVED },
    { { 198, 51, 100 }, 24, NETADDR_DOCUMENTATION },
    { { 203, 0, 113 }, 24, NETADDR_DOCUMENTATION },
    { { 224 }, 4, NETADDR_MULTICAST },
    { { 240 }, 4, NETADDR_RESERVED },
};

static const struct scope_range v6_ranges[] = {
    { { 0 }, 128, NETADDR_UNSPECIFIED },
    { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 128, NETADDR_LOOPBACK },
    { { 0 }, 96, NETADDR_RESERVED },                      /* IPv4-compatible (deprecated) */
    { { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48, NETADDR_PRIVATE },
    { { 0x01, 0x00 }, 64, NETADDR_RESERVED },
    { { 0x20, 0x01, 0x00, 0x02, 0x00, 0x00 }, 48, NETADDR_RESERVED },
    { { 0x20, 0x01, 0x0d, 0xb8 }, 32, NETADDR_DOCUMENTATION },
    { { 0x3f, 0xff }, 20, NETADDR_DOCUMENTATION },
    { { 0xfc }, 7, NETADDR_PRIVATE },
    { { 0xfe, 0x80 }, 10, NETADDR_LINK_LOCAL },
    { { 0xfe, 0xc0 }, 10, NETADDR_PRIVATE },
    { { 0xff }, 8, NETADDR_MULTICAST },
};

/* IPv6 prefixes whose addresses carry an IPv4 address, and where it starts. */
static const struct {
    unsigned char prefix[12];
    int bits;
    int v4_at;
} v6_embedding[] = {
    { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff }, 96, 12 },          /* ::ffff:0:0/96 */
    { { 0x00, 0x64, 0xff, 0x9b }, 96, 12 },                            /* 64:ff9b::/96 */
    { { 0x20, 0x02 }, 16, 2 },                                         /* 2002::/16 */
};

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static enum netaddr_scope scope_in(const struct scope_range *r, size_t n, const unsigned char *a)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (prefix_equal(a, r[i].prefix, r[i].bits))
            return r[i].scope;
    return NETADDR_PUBLIC;
}

enum netaddr_scope netaddr_scope(int family, const unsigned char *addr)
{
    size_t i;

    if (family == AF_INET)
        return scope_in(v4_ranges, NELEMS(v4_ranges), addr);
    if (family != AF_INET6)
        return NETADDR_RESERVED;
    for (i = 0; i < NELEMS(v6_embedding); i++)
        if (prefix_equal(addr, v6_embedding[i].prefix, v6_embedding[i].bits))
            return scope_in(v4_ranges, NELEMS(v4_ranges), addr + v6_embedding[i].v4_at);
    return scope_in(v6_ranges, NELEMS(v6_ranges), addr);
}

enum netaddr_scope netaddr_scope_sa(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return netaddr_scope(AF_INET,
                             (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family == AF_INET6)
        return netaddr_scope(AF_INET6,
                             ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
    return NETADDR_RESERVED;
}

const char *netaddr_scope_name(enum netaddr_scope scope)
{
    static const char *const names[] = {
        [NETADDR_PUBLIC] = "public", [NETADDR_UNSPECIFIED] = "unspecified",
        [NETADDR_LOOPBACK] = "loopback", [NETADDR_PRIVATE] = "private",
        [NETADDR_LINK_LOCAL] = "link-local", [NETADDR_MULTICAST] = "multicast",
        [NETADDR_DOCUMENTATION] = "documentation", [NETADDR_RESERVED] = "reserved",
    };
    return (unsigned)scope < NELEMS(names) ? names[scope] : "reserved";
}
