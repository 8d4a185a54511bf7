/*
 * dns_wire.c - pure helpers of the resolver: query names, reversed-IP names, server
 * addresses and answer TTLs (see dns_wire.h for the contracts).
 *
 * Callers: lib/dns.c (every lookup), lib/dns_conf.c (validation of dns.servers), tests.
 * No I/O, no allocation, no globals; safe on any thread.
 */
#include "lib/dns_wire.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#define DNS_HEADER_LEN 12
#define DNS_QFIXED_LEN 4          /* QTYPE + QCLASS after the question name */
#define DNS_RRFIXED_LEN 10        /* TYPE, CLASS, TTL, RDLENGTH after the owner name */
#define DNS_T_SOA_CODE 6
#define DNS_SOA_MINIMUM_LEN 4     /* the last field of SOA rdata */
#define DNS_PTR_MASK 0xc0         /* label byte of a compression pointer */
#define DNS_TTL_SANE_MAX 0x7fffffffu  /* RFC 2181: a TTL with the top bit set means 0 */

#define DNS_IPV4_REV_LEN 16       /* "255.255.255.255." */
#define DNS_IPV6_REV_LEN 64       /* 32 nibbles, each with a dot */
#define DNS_PORT_MAX 65535
#define DNS_MAPPED_PREFIX_LEN 12  /* ::ffff:0:0/96 */

static const char ptr_zone_v4[] = "in-addr.arpa";
static const char ptr_zone_v6[] = "ip6.arpa";

/* Printable ASCII, space included: a DNS label may hold any byte (RFC 2181 11), and SPF
 * macros make names with spaces ("%_", RFC 7208 7.3). The backslash stays out because
 * c-ares reads it as an escape. */
static int name_byte_ok(unsigned char c)
{
    return c >= ' ' && c < 0x7f && c != '\\';
}

int dns_name_normalize(const char *name, char *out, size_t outlen)
{
    size_t len = strlen(name), label = 0;

    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > DNS_NAME_MAX || len >= outlen)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (label == 0)
                return -1;
            label = 0;
        } else if (!name_byte_ok(c) || ++label > DNS_LABEL_MAX) {
            return -1;
        }
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : (char)c;
    }
    out[len] = '\0';
    return 0;
}

/* Parse ip as IPv4 (or IPv4-mapped IPv6) into v4[4], else IPv6 into v6[16].
 * Returns 4, 6 or -1. */
static int parse_ip(const char *ip, unsigned char v4[4], unsigned char v6[16])
{
    static const unsigned char mapped[DNS_MAPPED_PREFIX_LEN] =
        { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    if (inet_pton(AF_INET, ip, v4) == 1)
        return 4;
    if (inet_pton(AF_INET6, ip, v6) != 1)
        return -1;
    if (memcmp(v6, mapped, sizeof(mapped)) == 0) {
        memcpy(v4, v6 + DNS_MAPPED_PREFIX_LEN, 4);
        return 4;
    }
    return 6;
}

int dns_reverse_name(const char *ip, const char *zone, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char v4[4], v6[16];
    char rev[DNS_IPV6_REV_LEN + 1], joined[DNS_IPV6_REV_LEN + DNS_NAME_MAX + 2];
    int family = parse_ip(ip, v4, v6);
    size_t n = 0;

    if (family < 0)
        return -1;
    if (family == 4) {
        snprintf(rev, sizeof(rev), "%u.%u.%u.%u.", v4[3], v4[2], v4[1], v4[0]);
    } else {
        for (int i = 15; i >= 0; i--) {
            rev[n++] = hex[v6[i] & 0xf];
            rev[n++] = '.';
            rev[n++] = hex[v6[i] >> 4];
            rev[n++] = '.';
        }
        rev[n] = '\0';
    }
    if (zone == NULL)
        zone = family == 4 ? ptr_zone_v4 : ptr_zone_v6;
    /* a zone comes from the configuration: a space there is a typo, not a label */
    if (strlen(zone) > DNS_NAME_MAX || zone[0] == '.' || zone[0] == '\0' || strchr(zone, ' '))
        return -1;
    snprintf(joined, sizeof(joined), "%s%s", rev, zone);
    return dns_name_normalize(joined, out, outlen);
}

static int port_ok(const char *s)
{
    unsigned long v = 0;

    if (*s == '\0')
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > DNS_PORT_MAX)
            return 0;
    }
    return v > 0;
}

/* "[v6]:port" (c-ares 1.18 refuses brackets without a port) */
static int server_check_bracketed(const char *s)
{
    const char *end = strchr(s, ']');
    char host[INET6_ADDRSTRLEN];
    unsigned char a[16];
    size_t len;

    if (end == NULL)
        return -1;
    len = (size_t)(end - s - 1);
    if (len == 0 || len >= sizeof(host))
        return -1;
    memcpy(host, s + 1, len);
    host[len] = '\0';
    if (inet_pton(AF_INET6, host, a) != 1)
        return -1;
    return end[1] == ':' && port_ok(end + 2) ? 0 : -1;
}

int dns_server_check(const char *s)
{
    const char *colon = strchr(s, ':');
    char host[INET_ADDRSTRLEN];
    unsigned char a[16];
    size_t len;

    if (s[0] == '[')
        return server_check_bracketed(s);
    if (colon != NULL && strchr(colon + 1, ':') != NULL)
        return inet_pton(AF_INET6, s, a) == 1 ? 0 : -1;
    len = colon ? (size_t)(colon - s) : strlen(s);
    if (len == 0 || len >= sizeof(host))
        return -1;
    memcpy(host, s, len);
    host[len] = '\0';
    if (inet_pton(AF_INET, host, a) != 1)
        return -1;
    return colon == NULL || port_ok(colon + 1) ? 0 : -1;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned get16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/* Offset just past the (possibly compressed) name at off, or 0 if it runs off the end. */
static size_t skip_name(const unsigned char *pkt, size_t len, size_t off)
{
    while (off < len) {
        unsigned char l = pkt[off];
        if (l == 0)
            return off + 1;
        if ((l & DNS_PTR_MASK) == DNS_PTR_MASK)
            return off + 2 <= len ? off + 2 : 0;
        if (l & DNS_PTR_MASK)
            return 0;
        off += 1u + l;
    }
    return 0;
}

static uint32_t sane_ttl(uint32_t ttl)
{
    return ttl > DNS_TTL_SANE_MAX ? 0 : ttl;
}

/* One resource record at *off: fills type, ttl, rdata offset and length, and moves *off
 * past it. Returns 0, or -1 when the record runs off the end. */
static int next_rr(const unsigned char *pkt, size_t len, size_t *off, unsigned *type,
                   uint32_t *ttl, size_t *rdata, size_t *rdlen)
{
    size_t p = skip_name(pkt, len, *off);

    if (p == 0 || p + DNS_RRFIXED_LEN > len)
        return -1;
    *type = get16(pkt + p);
    *ttl = sane_ttl(get32(pkt + p + 4));
    *rdlen = get16(pkt + p + 8);
    *rdata = p + DNS_RRFIXED_LEN;
    if (*rdata + *rdlen > len)
        return -1;
    *off = *rdata + *rdlen;
    return 0;
}

int dns_packet_ttl(const unsigned char *pkt, size_t len, int negative, uint32_t *ttl)
{
    unsigned qd, an, ns, type;
    size_t off = DNS_HEADER_LEN, rdata, rdlen;
    uint32_t rttl, best = DNS_TTL_SANE_MAX;
    int found = 0;

    if (len < DNS_HEADER_LEN)
        return -1;
    qd = get16(pkt + 4);
    an = get16(pkt + 6);
    ns = get16(pkt + 8);
    for (unsigned i = 0; i < qd; i++) {
        off = skip_name(pkt, len, off);
        if (off == 0 || off + DNS_QFIXED_LEN > len)
            return -1;
        off += DNS_QFIXED_LEN;
    }
    for (unsigned i = 0; i < an + (negative ? ns : 0); i++) {
        if (next_rr(pkt, len, &off, &type, &rttl, &rdata, &rdlen) < 0)
            return -1;
        if (!negative) {
            best = rttl < best ? rttl : best;
            found = 1;
        } else if (i >= an && type == DNS_T_SOA_CODE && rdlen >= DNS_SOA_MINIMUM_LEN) {
            uint32_t min = sane_ttl(get32(pkt + rdata + rdlen - DNS_SOA_MINIMUM_LEN));
            best = rttl < min ? rttl : min;
            found = 1;
            break;
        }
    }
    if (!found)
        return -1;
    *ttl = best;
    return 0;
}
