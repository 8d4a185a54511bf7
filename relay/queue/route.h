/*
 * route.h - the transport table: where mail for a recipient domain goes.
 *
 * The "transport" config section (keys in route.c) maps recipient domains to routes, with
 * a default for every other domain. A route is one of:
 *
 *   mx                         MX lookup of the recipient domain (A/AAAA when it has no
 *                              MX; a null MX bounces with 5.1.10), port transport.mx_port;
 *                              addresses that are not public (netaddr_scope) are refused
 *                              unless transport.mx_allow_private is set
 *   relay:[host]:port          a smarthost; brackets: no MX lookup (host may be an IP);
 *   relay:host:port            without brackets the host's MX records are used
 *   lmtp:host:port             LMTP over TCP (no MX lookup), or
 *   lmtp:unix:/path            LMTP over a unix socket
 *   maildir:/path              a Maildir catch-all: every recipient of the domain gets a
 *                              copy in /path/new (relative paths: against the directory
 *                              Postern was started from)
 *
 * A relay's TLS policy, certificate check and client credentials are looked up by
 * "[host]:port" in transport.relays; a relay with credentials has its certificate verified
 * (against transport.ca_file or the system store, and tls_name or the host) unless its
 * entry says verify: false. route_parse() is pure; the config validator uses it to refuse a bad
 * route at load time, and the queue runner parses the route text again when routing.
 */
#ifndef POSTERN_ROUTE_H
#define POSTERN_ROUTE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/conf.h"

#define ROUTE_HOST_MAX 256

enum route_kind { ROUTE_MX, ROUTE_RELAY, ROUTE_LMTP, ROUTE_MAILDIR };

struct route {
    enum route_kind kind;
    char host[ROUTE_HOST_MAX];   /* relay/lmtp over TCP: host name or IP, no brackets */
    bool mx_lookup;              /* relay without brackets: use the host's MX records */
    unsigned port;               /* relay/lmtp over TCP; 0 for mx (use mx_port) */
    bool is_unix;                /* lmtp:unix:/path */
    char path[PATH_MAX];         /* maildir directory or lmtp socket */
};

/* Parse a route text. 0, or -1 with a reason in err. Pure. */
int route_parse(const char *text, struct route *out, char *err, size_t errlen);

/* "mx", "relay", "lmtp", "maildir". */
const char *route_kind_name(enum route_kind kind);

/* ---- the "transport" config section -------------------------------------------------- */

struct transport_domain {
    char *name;                  /* the recipient domain; ".example.com": its subdomains */
    char *route;
};

/* transport.relays[].verify; relay_verify_names[] is its CONF_ENUM choices list
 * ("auto", false, true). */
enum relay_verify { RELAY_VERIFY_AUTO, RELAY_VERIFY_NO, RELAY_VERIFY_YES };
extern const char *const relay_verify_names[];

struct transport_relay {
    char *name;                  /* "[host]:port", as written in the route */
    int tls;                     /* enum smtp_tls_policy */
    int verify;                  /* enum relay_verify */
    char *tls_name;              /* the name its certificate must match; NULL: the host */
    char *user;
    char *password;
    bool auth_plaintext;
};

struct transport_conf {
    char *default_route;
    long long mx_port;
    int mx_tls;                  /* enum smtp_tls_policy for MX deliveries */
    bool mx_allow_private;       /* MX deliveries may go to non-public addresses */
    char *ca_file;               /* trust anchors for verified TLS; NULL: system store */
    struct conf_array domains;   /* struct transport_domain (a map by domain) */
    struct conf_array relays;    /* struct transport_relay (a map by "[host]:port") */
};

extern const struct conf_section transport_conf_section;

/* The route text for a recipient domain: an exact entry, else the nearest ".parent"
 * entry, else the default. Case-insensitive. Never NULL. */
const char *transport_route_for(const struct transport_conf *t, const char *domain);

/* The options of relay host:port (NULL: none configured; use the defaults). */
const struct transport_relay *transport_relay_find(const struct transport_conf *t,
                                                   const char *host, unsigned port);

/* Whether a relay's certificate is verified: verify true, or "auto" (the default) with
 * credentials to protect (user set and auth_plaintext off). A verified relay gets TLS
 * "required" whatever its tls policy says (the validator refuses "none"). */
bool transport_relay_verifies(const struct transport_relay *r);

#endif
