/*
 * policy.h - what relay/ and the rule checks share about the policy: the "relay" config
 * keys (domains served, trusted networks, the postmaster domain) and their helpers, the
 * listener profiles of today's config, and the shape of a refusal the SMTP session makes
 * itself (protocol limits). Every mail decision is made by the policy engine
 * (policy/engine.h) and its checks (policy/checks/).
 */
#ifndef POSTERN_POLICY_H
#define POSTERN_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/conf.h"

/* The listener profile decides which checks run (the shipped policy profile of the same
 * name) and, for "submissions", implicit TLS. */
enum policy_profile { PROFILE_INBOUND, PROFILE_SUBMISSION, PROFILE_SUBMISSIONS, PROFILES };

enum policy_action {
    POLICY_PASS,        /* no objection */
    POLICY_REFUSE,      /* refuse this command (reply is 4xx or 5xx) */
    POLICY_DISCONNECT,  /* reply (421) and close the connection */
};

#define POLICY_TEXT_MAX 256
#define POLICY_BATCH_MAX 64   /* most RCPTs checked in one engine run */

/* A refusal the session makes itself (size, bare LF, NUL, hop count ...). */
struct policy_verdict {
    enum policy_action action;
    int code;                       /* 421, 450, 451, 452, 530, 550, 554 ... */
    char ecode[12];                 /* "5.7.1" */
    char text[POLICY_TEXT_MAX];     /* human text, no code prefix */
    const char *check;              /* what decided it, for logs ("limits", "smuggling") */
};

/* The domains and networks the server is responsible for. */
struct policy_conf {
    struct conf_strlist local_domains;
    struct conf_strlist backup_domains;
    struct conf_strlist trusted_networks;
    char *postmaster_domain;         /* where a bare <postmaster> goes; NULL: see
                                        policy_postmaster_domain() */
};
extern const struct conf_section policy_domains_section;

/* The domain of the mailbox that receives mail for a bare <postmaster> (RFC 5321
 * 4.5.1): relay.postmaster_domain, else the first local domain, else hostname. */
const char *policy_postmaster_domain(const struct policy_conf *c, const char *hostname);

/* True when ip (text) is in one of c->trusted_networks (relay_keys.c). */
bool policy_client_trusted(const struct policy_conf *c, const char *ip);

/* Events for the alert layer (sender.rate_limited, ...): data is a jansson object whose
 * reference the callee takes. */
struct json_t;
typedef void (*policy_event_fn)(void *arg, const char *type, struct json_t *data);

/* Set a verdict with a formatted text. */
void policy_verdict_set(struct policy_verdict *v, enum policy_action action, const char *check,
                        int code, const char *ecode, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
