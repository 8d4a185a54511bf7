/*
 * relay_conf.c - the root config table and the relay layer's keys (see relay_conf.h).
 */
#include "relay/relay_conf.h"

#include "mailauth/dkim_sign.h"

#include "lib/dns_wire.h"
#include "lib/netaddr.h"
#include "policy/check_api.h"
#include "policy/check_registry.h"
#include "policy/engine.h"
#include "policy/levels.h"
#include "policy/profile.h"
#include "lib/smtp_parse.h"
#include "lib/xalloc.h"
#include "lib/tls.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

const char *const listener_profile_names[] = { "inbound", "submission", "submissions", NULL };
static const char *const listener_tls_names[] = { "auto", "none", "starttls", "implicit", NULL };
const char *const listener_auth_names[] = { "auto", "off", "optional", "required", NULL };
static const char *const bare_lf_names[] = { "reject", "normalize", NULL };
static const char *const long_lines_names[] = { "break", "reject", NULL };

#define L(f) offsetof(struct limits_conf, f)
static const struct conf_key limits_keys[] = {
    { "message_size", CONF_SIZE, L(message_size), "25M", 1024, 1LL << 40, NULL, NULL, 0, 0,
      "largest message accepted (SIZE is advertised with this value)" },
    { "recipients", CONF_INT, L(recipients), "1000", 1, 100000, NULL, NULL, 0, 0,
      "recipients per message; more get 452 4.5.3" },
    { "command_line", CONF_INT, L(command_line), "2048", 512, 65536, NULL, NULL, 0, 0,
      "longest command line in octets, CRLF excluded; longer get 500 5.5.2" },
    { "data_line", CONF_INT, L(data_line), "0", 0, 1 << 30, NULL, NULL, 0, 0,
      "longest line of message data (0: no limit); longer messages get 554 5.6.0" },
    { "errors", CONF_INT, L(errors), "20", 1, 1000, NULL, NULL, 0, 0,
      "bad commands per session before 421 4.7.0 and disconnect" },
    { "connections", CONF_INT, L(connections), "1000", 1, 1000000, NULL, NULL, 0, 0,
      "concurrent sessions in total; more get 421 4.7.0" },
    { "connections_per_ip", CONF_INT, L(connections_per_ip), "50", 1, 1000000, NULL, NULL, 0,
      0, "concurrent sessions from one client IP; more get 421 4.7.0" },
    { .name = "ipv6_prefix", .type = CONF_INT, .offset = L(ipv6_prefix), .def = "64",
      .min = 32, .max = 128,
      .help = "connections_per_ip counts an IPv6 client by its network of this prefix "
              "length (one host usually holds a whole /64)" },
    { .name = "spool_reserve", .type = CONF_SIZE, .offset = L(spool_reserve), .def = "100M",
      .min = 0, .max = 1LL << 50,
      .help = "free space kept on the spool's file system for queue records, bounces and "
              "webhooks: MAIL and DATA get 452 4.3.1 while less than 1.5 x message_size + "
              "this (+ the SIZE declared at MAIL) is free" },
    { .name = "hop_count", .type = CONF_INT, .offset = L(hop_count), .def = "50",
      .min = 1, .max = 1000,
      .help = "a message that already has this many Received: header fields is a mail loop: "
              "554 5.4.6 at the end of DATA, on every listener (RFC 5321 6.3)" },
    { NULL }
};
static const struct conf_section limits_section = { "limits", limits_keys, NULL };

#define T(f) offsetof(struct timeouts_conf, f)
static const struct conf_key timeouts_keys[] = {
    { "command", CONF_DURATION, T(command_ms), "5m", 100, 3600000, NULL, NULL, 0, 0,
      "idle time allowed while waiting for a command (RFC 5321 4.5.3.2.7: 5 minutes)" },
    { "data", CONF_DURATION, T(data_ms), "3m", 100, 3600000, NULL, NULL, 0, 0,
      "idle time allowed between data blocks (RFC 5321 4.5.3.2.5: 3 minutes)" },
    { "tls_handshake", CONF_DURATION, T(tls_handshake_ms), "1m", 100, 600000, NULL, NULL, 0, 0,
      "time allowed for a TLS handshake" },
    { "shutdown", CONF_DURATION, T(shutdown_ms), "20s", 0, 600000, NULL, NULL, 0, 0,
      "on SIGTERM, how long sessions may take to finish their current command" },
    { .name = "close", .type = CONF_DURATION, .offset = T(close_ms), .def = "10s",
      .min = 100, .max = 600000,
      .help = "how long a closing session may take to send its last reply (221, 421) "
              "before the connection is dropped" },
    { NULL }
};
static const struct conf_section timeouts_section = { "timeouts", timeouts_keys, NULL };

#define S(f) offsetof(struct smtp_conf, f)
static const struct conf_key smtp_keys[] = {
    { "bare_lf", CONF_ENUM, S(bare_lf), "reject", 0, 0, bare_lf_names, NULL, 0, 0,
      "message data with a bare LF or CR: reject (554 5.5.2) or normalize to CRLF" },
    { "received_auth_login", CONF_BOOL, S(received_auth_login), "false", 0, 0, NULL, NULL, 0,
      0, "name the authenticated login in the Received: header" },
    { .name = "long_lines", .type = CONF_ENUM, .offset = S(long_lines), .def = "break",
      .choices = long_lines_names,
      .help = "message lines over 998 octets (RFC 5321 4.5.3.1.6): break them when the "
              "message is received (a header line is folded, a body line broken) or reject "
              "the message (554 5.6.0)" },
    { NULL }
};
static const struct conf_section smtp_section = { "smtp", smtp_keys, NULL };

#define TL(f) offsetof(struct tls_conf, f)
static const struct conf_key tls_keys[] = {
    { "cert", CONF_PATH, TL(cert), NULL, 0, 0, NULL, NULL, 0, 0,
      "PEM certificate chain for STARTTLS and implicit TLS" },
    { "key", CONF_PATH, TL(key), NULL, 0, 0, NULL, NULL, 0, CONF_SECRET,
      "PEM private key" },
    { NULL }
};
static const struct conf_section tls_section = { "tls", tls_keys, NULL };

#define LI(f) offsetof(struct listener_conf, f)
static int listener_validate(void *obj, const char *pointer, struct conf_errors *errs);
static const struct conf_key listener_keys[] = {
    { "name", CONF_STRING, LI(name), NULL, 0, 0, NULL, NULL, 0, CONF_REQUIRED,
      "name used in logs and metrics" },
    { "address", CONF_STRING, LI(address), NULL, 0, 0, NULL, NULL, 0, CONF_REQUIRED,
      "IP:port to listen on: \"127.0.0.1:25\", \"[::1]:25\", \"*:25\"" },
    { "profile", CONF_STRING, LI(profile), NULL, 0, 0, NULL, NULL, 0, CONF_REQUIRED,
      "the policy profile: a name in policy.profiles (shipped: inbound for MX and backup "
      "MX, submission, submissions; or your own)" },
    { "tls", CONF_ENUM, LI(tls), "auto", 0, 0, listener_tls_names, NULL, 0, 0,
      "none, starttls (offered when tls.cert is set) or implicit (TLS from the first byte, "
      "port 465); auto: implicit for the profile named submissions, else starttls" },
    { "auth", CONF_ENUM, LI(auth), "auto", 0, 0, listener_auth_names, NULL, 0, 0,
      "off, optional (AUTH offered, MAIL without it allowed) or required (MAIL needs AUTH "
      "unless the client is in relay.trusted_networks); auto: required when the profile's "
      "direction is submission, else off" },
    { "backlog", CONF_INT, LI(backlog), "1024", 16, 65535, NULL, NULL, 0, 0,
      "listen(2) backlog" },
    { .name = "connections", .type = CONF_INT, .offset = LI(connections), .def = "0",
      .min = 0, .max = 1000000,
      .help = "concurrent sessions on this listener, so that one port cannot take every "
              "slot of limits.connections (0: only limits.connections); more get 421 4.7.0" },
    { .name = "rate_class", .type = CONF_STRING, .offset = LI(rate_class),
      .help = "rate-limit class (a key of ratelimit.classes) of the logins that send through "
              "this listener, such as a newsletter endpoint's; ratelimit.users still wins "
              "for the logins it names (null: ratelimit.default_class)" },
    { .name = "proxy_protocol", .type = CONF_BOOL, .offset = LI(proxy_protocol),
      .def = "false",
      .help = "every connection starts with a PROXY protocol header (v1 or v2, as HAProxy "
              "or a cloud load balancer sends it) from an address in proxy_networks; the "
              "client address it carries is the one logs, Received:, policy and the "
              "connection limits see. Connections from elsewhere, and missing, malformed "
              "or slow headers, are closed without a reply. A connection waiting for its "
              "header holds a place in limits.connections and the listener's connections "
              "(over them: 421 4.7.0 at once), not in connections_per_ip" },
    { .name = "proxy_networks", .type = CONF_STRLIST, .offset = LI(proxy_networks),
      .def = "[]",
      .help = "the load balancers (addresses or CIDR networks) allowed to connect to a "
              "proxy_protocol listener; required when it is on" },
    { .name = "proxy_timeout", .type = CONF_DURATION, .offset = LI(proxy_timeout_ms),
      .def = "5s", .min = 100, .max = 600000,
      .help = "time a balancer's connection has to deliver its whole PROXY header" },
    { NULL }
};
static const struct conf_section listener_section = { "listener", listener_keys,
                                                      listener_validate };

#define R(f) offsetof(struct relay_conf, f)
static int root_validate(void *obj, const char *pointer, struct conf_errors *errs);
static const struct conf_key root_keys[] = {
    { "hostname", CONF_STRING, R(hostname), NULL, 0, 0, NULL, NULL, 0, 0,
      "this server's name in the banner, EHLO and Received: (default: the system host name); "
      "a DNS name of at most 253 octets" },
    { "spool_dir", CONF_PATH, R(spool_dir), "/var/spool/postern", 0, 0, NULL, NULL, 0, 0,
      "queue directory (tmp/ and queue/ are created inside)" },
    { "workers", CONF_INT, R(workers), "4", 1, 64, NULL, NULL, 0, 0,
      "worker threads for queue file work, scanning and blocking authentication" },
    { "sync_workers", CONF_INT, R(sync_workers), "16", 1, 64, NULL, NULL, 0, 0,
      "threads that fsync received messages; fsyncs that run together reach the disk "
      "together, so more threads accept more messages per second" },
    { "limits", CONF_SECTION, R(limits), NULL, 0, 0, NULL, &limits_section, 0, 0,
      "protocol limits" },
    { "timeouts", CONF_SECTION, R(timeouts), NULL, 0, 0, NULL, &timeouts_section, 0, 0,
      "SMTP server timeouts" },
    { "smtp", CONF_SECTION, R(smtp), NULL, 0, 0, NULL, &smtp_section, 0, 0,
      "SMTP protocol options" },
    { "tls", CONF_SECTION, R(tls), NULL, 0, 0, NULL, &tls_section, 0, 0,
      "server certificate" },
    { "listeners", CONF_ARRAY, R(listeners), NULL, 0, 0, NULL, &listener_section,
      sizeof(struct listener_conf), CONF_REQUIRED, "where to accept connections" },
    { "relay", CONF_SECTION, R(relay), NULL, 0, 0, NULL, &policy_domains_section, 0, 0,
      "domains served and relay permissions" },
    { "domain_defaults", CONF_SECTION, R(domain_defaults), NULL, 0, 0, NULL,
      &domain_conf_section, 0, 0, "settings of every served domain, unless its entry in "
      "\"domains\" says otherwise" },
    { "domains", CONF_MAP, R(domains), "@domain_defaults", 0, 0, NULL, &domain_conf_section,
      sizeof(struct domain_conf), 0, "settings per served domain (local or backup)" },
    { "policy", CONF_SECTION, R(policy), NULL, 0, 0, NULL, &engine_conf_section, 0, 0,
      "policy engine: protection levels, profiles, symbol scores, global lists" },
    { "dns", CONF_SECTION, R(dns), NULL, 0, 0, NULL, &dns_conf_section, 0, 0,
      "asynchronous DNS resolver (c-ares) and its cache" },
    { "redis", CONF_SECTION, R(redis), NULL, 0, 0, NULL, &redis_conf_section, 0, 0,
      "shared state for rate limits and login throttling" },
    { "virus", CONF_SECTION, R(virus), NULL, 0, 0, NULL, &virus_conf_section, 0, 0,
      "virus scanning with libclamav in Postern's own confined scanner process" },
    { "account", CONF_SECTION, R(account), NULL, 0, 0, NULL, &account_conf_section, 0, 0,
      "the compromised-account breaker: refusals of a login's mail that suspend it" },
    { "ratelimit", CONF_SECTION, R(ratelimit), NULL, 0, 0, NULL, &rl_conf_section, 0, 0,
      "recipient rate limits per authenticated user" },
    { "authfail", CONF_SECTION, R(authfail), NULL, 0, 0, NULL, &authfail_conf_section, 0, 0,
      "failed-login throttling per client IP and login" },
    { "auth", CONF_SECTION, R(auth), NULL, 0, 0, NULL, &auth_conf_section, 0, 0,
      "SMTP AUTH (Cyrus SASL) and sender ownership" },
    { "webhooks", CONF_SECTION, R(webhooks), NULL, 0, 0, NULL, &webhooks_conf_section, 0, 0,
      "signed JSON alerts (Standard Webhooks) with a durable outbox" },
    { "smtp_client", CONF_SECTION, R(smtp_client), NULL, 0, 0, NULL, &smtp_client_conf_section,
      0, 0, "outbound SMTP/LMTP client timeouts and limits" },
    { "transport", CONF_SECTION, R(transport), NULL, 0, 0, NULL, &transport_conf_section, 0, 0,
      "where mail goes: routes by recipient domain (mx, relay, lmtp, maildir)" },
    { "queue", CONF_SECTION, R(queue), NULL, 0, 0, NULL, &queue_conf_section, 0, 0,
      "queue runner: retries, lifetime, concurrency, bounces" },
    { .name = "quarantine", .type = CONF_SECTION, .offset = R(quarantine),
      .sub = &quar_conf_section,
      .help = "the quarantine: digest links, this node's name in the shared index" },
    { "admin", CONF_SECTION, R(admin), NULL, 0, 0, NULL, &admin_conf_section, 0, 0,
      "local admin socket for posternctl" },
    { "web", CONF_SECTION, R(web), NULL, 0, 0, NULL, &web_conf_section, 0, 0,
      "the users' web page under /ui/: quarantine and protection settings" },
    { "privileges", CONF_SECTION, R(privileges), NULL, 0, 0, NULL, &privileges_conf_section,
      0, 0, "the account the daemon runs as once its listeners are bound" },
    { "dkim", CONF_SECTION, R(dkim), NULL, 0, 0, NULL, &dkim_daemon_conf_section, 0, 0,
      "DKIM signing keys of mail from logged-in senders (dkim.sign)" },
    { NULL }
};

const struct conf_section relay_conf_root = { "postern", root_keys, root_validate };

static int listener_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct listener_conf *l = obj;
    const char *colon = l->address ? strrchr(l->address, ':') : NULL;
    struct netaddr n;
    int bad = 0;
    size_t i;

    if (l->address && (colon == NULL || atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535))
        return conf_error(errs, pointer, "address: expected IP:port, got \"%s\"", l->address);
    for (i = 0; i < l->proxy_networks.n; i++) {
        char at[128];
        snprintf(at, sizeof(at), "%s/proxy_networks/%zu", pointer, i);
        if (netaddr_parse(l->proxy_networks.v[i], &n) < 0)
            bad += conf_error(errs, at, "bad network \"%s\"", l->proxy_networks.v[i]);
    }
    if (l->proxy_protocol && l->proxy_networks.n == 0)
        bad += conf_error(errs, pointer, "proxy_protocol: needs proxy_networks (the load "
                          "balancers allowed to send the header)");
    return bad;
}

/* Routing characters are plain characters only for a final delivery: a next-hop SMTP
 * server may read user%other@domain as a route and relay. */
static int routing_chars_validate(const struct relay_conf *c, const struct domain_conf *d,
                                  const char *at, struct conf_errors *errs)
{
    struct route r;
    char err[128];

    if (!d->allow_routing_characters ||
        route_parse(transport_route_for(&c->transport, d->name), &r, err, sizeof(err)) < 0 ||
        r.kind == ROUTE_LMTP || r.kind == ROUTE_MAILDIR)
        return 0;
    return conf_error(errs, at, "allow_routing_characters: \"%s\" is delivered by SMTP (%s), "
                      "where %%, ! and @ may be read as a route; only maildir and lmtp routes "
                      "may allow them", d->name, route_kind_name(r.kind));
}

/* Every key of "domains" must be a served domain: a typo would otherwise silently give
 * the real domain the defaults. */
static int domains_validate(const struct relay_conf *c, const char *pointer,
                            struct conf_errors *errs)
{
    const struct domain_conf *d = c->domains.items;
    int bad = 0;
    size_t i, j;

    for (i = 0; i < c->domains.n; i++) {
        bool served = false;
        char at[320];
        for (j = 0; j < c->relay.local_domains.n && !served; j++)
            served = strcasecmp(c->relay.local_domains.v[j], d[i].name) == 0;
        for (j = 0; j < c->relay.backup_domains.n && !served; j++)
            served = strcasecmp(c->relay.backup_domains.v[j], d[i].name) == 0;
        snprintf(at, sizeof(at), "%s/domains/%s", pointer, d[i].name);
        if (!served)
            bad += conf_error(errs, at, "\"%s\" is not in relay.local_domains or "
                              "relay.backup_domains", d[i].name);
        bad += routing_chars_validate(c, &d[i], at, errs);
    }
    return bad;
}

/* The configured hostname goes into every banner, EHLO reply, Received: field and DSN: a
 * DNS name (letters, digits and hyphens, not at either end of a label; labels of at most
 * 63 octets; at most 253 octets in all, no trailing dot), so that its length is bounded
 * once, here, for every reply that carries it. */
static bool hostname_valid(const char *h)
{
    char norm[DNS_NAME_MAX + 1];
    size_t len = strlen(h);
    return len > 0 && h[0] != '[' && h[len - 1] != '.' && smtp_helo_valid(h, len) &&
           dns_name_normalize(h, norm, sizeof(norm)) == 0;
}

/* Every policy profile of the daemon runs relay_access: without it a listener would be
 * an open relay. */
static int profiles_relay_checked(const struct engine_conf *pc, struct conf_errors *errs)
{
    const struct profile_conf *p = pc->profiles.items;
    int bad = 0;
    size_t i, k;

    for (i = 0; i < pc->profiles.n; i++) {
        const struct conf_named *c = p[i].checks.items;
        char at[160];
        for (k = 0; k < p[i].checks.n && strcmp(c[k].name, "relay_access") != 0; k++)
            ;
        if (k < p[i].checks.n)
            continue;
        snprintf(at, sizeof(at), "/policy/profiles/%s/checks", p[i].name);
        bad += conf_error(errs, at, "every profile must run relay_access (or it would be "
                          "an open relay): add \"relay_access\": {}");
    }
    return bad;
}

static int root_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    struct relay_conf *c = obj;
    const struct listener_conf *ls = c->listeners.items;
    int bad = 0;
    size_t i;

    for (i = 0; i < c->listeners.n; i++) {
        struct listener_conf *l = (struct listener_conf *)&ls[i];
        const struct profile_conf *p = profile_find(&c->policy.profiles, l->profile);
        char at[80];
        snprintf(at, sizeof(at), "%s/listeners/%zu/profile", pointer, i);
        if (p == NULL) {
            bad += conf_error(errs, at, "profile %s is not in policy.profiles (shipped: "
                              "inbound, submission, submissions)", l->profile);
            continue;
        }
        l->submission = p->direction == DIRECTION_SUBMISSION;
        if (l->rate_class != NULL && rl_class_find(&c->ratelimit, l->rate_class) == NULL) {
            snprintf(at, sizeof(at), "%s/listeners/%zu/rate_class", pointer, i);
            bad += conf_error(errs, at, "no class \"%s\" in ratelimit.classes",
                              l->rate_class);
        }
        if (l->tls == LISTENER_TLS_AUTO)
            l->tls = strcmp(l->profile, "submissions") == 0 ? LISTENER_TLS_IMPLICIT
                                                            : LISTENER_TLS_STARTTLS;
        if (l->auth == LISTENER_AUTH_AUTO)
            l->auth = l->submission ? LISTENER_AUTH_REQUIRED : LISTENER_AUTH_OFF;
        if ((l->tls == LISTENER_TLS_IMPLICIT || l->auth != LISTENER_AUTH_OFF) &&
            (c->tls.cert == NULL || c->tls.key == NULL))
            bad += conf_error(errs, at, "profile %s: %s needs tls.cert and tls.key", l->profile,
                              l->tls == LISTENER_TLS_IMPLICIT ? "tls implicit" : "auth");
    }
    bad += domains_validate(c, pointer, errs);
    if (c->domain_defaults.allow_routing_characters) /* it depends on each domain's route */
        bad += conf_error(errs, "/domain_defaults/allow_routing_characters",
                          "set it per domain, for domains delivered to maildir or lmtp");
    bad += engine_conf_check_refs(&c->policy, &c->domains, &c->domain_defaults, pointer, errs);
    bad += profiles_relay_checked(&c->policy, errs);
    if (c->hostname != NULL && !hostname_valid(c->hostname)) {
        char at[64];
        snprintf(at, sizeof(at), "%s/hostname", pointer);
        bad += conf_error(errs, at, "not a DNS host name of at most %d octets (labels of "
                          "at most %d letters, digits or hyphens)", DNS_NAME_MAX, DNS_LABEL_MAX);
    }
    if (c->hostname == NULL) {
        char host[256];
        if (gethostname(host, sizeof(host)) < 0)
            strcpy(host, "localhost");
        host[sizeof(host) - 1] = '\0';
        c->hostname = xstrdup(host);
    }
    return bad;
}

struct config *config_load(const char *path)
{
    struct config *cf = xcalloc(1, sizeof(*cf));
    struct conf_errors errs = { .file = path, .count = 0, .out = stderr };

    cf->refs = 1;
    cf->path = xstrdup(path);
    if (conf_load_file(path, &relay_conf_root, &cf->c, &errs) < 0) {
        config_unref(cf);
        return NULL;
    }
    if (cf->c.tls.cert && cf->c.tls.key) {
        struct tls_load_error te;
        cf->tls = tls_server_ctx_new(cf->c.tls.cert, cf->c.tls.key, &te);
        if (cf->tls == NULL) {
            tls_load_error_print(stderr, path, &te); /* one line: key, path, reason, hint */
            config_unref(cf);
            return NULL;
        }
    }
    if (cf->c.dkim.sign.n > 0) {
        char err[512];
        cf->signers = dkim_signers_load(&cf->c.dkim, err, sizeof(err));
        if (cf->signers == NULL) {
            fprintf(stderr, "%s: dkim.sign: %s\n", path, err);
            config_unref(cf);
            return NULL;
        }
    }
    return cf;
}

/* Does a domain's setting keep state in Redis (greylisting, learned recipients,
 * backscatter memory)? */
/* Does a domain's setting keep state in Redis (greylisting, learned recipients, callout
 * answers, the harvest guard's counts of any verified domain, backscatter memory, the
 * quarantine index)? */
static bool domain_needs_redis(const struct domain_conf *d)
{
    return d->greylisting || d->recipients_learned || d->recipients_callout ||
           d->recipients_file != NULL || d->backscatter_protection ||
           d->virus_action == CONTENT_QUARANTINE || d->file_action == CONTENT_QUARANTINE;
}

/* The quarantine's index is in Redis: needed when a level can quarantine spam, or the
 * quarantine section is configured (digest links). */
static bool quarantine_needs_redis(const struct relay_conf *c)
{
    const struct level_conf *lv = c->policy.levels.items;
    size_t i;

    if (c->quarantine.token_key || c->quarantine.node)
        return true;
    for (i = 0; i < c->policy.levels.n; i++)
        if (level_spam_disposition(&lv[i]) == DISP_QUARANTINE)
            return true;
    return false;
}

/* Redis is needed as soon as a listener may see authenticated users, the web page is on, a
 * profile runs a check that keeps its state there, a served domain turns on such a
 * setting, or mail can be quarantined. */
bool relay_conf_needs_redis(const struct relay_conf *c)
{
    const struct listener_conf *l = c->listeners.items;
    const struct domain_conf *d = c->domains.items;
    const struct profile_conf *p = c->policy.profiles.items;
    const struct conf_strlist *off = &c->policy.disabled_checks;
    size_t i, k, j;

    if (c->web.enabled)                /* sessions, and logins through SASL */
        return true;
    for (i = 0; i < c->listeners.n; i++)
        if (l[i].auth != LISTENER_AUTH_OFF)
            return true;
    for (i = 0; i < c->policy.profiles.n; i++) {
        const struct conf_named *ck = p[i].checks.items;
        for (k = 0; k < p[i].checks.n; k++) {
            const struct check_def *def = check_registry_find(ck[k].name);
            for (j = 0; j < off->n && strcmp(off->v[j], ck[k].name) != 0; j++)
                ;
            if (def != NULL && (def->flags & CHECK_NEEDS_REDIS) && j == off->n)
                return true;
        }
    }
    for (i = 0; i < c->domains.n; i++)
        if (domain_needs_redis(&d[i]))
            return true;
    return domain_needs_redis(&c->domain_defaults) || quarantine_needs_redis(c);
}

struct engine *config_engine_new(const struct relay_conf *c, const struct engine_env *env,
                                 struct user_store *store)
{
    struct engine_inputs in = {
        .conf = &c->policy, .domains = &c->domains,
        .domain_defaults = &c->domain_defaults,
        .local_domains = &c->relay.local_domains,
        .backup_domains = &c->relay.backup_domains,
    };
    struct engine_env e = *env;

    e.hostname = c->hostname;
    e.relay = &c->relay;
    e.domains = &c->domains;
    e.domain_defaults = &c->domain_defaults;
    e.auth = &c->auth;
    e.ratelimit = &c->ratelimit;
    e.dns_skip_networks = &c->policy.dns_skip_networks;
    return engine_new(&in, &e, store);
}

int config_activate(struct config *cf, struct redis *redis, const struct engine_env *env,
                    struct user_store *store)
{
    cf->engine = config_engine_new(&cf->c, env, store);
    if (cf->engine == NULL)
        return -1;
    if (redis)
        cf->af = authfail_new(&cf->c.authfail, redis);
    return 0;
}

struct config *config_ref(struct config *cf)
{
    cf->refs++;
    return cf;
}

void config_unref(struct config *cf)
{
    if (cf == NULL || --cf->refs > 0)
        return;
    if (cf->tls)
        tls_ctx_free(cf->tls);
    engine_free(cf->engine);
    dkim_signers_free(cf->signers);
    if (cf->af)
        authfail_free(cf->af);
    conf_free(&relay_conf_root, &cf->c);
    free(cf->path);
    free(cf);
}
