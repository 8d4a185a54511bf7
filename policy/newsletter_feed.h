/*
 * newsletter_feed.h - what a newsletter recipient's hard bounce or complaint does, wherever
 * it is learned: a DSN or ARF report sent back to its bounce address (the newsletter
 * check's intake, policy/checks/check_newsletter.c), or a permanent (5xx) reply to its
 * VERP copy at delivery (the queue runner, relay/queue/queue_verp.c). One mechanism, so
 * both count alike:
 *   - the address goes on the login's suppression list, pt:sup:{LOGIN} (hard bounce:
 *     hard_bounce_ttl, complaint: complaint_ttl; 0 = never expires);
 *   - the login's health counter (pt:health:{LOGIN}, over health_window) counts it, and
 *     when the bounce or complaint rate is over the limit (once min_messages were sent)
 *     the login is suspended through the compromised-account breaker
 *     (policy/account_breaker.h).
 * The caller raises recipient.bounced / recipient.complained (nl_feed_event) and, when the
 * feed says it suspended the login, account.suspended.
 * Threading: loop thread; Redis is asynchronous.
 */
#ifndef POSTERN_POLICY_NEWSLETTER_FEED_H
#define POSTERN_POLICY_NEWSLETTER_FEED_H

#include <stdbool.h>

#include "lib/conf.h"

struct redis;
struct json_t;
struct nl_feed;

/* The newsletter check's settings (its keys are declared in check_newsletter.c). */
struct nl_settings {
    char *bounce_domain;
    char *token_key;
    char *dkim_domain;
    long long max_recipients;
    int recipients_rule, unsubscribe_rule, alignment_rule, auto_submitted_rule;
    long long hard_ttl_ms, complaint_ttl_ms;
    long long health_window_ms, min_messages;
    double max_bounce_rate, max_complaint_rate;
};

/* The newsletter check's settings in the profile called profile (a listener's) of profiles (struct profile_conf, policy/profile.h), or NULL
 * when that profile does not run it. */
const struct nl_settings *nl_settings_of(const struct conf_array *profiles,
                                         const char *profile);

/* The health counter script (registered with r once; the same object every call). */
struct redis_script *nl_health_script(struct redis *r);

/* Count n messages sent by login (the health counter). Fire and forget. */
void nl_feed_sent(struct redis *r, const struct nl_settings *ns, const char *login,
                  unsigned long n);

/* done(arg, reason): the feed is over; reason is the breaker's reason ("bounce_rate",
 * "complaint_rate") when this feed suspended the login, else NULL. Loop thread. */
typedef void (*nl_feed_fn)(void *arg, const char *reason);

/* Suppress rcpt for login (complaint or hard bounce) and count it; done runs once, later.
 * The handle is valid until done runs; nl_feed_cancel stops it (done never runs). */
struct nl_feed *nl_feed_start(struct redis *r, const struct nl_settings *ns,
                              const char *login, const char *rcpt, bool complaint,
                              nl_feed_fn done, void *arg);
void nl_feed_cancel(struct nl_feed *f);

/* The data of recipient.bounced / recipient.complained (a new reference). */
struct json_t *nl_feed_event(const char *login, const char *rcpt, const char *queue_id,
                             const char *type, const char *status, const char *diagnostic);

/* The data of account.suspended when a feed suspended login. */
struct json_t *nl_feed_suspended_event(const char *login, const char *reason);

#endif
