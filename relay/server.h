/*
 * server.h - the running daemon: event loop, current config, listeners, sessions, spool.
 *
 * One struct server per process: the composition root. main.c creates it, runs the loop
 * and tears it down. It builds each part with the services that part needs (smtpd/ gets
 * struct smtpd: loop, spool, config, event sink, ETRN hooks) and wires the parts
 * together; only main.c and server.c include this header among the SMTP side. SIGHUP swaps the config (new
 * sessions get the new one, running sessions keep theirs); SIGTERM stops the listeners,
 * tells sessions to finish, and ends the loop when the last session and commit are gone.
 */
#ifndef POSTERN_SERVER_H
#define POSTERN_SERVER_H

#include <stdbool.h>

#include "relay/smtpd/smtpd.h"

struct event_base;
struct event;
struct config;
struct workpool;
struct spool;
struct listener;
struct smtp_session;

struct server {
    struct event_base *base;
    struct config *cf;               /* current configuration */
    struct config *start_cf;         /* the one started with, kept to the end: the services
                                        built from it (Redis and its key watch, DNS, ...) keep
                                        pointers to its sections across reloads */
    struct workpool *wp;
    struct workpool *syncwp;      /* the spool's fsyncs (relay/spool/spool.c) */
    struct spool *spool;
    struct dns *dns;                 /* shared resolver */
    struct redis *redis;             /* shared Redis client (NULL when nothing needs it) */
    struct scan_client *scanner;     /* the virus scanner process (content/scan_client.h) */
    struct redis_script *account_script; /* the account breaker's (policy/account_breaker.h) */
    struct account_cache *accounts;  /* logins' suspension states (policy/account_cache.h) */
    struct queue_watch *watch;
    struct backup_probe *probe;      /* backup.primary_down/up (relay/deliver/backup_probe.c) */       /* queue.stuck alerts */
    struct callout *callout;         /* recipient probes (relay/deliver/callout.c) */
    struct webhooks *webhooks;       /* alert delivery (does nothing without endpoints) */
    struct queue *queue;             /* the queue runner (relay/queue/queue.c) */
    struct admin *admin;             /* posternctl's socket (relay/admin.c) */
    struct web *web;                 /* the users' web page (admin/web.h), or NULL */
    struct quar *quar;               /* the quarantine index and API (content/quar.h), for
                                        the web page too; NULL without Redis */
    struct quar_runner *quarrun;     /* this node's quarantine (relay/quar/quar_runner.h) */
    struct workpool *checkwp;        /* bounded pool of CPU-heavy policy checks */
    struct outage *outages;          /* policy.check_unavailable, once per outage */
    struct user_store *users;        /* per-user policy settings (Redis), or NULL */
    long long redis_down_since;      /* monotonic s when Redis went down; -1 while up */
    long long started;               /* unix s when server_start ran (posternctl status) */
    bool sasl;                       /* Cyrus SASL was set up */
    struct smtpd smtpd;              /* listeners and sessions, with what they are given */
    bool shutting_down;
    struct event *shutdown_timer;    /* forced end of a graceful shutdown */
    struct event *drain_timer;       /* checks whether the shutdown may finish */
    struct event *sig_term, *sig_int, *sig_hup;
};

/* Create everything from a loaded config (takes the reference). 0, or -1 after logging. */
int server_start(struct server *srv, struct config *cf);

/* SIGHUP: load the config file again; on success swap it in. */
void server_reload(struct server *srv);

/* SIGTERM: stop accepting, let sessions finish, then break the loop. */
void server_shutdown(struct server *srv);

/* Raise an alert event (takes the reference of data): logged, and sent as a webhook. */
struct json_t;
void server_event(void *srv, const char *type, struct json_t *data);

/* Release everything after the loop has ended. */
void server_stop(struct server *srv);

#endif
