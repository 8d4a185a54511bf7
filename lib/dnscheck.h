/*
 * dnscheck.h - pure helpers of the inbound DNS checks (policy/checks/check_rdns.c, check_helo.c,
 * check_dnsbl.c, check_sender_domain.c): HELO name classification, DNSBL reply codes, generic
 * ("dynamic") PTR names. No I/O; the lookups themselves go through lib/dns.h, a stage's
 * lookups together through lib/dns_batch.h. Reversed query names (IPv4 octets, IPv6
 * nibbles) are dns_reverse_name() of lib/dns_wire.h.
 *
 * Threading: every function is reentrant.
 */
#ifndef POSTERN_DNSCHECK_H
#define POSTERN_DNSCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- HELO/EHLO names ------------------------------------------------------------------ */

enum helo_class {
    HELO_CLASS_FQDN,          /* a syntactically valid name with a dot: look it up */
    HELO_CLASS_LITERAL,       /* an address literal ([192.0.2.1], [IPv6:...]) of the client */
    HELO_CLASS_INVALID,       /* empty, bad characters, bad label, all-numeric TLD */
    HELO_CLASS_BARE_IP,       /* 192.0.2.1 without brackets */
    HELO_CLASS_NOT_FQDN,      /* a valid single label ("localhost", "DESKTOP-1234") */
    HELO_CLASS_BAD_LITERAL,   /* a literal that is malformed or not the client's address */
    HELO_CLASS_OURS,          /* one of our names, or an address of ours that the client
                                 does not have: someone forges us */
};

/*
 * Classify helo as given by client_ip (text). own_names and own_addrs are NULL-terminated
 * lists (either may be NULL); names compare case-insensitively without a trailing dot,
 * addresses as addresses (so "::1" and "0:0::1" match). A literal or bare IP equal to the
 * client's own address is the client's (LITERAL, or BARE_IP), even when it is ours too
 * (a loopback client).
 */
enum helo_class helo_classify(const char *helo, const char *client_ip,
                              const char *const *own_names, const char *const *own_addrs);

/* "fqdn", "literal", "invalid", "bare_ip", "not_fqdn", "bad_literal", "ours". */
const char *helo_class_str(enum helo_class c);

/* Is s a syntactically valid host name (LDH labels of 1..63, 1..253 bytes, an optional
 * trailing dot, a TLD that is not all digits)? Dots are not required. */
bool dns_hostname_valid(const char *s);

/* ---- DNSBL replies -------------------------------------------------------------------- */

/* What one A record of a DNSBL answer means (addr in host byte order). */
enum dnsbl_kind {
    DNSBL_LISTED,    /* 127.0.0.0/8, except below */
    DNSBL_REFUSED,   /* 127.255.255.0/24: Spamhaus' "query refused / open resolver / rate
                        limited / no key" codes; never a listing */
    DNSBL_BOGUS,     /* anything outside 127.0.0.0/8 (a wildcarding resolver, a hijacked
                        NXDOMAIN): never a listing */
};
enum dnsbl_kind dnsbl_kind(uint32_t addr);

/* One return-code rule of a zone: "127.0.0.2", "127.0.0.4-127.0.0.7", "127.0.0.4-7"
 * (a range of the last octet) or "&4" / "&0x04" (bit mask: any of the bits set in the
 * last octet, as URIBL/SURBL-style lists use), then "=SUFFIX:SCORE" or "=SUFFIX" (score
 * from the zone), e.g. "127.0.0.2=SBL:4", "127.0.0.10-11=PBL:1.5", "&8=ABUSE:3".
 * SUFFIX is A-Z 0-9 _ (1..24). */
struct dnsbl_code {
    uint32_t lo, hi;          /* inclusive range (host order); when mask != 0, unused */
    uint32_t mask;            /* bit mask on the last octet, 0 for a range */
    char suffix[25];
    bool has_score;
    double score;
};

/* Parse one rule. 0, or -1 with why (a static string). */
int dnsbl_code_parse(const char *s, struct dnsbl_code *out, const char **why);
/* Does addr match the rule? */
bool dnsbl_code_match(const struct dnsbl_code *c, uint32_t addr);

/* The symbol of a zone by default: "DNSBL_" + the zone's first label that is not a
 * generic word ("zen.spamhaus.org" -> DNSBL_ZEN, "bl.spamcop.net" -> DNSBL_SPAMCOP,
 * "list.dnswl.org" -> DNSBL_DNSWL), upper case, other characters as '_'. rhs: "RHSBL_".
 * Returns 0, or -1 when out is too small. */
int dnsbl_default_symbol(const char *zone, bool rhs, char *out, size_t outlen);

/* ---- generic / dynamic PTR names ------------------------------------------------------ */

/*
 * Does the PTR name of ip look like a generic name of an access network (dial-up, DSL,
 * cable, DHCP pools) rather than a mail server's? True when the host part (the name
 * without its last two labels) embeds the address (all four octets in order or reversed,
 * decimal with any separators and zero padding, 12 concatenated zero-padded digits, or
 * 8 hex digits; IPv6: 16 or more of its nibbles in a row, either order) or carries a
 * generic word (words: NULL-terminated; NULL = the built-in list dnscheck_dynamic_words)
 * as a token, alone or followed by digits ("dsl", "pool123"; a word ending in '#' needs
 * the digits, in its token or as the next one: "host12", "host-12"). A first label that
 * starts with one of static_prefixes (NULL = dnscheck_static_prefixes: "mail", "smtp",
 * "mx", "mta", "relay", "out") is a mail server's name: never dynamic. why (may be NULL)
 * gets a static string naming the reason ("address", "word"); a generic name whose host
 * part also has the token "static" or "fixed" (with or without digits) is not dynamic
 * either, but gets why "static" (a fixed address: less suspicious, RDNS_GENERIC_STATIC).
 */
bool ptr_is_dynamic(const char *name, const char *ip, const char *const *words,
                    const char *const *static_prefixes, const char **why);

extern const char *const dnscheck_dynamic_words[];
extern const char *const dnscheck_static_prefixes[];

#endif
