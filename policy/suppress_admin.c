/*
 * suppress_admin.c - posternctl suppress (see suppress_admin.h).
 */
#include "policy/suppress_admin.h"

#include "lib/errout.h"
#include "lib/redis.h"
#include "lib/xalloc.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void print_entry(FILE *out, const char *addr, const char *val)
{
    const char *colon = strchr(val, ':');
    long long until = colon ? strtoll(colon + 1, NULL, 10) : 0;
    char buf[32] = "never";

    if (until > 0) {
        time_t t = (time_t)(until / 1000);
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    }
    fprintf(out, "%s %.*s until=%s\n", addr, colon ? (int)(colon - val) : (int)strlen(val),
            val, buf);
}

int suppress_admin(struct redisContext *c, const char *verb, const char *login,
                   const char *address, FILE *out)
{
    char *tag = redis_key_escape(login), *key = xasprintf("pt:sup:{%s}", tag);
    char *member = address ? redis_key_escape(address) : NULL;
    redisReply *r = NULL;
    int rc = 0;
    size_t i;

    if (strcmp(verb, "list") == 0) {
        r = redisCommand(c, "HGETALL %s", key);
        if (r != NULL && r->type == REDIS_REPLY_ARRAY)
            for (i = 0; i + 1 < r->elements; i += 2)
                print_entry(out, r->element[i]->str, r->element[i + 1]->str);
        else
            rc = -1;
    } else if (strcmp(verb, "add") == 0 && member != NULL) {
        r = redisCommand(c, "HSET %s %s manual:0", key, member);
        if (r != NULL && r->type == REDIS_REPLY_INTEGER)
            fprintf(out, "%s suppressed for %s\n", member, login);
        else
            rc = -1;
    } else if (strcmp(verb, "remove") == 0 && member != NULL) {
        r = redisCommand(c, "HDEL %s %s", key, member);
        if (r != NULL && r->type == REDIS_REPLY_INTEGER)
            fprintf(out, "%s %s for %s\n", member,
                    r->integer ? "no longer suppressed" : "was not suppressed", login);
        else
            rc = -1;
    } else {
        rc = -1;
        fprintf(errout(), "posternctl: suppress list|add|remove LOGIN [ADDRESS]\n");
        goto out;
    }
    if (rc < 0)
        fprintf(errout(), "posternctl: Redis: %s\n",
                r != NULL && r->type == REDIS_REPLY_ERROR ? r->str
                : c->err                                  ? c->errstr
                                                          : "unexpected reply");
out:
    freeReplyObject(r);
    free(member);
    free(key);
    free(tag);
    return rc;
}
