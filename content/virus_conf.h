/*
 * virus_conf.h - the "virus" configuration section: the scanner program, its database and
 * limits (declared once, in virus_conf.c). relay/ hooks it into the root table as
 * { "virus", CONF_SECTION, offsetof(root, virus), .sub = &virus_conf_section }.
 */
#ifndef POSTERN_CONTENT_VIRUS_CONF_H
#define POSTERN_CONTENT_VIRUS_CONF_H

#include <stdbool.h>

#include "lib/conf.h"

struct virus_conf {
    bool enabled;
    bool cache;                    /* libclamav's clean cache (by content hash) */
    char *scanner;                 /* path of postern-scan */
    char *database;                /* libclamav database directory */
    char *tmpdir;                  /* where the scanner makes its directory; NULL: auto */
    long long threads;
    unsigned long long max_scansize, max_filesize, max_memory;
    long long max_recursion, max_files;
    long long max_scantime_ms;     /* libclamav's own limit, per message */
    long long timeout_ms;          /* the daemon's limit: no reply by then = unavailable */
    long long check_interval_ms;   /* database change check */
    long long restart_min_ms, restart_max_ms;
};

extern const struct conf_section virus_conf_section;

/* Does dir hold ClamAV signature files (*.cvd, *.cld, *.cud, *.ndb, *.hdb, ...)? For the
 * warning of `postern -n`; the scanner itself says what it loaded. */
bool virus_database_present(const char *dir);

#endif
