/*
 * backup_probe.h - is the primary MX of each backup-MX domain up?
 *
 * Every queue.backup_probe_interval (0: never), for each domain of relay.backup_domains,
 * the best MX host above our own host name (RFC 5321 5.1, as delivery chooses it) gets a
 * connection, its greeting and EHLO are awaited, then QUIT. Two failed probes in a row
 * make the primary "down": the backup.primary_down alert. The first success after that
 * makes it "up": the backup.primary_up alert, and what is queued for the domain is
 * delivered now (as after an ETRN) instead of at its next retry. Loop thread only.
 *
 * The primaries of a domain are its MX hosts ranked above this server (the best first;
 * RFC 5321 5.1: our own host name cuts the MX list at its preference). ETRN asks whether
 * a client is one of them: backup_probe_check() resolves them as a probe does.
 *
 * It is given what it needs (struct backup_probe_deps) by the composition root
 * (relay/server.c), not the daemon: the loop, the resolver, the current configuration,
 * whether the daemon is shutting down, the event sink and a hook that flushes a domain's
 * queue. It knows nothing of the queue runner.
 */
#ifndef POSTERN_BACKUP_PROBE_H
#define POSTERN_BACKUP_PROBE_H

#include <stdbool.h>

struct event_base;
struct dns;
struct config;
struct json_t;
struct backup_probe;

struct backup_probe_deps {
    struct event_base *base;
    struct dns *dns;
    struct config *const *cf;        /* where the current configuration is (swapped on
                                        reload); read at each use */
    const bool *shutting_down;       /* no new probes once it is true */
    /* events for the alert layer; takes the reference of data */
    void (*event)(void *arg, const char *type, struct json_t *data);
    void *event_arg;
    /* a primary is back: deliver what is queued for domain now (as after an ETRN) */
    void (*flush_domain)(void *arg, const char *domain);
    void *flush_arg;
};

/* deps is copied. */
struct backup_probe *backup_probe_new(const struct backup_probe_deps *deps);
void backup_probe_free(struct backup_probe *bp);   /* before the resolver is freed */

/* Did the last probes find the primary of domain down (two failures in a row, not up
 * again since)? False when it is up, not probed yet, or not a backup domain. */
bool backup_probe_down(const struct backup_probe *bp, const char *domain);

enum backup_check_result {
    BACKUP_CHECK_PRIMARY,   /* ip is an address of a primary MX of the domain */
    BACKUP_CHECK_OTHER,     /* it is not (or the domain has no primary) */
    BACKUP_CHECK_UNKNOWN,   /* the primaries could not be resolved now (DNS failure) */
};
typedef void (*backup_check_fn)(void *arg, enum backup_check_result r);
struct backup_check;

/* Is ip (text) an address of a primary MX of domain? cb runs once, later, on the loop,
 * unless backup_check_cancel() comes first (a session that goes away). The handle is
 * valid until cb starts. */
struct backup_check *backup_probe_check(struct backup_probe *bp, const char *domain,
                                        const char *ip, backup_check_fn cb, void *arg);
void backup_check_cancel(struct backup_check *c);  /* NULL is a no-op */

#endif
