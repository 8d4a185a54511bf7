/*
 * quar_int.h - what quar_runner.c and quar_digest.c share: the runner's state and its
 * in-memory table of this node's entries (for retention and size caps without reading
 * the files).
 */
#ifndef POSTERN_QUAR_INT_H
#define POSTERN_QUAR_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "content/quar.h"
#include "relay/quar/quar_runner.h"

struct event;

struct quar_item {
    char id[QUAR_ID_MAX];
    char *domain;                  /* the recipient's domain */
    long long date;
    unsigned long long size;
    bool busy;                     /* a release or delete is in flight */
};

struct quar_runner {
    struct quar_env env;
    struct quar *quar;             /* the index client (NULL without Redis) */
    int dirfd;
    struct quar_item *items;
    size_t nitems;
    bool ready;                    /* the startup scan is done */
    bool reindex;                  /* index every entry again when Redis is up */
    bool reindexing;
    char **gone;                   /* entries released at start-up: out of the index */
    size_t ngone;
    bool stopping;
    unsigned jobs;                 /* worker jobs in flight */
    struct event *poll, *sweep;
    struct quar_op *popping;       /* the job-list pop in flight */
    struct quar_op **digest_ops;   /* the digest's Redis work in flight */
    size_t ndigest_ops;
    void *digest;                  /* quar_digest.c's state */
};

/* Forget the digest's state (quar_digest.c). */
void quar_digest_free(struct quar_runner *r);

#endif
