/*
 * admin.c - the admin socket of the daemon and its command table (see admin.h).
 *
 * posternctl connects, sends one command line, and prints what comes back. The commands
 * that change the queue (flush, hold, release, delete) are answered only once the change
 * is on disk. The table below is the one place that lists what the daemon answers; add a
 * row (and a handler) for a new command, and a row in posternctl's table for its CLI.
 */
#include "relay/admin.h"

#include "lib/log.h"
#include "lib/xalloc.h"
#include "relay/queue/queue.h"
#include "relay/queue/queue_policy.h"
#include "relay/relay_conf.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ADMIN_LINE_MAX   1024
#define ADMIN_ARGS_MAX   16
#define ADMIN_BACKLOG    16
#define ADMIN_TIMEOUT_S  30

#define AC(f) offsetof(struct admin_conf, f)
static const struct conf_key admin_keys[] = {
    { .name = "socket", .type = CONF_PATH, .offset = AC(socket),
      .help = "unix socket for posternctl (mode 0600; default: SPOOL_DIR/admin.sock)" },
    { .name = "http", .type = CONF_SECTION, .offset = AC(http), .sub = &admin_http_conf_section, .help = "admin HTTP listener: Prometheus /metrics, /livez, /readyz" },
    { NULL }
};
const struct conf_section admin_conf_section = { "admin", admin_keys, NULL };

struct admin_conn;

struct admin {
    struct admin_deps d;
    struct evconnlistener *lev;
    char *path;
    dev_t dev;                    /* the socket file we created: removed at the end only */
    ino_t ino;                    /* if it is still ours */
    struct admin_conn *conns;
};

struct admin_conn {
    struct admin_conn *next, *prev;
    struct admin *a;
    struct bufferevent *bev;
    struct admin_req *req;        /* the request being answered */
    bool answered;
};

struct admin_req {
    struct admin_conn *conn;      /* NULL once the client went away */
    struct queue *queue;
    struct evbuffer *body;
};

/* ---- commands ------------------------------------------------------------------------- */

static void cmd_ping(struct admin_req *req, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    admin_req_done(req, ADMIN_OK, "pong");
}

static void cmd_flush(struct admin_req *req, int argc, char **argv)
{
    struct queue *q = admin_req_queue(req);
    unsigned n = 0;
    int err;

    if (argc > 0 && strcmp(argv[0], "--domain") == 0) {
        const char *d = argc > 1 ? argv[1] : "";
        if (d[0] == '@')
            d++;
        if (argc != 2 || d[0] == '\0' || strchr(d, '@') != NULL) {
            admin_req_done(req, ADMIN_ERROR, "usage: flush --domain DOMAIN (or @DOMAIN: "
                           "with its subdomains)");
            return;
        }
        n = queue_flush_domain(q, d, argv[1][0] == '@');
        admin_req_done(req, ADMIN_OK, "%u message%s scheduled for delivery", n,
                       n == 1 ? "" : "s");
        return;
    }
    if (argc > 1) {
        admin_req_done(req, ADMIN_ERROR, "usage: flush [ID | --domain DOMAIN]");
        return;
    }
    err = queue_flush(q, argc > 0 ? argv[0] : NULL, &n);
    if (err == ENOENT)
        admin_req_done(req, ADMIN_ERROR, "%s: no such message", argv[0]);
    else if (err == EPERM)
        admin_req_done(req, ADMIN_ERROR, "%s: message is on hold (release it first)", argv[0]);
    else
        admin_req_done(req, ADMIN_OK, "%u message%s scheduled for delivery", n,
                       n == 1 ? "" : "s");
}

static void op_answer(void *arg, int err, const char *text)
{
    struct admin_req *req = arg;
    if (err == ENOENT)
        admin_req_done(req, ADMIN_ERROR, "no such message");
    else if (err)
        admin_req_done(req, ADMIN_TEMPFAIL, "%s", text);
    else
        admin_req_done(req, ADMIN_OK, "%s", text);
}

static void cmd_hold(struct admin_req *req, int argc, char **argv)
{
    (void)argc;
    queue_hold(admin_req_queue(req), argv[0], op_answer, req);
}

static void cmd_release(struct admin_req *req, int argc, char **argv)
{
    (void)argc;
    queue_release(admin_req_queue(req), argv[0], op_answer, req);
}

static void cmd_delete(struct admin_req *req, int argc, char **argv)
{
    (void)argc;
    queue_delete(admin_req_queue(req), argv[0], op_answer, req);
}

static void held_answer(void *arg, int err, const char *text)
{
    struct admin_req *req = arg;
    admin_req_done(req, err == ENOENT ? ADMIN_ERROR : err ? ADMIN_TEMPFAIL : ADMIN_OK, "%s",
                   text);
}

/* held release|delete ID: the recipients the policy held (relay/queue/queue_policy.h). */
static void cmd_held(struct admin_req *req, int argc, char **argv)
{
    (void)argc;
    if (strcmp(argv[0], "release") != 0 && strcmp(argv[0], "delete") != 0) {
        admin_req_done(req, ADMIN_ERROR, "usage: held release|delete ID");
        return;
    }
    queue_held_op(admin_req_queue(req), argv[1], argv[0][0] == 'r', held_answer, req);
}

static void status_line(void *arg, const char *text)
{
    admin_req_line(arg, "%s", text);
}

static void cmd_status(struct admin_req *req, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    queue_dump(admin_req_queue(req), status_line, req);
    admin_req_done(req, ADMIN_OK, NULL);
}

static const struct admin_cmd admin_commands[] = {
    { "ping",    0, 0, cmd_ping,    "ping" },
    { "flush",   0, 2, cmd_flush,   "flush [ID | --domain DOMAIN]" },
    { "hold",    1, 1, cmd_hold,    "hold ID" },
    { "release", 1, 1, cmd_release, "release ID" },
    { "delete",  1, 1, cmd_delete,  "delete ID" },
    { "status",  0, 0, cmd_status,  "status" },
    { "held",    2, 2, cmd_held,    "held release|delete ID" },
    /* More daemon commands (ratelimit, webhooks, ...) go here: one row each. */
    { NULL, 0, 0, NULL, NULL }
};

/* ---- requests --------------------------------------------------------------------------- */

struct queue *admin_req_queue(const struct admin_req *req)
{
    return req->queue;
}

void admin_req_line(struct admin_req *req, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    evbuffer_add_vprintf(req->body, fmt, ap);
    va_end(ap);
    evbuffer_add(req->body, "\n", 1);
}

static void conn_free(struct admin_conn *c)
{
    struct admin *a = c->a;
    if (c->req)
        c->req->conn = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    bufferevent_free(c->bev);
    free(c);
}

static void on_conn_write(struct bufferevent *bev, void *arg)
{
    struct admin_conn *c = arg;
    (void)bev;
    if (c->answered)
        conn_free(c);
}

void admin_req_done(struct admin_req *req, enum admin_status st, const char *fmt, ...)
{
    static const char *const words[] = { "ok", "error", "tempfail" };
    struct admin_conn *c = req->conn;

    if (c) {
        struct evbuffer *out = bufferevent_get_output(c->bev);
        char text[512] = "";
        if (fmt) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(text, sizeof(text), fmt, ap);
            va_end(ap);
        }
        evbuffer_add_printf(out, "%s%s%s\n", words[st], text[0] ? " " : "", text);
        evbuffer_add_buffer(out, req->body);
        c->req = NULL;
        c->answered = true;
        bufferevent_disable(c->bev, EV_READ);
        bufferevent_setcb(c->bev, NULL, on_conn_write, NULL, c);
        bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
        bufferevent_enable(c->bev, EV_WRITE);
    }
    evbuffer_free(req->body);
    free(req);
}

static void dispatch(struct admin_conn *c, char *line)
{
    char *argv[ADMIN_ARGS_MAX], *save = NULL, *w;
    const struct admin_cmd *cmd;
    struct admin_req *req = xcalloc(1, sizeof(*req));
    int argc = 0;

    req->conn = c;
    req->queue = c->a->d.queue;
    req->body = evbuffer_new();
    c->req = req;
    for (w = strtok_r(line, " ", &save); w && argc < ADMIN_ARGS_MAX;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    if (argc == 0) {
        admin_req_done(req, ADMIN_ERROR, "empty command");
        return;
    }
    for (cmd = admin_commands; cmd->name; cmd++)
        if (strcmp(cmd->name, argv[0]) == 0)
            break;
    if (cmd->name == NULL) {
        admin_req_done(req, ADMIN_ERROR, "unknown command \"%.40s\"", argv[0]);
        return;
    }
    if (argc - 1 < cmd->min_args || argc - 1 > cmd->max_args) {
        admin_req_done(req, ADMIN_ERROR, "usage: %s", cmd->usage);
        return;
    }
    log_info("admin", "command: %s%s%s", argv[0], argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
    cmd->fn(req, argc - 1, argv + 1);
}

static void on_conn_read(struct bufferevent *bev, void *arg)
{
    struct admin_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_ptr nl = evbuffer_search(in, "\n", 1, NULL);
    char line[ADMIN_LINE_MAX + 1];
    size_t n;

    if (c->req || c->answered)
        return;
    if (nl.pos < 0) {
        if (evbuffer_get_length(in) > ADMIN_LINE_MAX) {
            struct admin_req *req = xcalloc(1, sizeof(*req));
            req->conn = c;
            req->queue = c->a->d.queue;
            req->body = evbuffer_new();
            c->req = req;
            admin_req_done(req, ADMIN_ERROR, "command line too long");
        }
        return;
    }
    n = (size_t)nl.pos;
    if (n > ADMIN_LINE_MAX)
        n = ADMIN_LINE_MAX;
    evbuffer_remove(in, line, n);
    line[n] = '\0';
    if (n > 0 && line[n - 1] == '\r')
        line[n - 1] = '\0';
    dispatch(c, line);
}

static void on_conn_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    conn_free(arg); /* EOF, error or timeout: a pending request answers into the void */
}

static void on_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct admin *a = arg;
    struct admin_conn *c = xcalloc(1, sizeof(*c));
    struct timeval tv = { ADMIN_TIMEOUT_S, 0 };
    (void)lev;
    (void)sa;
    (void)salen;

    c->a = a;
    c->bev = bufferevent_socket_new(a->d.base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->next = a->conns;
    if (a->conns)
        a->conns->prev = c;
    a->conns = c;
    bufferevent_setcb(c->bev, on_conn_read, NULL, on_conn_event, c);
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    bufferevent_enable(c->bev, EV_READ);
}

char *admin_socket_path(const struct relay_conf *c)
{
    if (c->admin.socket)
        return xstrdup(c->admin.socket);
    return xasprintf("%s/admin.sock", c->spool_dir);
}

/* A socket file at the path: a live daemon's (someone accepts on it: 1), a stale one left
 * by a daemon that died (0), or -1 when it cannot be told (errno). */
static int admin_socket_alive(const struct sockaddr_un *un)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = -1;
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)un, sizeof(*un)) == 0 || errno == EAGAIN)
        rc = 1;                     /* EAGAIN: a listener whose backlog is full */
    else if (errno == ECONNREFUSED || errno == ENOENT)
        rc = 0;
    close(fd);
    return rc;
}

struct admin *admin_new(const struct admin_deps *deps)
{
    struct admin *a = xcalloc(1, sizeof(*a));
    struct sockaddr_un un;
    struct stat st;
    mode_t old;
    int fd;

    a->d = *deps;
    a->path = admin_socket_path(a->d.conf);
    a->d.conf = NULL;             /* read at start only: a reload frees it */
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    if (strlen(a->path) >= sizeof(un.sun_path)) {
        log_error("admin", "admin socket path too long: %s", a->path);
        goto fail;
    }
    memcpy(un.sun_path, a->path, strlen(a->path) + 1);
    if (lstat(a->path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        int alive = admin_socket_alive(&un);
        if (alive != 0) {
            if (alive > 0)
                log_error("admin", "admin socket %s is in use by another daemon", a->path);
            else
                log_error("admin", "cannot tell whether admin socket %s is in use: %s",
                          a->path, strerror(errno));
            goto fail;
        }
        unlink(a->path); /* stale: its daemon is gone */
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail_errno;
    old = umask(0177);
    if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
        int e = errno;
        umask(old);
        close(fd);
        errno = e;
        goto fail_errno;
    }
    umask(old);
    chmod(a->path, 0600);
    if (lstat(a->path, &st) == 0) {
        a->dev = st.st_dev;
        a->ino = st.st_ino;
    }
    a->lev = evconnlistener_new(a->d.base, on_accept, a, LEV_OPT_CLOSE_ON_FREE, ADMIN_BACKLOG, fd);
    if (a->lev == NULL) {
        close(fd);
        goto fail_errno;
    }
    log_info("admin", "admin socket %s", a->path);
    return a;
fail_errno:
    log_error("admin", "cannot listen on %s: %s", a->path, strerror(errno));
fail:
    free(a->path);
    free(a);
    return NULL;
}

void admin_free(struct admin *a)
{
    struct stat st;

    if (a == NULL)
        return;
    while (a->conns)
        conn_free(a->conns);
    if (a->lev)
        evconnlistener_free(a->lev);
    if (lstat(a->path, &st) == 0 && st.st_dev == a->dev && st.st_ino == a->ino)
        unlink(a->path); /* only our own socket, never one that replaced it */
    free(a->path);
    free(a);
}
