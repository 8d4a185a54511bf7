/*
 * queue_login.c - a login's messages in this node's queue (see queue_login.h).
 */
#include "relay/queue/queue_login.h"

#include "lib/qid.h"
#include "lib/xalloc.h"
#include "relay/queue/queue_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <strings.h>
#include <unistd.h>

int queue_login_count(const char *spool_dir, const char *login, unsigned *queued,
                      unsigned *held)
{
    char *qdir = xasprintf("%s/queue", spool_dir);
    int dfd = open(qdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd2, e;
    struct dirent *de;
    DIR *d;

    *queued = *held = 0;
    free(qdir);
    if (dfd < 0)
        return -1;
    if ((fd2 = dup(dfd)) < 0 || (d = fdopendir(fd2)) == NULL) {
        e = errno;
        if (fd2 >= 0)
            close(fd2);
        close(dfd);
        errno = e;
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        struct queue_file *qf;
        if (!qid_valid(de->d_name) || (qf = queue_file_load(dfd, de->d_name, NULL)) == NULL)
            continue; /* delivered and removed meanwhile, or unreadable */
        if (qf->auth != NULL && strcasecmp(qf->auth, login) == 0) {
            (*queued)++;
            *held += qf->suspended;
        }
        queue_file_free(qf);
    }
    closedir(d);
    close(dfd);
    return 0;
}
