/*
 * quar_digest.c - the quarantine digests: once per domain digest_interval, each recipient
 * with new entries (and each domain's digest_address, for all of the domain's new entries)
 * gets one mail listing them (content/quar_digest_msg.h), queued as ordinary mail.
 *
 * Which recipients have new entries is the zset pt:qn:{all} (member: the recipient or
 * "@DOMAIN", score: the date of its oldest entry not yet in a digest; written by every node
 * when it indexes a new entry). WHO is due once a period ((t - digest_time) / interval)
 * has begun since that date: entries wait for the next digest_time (+ k * interval). The
 * digest for WHO in period P is sent by the node that first sets pt:qdg:{WHO}:P (SET NX
 * with a TTL): one digest per recipient and period, whichever node's sweep gets there
 * first. The entries a digest listed are kept in
 * the set pt:qds:{WHO} (TTL: the retention), so that no entry is listed twice. Called by quar_runner.c's sweep; loop
 * thread; every Redis request in flight is cancelled by quar_digest_free().
 */
#include "relay/quar/quar_runner.h"

#include "admin/web.h"
#include "content/quar_digest_msg.h"
#include "lib/log.h"
#include "lib/redis.h"
#include "lib/xalloc.h"
#include "policy/domain_conf.h"
#include "relay/quar/quar_int.h"
#include "relay/relay_conf.h"
#include "relay/spool/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DIGEST_BATCH 1000             /* recipients looked at per sweep */

/* ---- the schedule ---------------------------------------------------------------------- */

static long long floor_div(long long a, long long b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

long long quar_digest_period(long long t, long long interval_s, long long offset_s)
{
    if (interval_s < 1)
        interval_s = 1;
    return floor_div(t - offset_s, interval_s);
}

bool quar_digest_due(long long since, long long now, long long interval_s, long long offset_s)
{
    return quar_digest_period(now, interval_s, offset_s) >
           quar_digest_period(since, interval_s, offset_s);
}

/* The digests' clock: time(), plus the test hook's seconds (QUAR_TEST_CLOCK_ENV). */
static long long digest_now(void)
{
    const char *path = getenv(QUAR_TEST_CLOCK_ENV);
    long long now = (long long)time(NULL);
    char buf[32];
    ssize_t n;
    int fd;

    if (path == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return now;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n > 0) {
        buf[n] = '\0';
        now += strtoll(buf, NULL, 10);
    }
    return now;
}

struct dg_item {
    struct quar_runner *r;
    struct dg_item *next, *prev;
    char *who;                        /* the recipient, or "@DOMAIN" for the report */
    long long since;
    char **seen;                      /* entries listed by earlier digests */
    size_t nseen;
    struct redis_req *req;
    struct quar_op *op;
};

struct dg_state {
    struct redis_req *range;
    struct dg_item *items;
};

static struct dg_state *state_of(struct quar_runner *r)
{
    if (r->digest == NULL)
        r->digest = xcalloc(1, sizeof(struct dg_state));
    return r->digest;
}

static void item_free(struct dg_item *it)
{
    struct dg_state *st = state_of(it->r);

    if (it->prev)
        it->prev->next = it->next;
    else
        st->items = it->next;
    if (it->next)
        it->next->prev = it->prev;
    if (it->req)
        redis_cancel(it->req);
    if (it->op)
        quar_cancel(it->op);
    while (it->nseen)
        free(it->seen[--it->nseen]);
    free(it->seen);
    free(it->who);
    free(it);
}

void quar_digest_free(struct quar_runner *r)
{
    struct dg_state *st = r->digest;

    if (st == NULL)
        return;
    if (st->range)
        redis_cancel(st->range);
    while (st->items)
        item_free(st->items);
    free(st);
    r->digest = NULL;
}

static const char *domain_part(const char *who)
{
    const char *at = strrchr(who, '@');
    return at ? at + 1 : who;
}

static const struct domain_conf *dconf(const struct quar_runner *r, const char *domain)
{
    const struct relay_conf *c = &(*r->env.cf)->c;
    return domain_conf_find(&c->domains, &c->domain_defaults, domain);
}

/* ---- queueing the mail --------------------------------------------------------------------- */

struct dg_commit {
    char *to;
    size_t n;
};

static void on_committed(void *arg, int err, const char *qid)
{
    struct dg_commit *c = arg;

    if (err)
        log_error("quarantine", "digest to <%s>: cannot queue it: %s", c->to, strerror(err));
    else
        log_info("quarantine", "%s: digest to <%s> listing %zu entr%s", qid, c->to, c->n,
                 c->n == 1 ? "y" : "ies");
    free(c->to);
    free(c);
}

static void send_digest(struct quar_runner *r, const char *who, const struct quar_entry *e,
                        size_t n)
{
    const struct relay_conf *c = &(*r->env.cf)->c;
    const char *to = who[0] == '@' ? dconf(r, domain_part(who))->digest_address : who;
    struct quar_digest_params p = { 0 };
    struct spool_envelope env = { 0 };
    struct spool_file *f;
    char *from, *msg, *unique, *ui;
    const char *rcpts[1];
    long long now = digest_now();
    size_t len;
    struct dg_commit *dc;

    if (to == NULL)
        return;
    f = spool_file_new(r->env.spool);
    if (f == NULL) {
        log_error("quarantine", "digest to <%s>: cannot create it: %s", to, strerror(errno));
        return;
    }
    from = c->quarantine.digest_from ? xstrdup(c->quarantine.digest_from)
                                     : xasprintf("postmaster@%s", c->hostname);
    unique = xasprintf("%lld.%s", now, spool_file_qid(f));
    p.from = from;
    p.to = to;
    p.hostname = c->hostname;
    ui = web_base_url(&c->web);
    p.ui_url = ui;
    p.key = c->quarantine.token_key;
    p.keylen = c->quarantine.token_key ? strlen(c->quarantine.token_key) : 0;
    p.token_rcpt = who;
    p.now = now;
    p.expires = now + c->quarantine.link_lifetime_ms / 1000;
    p.unique = unique;
    msg = quar_digest_format(&p, e, n, &len);
    env.arrival = (double)now;
    env.client_ip = "127.0.0.1";
    env.client_name = "localhost";
    env.helo = c->hostname;
    env.listener = "quarantine";
    env.proto = "LOCAL";
    env.sender = "";
    rcpts[0] = to;
    env.rcpts = rcpts;
    env.nrcpt = 1;
    if (spool_file_write_envelope(f, &env) < 0 || spool_file_write(f, msg, len) < 0) {
        log_error("quarantine", "digest to <%s>: cannot write it: %s", to, strerror(errno));
        spool_file_abort(f);
    } else {
        dc = xcalloc(1, sizeof(*dc));
        dc->to = xstrdup(to);
        dc->n = n;
        spool_file_commit(f, on_committed, dc);
    }
    free(msg);
    free(unique);
    free(from);
    free(ui);
}

/* ---- the steps for one recipient ----------------------------------------------------------- */

static bool seen(const struct dg_item *it, const char *id)
{
    size_t i;
    for (i = 0; i < it->nseen; i++)
        if (strcmp(it->seen[i], id) == 0)
            return true;
    return false;
}

static void on_list(void *arg, int err, const struct quar_entry *e, size_t n, size_t total)
{
    struct dg_item *it = arg;
    struct quar_entry *fresh;
    size_t i, k = 0;

    (void)total;
    it->op = NULL;
    if (err) {
        log_warn("quarantine", "digest for <%s>: the index is unavailable", it->who);
        item_free(it);
        return;
    }
    fresh = xcalloc(n ? n : 1, sizeof(*fresh));
    for (i = 0; i < n; i++)
        if (!seen(it, e[i].id))
            fresh[k++] = e[i];             /* shallow: valid during this callback */
    if (k > 0) {
        char *key, *esc = redis_key_escape(it->who), ttl[24];
        const char **argv = xcalloc(k + 2, sizeof(*argv));
        long long keep = dconf(it->r, domain_part(it->who))->quarantine_retention_ms / 1000;
        send_digest(it->r, it->who, fresh, k);
        key = xasprintf("pt:qds:{%s}", esc);
        argv[0] = "SADD";
        argv[1] = key;
        for (i = 0; i < k; i++)
            argv[2 + i] = fresh[i].id;
        redis_command_argv(it->r->env.redis, (int)k + 2, argv, NULL, redis_reply_ignore, NULL);
        snprintf(ttl, sizeof(ttl), "%lld", keep + 86400);
        {
            const char *ex[] = { "EXPIRE", key, ttl };
            redis_command_argv(it->r->env.redis, 3, ex, NULL, redis_reply_ignore, NULL);
        }
        free(argv);
        free(key);
        free(esc);
    }
    free(fresh);
    item_free(it);
}

static void on_seen(enum redis_result res, const struct redisReply *reply, void *arg)
{
    struct dg_item *it = arg;
    struct quar_query q = { 0 };
    size_t i;

    it->req = NULL;
    if (res != REDIS_RESULT_OK || reply->type != REDIS_REPLY_ARRAY) {
        item_free(it);
        return;
    }
    it->seen = xcalloc(reply->elements ? reply->elements : 1, sizeof(char *));
    for (i = 0; i < reply->elements; i++)
        if (reply->element[i]->str)
            it->seen[it->nseen++] = xstrdup(reply->element[i]->str);
    if (it->who[0] == '@')
        q.domain = it->who + 1;
    else
        q.rcpt = it->who;
    q.since = it->since - 1;
    q.sort = QUAR_SORT_DATE;
    q.ascending = true;
    q.limit = 500;
    it->op = quar_list(it->r->quar, &q, on_list, it);
}

static void on_claim(enum redis_result res, const struct redisReply *reply, void *arg)
{
    struct dg_item *it = arg;
    char *esc, *key;

    it->req = NULL;
    if (res != REDIS_RESULT_OK || reply->type != REDIS_REPLY_STATUS) {
        item_free(it);              /* another node has it this period (nil), or Redis */
        return;
    }
    {
        const char *argv[] = { "ZREM", "pt:qn:{all}", it->who };
        redis_command_argv(it->r->env.redis, 3, argv, NULL, redis_reply_ignore, NULL);
    }
    esc = redis_key_escape(it->who);
    key = xasprintf("pt:qds:{%s}", esc);
    {
        const char *argv[] = { "SMEMBERS", key };
        it->req = redis_command_argv(it->r->env.redis, 2, argv, NULL, on_seen, it);
    }
    free(key);
    free(esc);
}

static void start_item(struct quar_runner *r, const char *who, long long since)
{
    struct dg_state *st = state_of(r);
    const struct domain_conf *d = dconf(r, domain_part(who));
    long long interval = d->digest_interval_ms / 1000, now = digest_now();
    long long offset = domain_digest_offset(d->digest_time);
    struct dg_item *it;
    char *esc, *key, ttl[24];

    if (d->digest_interval_ms == 0 || (who[0] == '@' && d->digest_address == NULL)) {
        const char *argv[] = { "ZREM", "pt:qn:{all}", who };
        redis_command_argv(r->env.redis, 3, argv, NULL, redis_reply_ignore, NULL);
        return;
    }
    if (interval < 1)
        interval = 1;
    if (offset < 0)
        offset = 0;
    if (!quar_digest_due(since, now, interval, offset))
        return;                     /* its entries wait for the next digest_time */
    it = xcalloc(1, sizeof(*it));
    it->r = r;
    it->who = xstrdup(who);
    it->since = since;
    it->next = st->items;
    if (st->items)
        st->items->prev = it;
    st->items = it;
    esc = redis_key_escape(who);
    key = xasprintf("pt:qdg:{%s}:%lld", esc, quar_digest_period(now, interval, offset));
    snprintf(ttl, sizeof(ttl), "%lld", interval + 60);
    {
        const char *argv[] = { "SET", key, (*r->env.cf)->c.hostname, "NX", "EX", ttl };
        it->req = redis_command_argv(r->env.redis, 6, argv, NULL, on_claim, it);
    }
    free(key);
    free(esc);
}

static void on_range(enum redis_result res, const struct redisReply *reply, void *arg)
{
    struct quar_runner *r = arg;
    struct dg_state *st = state_of(r);
    size_t i;

    st->range = NULL;
    if (res != REDIS_RESULT_OK || reply->type != REDIS_REPLY_ARRAY)
        return;
    for (i = 0; i + 1 < reply->elements; i += 2) {
        const char *who = reply->element[i]->str, *score = reply->element[i + 1]->str;
        if (who && score && who[0])
            start_item(r, who, strtoll(score, NULL, 10));
    }
}

void quar_digest_tick(struct quar_runner *r)
{
    struct dg_state *st = state_of(r);
    char stop[16];

    if (r->env.redis == NULL || r->quar == NULL || st->range || st->items)
        return;              /* the last sweep's digests are still going */
    snprintf(stop, sizeof(stop), "%d", DIGEST_BATCH - 1);
    {
        const char *argv[] = { "ZRANGE", "pt:qn:{all}", "0", stop, "WITHSCORES" };
        st->range = redis_command_argv(r->env.redis, 5, argv, NULL, on_range, r);
    }
}
