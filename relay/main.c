/*
 * main.c - the postern daemon's command line: check a config, or run the server.
 *
 *   postern [-f FILE] -n [-v]   check the configuration (and print it with -v); exit 0 or 78
 *   postern [-f FILE] -d        run in the foreground, log to stderr
 *   postern [-f FILE] -F        run in the foreground, log to syslog (systemd)
 *   postern [-f FILE]           run as a daemon (fork), log to syslog
 *   postern -R                  print the configuration key reference (Markdown)
 *   postern -V                  print the version
 * Exit codes follow sysexits(3): 64 usage, 78 bad config, 70 internal error, 75 another
 * daemon already runs on this spool (one daemon per spool: relay/spool/spool_lock.c; the check
 * of a configuration takes no lock).
 */
#include "lib/conf.h"
#include "lib/log.h"
#include "lib/sd_notify.h"
#include "relay/relay_conf.h"
#ifdef POSTERN_TEST_CHECKS
#include "tests/checks/check_test.h"
#endif
#include "relay/server.h"
#include "relay/spool/spool.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#define POSTERN_VERSION "0.1.0"
#define DEFAULT_CONFIG  "/etc/postern/postern.conf"

static void usage(void)
{
    fprintf(stderr, "usage: postern [-dFnvRV] [-f config]\n"
                    "  -f FILE  configuration file (default " DEFAULT_CONFIG ")\n"
                    "  -n       check the configuration and exit (0 valid, 78 invalid)\n"
                    "  -v       with -n: print the effective configuration; else verbose logs\n"
                    "  -d       foreground, log to stderr\n"
                    "  -F       foreground, log to syslog\n"
                    "  -R       print the configuration key reference\n"
                    "  -V       print the version\n");
    exit(EX_USAGE);
}

/* Lock the spool before anything touches it; on failure say why (and, before a fork, on
 * the terminal too: the log goes to syslog) and return the exit code. */
static int lock_spool(const struct config *cf, bool tell_terminal, int *lock_fd)
{
    long holder;

    *lock_fd = spool_lock_take(cf->c.spool_dir, &holder);
    if (*lock_fd >= 0)
        return 0;
    if (errno == EWOULDBLOCK) {
        char pid[32] = "unknown";
        if (holder > 0)
            snprintf(pid, sizeof(pid), "%ld", holder);
        log_error("master", "already running (pid %s): the spool %s is locked", pid,
                  cf->c.spool_dir);
        if (tell_terminal)
            fprintf(stderr, "postern: already running (pid %s)\n", pid);
        return EX_TEMPFAIL;
    }
    log_error("master", "cannot lock the spool %s: %s", cf->c.spool_dir, strerror(errno));
    if (tell_terminal)
        fprintf(stderr, "postern: cannot lock the spool %s: %s\n", cf->c.spool_dir,
                strerror(errno));
    return EX_CANTCREAT;
}

static int daemonize(void)
{
    int fd;
    switch (fork()) {
    case -1:
        return -1;
    case 0:
        break;
    default:
        _exit(0);
    }
    if (setsid() < 0 || chdir("/") < 0)
        return -1;
    if ((fd = open("/dev/null", O_RDWR)) >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = DEFAULT_CONFIG;
    int check = 0, verbose = 0, foreground = 0, to_stderr = 0, opt, lock_fd, rc;
    struct config *cf;
    struct server srv;

    while ((opt = getopt(argc, argv, "dFf:hnRvV")) != -1) {
        switch (opt) {
        case 'd': foreground = to_stderr = 1; break;
        case 'F': foreground = 1; break;
        case 'f': path = optarg; break;
        case 'n': check = 1; break;
        case 'v': verbose++; break;
        case 'R': conf_print_reference(stdout, &relay_conf_root); return 0;
        case 'V': printf("postern %s\n", POSTERN_VERSION); return 0;
        default: usage();
        }
    }
    if (optind != argc)
        usage();
    log_init("postern", check || to_stderr ? LOG_TO_STDERR : LOG_TO_SYSLOG, verbose);
#ifdef POSTERN_TEST_CHECKS
    test_checks_register(); /* build/postern-test: the checks of tests/checks/ */
#endif
    cf = config_load(path);
    if (cf == NULL)
        return EX_CONFIG;
    if (check) {
        if (verbose)
            conf_print(stdout, &relay_conf_root, &cf->c);
        config_unref(cf);
        return 0;
    }
    if ((rc = lock_spool(cf, !foreground, &lock_fd)) != 0) {
        config_unref(cf);
        return rc;
    }
    if (!foreground && (daemonize() < 0 || spool_lock_write_pid(lock_fd) < 0)) {
        perror("postern: cannot become a daemon");
        return EX_OSERR;
    }
    memset(&srv, 0, sizeof(srv));
    if (server_start(&srv, cf) < 0) {
        server_stop(&srv);
        close(lock_fd);
        return EX_SOFTWARE;
    }
    log_info("master", "daemon started -- version %s, configuration %s", POSTERN_VERSION, path);
    (void)sd_notify_send("READY=1\nSTATUS=accepting mail");
    event_base_dispatch(srv.base);
    server_stop(&srv);
    close(lock_fd); /* the lock is released with the last descriptor of the file */
    return 0;
}
