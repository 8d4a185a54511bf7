/*
 * spf_ip.c - client addresses for SPF: parsing (IPv4-mapped IPv6 becomes IPv4), prefix
 * matching, and the textual forms the macros and PTR lookups need (see spf_ip.h).
 * Pure; safe on any thread.
 */
#include "mailauth/spf_ip.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define V4MAPPED_PREFIX_LEN 12
#define OCTET_MAX 255
#define OCTET_DIGITS_MAX 3
#define BITS_PER_BYTE 8
#define NIBBLE_MASK 0x0f
#define NIBBLE_BITS 4

static const unsigned char v4mapped_prefix[V4MAPPED_PREFIX_LEN] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

int spf_ip_parse(const char *text, struct spf_ip *out)
{
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, text, out->addr) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, text, out->addr) != 1)
        return -1;
    out->family = AF_INET6;
    if (memcmp(out->addr, v4mapped_prefix, V4MAPPED_PREFIX_LEN) == 0) {
        memmove(out->addr, out->addr + V4MAPPED_PREFIX_LEN, 4);
        memset(out->addr + 4, 0, sizeof(out->addr) - 4);
        out->family = AF_INET;
    }
    return 0;
}

int spf_ip4_parse_strict(const char *text, size_t len, unsigned char addr[4])
{
    size_t i = 0;

    for (int part = 0; part < 4; part++) {
        unsigned v = 0, digits = 0;
        if (part > 0) {
            if (i >= len || text[i] != '.')
                return -1;
            i++;
        }
        while (i < len && text[i] >= '0' && text[i] <= '9' && digits < OCTET_DIGITS_MAX + 1) {
            if (digits == 1 && v == 0)
                return -1;                      /* leading zero */
            v = v * 10 + (unsigned)(text[i] - '0');
            digits++;
            i++;
        }
        if (digits == 0 || digits > OCTET_DIGITS_MAX || v > OCTET_MAX)
            return -1;
        addr[part] = (unsigned char)v;
    }
    return i == len ? 0 : -1;
}

bool spf_ip_in_net(const struct spf_ip *ip, int family, const unsigned char *net, int prefix)
{
    int full = prefix / BITS_PER_BYTE, rest = prefix % BITS_PER_BYTE;

    if (ip->family != family || prefix < 0 ||
        prefix > (family == AF_INET ? SPF_IP4_BITS : SPF_IP6_BITS))
        return false;
    if (memcmp(ip->addr, net, (size_t)full) != 0)
        return false;
    if (rest) {
        unsigned char mask = (unsigned char)(0xff << (BITS_PER_BYTE - rest));
        if ((ip->addr[full] & mask) != (net[full] & mask))
            return false;
    }
    return true;
}

void spf_ip_text(const struct spf_ip *ip, char *out)
{
    if (inet_ntop(ip->family, ip->addr, out, SPF_IP_TEXT_MAX) == NULL)
        out[0] = '\0';
}

static void nibbles(const unsigned char *addr, int reversed, int upper, char *out)
{
    static const char lower_hex[] = "0123456789abcdef", upper_hex[] = "0123456789ABCDEF";
    const char *hex = upper ? upper_hex : lower_hex;
    char *p = out;

    for (int i = 0; i < 2 * 16; i++) {
        int n = reversed ? 2 * 16 - 1 - i : i;
        unsigned char b = addr[n / 2];
        *p++ = hex[(n % 2 ? b : b >> NIBBLE_BITS) & NIBBLE_MASK];
        *p++ = '.';
    }
    p[-1] = '\0';
}

void spf_ip_dotted(const struct spf_ip *ip, char *out)
{
    if (ip->family == AF_INET)
        spf_ip_text(ip, out);
    else
        nibbles(ip->addr, 0, 1, out);
}

void spf_ip_reverse_name(const struct spf_ip *ip, char *out)
{
    if (ip->family == AF_INET) {
        snprintf(out, SPF_IP_REVERSE_MAX, "%u.%u.%u.%u.in-addr.arpa", ip->addr[3],
                 ip->addr[2], ip->addr[1], ip->addr[0]);
        return;
    }
    nibbles(ip->addr, 1, 0, out);
    strcat(out, ".ip6.arpa");
}
