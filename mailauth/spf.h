/*
 * spf.h - the SPF evaluator (RFC 7208 check_host()), asynchronous and cancellable.
 *
 * One spf_check evaluates one identity: the MAIL FROM address, or, when the sender is
 * null, the HELO name (local part "postmaster"). It asks for DNS through a small function
 * table (struct spf_resolver): the daemon and posternctl pass spf_resolver_dns() over
 * lib/dns, unit tests an in-memory table. It never blocks: every step is a DNS answer
 * arriving on the event loop. Independent lookups of one step go out together (the
 * A/AAAA of each MX host, of each PTR name).
 *
 * Bounds (RFC 7208 4.6.4 and 5): 10 mechanisms/modifiers that cause DNS lookups
 * (include, a, mx, ptr, exists, redirect) per check, 2 void lookups (NXDOMAIN or no
 * records), 10 MX hosts (more: permerror), 10 PTR names (the rest are ignored), include/
 * redirect depth, and a total deadline given by the caller (temperror when it passes).
 * exp= is looked up only for a fail result, counts against no limit, and any problem with
 * it is ignored. The records are parsed by mailauth/spf_record.c, macros expanded by
 * mailauth/spf_macro.c; %{p} and the ptr mechanism share one set of validated names.
 *
 * Threading: the loop thread of `base` only. The callback runs once, later, on the loop
 * (never inside spf_check_start()), unless spf_cancel() was called first.
 *
 * Who calls it: policy/checks (the SPF check, later) and tools/posternctl.c ("posternctl
 * spf"). Results feed the SPF symbols, Received-SPF / Authentication-Results
 * (mailauth/spf_header.c) and DMARC (which needs domain, result and identity).
 */
#ifndef POSTERN_SPF_H
#define POSTERN_SPF_H

#include "lib/dns.h"

#include <time.h>

struct event_base;
struct spf_check;

#define SPF_LOOKUP_LIMIT 10             /* DNS-querying terms per check (RFC 7208 4.6.4) */
#define SPF_VOID_LIMIT 2                /* void lookups per check (RFC 7208 4.6.4) */
#define SPF_DEFAULT_DEADLINE_MS 20000   /* RFC 7208 4.6.4: "at least 20 seconds" */

enum spf_result {
    SPF_RESULT_NONE, SPF_RESULT_NEUTRAL, SPF_RESULT_PASS, SPF_RESULT_FAIL,
    SPF_RESULT_SOFTFAIL, SPF_RESULT_TEMPERROR, SPF_RESULT_PERMERROR
};

enum spf_identity { SPF_ID_MAILFROM, SPF_ID_HELO };

/*
 * DNS for the evaluator. lookup() starts one query of type for name (no trailing dot;
 * for PTR the reversed name under in-addr.arpa / ip6.arpa) and returns a handle; cb then
 * runs exactly once, later, on the loop thread (never inside lookup()), unless cancel()
 * is called with the handle first. The dns_result is valid during cb only. Statuses as
 * in lib/dns.h: NXDOMAIN/NODATA/BADNAME mean "no such records", the temporary ones give
 * temperror.
 */
struct spf_resolver {
    void *(*lookup)(void *ctx, enum dns_type type, const char *name, dns_cb cb, void *arg);
    void (*cancel)(void *ctx, void *handle);
    void *ctx;
};

/* The resolver over lib/dns (borrowed: dns must outlive every check using it). */
struct spf_resolver spf_resolver_dns(struct dns *dns);

struct spf_request {
    const char *ip;                     /* the client's address, text ("::ffff:a.b.c.d" is
                                           IPv4) */
    const char *sender;                 /* MAIL FROM address without <>; NULL or "": the
                                           null sender, so the HELO name is checked */
    const char *helo;                   /* HELO/EHLO argument; may be NULL */
    const char *receiver;               /* %{r}: this host's name; NULL: "unknown" */
    long long deadline_ms;              /* total time allowed; 0: SPF_DEFAULT_DEADLINE_MS */
    time_t now;                         /* %{t}; 0: time(NULL) */
};

/*
 * The outcome, as the callback receives it. Strings are owned by the check and valid
 * during the callback only (spf_outcome_dup() keeps a copy).
 */
struct spf_outcome {
    enum spf_result result;
    enum spf_identity identity;         /* which identity was checked */
    const char *domain;                 /* the domain checked (of MAIL FROM, or HELO); ""
                                           when there was none */
    const char *sender;                 /* the checked identity as local@domain */
    const char *client_ip;              /* as given */
    const char *helo;                   /* as given, or NULL */
    const char *mechanism;              /* the term that matched ("-all", "include:x"), or
                                           NULL (no match, none, error) */
    const char *mechanism_domain;       /* the domain whose record held that term */
    const char *explanation;            /* fail only: the exp= text, or NULL */
    const char *comment;                /* one line for humans: what matched, or the error */
    unsigned lookups, void_lookups;     /* counted against the limits */
};

typedef void (*spf_done_cb)(const struct spf_outcome *out, void *arg);

/*
 * Start an evaluation. req is read here only (copied). resolver is copied; its ctx is
 * borrowed. Returns the handle, valid until the callback has returned or spf_cancel().
 * An unusable request (bad client IP) still completes through the callback (permerror
 * would be wrong: the result is "none" with the reason in comment).
 */
struct spf_check *spf_check_start(struct event_base *base, const struct spf_resolver *resolver,
                                  const struct spf_request *req, spf_done_cb cb, void *arg);

/* Stop an evaluation: pending lookups are cancelled, everything is freed, the callback
 * will not run. Not from inside the check's own callback. NULL is a no-op. */
void spf_cancel(struct spf_check *check);

/* "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror". */
const char *spf_result_str(enum spf_result r);

/* "mailfrom" or "helo" (the Received-SPF identity names). */
const char *spf_identity_str(enum spf_identity id);

/* A copy that the caller owns (spf_outcome_free). */
struct spf_outcome *spf_outcome_dup(const struct spf_outcome *o);
void spf_outcome_free(struct spf_outcome *o);

#endif
