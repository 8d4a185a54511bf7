/*
 * fileio.h - small file helpers shared by the spool, maildir delivery, the webhook outbox
 * and the checks that read the spooled message.
 */
#ifndef POSTERN_FILEIO_H
#define POSTERN_FILEIO_H

#include <stddef.h>

/* Write all n bytes to fd, retrying on EINTR and short writes. 0, or -1 with errno set. */
int write_all(int fd, const void *data, size_t n);

/* Read up to n bytes at offset off, retrying on EINTR and short reads; stops at the end of
 * the file or an error. Returns the bytes read. */
size_t pread_all(int fd, void *buf, size_t n, unsigned long long off);

#endif
