/*
 * spool_int.h - private to the spool (relay/spool/spool.c, relay/spool/spool_spare.c).
 */
#ifndef POSTERN_SPOOL_INT_H
#define POSTERN_SPOOL_INT_H

#include "relay/spool/spool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct spool {
    char *dir;
    char *queue_dir;
    char *corrupt_dir;
    int tmp_fd;                  /* directory fds for *at() calls and fsync */
    int queue_fd;
    struct workpool *wp;
    unsigned long seq;
    struct spool_commit *synced, **synced_tail; /* synced, waiting for a batch */
    unsigned npending;           /* commits not answered yet */
    bool inflight;               /* a fsync of queue/ is running */
    struct spool_spare *spare;   /* empty files in tmp/, open, ready to be written */
    size_t nspare, nreserved;    /* ... and places promised to recycles and refills */
    bool refilling;
    uint64_t free_bytes;         /* the last statvfs of the file system ... */
    long long free_checked_ms;   /* ... when (monotonic) ... */
    bool free_known;             /* (false until the first statvfs) */
    uint64_t written_since;      /* ... and what the spool wrote since */
    spool_queued_fn queued_fn;
    void *queued_arg;
};

/* spool_spare.c: a spare file for a new message (created here when none is ready), and
 * the spares closed at spool_close(). */
int spool_spare_take(struct spool *sp, struct spool_spare *out);
/* An untouched spare back to the list; false when the list is full (then unlink it). */
bool spool_spare_return(struct spool *sp, const struct spool_spare *spare);
void spool_spares_close(struct spool *sp);

#endif
