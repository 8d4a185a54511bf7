/*
 * privileges.h - drop root after the listeners are bound (the "privileges" config section).
 *
 * Postern is started as root (systemd, rc scripts) so that it can bind ports below 1024 and
 * read a root-only TLS key; once its listeners are bound and its files are open, main()
 * calls privileges_drop(), which hands the spool to the configured user and becomes that
 * user (setgroups, setgid, setuid, then verified). Started unprivileged (systemd with
 * User= and CAP_NET_BIND_SERVICE), there is nothing to drop. Staying root needs
 * "run_as_root": true (the demo config and the test harness say so; never in production).
 */
#ifndef POSTERN_PRIVILEGES_H
#define POSTERN_PRIVILEGES_H

#include <stdbool.h>

#include "lib/conf.h"

struct privileges_conf {
    char *user;          /* "_postern" */
    char *group;         /* NULL: the user's primary group */
    bool run_as_root;    /* keep running as root (loud warning) */
};

extern const struct conf_section privileges_conf_section;

/* What to hand over besides the spool: paths the daemon created as root and writes later
 * (the webhooks outbox, the admin socket); NULL entries are skipped. */
#define PRIVILEGES_MAX_PATHS 8

/*
 * Become the configured user when running as root: chown spool_dir (recursively) and each
 * of paths[0..npaths) to it, then setgroups/setgid/setuid, and verify that root cannot be
 * regained. Not root: returns 0 without a change. Root with run_as_root: logs a warning and
 * returns 0. Returns -1 after logging why (unknown user or group, a user that is root, a
 * failed call): the daemon must not start.
 */
int privileges_drop(const struct privileges_conf *pc, const char *spool_dir,
                    const char *const *paths, int npaths);

/* privileges_drop() for the daemon of config c: the spool, the webhooks outbox and the
 * admin socket are handed over. main() calls it once after server_start(). */
struct relay_conf;
int privileges_drop_daemon(const struct relay_conf *c);

#endif
