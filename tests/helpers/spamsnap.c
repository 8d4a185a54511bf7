/*
 * spamsnap.c - test helper: a "node" that keeps the daemon's snapshot of the spam model
 * (content/spam_snapshot.h) refreshed from Redis and scores messages with it, as the spam
 * check does. For the integration tests of learning on one node and scoring on another.
 *
 *   spamsnap SOCKET REFRESH_MS
 * stdin: one message path a line; stdout: "VERSION SCORE BAYES PATH" (BAYES -1: the
 * classifier abstained). EOF ends it.
 */
#include "content/spam_score.h"
#include "content/spam_snapshot.h"
#include "lib/redis.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct node {
    struct event_base *base;
    struct spam_snapshot *snap;
    char line[4096];
    size_t used;
};

static void score_path(struct node *n, const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = malloc(1 << 20);
    size_t len = f && buf ? fread(buf, 1, 1 << 20, f) : 0;
    struct spam_snap *s = spam_snapshot_get(n->snap);
    struct spam_score sc;

    spam_score_message(s ? spam_snap_model(s) : NULL, buf ? buf : "", len, &sc);
    printf("%llu %.4f %.6f %s\n", spam_snapshot_version(n->snap), sc.total, sc.bayes_prob,
           path);
    fflush(stdout);
    spam_snap_unref(s);
    free(buf);
    if (f)
        fclose(f);
}

static void on_stdin(evutil_socket_t fd, short what, void *arg)
{
    struct node *n = arg;
    ssize_t r = read(fd, n->line + n->used, sizeof(n->line) - 1 - n->used);
    char *nl;

    (void)what;
    if (r <= 0) {
        event_base_loopexit(n->base, NULL);
        return;
    }
    n->used += (size_t)r;
    n->line[n->used] = '\0';
    while ((nl = strchr(n->line, '\n')) != NULL) {
        *nl = '\0';
        if (n->line[0])
            score_path(n, n->line);
        memmove(n->line, nl + 1, n->used - (size_t)(nl + 1 - n->line) + 1);
        n->used -= (size_t)(nl + 1 - n->line);
    }
}

int main(int argc, char **argv)
{
    struct node n;
    struct redis_conf rc = { .timeout_ms = 1000, .reconnect_min_ms = 50,
                             .reconnect_max_ms = 500 };
    struct redis *r;
    struct event *ev;

    if (argc != 3) {
        fprintf(stderr, "usage: spamsnap SOCKET REFRESH_MS\n");
        return 64;
    }
    memset(&n, 0, sizeof(n));
    rc.socket = argv[1];
    n.base = event_base_new();
    r = redis_new(n.base, &rc, NULL, NULL);
    n.snap = spam_snapshot_new(n.base, r, NULL, atoll(argv[2]));
    ev = event_new(n.base, 0, EV_READ | EV_PERSIST, on_stdin, &n);
    event_add(ev, NULL);
    event_base_dispatch(n.base);
    event_free(ev);
    spam_snapshot_free(n.snap);
    redis_free(r);
    event_base_free(n.base);
    return 0;
}
