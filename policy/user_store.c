/*
 * user_store.c - the store interface's dispatch (see user_store.h).
 */
#include "policy/user_store.h"

struct user_store_req *user_store_fetch(struct user_store *s, const char *const *addrs,
                                        size_t n, user_fetch_fn cb, void *arg)
{
    return s->ops->fetch(s->impl, addrs, n, cb, arg);
}

struct user_store_req *user_store_write(struct user_store *s, const char *addr,
                                        const char *field, const char *value,
                                        user_write_fn cb, void *arg)
{
    return s->ops->write(s->impl, addr, field, value, cb, arg);
}

void user_store_cancel(struct user_store *s, struct user_store_req *req)
{
    s->ops->cancel(s->impl, req);
}

void user_store_free(struct user_store *s)
{
    if (s != NULL)
        s->ops->free(s->impl);
}
