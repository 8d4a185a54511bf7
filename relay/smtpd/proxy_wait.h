/*
 * proxy_wait.h - connections of a PROXY-protocol listener waiting for their header.
 *
 * A listener with proxy_protocol on hands every accepted connection from one of its
 * balancers (proxy_networks) here. Nothing is sent; the header (v1 or v2) is read with
 * MSG_PEEK and consumed exactly, never a byte past it, so what follows (SMTP, or the TLS
 * ClientHello of an implicit-TLS listener) stays in the socket for the session. The pure
 * parser is lib/proxy_proto.c. A garbled header, EOF, or no complete header within the
 * timeout closes the connection with one log line; a good one calls done() with the
 * client's address (the header's source, or the connection's own for LOCAL / UNKNOWN),
 * and the session starts as if that client had connected. Loop thread only.
 */
#ifndef POSTERN_PROXY_WAIT_H
#define POSTERN_PROXY_WAIT_H

#include <sys/socket.h>

struct event_base;
struct proxy_wait;

/* The header was read: the session may start on fd (ownership passes) for client. */
typedef void (*proxy_wait_done_fn)(void *arg, int fd, const struct sockaddr *client);
/* The connection was refused (reason for metrics: "proxy_header"); fd is already closed. */
typedef void (*proxy_wait_fail_fn)(void *arg);

/* Start waiting on fd (taken over) for a header from peer; done or fail is called once,
 * later, unless proxy_wait_cancel_all() on the list comes first. */
void proxy_wait_start(struct event_base *base, int fd, const struct sockaddr *peer,
                      long long timeout_ms, const char *listener, struct proxy_wait **list,
                      proxy_wait_done_fn done, proxy_wait_fail_fn fail, void *arg);

/* Close every connection still waiting on the list (listener shutdown); neither done nor
 * fail is called for them. Returns how many there were. */
unsigned proxy_wait_cancel_all(struct proxy_wait **list);

#endif
