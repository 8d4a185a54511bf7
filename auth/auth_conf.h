/*
 * auth_conf.h - the "auth" configuration section: SMTP AUTH (Cyrus SASL) and sender
 * ownership (which envelope senders a login may use).
 *
 *   "auth": {
 *     "mechanisms": ["PLAIN", "LOGIN"],        // also CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256
 *     "sasldb": "/etc/postern/sasldb2",        // users: saslpasswd2 -f PATH -c user@domain
 *     "pwcheck_method": "auxprop",             // or "saslauthd"
 *     "saslauthd_path": null,                  // saslauthd's socket (null: Cyrus default)
 *     "realm": null,                           // realm of logins without "@domain"
 *     "require_tls": true,                     // offer AUTH only after STARTTLS / on 465
 *     "senders": { "demo@example.test": { "addresses": ["demo@example.test", "@example.org"] } },
 *     "sender_map": null,                      // file: "login  addr1, @domain2" per line
 *     "header_from_must_match": false
 *   }
 * The tables live in auth_conf.c; relay/ hooks the section into the root table as
 * { "auth", CONF_SECTION, offsetof(struct relay_conf, auth), .sub = &auth_conf_section }.
 * At load, the entries of sender_map are appended to senders and senders is sorted by
 * login, so sender_owned() can search it and `postern -n -v` shows the effective map.
 * Threading: filled on the loop thread at load; read-only afterwards.
 */
#ifndef POSTERN_AUTH_CONF_H
#define POSTERN_AUTH_CONF_H

#include <stdbool.h>

#include "lib/conf.h"

enum auth_pwcheck { AUTH_PWCHECK_AUXPROP, AUTH_PWCHECK_SASLAUTHD };

/* One login's sender addresses: "user@domain" or "@domain" (any address in domain). */
struct auth_sender {
    char *login;                     /* the map key (first member: see CONF_MAP) */
    struct conf_strlist addresses;
};

struct auth_conf {
    struct conf_strlist mechanisms;  /* upper case after load */
    char *sasldb;                    /* sasldb2 file (auxprop) */
    int pwcheck_method;              /* enum auth_pwcheck */
    char *saslauthd_path;            /* NULL: Cyrus' default socket */
    char *realm;                     /* NULL: logins without "@" use the server's hostname */
    bool require_tls;
    struct conf_array senders;       /* struct auth_sender, sorted by login (case-insensitive) */
    char *sender_map;                /* NULL: none */
    bool header_from_must_match;
};

/* The "auth" config section. */
extern const struct conf_section auth_conf_section;

#endif
