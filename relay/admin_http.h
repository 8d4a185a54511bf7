/*
 * admin_http.h - the admin HTTP listener: /metrics (Prometheus), /livez and /readyz.
 *
 * An evhttp server on the daemon's loop, on admin.http.address (off unless configured).
 * Bound anywhere but loopback it needs admin.http.token or admin.http.client_ca (`postern
 * -n` refuses the config otherwise); with a token every request must carry
 * "Authorization: Bearer TOKEN" (else 401). admin.http.tls serves HTTPS with the server
 * certificate; client_ca (implies tls) makes the handshake require a client certificate
 * signed by that CA. /metrics, /livez and /readyz answer GET and HEAD; /api/v1/ is the JSON
 * API of the admin commands (relay/admin_api.c, docs/api.md).
 *   /metrics  the registry of lib/metrics.h as Prometheus text; deps->collect runs first
 *             to set the gauges computed at scrape time
 *   /livez    200 "ok" whenever the loop answers
 *   /readyz   200 "ready", or 503 with the reason deps->ready gives
 * It knows nothing of the daemon: what it reports comes through deps (the composition
 * root, relay/server_health.c, wires it). Loop thread only.
 */
#ifndef POSTERN_ADMIN_HTTP_H
#define POSTERN_ADMIN_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/conf.h"

struct event_base;
struct admin_http;

/* The "admin.http" config section (keys in admin_http.c). */
struct admin_http_conf {
    char *address;               /* "127.0.0.1:8026", "[::1]:8026"; NULL: no listener */
    char *token;                 /* bearer token; NULL: none */
    bool tls;                    /* HTTPS with the server certificate (tls.cert, tls.key) */
    char *client_ca;             /* PEM CA file: clients need a certificate it signed */
};
extern const struct conf_section admin_http_conf_section;

/* How a command of the admin socket ended (relay/admin.h), and where its answer goes. */
enum admin_status { ADMIN_OK, ADMIN_ERROR, ADMIN_TEMPFAIL };
typedef void (*admin_answer_fn)(void *arg, enum admin_status st, const char *text,
                                const char *body, size_t len);

struct admin_http_deps {
    struct event_base *base;
    void (*collect)(void *arg);                       /* before /metrics renders */
    int (*ready)(void *arg, char *why, size_t len);   /* 1 ready; 0 and why: not ready */
    /* /api/v1/: run a command line of the admin socket (relay/admin.c admin_command) */
    void (*command)(void *arg, int argc, char **argv, admin_answer_fn answer,
                    void *answer_arg);
    void *arg;
    const char *cert, *key;      /* PEM files for tls (the config's tls.cert, tls.key) */
};

/* Listen as c says (NULL without an address: nothing to do). *failed is set when the
 * listener was configured but could not be bound (logged). deps is copied. */
struct admin_http *admin_http_new(const struct admin_http_conf *c,
                                  const struct admin_http_deps *deps, int *failed);
void admin_http_free(struct admin_http *h);

#endif
