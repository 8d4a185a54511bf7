/*
 * scan_client.c - starts, watches and restarts postern-scan, and matches its replies to
 * the scans submitted (scan_client.h, protocol in scan_proto.h).
 *
 * States: STARTING (spawned, no engine yet), READY (an engine is loaded: scans accepted),
 * DOWN (died or could not start: a restart timer runs, backoff doubling from restart_min to
 * restart_max; reset when an engine is ready again). When the scanner dies, every scan in
 * flight gets SCAN_UNAVAILABLE and nothing else: no result is guessed.
 */
#include "content/scan_client.h"

#include "content/scan_proto.h"
#include "content/virus_conf.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define COMP "scan"
#define REAP_TRIES 500               /* x 1 ms: an exiting scanner is reaped at once */

enum scan_state { ST_STARTING, ST_READY, ST_DOWN };

struct scan_req {
    struct scan_req *prev, *next;
    struct scan_client *c;
    uint64_t id;
    struct event *timer;
    scan_done_fn done;
    void *arg;
};

struct scan_client {
    struct event_base *base;
    struct virus_conf conf;           /* strings owned */
    struct scan_client_opts opts;
    scan_avail_fn avail;
    void *avail_arg;
    enum scan_state state;
    char why[256];
    pid_t pid;
    int fd;
    struct event *rd, *restart;
    long long backoff_ms;
    unsigned restarts, inflight, engines;
    uint64_t next_id;
    struct scan_req *head;
};

const char *scan_status_name(enum scan_status s)
{
    static const char *const n[] = { "clean", "virus", "unscanned", "encrypted", "error",
                                     "unavailable" };

    return (unsigned)s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}

static void req_unlink(struct scan_req *r)
{
    struct scan_client *c = r->c;

    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        c->head = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    c->inflight--;
    event_free(r->timer);
}

static void req_finish(struct scan_req *r, enum scan_status st, const char *detail)
{
    struct scan_result res = { st, detail };

    req_unlink(r);
    r->done(&res, r->arg);
    free(r);
}

static void set_state(struct scan_client *c, enum scan_state st, const char *why)
{
    bool was = c->state == ST_READY;

    c->state = st;
    snprintf(c->why, sizeof(c->why), "%s", st == ST_READY ? "" : why);
    if (c->avail != NULL && was != (st == ST_READY))
        c->avail(st == ST_READY, c->why, c->avail_arg);
}

static void reap(struct scan_client *c, char *how, size_t howlen)
{
    int st = 0, i;
    pid_t r = 0;

    for (i = 0; i < REAP_TRIES && (r = waitpid(c->pid, &st, WNOHANG)) == 0; i++) {
        struct timespec ms = { 0, 1000000 };

        nanosleep(&ms, NULL);
    }
    if (r == 0) {
        kill(c->pid, SIGKILL);
        r = waitpid(c->pid, &st, 0);
    }
    if (r != c->pid)
        snprintf(how, howlen, "gone");
    else if (WIFSIGNALED(st))
        snprintf(how, howlen, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(how, howlen, "exited with status %d", WEXITSTATUS(st));
    c->pid = 0;
}

static void schedule_restart(struct scan_client *c)
{
    struct timeval tv = { c->backoff_ms / 1000, (c->backoff_ms % 1000) * 1000 };

    evtimer_add(c->restart, &tv);
    c->backoff_ms *= 2;
    if (c->backoff_ms > c->conf.restart_max_ms)
        c->backoff_ms = c->conf.restart_max_ms;
}

/* The scanner is gone (EOF, error or failed start): fail what was in flight, restart. */
static void scanner_down(struct scan_client *c, const char *why)
{
    char how[128] = "not started";
    struct scan_req *r;

    if (c->rd != NULL) {
        event_free(c->rd);
        c->rd = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    if (c->pid > 0)
        reap(c, how, sizeof(how));
    log_error(COMP, "virus scanner %s (%s); %u scans in flight get the unsure rule; "
              "restart in %lld ms", how, why, c->inflight, c->backoff_ms);
    set_state(c, ST_DOWN, "scanner restarting");
    while ((r = c->head) != NULL)
        req_finish(r, SCAN_UNAVAILABLE, "scanner died");
    schedule_restart(c);
}

static void on_status(struct scan_client *c, const char *text)
{
    int prio;
    int n = 0;

    if (sscanf(text, "log %d %n", &prio, &n) == 1 && n > 0) {
        log_msg(prio, COMP, "%s", text + n);
    } else if (strncmp(text, "ready ", 6) == 0) {
        c->backoff_ms = c->conf.restart_min_ms;
        c->engines++;
        set_state(c, ST_READY, "");
    } else if (strncmp(text, "noengine ", 9) == 0) {
        log_error(COMP, "virus scanning unavailable: %s; mail is deferred (4xx), never "
                  "passed unscanned", text + 9);
        if (c->state != ST_READY) {
            char why[200];

            snprintf(why, sizeof(why), "no engine: %.180s", text + 9);
            set_state(c, ST_STARTING, why);
            if (c->avail != NULL)
                c->avail(false, c->why, c->avail_arg);
        }
    }
}

static void on_reply(struct scan_client *c, const struct scan_reply *rp)
{
    static const struct { const char *word; enum scan_status st; } words[] = {
        { "clean", SCAN_CLEAN }, { "virus", SCAN_VIRUS }, { "unscanned", SCAN_UNSCANNED },
        { "encrypted", SCAN_ENCRYPTED }, { "error", SCAN_ERROR },
    };
    struct scan_req *r;
    size_t i, wl;

    for (r = c->head; r != NULL && r->id != rp->id; r = r->next)
        ;
    if (r == NULL)
        return;                        /* cancelled or timed out */
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        wl = strlen(words[i].word);
        if (strncmp(rp->text, words[i].word, wl) == 0 &&
            (rp->text[wl] == '\0' || rp->text[wl] == ' ')) {
            req_finish(r, words[i].st, rp->text[wl] == ' ' ? rp->text + wl + 1 : "");
            return;
        }
    }
    req_finish(r, SCAN_ERROR, "unknown reply");
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    struct scan_client *c = arg;
    struct scan_reply rp;
    int i;

    (void)what;
    for (i = 0; i < 64; i++) {
        ssize_t n = recv(fd, &rp, sizeof(rp), 0);

        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            scanner_down(c, n == 0 ? "connection closed" : strerror(errno));
            return;
        }
        if ((size_t)n != sizeof(rp))
            continue;
        rp.text[sizeof(rp.text) - 1] = '\0';
        if (rp.id == 0)
            on_status(c, rp.text);
        else
            on_reply(c, &rp);
        if (c->fd != fd)
            return;                    /* a callback ended this scanner */
    }
}

static int spawn(struct scan_client *c)
{
    char a[14][32], *argv[32];
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    sigset_t none, def;
    int sv[2], child, argc = 0, rc;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    /* dup2 onto the same number would keep FD_CLOEXEC: keep the child's end above 3. */
    child = fcntl(sv[1], F_DUPFD_CLOEXEC, SCAN_PROTO_FD + 1);
    close(sv[1]);
    if (child < 0) {
        close(sv[0]);
        return -1;
    }
    argv[argc++] = c->conf.scanner;
    argv[argc++] = "--db";
    argv[argc++] = c->conf.database;
#define NUM(opt, i, fmt, v) (snprintf(a[i], sizeof(a[i]), fmt, v), argv[argc++] = opt, \
                             argv[argc++] = a[i])
    NUM("--threads", 0, "%lld", c->conf.threads);
    NUM("--max-scansize", 1, "%llu", c->conf.max_scansize);
    NUM("--max-filesize", 2, "%llu", c->conf.max_filesize);
    NUM("--max-recursion", 3, "%lld", c->conf.max_recursion);
    NUM("--max-files", 4, "%lld", c->conf.max_files);
    NUM("--max-scantime", 5, "%lld", c->conf.max_scantime_ms);
    NUM("--max-memory", 6, "%llu", c->conf.max_memory);
    NUM("--check-interval", 7, "%lld", (c->conf.check_interval_ms + 999) / 1000);
#undef NUM
    if (c->conf.tmpdir != NULL) {
        argv[argc++] = "--tmpdir";
        argv[argc++] = c->conf.tmpdir;
    }
    if (c->opts.no_cache || !c->conf.cache)
        argv[argc++] = "--no-cache";
    argv[argc] = NULL;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, child, SCAN_PROTO_FD);
    posix_spawnattr_init(&at);
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGHUP);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGCHLD);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawn(&c->pid, c->conf.scanner, &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(child);
    if (rc != 0) {
        log_error(COMP, "cannot start the virus scanner %s: %s", c->conf.scanner, strerror(rc));
        c->pid = 0;
        close(sv[0]);
        return -1;
    }
    c->fd = sv[0];
    evutil_make_socket_nonblocking(c->fd);
    c->rd = event_new(c->base, c->fd, EV_READ | EV_PERSIST, on_readable, c);
    event_add(c->rd, NULL);
    set_state(c, ST_STARTING, "starting");
    log_info(COMP, "virus scanner started (pid %ld, database %s)", (long)c->pid,
             c->conf.database);
    return 0;
}

static void on_restart(evutil_socket_t fd, short what, void *arg)
{
    struct scan_client *c = arg;

    (void)fd;
    (void)what;
    c->restarts++;
    if (spawn(c) < 0)
        scanner_down(c, "spawn failed");
}

struct scan_client *scan_client_new(struct event_base *base, const struct virus_conf *conf,
                                    const struct scan_client_opts *opts,
                                    scan_avail_fn avail, void *avail_arg)
{
    struct scan_client *c;

    if (conf->scanner == NULL || conf->database == NULL) {
        log_error(COMP, "virus scanning: no scanner or database configured");
        return NULL;
    }
    c = xcalloc(1, sizeof(*c));
    c->base = base;
    c->conf = *conf;
    c->conf.scanner = xstrdup(conf->scanner);
    c->conf.database = xstrdup(conf->database);
    c->conf.tmpdir = conf->tmpdir != NULL ? xstrdup(conf->tmpdir) : NULL;
    if (opts != NULL)
        c->opts = *opts;
    c->avail = avail;
    c->avail_arg = avail_arg;
    c->fd = -1;
    c->next_id = 1;
    c->backoff_ms = conf->restart_min_ms > 0 ? conf->restart_min_ms : 100;
    if (c->conf.restart_max_ms < c->backoff_ms)
        c->conf.restart_max_ms = c->backoff_ms;
    c->restart = evtimer_new(base, on_restart, c);
    snprintf(c->why, sizeof(c->why), "starting");
    if (spawn(c) < 0) {
        set_state(c, ST_DOWN, "cannot start the scanner");
        schedule_restart(c);
    }
    return c;
}

void scan_client_free(struct scan_client *c)
{
    struct scan_req *r;
    char how[128];

    if (c == NULL)
        return;
    while ((r = c->head) != NULL) {
        req_unlink(r);
        free(r);
    }
    if (c->rd != NULL)
        event_free(c->rd);
    if (c->fd >= 0)
        close(c->fd);                  /* the scanner exits on EOF */
    if (c->pid > 0)
        reap(c, how, sizeof(how));
    event_free(c->restart);
    free(c->conf.scanner);
    free(c->conf.database);
    free(c->conf.tmpdir);
    free(c);
}

void scan_client_reload(struct scan_client *c)
{
    struct scan_request rq = { .op = SCAN_OP_RELOAD };

    if (c->fd >= 0 && send(c->fd, &rq, sizeof(rq), MSG_NOSIGNAL) < 0)
        log_warn(COMP, "virus scanner reload request: %s", strerror(errno));
}

bool scan_client_available(const struct scan_client *c)
{
    return c != NULL && c->state == ST_READY;
}

const char *scan_client_why(const struct scan_client *c)
{
    return c == NULL ? "virus scanning is off" : c->why;
}

pid_t scan_client_pid(const struct scan_client *c)
{
    return c->pid;
}

unsigned scan_client_inflight(const struct scan_client *c)
{
    return c->inflight;
}

unsigned scan_client_restarts(const struct scan_client *c)
{
    return c->restarts;
}

unsigned scan_client_engines(const struct scan_client *c)
{
    return c->engines;
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct scan_req *r = arg;

    (void)fd;
    (void)what;
    log_warn(COMP, "virus scan %llu: no result after %lld ms", (unsigned long long)r->id,
             r->c->conf.timeout_ms);
    req_finish(r, SCAN_UNAVAILABLE, "timeout");
}

struct scan_req *scan_submit(struct scan_client *c, int fd, uint64_t offset, uint64_t length,
                             scan_done_fn done, void *arg)
{
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } cm;
    struct scan_request rq = { .op = SCAN_OP_SCAN };
    struct iovec iov = { &rq, sizeof(rq) };
    struct msghdr mh = { 0 };
    struct cmsghdr *cmh;
    struct scan_req *r;
    struct timeval tv;

    if (!scan_client_available(c))
        return NULL;
    rq.id = c->next_id++;
    rq.offset = offset;
    rq.length = length;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    memset(&cm, 0, sizeof(cm));
    mh.msg_control = cm.buf;
    mh.msg_controllen = sizeof(cm.buf);
    cmh = CMSG_FIRSTHDR(&mh);
    cmh->cmsg_level = SOL_SOCKET;
    cmh->cmsg_type = SCM_RIGHTS;
    cmh->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmh), &fd, sizeof(int));
    if (sendmsg(c->fd, &mh, MSG_NOSIGNAL) < 0) {
        log_warn(COMP, "virus scan request: %s", strerror(errno));
        return NULL;
    }
    r = xcalloc(1, sizeof(*r));
    r->c = c;
    r->id = rq.id;
    r->done = done;
    r->arg = arg;
    r->timer = evtimer_new(c->base, on_timeout, r);
    tv.tv_sec = c->conf.timeout_ms / 1000;
    tv.tv_usec = (c->conf.timeout_ms % 1000) * 1000;
    evtimer_add(r->timer, &tv);
    r->next = c->head;
    if (c->head != NULL)
        c->head->prev = r;
    c->head = r;
    c->inflight++;
    return r;
}

void scan_cancel(struct scan_req *r)
{
    if (r == NULL)
        return;
    req_unlink(r);
    free(r);
}
