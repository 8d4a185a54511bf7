/*
 * queue_quar.c - move quarantined recipients from a loaded queue file into the quarantine
 * store (see queue_quar.h). Called by queue.c's load job on the worker pool.
 */
#include "relay/queue/queue_quar.h"

#include "lib/xalloc.h"
#include "relay/quar/quar_store.h"
#include "relay/queue/queue_file.h"
#include "relay/queue/queue_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void qquar_take(int qdir, int dirfd, struct queue_file *qf, int fd, struct quar_entry **out,
                size_t *n, char *err, size_t errlen)
{
    long long now = (long long)queue_now();
    struct sbuf recs = { 0 };
    size_t i, *idx = NULL, k;

    *out = NULL;
    *n = 0;
    err[0] = '\0';
    if (qdir < 0)
        return;
    for (i = 0; i < qf->nrcpt; i++) {
        struct quar_entry e;
        char *text;
        if (!queue_file_rcpt_held(&qf->rcpts[i]))
            continue;
        if (quar_store_put(qdir, qf, fd, i, now, &e) < 0) {
            snprintf(err, errlen, "cannot store recipient %zu in the quarantine: %s", i,
                     strerror(errno));
            continue;
        }
        text = xasprintf("quarantined as %s", e.id);
        qsb_take(&recs, queue_file_rec_rcpt("done", i, now, "2.0.0", "quarantine", text));
        free(text);
        *out = xrealloc(*out, (*n + 1) * sizeof(**out));
        (*out)[*n] = e;
        idx = xrealloc(idx, (*n + 1) * sizeof(*idx));
        idx[(*n)++] = i;
    }
    if (recs.len) {
        if (queue_file_append(dirfd, qf->qid, recs.p, recs.len) < 0)
            snprintf(err, errlen, "cannot record the quarantine in the queue file: %s",
                     strerror(errno));
        else
            for (k = 0; k < *n; k++)
                qf->rcpts[idx[k]].state = QF_DONE;
    }
    qsb_free(&recs);
    free(idx);
}
