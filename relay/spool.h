/*
 * spool.h - the crash-safe message spool (what "guaranteed delivery" rests on).
 *
 * A message is written to SPOOL/tmp/, and committed by: fdatasync(file), rename into
 * SPOOL/queue/<QID>, fsync(SPOOL/queue). Only then does the caller's commit callback run,
 * and only then may "250 Ok: queued as QID" be sent. Commits that arrive while a batch is
 * being synced wait and are synced together in the next batch (group commit), on the
 * worker pool, never on the event loop. On start, spool_recover() deletes everything left
 * in tmp/ (never acknowledged) and counts queue/. The file format is in docs/spool.md.
 *
 * Threading: every function here runs on the loop thread; only the batch sync job runs
 * on a worker, and it touches nothing but file descriptors and paths.
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

/* The envelope written at the top of a queue file. Strings are borrowed. */
struct spool_envelope {
    double arrival;            /* unix time with microseconds */
    const char *client_ip;
    const char *client_name;   /* reverse DNS name or "unknown" */
    const char *helo;          /* sanitised */
    const char *listener;
    const char *proto;         /* SMTP ESMTP ESMTPS ESMTPA ESMTPSA */
    const char *auth_login;    /* NULL when not authenticated */
    const char *body;          /* "7BIT" or "8BITMIME", NULL when not given */
    bool smtputf8;
    const char *sender;        /* "" for the null sender */
    const char *const *rcpts;
    size_t nrcpt;
};

/* Open (and create) the spool directories under dir. NULL with errno on failure. */
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

/* Message bytes written so far (after the envelope). */
uint64_t spool_file_size(const struct spool_file *f);

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

/* Path of the queue directory (for the queue runner and posternctl). */
const char *spool_queue_dir(const struct spool *sp);

/* Called after each committed batch with the IDs that became durable (queue runner hook).
 * May be NULL. Loop thread. */
typedef void (*spool_queued_fn)(void *arg, const char *qid);
void spool_set_queued_hook(struct spool *sp, spool_queued_fn fn, void *arg);

#endif
