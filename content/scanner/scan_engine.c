/*
 * scan_engine.c - postern-scan's libclamav engine: built from the database directory with
 * explicit limits, swapped for a new one when the database files change, shared by the
 * scan threads through a reference count (the old engine is freed after its last scan).
 *
 * Scans see only the message: the spooled file starts with Postern's envelope, and
 * libclamav recognises mail by its first bytes, so the fmap's read callback adds the
 * message's offset. With CL_SCAN_HEURISTIC_EXCEEDS_MAX a hit limit is reported as a
 * "virus" Heuristics.Limits.Exceeded.*; it is mapped to "unscanned", never to a virus and
 * never to clean (libclamav would otherwise call an unscanned file clean).
 */
#include "content/scanner/scanner.h"

#include <clamav.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define PREFIX_LIMITS    "Heuristics.Limits.Exceeded"
#define PREFIX_ENCRYPTED "Heuristics.Encrypted."

struct engine_ref {
    struct cl_engine *cl;
    unsigned refs;        /* the "current" slot holds one; each scan one */
    unsigned sigs;
};

static const struct scan_opts *opts;
static pthread_mutex_t eng_lock = PTHREAD_MUTEX_INITIALIZER;
static struct engine_ref *current;
static struct cl_stat dbstat;
static bool dbstat_valid;

static void engine_unref(struct engine_ref *e)
{
    bool last;

    pthread_mutex_lock(&eng_lock);
    last = --e->refs == 0;
    pthread_mutex_unlock(&eng_lock);
    if (last) {
        cl_engine_free(e->cl);
        free(e);
        scan_log(LOG_INFO, "old engine freed after its last scan");
    }
}

static struct engine_ref *engine_ref_current(void)
{
    struct engine_ref *e;

    pthread_mutex_lock(&eng_lock);
    e = current;
    if (e != NULL)
        e->refs++;
    pthread_mutex_unlock(&eng_lock);
    return e;
}

static void on_clam_msg(enum cl_msg severity, const char *fullmsg, const char *msg, void *ctx)
{
    (void)fullmsg;
    (void)ctx;
    if (getenv("POSTERN_SCAN_DEBUG") != NULL)
        scan_log(LOG_INFO, "libclamav: %.*s", (int)strcspn(msg, "\n"), msg);
    else if (severity == CL_MSG_ERROR)
        scan_log(LOG_WARNING, "libclamav: %.*s", (int)strcspn(msg, "\n"), msg);
}

int scan_engine_init(const struct scan_opts *o)
{
    cl_error_t rc;

    opts = o;
    cl_set_clcb_msg(on_clam_msg);
    if (getenv("POSTERN_SCAN_DEBUG") != NULL)   /* diagnosis: every libclamav message */
        cl_debug();
    rc = cl_init(CL_INIT_DEFAULT);
    if (rc != CL_SUCCESS) {
        scan_log(LOG_ERR, "cl_init: %s", cl_strerror(rc));
        return -1;
    }
    return 0;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;

    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Per-scan state seen by the inspection callback. */
struct scan_ctx {
    bool truncated;       /* an embedded file was cut to max_filesize: part unscanned */
};

/* libclamav trims an archive member larger than max_filesize to that size and scans the
 * rest as if it were all (no EXCEEDS_MAX alert): note it, so the result is not "clean". */
static cl_error_t on_inspect(int fd, const char *type, const char **ancestors,
                             size_t parent_file_size, const char *file_name, size_t file_size,
                             const char *file_buffer, uint32_t recursion_level,
                             uint32_t layer_attributes, void *context)
{
    struct scan_ctx *sc = context;

    (void)fd, (void)type, (void)ancestors, (void)parent_file_size, (void)file_name;
    (void)file_buffer, (void)recursion_level, (void)layer_attributes;
    if (sc != NULL && file_size >= opts->max_filesize)
        sc->truncated = true;
    return CL_SUCCESS;
}

static struct cl_engine *engine_build(unsigned *sigs, char *why, size_t whylen)
{
    struct cl_engine *cl = cl_engine_new();
    cl_error_t rc;

    *sigs = 0;
    if (cl == NULL) {
        snprintf(why, whylen, "cl_engine_new failed");
        return NULL;
    }
    if ((rc = cl_engine_set_str(cl, CL_ENGINE_TMPDIR, opts->tmpdir)) != CL_SUCCESS ||
        (rc = cl_engine_set_num(cl, CL_ENGINE_MAX_SCANSIZE, (long long)opts->max_scansize)) ||
        (rc = cl_engine_set_num(cl, CL_ENGINE_MAX_FILESIZE, (long long)opts->max_filesize)) ||
        (rc = cl_engine_set_num(cl, CL_ENGINE_MAX_RECURSION, opts->max_recursion)) ||
        (rc = cl_engine_set_num(cl, CL_ENGINE_MAX_FILES, opts->max_files)) ||
        (rc = cl_engine_set_num(cl, CL_ENGINE_MAX_SCANTIME, opts->max_scantime_ms)) ||
        (opts->no_cache && (rc = cl_engine_set_num(cl, CL_ENGINE_DISABLE_CACHE, 1)))) {
        snprintf(why, whylen, "engine limits: %s", cl_strerror(rc));
        cl_engine_free(cl);
        return NULL;
    }
    cl_engine_set_clcb_file_inspection(cl, on_inspect);
    rc = cl_load(opts->db_dir, cl, sigs, CL_DB_STDOPT);
    if (rc == CL_SUCCESS && *sigs == 0)
        rc = CL_EMALFDB;
    if (rc == CL_SUCCESS)
        rc = cl_engine_compile(cl);
    if (rc != CL_SUCCESS) {
        snprintf(why, whylen, "loading %s: %s", opts->db_dir,
                 *sigs == 0 && rc == CL_EMALFDB ? "no signatures" : cl_strerror(rc));
        cl_engine_free(cl);
        return NULL;
    }
    return cl;
}

void scan_engine_maybe_reload(void)
{
    struct engine_ref *e, *old;
    struct cl_engine *cl;
    char why[256];
    unsigned sigs;
    long long t0;
    long rss0;
    bool have;

    pthread_mutex_lock(&eng_lock);
    have = current != NULL;
    pthread_mutex_unlock(&eng_lock);
    if (have && dbstat_valid && cl_statchkdir(&dbstat) != 1)
        return;                            /* unchanged (or unreadable: keep the old one) */
    if (dbstat_valid)
        cl_statfree(&dbstat);
    dbstat_valid = cl_statinidir(opts->db_dir, &dbstat) == CL_SUCCESS;

    rss0 = rss_kb();
    t0 = now_ms();
    cl = engine_build(&sigs, why, sizeof(why));
    if (cl == NULL) {
        if (have) {
            scan_log(LOG_ERR, "database changed but the new engine failed (%s): keeping the "
                     "engine in use", why);
        } else {
            scan_log(LOG_ERR, "no engine: %s; mail will be deferred, never passed unscanned",
                     why);
            scan_status("noengine %s", why);
            if (dbstat_valid)
                cl_statfree(&dbstat);
            dbstat_valid = false;          /* try again at the next check */
        }
        return;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        cl_engine_free(cl);
        return;
    }
    e->cl = cl;
    e->refs = 1;
    e->sigs = sigs;
    {
        long long ms = now_ms() - t0;
        long rss1 = rss_kb();

        scan_log(LOG_INFO, "%s engine: %u signatures from %s loaded in %lld ms, "
                 "memory +%ld KB (RSS %ld KB)", have ? "new" : "loaded", sigs, opts->db_dir,
                 ms, rss1 - rss0, rss1);
        pthread_mutex_lock(&eng_lock);
        old = current;
        current = e;
        pthread_mutex_unlock(&eng_lock);
        scan_status("ready %u %lld %ld", sigs, ms, rss1);
    }
    if (old != NULL)
        engine_unref(old);
}

static void format_result(cl_error_t rc, const char *virname, bool truncated, char *out,
                          size_t outlen);

/* The fmap presents [offset, offset+length) of the spooled file as a file of its own. */
struct msg_handle {
    int fd;
    uint64_t offset, length;
    bool read_failed;          /* a read failed or came short: never "clean" then */
};

static off_t msg_pread(void *handle, void *buf, size_t count, off_t off)
{
    struct msg_handle *h = handle;
    ssize_t n;

    if (off < 0 || (uint64_t)off >= h->length)
        return 0;
    if (count > h->length - (uint64_t)off)
        count = (size_t)(h->length - (uint64_t)off);
    do
        n = pread(h->fd, buf, count, (off_t)(h->offset + (uint64_t)off));
    while (n < 0 && errno == EINTR);
    if (n < 0 || (count > 0 && n == 0))
        h->read_failed = true;
    return n;
}

void scan_engine_scan(int fd, uint64_t offset, uint64_t length, char *out, size_t outlen)
{
    struct msg_handle h = { fd, offset, length, false };
    struct cl_scan_options so;
    struct scan_ctx sc = { false };
    struct engine_ref *e;
    const char *virname = NULL;
    unsigned long scanned = 0;
    cl_fmap_t *map;
    cl_error_t rc;

    if (length > opts->max_filesize) {    /* libclamav would skip it without a name */
        snprintf(out, outlen, "unscanned " PREFIX_LIMITS ".MaxFileSize");
        return;
    }
    e = engine_ref_current();
    if (e == NULL) {
        snprintf(out, outlen, "error no engine loaded");
        return;
    }
    map = cl_fmap_open_handle(&h, 0, (size_t)length, msg_pread, 1);
    if (map == NULL) {
        engine_unref(e);
        snprintf(out, outlen, "error cannot map the message");
        return;
    }
    memset(&so, 0, sizeof(so));
    so.general = CL_SCAN_GENERAL_HEURISTICS;
    so.parse = ~0u;
    so.heuristic = CL_SCAN_HEURISTIC_EXCEEDS_MAX | CL_SCAN_HEURISTIC_ENCRYPTED_ARCHIVE |
                   CL_SCAN_HEURISTIC_ENCRYPTED_DOC | CL_SCAN_HEURISTIC_BROKEN;
    rc = cl_scanmap_callback(map, "message", &virname, &scanned, e->cl, &so, &sc);
    cl_fmap_close(map);
    if (h.read_failed && rc != CL_VIRUS)
        snprintf(out, outlen, "error cannot read the message");
    else
        format_result(rc, virname, sc.truncated, out, outlen);
    engine_unref(e);          /* last: virname points into the engine */
}

static void format_result(cl_error_t rc, const char *virname, bool truncated, char *out,
                          size_t outlen)
{
    if (rc == CL_CLEAN && truncated)
        snprintf(out, outlen, "unscanned " PREFIX_LIMITS ".MaxFileSize.Truncated");
    else if (rc == CL_CLEAN)
        snprintf(out, outlen, "clean");
    else if (rc == CL_VIRUS && virname == NULL)   /* a limit path that sets no name */
        snprintf(out, outlen, "unscanned " PREFIX_LIMITS " (unnamed)");
    else if (rc == CL_VIRUS && virname != NULL &&
             strncmp(virname, PREFIX_LIMITS, strlen(PREFIX_LIMITS)) == 0)
        snprintf(out, outlen, "unscanned %s", virname);
    else if (rc == CL_VIRUS && virname != NULL &&
             strncmp(virname, PREFIX_ENCRYPTED, strlen(PREFIX_ENCRYPTED)) == 0)
        snprintf(out, outlen, "encrypted %s", virname);
    else if (rc == CL_VIRUS)
        snprintf(out, outlen, "virus %s", virname);
    else if (rc == CL_EMAXREC || rc == CL_EMAXSIZE || rc == CL_EMAXFILES || rc == CL_ETIMEOUT)
        snprintf(out, outlen, "unscanned %s", cl_strerror(rc));
    else
        snprintf(out, outlen, "error %s", cl_strerror(rc));
}
