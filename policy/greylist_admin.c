/*
 * greylist_admin.c - posternctl greylist show|allow|forget (see greylist_admin.h).
 */
#include "policy/greylist_admin.h"

#include "lib/errout.h"
#include "lib/redis.h"
#include "lib/xalloc.h"
#include "policy/greylist_key.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The network of target: an address grouped by the defaults, or a CIDR as given
 * (normalized). */
static int target_network(const char *target, char *net, size_t len)
{
    char ip[64];
    const char *slash = strchr(target, '/');
    char *end;
    long bits;

    if (slash == NULL)
        return greylist_network(target, 24, 64, net, len);
    if ((size_t)(slash - target) >= sizeof(ip))
        return -1;
    snprintf(ip, sizeof(ip), "%.*s", (int)(slash - target), target);
    bits = strtol(slash + 1, &end, 10);
    if (*end != '\0' || bits < 0 || bits > 128 || (strchr(ip, ':') == NULL && bits > 32))
        return -1;
    return greylist_network(ip, (int)bits, (int)bits, net, len);
}

static void print_time(FILE *out, const char *what, const char *ms)
{
    time_t t = (time_t)(strtoll(ms, NULL, 10) / 1000);
    char buf[32];

    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
    fprintf(out, " %s=%s", what, buf);
}

/* Each triplet of the network: "triplet SENDER RCPT passed=... | waiting since=...". */
static int show_triplets(redisContext *c, const char *tag, FILE *out)
{
    char cursor[32] = "0";
    char *pattern = xasprintf("pt:gl:{%s}:*", tag);
    size_t prefix = strlen(pattern) - 1;
    int rc = 0;

    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        size_t i;
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            rc = -1;
            break;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (i = 0; i < r->element[1]->elements; i++) {
            const char *key = r->element[1]->element[i]->str;
            redisReply *h = redisCommand(c, "HMGET %s first passed", key);
            const char *rest = key + prefix, *colon = strrchr(rest, ':');
            if (h == NULL || h->type != REDIS_REPLY_ARRAY || h->elements != 2 || colon == NULL) {
                freeReplyObject(h);
                continue;
            }
            fprintf(out, "triplet <%.*s> <%s>", (int)(colon - rest), rest, colon + 1);
            if (h->element[1]->type == REDIS_REPLY_STRING)
                print_time(out, "passed", h->element[1]->str);
            else if (h->element[0]->type == REDIS_REPLY_STRING)
                print_time(out, "waiting_since", h->element[0]->str);
            fputc('\n', out);
            freeReplyObject(h);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    free(pattern);
    return rc;
}

static int forget(redisContext *c, const char *tag)
{
    char cursor[32] = "0";
    char *pattern = xasprintf("pt:gl:{%s}:*", tag);
    long long n = 0;
    redisReply *r;

    do {
        size_t i;
        r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            free(pattern);
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (i = 0; i < r->element[1]->elements; i++) {
            redisReply *d = redisCommand(c, "DEL %s", r->element[1]->element[i]->str);
            n += d != NULL && d->type == REDIS_REPLY_INTEGER ? d->integer : 0;
            freeReplyObject(d);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    free(pattern);
    r = redisCommand(c, "DEL pt:awl:{%s}", tag);
    freeReplyObject(r);
    return (int)(n >= 0 ? 0 : -1);
}

int greylist_admin(redisContext *c, const char *verb, const char *target, FILE *out)
{
    char net[64];
    char *tag;
    redisReply *r = NULL;
    int rc = 0;

    if (target_network(target, net, sizeof(net)) != 0) {
        fprintf(errout(), "posternctl: %s: not an address or a network (CIDR)\n", target);
        return 1;
    }
    tag = redis_key_escape(net);
    if (strcmp(verb, "allow") == 0) {
        r = redisCommand(c, "HSET pt:awl:{%s} allow 1", tag);
        if (r != NULL && r->type != REDIS_REPLY_ERROR) {
            freeReplyObject(r);
            r = redisCommand(c, "PERSIST pt:awl:{%s}", tag);
            fprintf(out, "network %s allowed: it is not greylisted until forget\n", net);
        }
    } else if (strcmp(verb, "forget") == 0) {
        rc = forget(c, tag);
        if (rc == 0)
            fprintf(out, "network %s forgotten: its next mail is a first contact\n", net);
    } else {
        r = redisCommand(c, "HMGET pt:awl:{%s} n allow", tag);
        if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
            fprintf(out, "network %s passes=%s allowed=%s\n", net,
                    r->element[0]->type == REDIS_REPLY_STRING ? r->element[0]->str : "0",
                    r->element[1]->type == REDIS_REPLY_STRING ? "yes" : "no");
            rc = show_triplets(c, tag, out);
        }
    }
    if (rc == 0 && strcmp(verb, "forget") != 0 &&
        (r == NULL || r->type == REDIS_REPLY_ERROR))
        rc = -1;
    if (rc < 0)
        fprintf(errout(), "posternctl: Redis: %s\n",
                r != NULL && r->type == REDIS_REPLY_ERROR ? r->str
                : c->err                                  ? c->errstr
                                                          : "unexpected reply");
    freeReplyObject(r);
    free(tag);
    return rc;
}
