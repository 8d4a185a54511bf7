/*
 * dns_testpkt.h - a tiny DNS packet builder for the resolver's unit tests
 * (test_dns_wire.c, test_dns_answer.c). Header-only, static functions; names are
 * written uncompressed unless pkt_ptr() is used.
 */
#ifndef POSTERN_DNS_TESTPKT_H
#define POSTERN_DNS_TESTPKT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PKT_MAX 4096
#define PKT_QR_RD_RA 0x8180u
#define PKT_RCODE_NXDOMAIN 3
#define PKT_CLASS_IN 1
#define PKT_T_A 1
#define PKT_T_CNAME 5
#define PKT_T_SOA 6
#define PKT_T_PTR 12
#define PKT_T_MX 15
#define PKT_T_TXT 16
#define PKT_T_AAAA 28

struct pkt {
    unsigned char b[PKT_MAX];
    size_t len;
};

static inline void pkt_u8(struct pkt *p, unsigned v) { p->b[p->len++] = (unsigned char)v; }

static inline void pkt_u16(struct pkt *p, unsigned v)
{
    pkt_u8(p, v >> 8);
    pkt_u8(p, v & 0xff);
}

static inline void pkt_u32(struct pkt *p, uint32_t v)
{
    pkt_u16(p, v >> 16);
    pkt_u16(p, v & 0xffff);
}

static inline void pkt_bytes(struct pkt *p, const void *d, size_t n)
{
    memcpy(p->b + p->len, d, n);
    p->len += n;
}

static inline void pkt_name(struct pkt *p, const char *name)
{
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t n = dot ? (size_t)(dot - name) : strlen(name);
        pkt_u8(p, (unsigned)n);
        pkt_bytes(p, name, n);
        name += n + (dot != NULL);
    }
    pkt_u8(p, 0);
}

/* Header + one question. Counts of the other sections are given up front. */
static inline void pkt_start(struct pkt *p, unsigned rcode, const char *qname,
                             unsigned qtype, unsigned an, unsigned ns)
{
    p->len = 0;
    pkt_u16(p, 0x1234);
    pkt_u16(p, PKT_QR_RD_RA | rcode);
    pkt_u16(p, 1);
    pkt_u16(p, an);
    pkt_u16(p, ns);
    pkt_u16(p, 0);
    pkt_name(p, qname);
    pkt_u16(p, qtype);
    pkt_u16(p, PKT_CLASS_IN);
}

/* Owner, type, class, ttl; the caller writes rdlength + rdata with pkt_rdata(). */
static inline void pkt_rr(struct pkt *p, const char *owner, unsigned type, uint32_t ttl)
{
    pkt_name(p, owner);
    pkt_u16(p, type);
    pkt_u16(p, PKT_CLASS_IN);
    pkt_u32(p, ttl);
}

/* Reserve rdlength; returns its offset for pkt_rdata_end(). */
static inline size_t pkt_rdata_begin(struct pkt *p)
{
    size_t at = p->len;
    pkt_u16(p, 0);
    return at;
}

static inline void pkt_rdata_end(struct pkt *p, size_t at)
{
    size_t n = p->len - at - 2;
    p->b[at] = (unsigned char)(n >> 8);
    p->b[at + 1] = (unsigned char)(n & 0xff);
}

static inline void pkt_mx(struct pkt *p, const char *owner, uint32_t ttl, unsigned pref,
                          const char *host)
{
    size_t at;
    pkt_rr(p, owner, PKT_T_MX, ttl);
    at = pkt_rdata_begin(p);
    pkt_u16(p, pref);
    pkt_name(p, host);
    pkt_rdata_end(p, at);
}

static inline void pkt_a(struct pkt *p, const char *owner, uint32_t ttl,
                         const unsigned char addr[4])
{
    pkt_rr(p, owner, PKT_T_A, ttl);
    pkt_u16(p, 4);
    pkt_bytes(p, addr, 4);
}

static inline void pkt_name_rr(struct pkt *p, const char *owner, unsigned type,
                               uint32_t ttl, const char *target)
{
    size_t at;
    pkt_rr(p, owner, type, ttl);
    at = pkt_rdata_begin(p);
    pkt_name(p, target);
    pkt_rdata_end(p, at);
}

/* One TXT RR made of the NULL-terminated list of strings. */
static inline void pkt_txt(struct pkt *p, const char *owner, uint32_t ttl,
                           const char *const *strings)
{
    size_t at;
    pkt_rr(p, owner, PKT_T_TXT, ttl);
    at = pkt_rdata_begin(p);
    for (; *strings; strings++) {
        pkt_u8(p, (unsigned)strlen(*strings));
        pkt_bytes(p, *strings, strlen(*strings));
    }
    pkt_rdata_end(p, at);
}

static inline void pkt_soa(struct pkt *p, const char *zone, uint32_t ttl, uint32_t minimum)
{
    size_t at;
    pkt_rr(p, zone, PKT_T_SOA, ttl);
    at = pkt_rdata_begin(p);
    pkt_name(p, "ns.test");
    pkt_name(p, "hostmaster.test");
    pkt_u32(p, 1);       /* serial */
    pkt_u32(p, 3600);    /* refresh */
    pkt_u32(p, 600);     /* retry */
    pkt_u32(p, 86400);   /* expire */
    pkt_u32(p, minimum);
    pkt_rdata_end(p, at);
}

#endif
