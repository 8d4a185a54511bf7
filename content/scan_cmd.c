/*
 * scan_cmd.c - `posternctl scan [--db DIR] [--scanner PATH] [--offset N] [--no-cache]
 * [--repeat N] [--parallel N] FILE...` (scan_cmd.h).
 *
 * Starts postern-scan with scan_client (the daemon's code), waits for its engine, scans
 * each file (from --offset to its end) and prints the results. --repeat scans every file N
 * times with up to --parallel scans in flight and prints the rate to stderr (the scan
 * benchmark, bench/scan_bench.sh). The scanner defaults to the postern-scan next to the
 * running program, else virus.scanner's default.
 */
#include "content/scan_cmd.h"

#include "content/scan_client.h"
#include "content/virus_conf.h"
#include "lib/conf.h"
#include "lib/log.h"

#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EX_FOUND 1
#define EX_TEMP  75
#define EX_USE   64
#define READY_WAIT_S 600

struct file_scan {
    struct scan_cmd_run *run;
    const char *path;
    int fd;
    unsigned long long off, size;
    unsigned left;                 /* repeats still to submit */
    enum scan_status status;
    char detail[256];
};

struct scan_cmd_run {
    struct event_base *base;
    struct scan_client *client;
    struct file_scan *files;
    size_t nfiles, next;
    unsigned inflight, parallel;
    unsigned long done;
    bool failed, ready;
    char why[256];
};

static void submit_more(struct scan_cmd_run *r);

static void on_done(const struct scan_result *res, void *arg)
{
    struct file_scan *f = arg;

    f->run->inflight--;
    f->run->done++;
    /* keep the worst result of the repeats: unavailable > error > virus > ... > clean */
    if (res->status >= f->status) {
        f->status = res->status;
        snprintf(f->detail, sizeof(f->detail), "%s", res->detail);
    }
    submit_more(f->run);
}

static void submit_more(struct scan_cmd_run *r)
{
    while (r->inflight < r->parallel && r->next < r->nfiles) {
        struct file_scan *f = &r->files[r->next];

        if (f->left == 0) {
            r->next++;
            continue;
        }
        f->left--;
        if (scan_submit(r->client, f->fd, f->off, f->size - f->off, on_done, f) == NULL) {
            f->status = SCAN_UNAVAILABLE;
            snprintf(f->detail, sizeof(f->detail), "%s", scan_client_why(r->client));
            f->left = 0;
            continue;
        }
        r->inflight++;
    }
    if (r->inflight == 0 && r->next >= r->nfiles)
        event_base_loopbreak(r->base);
}

static void on_avail(bool up, const char *why, void *arg)
{
    struct scan_cmd_run *r = arg;

    if (up && !r->ready) {
        r->ready = true;
        submit_more(r);
    } else if (!up && !r->ready && strncmp(why, "no engine", 9) == 0) {
        snprintf(r->why, sizeof(r->why), "%s", why);
        r->failed = true;
        event_base_loopbreak(r->base);
    }
}

/* Give up when the scanner cannot even start: it died three times before an engine. */
static void on_watch(evutil_socket_t fd, short what, void *arg)
{
    struct scan_cmd_run *r = arg;

    (void)fd;
    (void)what;
    if (!r->ready && scan_client_restarts(r->client) >= 3) {
        snprintf(r->why, sizeof(r->why), "the scanner keeps dying: %s",
                 scan_client_why(r->client));
        r->failed = true;
        event_base_loopbreak(r->base);
    }
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *default_scanner(void)
{
    char self[PATH_MAX], *dir, *p;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (n <= 0)
        return NULL;
    self[n] = '\0';
    dir = dirname(self);
    p = malloc(strlen(dir) + sizeof("/postern-scan"));
    if (p == NULL)
        return NULL;
    strcpy(p, dir);
    strcat(p, "/postern-scan");
    if (access(p, X_OK) == 0)
        return p;
    free(p);
    return NULL;
}

int scan_cmd(int argc, char **argv, FILE *out)
{
    static const struct option lo[] = {
        { "db", 1, NULL, 'd' }, { "scanner", 1, NULL, 's' }, { "offset", 1, NULL, 'o' },
        { "no-cache", 0, NULL, 'c' }, { "repeat", 1, NULL, 'r' },
        { "parallel", 1, NULL, 'p' }, { "conf", 1, NULL, 'C' }, { NULL, 0, NULL, 0 }
    };
    struct conf_errors errs = { .file = "scan", .out = stderr };
    struct virus_conf vc;
    struct scan_client_opts so = { 0 };
    struct scan_cmd_run run;
    struct timeval tv = { READY_WAIT_S, 0 }, tick = { 0, 100000 };
    struct event *watch;
    const char *db = NULL, *scanner = NULL, *json = "{}";
    char *self_scanner = NULL;
    unsigned long long offset = 0;
    unsigned repeat = 1, parallel = 4;
    double t0 = 0;
    int ch, rc = 0;
    size_t i;

    memset(&run, 0, sizeof(run));
    optind = 1;
    while ((ch = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
        switch (ch) {
        case 'd': db = optarg; break;
        case 's': scanner = optarg; break;
        case 'o': offset = strtoull(optarg, NULL, 10); break;
        case 'c': so.no_cache = true; break;
        case 'r': repeat = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'p': parallel = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'C': json = optarg; break;
        default: return EX_USE;
        }
    }
    if (optind >= argc || repeat == 0 || parallel == 0)
        return EX_USE;
    memset(&vc, 0, sizeof(vc));
    if (conf_load_buffer("--conf", json, strlen(json), &virus_conf_section, &vc, &errs) < 0) {
        conf_free(&virus_conf_section, &vc);
        return EX_USE;
    }
    if (db != NULL) {
        free(vc.database);
        vc.database = strdup(db);
    }
    if (scanner == NULL)
        scanner = self_scanner = default_scanner();
    if (scanner != NULL) {
        free(vc.scanner);
        vc.scanner = strdup(scanner);
    }
    run.nfiles = (size_t)(argc - optind);
    run.files = calloc(run.nfiles, sizeof(*run.files));
    run.parallel = parallel;
    for (i = 0; i < run.nfiles; i++) {
        struct file_scan *f = &run.files[i];
        struct stat st;

        f->run = &run;
        f->path = argv[optind + (int)i];
        f->left = repeat;
        f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
        if (f->fd < 0 || fstat(f->fd, &st) < 0) {
            fprintf(stderr, "posternctl: %s: %m\n", f->path);
            f->status = SCAN_ERROR;
            snprintf(f->detail, sizeof(f->detail), "unreadable");
            f->left = 0;
            continue;
        }
        f->size = (unsigned long long)st.st_size;
        f->off = offset < f->size ? offset : f->size;
    }
    run.base = event_base_new();
    log_init("posternctl", LOG_TO_STDERR, 0);
    if (access(vc.scanner, X_OK) != 0) {
        fprintf(stderr, "posternctl: scanner %s: %m\n", vc.scanner);
        rc = EX_TEMP;
        goto out;
    }
    run.client = scan_client_new(run.base, &vc, &so, on_avail, &run);
    if (run.client == NULL) {
        rc = EX_TEMP;
        goto out;
    }
    watch = event_new(run.base, -1, EV_PERSIST, on_watch, &run);
    event_add(watch, &tick);
    t0 = now_s();
    event_base_loopexit(run.base, &tv);
    event_base_dispatch(run.base);
    event_free(watch);
    if (repeat > 1 && run.ready) {
        double dt = now_s() - t0;

        fprintf(stderr, "scanned %lu messages in %.3f s: %.1f messages/s\n", run.done, dt,
                dt > 0 ? (double)run.done / dt : 0.0);
    }
    for (i = 0; i < run.nfiles; i++) {
        struct file_scan *f = &run.files[i];

        if (!run.ready && f->left > 0) {
            f->status = SCAN_UNAVAILABLE;
            snprintf(f->detail, sizeof(f->detail), "%s",
                     run.failed ? run.why : "no engine loaded in time");
        }
        fprintf(out, "%s %s %s\n", scan_status_name(f->status),
                f->detail[0] != '\0' ? f->detail : "-", f->path);
        if (f->status == SCAN_ERROR || f->status == SCAN_UNAVAILABLE)
            rc = EX_TEMP;
        else if (f->status != SCAN_CLEAN && rc == 0)
            rc = EX_FOUND;
    }
out:
    scan_client_free(run.client);
    if (run.base != NULL)
        event_base_free(run.base);
    for (i = 0; i < run.nfiles; i++)
        if (run.files[i].fd >= 0)
            close(run.files[i].fd);
    free(run.files);
    free(self_scanner);
    conf_free(&virus_conf_section, &vc);
    return rc;
}
