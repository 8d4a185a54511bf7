/*
 * errout.c - the per-thread error stream of the admin helpers (see errout.h).
 */
#include "lib/errout.h"

static _Thread_local FILE *errout_stream;

FILE *errout(void)
{
    return errout_stream ? errout_stream : stderr;
}

void errout_set(FILE *f)
{
    errout_stream = f;
}
