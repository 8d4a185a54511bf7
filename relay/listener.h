/*
 * listener.h - listening sockets and the admission of new connections.
 *
 * One listener per configured address. On accept it sets TCP_NODELAY, enforces the
 * total and per-client-IP connection limits (an over-limit client gets 421 4.7.0 after
 * its greeting would have been sent, so TLS clients see it too), and starts a session.
 */
#ifndef POSTERN_LISTENER_H
#define POSTERN_LISTENER_H

struct server;
struct listener_conf;
struct smtp_session;

/* Bind every configured listener. 0, or -1 after logging (nothing is left bound). */
int listeners_open(struct server *srv);
void listeners_close(struct server *srv);

/* Per-IP session accounting, called by the session when it ends. */
void listener_ip_release(struct server *srv, const char *ip);

#endif
