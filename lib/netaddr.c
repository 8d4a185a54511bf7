/*
 * netaddr.c - parsing and matching of IP networks (see netaddr.h).
 */
#include "lib/netaddr.h"

#include <arpa/inet.h>
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
