/*
 * admin.c - the admin socket of the daemon and its command table (see admin.h).
 *
 * posternctl connects, sends one command line, and prints what comes back. The commands
 * that change the queue (flush, hold, release, delete) are answered only once the change
 * is on disk. The table below is the one place that lists what the daemon answers; add a
 * row (and a handler) for a new command, and a row in posternctl's table for its CLI.
 */
#include "relay/admin.h"

#include "lib/errout.h"
#include "lib/log.h"
#include "lib/redis.h"
#include "lib/version.h"
#include "lib/workpool.h"
#include "lib/xalloc.h"
#include "relay/admin_ops.h"
#include "relay/queue/queue.h"
#include "relay/relay_conf.h"
#include "relay/server.h"
#include "webhooks/webhooks.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
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
    struct server *srv;
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
    struct admin_conn *conn;      /* socket: NULL once the client went away */
    admin_answer_fn answer;       /* admin_command(): called instead of a socket write */
    void *answer_arg;
    struct server *srv;
    struct evbuffer *body;
};

/* ---- commands ------------------------------------------------------------------------- */

static void cmd_ping(struct admin_req *req, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    admin_req_done(req, ADMIN_OK, "pong");
}

/* " (delivery is paused: ...)" when flushing would schedule nothing right now. */
static const char *paused_note(struct server *srv)
{
    switch (queue_paused(srv->queue)) {
    case QUEUE_PAUSED_ADMIN:
        return " (delivery is paused: posternctl resume)";
    case QUEUE_PAUSED_CONFIG:
        return " (delivery is paused by queue.paused in the configuration)";
    default:
        return "";
    }
}

static void cmd_flush(struct admin_req *req, int argc, char **argv)
{
    struct server *srv = admin_req_server(req);
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
        n = queue_flush_domain(srv->queue, d, argv[1][0] == '@');
        admin_req_done(req, ADMIN_OK, "%u message%s scheduled for delivery%s", n,
                       n == 1 ? "" : "s", paused_note(srv));
        return;
    }
    if (argc > 1) {
        admin_req_done(req, ADMIN_ERROR, "usage: flush [ID | --domain DOMAIN]");
        return;
    }
    err = queue_flush(srv->queue, argc > 0 ? argv[0] : NULL, &n);
    if (err == ENOENT)
        admin_req_done(req, ADMIN_ERROR, "%s: no such message", argv[0]);
    else if (err == EPERM)
        admin_req_done(req, ADMIN_ERROR, "%s: message is on hold (release it first)", argv[0]);
    else
        admin_req_done(req, ADMIN_OK, "%u message%s scheduled for delivery%s", n,
                       n == 1 ? "" : "s", paused_note(srv));
}

static void cmd_pause(struct admin_req *req, int argc, char **argv)
{
    struct server *srv = admin_req_server(req);
    (void)argc;
    (void)argv;
    queue_set_paused(srv->queue, true);
    admin_req_done(req, ADMIN_OK, "delivery paused: mail is still accepted and queued "
                   "(posternctl resume)");
}

static void cmd_resume(struct admin_req *req, int argc, char **argv)
{
    struct server *srv = admin_req_server(req);
    (void)argc;
    (void)argv;
    queue_set_paused(srv->queue, false);
    if (queue_paused(srv->queue) == QUEUE_PAUSED_CONFIG)
        admin_req_done(req, ADMIN_OK, "delivery stays paused: queue.paused is true in the "
                       "configuration (set it to false and reload)");
    else
        admin_req_done(req, ADMIN_OK, "delivery resumed");
}

/* webhooks retry: the outbox now, not on the retry schedule. */
static void cmd_webhooks(struct admin_req *req, int argc, char **argv)
{
    struct server *srv = admin_req_server(req);
    unsigned n;

    (void)argc;
    if (strcmp(argv[0], "retry") != 0) {
        admin_req_done(req, ADMIN_ERROR, "usage: webhooks retry");
        return;
    }
    n = webhooks_retry_now(srv->webhooks);
    admin_req_done(req, ADMIN_OK, "%u webhook deliver%s sent now; outbox rescanned", n,
                   n == 1 ? "y" : "ies");
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
    queue_hold(admin_req_server(req)->queue, argv[0], op_answer, req);
}

static void cmd_release(struct admin_req *req, int argc, char **argv)
{
    (void)argc;
    queue_release(admin_req_server(req)->queue, argv[0], op_answer, req);
}

static void cmd_delete(struct admin_req *req, int argc, char **argv)
{
    (void)argc;
    queue_delete(admin_req_server(req)->queue, argv[0], op_answer, req);
}

static void status_line(void *arg, const char *text)
{
    admin_req_line(arg, "%s", text);
}

static void fmt_duration(char *buf, size_t len, long long s)
{
    if (s < 0)
        s = 0;
    if (s >= 86400)
        snprintf(buf, len, "%lldd %lldh %lldm", s / 86400, s % 86400 / 3600, s % 3600 / 60);
    else if (s >= 3600)
        snprintf(buf, len, "%lldh %lldm %llds", s / 3600, s % 3600 / 60, s % 60);
    else if (s >= 60)
        snprintf(buf, len, "%lldm %llds", s / 60, s % 60);
    else
        snprintf(buf, len, "%llds", s);
}

static struct timespec mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts;
}

/* status: an overview like smtpctl show status, then what the runner holds per message
 * ("QID STATE TRIES NEXT", under a header). One "key: value" line each. */
static void cmd_status(struct admin_req *req, int argc, char **argv)
{
    struct server *srv = admin_req_server(req);
    const struct relay_conf *c = &srv->cf->c;
    const struct listener_conf *l = c->listeners.items;
    long long now = (long long)time(NULL);
    struct queue_counts qc;
    struct webhooks_stats ws;
    char up[64], started[64], oldest[64];
    struct tm tm;
    time_t t = (time_t)srv->started;
    size_t i;
    char *sock;

    (void)argc;
    (void)argv;
    gmtime_r(&t, &tm);
    strftime(started, sizeof(started), "%Y-%m-%d %H:%M:%S UTC", &tm);
    fmt_duration(up, sizeof(up), now - srv->started);
    admin_req_line(req, "pid: %ld", (long)getpid());
    admin_req_line(req, "version: %s", POSTERN_VERSION);
    admin_req_line(req, "uptime: %s (since %s)", up, started);
    admin_req_line(req, "config: %s", srv->cf->path ? srv->cf->path : "-");
    admin_req_line(req, "spool: %s", c->spool_dir);
    for (i = 0; i < c->listeners.n; i++)
        admin_req_line(req, "listener: %s %s (%s)%s", l[i].name, l[i].address, l[i].profile,
                       srv->shutting_down ? " closed" : "");
    sock = admin_socket_path(c);
    admin_req_line(req, "admin: socket %s%s%s", sock, c->admin.http.address ? ", http " : "",
                   c->admin.http.address ? c->admin.http.address : "");
    free(sock);
    queue_counts_get(srv->queue, &qc);
    if (qc.oldest_arrival >= 0)
        fmt_duration(oldest, sizeof(oldest), now - qc.oldest_arrival);
    admin_req_line(req, "queue: %u message%s (active %u, deferred %u, held %u, corrupt %u)%s%s",
                   qc.messages, qc.messages == 1 ? "" : "s", qc.active, qc.deferred, qc.held,
                   queue_corrupt_count(srv->queue), qc.oldest_arrival >= 0 ? ", oldest " : "",
                   qc.oldest_arrival >= 0 ? oldest : "");
    switch (queue_paused(srv->queue)) {
    case QUEUE_PAUSED_ADMIN:
        admin_req_line(req, "delivery: paused (posternctl resume)");
        break;
    case QUEUE_PAUSED_CONFIG:
        admin_req_line(req, "delivery: paused (queue.paused in the configuration)");
        break;
    default:
        admin_req_line(req, "delivery: running%s", srv->shutting_down ? ", shutting down" : "");
    }
    if (srv->redis == NULL) {
        admin_req_line(req, "redis: not used by this configuration");
    } else if (redis_state(srv->redis) == REDIS_STATE_UP) {
        admin_req_line(req, "redis: up (%s)", redis_where(srv->redis));
    } else {
        char down[64] = "?";
        if (srv->redis_down_since >= 0)
            fmt_duration(down, sizeof(down), (long long)mono_now().tv_sec -
                         srv->redis_down_since);
        admin_req_line(req, "redis: DOWN for %s (%s)", down, redis_where(srv->redis));
    }
    if (srv->webhooks != NULL && c->webhooks.endpoints.n > 0) {
        webhooks_get_stats(srv->webhooks, &ws);
        admin_req_line(req, "webhooks: %zu endpoint%s, %u pending, %llu delivered, "
                       "%llu failed, %llu refused", c->webhooks.endpoints.n,
                       c->webhooks.endpoints.n == 1 ? "" : "s", ws.pending, ws.delivered,
                       ws.failed, ws.refused);
    } else {
        admin_req_line(req, "webhooks: no endpoints");
    }
    if (qc.messages > 0) {
        admin_req_line(req, "%s", "");
        admin_req_line(req, "QUEUE ID STATE TRIES NEXT_TRY");
        queue_dump(srv->queue, status_line, req);
    }
    admin_req_done(req, ADMIN_OK, NULL);
}

static const struct admin_cmd admin_commands[] = {
    { "ping",    0, 0, cmd_ping,    "ping" },
    { "flush",   0, 2, cmd_flush,   "flush [ID | --domain DOMAIN]" },
    { "hold",    1, 1, cmd_hold,    "hold ID" },
    { "release", 1, 1, cmd_release, "release ID" },
    { "delete",  1, 1, cmd_delete,  "delete ID" },
    { "status",  0, 0, cmd_status,  "status" },
    { "pause",   0, 0, cmd_pause,   "pause" },
    { "resume",  0, 0, cmd_resume,  "resume" },
    { "webhooks", 1, 1, cmd_webhooks, "webhooks retry" },
    /* More daemon commands (ratelimit, webhooks, ...) go here: one row each. */
    { NULL, 0, 0, NULL, NULL }
};

/* ---- requests --------------------------------------------------------------------------- */

struct server *admin_req_server(const struct admin_req *req)
{
    return req->srv;
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
    char text[512] = "";

    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
    }
    if (req->answer) {
        size_t len = evbuffer_get_length(req->body);
        req->answer(req->answer_arg, st, text, (const char *)evbuffer_pullup(req->body, -1),
                    len);
    } else if (c) {
        struct evbuffer *out = bufferevent_get_output(c->bev);
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

/* ---- the commands of relay/admin_ops.c, on the worker pool ----------------------------- */

struct op_job {
    struct admin_req *req;
    struct config *cf;            /* a reference: a reload may swap srv->cf meanwhile */
    int argc;
    char **argv;
    char *out, *err;
    size_t out_len, err_len;
    int rc;
};

/* Worker thread: the op writes to memory, its error reasons too (errout). */
static void op_work(void *arg)
{
    struct op_job *j = arg;
    FILE *out = open_memstream(&j->out, &j->out_len);
    FILE *err = open_memstream(&j->err, &j->err_len);

    if (out == NULL || err == NULL) {
        j->rc = EX_OSERR;
    } else {
        errout_set(err);
        j->rc = admin_ops_run(&j->cf->c, j->argc, j->argv, out);
        errout_set(NULL);
    }
    if (out)
        fclose(out);
    if (err)
        fclose(err);
}

static void op_done(void *arg)
{
    struct op_job *j = arg;
    char *text = j->err ? j->err : "";
    size_t n = strcspn(text, "\n");
    int i;

    text[n] = '\0';
    if (j->out && j->out_len)
        evbuffer_add(j->req->body, j->out, j->out_len);
    if (j->rc == 0)
        admin_req_done(j->req, ADMIN_OK, NULL);
    else if (j->rc == EX_TEMPFAIL || j->rc == EX_UNAVAILABLE || j->rc == EX_OSERR)
        admin_req_done(j->req, ADMIN_TEMPFAIL, "%s", *text ? text : "temporary failure");
    else if (j->rc == EX_USAGE)
        admin_req_done(j->req, ADMIN_ERROR, "usage error%s%s", *text ? ": " : "", text);
    else
        admin_req_done(j->req, ADMIN_ERROR, "%s", *text ? text : "failed");
    config_unref(j->cf);
    for (i = 0; i < j->argc; i++)
        free(j->argv[i]);
    free(j->argv);
    free(j->out);
    free(j->err);
    free(j);
}

static void op_submit(struct admin_req *req, int argc, char **argv)
{
    struct op_job *j = xcalloc(1, sizeof(*j));
    int i;

    j->req = req;
    j->cf = config_ref(req->srv->cf);
    j->argc = argc;
    j->argv = xcalloc((size_t)argc + 1, sizeof(char *));
    for (i = 0; i < argc; i++)
        j->argv[i] = xstrdup(argv[i]);
    workpool_submit(req->srv->wp, op_work, op_done, j);
}

static void run_command(struct admin_req *req, int argc, char **argv)
{
    const struct admin_cmd *cmd;
    const struct admin_op *op;

    if (argc == 0) {
        admin_req_done(req, ADMIN_ERROR, "empty command");
        return;
    }
    if ((op = admin_op_find(argc, argv)) != NULL) {
        if (argc - 1 < op->min_args || argc - 1 > op->max_args) {
            admin_req_done(req, ADMIN_ERROR, "usage error: wrong number of arguments for "
                           "%s", argv[0]);
            return;
        }
        log_info("admin", "command: %s%s%s", argv[0], argc > 1 ? " " : "",
                 argc > 1 ? argv[1] : "");
        op_submit(req, argc, argv);
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

void admin_command(struct server *srv, int argc, char **argv, admin_answer_fn answer,
                   void *arg)
{
    struct admin_req *req = xcalloc(1, sizeof(*req));

    req->answer = answer;
    req->answer_arg = arg;
    req->srv = srv;
    req->body = evbuffer_new();
    run_command(req, argc, argv);
}

static void dispatch(struct admin_conn *c, char *line)
{
    char *argv[ADMIN_ARGS_MAX], *save = NULL, *w;
    struct admin_req *req = xcalloc(1, sizeof(*req));
    int argc = 0;

    req->conn = c;
    req->srv = c->a->srv;
    req->body = evbuffer_new();
    c->req = req;
    for (w = strtok_r(line, " ", &save); w && argc < ADMIN_ARGS_MAX;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = w;
    run_command(req, argc, argv);
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
            req->srv = c->a->srv;
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
    c->bev = bufferevent_socket_new(a->srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
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

struct admin *admin_new(struct server *srv)
{
    struct admin *a = xcalloc(1, sizeof(*a));
    struct sockaddr_un un;
    struct stat st;
    mode_t old;
    int fd;

    a->srv = srv;
    a->path = admin_socket_path(&srv->cf->c);
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
    a->lev = evconnlistener_new(srv->base, on_accept, a, LEV_OPT_CLOSE_ON_FREE, ADMIN_BACKLOG, fd);
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
