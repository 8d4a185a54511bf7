/*
 * errout.h - where the blocking admin helpers write their error messages.
 *
 * The helpers behind posternctl (policy/ *_admin.c, webhooks_admin.c, the blocking Redis
 * connect) print a one-line reason for a failure. In posternctl that is stderr; when the
 * daemon runs the same helper for the admin socket or the HTTP API (on a worker thread),
 * it sets a memory stream for that thread so that the reason reaches the admin, not the
 * daemon's own stderr. Thread-local: each worker has its own.
 */
#ifndef POSTERN_ERROUT_H
#define POSTERN_ERROUT_H

#include <stdio.h>

/* The stream of this thread (stderr unless errout_set() named another). */
FILE *errout(void);

/* Use f for this thread from now on; NULL goes back to stderr. */
void errout_set(FILE *f);

#endif
