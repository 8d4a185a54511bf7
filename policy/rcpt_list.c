/*
 * rcpt_list.c - a domain's list of valid recipients (see rcpt_list.h): entries kept
 * sorted, looked up by binary search.
 */
#include "policy/rcpt_list.h"

#include "lib/redis.h"
#include "lib/xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

struct rcpt_list {
    char **v;       /* lower-case entries, sorted: "alice@example.test", "bob" */
    size_t n;
    bool all;       /* "*" */
};

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool entry_valid(const char *s, size_t n)
{
    size_t i, at = 0;

    if (n == 0 || n > 254)
        return false;
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= ' ' || ch == 0x7f || ch == '<' || ch == '>')
            return false;
        at += ch == '@';
    }
    return at <= 1 && s[0] != '@' && s[n - 1] != '@';
}

struct rcpt_list *rcpt_list_parse(const char *text, size_t len, size_t *skipped)
{
    struct rcpt_list *l = xcalloc(1, sizeof(*l));
    size_t cap = 0, bad = 0, pos = 0;

    while (pos < len) {
        const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos, i;
        const char *hash = memchr(line, '#', n);
        pos += n + (nl != NULL);
        if (hash != NULL)
            n = (size_t)(hash - line);
        while (n > 0 && isspace((unsigned char)*line))
            line++, n--;
        while (n > 0 && isspace((unsigned char)line[n - 1]))
            n--;
        if (n == 0)
            continue;
        if (n == 1 && line[0] == '*') {
            l->all = true;
            continue;
        }
        if (!entry_valid(line, n)) {
            bad++;
            continue;
        }
        if (l->n == cap) {
            cap = cap ? cap * 2 : 64;
            l->v = xrealloc(l->v, cap * sizeof(*l->v));
        }
        l->v[l->n] = xmalloc(n + 1);
        for (i = 0; i < n; i++)
            l->v[l->n][i] = (char)tolower((unsigned char)line[i]);
        l->v[l->n][n] = '\0';
        l->n++;
    }
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), cmp);
    if (skipped != NULL)
        *skipped = bad;
    return l;
}

void rcpt_list_free(struct rcpt_list *l)
{
    size_t i;

    if (l == NULL)
        return;
    for (i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    free(l);
}

static bool has(const struct rcpt_list *l, const char *key)
{
    return l->n > 0 && bsearch(&key, l->v, l->n, sizeof(*l->v), cmp) != NULL;
}

bool rcpt_list_has(const struct rcpt_list *l, const char *addr)
{
    char buf[512], *at, *plus;
    size_t i;

    if (l->all)
        return true;
    for (i = 0; addr[i] != '\0' && i + 1 < sizeof(buf); i++)
        buf[i] = (char)tolower((unsigned char)addr[i]);
    buf[i] = '\0';
    if ((at = strrchr(buf, '@')) == NULL)
        return has(l, buf);
    plus = memchr(buf, '+', (size_t)(at - buf));
    if (plus != NULL && plus > buf)
        memmove(plus, at, strlen(at) + 1), at = plus;
    if (has(l, buf))
        return true;
    *at = '\0';
    return has(l, buf);
}

size_t rcpt_list_count(const struct rcpt_list *l)
{
    return l->n;
}

static char *rcpt_key(const char *addr, const char *what, const char *member)
{
    const char *at = strrchr(addr, '@');
    char *tag = redis_key_escape(at ? at + 1 : "");
    char *key = xasprintf("pt:rcpt:{%s}:%s%s", tag, what, member ? member : "");

    free(tag);
    return key;
}

char *rcpt_learned_key(const char *addr)
{
    return rcpt_key(addr, "learned", NULL);
}

char *rcpt_callout_key(const char *addr)
{
    char *member = redis_key_escape(addr);
    char *key = rcpt_key(addr, "co:", member);

    free(member);
    return key;
}
