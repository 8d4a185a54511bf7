/*
 * quarlink.c - what the web page's /ui/q/TOKEN handler does with a digest link, as a
 * command for the integration tests (test_quarantine.py): content/quar_release_token()
 * over the daemon's Redis, on a libevent loop.
 *
 * Usage: quarlink release REDIS_SOCKET KEY TOKEN [NOW]
 *          prints "ERRNO_NAME TEXT" (OK, EINVAL, ETIMEDOUT, EPERM, EALREADY, ENOENT, EIO)
 *        quarlink make KEY ENTRY RCPT release|learn EXPIRES
 *          prints a token
 * Exit 0 when it ran (whatever the answer), 2 on usage.
 */
#include "content/quar.h"
#include "content/quar_token.h"
#include "lib/redis.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct answer {
    int done, err;
    char text[200];
};

static void on_done(void *arg, int err, const char *text)
{
    struct answer *a = arg;
    a->done = 1;
    a->err = err;
    snprintf(a->text, sizeof(a->text), "%s", text);
}

static const char *err_name(int e)
{
    switch (e) {
    case 0: return "OK";
    case EINVAL: return "EINVAL";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EPERM: return "EPERM";
    case EALREADY: return "EALREADY";
    case ENOENT: return "ENOENT";
    default: return "EIO";
    }
}

int main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "make") == 0) {
        char *t = quar_token_make(argv[2], strlen(argv[2]), argv[3], argv[4],
                                  strcmp(argv[5], "learn") == 0 ? QUAR_ACT_RELEASE_LEARN
                                                                : QUAR_ACT_RELEASE,
                                  strtoll(argv[6], NULL, 10));
        if (t == NULL)
            return 2;
        printf("%s\n", t);
        free(t);
        return 0;
    }
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "release") == 0) {
        struct redis_conf conf = { .socket = argv[2], .timeout_ms = 1000,
                                   .reconnect_min_ms = 50, .reconnect_max_ms = 200 };
        struct event_base *base = event_base_new();
        struct redis *r = redis_new(base, &conf, NULL, NULL);
        struct quar *q = quar_new(base, r, "quarlink");
        struct answer a = { 0 };
        struct timeval tick = { 0, 10000 };
        long long now = argc == 6 ? strtoll(argv[5], NULL, 10) : (long long)time(NULL);
        int i;

        for (i = 0; i < 300 && redis_state(r) != REDIS_STATE_UP; i++) {
            event_base_loopexit(base, &tick);
            event_base_dispatch(base);
        }
        quar_release_token(q, argv[3], strlen(argv[3]), argv[4], now, on_done, &a);
        for (i = 0; i < 500 && !a.done; i++) {
            event_base_loopexit(base, &tick);
            event_base_dispatch(base);
        }
        printf("%s %s\n", a.done ? err_name(a.err) : "EIO", a.done ? a.text : "no answer");
        quar_free(q);
        redis_free(r);
        event_base_free(base);
        return 0;
    }
    fprintf(stderr, "usage: quarlink release SOCKET KEY TOKEN [NOW] | "
                    "quarlink make KEY ENTRY RCPT release|learn EXPIRES\n");
    return 2;
}
