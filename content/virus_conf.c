/*
 * virus_conf.c - the keys of the "virus" section (virus_conf.h). Config load only.
 */
#include "content/virus_conf.h"

#include <string.h>

#include <dirent.h>

#include <stddef.h>

#define V(f) offsetof(struct virus_conf, f)
#define MS_MAX (24LL * 3600 * 1000)

static const struct conf_key virus_keys[] = {
    { .name = "enabled", .type = CONF_BOOL, .offset = V(enabled), .def = "true",
      .help = "scan every message (inbound and submission) for viruses before its 250" },
    { .name = "scanner", .type = CONF_PATH, .offset = V(scanner),
      .def = "/usr/lib/postern/postern-scan",
      .help = "the scanner program (postern-scan) the daemon starts and watches" },
    { .name = "database", .type = CONF_PATH, .offset = V(database), .def = "/var/lib/clamav",
      .help = "ClamAV signature directory (kept current by clamav-freshclam); without it "
              "mail is deferred, never passed unscanned" },
    { .name = "tmpdir", .type = CONF_PATH, .offset = V(tmpdir),
      .help = "where the scanner makes its private directory for libclamav's temporary "
              "files (every decoded part and archive member is one); null: /dev/shm when "
              "it is a tmpfs (memory, up to max_scansize per scan in flight), else /tmp" },
    { .name = "cache", .type = CONF_BOOL, .offset = V(cache), .def = "true",
      .help = "libclamav's clean cache: a file (message, decoded part, archive member) "
              "whose MD5 it has already found clean with this engine is not scanned again; "
              "false scans everything (benchmarks of unique content)" },
    { .name = "threads", .type = CONF_INT, .offset = V(threads), .def = "2", .min = 1,
      .max = 64, .help = "scan threads in the scanner process" },
    { .name = "max_scansize", .type = CONF_SIZE, .offset = V(max_scansize), .def = "100M",
      .min = 1024, .max = 1LL << 40,
      .help = "most data scanned per message (decoded parts included); more is unscanned" },
    { .name = "max_filesize", .type = CONF_SIZE, .offset = V(max_filesize), .def = "25M",
      .min = 1024, .max = 1LL << 40,
      .help = "largest single file (part, archive member) scanned; larger is unscanned" },
    { .name = "max_recursion", .type = CONF_INT, .offset = V(max_recursion), .def = "16",
      .min = 1, .max = 255, .help = "deepest nesting of archives and attached messages" },
    { .name = "max_files", .type = CONF_INT, .offset = V(max_files), .def = "10000",
      .min = 1, .max = 1000000, .help = "most files scanned in one message or archive" },
    { .name = "max_scantime", .type = CONF_DURATION, .offset = V(max_scantime_ms),
      .def = "60s", .min = 100, .max = MS_MAX,
      .help = "libclamav's time limit for one message; hitting it is unscanned" },
    { .name = "timeout", .type = CONF_DURATION, .offset = V(timeout_ms), .def = "120s",
      .min = 100, .max = MS_MAX,
      .help = "the daemon waits this long for a scan result, then applies the unsure rule" },
    { .name = "max_memory", .type = CONF_SIZE, .offset = V(max_memory), .def = "4G",
      .min = 64LL << 20, .max = 1LL << 44,
      .help = "address-space limit of the scanner process (the full database needs ~1 GB)" },
    { .name = "check_interval", .type = CONF_DURATION, .offset = V(check_interval_ms),
      .def = "5m", .min = 1000, .max = MS_MAX,
      .help = "how often the scanner checks the database for changes (also on SIGHUP)" },
    { .name = "restart_min", .type = CONF_DURATION, .offset = V(restart_min_ms),
      .def = "100ms", .min = 1, .max = MS_MAX,
      .help = "first delay before restarting a scanner that died (doubles each time)" },
    { .name = "restart_max", .type = CONF_DURATION, .offset = V(restart_max_ms),
      .def = "30s", .min = 1, .max = MS_MAX,
      .help = "longest delay between scanner restarts" },
    { .name = NULL }
};

static int virus_conf_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct virus_conf *c = obj;

    if (c->restart_min_ms > c->restart_max_ms)
        return conf_error(errs, pointer, "restart_min is larger than restart_max");
    return 0;
}

const struct conf_section virus_conf_section = {
    .name = "virus", .keys = virus_keys, .validate = virus_conf_validate
};

bool virus_database_present(const char *dir)
{
    static const char *const ext[] = { ".cvd", ".cld", ".cud", ".ndb", ".hdb", ".hsb",
                                       ".mdb", ".ldb", ".ndu", ".ign2", NULL };
    DIR *d = opendir(dir);
    struct dirent *e;
    bool found = false;

    while (d != NULL && !found && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name), i;
        for (i = 0; ext[i] != NULL && !found; i++) {
            size_t k = strlen(ext[i]);
            found = n > k && strcmp(e->d_name + n - k, ext[i]) == 0 &&
                    strcmp(ext[i], ".ign2") != 0;
        }
    }
    if (d != NULL)
        closedir(d);
    return found;
}
