/*
 * queue_quar.h - quarantined recipients leave the queue for the quarantine store.
 *
 * A recipient whose policy record says "quarantine" is not delivered: while its message is
 * loaded (worker pool), it is written to the store as entry QID.IDX (relay/quar/
 * quar_store.h, durable), then "done IDX TIME 2.0.0 quarantine quarantined as ENTRY" is
 * appended to the queue file (fdatasynced). A crash in between writes the same entry again
 * at the next load (same name: replaced). The loop then indexes the new entries
 * (relay/quar/quar_runner.h) and logs "QID: to=<RCPT>, status=quarantined (REASON)".
 * This replaces the old "held" state of such recipients (posternctl held is an alias of
 * posternctl quarantine).
 */
#ifndef POSTERN_QUEUE_QUAR_H
#define POSTERN_QUEUE_QUAR_H

#include <stddef.h>

#include "content/quar.h"

struct queue_file;

/* The entries made for qf (read from fd; queue file qid in dirfd) in store qdir. Worker
 * pool. qf's recipients are marked done when the record is on disk. *out is malloc'd (NULL
 * when none), *n its count; *err gets an error text ("" when fine). */
void qquar_take(int qdir, int dirfd, struct queue_file *qf, int fd, struct quar_entry **out,
                size_t *n, char *err, size_t errlen);

#endif
