/*
 * spf_ip.h - client addresses as SPF sees them (RFC 7208 section 5): IPv4, or IPv6,
 * with an IPv4-mapped IPv6 address (::ffff:a.b.c.d) treated as the IPv4 address.
 *
 * Pure functions, no allocation; used by the record parser (ip4:/ip6: networks), the
 * macro expander (%{i} %{c} %{v}) and the evaluator (address matching, PTR names).
 */
#ifndef POSTERN_SPF_IP_H
#define POSTERN_SPF_IP_H

#include <stdbool.h>
#include <stddef.h>

#define SPF_IP4_BITS 32
#define SPF_IP6_BITS 128
#define SPF_IP_TEXT_MAX 46              /* INET6_ADDRSTRLEN */
#define SPF_IP_REVERSE_MAX 74           /* 32 nibbles with dots + "ip6.arpa" + NUL */

struct spf_ip {
    int family;                         /* AF_INET or AF_INET6 */
    unsigned char addr[16];             /* network order; IPv4 uses the first 4 bytes */
};

/* Parse a client address ("192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1" -> IPv4).
 * 0, or -1 when text is not an address. */
int spf_ip_parse(const char *text, struct spf_ip *out);

/* Parse an IPv4 network as RFC 7208 writes it (four decimal parts, no leading zeros).
 * addr gets 4 bytes. 0 or -1. */
int spf_ip4_parse_strict(const char *text, size_t len, unsigned char addr[4]);

/* True when ip is of `family` and its first `prefix` bits equal those of net. */
bool spf_ip_in_net(const struct spf_ip *ip, int family, const unsigned char *net, int prefix);

/* %{c}: "192.0.2.1" or the RFC 5952 form "2001:db8::1". out: SPF_IP_TEXT_MAX bytes. */
void spf_ip_text(const struct spf_ip *ip, char *out);

/* %{i}: "192.0.2.1", or 32 upper-case hex nibbles separated by dots for IPv6.
 * out: SPF_IP_REVERSE_MAX bytes. */
void spf_ip_dotted(const struct spf_ip *ip, char *out);

/* The PTR query name: "1.2.0.192.in-addr.arpa" or nibbles under "ip6.arpa".
 * out: SPF_IP_REVERSE_MAX bytes. */
void spf_ip_reverse_name(const struct spf_ip *ip, char *out);

#endif
