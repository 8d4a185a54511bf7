/*
 * ratelimit.c - per-user recipient and message limits in Redis (see ratelimit.h).
 *
 * Each request builds the keys and arguments of one call of the script in
 * ratelimit_script.c, sends it through the shared lib/redis client, and turns the answer
 * into a struct rl_result with the pure rl_result_fill(). The class lookup, the per-message
 * cap and the reply texts are pure functions here too, so they are unit-tested without Redis.
 * A request handle wraps the Redis request, so rl_cancel() guarantees no callback.
 * Threading: loop thread only.
 */
#include "policy/ratelimit.h"

#include "lib/log.h"
#include "lib/redis.h"
#include "lib/smtp_replies.h"
#include "lib/xalloc.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RL_LOG "ratelimit"
#define RL_KEY_PREFIX "pt:rl:"
#define RL_MAX_BUCKETS 2        /* recipients, messages */
#define RL_ARGS_PER_BUCKET 4    /* limit, window, burst, role */
#define RL_FIXED_ARGS 3         /* now, k, op */
#define RL_REPLY_PER_BUCKET 7   /* see the script's header */
#define RL_NUM_MAX 24           /* a decimal long long */
#define RL_USER_TEXT_MAX 128    /* a login quoted in a reply */
#define RL_WINDOW_TEXT_MAX 32
#define RL_MS_PER_S 1000
#define RL_S_PER_MIN 60
#define RL_S_PER_HOUR 3600

/* Rate-limit replies, in the shape of lib/smtp_replies.h (code, enhanced code, format),
 * texts from shared/research/ecosystem.md appendix A. Never 5xx: a list would bounce. */
#define RL_R_MAIL_RCPT 450, "4.7.1", \
    "Sending quota exceeded for %s: %lld recipients per %s; retry in %lld s"
#define RL_R_MAIL_MSG  450, "4.7.1", \
    "Message rate limit exceeded for %s: %lld messages per %s; retry in %lld s"
#define RL_R_RCPT      450, "4.7.1", \
    "Recipient rate limit exceeded for %s (%lld/%s); retry in %lld s"

static const struct rl_class_conf rl_builtin_default = {
    .name = RL_DEFAULT_CLASS,
    .recipients = RL_DEF_RECIPIENTS,
    .window_ms = RL_DEF_WINDOW_S * RL_MS_PER_S,
    .max_recipients_per_message = RL_DEF_MAX_RCPT_PER_MSG,
};

struct rl {
    const struct rl_conf *conf;
    struct redis *redis;
    const struct redis_script *script;
    struct rl_req *reqs;             /* pending requests, for rl_free */
};

struct rl_req {
    struct rl *rl;
    struct rl_req *prev, *next;
    struct redis_req *rreq;
    rl_done_fn cb;
    void *arg;
    const struct rl_class_conf *cls;
    unsigned k;
    int nbuckets;                    /* 1: recipients; 2: recipients and messages */
};

/* ---- pure helpers ---- */

const struct rl_class_conf *rl_class_find(const struct rl_conf *conf, const char *name)
{
    const struct rl_class_conf *c = conf->classes.items;
    size_t i;

    for (i = 0; i < conf->classes.n; i++)
        if (strcmp(c[i].name, name) == 0)
            return &c[i];
    return strcmp(name, RL_DEFAULT_CLASS) == 0 ? &rl_builtin_default : NULL;
}

const struct rl_class_conf *rl_class_for_user(const struct rl_conf *conf, const char *user)
{
    return rl_class_for(conf, user, NULL);
}

const struct rl_class_conf *rl_class_for(const struct rl_conf *conf, const char *user,
                                         const char *endpoint_class)
{
    const struct rl_user_conf *u = conf->users.items;
    const struct rl_class_conf *c = NULL;
    size_t i;

    for (i = 0; i < conf->users.n && c == NULL; i++)
        if (strcasecmp(u[i].name, user) == 0)
            c = rl_class_find(conf, u[i].class_name);
    if (c == NULL && endpoint_class != NULL)
        c = rl_class_find(conf, endpoint_class);
    if (c == NULL && conf->default_class != NULL)
        c = rl_class_find(conf, conf->default_class);
    return c ? c : &rl_builtin_default;
}

long long rl_class_burst(const struct rl_class_conf *cls)
{
    return cls->burst > 0 && cls->burst < cls->recipients ? cls->burst : cls->recipients;
}

unsigned rl_cap_allow(const struct rl_class_conf *cls, unsigned accepted, unsigned k)
{
    long long cap = cls->max_recipients_per_message;

    if (cap <= 0)
        return k;
    if ((long long)accepted >= cap)
        return 0;
    return cap - accepted < (long long)k ? (unsigned)(cap - accepted) : k;
}

char *rl_key_prefix(const char *user, const char *class_name)
{
    char *tag = redis_key_escape(user);
    char *key = xasprintf("%s{%s}:%s", RL_KEY_PREFIX, tag, class_name);

    free(tag);
    return key;
}

static long long rl_ms_to_s_up(long long ms)
{
    return (ms + RL_MS_PER_S - 1) / RL_MS_PER_S;
}

static void rl_quota_fill(struct rl_quota *q, const struct rl_bucket_state *b)
{
    q->remaining = b->remaining;
    q->retry_s = b->remaining > 0 ? 0 : rl_ms_to_s_up(b->retry_ms);
}

void rl_result_fill(struct rl_result *res, unsigned requested, long long granted,
                    const struct rl_bucket_state *rcpt, const struct rl_bucket_state *msg)
{
    int msg_refused = msg != NULL && msg->refused;
    long long retry_ms = 0;

    res->requested = requested;
    res->granted = granted < 0 ? 0 : granted > requested ? requested : (unsigned)granted;
    rl_quota_fill(&res->rcpt, rcpt);
    if (msg != NULL)
        rl_quota_fill(&res->msg, msg);
    res->limited_by = RL_LIMIT_NONE;
    res->first_refusal = 0;
    res->retry_s = 0;
    if (res->granted == requested)
        return;
    /* The recipients limit is named first; the script always names one. */
    res->limited_by = msg_refused && !rcpt->refused ? RL_LIMIT_MESSAGES
                                                    : RL_LIMIT_RECIPIENTS;
    if (rcpt->refused)
        retry_ms = rcpt->retry_ms;
    if (msg_refused && msg->retry_ms > retry_ms)
        retry_ms = msg->retry_ms;
    res->first_refusal = (rcpt->refused && rcpt->first) || (msg_refused && msg->first);
    res->retry_s = rl_ms_to_s_up(retry_ms);
    if (res->retry_s < 1)
        res->retry_s = 1;  /* refused: never "retry in 0 s" */
}

unsigned rl_accept_count(const struct rl_conf *conf, const struct rl_result *res)
{
    if (res->error == RL_OK)
        return res->granted;
    return conf->fail_mode == RL_FAIL_OPEN ? res->requested : 0;
}

/* ---- replies ---- */

void rl_window_text(char *buf, size_t len, long long ms)
{
    long long s = ms / RL_MS_PER_S;

    if (ms % RL_MS_PER_S != 0 || ms == 0)
        snprintf(buf, len, "%lldms", ms);
    else if (s % RL_S_PER_HOUR == 0)
        snprintf(buf, len, "%lldh", s / RL_S_PER_HOUR);
    else if (s % RL_S_PER_MIN == 0)
        snprintf(buf, len, "%lldm", s / RL_S_PER_MIN);
    else
        snprintf(buf, len, "%llds", s);
}

static void rl_reply_set(struct rl_reply *out, int code, const char *ecode,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void rl_reply_set(struct rl_reply *out, int code, const char *ecode,
                         const char *fmt, ...)
{
    va_list ap;

    out->code = code;
    out->ecode = ecode;
    va_start(ap, fmt);
    vsnprintf(out->text, sizeof(out->text), fmt, ap);
    va_end(ap);
}

void rl_reply_refused(struct rl_reply *out, const struct rl_result *res, const char *user,
                      enum rl_stage stage)
{
    char who[RL_USER_TEXT_MAX], win[RL_WINDOW_TEXT_MAX];
    const struct rl_quota *q = res->limited_by == RL_LIMIT_MESSAGES ? &res->msg : &res->rcpt;

    log_sanitize(who, sizeof(who), user, strlen(user));
    rl_window_text(win, sizeof(win), q->window_ms);
    if (stage == RL_STAGE_RCPT)
        rl_reply_set(out, RL_R_RCPT, who, q->limit, win, res->retry_s);
    else if (res->limited_by == RL_LIMIT_MESSAGES)
        rl_reply_set(out, RL_R_MAIL_MSG, who, q->limit, win, res->retry_s);
    else
        rl_reply_set(out, RL_R_MAIL_RCPT, who, q->limit, win, res->retry_s);
}

void rl_reply_tempfail(struct rl_reply *out)
{
    rl_reply_set(out, R_LOCAL_ERROR);
}

void rl_reply_cap(struct rl_reply *out, const struct rl_class_conf *cls)
{
    rl_reply_set(out, R_TOO_MANY_RCPT, cls->max_recipients_per_message);
}

void rl_quota_text(char *buf, size_t len, const struct rl_quota *q)
{
    snprintf(buf, len, "(quota: %lld/%lld left)", q->remaining, q->limit);
}

/* ---- requests ---- */

struct rl *rl_new(const struct rl_conf *conf, struct redis *redis)
{
    struct rl *rl = xcalloc(1, sizeof(*rl));

    rl->conf = conf;
    rl->redis = redis;
    rl->script = redis_script_new(redis, rl_script_source);
    return rl;
}

static void rl_req_free(struct rl_req *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        q->rl->reqs = q->next;
    if (q->next)
        q->next->prev = q->prev;
    free(q);
}

void rl_cancel(struct rl_req *q)
{
    if (q == NULL)
        return;
    redis_cancel(q->rreq);
    rl_req_free(q);
}

void rl_free(struct rl *rl)
{
    if (rl == NULL)
        return;
    while (rl->reqs != NULL)
        rl_cancel(rl->reqs);
    free(rl);
}

static int rl_reply_num(const redisReply *e, long long *out)
{
    char *end;

    if (e->type == REDIS_REPLY_INTEGER) {
        *out = e->integer;
        return 0;
    }
    if (e->type != REDIS_REPLY_STRING)
        return -1;
    *out = strtoll(e->str, &end, 10);
    return *end == '\0' || *end == '.' ? 0 : -1;
}

/* One bucket's group of the script's reply, starting at element `at`. */
static int rl_parse_bucket(const redisReply *r, size_t at, struct rl_bucket_state *b)
{
    long long v[RL_REPLY_PER_BUCKET - 1];
    const redisReply *tok = r->element[at + RL_REPLY_PER_BUCKET - 1];
    size_t i;

    for (i = 0; i < RL_REPLY_PER_BUCKET - 1; i++)
        if (rl_reply_num(r->element[at + i], &v[i]) < 0)
            return -1;
    if (tok->type != REDIS_REPLY_STRING)
        return -1;
    b->refused = v[0] != 0;
    b->first = v[1] != 0;
    b->remaining = v[2];
    b->retry_ms = v[3];
    b->used = v[4];
    b->marker_ms = v[5];
    b->tokens = strtod(tok->str, NULL);
    return 0;
}

int rl_parse_reply(const struct redisReply *r, int nbuckets, long long *granted,
                   struct rl_bucket_state *b)
{
    int i;

    if (r->type != REDIS_REPLY_ARRAY ||
        r->elements != 1 + (size_t)nbuckets * RL_REPLY_PER_BUCKET ||
        rl_reply_num(r->element[0], granted) < 0)
        return -1;
    for (i = 0; i < nbuckets; i++)
        if (rl_parse_bucket(r, 1 + (size_t)i * RL_REPLY_PER_BUCKET, &b[i]) < 0)
            return -1;
    return 0;
}

static enum rl_error rl_error_of(enum redis_result res)
{
    switch (res) {
    case REDIS_RESULT_OK:
        return RL_OK;
    case REDIS_RESULT_TIMEOUT:
        return RL_ERR_TIMEOUT;
    case REDIS_RESULT_DOWN:
        return RL_ERR_DOWN;
    default:
        return RL_ERR_SCRIPT;
    }
}

/* Redis answered (or failed) a take. Loop thread. */
static void rl_take_done(enum redis_result rres, const redisReply *reply, void *arg)
{
    struct rl_req *q = arg;
    struct rl_result res = { .cls = q->cls, .requested = q->k };
    struct rl_bucket_state b[RL_MAX_BUCKETS];
    long long granted = 0;

    res.rcpt.limit = q->cls->recipients;
    res.rcpt.window_ms = q->cls->window_ms;
    if (q->nbuckets > 1) {
        res.msg.limit = q->cls->messages_per_hour;
        res.msg.window_ms = RL_MSG_WINDOW_MS;
    }
    res.error = rl_error_of(rres);
    if (rres == REDIS_RESULT_REPLY_ERROR)
        res.error_text = reply->str;
    else if (rres == REDIS_RESULT_OK && rl_parse_reply(reply, q->nbuckets, &granted, b) < 0) {
        res.error = RL_ERR_SCRIPT;
        res.error_text = "unexpected reply from the rate-limit script";
    }
    if (res.error == RL_OK)
        rl_result_fill(&res, q->k, granted, &b[0], q->nbuckets > 1 ? &b[1] : NULL);
    else if (res.error == RL_ERR_SCRIPT)
        log_error(RL_LOG, "class %s: %s", q->cls->name, res.error_text);
    q->rreq = NULL;
    q->cb(&res, q->arg);
    rl_req_free(q);
}

/* The keys and arguments of one bucket. */
struct rl_call {
    const char *keys[2 * RL_MAX_BUCKETS];
    const char *args[RL_FIXED_ARGS + RL_ARGS_PER_BUCKET * RL_MAX_BUCKETS];
    char num[RL_MAX_BUCKETS][3][RL_NUM_MAX];
    char *own[2 * RL_MAX_BUCKETS];
    int nkeys, nargs;
};

static void rl_call_bucket(struct rl_call *c, const char *prefix, const char *suffix,
                           long long limit, long long window_ms, long long burst,
                           const char *role)
{
    int b = c->nkeys / 2;

    c->own[c->nkeys] = xasprintf("%s%s", prefix, suffix);
    c->keys[c->nkeys] = c->own[c->nkeys];
    c->nkeys++;
    c->own[c->nkeys] = xasprintf("%s%s%s", prefix, suffix, RL_LOG_SUFFIX);
    c->keys[c->nkeys] = c->own[c->nkeys];
    c->nkeys++;
    snprintf(c->num[b][0], RL_NUM_MAX, "%lld", limit);
    snprintf(c->num[b][1], RL_NUM_MAX, "%lld", window_ms);
    snprintf(c->num[b][2], RL_NUM_MAX, "%lld", burst);
    c->args[c->nargs++] = c->num[b][0];
    c->args[c->nargs++] = c->num[b][1];
    c->args[c->nargs++] = c->num[b][2];
    c->args[c->nargs++] = role;
}

/* Start one script call for user: recipients bucket as rcpt_role, messages bucket too
 * when with_msg. */
static struct rl_req *rl_start(struct rl *rl, const char *user,
                               const struct rl_class_conf *cls, unsigned k,
                               const char *rcpt_role, int with_msg, rl_done_fn cb, void *arg)
{
    struct rl_req *q = xcalloc(1, sizeof(*q));
    struct rl_call c = { .nkeys = 0 };
    char kbuf[RL_NUM_MAX];
    char *prefix;
    int i;

    q->rl = rl;
    q->cb = cb;
    q->arg = arg;
    q->k = k;
    q->cls = cls;
    q->nbuckets = with_msg ? 2 : 1;
    snprintf(kbuf, sizeof(kbuf), "%u", k);
    c.args[c.nargs++] = "";        /* now: Redis's clock */
    c.args[c.nargs++] = kbuf;
    c.args[c.nargs++] = "take";
    prefix = rl_key_prefix(user, q->cls->name);
    rl_call_bucket(&c, prefix, "", q->cls->recipients, q->cls->window_ms,
                   rl_class_burst(q->cls), rcpt_role);
    if (with_msg)
        rl_call_bucket(&c, prefix, RL_MSG_SUFFIX, q->cls->messages_per_hour,
                       RL_MSG_WINDOW_MS, q->cls->messages_per_hour, "spend");
    free(prefix);
    q->next = rl->reqs;
    if (rl->reqs)
        rl->reqs->prev = q;
    rl->reqs = q;
    q->rreq = redis_script_call(rl->redis, rl->script, c.nkeys, c.keys, c.nargs, c.args,
                                rl_take_done, q);
    for (i = 0; i < c.nkeys; i++)
        free(c.own[i]);
    return q;
}

struct rl_req *rl_take_rcpt_at(struct rl *rl, const char *user, const char *endpoint_class,
                               unsigned k, rl_done_fn cb, void *arg)
{
    return rl_start(rl, user, rl_class_for(rl->conf, user, endpoint_class), k, "spend", 0, cb,
                    arg);
}

struct rl_req *rl_check_mail_at(struct rl *rl, const char *user, const char *endpoint_class,
                                rl_done_fn cb, void *arg)
{
    const struct rl_class_conf *cls = rl_class_for(rl->conf, user, endpoint_class);

    return rl_start(rl, user, cls, 1, "need", cls->messages_per_hour > 0, cb, arg);
}

struct rl_req *rl_take_rcpt(struct rl *rl, const char *user, unsigned k,
                            rl_done_fn cb, void *arg)
{
    return rl_take_rcpt_at(rl, user, NULL, k, cb, arg);
}

struct rl_req *rl_check_mail(struct rl *rl, const char *user, rl_done_fn cb, void *arg)
{
    return rl_check_mail_at(rl, user, NULL, cb, arg);
}
