/*
 * main.c - the postern daemon's command line: check a config, or run the server.
 *
 *   postern [-f FILE] -n [-v]   check the configuration (and print it with -v); exit 0 or 78
 *   postern [-f FILE] -d        run in the foreground, log to stderr
 *   postern [-f FILE] -F        run in the foreground, log to syslog (systemd)
 *   postern [-f FILE]           run as a daemon (fork), log to syslog
 *   postern [-f FILE] -n -N     print only the settings that differ from the defaults
 *   postern -R                  print the configuration key reference (Markdown;
 *                               --reference=man: the KEYS part of postern.json(5))
 *   postern -V                  print the version
 * Exit codes follow sysexits(3): 64 usage, 78 bad config, 70 internal error, 75 another
 * daemon already runs on this spool (one daemon per spool: relay/spool/spool_lock.c; the check
 * of a configuration takes no lock).
 */
#include "content/virus_conf.h"
#include "lib/conf.h"
#include "lib/version.h"
#include "lib/log.h"
#include "lib/sd_notify.h"
#include "relay/admin.h"
#include "relay/conf_show.h"
#include "relay/privileges.h"
#include "relay/relay_conf.h"
#ifdef POSTERN_TEST_CHECKS
#include "tests/checks/check_test.h"
#endif
#include "relay/server.h"
#include "relay/spool/spool.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#define DEFAULT_CONFIG  "/etc/postern/postern.json"

static void usage(FILE *out, int code)
{
    fprintf(out, "usage: postern [-dFnNvRV] [-f config]\n"
                 "  -f FILE  configuration file (default " DEFAULT_CONFIG ")\n"
                 "  -n       check the configuration and exit (0 valid, 78 invalid)\n"
                 "  -v       with -n: print the effective configuration; else verbose logs\n"
                 "  -N       with -n: print only the settings that differ from the defaults\n"
                 "  -d       foreground, log to stderr\n"
                 "  -F       foreground, log to syslog\n"
                 "  -R       print the configuration key reference (--reference=man: man(7))\n"
                 "  -V, --version  print the version\n"
                 "  -h, --help     this text\n"
                 "First start: postern -d -f FILE (a sample is etc/postern.demo.json in the\n"
                 "sources, " DEFAULT_CONFIG ".sample once installed); see postern(8).\n");
    exit(code);
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
    int check = 0, verbose = 0, changed = 0, foreground = 0, to_stderr = 0, opt, lock_fd, rc;
    bool path_given = false;
    struct config *cf;
    struct server srv;
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { "reference", optional_argument, NULL, 'R' },
        { "non-default", no_argument, NULL, 'N' },
        { NULL, 0, NULL, 0 }
    };

    while ((opt = getopt_long(argc, argv, "dFf:hnNRvV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd': foreground = to_stderr = 1; break;
        case 'F': foreground = 1; break;
        case 'f': path = optarg; path_given = true; break;
        case 'h': usage(stdout, 0); break;
        case 'n': check = 1; break;
        case 'N': changed = 1; break;
        case 'v': verbose++; break;
        case 'R':
            if (optarg != NULL && strcmp(optarg, "man") == 0)
                conf_print_reference_man(stdout, &relay_conf_root);
            else if (optarg == NULL || strcmp(optarg, "markdown") == 0)
                conf_print_reference(stdout, &relay_conf_root);
            else
                usage(stderr, EX_USAGE);
            return 0;
        case 'V': printf("postern %s\n", POSTERN_VERSION); return 0;
        default: usage(stderr, EX_USAGE);
        }
    }
    if (optind != argc)
        usage(stderr, EX_USAGE);
    if (!path_given && access(path, F_OK) < 0) {
        fprintf(stderr, "postern: no configuration at %s\n"
                "  start with: postern -d -f FILE   (foreground, logs on the terminal)\n"
                "  a sample:   %s.sample once installed, etc/postern.demo.json in the "
                "sources (make run)\n  see postern --help and postern(8)\n", path, path);
        return EX_CONFIG;
    }
    log_init("postern", check || to_stderr ? LOG_TO_STDERR : LOG_TO_SYSLOG, verbose);
#ifdef POSTERN_TEST_CHECKS
    test_checks_register(); /* build/postern-test: the checks of tests/checks/ */
#endif
    cf = config_load(path);
    if (cf == NULL)
        return EX_CONFIG;
    if (check) {
        if (changed)
            conf_show_changed(stdout, &cf->c);
        else if (verbose) {
            /* derived values as the daemon will use them, not null */
            if (cf->c.admin.socket == NULL)
                cf->c.admin.socket = admin_socket_path(&cf->c);
            conf_print(stdout, &relay_conf_root, &cf->c);
        }
        if (cf->c.virus.enabled && !virus_database_present(cf->c.virus.database))
            fprintf(stderr, "postern: warning: virus.database %s has no signatures: mail "
                    "will be deferred (451 4.3.0) until clamav-freshclam provides them; "
                    "virus.enabled: false accepts mail unscanned\n", cf->c.virus.database);
        fprintf(verbose || changed ? stderr : stdout, "postern: configuration OK (%s)\n",
                path);
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
    if (privileges_drop_daemon(&cf->c) < 0) { /* listeners bound, files open */
        server_stop(&srv);
        close(lock_fd);
        return EX_NOPERM;
    }
    log_info("master", "daemon started -- version %s, configuration %s", POSTERN_VERSION, path);
    (void)sd_notify_send("READY=1\nSTATUS=accepting mail");
    event_base_dispatch(srv.base);
    server_stop(&srv);
    close(lock_fd); /* the lock is released with the last descriptor of the file */
    return 0;
}
