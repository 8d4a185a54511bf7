/*
 * spool.h - the crash-safe message spool (what "guaranteed delivery" rests on).
 *
 * A message is written to SPOOL/tmp/, and committed by: fdatasync(file), rename into
 * SPOOL/queue/<QID>, fsync(SPOOL/queue). Only then does the caller's commit callback run,
 * and only then may "250 Ok: queued as QID" be sent. Files are synced in parallel; renames
 * that complete while queue/ is being synced wait and share the next directory fsync
 * (group commit). All of it runs on the sync pool given to spool_open(), never on the loop. On start, spool_recover() deletes everything left
 * in tmp/ (never acknowledged) and counts queue/. The file format is in docs/spool.md.
 *
 * Threading: every function here runs on the loop thread; only the sync jobs run on
 * workers, and they touch nothing but file descriptors and paths.
 */
#ifndef POSTERN_SPOOL_H
#define POSTERN_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/qid.h"

struct workpool;
struct spool;
struct spool_file;
struct spool_commit;

#define SPOOL_MAGIC "POSTERN-QUEUE 1"
#define SPOOL_NAME_MAX 64          /* names in tmp/ */
#define SPOOL_SPARE_MAX 256        /* empty files kept open in tmp/, ready to be written */

/* The envelope written at the top of a queue file. Strings are borrowed. */
struct spool_envelope {
    double arrival;            /* unix time with microseconds */
    const char *client_ip;
    const char *client_name;   /* reverse DNS name or "unknown" */
    const char *helo;          /* sanitised */
    const char *listener;
    const char *profile;       /* the listener's: "inbound", "submission", "submissions" */
    const char *proto;         /* SMTP ESMTP ESMTPS ESMTPA ESMTPSA */
    const char *auth_login;    /* NULL when not authenticated */
    const char *body;          /* "7BIT" or "8BITMIME", NULL when not given */
    bool smtputf8;             /* the message needs SMTPUTF8: "smtputf8 1" */
    bool smtputf8_asked;       /* SMTPUTF8 was given but nothing needs it yet: "smtputf8 0",
                                  made "1" by spool_file_smtputf8_needed() */
    const char *sender;        /* "" for the null sender */
    const char *const *rcpts;
    size_t nrcpt;
};

/* One daemon per spool (relay/spool/spool_lock.c): take the exclusive lock SPOOL/postern.lock
 * (creating dir if needed) and write our pid into it. Returns the descriptor, to keep open
 * for the daemon's life (it is close-on-exec), or -1 with errno: EWOULDBLOCK when another
 * process holds it, its pid in *holder (0 when unknown). */
int spool_lock_take(const char *dir, long *holder);

/* After a fork: write the caller's pid into the lock file (the lock itself is inherited).
 * 0, or -1 with errno. */
int spool_lock_write_pid(int fd);

/* Open (and create) the spool directories under dir; wp is the pool that runs the fsyncs
 * (give it many threads: see sync_workers). NULL with errno on failure. */
struct spool *spool_open(const char *dir, struct workpool *wp);
void spool_close(struct spool *sp);

/* Remove partial files from tmp/ and count committed messages. Startup only (blocking). */
int spool_recover(struct spool *sp, unsigned *queued, unsigned *removed);

/* Create a new file in tmp/ and assign its queue ID. NULL with errno on failure. */
struct spool_file *spool_file_new(struct spool *sp);
const char *spool_file_qid(const struct spool_file *f);

/* Write the envelope block; call once, before any message bytes. 0 or -1 (errno). */
int spool_file_write_envelope(struct spool_file *f, const struct spool_envelope *env);

/* Append message bytes (buffered). 0 or -1 with errno (e.g. ENOSPC). */
int spool_file_write(struct spool_file *f, const void *data, size_t len);

/* The message header holds UTF-8: an envelope written with smtputf8_asked will say
 * "smtputf8 1" (patched in place at commit). */
void spool_file_smtputf8_needed(struct spool_file *f);

/* Message bytes written so far (after the envelope), or its size once ended. */
uint64_t spool_file_size(const struct spool_file *f);

/* The message is complete: its size is fixed now, and what is written after it are
 * records (docs/spool.md, "Status records": the policy results), committed with it. */
void spool_file_end_message(struct spool_file *f);

/* Records written with the message at receipt (docs/spool.md; read by
 * relay/queue/queue_file.c), malloc'd lines:
 *   "sender_auth HOW\n"     the envelope sender was authenticated: SPF pass for the MAIL
 *                           FROM domain or a DKIM pass aligned with it (how: "spf",
 *                           "dkim", "spf+dkim"; other bytes than printable non-space ASCII
 *                           become '?')
 *   "verp IDX ADDRESS\n"    recipient IDX goes with ADDRESS (its bounce address) as
 *                           envelope sender; NULL when address cannot be a record word
 *                           (empty, spaces or control characters) */
char *spool_rec_sender_auth(const char *how);
char *spool_rec_verp(size_t idx, const char *address);

/* Write out what is buffered, so that the file can be read (pread) from fd: 0, or -1
 * with errno. *msg_offset is where the message starts. */
int spool_file_readable(struct spool_file *f, int *fd, uint64_t *msg_offset);

/* Someone else (a worker, after spool_file_readable and before any further write) inserted
 * len bytes inside the message with pread/pwrite on fd, moving the rest of the file up
 * (DKIM signing, relay/smtpd/smtp_sign.c): the message and the file are len bytes longer.
 * Further writes go after the new end. 0, or -1 with errno. */
int spool_file_inserted(struct spool_file *f, size_t len);

/* Throw the file away (unlink, close, free). */
void spool_file_abort(struct spool_file *f);

/*
 * Commit the file: takes ownership of f. cb runs on the loop thread once the message is
 * durable in queue/ (err == 0) or the commit failed (err = errno; the file is removed).
 * Returns a handle for spool_commit_cancel().
 */
typedef void (*spool_commit_fn)(void *arg, int err, const char *qid);
struct spool_commit *spool_file_commit(struct spool_file *f, spool_commit_fn cb, void *arg);

/* The owner went away: cb will not run. The commit itself still completes. */
void spool_commit_cancel(struct spool_commit *c);

/* Commits queued or in flight (shutdown waits for 0). */
unsigned spool_commits_pending(const struct spool *sp);

/* Free space of the spool's file system: bytes available to unprivileged writers. A
 * statvfs() runs at most every SPOOL_FREE_CHECK_MS (250 ms); in between, the last figure
 * less what the spool wrote since, so the answer costs no system call on a busy server and
 * never errs on the generous side because of our own writes (space freed meanwhile shows at
 * the next check). UINT64_MAX when the file system cannot be asked. */
#define SPOOL_FREE_CHECK_MS 250
uint64_t spool_free_space(struct spool *sp);

/* Path of the queue directory (for the queue runner and posternctl). */
const char *spool_queue_dir(const struct spool *sp);

/*
 * Recycling: a message that left the queue for good (delivered) is not unlinked but moved
 * back to tmp/ and emptied, and a later spool_file_new() writes into it. Creating and
 * deleting an inode per message is the costliest part of the spool on ext4 (the inode
 * allocator skips recently deleted inodes, and scans them each time to do so).
 *   1. spool_recycle_reserve() on the loop thread: false when enough files wait already
 *      (then unlink as usual);
 *   2. spool_recycle_file() on any thread: queue/QID -> tmp/QID, truncated and opened.
 *      Not fsynced: after a crash the message may be back in queue/ and is delivered
 *      again (at least once), as after an unlink. Returns 1 (reusable: *out is filled),
 *      0 (gone, not reusable) or -1 with errno (still in the queue);
 *   3. spool_recycle_done() on the loop thread, with out, or NULL when not reusable.
 * Files left in tmp/ are deleted by spool_recover() at the next start.
 */
struct spool_spare {
    int fd;
    uint64_t ino;
    char name[SPOOL_NAME_MAX];
};
bool spool_recycle_reserve(struct spool *sp);
int spool_recycle_file(const struct spool *sp, const char *qid, struct spool_spare *out);
void spool_recycle_done(struct spool *sp, const struct spool_spare *spare);

/* Path of the directory where the queue runner moves files it cannot parse. */
const char *spool_corrupt_dir(const struct spool *sp);

/* Called after each committed batch with the IDs that became durable (queue runner hook).
 * May be NULL. Loop thread. */
typedef void (*spool_queued_fn)(void *arg, const char *qid);
void spool_set_queued_hook(struct spool *sp, spool_queued_fn fn, void *arg);

#endif
