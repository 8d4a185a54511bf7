/*
 * server_web.h - wires the users' web page (admin/web.h) to the daemon: its services and,
 * per request, a view of the configuration current at that moment.
 *
 * Part of the composition root (like server.c, it sees struct server).
 */
#ifndef POSTERN_SERVER_WEB_H
#define POSTERN_SERVER_WEB_H

struct server;

/* Start the web page when web.enabled. 0, or -1 after logging. */
int server_web_start(struct server *srv);

/* Close it (server_stop, before the worker pool and the quarantine go). */
void server_web_stop(struct server *srv);

#endif
