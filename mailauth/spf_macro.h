/*
 * spf_macro.h - SPF macro strings (RFC 7208 section 7): syntax check and expansion.
 *
 * Pure: no I/O, no globals. The evaluator (mailauth/spf.c) passes the values of the
 * macro letters in struct spf_macro_vars. The one letter that needs DNS, %{p} (the
 * validated domain name of the client), is not looked up here: the evaluator first asks
 * spf_macro_uses_p(), resolves the validated names if needed (PTR, then A/AAAA of each
 * name), and passes them in vars.validated; spf_macro_expand() picks the name the RFC
 * prefers for the current domain, or "unknown".
 * The record parser (mailauth/spf_record.c) uses spf_macro_check() and
 * spf_domain_spec_check() to classify syntax errors as permerror.
 */
#ifndef POSTERN_SPF_MACRO_H
#define POSTERN_SPF_MACRO_H

#include <stdbool.h>
#include <stddef.h>

#define SPF_DOMAIN_MAX 253              /* a name used in a query, without the last dot */
#define SPF_MACRO_OUT_MAX 8192          /* longest expansion kept (longer: error) */
#define SPF_VALIDATED_MAX 10            /* PTR names looked at (RFC 7208 4.6.4) */

/* Where a macro string stands: domain-specs allow the letters s l o d i p v h,
 * explanation text (the TXT record exp= points to) also c r t. */
enum spf_macro_ctx { SPF_MACRO_DOMAIN, SPF_MACRO_EXPLAIN };

struct spf_macro_vars {
    const char *sender;                 /* %{s}: local@domain (postmaster@HELO for HELO) */
    const char *local;                  /* %{l} */
    const char *sender_domain;          /* %{o} */
    const char *domain;                 /* %{d}: the domain whose record is evaluated */
    const char *ip_dotted;              /* %{i}: spf_ip_dotted() */
    const char *ip_text;                /* %{c}: spf_ip_text() */
    const char *ip_version;             /* %{v}: "in-addr" or "ip6" */
    const char *helo;                   /* %{h} */
    const char *receiver;               /* %{r} */
    long long timestamp;                /* %{t} */
    const char *const *validated;       /* %{p}: validated names of the client (lower case,
                                           no trailing dot), n_validated of them */
    size_t n_validated;
};

/*
 * Check the syntax of the macro string s[0..len) in ctx. Returns 0, or -1 with a short
 * reason in *why (a static string). *ends_with_macro (may be NULL) is set when the string
 * ends with a macro-expand ("%{..}", "%%", "%_", "%-"), which RFC 7208 7.1 accepts as
 * the end of a domain-spec.
 */
int spf_macro_check(const char *s, size_t len, enum spf_macro_ctx ctx, bool *ends_with_macro,
                    const char **why);

/* A domain-spec (RFC 7208 7.1): a macro string of the domain context that ends with a
 * macro-expand or with "." toplabel ["."] (toplabel: not all digits, no leading or
 * trailing "-"). 0 or -1 with *why. */
int spf_domain_spec_check(const char *s, size_t len, const char **why);

/* True when the (already checked) string uses %{p} or %{P}. */
bool spf_macro_uses_p(const char *s);

/*
 * Expand the checked macro string s in ctx. Returns a new string (caller frees), or NULL
 * when the text is invalid or the expansion is longer than SPF_MACRO_OUT_MAX.
 * For SPF_MACRO_DOMAIN the result is made a query name: a trailing dot is removed and,
 * when longer than 253 characters, labels are removed from the left until it fits.
 */
char *spf_macro_expand(const char *s, enum spf_macro_ctx ctx, const struct spf_macro_vars *v);

/* The %{p} choice (RFC 7208 7.3): the name equal to domain, else one under domain, else
 * the first, else "unknown". Borrowed pointer. */
const char *spf_macro_pick_validated(const struct spf_macro_vars *v);

/* True when name equals domain or ends with "." domain (case-insensitive; a trailing dot
 * on either is ignored). The test of the ptr mechanism and of %{p}. */
bool spf_domain_is_under(const char *name, const char *domain);

#endif
