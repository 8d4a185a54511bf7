/*
 * engine_int.h - the engine's own structures, shared by its files and nothing else:
 *   engine.c         the engine, profiles, sessions, transactions, results for the caller
 *   engine_run.c     running a stage: settings fetch, groups, deadline, cancellation
 *   engine_decide.c  what the verdicts and scores mean for each recipient, per stage
 *   check_call.c     the check-facing API (check_api.h): what a call reads and says
 * Loop thread only.
 */
#ifndef POSTERN_POLICY_ENGINE_INT_H
#define POSTERN_POLICY_ENGINE_INT_H

#include "policy/check_api.h"
#include "policy/decide.h"
#include "policy/engine.h"
#include "policy/symbols.h"

#include <jansson.h>
#include <time.h>

struct user_cache;
struct user_cache_req;
struct settings_base;
struct event;

/* One check of one profile, with its instance state. */
struct check_inst {
    const struct check_def *def;
    const void *settings;          /* the profile's settings struct for it (config memory) */
    void *state;                   /* from def->init */
    const struct symbol *timeout;  /* NAME_TIMEOUT */
};

struct engine_profile {
    const struct profile_conf *conf;
    struct check_inst *insts;      /* sorted by group (stable: config order within one) */
    size_t ninsts;
    unsigned stages;               /* STAGE_BIT of every stage some check runs at */
    bool needs_settings;           /* a check scores or reads settings: fetch user prefs */
    bool scores;                   /* a check declares symbols: messages are "checked" */
    bool needs_header;
};

struct engine {
    struct engine_inputs in;
    struct engine_env env;
    struct symtab *symbols;
    struct settings_base *settings;
    struct engine_profile *profiles;
    size_t nprofiles;
    struct user_cache *users;      /* NULL without a store */
};

/* A symbol added for a recipient or a scope. */
struct hit {
    const struct symbol *sym;
    double weight;
    char *text;
};

struct hits {
    struct hit *v;
    size_t n, cap;
};

/* A hard verdict, or an action after acceptance. */
struct verdict {
    enum disposition disp;         /* DISP_NONE: none */
    enum disposition mixed;        /* its substitute in a mixed message */
    const struct check_def *by;    /* the deciding check (bypass flags, reason); NULL for
                                      the engine's own (spam score, blacklist, pool full) */
    struct engine_reply reply;     /* refuse/defer: what the client is told */
    char *why;                     /* actions: the short reason */
};

/* Evidence of a stage without recipients (CONNECT, HELO, AUTH: the session; MAIL: the
 * transaction), applied to each recipient at RCPT. */
struct scope {
    struct hits hits;
    struct verdict *later;         /* refusals given per recipient at RCPT */
    size_t nlater;
    const struct check_def **unsure;  /* checks that could not say */
    size_t nunsure;
};

enum rcpt_state { RCPT_PENDING, RCPT_ACCEPTED, RCPT_REFUSED };

struct eng_rcpt {
    char *addr;
    enum rcpt_state state;
    unsigned dir;                  /* DIR_* */
    struct policy_settings *settings;
    enum list_verdict listed;      /* the sender on this recipient's lists */
    bool excluded;
    struct hits hits;
    struct verdict v;              /* the most severe verdict or action so far */
    char **headers;                /* fields checks asked for */
    size_t nheaders;
    size_t accepted_idx;           /* position among the accepted ones */
};

struct engine_tx {
    char *sender;                  /* "" for <> */
    char *qid;                     /* may be "" */
    json_t *facts;
    struct scope sc;
    struct eng_rcpt *r;
    size_t n, cap;
    size_t naccepted;
    struct user_prefs *sender_prefs;    /* submission: the sender's overrides */
    bool sender_prefs_tried;
    bool sender_prefs_unavailable;
    char note[128];
    struct engine_message msg;
    bool has_msg;
    struct rcpt_result *results;   /* END, accepted: one per accepted recipient */
    size_t nresults;
    size_t reply_rcpt;             /* DATA/END refused: whose refusal is the reply */
};

struct engine_session {
    struct engine *e;
    const struct engine_profile *p;
    char *listener, *ip, *name, *helo, *login;
    bool tls;
    json_t *facts;
    struct scope sc;
    struct engine_tx *tx;
    struct stage_run *run;         /* the stage being run, or NULL */
    struct engine_reply reply;     /* the current command's reply (reply.code 0: none) */
};

struct check_job;

enum call_state { CALL_RUNNING, CALL_FINISHED, CALL_CANCELLED };

struct check_call {
    struct stage_run *run;
    const struct check_inst *inst;
    enum call_state state;
    size_t *rcpts;                 /* indices into tx->r this call is about */
    size_t nrcpts;
    void *priv;
    bool in_run;                   /* inside def->run */
    struct check_job *jobs;        /* worker jobs in flight */
    struct timespec started;       /* for postern_policy_check_duration_seconds */
};

struct stage_run {
    struct engine_session *s;
    enum engine_stage stage;
    size_t next;                   /* next check instance to consider */
    struct check_call **calls;     /* every call made in this stage (freed at its end) */
    size_t ncalls, capcalls;
    size_t running;                /* calls of the current group not finished */
    long long started_ms;          /* monotonic */
    struct event *deadline;
    struct user_cache_req *fetch;  /* user settings being read */
    struct user_prefs **prefs;     /* their answers */
    size_t *prefs_for;             /* recipient index of each */
    size_t nprefs;
    bool prefs_unavailable;
    bool walking;                  /* inside walk(): completions just count down */
    bool waited;                   /* engine_run returned ENGINE_PENDING */
    engine_done_fn cb;
    void *arg;
};

/* ---- engine.c ---- */
void hits_add(struct hits *h, const struct symbol *sym, double weight, const char *text);
void hits_clear(struct hits *h);
void verdict_clear(struct verdict *v);
/* Set *v to the more severe of v and (disp, ...); copies reply and why. */
void verdict_merge(struct verdict *v, enum disposition disp, enum disposition mixed,
                   const struct check_def *by, const struct engine_reply *reply,
                   const char *why);
void reply_set(struct engine_reply *r, const struct check_def *by, int code, const char *ecode,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- engine_decide.c ---- */
/* Does recipient ri bypass check `by` (role address, whitelisted sender)? */
bool rcpt_bypasses(const struct engine_session *s, const struct eng_rcpt *r,
                   const struct check_def *by);
/* The score recipient r has so far (session, transaction and its own symbols). */
double decide_rcpt_score(const struct engine_session *s, const struct eng_rcpt *r);
/* Before the RCPT checks: settings, lists, and what CONNECT/HELO/AUTH/MAIL left. */
void decide_rcpt_prepare(struct engine_session *s, struct stage_run *run);
/* A check was unsure for recipient r (the level's rule) or for a whole scope. */
void decide_unsure(struct engine_session *s, struct eng_rcpt *r, const struct check_def *by);
/* After the stage's checks. */
void decide_stage_end(struct engine_session *s, enum engine_stage stage);
/* The 4xx of a check that could not say (its own or the engine's). */
void unsure_reply(struct engine_reply *out, const struct engine_session *s,
                  const struct check_def *by);

/* ---- check_call.c ---- */
void check_call_free(struct check_call *c);
/* Record the call's time from its start in the check-duration histogram. */
void check_call_observe(const struct check_call *c);
/* The deadline passed for a call (already cancelled) or a check that never started:
 * NAME_TIMEOUT and the unsure rule for the recipients it was (or would have been) about. */
void check_call_timed_out(struct engine_session *s, const struct check_inst *inst,
                          const size_t *rcpts, size_t nrcpts, enum engine_stage stage);
/* Detach the call's worker jobs (the call is going away). */
void check_call_orphan_jobs(struct check_call *c);

/* ---- engine_run.c ---- */
void stage_run_cancel(struct stage_run *r);
/* A call finished (check_done): go on with the stage. */
void stage_run_call_done(struct stage_run *r);
/* Which recipients a check is about at this stage (malloc'd indices into tx->r). */
size_t stage_rcpts_for(const struct engine_session *s, enum engine_stage stage,
                       const struct check_def *def, size_t **out);

#endif
