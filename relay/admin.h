/*
 * admin.h - the daemon's local admin socket (a unix socket, mode 0600) for posternctl.
 *
 * Protocol, one request per connection:
 *   client:  one line "COMMAND [ARG...]\n" (words separated by single spaces, <= 1024 bytes)
 *   server:  a status line "ok[ TEXT]", "error[ TEXT]" (the request failed: no such message,
 *            bad arguments) or "tempfail[ TEXT]" (try again later), then zero or more body
 *            lines, then it closes the connection.
 * Commands are rows of one table in admin.c (name, argument counts, handler, usage); a
 * handler may answer at once or later (after a record is fsynced) through its request
 * handle. The connection may go away meanwhile: the handle stays valid until
 * admin_req_done(), which then just frees it.
 *
 * Loop thread only.
 */
#ifndef POSTERN_ADMIN_H
#define POSTERN_ADMIN_H

#include "lib/conf.h"
#include "relay/admin_http.h"

struct server;
struct relay_conf;
struct admin;
struct admin_req;

/* The "admin" config section (keys in admin.c). */
struct admin_conf {
    char *socket;                /* NULL: SPOOL_DIR/admin.sock */
    struct admin_http_conf http; /* /metrics, /livez, /readyz (relay/admin_http.c) */
};
extern const struct conf_section admin_conf_section;

/* The socket path for a config (malloc'd). posternctl uses the same function. */
char *admin_socket_path(const struct relay_conf *c);

/* Listen on the config's socket (a stale socket file is replaced). NULL after logging. */
struct admin *admin_new(struct server *srv);

/* Close the socket and every connection; requests still pending answer into the void. */
void admin_free(struct admin *a);

/* ---- for command handlers --------------------------------------------------------- */

/* enum admin_status and admin_answer_fn are in admin_http.h (the HTTP API uses them). */

/* Run one command line (the admin socket's commands and those of relay/admin_ops.c, which
 * go to the worker pool) for another front end, the HTTP API: answer() runs once, on the
 * loop thread, maybe before admin_command returns; body (len bytes, NULL when empty) is
 * the output. argv is copied where needed. */
void admin_command(struct server *srv, int argc, char **argv, admin_answer_fn answer,
                   void *arg);

typedef void (*admin_cmd_fn)(struct admin_req *req, int argc, char **argv);

struct admin_cmd {
    const char *name;
    int min_args, max_args;      /* after the command word */
    admin_cmd_fn fn;
    const char *usage;           /* "flush [ID]" */
};

struct server *admin_req_server(const struct admin_req *req);

/* Add a body line (no newline in fmt). */
void admin_req_line(struct admin_req *req, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Answer and release the request. Call exactly once per request. */
void admin_req_done(struct admin_req *req, enum admin_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
