/*
 * dns_wire.h - pure helpers of the resolver: query names, reversed-IP names, server
 * addresses and the TTLs of a DNS answer packet.
 *
 * No I/O, no allocation, no globals: lib/dns.c and lib/dns_conf.c call them, and so may
 * policy code that wants the DNSBL name it is about to query (for its log line).
 * Safe on any thread.
 */
#ifndef POSTERN_DNS_WIRE_H
#define POSTERN_DNS_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Longest name accepted, without the trailing dot (RFC 1035: 255 octets on the wire). */
#define DNS_NAME_MAX 253
/* Longest label (RFC 1035). */
#define DNS_LABEL_MAX 63

/*
 * Copy name to out (outlen bytes) in lower case without the trailing dot. Returns 0, or
 * -1 if the name is empty, longer than DNS_NAME_MAX, has an empty or over-long label, or
 * holds a byte with no place in a query name (control, backslash, non-ASCII; a space is
 * kept, as SPF macros can produce one).
 */
int dns_name_normalize(const char *name, char *out, size_t outlen);

/*
 * Build the reversed name of ip under zone: "192.0.2.1" -> "1.2.0.192.<zone>", IPv6 by
 * nibbles. zone NULL means "in-addr.arpa" / "ip6.arpa" (PTR); otherwise a DNSBL zone.
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is treated as IPv4. The result is
 * normalized. Returns 0, or -1 for a bad IP, a bad zone or an out too small.
 */
int dns_reverse_name(const char *ip, const char *zone, char *out, size_t outlen);

/* 0 if s is a server address c-ares 1.18 accepts: "ip", "ip:port", "[ipv6]:port" or a
 * bare IPv6 address (port 1..65535). -1 otherwise. */
int dns_server_check(const char *s);

/*
 * Lifetime of an answer packet, in seconds, into *ttl.
 * negative == 0: the smallest TTL of the answer section (CNAMEs included).
 * negative != 0: RFC 2308's min(SOA TTL, SOA MINIMUM) from the authority section.
 * Returns 0, or -1 when the packet is malformed or has no such record.
 */
int dns_packet_ttl(const unsigned char *pkt, size_t len, int negative, uint32_t *ttl);

#endif
