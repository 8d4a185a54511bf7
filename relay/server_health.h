/*
 * server_health.h - wires the admin HTTP listener (relay/admin_http.c) to the daemon:
 * the gauges computed at scrape time and the readiness rules of /readyz.
 *
 * Part of the composition root (like server.c, it sees struct server). One per process.
 */
#ifndef POSTERN_SERVER_HEALTH_H
#define POSTERN_SERVER_HEALTH_H

struct server;

/* Start the admin HTTP listener when admin.http.address is set. 0, or -1 after logging
 * (the address could not be bound). Called by server_start once the listeners are bound
 * and the spool is recovered. */
int server_health_start(struct server *srv);

/* Close it (server_stop). Safe when it was never started. */
void server_health_stop(void);

#endif
