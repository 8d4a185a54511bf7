/*
 * spf_record.h - the SPF record parser (RFC 7208 sections 4.5, 4.6, 5, 6, 12): the text of
 * one TXT record in, a list of terms out.
 *
 * Pure: bytes in, a structure out, no I/O. The whole record is parsed before anything is
 * evaluated, so that every syntax error anywhere gives permerror (RFC 7208 4.6): unknown
 * mechanisms, bad CIDR lengths, bad networks, bad domain-specs and macro strings, a
 * repeated redirect= or exp=, characters outside printable ASCII. Unknown modifiers are
 * checked for syntax and then ignored. Domain-specs are kept unexpanded (the evaluator
 * expands them with mailauth/spf_macro.h when it reaches them).
 * Called by the evaluator (mailauth/spf.c) and the fuzz target.
 */
#ifndef POSTERN_SPF_RECORD_H
#define POSTERN_SPF_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#define SPF_ERROR_MAX 160               /* room for a parse error text */

enum spf_mech {
    SPF_MECH_ALL, SPF_MECH_INCLUDE, SPF_MECH_A, SPF_MECH_MX, SPF_MECH_PTR,
    SPF_MECH_IP4, SPF_MECH_IP6, SPF_MECH_EXISTS
};

struct spf_term {
    enum spf_mech mech;
    char qualifier;                     /* '+', '-', '~' or '?' */
    const char *text;                   /* the term as written (for logs and headers) */
    const char *domain;                 /* domain-spec, NULL when absent (a, mx, ptr) */
    int cidr4, cidr6;                   /* prefix lengths (defaults 32 and 128) */
    unsigned char net[16];              /* ip4: (4 bytes) / ip6: network */
};

struct spf_record {
    size_t n;                           /* directives, in order */
    struct spf_term *terms;
    const char *redirect;               /* redirect= domain-spec, or NULL */
    const char *exp;                    /* exp= domain-spec, or NULL */
    char *store;                        /* the strings above point here */
};

enum spf_parse_status {
    SPF_PARSE_OK,
    SPF_PARSE_NOT_SPF,                  /* does not start with "v=spf1" + space or end */
    SPF_PARSE_ERROR                     /* an SPF record with a syntax error: permerror */
};

/* True when text[0..len) is an SPF version 1 record: "v=spf1" (any case) followed by a
 * space or the end. Other TXT records are ignored by SPF. */
bool spf_record_is_spf1(const char *text, size_t len);

/*
 * Parse text[0..len) (a TXT record's strings joined; may contain NUL bytes, which are an
 * error). On SPF_PARSE_OK *out is a new record (spf_record_free). On SPF_PARSE_ERROR err
 * (SPF_ERROR_MAX bytes) says what is wrong, in printable ASCII.
 */
enum spf_parse_status spf_record_parse(const char *text, size_t len, struct spf_record **out,
                                       char *err);

void spf_record_free(struct spf_record *rec);

#endif
