/*
 * ratelimit.h - per-user sending limits shared by every node through Redis.
 *
 * Limits, per authenticated user and class (a class is chosen per user in the config):
 *   - recipients: at most N accepted recipients in ANY window of W (default 60 per 5m);
 *     each accepted RCPT spends one unit; a batch of k pipelined RCPTs costs one round trip
 *     and gets g <= k units (the caller accepts the first g and answers 450 4.7.1 to the rest);
 *   - messages: at most messages_per_hour MAIL transactions per hour (0 = off), spent at
 *     MAIL FROM, together with a check that the recipient quota is not already exhausted;
 *   - recipients per message (pure, no Redis): 452 4.5.3 beyond max_recipients_per_message.
 * The arithmetic is one Lua script (policy/ratelimit_script.c) run atomically in Redis on
 * Redis's clock; see there for why it is a sliding-window log plus a token bucket.
 * Keys: pt:rl:{USER}:CLASS (state) and pt:rl:{USER}:CLASS:log (log) for recipients,
 * pt:rl:{USER}:CLASS:msg and ...:msg:log for messages; USER lower-cased and %-escaped.
 *
 * The caller (relay's session, through the policy pipeline) decides what to do with
 * errors: ratelimit.fail_mode says tempfail (451 4.3.0) or open (accept and log).
 * Who calls it: relay/ at MAIL FROM and RCPT TO of authenticated sessions; posternctl
 * through ratelimit_admin. Threading: loop thread; callbacks run on the loop thread.
 */
#ifndef POSTERN_RATELIMIT_H
#define POSTERN_RATELIMIT_H

#include "lib/conf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct redis;
struct redisContext;
struct redisReply;

/* Built-in default class, also the defaults of every class's keys. */
#define RL_DEFAULT_CLASS "default"
#define RL_DEF_RECIPIENTS 60
#define RL_DEF_WINDOW_S 300
#define RL_DEF_MAX_RCPT_PER_MSG 100
#define RL_MSG_WINDOW_MS (3600LL * 1000)   /* messages_per_hour: the window is one hour */

/* Key suffixes after rl_key_prefix(): recipients "", messages ":msg"; logs add ":log". */
#define RL_MSG_SUFFIX ":msg"
#define RL_LOG_SUFFIX ":log"

struct rl_class_conf {
    char *name;                           /* the key in "classes" */
    long long recipients;                 /* N */
    long long window_ms;                  /* W */
    long long burst;                      /* token bucket capacity; 0 = recipients */
    long long messages_per_hour;          /* 0 = no message limit */
    long long max_recipients_per_message; /* 0 = no cap */
};

struct rl_user_conf {
    char *name;                           /* login (compared case-insensitively) */
    char *class_name;
};

enum rl_fail_mode { RL_FAIL_TEMPFAIL, RL_FAIL_OPEN };

struct rl_conf {
    bool enabled;
    int fail_mode;                        /* enum rl_fail_mode */
    struct conf_array classes;            /* struct rl_class_conf, CONF_MAP */
    struct conf_array users;              /* struct rl_user_conf, CONF_MAP */
    char *default_class;
};

/* The "ratelimit" config section. */
extern const struct conf_section rl_conf_section;

enum rl_error {
    RL_OK,
    RL_ERR_TIMEOUT,   /* Redis did not answer within redis.timeout */
    RL_ERR_DOWN,      /* no connection to Redis, or it broke while waiting */
    RL_ERR_SCRIPT     /* Redis answered with an error or an unexpected reply */
};

enum rl_limit { RL_LIMIT_NONE, RL_LIMIT_RECIPIENTS, RL_LIMIT_MESSAGES };

/* One limit as seen after a request. */
struct rl_quota {
    long long limit;       /* N (0: this limit is off) */
    long long window_ms;   /* W */
    long long remaining;   /* units left now, after this grant */
    long long retry_s;     /* seconds until a unit is back; 0 while remaining > 0 */
};

struct rl_result {
    enum rl_error error;
    const char *error_text;          /* RL_ERR_SCRIPT: Redis's text; valid in the callback */
    const struct rl_class_conf *cls; /* the user's class */
    unsigned requested, granted;     /* granted <= requested; 0 on error */
    enum rl_limit limited_by;        /* which limit refused (RL_LIMIT_NONE if all granted) */
    int first_refusal;               /* first refusal of this user and limit in the window:
                                        raise ONE sender.rate_limited event (kept in Redis,
                                        so it holds across nodes) */
    long long retry_s;               /* of the refusing limit, >= 1 when refused */
    struct rl_quota rcpt;            /* recipients limit, always filled */
    struct rl_quota msg;             /* messages limit (limit 0 when off or not checked) */
};

/* What Redis said about one bucket (one element group of the script's reply). */
struct rl_bucket_state {
    int refused;           /* this bucket is why granted < requested */
    int first;             /* ... and that refusal is the first in the window */
    long long remaining;
    long long retry_ms;
    long long used;        /* grants in the current window */
    long long marker_ms;   /* ms until a refusal counts as "first" again */
    double tokens;         /* token bucket level */
};

struct rl;
struct rl_req;

/* Result of a request; loop thread. The handle is dead once this runs. */
typedef void (*rl_done_fn)(const struct rl_result *res, void *arg);

/* A limiter over conf (not copied) using the shared Redis client (registers the script). */
struct rl *rl_new(const struct rl_conf *conf, struct redis *redis);

/* Free the limiter; requests still pending are cancelled without callbacks. */
void rl_free(struct rl *rl);

/* RCPT TO: spend up to k recipient units for user at once (one round trip). The callback
 * runs exactly once unless cancelled; res->granted says how many RCPTs to accept. */
struct rl_req *rl_take_rcpt(struct rl *rl, const char *user, unsigned k,
                            rl_done_fn cb, void *arg);

/* MAIL FROM: refuse when the recipient quota is already exhausted (nothing spent) and,
 * when the class has messages_per_hour, spend one message unit. requested is 1. */
struct rl_req *rl_check_mail(struct rl *rl, const char *user, rl_done_fn cb, void *arg);

/* The same two, for a user sending through an endpoint (a listener) whose own class is
 * endpoint_class (NULL: none): see rl_class_for(). */
struct rl_req *rl_take_rcpt_at(struct rl *rl, const char *user, const char *endpoint_class,
                               unsigned k, rl_done_fn cb, void *arg);
struct rl_req *rl_check_mail_at(struct rl *rl, const char *user, const char *endpoint_class,
                                rl_done_fn cb, void *arg);

/* Forget a pending request: its callback never runs. NULL is ignored. */
void rl_cancel(struct rl_req *req);

/* ---- pure helpers (no I/O), also used by tests and ratelimit_admin ---- */

/* The user's class: users[] override, else default_class, else the built-in default. */
const struct rl_class_conf *rl_class_for_user(const struct rl_conf *conf, const char *user);
/* The same with the endpoint's class (listeners[].rate_class; NULL: none) between the
 * users[] override and default_class. */
const struct rl_class_conf *rl_class_for(const struct rl_conf *conf, const char *user,
                                         const char *endpoint_class);

/* The class called name (including the built-in "default"), or NULL. */
const struct rl_class_conf *rl_class_find(const struct rl_conf *conf, const char *name);

/* Bucket capacity of a class (burst, or recipients when burst is 0). */
long long rl_class_burst(const struct rl_class_conf *cls);

/* How many of k more recipients the per-message cap allows after `accepted` ones. */
unsigned rl_cap_allow(const struct rl_class_conf *cls, unsigned accepted, unsigned k);

/* Key prefix "pt:rl:{user}:CLASS", user escaped by redis_key_escape(). Caller frees. */
char *rl_key_prefix(const char *user, const char *class_name);

/* Decode the script's reply: granted and nbuckets bucket states. 0, or -1 if malformed. */
int rl_parse_reply(const struct redisReply *r, int nbuckets, long long *granted,
                   struct rl_bucket_state *b);

/* Fill res from the script's answer: rcpt bucket, and msg bucket or NULL. */
void rl_result_fill(struct rl_result *res, unsigned requested, long long granted,
                    const struct rl_bucket_state *rcpt, const struct rl_bucket_state *msg);

/* How many of the requested units the session accepts: granted, or on a Redis error all
 * (fail_mode open) or none (tempfail: answer rl_reply_tempfail to each). */
unsigned rl_accept_count(const struct rl_conf *conf, const struct rl_result *res);

/* ---- replies ---- */

enum rl_stage { RL_STAGE_MAIL, RL_STAGE_RCPT };

#define RL_REPLY_TEXT_MAX 256

/* A reply in the pipeline's shape: policy_verdict_set(v, POLICY_REFUSE, "ratelimit",
 * r.code, r.ecode, "%s", r.text). */
struct rl_reply {
    int code;                      /* 450, 451, 452 */
    const char *ecode;             /* "4.7.1", static */
    char text[RL_REPLY_TEXT_MAX];  /* no code prefix */
};

/* The refusal for a result with granted < requested at stage, e.g. 450 4.7.1
 * "Recipient rate limit exceeded for alice (60/5m); retry in 42 s". */
void rl_reply_refused(struct rl_reply *out, const struct rl_result *res, const char *user,
                      enum rl_stage stage);

/* fail_mode tempfail: 451 4.3.0 (lib/smtp_replies.h R_LOCAL_ERROR). */
void rl_reply_tempfail(struct rl_reply *out);

/* Per-message cap: 452 4.5.3 (R_TOO_MANY_RCPT) with the class's max. */
void rl_reply_cap(struct rl_reply *out, const struct rl_class_conf *cls);

/* "(quota: 37/60 left)", to append to the 250 after DATA. */
void rl_quota_text(char *buf, size_t len, const struct rl_quota *q);

/* A window as the shortest exact unit: "5m", "1h", "2s", "1500ms". */
void rl_window_text(char *buf, size_t len, long long ms);

/* ---- the script (policy/ratelimit_script.c) and admin (policy/ratelimit_admin.c) ---- */

extern const char rl_script_source[];

/* posternctl ratelimit show USER [--json]: print the user's class and, per limit, limit,
 * window, used in the current window, tokens, remaining and retry-after. Nothing is spent.
 * Returns 0, or -1 after printing the error to stderr. Blocking: admin tools only. */
int rl_admin_show(struct redisContext *c, const struct rl_conf *conf, const char *user,
                  int json, FILE *out);

/* posternctl ratelimit reset USER: delete the user's keys for every configured class.
 * Prints "USER: N keys deleted". Returns 0, or -1 after printing the error to stderr. */
int rl_admin_reset(struct redisContext *c, const struct rl_conf *conf, const char *user,
                   FILE *out);

#endif
