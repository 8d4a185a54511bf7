/*
 * quar_store.h - this node's durable quarantine store: SPOOL/quarantine/, one file per
 * (message, recipient), with the same promise as the spool (fdatasync the file, rename,
 * fsync the directory before anything is reported done; it survives kill -9).
 *
 * An entry file is a queue file (docs/spool.md) of one recipient, named ENTRY = QID.IDX
 * (the message's queue ID and the recipient's position): the envelope with that recipient,
 * the message as received, and the recipient's "policy" record. Its mtime is the time it was
 * quarantined. Being a queue file, it is released by a rename into the queue:
 *   1. ENTRY.rel.tmp is written: a new queue file (new ID and arrival time, an
 *      X-Postern-Released: field on top, the policy record made "pass"), fdatasynced;
 *   2. renamed to ENTRY.rel, directory fsynced       (the release is decided)
 *   3. ENTRY unlinked, directory fsynced             (it is no longer an entry)
 *   4. ENTRY.rel renamed to SPOOL/queue/NEWQID, both directories fsynced (queued).
 * After a crash, quar_store_recover() finishes every ENTRY.rel (steps 3 and 4) and removes
 * ENTRY.rel.tmp and ENTRY.tmp files, so a release delivers the message exactly once.
 * The new ID is made from the .rel file's inode like the spool's (lib/qid.h): the file
 * system is the spool's, so it is unique in queue/.
 *
 * Every function blocks: worker pool (or startup) only. -1 with errno on failure.
 */
#ifndef POSTERN_QUAR_STORE_H
#define POSTERN_QUAR_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "content/quar.h"
#include "lib/qid.h"

struct queue_file;

#define QUAR_STORE_DIR "quarantine"

/* Create (if needed) and open SPOOL/quarantine; its descriptor, or -1 with errno. */
int quar_store_open(const char *spool_dir);

/* Store recipient idx of the queue file qf (its message readable from fd) as entry
 * QID.IDX at time now, and fill out (its index fields; node left empty). Writing an entry
 * that exists replaces it (a crash between the entry and the queue file's record). */
int quar_store_put(int qdir, const struct queue_file *qf, int fd, size_t idx, long long now,
                   struct quar_entry *out);

/* Read entry id's index fields into out (cleared by quar_entry_clear()). */
int quar_store_read(int qdir, const char *id, struct quar_entry *out);

/* The entry IDs in the store (malloc'd array of malloc'd strings), *n their count. */
char **quar_store_list(int qdir, size_t *n);

/* Release entry id into the queue directory queue_dir (steps above); by says who ("admin",
 * "recipient"); the new queue ID in newqid. ENOENT when there is no such entry. */
int quar_store_release(int qdir, int queue_dir, const char *id, const char *by, long long now,
                       char newqid[QID_MAX]);

/* Delete entry id (unlink, fsync the directory). ENOENT counts as done. */
int quar_store_delete(int qdir, const char *id);

/* Finish the releases a crash interrupted and remove partial files. Returns what was
 * released as "NEWQID ENTRY" strings (malloc'd array of malloc'd strings), *n their count. */
char **quar_store_recover(int qdir, int queue_dir, size_t *n);

/* The message bytes of entry id (malloc'd, *len), for learning; NULL with errno. */
char *quar_store_message(int qdir, const char *id, size_t max, size_t *len);

/* The value of header field name in the header section h[0..len) (unfolded, control
 * characters made spaces, cut to QUAR_FIELD_MAX bytes), malloc'd; "" when absent. Pure. */
char *quar_header_value(const char *h, size_t len, const char *name);

/* A test hook: with POSTERN_TEST_QUAR_CRASH=1 in the environment, the daemon _exit()s
 * between steps 3 and 4 of a release (what kill -9 at that moment leaves). */
#define QUAR_TEST_CRASH_ENV "POSTERN_TEST_QUAR_CRASH"

#endif
