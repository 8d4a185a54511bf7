/*
 * listener.h - listening sockets and the admission of new connections.
 *
 * One listener per configured address. On accept it sets TCP_NODELAY, enforces the
 * connection limits: in total, per listener (so that port 25 cannot crowd out submission
 * users) and per client IP (an IPv6 client per network of limits.ipv6_prefix bits); an
 * over-limit client gets 421 4.7.0 after its greeting would have been sent, so TLS clients
 * see it too, and starts a session.
 */
#ifndef POSTERN_LISTENER_H
#define POSTERN_LISTENER_H

struct smtpd;
struct listener_conf;
struct smtp_session;

/* Bind every configured listener. 0, or -1 after logging (nothing is left bound). */
int listeners_open(struct smtpd *srv);

/* Stop accepting (SIGTERM). The listeners stay until listeners_free(): sessions still
 * count against them. */
void listeners_close(struct smtpd *srv);

/* Release them, once every session is gone (server_stop). */
void listeners_free(struct smtpd *srv);

/* A session ended: give back its places in its listener's and its client's counts. */
void listener_session_gone(struct smtpd *srv, struct smtp_session *s);

#endif
