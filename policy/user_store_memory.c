/*
 * user_store_memory.c - the in-memory backend of the user store (see user_store.h), for
 * unit tests and offline runs. Requests complete on the next loop turn (an active event),
 * like a real backend, so callers meet the same "never inside the call" contract.
 */
#include "policy/user_store.h"

#include "lib/xalloc.h"
#include "policy/user_prefs.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct mem_field {
    char *addr, *field, *value;
};

struct mem_store {
    struct user_store base;        /* first: the handle given out */
    struct event_base *ev_base;
    struct mem_field *v;
    size_t n, cap;
    bool down;
    unsigned fetches;
};

struct user_store_req {
    struct mem_store *m;
    struct event *ev;
    bool is_write;
    /* fetch */
    char **addrs;
    size_t n;
    user_fetch_fn fetch_cb;
    /* write */
    char *addr, *field, *value;
    user_write_fn write_cb;
    void *arg;
};

static struct mem_field *find(struct mem_store *m, const char *addr, const char *field)
{
    size_t i;

    for (i = 0; i < m->n; i++)
        if (strcasecmp(m->v[i].addr, addr) == 0 && strcmp(m->v[i].field, field) == 0)
            return &m->v[i];
    return NULL;
}

static void put(struct mem_store *m, const char *addr, const char *field, const char *value)
{
    struct mem_field *f = find(m, addr, field);

    if (f != NULL) {
        free(f->value);
        if (value != NULL) {
            f->value = xstrdup(value);
            return;
        }
        free(f->addr);
        free(f->field);
        *f = m->v[--m->n];
        return;
    }
    if (value == NULL)
        return;
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->v = xrealloc(m->v, m->cap * sizeof(*m->v));
    }
    m->v[m->n++] = (struct mem_field){ xstrdup(addr), xstrdup(field), xstrdup(value) };
}

static struct user_prefs *prefs_of(struct mem_store *m, const char *addr)
{
    const char **names = xcalloc(m->n + 1, sizeof(*names));
    const char **values = xcalloc(m->n + 1, sizeof(*values));
    struct user_prefs *p;
    size_t i, k = 0;

    for (i = 0; i < m->n; i++)
        if (strcasecmp(m->v[i].addr, addr) == 0) {
            names[k] = m->v[i].field;
            values[k++] = m->v[i].value;
        }
    p = user_prefs_parse(names, values, k);
    free(names);
    free(values);
    return p;
}

static void req_free(struct user_store_req *r)
{
    size_t i;

    event_free(r->ev);
    for (i = 0; i < r->n; i++)
        free(r->addrs[i]);
    free(r->addrs);
    free(r->addr);
    free(r->field);
    free(r->value);
    free(r);
}

static void on_turn(evutil_socket_t fd, short what, void *arg)
{
    struct user_store_req *r = arg;
    struct mem_store *m = r->m;
    struct user_prefs **prefs;
    size_t i;

    (void)fd;
    (void)what;
    if (r->is_write) {
        if (!m->down)
            put(m, r->addr, r->field, r->value);
        r->write_cb(r->arg, m->down ? -1 : 0);
        req_free(r);
        return;
    }
    prefs = xcalloc(r->n, sizeof(*prefs));
    for (i = 0; i < r->n; i++)
        prefs[i] = m->down ? NULL : prefs_of(m, r->addrs[i]);
    r->fetch_cb(r->arg, prefs, r->n, m->down);
    for (i = 0; i < r->n; i++)
        user_prefs_unref(prefs[i]);
    free(prefs);
    req_free(r);
}

static struct user_store_req *req_new(struct mem_store *m, void *arg)
{
    struct user_store_req *r = xcalloc(1, sizeof(*r));

    r->m = m;
    r->arg = arg;
    r->ev = event_new(m->ev_base, -1, 0, on_turn, r);
    event_active(r->ev, 0, 0);
    return r;
}

static struct user_store_req *mem_fetch(void *impl, const char *const *addrs, size_t n,
                                        user_fetch_fn cb, void *arg)
{
    struct mem_store *m = impl;
    struct user_store_req *r = req_new(m, arg);
    size_t i;

    m->fetches++;
    r->fetch_cb = cb;
    r->n = n;
    r->addrs = xcalloc(n, sizeof(*r->addrs));
    for (i = 0; i < n; i++)
        r->addrs[i] = xstrdup(addrs[i]);
    return r;
}

static struct user_store_req *mem_write(void *impl, const char *addr, const char *field,
                                        const char *value, user_write_fn cb, void *arg)
{
    struct user_store_req *r = req_new(impl, arg);

    r->is_write = true;
    r->write_cb = cb;
    r->addr = xstrdup(addr);
    r->field = xstrdup(field);
    r->value = value ? xstrdup(value) : NULL;
    return r;
}

static void mem_cancel(void *impl, struct user_store_req *r)
{
    (void)impl;
    req_free(r);
}

static void mem_free(void *impl)
{
    struct mem_store *m = impl;
    size_t i;

    for (i = 0; i < m->n; i++) {
        free(m->v[i].addr);
        free(m->v[i].field);
        free(m->v[i].value);
    }
    free(m->v);
    free(m);
}

static const struct user_store_ops mem_ops = {
    .fetch = mem_fetch, .write = mem_write, .cancel = mem_cancel, .free = mem_free,
};

struct user_store *user_store_memory_new(struct event_base *base)
{
    struct mem_store *m = xcalloc(1, sizeof(*m));

    m->base.ops = &mem_ops;
    m->base.impl = m;
    m->ev_base = base;
    return &m->base;
}

void user_store_memory_put(struct user_store *s, const char *addr, const char *field,
                           const char *value)
{
    put(s->impl, addr, field, value);
}

void user_store_memory_set_down(struct user_store *s, bool down)
{
    ((struct mem_store *)s->impl)->down = down;
}

unsigned user_store_memory_fetches(const struct user_store *s)
{
    return ((const struct mem_store *)s->impl)->fetches;
}
