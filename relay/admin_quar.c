/*
 * admin_quar.c - the admin command `quarantine` (see admin_quar.h): the quarantine as an
 * admin sees it, from the shared index in Redis (content/quar.h has the key layout).
 *
 *   list [--json] [--recipient ADDR | --domain DOMAIN] [--reason R] [--offset N] [--limit N]
 *                           newest first; one line (or one JSON object) per entry
 *   show ID [--json]        the entry's fields, and the message's header when the entry's
 *                           file is on this node
 *   message ID              the message as it arrived (only on the node that holds it)
 *   release ID [--learn-ham]  an admin release (virus entries too): the holder node moves
 *                           it into its queue; waits up to 30 s for it to say so
 *   delete ID               likewise, deleted
 * Blocking (hiredis, file reads): posternctl calls it directly, the daemon on a worker
 * thread (relay/admin.c), never on the loop.
 */
#include "relay/admin_quar.h"

#include "content/quar.h"
#include "lib/errout.h"
#include "lib/header_edit.h"
#include "lib/redis.h"
#include "lib/xalloc.h"
#include "relay/admin_ops.h"
#include "relay/quar/quar_store.h"
#include "relay/relay_conf.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 30000
#define WAIT_STEP_MS 100
#define HEADER_MAX 65536            /* show: this much of the message, for its header */
#define LIMIT_MAX QUAR_LIST_SCAN_MAX

static redisContext *connect_redis(const struct relay_conf *c)
{
    redisContext *rc;

    if (c->redis.socket == NULL && c->redis.address == NULL) {
        fprintf(errout(), "quarantine: the config names no redis\n");
        return NULL;
    }
    if ((rc = redis_connect_blocking(&c->redis)) == NULL)
        fprintf(errout(), "quarantine: cannot reach Redis (redis.socket / redis.address)\n");
    return rc;
}

static const char *domain_of(const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at ? at + 1 : "";
}

/* The entry's hash as a JSON object of strings; NULL when there is none. *job: the
 * "job" field is set (a release or delete was asked). */
static json_t *entry_get(redisContext *rc, const char *id, bool *job)
{
    redisReply *r = redisCommand(rc, "HGETALL pt:q:{%s}", id);
    json_t *o = NULL;
    size_t i;

    *job = false;
    if (r == NULL)
        return NULL;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
        o = json_object();
        json_object_set_new(o, "id", json_string(id));
        for (i = 0; i + 1 < r->elements; i += 2) {
            if (strcmp(r->element[i]->str, "job") == 0)
                *job = true;
            else
                json_object_set_new(o, r->element[i]->str,
                                    json_string(r->element[i + 1]->str));
        }
    }
    freeReplyObject(r);
    return o;
}

static const char *field(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* Say why entry id cannot be acted on: gone after a release or delete (pt:qres, an hour),
 * or never there. Returns the exit code. */
static int missing(redisContext *rc, const char *id)
{
    redisReply *r = redisCommand(rc, "GET pt:qres:{%s}", id);
    int ret = EX_DATAERR;

    if (r && r->type == REDIS_REPLY_STRING) {
        fprintf(errout(), "quarantine: %s: already %s\n", id,
                strncmp(r->str, "deleted", 7) == 0 ? "deleted" : "released");
        ret = EX_CTL_REFUSED;
    } else {
        fprintf(errout(), "quarantine: no such entry: %s\n", id);
    }
    freeReplyObject(r);
    return ret;
}

static bool parse_count(const char *s, size_t max, size_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9')
        return false;
    v = strtoull(s, &end, 10);
    if (*end != '\0' || v > max)
        return false;
    *out = (size_t)v;
    return true;
}

static int cmd_list(redisContext *rc, int argc, char **argv, FILE *out)
{
    const char *rcpt = NULL, *domain = NULL, *reason = NULL;
    size_t offset = 0, limit = 0, i, matched = 0, shown = 0;
    bool as_json = false;
    redisReply *r;
    char *key;
    int k;

    for (k = 2; k < argc; k++) {
        if (strcmp(argv[k], "--json") == 0)
            as_json = true;
        else if (strcmp(argv[k], "--recipient") == 0 && k + 1 < argc)
            rcpt = argv[++k];
        else if (strcmp(argv[k], "--domain") == 0 && k + 1 < argc)
            domain = argv[++k];
        else if (strcmp(argv[k], "--reason") == 0 && k + 1 < argc)
            reason = argv[++k];
        else if (strcmp(argv[k], "--offset") == 0 && k + 1 < argc) {
            if (!parse_count(argv[++k], LIMIT_MAX, &offset)) {
                fprintf(errout(), "quarantine: --offset: a number 0..%d\n", LIMIT_MAX);
                return EX_USAGE;
            }
        } else if (strcmp(argv[k], "--limit") == 0 && k + 1 < argc) {
            if (!parse_count(argv[++k], LIMIT_MAX, &limit) || limit == 0) {
                fprintf(errout(), "quarantine: --limit: a number 1..%d\n", LIMIT_MAX);
                return EX_USAGE;
            }
        } else {
            return EX_USAGE;
        }
    }
    if (rcpt && domain) {
        fprintf(errout(), "quarantine: --recipient or --domain, not both\n");
        return EX_USAGE;
    }
    key = rcpt ? quar_key("pt:qr:", rcpt) : domain ? quar_key("pt:qd:", domain)
                                                 : xstrdup("pt:qa:{all}");
    r = redisCommand(rc, "ZREVRANGE %s 0 %d", key, QUAR_LIST_SCAN_MAX - 1);
    free(key);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        fprintf(errout(), "quarantine: Redis: %s\n",
                r ? r->str ? r->str : "bad reply" : rc->errstr);
        freeReplyObject(r);
        return EX_UNAVAILABLE;
    }
    for (i = 0; i < r->elements && (limit == 0 || shown < limit); i++) {
        bool job;
        json_t *o = entry_get(rc, r->element[i]->str, &job);
        if (o == NULL || job || (reason && strcasecmp(field(o, "reason"), reason) != 0) ||
            matched++ < offset) {
            json_decref(o);
            continue;
        }
        if (as_json) {
            char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
            fprintf(out, "%s\n", s);
            free(s);
        } else {
            time_t t = (time_t)strtoll(field(o, "date"), NULL, 10);
            struct tm tm;
            char when[32];
            gmtime_r(&t, &tm);
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
            fprintf(out, "%s  %s  %6s  %-6s <%s> -> <%s> node=%s  %s\n", field(o, "id"), when,
                    field(o, "score"), field(o, "reason"), field(o, "sender"),
                    field(o, "rcpt"), field(o, "node"), field(o, "subject"));
        }
        shown++;
        json_decref(o);
    }
    freeReplyObject(r);
    if (shown == 0 && !as_json)
        fprintf(out, "The quarantine is empty\n");
    return EX_OK;
}

/* The message of entry id from this node's store (up to max bytes), or NULL. */
static char *local_message(const struct relay_conf *c, const char *id, size_t max,
                           size_t *len)
{
    int qdir = quar_store_open(c->spool_dir);
    char *msg = NULL;

    if (qdir >= 0) {
        msg = quar_store_message(qdir, id, max, len);
        close(qdir);
    }
    return msg;
}

static int cmd_show(const struct relay_conf *c, redisContext *rc, const char *id, bool as_json,
                    FILE *out)
{
    bool job;
    json_t *o = entry_get(rc, id, &job);
    size_t len = 0, flen = 0, body;
    char *msg;
    const char *k;
    json_t *v;

    if (o == NULL)
        return missing(rc, id);
    if ((msg = local_message(c, id, HEADER_MAX, &len)) != NULL)
        hdr_split(msg, len, &flen, &body);
    if (as_json) {
        char *s;
        json_object_set_new(o, "state", json_string(job ? "releasing" : "quarantined"));
        json_object_set_new(o, "here", json_boolean(msg != NULL));
        if (msg) {                       /* left out when it is not UTF-8 */
            json_t *h = json_stringn(msg, flen);
            if (h)
                json_object_set_new(o, "header", h);
        }
        s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        fprintf(out, "%s\n", s);
        free(s);
    } else {
        json_object_foreach(o, k, v)
            fprintf(out, "%-8s %s\n", k, json_string_value(v));
        if (job)
            fprintf(out, "state    being released or deleted\n");
        if (msg) {
            fprintf(out, "\n");
            fwrite(msg, 1, flen, out);
        }
    }
    free(msg);
    json_decref(o);
    return EX_OK;
}

/* message ID: the whole message, from this node's store. */
static int cmd_message(const struct relay_conf *c, redisContext *rc, const char *id, FILE *out)
{
    bool job;
    json_t *o = entry_get(rc, id, &job);
    size_t len = 0;
    char *msg;

    if (o == NULL)
        return missing(rc, id);
    msg = local_message(c, id, (size_t)c->limits.message_size + HEADER_MAX, &len);
    if (msg == NULL) {
        fprintf(errout(), "quarantine: %s: no such message on this node (node %s holds it)\n",
                id, field(o, "node"));
        json_decref(o);
        return EX_DATAERR;
    }
    fwrite(msg, 1, len, out);
    free(msg);
    json_decref(o);
    return EX_OK;
}

/* Ask the holder to release (learn: and learn) or delete id, and wait for it. */
static int cmd_act(redisContext *rc, const char *id, bool release, bool learn, FILE *out)
{
    unsigned flags = QUAR_F_ADMIN | (learn ? QUAR_F_LEARN : 0);
    bool job;
    json_t *o = entry_get(rc, id, &job);
    redisReply *r;
    char *qkey, *keys[3], claim[32], *jobtext;
    int waited, i;

    if (o == NULL)
        return missing(rc, id);
    snprintf(claim, sizeof(claim), "%s %u", release ? "release" : "delete", flags);
    r = redisCommand(rc, "HSETNX pt:q:{%s} job %s", id, claim);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer == 0) {
        bool taken = r && r->type == REDIS_REPLY_INTEGER;
        fprintf(errout(), "quarantine: %s: %s\n", id,
                taken ? "already released or deleted" : "Redis is unavailable");
        freeReplyObject(r);
        json_decref(o);
        return taken ? EX_CTL_REFUSED : EX_UNAVAILABLE;
    }
    freeReplyObject(r);
    qkey = quar_key("pt:qj:", field(o, "node"));
    jobtext = release ? xasprintf("release %s %u", id, flags) : xasprintf("delete %s", id);
    freeReplyObject(redisCommand(rc, "RPUSH %s %s", qkey, jobtext));
    free(jobtext);
    free(qkey);
    keys[0] = quar_key("pt:qr:", field(o, "rcpt"));
    keys[1] = quar_key("pt:qd:", domain_of(field(o, "rcpt")));
    keys[2] = xstrdup("pt:qa:{all}");
    for (i = 0; i < 3; i++) {
        freeReplyObject(redisCommand(rc, "ZREM %s %s", keys[i], id));
        free(keys[i]);
    }
    for (waited = 0; waited < WAIT_MS; waited += WAIT_STEP_MS) {
        r = redisCommand(rc, release ? "GET pt:qres:{%s}" : "EXISTS pt:q:{%s}", id);
        if (r && release && r->type == REDIS_REPLY_STRING) {
            fprintf(out, "%s: %s to <%s> by node %s\n", id, r->str, field(o, "rcpt"),
                    field(o, "node"));
            freeReplyObject(r);
            json_decref(o);
            return EX_OK;
        }
        if (r && !release && r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
            fprintf(out, "%s: deleted by node %s\n", id, field(o, "node"));
            freeReplyObject(r);
            json_decref(o);
            return EX_OK;
        }
        freeReplyObject(r);
        usleep(WAIT_STEP_MS * 1000);
    }
    fprintf(errout(), "quarantine: %s: %s asked; node %s has not done it yet\n", id,
            release ? "release" : "delete", field(o, "node"));
    json_decref(o);
    return EX_TEMPFAIL;
}

int admin_quar_run(const struct relay_conf *c, int argc, char **argv, FILE *out)
{
    const char *sub = argc >= 2 ? argv[1] : "";
    bool list = strcmp(sub, "list") == 0;
    bool json = argc == 4 && strcmp(argv[3], "--json") == 0;
    bool learn = argc == 4 && strcmp(argv[3], "--learn-ham") == 0;
    redisContext *rc;
    int ret;

    if (argc < 2)
        return EX_USAGE;
    if (!list) {
        if (argc < 3 || argc > 4)
            return EX_USAGE;
        if (!quar_id_valid(argv[2])) {
            fprintf(errout(), "quarantine: not an entry ID: %.80s\n", argv[2]);
            return EX_DATAERR;
        }
        if (argc == 4 && !(strcmp(sub, "show") == 0 && json) &&
            !(strcmp(sub, "release") == 0 && learn))
            return EX_USAGE;
        if (strcmp(sub, "show") != 0 && strcmp(sub, "message") != 0 &&
            strcmp(sub, "release") != 0 && strcmp(sub, "delete") != 0)
            return EX_USAGE;
    }
    if ((rc = connect_redis(c)) == NULL)
        return EX_UNAVAILABLE;
    if (list)
        ret = cmd_list(rc, argc, argv, out);
    else if (strcmp(sub, "show") == 0)
        ret = cmd_show(c, rc, argv[2], json, out);
    else if (strcmp(sub, "message") == 0)
        ret = cmd_message(c, rc, argv[2], out);
    else
        ret = cmd_act(rc, argv[2], strcmp(sub, "release") == 0, learn, out);
    redisFree(rc);
    return ret;
}
