/*
 * posternctl_quar.c - `posternctl quarantine`: the quarantine as an admin sees it, from the
 * shared index in Redis (content/quar.h has the key layout).
 *
 *   list [--json] [--recipient ADDR] [--reason R]   newest first; one line (or one JSON
 *                                                   object) per entry
 *   show ID                 the entry's fields, and the message's header when the entry's
 *                           file is on this node
 *   release ID [--learn-ham]  an admin release (virus entries too): the holder node moves
 *                           it into its queue; waits up to 30 s for it to say so
 *   delete ID               likewise, deleted
 * Blocking Redis (hiredis) is fine here: this is a command-line tool, not the daemon.
 */
#include "tools/posternctl_quar.h"

#include "content/quar.h"
#include "lib/fileio.h"
#include "lib/header_edit.h"
#include "lib/redis.h"
#include "lib/xalloc.h"
#include "relay/quar/quar_store.h"
#include "relay/queue/queue_file.h"
#include "relay/relay_conf.h"

#include <errno.h>
#include <fcntl.h>
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

static redisContext *connect_redis(const struct relay_conf *c)
{
    if (c->redis.socket == NULL && c->redis.address == NULL) {
        fprintf(stderr, "posternctl: quarantine: the config names no redis\n");
        return NULL;
    }
    return redis_connect_blocking(&c->redis);
}

static char *key_of(const char *prefix, const char *name)
{
    char *esc = redis_key_escape(name), *k = xasprintf("%s{%s}", prefix, esc);
    free(esc);
    return k;
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

static int cmd_list(redisContext *rc, int argc, char **argv)
{
    const char *rcpt = NULL, *reason = NULL;
    bool as_json = false;
    redisReply *r;
    char *key;
    size_t i, shown = 0;
    int k;

    for (k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--json") == 0)
            as_json = true;
        else if (strcmp(argv[k], "--recipient") == 0 && k + 1 < argc)
            rcpt = argv[++k];
        else if (strcmp(argv[k], "--reason") == 0 && k + 1 < argc)
            reason = argv[++k];
        else
            return EX_USAGE;
    }
    key = rcpt ? key_of("pt:qr:", rcpt) : xstrdup("pt:qa:{all}");
    r = redisCommand(rc, "ZREVRANGE %s 0 %d", key, QUAR_LIST_SCAN_MAX - 1);
    free(key);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        fprintf(stderr, "posternctl: quarantine: Redis: %s\n",
                r ? r->str ? r->str : "bad reply" : rc->errstr);
        freeReplyObject(r);
        return EX_UNAVAILABLE;
    }
    for (i = 0; i < r->elements; i++) {
        bool job;
        json_t *o = entry_get(rc, r->element[i]->str, &job);
        if (o == NULL || job || (reason && strcasecmp(field(o, "reason"), reason) != 0)) {
            json_decref(o);
            continue;
        }
        if (as_json) {
            char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
            printf("%s\n", s);
            free(s);
        } else {
            time_t t = (time_t)strtoll(field(o, "date"), NULL, 10);
            struct tm tm;
            char when[32];
            gmtime_r(&t, &tm);
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
            printf("%s  %s  %6s  %-6s <%s> -> <%s> node=%s  %s\n", field(o, "id"), when,
                   field(o, "score"), field(o, "reason"), field(o, "sender"), field(o, "rcpt"),
                   field(o, "node"), field(o, "subject"));
        }
        shown++;
        json_decref(o);
    }
    freeReplyObject(r);
    if (shown == 0 && !as_json)
        printf("The quarantine is empty\n");
    return EX_OK;
}

static int cmd_show(const struct relay_conf *c, redisContext *rc, const char *id)
{
    bool job;
    json_t *o = entry_get(rc, id, &job);
    const char *k;
    json_t *v;
    int qdir;

    if (o == NULL) {
        fprintf(stderr, "posternctl: quarantine: no such entry: %s\n", id);
        return EX_DATAERR;
    }
    json_object_foreach(o, k, v)
        printf("%-8s %s\n", k, json_string_value(v));
    if (job)
        printf("state    being released or deleted\n");
    json_decref(o);
    qdir = quar_store_open(c->spool_dir);
    if (qdir >= 0) {
        size_t len = 0, flen, body;
        char *msg = quar_store_message(qdir, id, 65536, &len);
        if (msg) {
            hdr_split(msg, len, &flen, &body);
            printf("\n");
            fwrite(msg, 1, flen, stdout);
            free(msg);
        }
        close(qdir);
    }
    return EX_OK;
}

/* Ask the holder to release (learn: and learn) or delete id, and wait for it. */
static int cmd_act(redisContext *rc, const char *id, bool release, bool learn)
{
    bool job;
    json_t *o = entry_get(rc, id, &job);
    redisReply *r;
    char *qkey, *keys[3];
    int waited, i;

    if (o == NULL) {
        fprintf(stderr, "posternctl: quarantine: no such entry: %s\n", id);
        return EX_DATAERR;
    }
    {
        char claim[32];
        snprintf(claim, sizeof(claim), "%s %u", release ? "release" : "delete",
                 QUAR_F_ADMIN | (learn ? QUAR_F_LEARN : 0));
        r = redisCommand(rc, "HSETNX pt:q:{%s} job %s", id, claim);
    }
    if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer == 0) {
        fprintf(stderr, "posternctl: quarantine: %s: %s\n", id,
                r && r->type == REDIS_REPLY_INTEGER ? "already released or deleted"
                                                   : "Redis is unavailable");
        freeReplyObject(r);
        json_decref(o);
        return EX_UNAVAILABLE;
    }
    freeReplyObject(r);
    qkey = key_of("pt:qj:", field(o, "node"));
    {
        char *jobtext = release ? xasprintf("release %s %u", id,
                                          QUAR_F_ADMIN | (learn ? QUAR_F_LEARN : 0))
                                : xasprintf("delete %s", id);
        freeReplyObject(redisCommand(rc, "RPUSH %s %s", qkey, jobtext));
        free(jobtext);
    }
    free(qkey);
    keys[0] = key_of("pt:qr:", field(o, "rcpt"));
    keys[1] = key_of("pt:qd:", domain_of(field(o, "rcpt")));
    keys[2] = xstrdup("pt:qa:{all}");
    for (i = 0; i < 3; i++) {
        freeReplyObject(redisCommand(rc, "ZREM %s %s", keys[i], id));
        free(keys[i]);
    }
    for (waited = 0; waited < WAIT_MS; waited += WAIT_STEP_MS) {
        r = redisCommand(rc, release ? "GET pt:qres:{%s}" : "EXISTS pt:q:{%s}", id);
        if (r && release && r->type == REDIS_REPLY_STRING) {
            printf("%s: %s to <%s> by node %s\n", id, r->str, field(o, "rcpt"),
                   field(o, "node"));
            freeReplyObject(r);
            json_decref(o);
            return EX_OK;
        }
        if (r && !release && r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
            printf("%s: deleted by node %s\n", id, field(o, "node"));
            freeReplyObject(r);
            json_decref(o);
            return EX_OK;
        }
        freeReplyObject(r);
        usleep(WAIT_STEP_MS * 1000);
    }
    printf("%s: %s asked; node %s has not done it yet\n", id, release ? "release" : "delete",
           field(o, "node"));
    json_decref(o);
    return EX_TEMPFAIL;
}

int posternctl_quar(const struct relay_conf *c, int argc, char **argv)
{
    redisContext *rc;
    int ret;

    if (argc < 1)
        return EX_USAGE;
    if (strcmp(argv[0], "list") != 0 && (argc < 2 || !quar_id_valid(argv[1])))
        return EX_USAGE;
    if ((strcmp(argv[0], "show") == 0 || strcmp(argv[0], "delete") == 0) && argc != 2)
        return EX_USAGE;
    if (strcmp(argv[0], "release") == 0 &&
        (argc > 3 || (argc == 3 && strcmp(argv[2], "--learn-ham") != 0)))
        return EX_USAGE;
    if ((rc = connect_redis(c)) == NULL)
        return EX_UNAVAILABLE;
    if (strcmp(argv[0], "list") == 0)
        ret = cmd_list(rc, argc, argv);
    else if (strcmp(argv[0], "show") == 0)
        ret = cmd_show(c, rc, argv[1]);
    else if (strcmp(argv[0], "release") == 0)
        ret = cmd_act(rc, argv[1], true, argc == 3);
    else if (strcmp(argv[0], "delete") == 0)
        ret = cmd_act(rc, argv[1], false, false);
    else
        ret = EX_USAGE;
    redisFree(rc);
    return ret;
}
