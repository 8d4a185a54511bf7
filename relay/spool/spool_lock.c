/*
 * spool_lock.c - one daemon per spool: an exclusive flock(2) on SPOOL/postern.lock, held
 * for the daemon's whole life, with the holder's pid in the file (see spool.h).
 *
 * main.c takes it before anything touches the spool: a start recovers the spool by
 * removing what tmp/ holds, which belongs to the running daemon when there is one. The
 * lock belongs to the open file description, so it survives the daemon's fork (the child
 * then writes its own pid), and the kernel drops it when the process dies, even by
 * kill -9: a file left behind is never a stale lock.
 */
#include "relay/spool/spool.h"

#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPOOL_LOCK_NAME "postern.lock"
#define PID_TEXT_MAX    32

static long lock_read_pid(int fd)
{
    char buf[PID_TEXT_MAX];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return strtol(buf, NULL, 10);
}

int spool_lock_take(const char *dir, long *holder)
{
    char *path;
    int fd;

    *holder = 0;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -1;
    path = xasprintf("%s/%s", dir, SPOOL_LOCK_NAME);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    free(path);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        if (e == EWOULDBLOCK)
            *holder = lock_read_pid(fd);
        close(fd);
        errno = e;
        return -1;
    }
    if (spool_lock_write_pid(fd) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int spool_lock_write_pid(int fd)
{
    char buf[PID_TEXT_MAX];
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
        return -1;
    return 0;
}
