/*
 * redis_testserver.h - a private redis-server for unit tests: started on a unix socket in
 * a temporary directory, no persistence, stopped by its PID. Tests skip when Debian's
 * redis-server is not installed.
 */
#ifndef POSTERN_TESTS_REDIS_TESTSERVER_H
#define POSTERN_TESTS_REDIS_TESTSERVER_H

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct redis_testserver {
    char dir[64], sock[128];
    pid_t pid;
};

static inline const char *redis_testserver_path(void)
{
    static const char *const paths[] = { "/usr/bin/redis-server", "/usr/local/bin/redis-server",
                                         NULL };
    size_t i;

    for (i = 0; paths[i] != NULL; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

/* Start it; 0 when its socket exists, 1 when redis-server is not installed, -1 on error. */
static inline int redis_testserver_start(struct redis_testserver *t)
{
    const char *server = redis_testserver_path();
    struct stat st;
    int i;

    if (server == NULL)
        return 1;
    snprintf(t->dir, sizeof(t->dir), "/tmp/postern-redis-XXXXXX");
    if (mkdtemp(t->dir) == NULL)
        return -1;
    snprintf(t->sock, sizeof(t->sock), "%s/redis.sock", t->dir);
    t->pid = fork();
    if (t->pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 1);
        dup2(null, 2);
        execl(server, server, "--port", "0", "--unixsocket", t->sock, "--unixsocketperm",
              "700", "--save", "", "--appendonly", "no", "--dir", t->dir, "--loglevel",
              "warning", (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < 500 && stat(t->sock, &st) != 0; i++)
        usleep(10000);
    /* the socket file appears at bind(), before listen(): wait for a PING answer */
    for (i = 0; i < 500; i++) {
        redisContext *c = redisConnectUnix(t->sock);
        redisReply *r = c != NULL && c->err == 0 ? redisCommand(c, "PING") : NULL;
        int up = r != NULL && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        redisFree(c);
        if (up)
            return 0;
        usleep(10000);
    }
    return -1;
}

static inline void redis_testserver_stop(struct redis_testserver *t)
{
    if (t->pid > 0) {
        kill(t->pid, SIGTERM);
        waitpid(t->pid, NULL, 0);
        t->pid = 0;
    }
    if (t->dir[0]) {
        unlink(t->sock);
        rmdir(t->dir);
        t->dir[0] = '\0';
    }
}

#endif
