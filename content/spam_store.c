/*
 * spam_store.c - the classifier model's Redis layout, shard codec and blocking access
 * (spam_store.h).
 */
#include "content/spam_store.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MERGE_RETRIES 20

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_entry(unsigned char *p, const struct spam_entry *e)
{
    put32(p, (uint32_t)e->key);
    put32(p + 4, (uint32_t)(e->key >> 32));
    put32(p + 8, e->ns);
    put32(p + 12, e->nh);
    put32(p + 16, e->stamp);
}

static void get_entry(const unsigned char *p, struct spam_entry *e)
{
    e->key = (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
    e->ns = get32(p + 8);
    e->nh = get32(p + 12);
    e->stamp = get32(p + 16);
    e->w = 0;
}

long spam_shard_decode(struct spam_model *m, const char *blob, size_t len)
{
    size_t i, n = len / SPAM_ENTRY_BYTES;

    if (len % SPAM_ENTRY_BYTES)
        return -1;
    for (i = 0; i < n; i++) {
        struct spam_entry e, *s;
        get_entry((const unsigned char *)blob + i * SPAM_ENTRY_BYTES, &e);
        if (e.key == 0 || (s = spam_model_slot(m, e.key)) == NULL)
            continue;
        s->ns += e.ns;
        s->nh += e.nh;
        if (e.stamp > s->stamp)
            s->stamp = e.stamp;
    }
    return (long)n;
}

static int cmp_key(const void *a, const void *b)
{
    uint64_t x = ((const struct spam_entry *)a)->key, y = ((const struct spam_entry *)b)->key;
    return x < y ? -1 : x > y;
}

static int cmp_keep(const void *a, const void *b)
{
    const struct spam_entry *x = a, *y = b;
    uint64_t cx = (uint64_t)x->ns + x->nh, cy = (uint64_t)y->ns + y->nh;
    if (cx != cy)
        return cx > cy ? -1 : 1;
    if (x->stamp != y->stamp)
        return x->stamp > y->stamp ? -1 : 1;
    return cmp_key(a, b);
}

char *spam_shard_merge(const char *old, size_t oldlen, const struct spam_entry *d,
                       size_t nd, int sign, uint32_t today, uint32_t expire_days,
                       size_t per_shard_cap, size_t *outlen)
{
    size_t nold = oldlen / SPAM_ENTRY_BYTES, i, j, o = 0;
    struct spam_entry *all;
    char *out;

    all = malloc((nold + nd + 1) * sizeof(*all));
    if (all == NULL)
        return NULL;
    /* merge two sorted lists */
    for (i = 0, j = 0; i < nold || j < nd;) {
        struct spam_entry e;
        if (i < nold)
            get_entry((const unsigned char *)old + i * SPAM_ENTRY_BYTES, &e);
        if (j < nd && (i >= nold || d[j].key < e.key)) {
            e = d[j++];
            e.stamp = today;
            if (sign < 0)
                e.ns = e.nh = 0;        /* unlearning what was never learned */
        } else if (j < nd && d[j].key == e.key) {
            if (sign > 0) {
                e.ns += d[j].ns;
                e.nh += d[j].nh;
                e.stamp = today;
            } else {
                e.ns -= d[j].ns < e.ns ? d[j].ns : e.ns;
                e.nh -= d[j].nh < e.nh ? d[j].nh : e.nh;
            }
            i++, j++;
        } else {
            i++;
        }
        if (expire_days > 0 && e.stamp + expire_days < today)
            continue;
        if (e.ns == 0 && e.nh == 0)
            continue;
        all[o++] = e;
    }
    if (per_shard_cap > 0 && o > per_shard_cap) {
        qsort(all, o, sizeof(*all), cmp_keep);
        o = per_shard_cap;
        qsort(all, o, sizeof(*all), cmp_key);
    }
    out = malloc(o * SPAM_ENTRY_BYTES + 1);
    if (out != NULL)
        for (i = 0; i < o; i++)
            put_entry((unsigned char *)out + i * SPAM_ENTRY_BYTES, &all[i]);
    *outlen = o * SPAM_ENTRY_BYTES;
    free(all);
    return out;
}

/* ---- blocking access ----------------------------------------------------------------- */

static redisReply *cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r == NULL) {
        fprintf(stderr, "spam: redis: %s\n", c->errstr[0] ? c->errstr : "no reply");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "spam: redis: %s\n", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static unsigned long long field_ull(const redisReply *r, size_t i)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || i >= r->elements ||
        r->element[i]->type != REDIS_REPLY_STRING)
        return 0;
    return strtoull(r->element[i]->str, NULL, 10);
}

static int merge_shard(redisContext *c, const struct spam_entry *d, size_t nd, int sign,
                       unsigned shard, uint32_t today, uint32_t expire, size_t per_cap)
{
    char key[64];
    int attempt;

    snprintf(key, sizeof(key), SPAM_KEY_SHARD_FMT, shard);
    for (attempt = 0; attempt < MERGE_RETRIES; attempt++) {
        redisReply *r, *g;
        char *blob;
        size_t len;

        if (nd == 0)
            return 0;
        if ((r = cmd(c, "WATCH %s", key)) == NULL)
            return -1;
        freeReplyObject(r);
        if ((g = cmd(c, "GET %s", key)) == NULL)
            return -1;
        blob = spam_shard_merge(g->type == REDIS_REPLY_STRING ? g->str : "",
                                g->type == REDIS_REPLY_STRING ? g->len : 0, d, nd,
                                sign, today, expire, per_cap, &len);
        freeReplyObject(g);
        if (blob == NULL) {
            if ((r = cmd(c, "UNWATCH")) != NULL)
                freeReplyObject(r);
            return -1;
        }
        if ((r = cmd(c, "MULTI")) == NULL) {
            free(blob);
            return -1;
        }
        freeReplyObject(r);
        r = len ? cmd(c, "SET %s %b", key, blob, len) : cmd(c, "DEL %s", key);
        free(blob);
        if (r == NULL)
            return -1;
        freeReplyObject(r);
        if ((r = cmd(c, "EXEC")) == NULL)
            return -1;
        if (r->type == REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            return 0;
        }
        freeReplyObject(r);     /* nil: another writer; again */
    }
    fprintf(stderr, "spam: shard %02x: too many concurrent writers\n", shard);
    return -1;
}

/* HINCRBY meta field by delta (signed), never below 0. */
static int count_add(redisContext *c, const char *field, long long delta)
{
    redisReply *r = cmd(c, "HINCRBY " SPAM_KEY_META " %s %lld", field, delta);

    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER && r->integer < 0) {
        freeReplyObject(r);
        r = cmd(c, "HSET " SPAM_KEY_META " %s 0", field);
        if (r == NULL)
            return -1;
    }
    freeReplyObject(r);
    return 0;
}

int spam_store_learn(redisContext *c, const struct spam_model *delta, int sign,
                     unsigned long long cap, unsigned long long expire_days)
{
    uint32_t today = (uint32_t)(time(NULL) / 86400);
    redisReply *r;
    unsigned s;

    /* cap and expiry: given ones are stored, else the stored ones apply */
    if (cap > 0 || expire_days > 0) {
        r = cmd(c, "HSET " SPAM_KEY_META " %s %llu", cap > 0 ? "cap" : "expire",
                cap > 0 ? cap : expire_days);
        if (r == NULL)
            return -1;
        freeReplyObject(r);
        if (cap > 0 && expire_days > 0) {
            if ((r = cmd(c, "HSET " SPAM_KEY_META " expire %llu", expire_days)) == NULL)
                return -1;
            freeReplyObject(r);
        }
    }
    if ((r = cmd(c, "HMGET " SPAM_KEY_META " cap expire")) == NULL)
        return -1;
    cap = field_ull(r, 0) ? field_ull(r, 0) : SPAM_DEFAULT_CAP;
    expire_days = r->element[1]->type == REDIS_REPLY_STRING ? field_ull(r, 1)
                                                            : SPAM_DEFAULT_EXPIRE_DAYS;
    freeReplyObject(r);
    {
        /* the delta's entries sorted by key: each shard is one run of them */
        struct spam_entry *d = malloc((delta->used + 1) * sizeof(*d));
        size_t nd = 0, i, at = 0;
        if (d == NULL)
            return -1;
        for (i = 0; i < delta->cap; i++)
            if (delta->tab[i].key != 0)
                d[nd++] = delta->tab[i];
        qsort(d, nd, sizeof(*d), cmp_key);
        for (s = 0; s < SPAM_SHARDS; s++) {
            size_t from = at;
            while (at < nd && spam_shard_of(d[at].key) == s)
                at++;
            if (merge_shard(c, d + from, at - from, sign, s, today, (uint32_t)expire_days,
                            (size_t)(cap + SPAM_SHARDS - 1) / SPAM_SHARDS) < 0) {
                free(d);
                return -1;
            }
        }
        free(d);
    }
    if (count_add(c, "nspam", sign * (long long)delta->nspam) < 0 ||
        count_add(c, "nham", sign * (long long)delta->nham) < 0)
        return -1;
    r = cmd(c, "HSET " SPAM_KEY_META " updated %lld", (long long)time(NULL));
    if (r)
        freeReplyObject(r), r = cmd(c, "HINCRBY " SPAM_KEY_META " ver 1");
    if (r == NULL)
        return -1;
    freeReplyObject(r);
    return 0;
}

int spam_store_load(redisContext *c, struct spam_model *m, unsigned long long *ver)
{
    const char *argv[SPAM_SHARDS + 1];
    char keys[SPAM_SHARDS][32];
    unsigned long long ns, nh;
    redisReply *r;
    size_t total = 0, i;

    memset(m, 0, sizeof(*m));
    if ((r = cmd(c, "HMGET " SPAM_KEY_META " nspam nham ver")) == NULL)
        return -1;
    ns = field_ull(r, 0);
    nh = field_ull(r, 1);
    if (ver)
        *ver = field_ull(r, 2);
    freeReplyObject(r);
    argv[0] = "MGET";
    for (i = 0; i < SPAM_SHARDS; i++) {
        snprintf(keys[i], sizeof(keys[i]), SPAM_KEY_SHARD_FMT, (unsigned)i);
        argv[i + 1] = keys[i];
    }
    r = redisCommandArgv(c, SPAM_SHARDS + 1, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        fprintf(stderr, "spam: redis: cannot read the model: %s\n",
                r ? (r->str ? r->str : "bad reply") : c->errstr);
        if (r)
            freeReplyObject(r);
        return -1;
    }
    for (i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            total += r->element[i]->len / SPAM_ENTRY_BYTES;
    spam_model_init(m, total);
    m->nspam = ns;
    m->nham = nh;
    for (i = 0; i < r->elements; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING)
            spam_shard_decode(m, r->element[i]->str, r->element[i]->len);
    freeReplyObject(r);
    return 0;
}

int spam_store_forget(redisContext *c)
{
    unsigned s;
    redisReply *r;

    for (s = 0; s < SPAM_SHARDS; s++) {
        if ((r = cmd(c, "DEL " SPAM_KEY_SHARD_FMT, s)) == NULL)
            return -1;
        freeReplyObject(r);
    }
    /* the autolearn marks: SCAN (never KEYS on a live server) */
    {
        char cursor[32] = "0";
        do {
            size_t i;
            r = cmd(c, "SCAN %s MATCH %s* COUNT 1000", cursor, SPAM_KEY_AUTOLEARNED);
            if (r == NULL)
                return -1;
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                r->element[0]->type != REDIS_REPLY_STRING ||
                r->element[1]->type != REDIS_REPLY_ARRAY) {
                freeReplyObject(r);
                return -1;
            }
            snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
            for (i = 0; i < r->element[1]->elements; i++) {
                const redisReply *k = r->element[1]->element[i];
                redisReply *d;
                if (k->type != REDIS_REPLY_STRING)
                    continue;
                if ((d = cmd(c, "DEL %b", k->str, k->len)) == NULL) {
                    freeReplyObject(r);
                    return -1;
                }
                freeReplyObject(d);
            }
            freeReplyObject(r);
        } while (strcmp(cursor, "0") != 0);
    }
    /* keep cap and expire; counts go, ver goes on (so every node reloads) */
    if ((r = cmd(c, "HDEL " SPAM_KEY_META " nspam nham")) == NULL)
        return -1;
    freeReplyObject(r);
    if ((r = cmd(c, "HINCRBY " SPAM_KEY_META " ver 1")) == NULL)
        return -1;
    freeReplyObject(r);
    return 0;
}

int spam_store_stats(redisContext *c, struct spam_store_stats *st)
{
    redisReply *r;
    unsigned s;

    memset(st, 0, sizeof(*st));
    if ((r = cmd(c, "HMGET " SPAM_KEY_META " nspam nham ver cap expire updated")) == NULL)
        return -1;
    st->nspam = field_ull(r, 0);
    st->nham = field_ull(r, 1);
    st->ver = field_ull(r, 2);
    st->cap = field_ull(r, 3) ? field_ull(r, 3) : SPAM_DEFAULT_CAP;
    st->expire_days = r->element[4]->type == REDIS_REPLY_STRING ? field_ull(r, 4)
                                                                : SPAM_DEFAULT_EXPIRE_DAYS;
    st->updated = field_ull(r, 5);
    freeReplyObject(r);
    for (s = 0; s < SPAM_SHARDS; s++)
        redisAppendCommand(c, "STRLEN " SPAM_KEY_SHARD_FMT, s);
    for (s = 0; s < SPAM_SHARDS; s++) {
        void *rp = NULL;
        if (redisGetReply(c, &rp) != REDIS_OK || rp == NULL) {
            fprintf(stderr, "spam: redis: %s\n", c->errstr);
            return -1;
        }
        r = rp;
        if (r->type == REDIS_REPLY_INTEGER) {
            st->bytes += (unsigned long long)r->integer;
            st->features += (unsigned long long)r->integer / SPAM_ENTRY_BYTES;
        }
        freeReplyObject(r);
    }
    return 0;
}
