/*
 * privileges.c - the "privileges" config section and the drop from root (see privileges.h).
 *
 * Called once by main() after server_start(): the listeners are bound, the spool is
 * locked and recovered, the TLS key is read. Worker threads already run; glibc's
 * setgroups/setgid/setuid change the credentials of every thread of the process.
 */
#include "relay/privileges.h"

#include "lib/log.h"
#include "relay/relay_conf.h"

#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define P(f) offsetof(struct privileges_conf, f)
static int privileges_validate(void *obj, const char *pointer, struct conf_errors *errs);
static const struct conf_key privileges_keys[] = {
    { .name = "user", .type = CONF_STRING, .offset = P(user), .def = "_postern",
      .help = "started as root, Postern binds its listeners, then runs as this user (the "
              "spool is handed to it); started as another user it keeps that one" },
    { .name = "group", .type = CONF_STRING, .offset = P(group),
      .help = "group to run as (default: the user's primary group); supplementary groups "
              "are dropped" },
    { .name = "run_as_root", .type = CONF_BOOL, .offset = P(run_as_root), .def = "false",
      .help = "keep running as root when started as root (logged as a warning at start); "
              "for throwaway demo and test machines only: otherwise a start as root is "
              "refused unless user names an unprivileged account" },
    { NULL }
};
const struct conf_section privileges_conf_section = { "privileges", privileges_keys,
                                                      privileges_validate };

static int privileges_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct privileges_conf *pc = obj;
    char at[128];

    snprintf(at, sizeof(at), "%s/user", pointer);
    if (pc->user == NULL || pc->user[0] == '\0')
        return conf_error(errs, at, "an account name is needed (default \"_postern\")");
    if (strcmp(pc->user, "root") == 0 && !pc->run_as_root)
        return conf_error(errs, at, "\"root\" would keep the daemon root: name an "
                          "unprivileged account, or set privileges.run_as_root (not for "
                          "production)");
    return 0;
}

static uid_t chown_uid;
static gid_t chown_gid;
static int chown_errors;

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    if ((st->st_uid != chown_uid || st->st_gid != chown_gid) &&
        lchown(path, chown_uid, chown_gid) < 0) {
        log_error("master", "cannot hand %s to uid %ld: %s", path, (long)chown_uid,
                  strerror(errno));
        chown_errors++;
    }
    return 0;
}

/* Hand path (a file, or a directory and everything in it) to uid:gid; 0 or -1. */
static int hand_over(const char *path, uid_t uid, gid_t gid)
{
    chown_uid = uid;
    chown_gid = gid;
    chown_errors = 0;
    if (nftw(path, chown_one, 32, FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT) {
        log_error("master", "cannot hand %s over: %s", path, strerror(errno));
        return -1;
    }
    return chown_errors ? -1 : 0;
}

static int lookup(const struct privileges_conf *pc, uid_t *uid, gid_t *gid)
{
    struct passwd *pw;
    struct group *gr;

    errno = 0;
    if ((pw = getpwnam(pc->user)) == NULL) {
        log_error("master", "privileges.user: no account \"%s\"%s%s; create it (useradd "
                  "--system --no-create-home %s) or name another one", pc->user,
                  errno ? ": " : "", errno ? strerror(errno) : "", pc->user);
        return -1;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    if (pc->group != NULL) {
        errno = 0;
        if ((gr = getgrnam(pc->group)) == NULL) {
            log_error("master", "privileges.group: no group \"%s\"", pc->group);
            return -1;
        }
        *gid = gr->gr_gid;
    }
    if (*uid == 0 || *gid == 0) {
        log_error("master", "privileges: %s%s%s is root: name an unprivileged account, or "
                  "set privileges.run_as_root (not for production)", pc->user,
                  pc->group ? ":" : "", pc->group ? pc->group : "");
        return -1;
    }
    return 0;
}

/* No way back: neither the real, effective nor saved ids are root, and setuid(0) fails. */
static int verify(uid_t uid, gid_t gid)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;

    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
        return -1;
    if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
        return -1;
    if (setuid(0) == 0 || seteuid(0) == 0)
        return -1;
    return 0;
}

int privileges_drop(const struct privileges_conf *pc, const char *spool_dir,
                    const char *const *paths, int npaths)
{
    uid_t uid;
    gid_t gid;
    int i;

    if (geteuid() != 0)
        return 0;
    if (pc->run_as_root) {
        log_warn("master", "RUNNING AS ROOT: privileges.run_as_root is set; every bug "
                    "in a mail server reachable from the network is then a root bug "
                    "(for throwaway demo and test machines only)");
        return 0;
    }
    if (lookup(pc, &uid, &gid) < 0)
        return -1;
    if (hand_over(spool_dir, uid, gid) < 0)
        return -1;
    for (i = 0; i < npaths; i++)
        if (paths[i] != NULL && hand_over(paths[i], uid, gid) < 0)
            return -1;
    if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
        log_error("master", "cannot become %s (uid %ld, gid %ld): %s", pc->user, (long)uid,
                  (long)gid, strerror(errno));
        return -1;
    }
    if (verify(uid, gid) < 0) {
        log_error("master", "privileges: root could still be regained after becoming %s; "
                  "refusing to run", pc->user);
        return -1;
    }
    log_info("master", "running as %s (uid %ld, gid %ld)", pc->user, (long)uid, (long)gid);
    return 0;
}

int privileges_drop_daemon(const struct relay_conf *c)
{
    char *sock = admin_socket_path(c);
    const char *paths[] = { c->webhooks.outbox_dir, sock };
    int rc = privileges_drop(&c->privileges, c->spool_dir, paths, 2);
    free(sock);
    return rc;
}
