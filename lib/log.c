/*
 * log.c - Postfix-shaped log lines to stderr or to the syslog socket (see log.h).
 *
 * We write to /dev/log ourselves instead of calling syslog(3) because one process hosts
 * several Postfix-style "programs": the tag of each line (postern/smtpd, postern/qmgr)
 * changes per call, which openlog(3) cannot do safely from several threads.
 */
#include "lib/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048

static const char *log_prog = "postern";
static enum log_target log_where = LOG_TO_STDERR;
static char log_host[256] = "localhost";
static int log_verbose;
static int log_fd = -1;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static long log_pid;             /* getpid() is a system call: once per process */

static void log_after_fork(void)
{
    log_pid = (long)getpid();
}

static void log_register_atfork(void)
{
    pthread_atfork(NULL, NULL, log_after_fork);
}

void log_init(const char *progname, enum log_target target, int verbose)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    (void)pthread_once(&once, log_register_atfork);
    log_pid = (long)getpid();
    log_prog = progname;
    log_where = target;
    log_verbose = verbose;
    /* syslog adds the host field itself; on stderr (-d) we write it, as syslog would (the
     * short name), so that pflogsumm and other syslog readers parse the lines */
    if (gethostname(log_host, sizeof(log_host) - 1) < 0 || log_host[0] == '\0')
        strcpy(log_host, "localhost");
    log_host[strcspn(log_host, ".")] = '\0';
}

static int log_syslog_connect(void)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    strncpy(sun.sun_path, "/dev/log", sizeof(sun.sun_path) - 1);
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Send one formatted line to syslog; fall back to stderr when there is no syslog. */
static void log_write_syslog(int prio, const char *line, size_t len)
{
    char buf[LOG_LINE_MAX + 64];
    int n = snprintf(buf, sizeof(buf), "<%d>%.*s", LOG_MAIL | prio, (int)len, line);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(buf))
        n = sizeof(buf) - 1;
    pthread_mutex_lock(&log_lock);
    if (log_fd < 0)
        log_fd = log_syslog_connect();
    if (log_fd < 0 || send(log_fd, buf, (size_t)n, MSG_NOSIGNAL) < 0) {
        if (log_fd >= 0 && (errno == ECONNREFUSED || errno == ENOTCONN)) {
            close(log_fd);
            log_fd = -1;
        }
        fprintf(stderr, "%.*s\n", (int)len, line);
    }
    pthread_mutex_unlock(&log_lock);
}

void log_msg(int prio, const char *component, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    const char *level = prio <= LOG_ERR ? "error: " : prio == LOG_WARNING ? "warning: " : "";
    struct timespec ts;
    struct tm tm;
    size_t off;
    va_list ap;
    int n;

    if (prio == LOG_DEBUG && !log_verbose)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    off = strftime(line, sizeof(line), "%b %e %H:%M:%S ", &tm);
    if (log_where != LOG_TO_SYSLOG) {
        n = snprintf(line + off, sizeof(line) - off, "%s ", log_host);
        if (n > 0)
            off += (size_t)n < sizeof(line) - off ? (size_t)n : sizeof(line) - off - 1;
    }
    n = snprintf(line + off, sizeof(line) - off, "%s/%s[%ld]: %s", log_prog, component,
                 log_pid ? log_pid : (long)getpid(), level);
    if (n > 0)
        off += (size_t)n < sizeof(line) - off ? (size_t)n : sizeof(line) - off - 1;
    va_start(ap, fmt);
    n = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
    va_end(ap);
    if (n > 0)
        off += (size_t)n < sizeof(line) - off ? (size_t)n : sizeof(line) - off - 1;

    if (log_where == LOG_TO_SYSLOG) {
        log_write_syslog(prio, line, off);
    } else {
        line[off] = '\n';
        pthread_mutex_lock(&log_lock);
        if (fwrite(line, 1, off + 1, stderr) != off + 1)
            (void)0; /* nowhere left to report a failing stderr */
        pthread_mutex_unlock(&log_lock);
    }
}

char *log_sanitize(char *dst, size_t dst_len, const char *src, size_t src_len)
{
    size_t i, n = src_len < dst_len - 1 ? src_len : dst_len - 1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    dst[n] = '\0';
    return dst;
}
