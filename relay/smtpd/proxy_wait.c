/*
 * proxy_wait.c - reading the PROXY header of a balancer's connection (see proxy_wait.h).
 *
 * Each readable event peeks at what has arrived, asks the parser, and consumes only bytes
 * that belong to the header: all of them while it says "more" (it only says so when every
 * byte given belongs to an incomplete header), exactly the header once it is complete.
 * So every event consumes something and a level-triggered read event cannot spin.
 */
#include "relay/smtpd/proxy_wait.h"

#include "lib/log.h"
#include "lib/proxy_proto.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct proxy_wait {
    struct proxy_wait *prev, *next, **list;
    int fd;
    struct event *rd, *timer;
    struct sockaddr_storage peer;
    char peer_ip[INET6_ADDRSTRLEN];
    char listener[64];
    proxy_wait_done_fn done;
    proxy_wait_fail_fn fail;
    void *arg;
    size_t have;
    unsigned char buf[PROXY_HDR_MAX];
};

static void pw_unlink_free(struct proxy_wait *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        *w->list = w->next;
    if (w->next)
        w->next->prev = w->prev;
    event_free(w->rd);
    event_free(w->timer);
    free(w);
}

static void pw_refuse(struct proxy_wait *w, const char *why)
{
    proxy_wait_fail_fn fail = w->fail;
    void *arg = w->arg;

    log_warn("smtpd", "listener %s: connection from [%s] refused: PROXY header %s",
             w->listener, w->peer_ip, why);
    close(w->fd);
    pw_unlink_free(w);
    fail(arg);
}

/* The client's address from a complete header (the connection's own for LOCAL). */
static void pw_client(const struct proxy_wait *w, const struct proxy_hdr *h,
                      struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (h->local) {
        memcpy(ss, &w->peer, sizeof(*ss));
    } else if (h->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, h->src, 4);
        in->sin_port = htons((unsigned short)h->src_port);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, h->src, 16);
        in6->sin6_port = htons((unsigned short)h->src_port);
    }
}

static void pw_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct proxy_wait *w = arg;
    struct proxy_hdr h;
    struct sockaddr_storage client;
    const char *why = "malformed";
    enum proxy_status st;
    size_t take;
    ssize_t n;
    (void)what;

    n = recv(fd, w->buf + w->have, sizeof(w->buf) - w->have, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        pw_refuse(w, n == 0 ? "missing (connection closed)" : "missing (read error)");
        return;
    }
    st = proxy_parse(w->buf, w->have + (size_t)n, &h, &why);
    if (st == PROXY_BAD) {
        pw_refuse(w, why);
        return;
    }
    take = st == PROXY_OK ? h.len - w->have : (size_t)n;
    if (recv(fd, w->buf + w->have, take, 0) != (ssize_t)take) { /* peeked: cannot block */
        pw_refuse(w, "missing (read error)");
        return;
    }
    w->have += take;
    if (st == PROXY_NEED_MORE) {
        if (w->have == sizeof(w->buf))
            pw_refuse(w, "too long");
        return;
    }
    pw_client(w, &h, &client);
    {
        char ip[INET6_ADDRSTRLEN] = "";
        if (proxy_src_text(&h, ip, sizeof(ip)) < 0)
            snprintf(ip, sizeof(ip), "%s", w->peer_ip);
        log_info("smtpd", "listener %s: PROXY v%d from [%s]: client [%s]%s", w->listener,
                 h.version, w->peer_ip, ip, h.local ? " (LOCAL: the balancer itself)" : "");
    }
    {
        proxy_wait_done_fn done = w->done;
        void *darg = w->arg;
        int cfd = w->fd;
        pw_unlink_free(w);
        done(darg, cfd, (struct sockaddr *)&client);
    }
}

static void pw_on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pw_refuse(arg, "not received in time");
}

void proxy_wait_start(struct event_base *base, int fd, const struct sockaddr *peer,
                      long long timeout_ms, const char *listener, struct proxy_wait **list,
                      proxy_wait_done_fn done, proxy_wait_fail_fn fail, void *arg)
{
    struct proxy_wait *w = xcalloc(1, sizeof(*w));
    struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };

    w->fd = fd;
    memcpy(&w->peer, peer, peer->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                      : sizeof(struct sockaddr_in));
    if (peer->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, w->peer_ip,
                  sizeof(w->peer_ip));
    else
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, w->peer_ip,
                  sizeof(w->peer_ip));
    snprintf(w->listener, sizeof(w->listener), "%s", listener);
    w->done = done;
    w->fail = fail;
    w->arg = arg;
    w->list = list;
    w->next = *list;
    if (*list)
        (*list)->prev = w;
    *list = w;
    w->rd = event_new(base, fd, EV_READ | EV_PERSIST, pw_on_read, w);
    w->timer = evtimer_new(base, pw_on_timeout, w);
    if (w->rd == NULL || w->timer == NULL)
        abort(); /* out of memory */
    evutil_make_socket_nonblocking(fd);
    event_add(w->rd, NULL);
    evtimer_add(w->timer, &tv);
}

unsigned proxy_wait_cancel_all(struct proxy_wait **list)
{
    unsigned n = 0;

    while (*list) {
        close((*list)->fd);
        pw_unlink_free(*list);
        n++;
    }
    return n;
}
