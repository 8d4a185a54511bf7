/*
 * backup_probe.h - is the primary MX of each backup-MX domain up?
 *
 * Every queue.backup_probe_interval (0: never), for each domain of relay.backup_domains,
 * the best MX host above our own host name (RFC 5321 5.1, as delivery chooses it) gets a
 * connection, its greeting and EHLO are awaited, then QUIT. Two failed probes in a row
 * make the primary "down": the backup.primary_down alert. The first success after that
 * makes it "up": the backup.primary_up alert, and what is queued for the domain is
 * delivered now (as after an ETRN) instead of at its next retry. Loop thread only.
 */
#ifndef POSTERN_BACKUP_PROBE_H
#define POSTERN_BACKUP_PROBE_H

struct server;
struct backup_probe;

struct backup_probe *backup_probe_new(struct server *srv);
void backup_probe_free(struct backup_probe *bp);   /* before the resolver is freed */

#endif
