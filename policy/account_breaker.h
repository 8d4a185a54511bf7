/*
 * account_breaker.h - the compromised-account breaker: one suspension mechanism for every sign
 * that a login is abused (spam or viruses refused from it, a newsletter sender's bounce
 * or complaint rate), shared by every node through Redis.
 *
 * Keys (DESIGN.md): pt:acct:{LOGIN} is a hash: suspended (0/1), reason, since (ms), and
 * strikes, a sorted set pt:acct:{LOGIN}:strikes of strike times (ms) within the window.
 * account_strike adds a strike; when `limit` strikes fall within `window` the login is
 * suspended (until an admin releases it: `posternctl account release LOGIN`). A
 * suspended login's queued mail is held by the queue runner of every node
 * (relay/queue/queue_account.c); a release sends it, a release with --drop-queued
 * (field dropped, unix ms) deletes it. A suspended login's new mail gets 450 4.7.1 (temporary: the client keeps the mail) from
 * the account check at MAIL. An account.suspended event fires once per suspension.
 * LOGIN is the canonical login (auth_login_canonical), lower-case, %-escaped in keys.
 * Threading: the async calls on the loop thread; the admin calls block (CLI only).
 */
#ifndef POSTERN_POLICY_ACCOUNT_BREAKER_H
#define POSTERN_POLICY_ACCOUNT_BREAKER_H

#include <stdbool.h>
#include <stdio.h>

#include "lib/conf.h"
#include "lib/redis.h"

struct redisContext;

/* The "account" config section: how many refusals of a login's mail as spam or virus
 * within window suspend it (the daemon counts them from message.rejected). */
struct account_conf {
    long long strikes;      /* 0: the breaker never suspends on refusals */
    long long window_ms;
    long long cache_ms;     /* how long a node trusts a login's state (account_cache.h) */
};
extern const struct conf_section account_conf_section;

/* The breaker's script, registered once with the Redis client (owned by it). */
struct redis_script *account_script(struct redis *r);

/* Add a strike for login (reason: "spam", "virus", "bounce_rate", "complaint_rate"; kept
 * when it suspends). cb is a plain Redis callback: account_reply() reads its answer.
 * Returns the request (for redis_cancel). */
struct redis_req *account_strike(struct redis *r, struct redis_script *script,
                                 const char *login, const char *reason, long long limit,
                                 long long window_ms,
                                 void (*cb)(enum redis_result, const struct redisReply *, void *),
                                 void *arg);

/* Suspend at once (a newsletter sender over its complaint rate). Same callback. */
struct redis_req *account_suspend(struct redis *r, struct redis_script *script,
                                  const char *login, const char *reason,
                                  void (*cb)(enum redis_result, const struct redisReply *,
                                             void *),
                                  void *arg);

/* In that callback: 1 when this call suspended the login, 0 when not (already suspended,
 * or not enough strikes), -1 when Redis failed. */
int account_reply(enum redis_result res, const struct redisReply *reply);

/* Admin (blocking): show prints "LOGIN suspended|active [reason=R since=T] strikes=N";
 * release lifts a suspension and forgets the strikes; with drop_queued it also tells
 * every node to delete the login's held mail instead of sending it (the hash keeps
 * suspended=0 and dropped=MS for ACCOUNT_DROP_TTL_MS: a node that is down now drops it
 * when it comes back); suspend suspends at once (an admin who knows the login is stolen;
 * reason "admin" when NULL). 0, or -1 after a message on stderr. */
#define ACCOUNT_DROP_TTL_MS (30LL * 86400000LL)
int account_admin_show(struct redisContext *c, const char *login, FILE *out);
int account_admin_release(struct redisContext *c, const char *login, bool drop_queued,
                          FILE *out);
int account_admin_suspend(struct redisContext *c, const char *login, const char *reason,
                          FILE *out);

#endif
