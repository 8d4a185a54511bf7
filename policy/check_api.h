/*
 * check_api.h - what a policy check is, and what it may read and say while it runs.
 *
 * A check is one file under policy/checks/ that defines one `const struct check_def` and
 * adds it to the registry (check_registry.c). docs/policy.md walks through writing one,
 * with the test check (tests/checks/check_test.c) as the worked example. In short:
 *
 *   - The def declares the check's name, stages, directions, group (order within a
 *     stage), flags, unsure default, symbols (name, default score, description), its
 *     settings section (the keys it accepts inside a profile's "checks": {"NAME": {...}}),
 *     and init/free of its instance state, run and cancel.
 *   - The engine creates one instance per profile that lists the check: init(env,
 *     settings, &state) once when the config is activated, free(state) when it is dropped.
 *   - At each stage the check declares, the engine calls run(call). The check reads the
 *     session, transaction and recipients through call, says what it found (symbols,
 *     verdicts, dispositions, facts, headers) and returns CALL_DONE, or CALL_PENDING after
 *     starting asynchronous work (DNS, Redis, a worker job); it then calls
 *     check_done(call) exactly once, on the loop thread, when the work is over.
 *   - If the stage deadline passes or the session goes away first, the engine calls
 *     cancel(call) instead: the check stops its work (dns/redis cancel, timers, marks its
 *     worker job orphaned) and frees what it allocated for the call; afterwards it never
 *     touches the call again and never calls check_done for it. On a deadline the engine
 *     adds the symbol NAME_TIMEOUT (upper-case name) and applies the unsure rule.
 *
 * Threading: everything here is loop-thread only, except the work function given to
 * check_work_submit (worker thread: it may only touch its job).
 */
#ifndef POSTERN_POLICY_CHECK_API_H
#define POSTERN_POLICY_CHECK_API_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/conf.h"
#include "lib/workpool.h"
#include "policy/levels.h"
#include "policy/result.h"
#include "policy/settings.h"

struct event_base;
struct dns;
struct redis;
struct outage;
struct json_t;
struct policy_conf;
struct domain_conf;
struct auth_conf;
struct rl_conf;
struct scan_client;
struct callout_service;
struct account_cache;

/* The SMTP stages, in dialogue order. DATA is the DATA command before its 354; END is the
 * whole message (the reply after the final dot). */
enum engine_stage {
    STAGE_CONNECT, STAGE_HELO, STAGE_AUTH, STAGE_MAIL, STAGE_RCPT, STAGE_DATA, STAGE_END,
    STAGE_COUNT
};
#define STAGE_BIT(s) (1u << (s))
#define STAGES_ALL   ((1u << STAGE_COUNT) - 1)

/* "connect", "helo", ... */
const char *engine_stage_name(enum engine_stage s);

/* Directions a check applies to. A recipient is inbound (local domain, or any other
 * domain reached through an inbound profile), backup (a backup-MX domain) or submission
 * (any recipient of a submission profile). Before RCPT, an inbound profile's checks run
 * when they declare inbound or backup. */
#define DIR_INBOUND    0x1u
#define DIR_BACKUP     0x2u
#define DIR_SUBMISSION 0x4u
#define DIR_ALL        0x7u

/* Flags of a check. */
#define CHECK_ROLE_BYPASS      0x1u /* postmaster@ and abuse@ of served domains skip it and
                                       its refusals (RFC 5321 4.5.1, RFC 2142) */
#define CHECK_WHITELIST_BYPASS 0x2u /* senders whitelisted for a recipient skip it */
#define CHECK_USES_SETTINGS    0x4u /* reads per-recipient settings: user overrides are
                                       fetched for profiles that run it */
#define CHECK_NEEDS_HEADER     0x8u /* END: needs the message header in memory */
#define CHECK_NEEDS_REDIS      0x10u /* keeps or reads its state in Redis: a profile that
                                        runs it makes the daemon connect to Redis */

/* The services every check may use (borrowed from the daemon; any may be NULL in tests
 * and in `posternctl check`). */
struct engine_env {
    struct event_base *base;
    struct dns *dns;                /* c-ares resolver and cache */
    struct redis *redis;
    struct workpool *check_pool;    /* bounded pool for CPU-heavy checks */
    struct outage *outages;         /* backing-service outage tracker (outage.h) */
    struct scan_client *scanner;    /* the virus scanner (content/scan_client.h); NULL
                                       when virus.enabled is false */
    /* recipient probes to the next hop (policy/callout.h); NULL: no callouts */
    const struct callout_service *callout;
    /* the queued backlog of a recipient domain (relay/queue/queue.h); NULL: unknown */
    void (*backlog)(void *arg, const char *domain, unsigned long long *msgs,
                    unsigned long long *bytes);
    void *backlog_arg;
    struct account_cache *accounts; /* logins' suspension states (account_cache.h); NULL:
                                       the account check asks Redis every time */
    /* policy.dns_skip_networks: clients the inbound DNS checks skip (NULL: none) */
    const struct conf_strlist *dns_skip_networks;
    const char *hostname;           /* this server's name */
    /* events for the alert layer (webhooks); takes the reference of data */
    void (*event)(void *arg, const char *type, struct json_t *data);
    void *event_arg;
    /* Parts of the loaded config that rule checks read (borrowed; NULL in unit tests and
     * in `posternctl check` unless given): what the server serves and who may relay
     * (relay_access, submission_auth), the logins' senders (sender_owner), the rate
     * limits (ratelimit). */
    const struct policy_conf *relay;            /* "relay" (policy/policy.h) */
    const struct conf_array *domains;           /* "domains": struct domain_conf */
    const struct domain_conf *domain_defaults;  /* "domain_defaults" */
    const struct auth_conf *auth;               /* "auth" (auth/auth_conf.h) */
    const struct rl_conf *ratelimit;            /* "ratelimit" (policy/ratelimit.h) */
};

/* One row of a check's symbol table (terminated by a row with name NULL). */
struct symbol_def {
    const char *name;          /* A-Z 0-9 _ (symbol_name_valid) */
    double score;              /* default; the config may override it */
    const char *description;   /* one line for docs */
};

/* A reply of a check: SMTP code, RFC 3463 code, text (no code prefix). */
struct check_reply {
    int code;
    const char *ecode;
    const char *text;
};

enum call_status { CALL_DONE, CALL_PENDING };

struct check_call;

struct check_def {
    const char *name;          /* lower case a-z 0-9 _, unique */
    const char *description;   /* one line for docs */
    unsigned stages;           /* STAGE_BIT() of each stage it runs at */
    unsigned directions;       /* DIR_* it applies to */
    int group;                 /* within a stage, lower groups run (and finish) first;
                                  checks of one group run concurrently. Rules that refuse
                                  (relay access) before those that spend (rate limit)
                                  before evidence (DNS): 10, 20, 50 ... */
    bool async;                /* may return CALL_PENDING */
    unsigned flags;            /* CHECK_* */
    enum unsure_rule unsure;   /* default when it cannot say; a level may override */
    const struct check_reply *unsure_reply;  /* the 4xx when unsure means defer; NULL:
                                                451 4.3.0 naming the check */
    enum disposition mixed;    /* what a recipient it refuses at END gets when the message is
                                  accepted for another recipient: DISP_NONE = quarantine
                                  (see engine.h, "the multi-recipient rule") */
    const char *reason;        /* the "reason" of message.rejected for its refusals */
    const char *unsure_reason; /* the reason when it defers because it cannot say (a store
                                  it needs is down: "redis_unavailable"); NULL: reason */
    const struct symbol_def *symbols;       /* NULL or a table ending with name NULL */
    const struct conf_section *settings;    /* its keys inside a profile; NULL: none */
    size_t settings_size;                   /* sizeof the struct settings fills */
    /* Symbols named by its settings (DNSBL zones...): add(ctx, &def) for each. Optional. */
    void (*settings_symbols)(const void *settings,
                             void (*add)(void *ctx, const struct symbol_def *def), void *ctx);
    /* Instance state from its settings; 0, or -1 after logging why (the config is then not
       activated). Optional: state stays NULL. */
    int (*init)(const struct engine_env *env, const void *settings, void **state);
    void (*free)(void *state);
    enum call_status (*run)(struct check_call *call);
    void (*cancel)(struct check_call *call);  /* required when async */
};

/* ---- what a call sees ---------------------------------------------------------------- */

#define CHECK_ALL ((ssize_t)-1)    /* "every recipient of this call" / "the message" */

const struct check_def *check_call_def(const struct check_call *c);
enum engine_stage check_call_stage(const struct check_call *c);
const struct engine_env *check_call_env(const struct check_call *c);
void *check_call_state(const struct check_call *c);        /* from init */
const void *check_call_settings(const struct check_call *c); /* its profile settings */
/* Per-call scratch pointer for the check's own use (e.g. its pending lookups). */
void check_call_set_priv(struct check_call *c, void *priv);
void *check_call_priv(const struct check_call *c);

/* The session and transaction. Strings are valid for the call. */
const char *check_call_listener(const struct check_call *c);
const char *check_call_client_ip(const struct check_call *c);
const char *check_call_client_name(const struct check_call *c);   /* "unknown" until known */
const char *check_call_helo(const struct check_call *c);          /* NULL before HELO */
const char *check_call_login(const struct check_call *c);         /* NULL unless AUTH */
bool check_call_tls(const struct check_call *c);
bool check_call_submission(const struct check_call *c);           /* the profile's direction */
const char *check_call_sender(const struct check_call *c);  /* NULL before MAIL; "" = <> */
const char *check_call_queue_id(const struct check_call *c); /* NULL before MAIL */
size_t check_call_accepted(const struct check_call *c);    /* recipients accepted so far */

/* The recipients this call is about: at RCPT the batch still pending (refused ones and
 * those that bypass the check are left out), at END the accepted ones the check applies
 * to; 0 at other stages. i is 0 .. n-1; the same i is what check_symbol etc. take. */
size_t check_call_nrcpt(const struct check_call *c);
const char *check_call_rcpt(const struct check_call *c, size_t i);
const struct policy_settings *check_call_rcpt_settings(const struct check_call *c, size_t i);
bool check_call_rcpt_whitelisted(const struct check_call *c, size_t i);
/* Recipient i's score so far: the symbols of earlier stages and groups (checks of the
 * same group may still add theirs). */
double check_call_rcpt_score(const struct check_call *c, size_t i);

/* END: the spooled message, from the start of our Received: header. */
struct engine_message {
    int fd;                    /* the queue file, open for reading (pread only) */
    unsigned long long offset; /* where the message starts in it */
    unsigned long long size;   /* its length */
    const char *head;          /* the header bytes, when a check of the profile has
                                  CHECK_NEEDS_HEADER (else NULL) */
    size_t head_len;
};
const struct engine_message *check_call_message(const struct check_call *c);

/* Facts: what checks learned, for later checks and for headers (SPF result, DKIM domains,
 * rDNS name, scan result). A transaction fact hides a session fact of the same key.
 * Returns a borrowed reference, or NULL. Keys: "check.what" ("spf.result"). */
struct json_t *check_fact(const struct check_call *c, const char *key);

/* ---- what a call says ---------------------------------------------------------------- */

/* Add a symbol declared in the check's table (or by its settings): its score times
 * weight is added for recipient i, or for every recipient when i is CHECK_ALL (before
 * RCPT: every recipient of the session or transaction). text: optional short detail for
 * logs (copied), may be NULL. An unknown name is a programming error: logged, ignored. */
void check_symbol(struct check_call *c, ssize_t i, const char *name, double weight,
                  const char *text);

enum verdict_kind {
    VERDICT_REFUSE,      /* the code says 4xx (defer) or 5xx (refuse). At RCPT: recipient i.
                            At CONNECT, HELO, AUTH, MAIL: kept, and given to each recipient
                            at RCPT unless it bypasses the check (so postmaster@ can still
                            be reached). At DATA: the DATA command. At END: recipient i or
                            all, then the multi-recipient rule. */
    VERDICT_REFUSE_NOW,  /* CONNECT, HELO, AUTH, MAIL, DATA: reply to this command now
                            (530 authentication required, 553 sender not owned). */
    VERDICT_DISCONNECT,  /* reply (421) and close the session, at any stage */
};

/* A hard verdict with its reply (format checked; use a lib/smtp_replies.h entry:
 * check_verdict(c, i, VERDICT_REFUSE, R_RELAY_DENIED, addr)). */
void check_verdict(struct check_call *c, ssize_t i, enum verdict_kind kind, int code,
                   const char *ecode, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* The same with another message.rejected reason than the check's own (a refusal because a
 * service it needs is down: "redis_unavailable"). reason must outlive the session (a
 * string literal). */
void check_verdict_reason(struct check_call *c, ssize_t i, enum verdict_kind kind,
                          const char *reason, int code, const char *ecode, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

/* END: an action after acceptance for recipient i (or all): DISP_WRAP, DISP_QUARANTINE,
 * DISP_DISCARD, DISP_MARK, DISP_TAG; why is the short reason kept with it ("virus Eicar").
 * The most severe action of all sources wins. */
void check_disposition(struct check_call *c, ssize_t i, enum disposition d, const char *why);

/* The check could not decide for recipient i (or all): adds `symbol` when not NULL, then
 * the recipient's level says defer (the check's unsure_reply, 4xx) or accept. */
void check_unsure(struct check_call *c, ssize_t i, const char *symbol);

/* A header field to add to recipient i's delivered copy (or every copy): name and value
 * without CR/LF ("X-Virus-Status", "Infected Eicar-Test"). */
void check_header(struct check_call *c, ssize_t i, const char *name, const char *value);

/* Text appended to the final 250 of this transaction ("(quota: 37/60 left)"). */
void check_note(struct check_call *c, const char *text);

/* Set a fact (takes the reference of value) for the session or the transaction. */
enum fact_scope { FACT_SESSION, FACT_TX };
void check_fact_set(struct check_call *c, enum fact_scope scope, const char *key,
                    struct json_t *value);

/* Raise an event for the alert layer (takes the reference of data). */
void check_event(struct check_call *c, const char *type, struct json_t *data);

/* The asynchronous work of this call is over. Loop thread; exactly once per
 * CALL_PENDING run, never after cancel, and the last thing the check does with the call
 * (the engine may finish the stage and free the call inside it). */
void check_done(struct check_call *c);

/* CPU-heavy work on the bounded check pool: work(job) runs on a worker thread, then
 * done(c, job) on the loop thread, then job_free(job) -- or, when the call was cancelled
 * in between, only job_free(job). Returns 0; or -1 when the pool is full (or absent): the
 * engine has then set the transaction's reply to 451 4.3.0 and the check should return
 * CALL_DONE (when it was going to wait for this job). */
int check_work_submit(struct check_call *c, void *job, void (*work)(void *job),
                      void (*done)(struct check_call *c, void *job),
                      void (*job_free)(void *job));

/* The same for work on the message itself (the shared way of every check that reads the
 * spooled message on the pool): the first `max` bytes of the call's message are read on
 * the worker, then work(job, msg, len) runs with them (msg NUL-terminated, freed when
 * work returns; NULL when nothing could be read), then done(c, job, read_ok) on the loop
 * thread (read_ok false: the check should apply the unsure rule), then job_free(job).
 * Returns CALL_PENDING; or CALL_DONE, with job_free(job) already called, when the call
 * has no message, when it cannot be read (the unsure rule was applied for every
 * recipient), or when the pool is full (see check_work_submit). */
enum call_status check_message_submit(struct check_call *c, unsigned long long max,
                                      void *job,
                                      void (*work)(void *job, const char *msg, size_t len),
                                      void (*done)(struct check_call *c, void *job,
                                                   bool read_ok),
                                      void (*job_free)(void *job));

#endif
