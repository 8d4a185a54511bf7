/*
 * scan_client.h - the daemon's side of virus scanning: starts the scanner program
 * postern-scan (fork + exec through posix_spawn, never a bare fork), watches it, restarts
 * it with backoff when it dies, and submits scans of spooled files to it (the descriptor
 * is passed over the socketpair, see scan_proto.h).
 *
 * Every submitted scan gets exactly one callback, on the loop thread, unless it was
 * cancelled first: the scanner's result, or SCAN_UNAVAILABLE when the scanner died with
 * the scan in flight, or when the per-scan timeout passed. Used by the virus check
 * (policy/checks/check_virus.c) through struct engine_env, and by `posternctl scan`.
 *
 * Threading: loop thread only.
 */
#ifndef POSTERN_CONTENT_SCAN_CLIENT_H
#define POSTERN_CONTENT_SCAN_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct virus_conf;
struct scan_client;
struct scan_req;

enum scan_status {
    SCAN_CLEAN,
    SCAN_VIRUS,         /* detail: the signature name */
    SCAN_UNSCANNED,     /* a limit was hit (detail: which); never clean, never a virus */
    SCAN_ENCRYPTED,     /* an encrypted archive or document (detail: the heuristic name) */
    SCAN_ERROR,         /* the scanner could not scan it (detail: why) */
    SCAN_UNAVAILABLE,   /* no scanner, no engine, scanner died, or timeout (detail: why) */
};

/* "clean", "virus", "unscanned", "encrypted", "error", "unavailable". */
const char *scan_status_name(enum scan_status s);

struct scan_result {
    enum scan_status status;
    const char *detail;        /* valid during the callback; "" when none */
};

/* Called once per scan (not after scan_cancel). Must not free the client. */
typedef void (*scan_done_fn)(const struct scan_result *r, void *arg);
/* Availability changed: an engine became ready (true), or the scanner died, could not
 * load an engine or could not be started (false, with why). */
typedef void (*scan_avail_fn)(bool available, const char *why, void *arg);

struct scan_client_opts {
    bool no_cache;             /* libclamav's clean cache off (tests, benchmarks) */
};

/* Start the scanner now (asynchronously: it is available once its engine is loaded).
 * conf is copied. avail may be NULL. NULL after logging when conf is unusable. */
struct scan_client *scan_client_new(struct event_base *base, const struct virus_conf *conf,
                                    const struct scan_client_opts *opts,
                                    scan_avail_fn avail, void *avail_arg);
/* Stop the scanner (SIGTERM, then reaped); pending scans get no callback. */
void scan_client_free(struct scan_client *c);

/* Ask the scanner to check its database now (what SIGHUP does to the daemon). */
void scan_client_reload(struct scan_client *c);
bool scan_client_available(const struct scan_client *c);
/* Why it is not available ("starting", "no engine: ...", "restarting"); "" when it is. */
const char *scan_client_why(const struct scan_client *c);
pid_t scan_client_pid(const struct scan_client *c);     /* 0 when not running */
unsigned scan_client_inflight(const struct scan_client *c);
unsigned scan_client_restarts(const struct scan_client *c);
unsigned scan_client_engines(const struct scan_client *c);  /* engines loaded (swaps + 1) */

/* Scan length bytes at offset of fd (the descriptor is duplicated for the scanner; the
 * caller keeps its own). NULL when the scanner is not available (no callback then: the
 * caller applies its unsure rule at once). */
struct scan_req *scan_submit(struct scan_client *c, int fd, uint64_t offset, uint64_t length,
                             scan_done_fn done, void *arg);
/* Forget a pending scan: its callback never runs. */
void scan_cancel(struct scan_req *r);

#endif
