/*
 * spool_spare.c - empty files ready in tmp/, so that accepting a message allocates no inode
 * on the event loop (see spool.h, "Recycling", and docs/spool.md).
 *
 * Two sources: a worker creates SPOOL_REFILL files at a time when fewer than
 * SPOOL_SPARE_LOW are ready, and the queue runner gives back the files of delivered
 * messages (spool_recycle_*), renamed to tmp/ and truncated. On ext4 both avoid the inode
 * allocator's scan of recently deleted inodes, measured at 44% of the daemon's CPU time.
 * The list lives on the loop thread; workers only fill a job's argument.
 */
#include "relay/spool/spool.h"
#include "relay/spool/spool_int.h"

#include "lib/workpool.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPOOL_SPARE_LOW  32      /* below this many, a worker creates ... */
#define SPOOL_REFILL     64      /* ... this many more */

struct spool_refill {
    struct spool *sp;
    unsigned long seq;           /* names SEQ, SEQ+1, ... reserved on the loop thread */
    size_t n;
    struct spool_spare made[SPOOL_REFILL];
};

/* Create one empty file in tmp/ (a worker's refill, or the loop when none is ready). */
static int spare_create(const struct spool *sp, unsigned long seq, struct spool_spare *out)
{
    struct stat st;
    snprintf(out->name, sizeof(out->name), "%ld.%lu", (long)getpid(), seq);
    out->fd = openat(sp->tmp_fd, out->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out->fd < 0)
        return -1;
    if (fstat(out->fd, &st) < 0) {
        int e = errno;
        close(out->fd);
        unlinkat(sp->tmp_fd, out->name, 0);
        errno = e;
        return -1;
    }
    out->ino = (uint64_t)st.st_ino;
    return 0;
}

static void spool_refill_work(void *arg)
{
    struct spool_refill *r = arg;
    size_t want = r->n;
    for (r->n = 0; r->n < want; r->n++)
        if (spare_create(r->sp, r->seq + r->n, &r->made[r->n]) < 0)
            break;
}

static void spool_refill_done(void *arg)
{
    struct spool_refill *r = arg;
    struct spool *sp = r->sp;
    size_t i;

    sp->refilling = false;
    sp->nreserved -= SPOOL_REFILL;
    for (i = 0; i < r->n; i++)
        sp->spare[sp->nspare++] = r->made[i];
    free(r);
}

/* Loop thread: keep spares ahead of demand, so that accepting a message allocates no inode
 * on the loop (ext4 may scan thousands of recently deleted inodes to find a free one). */
static void spool_refill(struct spool *sp)
{
    struct spool_refill *r;
    if (sp->refilling || sp->nspare >= SPOOL_SPARE_LOW ||
        sp->nspare + sp->nreserved + SPOOL_REFILL > SPOOL_SPARE_MAX)
        return;
    r = xcalloc(1, sizeof(*r));
    r->sp = sp;
    r->n = SPOOL_REFILL;
    r->seq = sp->seq + 1;
    sp->seq += SPOOL_REFILL;
    sp->refilling = true;
    sp->nreserved += SPOOL_REFILL;
    workpool_submit(sp->wp, spool_refill_work, spool_refill_done, r);
}

int spool_spare_take(struct spool *sp, struct spool_spare *out)
{
    if (sp->nspare > 0)
        *out = sp->spare[--sp->nspare];
    else if (spare_create(sp, ++sp->seq, out) < 0)
        return -1;
    spool_refill(sp);
    return 0;
}

bool spool_spare_return(struct spool *sp, const struct spool_spare *spare)
{
    if (sp->nspare + sp->nreserved >= SPOOL_SPARE_MAX)
        return false;
    sp->spare[sp->nspare++] = *spare;
    return true;
}

void spool_spares_close(struct spool *sp)
{
    while (sp->nspare > 0)
        close(sp->spare[--sp->nspare].fd); /* the files go at the next spool_recover() */
    free(sp->spare);
    sp->spare = NULL;
}

bool spool_recycle_reserve(struct spool *sp)
{
    if (sp->nspare + sp->nreserved >= SPOOL_SPARE_MAX)
        return false;
    sp->nreserved++;
    return true;
}

int spool_recycle_file(const struct spool *sp, const char *qid, struct spool_spare *out)
{
    struct stat st;

    if (renameat(sp->queue_fd, qid, sp->tmp_fd, qid) < 0) {
        if (errno == ENOENT)
            return 0;
        return unlinkat(sp->queue_fd, qid, 0) < 0 && errno != ENOENT ? -1 : 0;
    }
    snprintf(out->name, sizeof(out->name), "%s", qid);
    out->fd = openat(sp->tmp_fd, qid, O_RDWR | O_TRUNC | O_CLOEXEC);
    if (out->fd < 0 || fstat(out->fd, &st) < 0) {
        if (out->fd >= 0)
            close(out->fd);
        unlinkat(sp->tmp_fd, qid, 0);
        return 0;
    }
    out->ino = (uint64_t)st.st_ino;
    return 1;
}

void spool_recycle_done(struct spool *sp, const struct spool_spare *spare)
{
    sp->nreserved--;
    if (spare)
        sp->spare[sp->nspare++] = *spare;
}
