/*
 * smtpd.h - what the SMTP side (listeners and sessions) needs from the daemon, handed to
 * it by the composition root (relay/server.c) instead of the whole daemon: the loop, the
 * spool, the current configuration, the SASL worker pool, the event sink, and the hooks
 * of ETRN (flush a backup domain's queue; is a client a primary MX of it). smtpd/ knows
 * nothing of the queue runner or delivery; it owns its listeners and sessions here.
 * Loop thread only.
 */
#ifndef POSTERN_SMTPD_H
#define POSTERN_SMTPD_H

#include <stdbool.h>

struct event_base;
struct workpool;
struct spool;
struct config;
struct listener;
struct smtp_session;
struct json_t;
struct dns;
struct smtpd_sign_warn;

/* The answer of the ETRN check hook. */
enum smtpd_etrn_check { ETRN_CHECK_PRIMARY, ETRN_CHECK_OTHER, ETRN_CHECK_UNKNOWN };
typedef void (*smtpd_etrn_check_fn)(void *arg, enum smtpd_etrn_check r);

struct smtpd {
    /* given by the daemon */
    struct event_base *base;
    struct workpool *wp;             /* SASL exchanges, DKIM signing */
    struct dns *dns;                 /* the resolver (DMARC of unsigned domains), or NULL */
    struct spool *spool;
    struct config *cf;               /* the current configuration (swapped on reload) */
    bool shutting_down;
    /* events for the alert layer; takes the reference of data */
    void (*event)(void *arg, const char *type, struct json_t *data);
    void *event_arg;
    /* ETRN: flush the queue of a backup domain (and its subdomains): 0 with *count
     * messages started, 1 when one ran lately (the next at its end), -1 when there is no
     * queue. */
    int (*etrn_flush)(void *arg, const char *domain, bool subdomains, unsigned *count);
    /* ETRN: is client_ip a primary MX of domain? cb(cb_arg, r) later, once, unless the
     * handle is given to etrn_check_cancel first. NULL when it cannot start (cb never
     * runs: treat as ETRN_CHECK_UNKNOWN). */
    void *(*etrn_check)(void *arg, const char *domain, const char *client_ip,
                        smtpd_etrn_check_fn cb, void *cb_arg);
    void (*etrn_check_cancel)(void *arg, void *handle);
    void *hook_arg;
    /* smtpd's own */
    struct listener *listeners;
    struct smtp_session *sessions;   /* doubly linked */
    unsigned nsessions;
    unsigned nwaiting;               /* connections waiting for a PROXY header (listener.c) */
    void *ip_counts;                 /* sessions per client IP (listener.c) */
    struct smtpd_sign_warn *sign_warn; /* domains whose DMARC policy was looked at */
};

/* Stop the DMARC lookups of unsigned domains (smtp_sign_warn.c); server shutdown. */
void smtp_sign_warn_stop(struct smtpd *d);

/* Raise an event through the daemon's sink (takes the reference of data). */
void smtpd_event(struct smtpd *d, const char *type, struct json_t *data);

/* A session ended (called by the session when it is freed): off the list and counts. */
void smtpd_session_gone(struct smtpd *d, struct smtp_session *s);

#endif
