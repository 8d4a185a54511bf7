/*
 * proxy_proto.h - pure parser of the PROXY protocol header, versions 1 (text) and 2
 * (binary), as HAProxy and cloud load balancers send it at the start of a connection
 * (haproxy.org/download/2.9/doc/proxy-protocol.txt).
 *
 * Bytes in, a struct out: no I/O, no allocation, no globals. The listener
 * (relay/smtpd/proxy_wait.c) reads the start of a balancer's connection and calls
 * proxy_parse() on all it has so far; tests/fuzz/fuzz_proxy.c fuzzes it.
 * What is accepted:
 *   v1: "PROXY TCP4 a.b.c.d e.f.g.h SPORT DPORT\r\n", the same with TCP6 and IPv6
 *       addresses, or "PROXY UNKNOWN...\r\n"; single spaces, ports 0-65535 without
 *       leading zeros, at most 107 bytes with the CR LF;
 *   v2: the 12-byte signature, version 2, command LOCAL (a health check: the real
 *       connection's addresses stand) or PROXY with TCP over IPv4 or IPv6 (or
 *       UNSPEC, treated as LOCAL); the address block may be followed by TLVs, which are
 *       walked (each must fit the header exactly) and otherwise ignored.
 * Anything else is PROXY_BAD as early as the bytes show it, so a client that speaks
 * SMTP (or nothing) at a PROXY listener is refused without waiting for 107 bytes.
 */
#ifndef POSTERN_PROXY_PROTO_H
#define POSTERN_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#define PROXY_V1_MAX  107     /* the longest v1 line, CR LF included */
#define PROXY_HDR_MAX 4096    /* longest header accepted (a v2 header with its TLVs) */

enum proxy_status {
    PROXY_OK,          /* a complete header: see out->len */
    PROXY_NEED_MORE,   /* every byte given belongs to an incomplete header */
    PROXY_BAD,         /* not a valid PROXY header: *why says what is wrong */
};

struct proxy_hdr {
    int version;              /* 1 or 2 */
    bool local;               /* no addresses (v1 UNKNOWN, v2 LOCAL or UNSPEC): the
                                 connection's own addresses stand */
    int family;               /* AF_INET or AF_INET6 when !local */
    unsigned char src[16], dst[16];  /* network byte order; IPv4 in the first 4 */
    unsigned src_port, dst_port;
    size_t len;               /* bytes of the header, TLVs included */
    unsigned ntlv;            /* v2 TLVs seen (and skipped) */
};

/* Parse the header at buf[0..len). On PROXY_OK *out is filled and out->len bytes
 * belong to the header (what follows is the client's). On PROXY_NEED_MORE nothing
 * after buf[len) has been judged yet: read more (never past the header: every byte
 * given so far belongs to it) and call again with all of it. On PROXY_BAD, *why (if not
 * NULL) gets a static reason for the log. */
enum proxy_status proxy_parse(const unsigned char *buf, size_t len, struct proxy_hdr *out,
                              const char **why);

/* The source address as text ("192.0.2.1", "2001:db8::1") into buf (INET6_ADDRSTRLEN
 * bytes). 0, or -1 when the header has no addresses. */
int proxy_src_text(const struct proxy_hdr *h, char *buf, size_t size);

#endif
