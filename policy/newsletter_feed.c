/*
 * newsletter_feed.c - a newsletter recipient's hard bounce or complaint: suppression,
 * sender health, the breaker (see newsletter_feed.h).
 */
#include "policy/newsletter_feed.h"

#include "lib/log.h"
#include "lib/redis.h"
#include "lib/xalloc.h"
#include "policy/account_breaker.h"
#include "policy/profile.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* KEYS[1] pt:health:{L}; ARGV field, count, window, min, max bounce, max complaint.
 * Returns "" or the reason to suspend ("bounce_rate", "complaint_rate"). */
static const char health_lua[] =
    "local n = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])\n"
    "if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end\n"
    "local v = redis.call('HMGET', KEYS[1], 'sent', 'bounced', 'complained')\n"
    "local sent = tonumber(v[1] or '0')\n"
    "if sent < tonumber(ARGV[4]) then return '' end\n"
    "if tonumber(v[3] or '0') / sent > tonumber(ARGV[6]) then return 'complaint_rate' end\n"
    "if tonumber(v[2] or '0') / sent > tonumber(ARGV[5]) then return 'bounce_rate' end\n"
    "return ''\n";

struct nl_feed {
    struct redis *r;
    struct redis_req *req;
    char *login;
    char why[32];
    nl_feed_fn done;
    void *arg;
};

const struct nl_settings *nl_settings_of(const struct conf_array *profiles,
                                         const char *profile)
{
    const struct profile_conf *p = profile_find(profiles, profile);
    const struct conf_named *c;
    size_t i;

    if (p == NULL)
        return NULL;
    c = p->checks.items;
    for (i = 0; i < p->checks.n; i++)
        if (strcmp(c[i].name, "newsletter") == 0)
            return c[i].obj;
    return NULL;
}

struct redis_script *nl_health_script(struct redis *r)
{
    return redis_script_new(r, health_lua);
}

static char *tagged(const char *prefix, const char *name)
{
    char *tag = redis_key_escape(name);
    char *key = xasprintf("%s{%s}", prefix, tag);

    free(tag);
    return key;
}

/* The health script for field (sent, bounced, complained) += n. */
static struct redis_req *health(struct redis *r, const struct nl_settings *ns,
                                const char *login, const char *field, unsigned long n,
                                redis_reply_fn cb, void *arg)
{
    char *key = tagged("pt:health:", login), cnt[24], win[24], mn[24], mb[32], mc[32];
    const char *keys[1] = { key }, *args[6] = { field, cnt, win, mn, mb, mc };
    struct redis_req *req;

    snprintf(cnt, sizeof(cnt), "%lu", n);
    snprintf(win, sizeof(win), "%lld", ns->health_window_ms);
    snprintf(mn, sizeof(mn), "%lld", ns->min_messages);
    snprintf(mb, sizeof(mb), "%.6f", ns->max_bounce_rate);
    snprintf(mc, sizeof(mc), "%.6f", ns->max_complaint_rate);
    req = redis_script_call(r, nl_health_script(r), 1, keys, 6, args, cb, arg);
    free(key);
    return req;
}

void nl_feed_sent(struct redis *r, const struct nl_settings *ns, const char *login,
                  unsigned long n)
{
    health(r, ns, login, "sent", n, redis_reply_ignore, NULL);
}

static void feed_end(struct nl_feed *f, const char *reason)
{
    f->done(f->arg, reason);
    free(f->login);
    free(f);
}

static void on_suspended(enum redis_result res, const redisReply *reply, void *arg)
{
    struct nl_feed *f = arg;

    f->req = NULL;
    if (account_reply(res, reply) == 1) {
        log_warn("newsletter", "login %s suspended: %s over the limit", f->login, f->why);
        feed_end(f, f->why);
        return;
    }
    feed_end(f, NULL);
}

static void on_health(enum redis_result res, const redisReply *reply, void *arg)
{
    struct nl_feed *f = arg;

    f->req = NULL;
    if (res == REDIS_RESULT_OK && reply->type == REDIS_REPLY_STRING && reply->str[0] != '\0') {
        snprintf(f->why, sizeof(f->why), "%s", reply->str);
        f->req = account_suspend(f->r, account_script(f->r), f->login, f->why, on_suspended,
                                 f);
        return;
    }
    feed_end(f, NULL);
}

struct nl_feed *nl_feed_start(struct redis *r, const struct nl_settings *ns,
                              const char *login, const char *rcpt, bool complaint,
                              nl_feed_fn done, void *arg)
{
    struct nl_feed *f = xcalloc(1, sizeof(*f));
    long long ttl = complaint ? ns->complaint_ttl_ms : ns->hard_ttl_ms, until = 0;
    char *key = tagged("pt:sup:", login), *member = redis_key_escape(rcpt), *val;
    const char *argv[4];
    struct timespec ts;

    f->r = r;
    f->login = xstrdup(login);
    f->done = done;
    f->arg = arg;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ttl > 0)
        until = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ttl;
    val = xasprintf("%s:%lld", complaint ? "complaint" : "hard", until);
    argv[0] = "HSET";
    argv[1] = key;
    argv[2] = member;
    argv[3] = val;
    redis_command_argv(r, 4, argv, NULL, redis_reply_ignore, NULL);
    free(val);
    free(member);
    free(key);
    f->req = health(r, ns, login, complaint ? "complained" : "bounced", 1, on_health, f);
    return f;
}

void nl_feed_cancel(struct nl_feed *f)
{
    if (f == NULL)
        return;
    if (f->req != NULL)
        redis_cancel(f->req);
    free(f->login);
    free(f);
}

json_t *nl_feed_event(const char *login, const char *rcpt, const char *queue_id,
                      const char *type, const char *status, const char *diagnostic)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "login", login, "recipient", rcpt,
                     "original_queue_id", queue_id ? queue_id : "", "type", type, "status",
                     status ? status : "", "diagnostic", diagnostic ? diagnostic : "");
}

json_t *nl_feed_suspended_event(const char *login, const char *reason)
{
    return json_pack("{s:s, s:s, s:s}", "login", login, "reason", reason, "evidence",
                     "newsletter sender health over the limit");
}
