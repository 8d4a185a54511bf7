/*
 * user_prefs_admin.c - posternctl policy (see user_prefs_admin.h).
 */
#include "policy/user_prefs_admin.h"

#include "lib/errout.h"
#include "policy/user_prefs.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

static int cmp_pair(const void *a, const void *b)
{
    const redisReply *const *x = a, *const *y = b;
    return strcmp((*x)->str, (*y)->str);
}

static int refuse(const char *fmt, const char *s)
{
    fprintf(errout(), "posternctl: ");
    fprintf(errout(), fmt, s);
    fprintf(errout(), "\n");
    return 1;
}

int user_prefs_admin(struct redisContext *c, const char *verb, const char *address,
                     const char *key, const char *value, FILE *out)
{
    redisReply *r = NULL;
    char why[200], *rkey;
    int rc = 0;
    size_t i;

    if (address[0] == '\0' || strchr(address, '@') == NULL || strpbrk(address, " \t\r\n"))
        return refuse("%s: not an address", address);
    if (strcmp(verb, "set") == 0) {
        if (key == NULL || value == NULL)
            return refuse("%s", "usage: policy set ADDRESS KEY VALUE");
        if (user_field_from_name(key) == UF_COUNT)
            return refuse("%s: unknown key (level, tag, spam, kill, greylisting, strict_dns, "
                          "virus_action, file_action, whitelist, blacklist, exclusions)", key);
        if (user_prefs_field_check(key, value, why, sizeof(why)) < 0)
            return refuse("%s", why);
    } else if (strcmp(verb, "unset") == 0) {
        if (key == NULL || value != NULL)
            return refuse("%s", "usage: policy unset ADDRESS KEY|all");
        if (strcmp(key, "all") != 0 && user_field_from_name(key) == UF_COUNT)
            return refuse("%s: unknown key", key);
    } else if (strcmp(verb, "show") != 0 || key != NULL) {
        return refuse("%s", "usage: policy set|show|unset ADDRESS [KEY [VALUE]]");
    }
    rkey = user_prefs_key(address);
    if (verb[1] == 'e') {                                 /* set */
        r = redisCommand(c, "HSET %s %s %s", rkey, key, value);
        if (r != NULL && r->type == REDIS_REPLY_INTEGER)
            fprintf(out, "%s: %s = %s\n", address, key, value);
        else
            rc = -1;
    } else if (verb[0] == 'u') {                          /* unset */
        r = strcmp(key, "all") == 0 ? redisCommand(c, "DEL %s", rkey)
                                    : redisCommand(c, "HDEL %s %s", rkey, key);
        if (r != NULL && r->type == REDIS_REPLY_INTEGER)
            fprintf(out, "%s: %s %s\n", address, key, r->integer ? "unset" : "was not set");
        else
            rc = -1;
    } else {                                              /* show */
        r = redisCommand(c, "HGETALL %s", rkey);
        if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
            size_t n = r->elements / 2;
            redisReply **keys = calloc(n ? n : 1, sizeof(*keys));
            if (keys == NULL)
                abort();
            for (i = 0; i < n; i++)
                keys[i] = r->element[2 * i];
            qsort(keys, n, sizeof(*keys), cmp_pair);
            for (i = 0; i < n; i++) {
                size_t k;
                for (k = 0; k + 1 < r->elements && r->element[k] != keys[i]; k += 2)
                    ;
                fprintf(out, "%s %s\n", keys[i]->str, r->element[k + 1]->str);
            }
            if (n == 0)
                fprintf(out, "%s: no overrides\n", address);
            free(keys);
        } else {
            rc = -1;
        }
    }
    if (rc < 0)
        fprintf(errout(), "posternctl: Redis: %s\n",
                r != NULL && r->type == REDIS_REPLY_ERROR ? r->str
                : c->err                                  ? c->errstr
                                                          : "unexpected reply");
    freeReplyObject(r);
    free(rkey);
    return rc;
}
