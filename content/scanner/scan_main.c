/*
 * scan_main.c - postern-scan: Postern's virus scanner program. Started by the daemon
 * (content/scan_client.c, fork + exec) with its end of a socketpair as descriptor 3; never
 * run by hand except for diagnosis (`posternctl scan` starts it the same way).
 *
 * The main thread reads requests (content/scan_proto.h) and queues scans for the scan
 * threads; a reload thread loads the first engine, then checks the database every
 * --check-interval seconds, on SIGHUP and on a RELOAD request, and swaps a new engine in.
 * The process confines itself (scan_confine.c) before it reads any database or message.
 * It exits when the daemon closes the socket.
 */
#include "content/scan_proto.h"
#include "content/scanner/scanner.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_MAX 4096
#define TMPFS_MAGIC_NR 0x01021994    /* linux/magic.h TMPFS_MAGIC */
#define TMP_PREFIX "postern-scan."

struct job {
    struct job *next;
    uint64_t id, offset, length;
    int fd;
};

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static struct job *q_head, *q_tail;
static unsigned q_len;

static pthread_mutex_t r_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t r_cond = PTHREAD_COND_INITIALIZER;
static bool r_wanted;
static volatile sig_atomic_t got_hup;

static struct scan_opts o = {
    .db_dir = "/var/lib/clamav",
    .threads = 2,
    .max_scansize = 100ull << 20,
    .max_filesize = 25ull << 20,
    .max_recursion = 16,
    .max_files = 10000,
    .max_scantime_ms = 120000,
    .max_memory = 4ull << 30,
    .check_interval_s = 300,
};

static void send_reply(uint64_t id, const char *text)
{
    struct scan_reply r;

    memset(&r, 0, sizeof(r));
    r.id = id;
    snprintf(r.text, sizeof(r.text), "%s", text);
    while (send(SCAN_PROTO_FD, &r, sizeof(r), MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

void scan_log(int prio, const char *fmt, ...)
{
    char buf[SCAN_REPLY_TEXT], *p;
    va_list ap;
    int n;

    n = snprintf(buf, sizeof(buf), "log %d ", prio);
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    for (p = buf; *p != '\0'; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    send_reply(0, buf);
}

void scan_status(const char *fmt, ...)
{
    char buf[SCAN_REPLY_TEXT];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    send_reply(0, buf);
}

static void *scan_thread(void *arg)
{
    char text[SCAN_REPLY_TEXT];
    struct job *j;

    (void)arg;
    for (;;) {
        pthread_mutex_lock(&q_lock);
        while (q_head == NULL)
            pthread_cond_wait(&q_cond, &q_lock);
        j = q_head;
        q_head = j->next;
        if (q_head == NULL)
            q_tail = NULL;
        q_len--;
        pthread_mutex_unlock(&q_lock);
        scan_engine_scan(j->fd, j->offset, j->length, text, sizeof(text));
        close(j->fd);
        send_reply(j->id, text);
        free(j);
    }
    return NULL;
}

static void *reload_thread(void *arg)
{
    struct timespec until;

    (void)arg;
    for (;;) {
        scan_engine_maybe_reload();
        pthread_mutex_lock(&r_lock);
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += o.check_interval_s;
        while (!r_wanted && pthread_cond_timedwait(&r_cond, &r_lock, &until) != ETIMEDOUT)
            ;
        r_wanted = false;
        pthread_mutex_unlock(&r_lock);
    }
    return NULL;
}

static void want_reload(void)
{
    pthread_mutex_lock(&r_lock);
    r_wanted = true;
    pthread_cond_signal(&r_cond);
    pthread_mutex_unlock(&r_lock);
}

static void on_hup(int sig)
{
    (void)sig;
    got_hup = 1;
}

/* One request; false when the daemon has gone. */
static bool read_request(void)
{
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } cm;
    struct scan_request rq;
    struct iovec iov = { &rq, sizeof(rq) };
    struct msghdr mh = { 0 };
    struct cmsghdr *c;
    struct job *j;
    ssize_t n;
    int fd = -1;

    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cm.buf;
    mh.msg_controllen = sizeof(cm.buf);
    n = recvmsg(SCAN_PROTO_FD, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno != EINTR && errno != EAGAIN)
        scan_log(LOG_ERR, "daemon socket: %s", strerror(errno));
    if (n < 0)
        return errno == EINTR || errno == EAGAIN;
    if (n == 0)
        return false;
    for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&fd, CMSG_DATA(c), sizeof(int));
    if ((size_t)n != sizeof(rq) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        if (fd >= 0)
            close(fd);
        scan_log(LOG_WARNING, "malformed request ignored");
        return true;
    }
    if (rq.op == SCAN_OP_RELOAD) {
        if (fd >= 0)
            close(fd);
        want_reload();
        return true;
    }
    if (rq.op != SCAN_OP_SCAN || fd < 0 || rq.id == 0) {
        if (fd >= 0)
            close(fd);
        if (rq.id != 0)
            send_reply(rq.id, "error bad request");
        return true;
    }
    if (q_len >= QUEUE_MAX) {
        close(fd);
        send_reply(rq.id, "error scanner queue full");
        return true;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        close(fd);
        send_reply(rq.id, "error out of memory");
        return true;
    }
    j->id = rq.id;
    j->offset = rq.offset;
    j->length = rq.length;
    j->fd = fd;
    pthread_mutex_lock(&q_lock);
    if (q_tail != NULL)
        q_tail->next = j;
    else
        q_head = j;
    q_tail = j;
    q_len++;
    pthread_cond_signal(&q_cond);
    pthread_mutex_unlock(&q_lock);
    return true;
}

/* libclamav writes every decoded part and archive member of a message to a file of its
 * temporary directory and removes it after the scan: on a disk file system that is an
 * inode allocation, a journal entry and (mounted with discard) a block discard per part,
 * several times the cost of the scan itself. So the default is /dev/shm when it is a
 * tmpfs (memory: at most max_scansize per scan in flight), else /tmp. */
static const char *default_tmp_base(void)
{
    struct statfs sf;

    if (statfs("/dev/shm", &sf) == 0 && (unsigned long)sf.f_type == TMPFS_MAGIC_NR &&
        access("/dev/shm", W_OK | X_OK) == 0)
        return "/dev/shm";
    return "/tmp";
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* A scanner that was killed leaves its directory (and the files of the scans it was
 * running): on a tmpfs that is memory until reboot. Remove the directories of scanners
 * whose process is gone: BASE/postern-scan.PID.XXXXXX, ours only (same owner). */
static void sweep_stale(const char *base)
{
    DIR *d = opendir(base);
    struct dirent *e;
    char path[4096], proc[64];
    struct stat st;

    while (d != NULL && (e = readdir(d)) != NULL) {
        char *end;
        unsigned long pid;

        if (strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
            continue;
        pid = strtoul(e->d_name + strlen(TMP_PREFIX), &end, 10);
        if (pid == 0 || *end != '.' || (pid_t)pid == getpid())
            continue;
        snprintf(proc, sizeof(proc), "/proc/%lu", pid);
        snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
        if (access("/proc/self", F_OK) != 0 || access(proc, F_OK) == 0 ||
            lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
            continue;
        if (nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS) == 0)
            scan_log(LOG_INFO, "removed %s, left by a scanner that is gone", path);
    }
    if (d != NULL)
        closedir(d);
}

/* Our own directory under base: BASE/postern-scan.PID.XXXXXX; NULL after logging. */
static char *make_tmpdir(const char *base)
{
    static char path[4096];
    int n = snprintf(path, sizeof(path), "%s/" TMP_PREFIX "%ld.XXXXXX", base, (long)getpid());

    if (n < 0 || (size_t)n >= sizeof(path)) {
        scan_log(LOG_ERR, "temporary directory name too long: %s", base);
        return NULL;
    }
    sweep_stale(base);
    if (mkdtemp(path) == NULL) {
        scan_log(LOG_ERR, "mkdtemp %s: %s", path, strerror(errno));
        return NULL;
    }
    return path;
}

static int num_arg(const char *s, unsigned long long *v)
{
    char *end;

    errno = 0;
    *v = strtoull(s, &end, 10);
    return errno != 0 || end == s || *end != '\0' ? -1 : 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: postern-scan [--db DIR] [--tmpdir BASE] [--threads N] "
            "[--max-scansize B] [--max-filesize B] [--max-recursion N] [--max-files N] "
            "[--max-scantime MS] [--max-memory B] [--check-interval S] [--no-cache]\n"
            "  (started by postern with a socketpair on descriptor 3)\n");
}

static int parse_args(int argc, char **argv)
{
    static const struct option lo[] = {
        { "db", 1, NULL, 'd' }, { "tmpdir", 1, NULL, 't' }, { "threads", 1, NULL, 'n' },
        { "max-scansize", 1, NULL, 'S' }, { "max-filesize", 1, NULL, 'F' },
        { "max-recursion", 1, NULL, 'R' }, { "max-files", 1, NULL, 'N' },
        { "max-scantime", 1, NULL, 'T' }, { "max-memory", 1, NULL, 'M' },
        { "check-interval", 1, NULL, 'i' }, { "no-cache", 0, NULL, 'c' },
        { "no-seccomp", 0, NULL, 'x' }, { "seccomp-trap", 0, NULL, 'X' },
        { NULL, 0, NULL, 0 }
    };
    unsigned long long v = 0;
    int ch;

    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (optarg != NULL && ch != 'd' && ch != 't' && num_arg(optarg, &v) < 0) {
            fprintf(stderr, "postern-scan: bad number \"%s\"\n", optarg);
            return -1;
        }
        switch (ch) {
        case 'd': o.db_dir = optarg; break;
        case 't': o.tmpdir = optarg; break;
        case 'n': o.threads = v < 1 ? 1 : v > 64 ? 64 : (unsigned)v; break;
        case 'S': o.max_scansize = v; break;
        case 'F': o.max_filesize = v; break;
        case 'R': o.max_recursion = (unsigned)v; break;
        case 'N': o.max_files = (unsigned)v; break;
        case 'T': o.max_scantime_ms = (unsigned)v; break;
        case 'M': o.max_memory = v; break;
        case 'i': o.check_interval_s = v < 1 ? 1 : (unsigned)v; break;
        case 'c': o.no_cache = true; break;
        case 'x': o.no_seccomp = true; break;
        case 'X': o.seccomp_trap = true; break;
        default: usage(); return -1;
        }
    }
    return optind == argc ? 0 : (usage(), -1);
}

int main(int argc, char **argv)
{
    const char *tmpbase;
    struct pollfd pfd = { .fd = SCAN_PROTO_FD, .events = POLLIN };
    struct sigaction sa;
    pthread_t t;
    unsigned i;
    int type = 0;
    socklen_t tl = sizeof(type);

    if (parse_args(argc, argv) < 0)
        return 64;
    if (getsockopt(SCAN_PROTO_FD, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
        type != SOCK_SEQPACKET) {
        fprintf(stderr, "postern-scan: descriptor 3 is not the daemon's socket; "
                "this program is started by postern (see posternctl scan)\n");
        return 64;
    }
    close_range(SCAN_PROTO_FD + 1, ~0u, 0);     /* nothing of the daemon's leaks in */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_hup;
    sigaction(SIGHUP, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    if (scan_confine(&o) < 0 || scan_engine_init(&o) < 0) {
        scan_status("noengine cannot confine or initialise the scanner");
        return 1;
    }
    /* created after dropping privileges: ours */
    tmpbase = o.tmpdir != NULL ? o.tmpdir : default_tmp_base();
    if ((o.tmpdir = make_tmpdir(tmpbase)) == NULL) {
        scan_status("noengine no temporary directory");
        return 1;
    }
    scan_log(LOG_INFO, "temporary files in %s", o.tmpdir);
    for (i = 0; i < o.threads; i++)
        if (pthread_create(&t, NULL, scan_thread, NULL) != 0) {
            scan_log(LOG_ERR, "pthread_create: %s", strerror(errno));
            return 1;
        }
    if (pthread_create(&t, NULL, reload_thread, NULL) != 0)
        return 1;
    for (;;) {
        int r = poll(&pfd, 1, 1000);

        if (got_hup) {
            got_hup = 0;
            want_reload();
        }
        if (r > 0 && !read_request())
            break;
    }
    /* The daemon is gone: leave without waiting for scans (their replies have no reader). */
    rmdir(o.tmpdir);
    _exit(0);
}
