/*
 * scanner.h - the parts of postern-scan, the confined virus scanner program the daemon
 * starts (content/scan_client.c) and talks to over descriptor 3 (content/scan_proto.h).
 *
 *   scan_main.c     options, the request loop, the scan threads, replies
 *   scan_engine.c   the libclamav engine: load, change detection, swap, scan one message
 *   scan_confine.c  rlimits, no privileges, the seccomp allow-list, Landlock
 *
 * Threading: scan_engine_* may be called from any thread; the engine in use is reference
 * counted, so a swap never frees it under a running scan.
 */
#ifndef POSTERN_CONTENT_SCANNER_H
#define POSTERN_CONTENT_SCANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct scan_opts {
    const char *db_dir;
    const char *tmpdir;
    unsigned threads;
    unsigned long long max_scansize, max_filesize;
    unsigned max_recursion, max_files;
    unsigned max_scantime_ms;
    unsigned long long max_memory;   /* RLIMIT_AS; 0: none */
    unsigned check_interval_s;       /* database change check */
    bool no_cache;                   /* CL_ENGINE_DISABLE_CACHE (tests, benchmarks) */
    bool no_seccomp;                 /* diagnosis only */
    bool seccomp_trap;               /* diagnosis: name the forbidden syscall, then die */
};

/* Send one log line to the daemon (any thread). */
void scan_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Send an id-0 status line ("ready ...", "noengine ..."). */
void scan_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* libclamav global init; 0 or -1 (logged). */
int scan_engine_init(const struct scan_opts *o);
/* Load a new engine when there is none, or when the database changed (force: check now).
 * Swaps it in and reports "ready"/"noengine". Called by the reload thread only. */
void scan_engine_maybe_reload(void);
/* Scan length bytes at offset of fd; writes the reply text ("clean", "virus NAME", ...). */
void scan_engine_scan(int fd, uint64_t offset, uint64_t length, char *out, size_t outlen);

/* Apply rlimits, drop privileges, install the seccomp filter and Landlock. 0 or -1. */
int scan_confine(const struct scan_opts *o);

#endif
