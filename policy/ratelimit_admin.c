/*
 * ratelimit_admin.c - "posternctl ratelimit show USER [--json]" and "... reset USER".
 *
 * Blocking hiredis calls on a connection from redis_connect_blocking(): for the admin
 * CLI only, never on the daemon's loop. show runs the limiter's own script in read-only
 * mode ("show"), so it reports exactly what the next take would see and spends nothing.
 * Output of show (text):
 *   user alice class default
 *   recipients limit=60 window=5m used=12 remaining=48 tokens=48.000 retry_after=0s notice_quiet=0s
 *   messages off
 * notice_quiet is how long a new refusal will not raise another sender.rate_limited event.
 * With --json one object: {"user","class","recipients":{...},"messages":{...}|null} with
 * limit, window_s, used, remaining, tokens, retry_after_s, notice_quiet_s.
 * Threading: the calling thread (a CLI's main).
 */
#include "policy/ratelimit.h"

#include "lib/errout.h"
#include "lib/xalloc.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define RL_ADMIN_NUM_MAX 24
#define RL_ADMIN_WINDOW_MAX 32
#define RL_ADMIN_SHOW_KEYS 4      /* two buckets, two keys each */
#define RL_ADMIN_SHOW_ARGS 16     /* 3 fixed + 2 x (limit, window, burst, role) + spare */
#define RL_ADMIN_KEYS_PER_CLASS 4
#define RL_MS_PER_S 1000
#define RL_ADMIN_REAL_DIGITS 6    /* significant digits of "tokens" in JSON */

struct rl_admin_limit {
    const char *name;            /* "recipients", "messages" */
    long long limit, window_ms, burst;
};

struct rl_admin_call {
    const char *argv[3 + RL_ADMIN_SHOW_KEYS + RL_ADMIN_SHOW_ARGS];
    char *own[RL_ADMIN_SHOW_KEYS];
    char num[RL_ADMIN_SHOW_ARGS][RL_ADMIN_NUM_MAX];
    int argc, nkeys, nnum;
};

static const char *rl_admin_num(struct rl_admin_call *c, long long v)
{
    snprintf(c->num[c->nnum], RL_ADMIN_NUM_MAX, "%lld", v);
    return c->num[c->nnum++];
}

/* EVAL script 2*nb keys... "" 0 show per-bucket args... */
static redisReply *rl_admin_eval(redisContext *rc, const char *prefix,
                                 const struct rl_admin_limit *lim, int nb)
{
    struct rl_admin_call c = { .argc = 0 };
    const char *suffix[] = { "", RL_MSG_SUFFIX };
    redisReply *reply;
    int i;

    c.argv[c.argc++] = "EVAL";
    c.argv[c.argc++] = rl_script_source;
    c.argv[c.argc++] = rl_admin_num(&c, 2LL * nb);
    for (i = 0; i < nb; i++) {
        c.own[c.nkeys++] = xasprintf("%s%s", prefix, suffix[i]);
        c.own[c.nkeys++] = xasprintf("%s%s%s", prefix, suffix[i], RL_LOG_SUFFIX);
    }
    for (i = 0; i < c.nkeys; i++)
        c.argv[c.argc++] = c.own[i];
    c.argv[c.argc++] = "";          /* now: Redis's clock */
    c.argv[c.argc++] = "0";         /* k: nothing wanted */
    c.argv[c.argc++] = "show";      /* read only */
    for (i = 0; i < nb; i++) {
        c.argv[c.argc++] = rl_admin_num(&c, lim[i].limit);
        c.argv[c.argc++] = rl_admin_num(&c, lim[i].window_ms);
        c.argv[c.argc++] = rl_admin_num(&c, lim[i].burst);
        c.argv[c.argc++] = "spend";
    }
    reply = redisCommandArgv(rc, c.argc, c.argv, NULL);
    for (i = 0; i < c.nkeys; i++)
        free(c.own[i]);
    return reply;
}

static long long rl_admin_s(long long ms)
{
    return (ms + RL_MS_PER_S - 1) / RL_MS_PER_S;
}

static void rl_admin_print_text(FILE *out, const struct rl_admin_limit *l,
                                const struct rl_bucket_state *b)
{
    char win[RL_ADMIN_WINDOW_MAX];

    rl_window_text(win, sizeof(win), l->window_ms);
    fprintf(out, "%s limit=%lld window=%s used=%lld remaining=%lld tokens=%.3f "
            "retry_after=%llds notice_quiet=%llds\n", l->name, l->limit, win, b->used,
            b->remaining, b->tokens, rl_admin_s(b->retry_ms), rl_admin_s(b->marker_ms));
}

static json_t *rl_admin_json(const struct rl_admin_limit *l, const struct rl_bucket_state *b)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:f, s:I, s:I}",
                     "limit", (json_int_t)l->limit,
                     "window_s", (json_int_t)(l->window_ms / RL_MS_PER_S),
                     "used", (json_int_t)b->used, "remaining", (json_int_t)b->remaining,
                     "tokens", b->tokens,
                     "retry_after_s", (json_int_t)rl_admin_s(b->retry_ms),
                     "notice_quiet_s", (json_int_t)rl_admin_s(b->marker_ms));
}

static int rl_admin_print(FILE *out, int json, const char *user,
                           const struct rl_class_conf *cls, const struct rl_admin_limit *lim,
                           const struct rl_bucket_state *b, int nb)
{
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:o, s:o}", "user", user, "class", cls->name,
                              "recipients", rl_admin_json(&lim[0], &b[0]),
                              "messages", nb > 1 ? rl_admin_json(&lim[1], &b[1])
                                                 : json_null());
        if (o == NULL)
            return -1;  /* the login is not valid UTF-8 */
        json_dumpf(o, out, JSON_COMPACT | JSON_REAL_PRECISION(RL_ADMIN_REAL_DIGITS));
        fputc('\n', out);
        json_decref(o);
        return 0;
    }
    fprintf(out, "user %s class %s\n", user, cls->name);
    rl_admin_print_text(out, &lim[0], &b[0]);
    if (nb > 1)
        rl_admin_print_text(out, &lim[1], &b[1]);
    else
        fprintf(out, "messages off\n");
    return 0;
}

int rl_admin_show(struct redisContext *rc, const struct rl_conf *conf, const char *user,
                  int json, FILE *out)
{
    const struct rl_class_conf *cls = rl_class_for_user(conf, user);
    struct rl_admin_limit lim[] = {
        { "recipients", cls->recipients, cls->window_ms, rl_class_burst(cls) },
        { "messages", cls->messages_per_hour, RL_MSG_WINDOW_MS, cls->messages_per_hour },
    };
    int nb = cls->messages_per_hour > 0 ? 2 : 1;
    struct rl_bucket_state b[2];
    char *prefix = rl_key_prefix(user, cls->name);
    redisReply *reply = rl_admin_eval(rc, prefix, lim, nb);
    long long granted;
    int rc_ok = -1;

    free(prefix);
    if (reply == NULL)
        fprintf(errout(), "ratelimit show: redis: %s\n", rc->errstr);
    else if (reply->type == REDIS_REPLY_ERROR)
        fprintf(errout(), "ratelimit show: redis: %s\n", reply->str);
    else if (rl_parse_reply(reply, nb, &granted, b) < 0)
        fprintf(errout(), "ratelimit show: unexpected reply from Redis\n");
    else if (rl_admin_print(out, json, user, cls, lim, b, nb) < 0)
        fprintf(errout(), "ratelimit show: the login is not valid UTF-8 (try without --json)\n");
    else
        rc_ok = 0;
    freeReplyObject(reply);
    return rc_ok;
}

/* Delete the four keys of user in one class; adds the number deleted to *n. */
static int rl_admin_del_class(redisContext *rc, const char *user, const char *class_name,
                              long long *n)
{
    char *prefix = rl_key_prefix(user, class_name);
    char *keys[RL_ADMIN_KEYS_PER_CLASS] = {
        xasprintf("%s", prefix), xasprintf("%s%s", prefix, RL_LOG_SUFFIX),
        xasprintf("%s%s", prefix, RL_MSG_SUFFIX),
        xasprintf("%s%s%s", prefix, RL_MSG_SUFFIX, RL_LOG_SUFFIX),
    };
    const char *argv[1 + RL_ADMIN_KEYS_PER_CLASS] = { "DEL" };
    redisReply *reply;
    int i, ok = -1;

    for (i = 0; i < RL_ADMIN_KEYS_PER_CLASS; i++)
        argv[1 + i] = keys[i];
    reply = redisCommandArgv(rc, 1 + RL_ADMIN_KEYS_PER_CLASS, argv, NULL);
    if (reply == NULL)
        fprintf(errout(), "ratelimit reset: redis: %s\n", rc->errstr);
    else if (reply->type != REDIS_REPLY_INTEGER)
        fprintf(errout(), "ratelimit reset: redis: %s\n",
                reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    else {
        *n += reply->integer;
        ok = 0;
    }
    freeReplyObject(reply);
    for (i = 0; i < RL_ADMIN_KEYS_PER_CLASS; i++)
        free(keys[i]);
    free(prefix);
    return ok;
}

int rl_admin_reset(struct redisContext *rc, const struct rl_conf *conf, const char *user,
                   FILE *out)
{
    const struct rl_class_conf *c = conf->classes.items;
    long long n = 0;
    size_t i;

    int builtin = 1;   /* the built-in "default" is in use unless a class replaces it */

    for (i = 0; i < conf->classes.n; i++) {
        if (strcmp(c[i].name, RL_DEFAULT_CLASS) == 0)
            builtin = 0;
        if (rl_admin_del_class(rc, user, c[i].name, &n) < 0)
            return -1;
    }
    if (builtin && rl_admin_del_class(rc, user, RL_DEFAULT_CLASS, &n) < 0)
        return -1;
    fprintf(out, "%s: %lld keys deleted\n", user, n);
    return 0;
}
