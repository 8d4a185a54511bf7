/*
 * policy.h - the policy pipeline: the one place where mail decisions are made.
 *
 * The SMTP session knows no policy details. At each stage (CONNECT, HELO, MAIL, RCPT,
 * DATA_END) it fills a struct policy_ctx and calls policy_run(); the pipeline runs the
 * checks that apply to the listener's profile, in table order, and hands back one verdict
 * per recipient (RCPT) or one verdict (other stages). Checks may be synchronous (the
 * verdict is ready when policy_run returns) or asynchronous (Redis, DNS, scans: the
 * callback fires later on the loop thread). The session then replies and logs, once.
 *
 * RCPT is checked in batches: a client that pipelines 50 RCPT commands gets one pipeline
 * run for all of them, so a check that needs Redis pays one round trip per batch.
 */
#ifndef POSTERN_POLICY_H
#define POSTERN_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/conf.h"
#include "lib/smtp_parse.h"

enum policy_stage {
    POLICY_CONNECT, POLICY_HELO, POLICY_MAIL, POLICY_RCPT, POLICY_DATA_END, POLICY_STAGES
};

/* The listener profile decides which checks run and with which thresholds. */
enum policy_profile { PROFILE_INBOUND, PROFILE_SUBMISSION, PROFILE_SUBMISSIONS, PROFILES };

enum policy_action {
    POLICY_PASS,        /* no objection */
    POLICY_REFUSE,      /* refuse this command (reply is 4xx or 5xx) */
    POLICY_DISCONNECT,  /* reply (421) and close the connection */
};

#define POLICY_TEXT_MAX 256
#define POLICY_BATCH_MAX 64   /* most RCPTs checked in one pipeline run */

struct policy_verdict {
    enum policy_action action;
    int code;                       /* 421, 450, 451, 452, 530, 550, 554 ... */
    char ecode[12];                 /* "5.7.1" */
    char text[POLICY_TEXT_MAX];     /* human text, no code prefix */
    const char *check;              /* name of the deciding check, for logs */
};

/* What the session knows. Pointers are borrowed for the duration of policy_run and, for
 * an asynchronous run, until the callback fires or the request is cancelled. */
struct policy_ctx {
    enum policy_stage stage;
    enum policy_profile profile;
    const char *listener;
    const char *client_ip;
    const char *client_name;
    const char *helo;
    const char *auth_login;          /* NULL unless authenticated */
    bool tls;
    const char *queue_id;            /* NULL before MAIL */
    const struct smtp_addr *sender;  /* MAIL and later */
    const struct smtp_addr *rcpts;   /* RCPT: the batch being checked */
    size_t nrcpt;
    size_t rcpts_accepted;           /* recipients already accepted in this transaction */
    unsigned long long message_size; /* DATA_END */
    long long quota_left;            /* what the last RCPT batch of this session left of the
                                        user's quota; -1 when unknown */
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

/* True when ip (text) is in one of c->trusted_networks (relay_access.c). */
bool policy_client_trusted(const struct policy_conf *c, const char *ip);

struct domain_conf;
struct policy;
struct policy_req;

/* Results: verdicts[0] for single-verdict stages, verdicts[i] for rcpts[i] at RCPT. */
struct policy_result {
    struct policy_verdict *verdicts;  /* caller-provided, max(1, nrcpt) entries */
    size_t n;
    char note[64];                    /* e.g. "(quota: 37/60 left)" for the final 250 */
    long long quota_left;             /* RCPT: recipients left after this batch; -1 unknown */
};

/* Events a check raises for the alert layer (sender.rate_limited, ...). The relay wires
 * this to webhooks/; data is a jansson object whose reference the callee takes. */
struct json_t;
typedef void (*policy_event_fn)(void *arg, const char *type, struct json_t *data);

/* What the pipeline may use besides its config (all borrowed, any may be NULL). */
struct policy_deps {
    struct rl *rl;                    /* rate limiter; NULL: rate limits off */
    const struct rl_conf *rl_conf;
    policy_event_fn event;
    void *event_arg;
    const struct conf_array *domains; /* struct domain_conf (policy/domain_conf.h) by domain */
    const struct domain_conf *domain_defaults; /* what a domain without an entry gets */
};

typedef void (*policy_done_fn)(void *arg, struct policy_result *res);

/* Build the pipeline from config (borrowed; must outlive the pipeline). NULL on a bad
 * value, after logging it. */
struct policy *policy_new(const struct policy_conf *conf, const struct policy_deps *deps);
void policy_free(struct policy *p);

/*
 * Run the checks for ctx->stage. res->verdicts must have room for max(1, ctx->nrcpt)
 * entries; they start as POLICY_PASS. Returns NULL when the result is already complete
 * (every check was synchronous); otherwise returns a request handle, and cb(arg, res)
 * runs later on the loop thread. Never calls cb before returning.
 */
struct policy_req *policy_run(struct policy *p, const struct policy_ctx *ctx,
                              struct policy_result *res, policy_done_fn cb, void *arg);

/* The session went away: cb will not run. */
void policy_cancel(struct policy_req *req);

/* Helper for checks: set a verdict with a formatted text. */
void policy_verdict_set(struct policy_verdict *v, enum policy_action action, const char *check,
                        int code, const char *ecode, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
