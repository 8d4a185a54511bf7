/*
 * engine.h - the policy engine: the one place where mail decisions are made, for inbound
 * mail (MX, backup MX) and outbound mail (submission) alike.
 *
 * Check authors: read docs/policy.md and policy/check_api.h. This header is the side the
 * SMTP session uses.
 *
 * THE MODEL
 *   Stages   CONNECT, HELO, AUTH, MAIL, RCPT, DATA (the DATA command, before 354), END
 *            (the whole message; its reply is the one after the final dot).
 *   Profile  a listener names one (profile.h): its direction and the checks it runs,
 *            with their settings, and the stage deadlines.
 *   Checks   evidence (symbols with scores: DNSBL, rDNS, spam...) or rules (hard
 *            verdicts: relay access, rate limit...). Within a stage, checks run in groups
 *            by their declared group number; the checks of one group run concurrently
 *            (all DNS lookups of a stage go out together) and a group finishes before the
 *            next starts (relay access refuses recipients before the rate limiter spends
 *            tokens for them). One deadline per stage (the profile's `deadline`,
 *            `end_deadline` for END): a check still running then is cancelled and gets
 *            NAME_TIMEOUT plus its unsure rule; checks of later groups that never started
 *            get the same.
 *   Settings each recipient's (inbound) or the sender's (submission) level, lists and
 *            switches: domain config then per-user overrides from Redis (settings.h),
 *            fetched for a whole RCPT batch in one round trip, only when the profile
 *            runs a check that scores or reads settings, through a cache of
 *            policy.user_settings_ttl.
 *   Scores   per recipient: the sum of the symbols added for it, for its transaction and
 *            for its session (each symbol once; config overrides, symbols.h).
 *   Decision per recipient, by its level (decide.h): pass, tag, mark, quarantine, wrap,
 *            discard, defer, refuse.
 *
 * WHEN REFUSALS ARE GIVEN
 *   - A refusal decided at CONNECT, HELO, AUTH or MAIL (VERDICT_REFUSE) is given to each
 *     recipient at RCPT, unless the recipient bypasses that check (postmaster@ and abuse@
 *     of served domains for CHECK_ROLE_BYPASS checks; whitelisted senders for
 *     CHECK_WHITELIST_BYPASS ones), so postmaster@ can still be reached. A check that
 *     must answer the command itself uses VERDICT_REFUSE_NOW (530 at MAIL) or
 *     VERDICT_DISCONNECT (421).
 *   - At RCPT each recipient is decided on its own: the refusals above, the RCPT checks,
 *     and its score so far: a recipient whose level would already refuse (kill score,
 *     blacklist with "refuse") is refused at RCPT, not after DATA (the earliest stage is
 *     the best one).
 *   - At DATA and END the same arithmetic runs for every accepted recipient, then the
 *     multi-recipient rule gives the one reply.
 *
 * THE MULTI-RECIPIENT RULE (END, and DATA)
 *   Refuse only what every recipient would refuse: if each accepted recipient would be
 *   refused or deferred, the reply is the refusal (a 4xx when any of them would only be
 *   deferred). Otherwise the message is accepted (250) and each recipient's disposition
 *   is applied after acceptance; never a bounce. In such a mixed message a recipient
 *   whose own decision was:
 *     - refuse because of its score (kill) or the blacklist: gets its level's spam action
 *       (mark by default: "+++SPAM+++ " Subject prefix and the X-Spam headers;
 *       quarantine or discard when the level says so; tag on submission and for
 *       header-only domains);
 *     - refuse by a check (virus found with action reject, ...): gets what that check
 *       declares (check_def.mixed), by default quarantine;
 *     - defer (a check unsure with rule defer, greylisting after DATA, pool full): gets
 *       what that check declares, by default what its score gives (pass, tag, mark ...);
 *   never less than what its score alone gives.
 *
 * OUTPUTS (all pure formatters over struct rcpt_result, see result.h)
 *   - the log line  postern/policy[PID]: QUEUEID: action=tag score=6.2/8 symbols=...
 *     (engine_log_results), spam_report.h;
 *   - the X-Spam-* header fields per recipient (spam_report.h);
 *   - the queue-file records (result_record.h), appended after the message before the
 *     commit, so the delivery side applies the same actions after a restart;
 *   - for message.rejected: the reply's check and reason, and engine_refusal_symbols().
 *
 * HOW THE SESSION USES IT (phase 2 wires relay/smtpd to this)
 *   e = engine_new(&inputs, &env, store)      once per loaded config (config_activate)
 *   s = engine_session_new(e, profile, listener, client_ip)   on accept
 *   engine_run(s, STAGE_CONNECT, cb, arg)     before the banner; engine_reply(s)
 *   engine_session_set_helo(s, h); engine_run(s, STAGE_HELO ...)      on HELO/EHLO
 *   engine_session_set_login(s, l); engine_run(s, STAGE_AUTH ...)     after AUTH success
 *   engine_tx_begin(s, sender, qid); engine_run(s, STAGE_MAIL ...)    on MAIL
 *     (engine_tx_set_queue_id(s, qid) when the queue file is made after MAIL passed)
 *   engine_rcpt_add(s, addr) for each RCPT of a pipelined batch, then
 *     engine_run(s, STAGE_RCPT ...); engine_rcpt_reply(s, i) for each (NULL: 250)
 *   engine_run(s, STAGE_DATA ...)             on DATA, before 354
 *   engine_set_message(s, &msg); engine_run(s, STAGE_END ...) after the final dot;
 *     engine_reply(s) NULL: append engine_records(s) to the queue file, commit, reply
 *     250 with engine_note(s), then engine_log_results(s, qid)
 *   engine_tx_end(s)                          RSET, after END, or a new MAIL
 *   engine_session_free(s)                    when the session ends, at any time
 * engine_run returns ENGINE_DONE when the stage is complete (cb is not called), or
 * ENGINE_PENDING: cb(arg) runs later on the loop thread, once, unless the session is
 * freed first (then never). One stage at a time per session. What the session alone
 * knows (TLS version, an early talker) it gives as facts: engine_fact_set().
 *
 * HOW relay/smtpd USES IT (phase 2, done)
 *   - config: a listener's "profile" names a profile of policy.profiles; its "tls" and
 *     "auth" keys are separate (relay/relay_conf.c resolves "auto"); postern -n refuses a
 *     profile without relay_access.
 *   - config_activate: cf->engine = engine_new() over an env the daemon owns (loop,
 *     resolver, Redis, the bounded check pool, one outage tracker, the webhook sink) plus
 *     the config parts rule checks read (env.relay, domains, auth, ratelimit), and
 *     user_store_redis_new(redis) when Redis is configured.
 *   - the session owns one engine_session (smtp_session.c) and runs each stage through
 *     smtp_engine_run(); protocol limits (size, bare LF, NUL, long lines, hop count) stay
 *     in smtpd; message.rejected takes reply->reason and engine_refusal_symbols().
 *   - session facts: smtpd.local_ip, smtpd.early_talk (input before the banner, set while
 *     CONNECT runs), smtpd.auth (the listener's auth key); at END message.from_count and
 *     message.from (the address of the only From:). A fact rdns.name set at CONNECT
 *     becomes the client name of logs, the envelope and Received:.
 *   - END accepted: when some recipient's result asks for anything, engine_records() are
 *     written after the message (spool_file_end_message fixes its size first) and
 *     committed with it.
 *   - delivery (branch apply): queue_file.c hands "policy ..." lines to
 *     result_record_parse() and applies them; posternctl policy and posternctl check.
 *
 * Threading: loop thread only. Ownership: the engine borrows its config inputs and env
 * (they outlive it); a session borrows the engine (the config reference the session
 * holds keeps it alive); everything returned by accessors is borrowed from the session
 * until the next call that changes it (engine_run, engine_tx_end, engine_session_free).
 */
#ifndef POSTERN_POLICY_ENGINE_H
#define POSTERN_POLICY_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/conf.h"
#include "policy/check_api.h"
#include "policy/engine_conf.h"
#include "policy/profile.h"
#include "policy/result.h"

struct engine;
struct engine_session;
struct engine_profile;
struct user_store;
struct symtab;

/* What the engine is built from (all borrowed). */
struct engine_inputs {
    const struct engine_conf *conf;            /* "policy" */
    const struct conf_array *domains;          /* "domains" */
    const struct domain_conf *domain_defaults; /* "domain_defaults" */
    const struct conf_strlist *local_domains;  /* relay.local_domains */
    const struct conf_strlist *backup_domains; /* relay.backup_domains */
};

/* Build the engine: symbols with overrides, compiled lists, one instance of every check
 * of every profile (their init). store: where per-user settings live (borrowed; NULL:
 * domain settings only). Returns NULL after logging why (a check's init failed). */
struct engine *engine_new(const struct engine_inputs *in, const struct engine_env *env,
                          struct user_store *store);
/* Free the engine (its check instances). Sessions must be gone. */
void engine_free(struct engine *e);

/* The profile called name, or NULL. */
const struct engine_profile *engine_profile_find(const struct engine *e, const char *name);
bool engine_profile_submission(const struct engine_profile *p);
/* Does a check of this profile need the message header in memory at END? */
bool engine_profile_needs_header(const struct engine_profile *p);

const struct symtab *engine_symbols(const struct engine *e);

/* Does a check of the session's profile run at this stage? (The session prepares what
 * only such a check needs: the message readable at END.) */
bool engine_session_runs(const struct engine_session *s, enum engine_stage stage);

/* ---- sessions ------------------------------------------------------------------------ */

struct engine_session *engine_session_new(struct engine *e, const struct engine_profile *p,
                                          const char *listener, const char *client_ip);
/* Free the session; a stage still running is cancelled: no callback after this. */
void engine_session_free(struct engine_session *s);

/* What the session learns (copied). */
void engine_session_set_client_name(struct engine_session *s, const char *name);
void engine_session_set_helo(struct engine_session *s, const char *helo);
void engine_session_set_login(struct engine_session *s, const char *login);
void engine_session_set_tls(struct engine_session *s, bool tls);

/* A transaction: sender ("" for <>) and queue ID ("" when none yet). Ends any previous. */
void engine_tx_begin(struct engine_session *s, const char *sender, const char *queue_id);
void engine_tx_end(struct engine_session *s);
/* The queue ID, once the session has one (it is the reference in refusal texts). */
void engine_tx_set_queue_id(struct engine_session *s, const char *queue_id);

/* A fact the session itself knows (TLS version, an early talker, ...), for the checks:
 * takes the reference of value; FACT_TX needs a transaction. */
void engine_fact_set(struct engine_session *s, enum fact_scope scope, const char *key,
                     struct json_t *value);

/* Add a recipient for the next RCPT stage; returns its index (0, 1, ... in the order
 * added, over the whole transaction). */
size_t engine_rcpt_add(struct engine_session *s, const char *addr);

/* END: the spooled message (borrowed until the END stage is over). */
void engine_set_message(struct engine_session *s, const struct engine_message *m);

enum engine_status { ENGINE_DONE, ENGINE_PENDING };
typedef void (*engine_done_fn)(void *arg);

/* Run the checks of a stage (see above). */
enum engine_status engine_run(struct engine_session *s, enum engine_stage stage,
                              engine_done_fn cb, void *arg);

/* ---- results ------------------------------------------------------------------------- */

#define ENGINE_TEXT_MAX 256

struct engine_reply {
    int code;                    /* 0: none */
    char ecode[12];
    char text[ENGINE_TEXT_MAX];  /* no code prefix */
    const char *check;           /* the deciding check, "policy" for the engine's own */
    const char *reason;          /* message.rejected reason: "spam", "relay", ... */
    bool disconnect;             /* close the session after replying */
};

/* The reply to the command of the last stage run (CONNECT, HELO, AUTH, MAIL, DATA, END),
 * or NULL to go on (END: accepted). Not used for RCPT. */
const struct engine_reply *engine_reply(const struct engine_session *s);

/* RCPT: recipient i's refusal, or NULL when it was accepted. */
const struct engine_reply *engine_rcpt_reply(const struct engine_session *s, size_t i);

/* Recipients accepted so far in the transaction. */
size_t engine_accepted(const struct engine_session *s);
/* Recipients given to engine_rcpt_add in the transaction (accepted or not). */
size_t engine_rcpt_count(const struct engine_session *s);

/* END, accepted: the result of the i-th accepted recipient (i < engine_accepted). */
const struct rcpt_result *engine_result(const struct engine_session *s, size_t i);

/* The queue-file records of every accepted recipient (malloc'd, "" when none). */
char *engine_records(const struct engine_session *s);

/* The message was DKIM-signed at receipt (relay/smtpd/smtp_sign.c): a signed header
 * field is never changed afterwards, so a recipient whose result marks the message
 * (DISP_MARK) gets no Subject prefix; its copy is tagged by the X-Spam-* fields instead
 * (X-Spam-Flag: YES, X-Spam-Status: Yes), which delivery adds and which are never signed
 * (dkim.sign.D.headers refuses them). Call before engine_records(). */
void engine_results_signed(struct engine_session *s);

/* Log the policy line(s) of the accepted message (one line when every recipient got the
 * same result, else one per distinct result with its recipients). */
void engine_log_results(const struct engine_session *s, const char *queue_id);

/* Text for the final 250 (" (quota: 37/60 left)"), "" when none. */
const char *engine_note(const struct engine_session *s);

/* The symbols behind a refusal, for message.rejected: {"NAME": score, ...} of recipient i
 * after RCPT, or, with ENGINE_MESSAGE after DATA or END, of the recipient whose refusal
 * answered the message. A new reference ({} when none). */
#define ENGINE_MESSAGE ((size_t)-1)
struct json_t *engine_refusal_symbols(const struct engine_session *s, size_t i);

/* Every fact of the session and the transaction (a transaction fact hides a session
 * fact of the same key), as a new object (posternctl check prints them). */
struct json_t *engine_facts(const struct engine_session *s);

/* The address of the i-th accepted recipient ("" when none). */
const char *engine_result_addr(const struct engine_session *s, size_t i);

/* The session's and transaction's fact for key (transaction first), or NULL. Borrowed. */
struct json_t *engine_fact(const struct engine_session *s, const char *key);

#endif
