/*
 * queue_login.h - a login's messages in this node's queue, read from the spool
 * (posternctl account show). Blocking: posternctl, or the daemon's worker pool.
 */
#ifndef POSTERN_QUEUE_LOGIN_H
#define POSTERN_QUEUE_LOGIN_H

/* Count the messages in spool_dir/queue whose auth login is login (case-insensitive):
 * *queued all of them, *held those held because the login is suspended (a "suspended"
 * record without "unsuspended" after it). 0, or -1 with errno when the directory cannot
 * be read. One read of every queue file's envelope and records. */
int queue_login_count(const char *spool_dir, const char *login, unsigned *queued,
                      unsigned *held);

#endif
