/*
 * fileio.h - small file helpers shared by the spool, maildir delivery and the webhook outbox.
 */
#ifndef POSTERN_FILEIO_H
#define POSTERN_FILEIO_H

#include <stddef.h>

/* Write all n bytes to fd, retrying on EINTR and short writes. 0, or -1 with errno set. */
int write_all(int fd, const void *data, size_t n);

#endif
