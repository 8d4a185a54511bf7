/*
 * relay_conf.h - the root of Postern's configuration and the daemon's own keys.
 *
 * The root table (relay_conf.c) declares the keys the relay layer owns (hostname, spool,
 * limits, timeouts, TLS, listeners) and embeds the sections that other modules declare
 * next to their code (relay: policy/relay_access.c, ...). One config object is loaded at
 * start and on SIGHUP; sessions hold a reference to the one they started with.
 */
#ifndef POSTERN_RELAY_CONF_H
#define POSTERN_RELAY_CONF_H

#include <stdbool.h>

#include "admin/web.h"
#include "auth/auth_conf.h"
#include "auth/authfail.h"
#include "content/virus_conf.h"
#include "lib/conf.h"
#include "lib/dns.h"
#include "lib/redis.h"
#include "mailauth/dkim_conf.h"
#include "policy/account_breaker.h"
#include "policy/ratelimit.h"
#include "webhooks/webhooks.h"
#include "policy/domain_conf.h"
#include "policy/engine_conf.h"
#include "policy/policy.h"
#include "relay/admin.h"
#include "relay/privileges.h"
#include "relay/quar/quar_conf.h"
#include "relay/queue/queue.h"
#include "relay/queue/route.h"
#include "relay/deliver/smtp_client.h"

enum bare_lf_mode { BARE_LF_REJECT, BARE_LF_NORMALIZE };
enum long_lines_mode { LONG_LINES_BREAK, LONG_LINES_REJECT };  /* over 998 octets */

/* "inbound", "submission", "submissions": by enum policy_profile; the envelope's
 * "profile" line holds the first two (the direction of the listener's policy profile),
 * files written before that may hold the third. */
extern const char *const listener_profile_names[];

/* A listener's transport and AUTH (LISTENER_*_AUTO is resolved when the config is
 * loaded: implicit TLS for the profile named "submissions", else STARTTLS; AUTH required
 * on submission profiles, off on inbound ones). */
enum listener_tls { LISTENER_TLS_AUTO, LISTENER_TLS_NONE, LISTENER_TLS_STARTTLS,
                    LISTENER_TLS_IMPLICIT };
enum listener_auth { LISTENER_AUTH_AUTO, LISTENER_AUTH_OFF, LISTENER_AUTH_OPTIONAL,
                     LISTENER_AUTH_REQUIRED };
extern const char *const listener_auth_names[];

struct listener_conf {
    char *name;
    char *address;        /* "127.0.0.1:2525", "[::1]:25", "*:25" */
    char *profile;        /* a policy profile: a name in policy.profiles */
    int tls;              /* enum listener_tls */
    int auth;             /* enum listener_auth */
    bool submission;      /* its profile's direction is submission (set at load) */
    long long backlog;
    long long connections; /* sessions on this listener; 0: only limits.connections */
    char *rate_class;     /* the rate-limit class of logins on it, unless ratelimit.users
                             names theirs (a newsletter endpoint's); NULL: default_class */
    bool proxy_protocol;  /* a PROXY v1/v2 header comes first (relay/smtpd/proxy_wait.c) */
    struct conf_strlist proxy_networks;  /* the balancers allowed to send one */
    long long proxy_timeout_ms;
};

struct limits_conf {
    unsigned long long message_size;
    long long recipients;
    long long command_line;
    long long data_line;
    long long errors;
    long long connections;
    long long connections_per_ip;
    long long ipv6_prefix;
    unsigned long long spool_reserve;
    long long hop_count;  /* Received: header fields that make a message a mail loop */
};

struct timeouts_conf {
    long long command_ms;
    long long data_ms;
    long long tls_handshake_ms;
    long long shutdown_ms;
    long long close_ms;
};

struct smtp_conf {
    int bare_lf;          /* enum bare_lf_mode */
    bool received_auth_login;
    int long_lines;       /* enum long_lines_mode */
};

struct tls_conf {
    char *cert;
    char *key;
};

struct relay_conf {
    char *hostname;
    char *spool_dir;
    long long workers;
    long long sync_workers;
    struct limits_conf limits;
    struct timeouts_conf timeouts;
    struct smtp_conf smtp;
    struct tls_conf tls;
    struct conf_array listeners;     /* struct listener_conf */
    struct policy_conf relay;
    struct domain_conf domain_defaults;  /* what every "domains" entry starts from */
    struct conf_array domains;       /* struct domain_conf, by served domain */
    struct engine_conf policy;       /* the policy engine: levels, profiles, symbols */
    struct dns_conf dns;
    struct redis_conf redis;
    struct account_conf account;     /* the compromised-account breaker */
    struct virus_conf virus;         /* the virus scanner (content/virus_conf.h) */
    struct rl_conf ratelimit;
    struct authfail_conf authfail;
    struct auth_conf auth;
    struct webhooks_conf webhooks;
    struct smtp_client_conf smtp_client;
    struct transport_conf transport;
    struct queue_conf queue;
    struct admin_conf admin;
    struct web_conf web;             /* the users' web page (admin/web.h) */
    struct quar_conf quarantine;     /* relay/quar/quar_conf.h */
    struct privileges_conf privileges;
    struct dkim_conf dkim;           /* DKIM signing keys (its verify part is unused here) */
};

extern const struct conf_section relay_conf_root;

/* A loaded config with a reference count; sessions keep theirs until they end. */
struct config {
    int refs;
    char *path;
    struct relay_conf c;
    struct ssl_ctx_st *tls;          /* server SSL_CTX, NULL without certificates */
    struct authfail *af;             /* login throttling over this config (NULL: none) */
    struct engine *engine;           /* the policy engine built from this config */
    struct dkim_signers *signers;    /* the keys of dkim.sign, loaded (read-only) */
};

/* Load and validate path. Prints errors; returns NULL when invalid. */
struct config *config_load(const char *path);

/* Build the runtime objects that live as long as this config: the policy engine over
 * env (borrowed: the daemon's loop, resolver, Redis, check pool, outage tracker and
 * event sink; the config parts the rule checks read are added here) with per-user
 * settings in store (NULL: domain settings only), and, when redis is given, login
 * throttling. 0, or -1 after logging (a check cannot start). */
struct engine_env;
struct user_store;
int config_activate(struct config *cf, struct redis *redis, const struct engine_env *env,
                    struct user_store *store);
/* Redis is needed as soon as a listener may see authenticated users, or a served domain
 * turns on a check that keeps its state there. */
bool relay_conf_needs_redis(const struct relay_conf *c);

/* The policy engine over a loaded config's sections and env (config_activate's, and
 * posternctl check's offline one). NULL after logging. */
struct engine *config_engine_new(const struct relay_conf *c, const struct engine_env *env,
                                 struct user_store *store);
struct config *config_ref(struct config *cf);
void config_unref(struct config *cf);

#endif
