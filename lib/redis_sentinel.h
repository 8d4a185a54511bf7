/*
 * redis_sentinel.h - ask Redis Sentinel where the master is (SENTINEL
 * get-master-addr-by-name), asynchronously for the daemon and blocking for posternctl.
 *
 * The sentinels are asked in the configured order; the first that answers with an address
 * wins. A sentinel that refuses, does not know the name, or does not answer within the
 * timeout is skipped. lib/redis.c asks again after every lost connection, on a READONLY
 * answer, and when the server it reached says (ROLE) that it is no longer the master, so
 * a failover is followed within one reconnect.
 * Threading: loop thread (async); any thread (blocking).
 */
#ifndef POSTERN_REDIS_SENTINEL_H
#define POSTERN_REDIS_SENTINEL_H

#include <stddef.h>

struct event_base;
struct sentinel_query;

/* host is the master's IP literal and port its port; host NULL: no sentinel knew (why
 * says what happened to the last one asked). Both strings belong to the query: copy them
 * before sentinel_cancel. Loop thread, never inside sentinel_ask. */
typedef void (*sentinel_fn)(const char *host, int port, const char *why, void *arg);

/* Ask sentinels[0..n) ("IP:PORT") for master. Free with sentinel_cancel (not after cb). */
struct sentinel_query *sentinel_ask(struct event_base *base, char *const *sentinels, size_t n,
                                    const char *master, long long timeout_ms, sentinel_fn cb,
                                    void *arg);
/* Stop a query whose callback has not run; cb never runs then. */
void sentinel_cancel(struct sentinel_query *q);

/* The same, blocking. 0 with host/port filled, or -1 (why printed to stderr). */
int sentinel_ask_blocking(char *const *sentinels, size_t n, const char *master,
                          long long timeout_ms, char *host, size_t hostlen, int *port);

#endif
