/*
 * route.c - route texts and the "transport" config table (see route.h).
 *
 * Owns the keys under "transport". The queue runner (relay/queue/queue.c) asks which route a
 * recipient domain takes and which TLS policy and credentials a smarthost gets.
 */
#include "relay/queue/route.h"

#include "lib/xalloc.h"
#include "relay/deliver/smtp_client.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

static const char *const kind_names[] = { "mx", "relay", "lmtp", "maildir" };

const char *route_kind_name(enum route_kind kind)
{
    return kind_names[kind];
}

/* "[host]:port", "host:port", "[ipv6]:port" after the "relay:" / "lmtp:" prefix. */
static int parse_hostport(const char *s, struct route *out, bool brackets_mean_no_mx,
                          char *err, size_t errlen)
{
    const char *host = s, *end, *colon;
    size_t hlen;
    long port;
    char *stop;

    if (*s == '[') {
        end = strchr(s, ']');
        if (end == NULL || end[1] != ':') {
            snprintf(err, errlen, "expected [host]:port");
            return -1;
        }
        host = s + 1;
        hlen = (size_t)(end - host);
        colon = end + 1;
        out->mx_lookup = false;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            snprintf(err, errlen, "expected host:port");
            return -1;
        }
        hlen = (size_t)(colon - s);
        out->mx_lookup = brackets_mean_no_mx;
    }
    if (hlen == 0 || hlen >= sizeof(out->host) || memchr(host, ' ', hlen) != NULL) {
        snprintf(err, errlen, "bad host name");
        return -1;
    }
    port = strtol(colon + 1, &stop, 10);
    if (colon[1] == '\0' || *stop != '\0' || port < 1 || port > 65535) {
        snprintf(err, errlen, "bad port \"%s\"", colon + 1);
        return -1;
    }
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    out->port = (unsigned)port;
    /* an IP address is never looked up as an MX name */
    {
        unsigned char buf[16];
        if (inet_pton(AF_INET, out->host, buf) == 1 || inet_pton(AF_INET6, out->host, buf) == 1)
            out->mx_lookup = false;
    }
    return 0;
}

int route_parse(const char *text, struct route *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (text == NULL || *text == '\0') {
        snprintf(err, errlen, "empty route");
        return -1;
    }
    if (strcmp(text, "mx") == 0) {
        out->kind = ROUTE_MX;
        return 0;
    }
    if (strncmp(text, "relay:", 6) == 0) {
        out->kind = ROUTE_RELAY;
        return parse_hostport(text + 6, out, true, err, errlen);
    }
    if (strncmp(text, "lmtp:unix:", 10) == 0) {
        out->kind = ROUTE_LMTP;
        out->is_unix = true;
        if (text[10] != '/' || strlen(text + 10) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            snprintf(err, errlen, "lmtp:unix: needs an absolute socket path (< 108 bytes)");
            return -1;
        }
        snprintf(out->path, sizeof(out->path), "%s", text + 10);
        return 0;
    }
    if (strncmp(text, "lmtp:", 5) == 0) {
        out->kind = ROUTE_LMTP;
        if (parse_hostport(text + 5, out, false, err, errlen) < 0)
            return -1;
        out->mx_lookup = false;
        return 0;
    }
    if (strncmp(text, "maildir:", 8) == 0) {
        out->kind = ROUTE_MAILDIR;
        if (text[8] == '\0' || strlen(text + 8) >= sizeof(out->path) - 8) {
            snprintf(err, errlen, "maildir: needs a directory");
            return -1;
        }
        snprintf(out->path, sizeof(out->path), "%s", text + 8);
        return 0;
    }
    snprintf(err, errlen, "unknown route \"%.60s\" (mx, relay:[host]:port, lmtp:host:port, "
                          "lmtp:unix:/path, maildir:/path)", text);
    return -1;
}

/* ---- config ---------------------------------------------------------------------------- */

/* Parse a route for the validator; make a relative maildir path absolute the way CONF_PATH
 * keys are (against the configuration file's directory). */
static int route_check(char **text, const char *pointer, struct conf_errors *errs)
{
    struct route r;
    char err[200], *dir;

    if (*text == NULL)
        return conf_error(errs, pointer, "a route is required");
    if (route_parse(*text, &r, err, sizeof(err)) < 0)
        return conf_error(errs, pointer, "%s", err);
    if (r.kind == ROUTE_MAILDIR && r.path[0] != '/') {
        if ((dir = conf_path_absolute(r.path)) == NULL)
            return conf_error(errs, pointer, "cannot resolve relative maildir path");
        char *abs = xasprintf("maildir:%s", dir);
        free(dir);
        free(*text);
        *text = abs;
    }
    return 0;
}

static int domain_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    struct transport_domain *d = obj;
    char at[300];
    snprintf(at, sizeof(at), "%s/route", pointer);
    return route_check(&d->route, at, errs);
}

const char *const relay_verify_names[] = { "auto", "false", "true", NULL };

bool transport_relay_verifies(const struct transport_relay *r)
{
    return r->verify == RELAY_VERIFY_YES ||
           (r->verify == RELAY_VERIFY_AUTO && r->user != NULL && !r->auth_plaintext);
}

static int relay_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    struct transport_relay *r = obj;
    struct route tmp;
    char err[200];
    if (parse_hostport(r->name, &tmp, true, err, sizeof(err)) < 0)
        return conf_error(errs, pointer, "relay name must be \"[host]:port\": %s", err);
    if ((r->user == NULL) != (r->password == NULL))
        return conf_error(errs, pointer, "user and password go together");
    if (r->verify == RELAY_VERIFY_YES && r->auth_plaintext)
        return conf_error(errs, pointer, "auth_plaintext sends the password without TLS, "
                          "so the certificate cannot be verified: remove auth_plaintext, or "
                          "set verify to false");
    if (transport_relay_verifies(r) && r->tls == SMTP_TLS_NONE && r->user)
        return conf_error(errs, pointer, "user and password are sent only over TLS with a "
                          "verified certificate, but tls is \"none\": set tls to "
                          "\"required\" (or, on a trusted network only, verify to false "
                          "and auth_plaintext to true)");
    if (transport_relay_verifies(r) && r->tls == SMTP_TLS_NONE)
        return conf_error(errs, pointer, "verify needs TLS, but tls is \"none\": set tls "
                          "to \"required\"");
    if (r->user && r->tls == SMTP_TLS_NONE && !r->auth_plaintext)
        return conf_error(errs, pointer, "user and password would never be sent: tls is "
                          "\"none\" and auth_plaintext is false");
    return 0;
}

static int transport_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    struct transport_conf *t = obj;
    char at[300];
    snprintf(at, sizeof(at), "%s/default", pointer);
    return route_check(&t->default_route, at, errs);
}

#define TD(f) offsetof(struct transport_domain, f)
static const struct conf_key domain_keys[] = {
    { .name = "route", .type = CONF_STRING, .offset = TD(route), .flags = CONF_REQUIRED,
      .help = "mx | relay:[host]:port | lmtp:host:port | lmtp:unix:/path | maildir:/path" },
    { NULL }
};
static const struct conf_section domain_section = { "transport domain", domain_keys,
                                                    domain_validate };

#define TR(f) offsetof(struct transport_relay, f)
static const struct conf_key relay_keys[] = {
    { .name = "tls", .type = CONF_ENUM, .offset = TR(tls), .def = "opportunistic",
      .choices = smtp_tls_policy_names,
      .help = "STARTTLS to this relay: none, opportunistic or required" },
    { .name = "verify", .type = CONF_ENUM, .offset = TR(verify), .def = "auto",
      .choices = relay_verify_names,
      .help = "require TLS with a certificate that transport.ca_file (default: the system "
              "store) trusts and that matches tls_name: true, false, or \"auto\": true when "
              "user/password are set (credentials never go over an unverified connection)" },
    { .name = "tls_name", .type = CONF_STRING, .offset = TR(tls_name),
      .help = "the name the relay's certificate must match, also sent as SNI (default: the "
              "host written in the route)" },
    { .name = "user", .type = CONF_STRING, .offset = TR(user),
      .help = "AUTH user name (PLAIN or LOGIN; sent over TLS only)" },
    { .name = "password", .type = CONF_STRING, .offset = TR(password), .flags = CONF_SECRET,
      .help = "AUTH password" },
    { .name = "auth_plaintext", .type = CONF_BOOL, .offset = TR(auth_plaintext),
      .def = "false", .help = "allow AUTH without TLS (only for a relay on a trusted network)" },
    { NULL }
};
static const struct conf_section relay_section = { "transport relay", relay_keys,
                                                   relay_validate };

#define TC(f) offsetof(struct transport_conf, f)
static const struct conf_key transport_keys[] = {
    { .name = "default", .type = CONF_STRING, .offset = TC(default_route), .def = "mx",
      .help = "route for domains not listed in domains (mx, relay:[host]:port, ...)" },
    { .name = "mx_port", .type = CONF_INT, .offset = TC(mx_port), .def = "25", .min = 1,
      .max = 65535, .help = "port of MX deliveries (tests point it at a sink)" },
    { .name = "mx_tls", .type = CONF_ENUM, .offset = TC(mx_tls), .def = "opportunistic",
      .choices = smtp_tls_policy_names, .help = "STARTTLS policy for MX deliveries" },
    { .name = "mx_allow_private", .type = CONF_BOOL, .offset = TC(mx_allow_private),
      .def = "false",
      .help = "let MX deliveries (and the backup-MX probe) use addresses that are not "
              "public: loopback, private, link-local, multicast, reserved, documentation "
              "(also IPv4-mapped and NAT64 forms). Off: a domain's DNS cannot aim mail at "
              "internal hosts (451 4.4.4). Routes written here (relay:, lmtp:) are not "
              "affected" },
    { .name = "ca_file", .type = CONF_PATH, .offset = TC(ca_file),
      .help = "PEM trust anchors for verified relays (default: the system store)" },
    { .name = "domains", .type = CONF_MAP, .offset = TC(domains), .sub = &domain_section,
      .elem_size = sizeof(struct transport_domain),
      .help = "per recipient domain: {\"route\": ...}; a \".example.com\" key covers its "
              "subdomains" },
    { .name = "relays", .type = CONF_MAP, .offset = TC(relays), .sub = &relay_section,
      .elem_size = sizeof(struct transport_relay),
      .help = "options per smarthost, by \"[host]:port\" as written in the route: tls, "
              "verify, tls_name, user, password, auth_plaintext" },
    { NULL }
};

const struct conf_section transport_conf_section = { "transport", transport_keys,
                                                     transport_validate };

const char *transport_route_for(const struct transport_conf *t, const char *domain)
{
    const struct transport_domain *d = t->domains.items;
    const char *best = NULL;
    size_t best_len = 0, dlen = strlen(domain), i;

    for (i = 0; i < t->domains.n; i++) {
        const char *n = d[i].name;
        size_t nlen = strlen(n);
        if (strcasecmp(n, domain) == 0)
            return d[i].route;
        if (n[0] == '.' && dlen > nlen && strcasecmp(domain + dlen - nlen, n) == 0 &&
            nlen > best_len) {
            best = d[i].route;
            best_len = nlen;
        }
    }
    return best ? best : t->default_route;
}

const struct transport_relay *transport_relay_find(const struct transport_conf *t,
                                                   const char *host, unsigned port)
{
    const struct transport_relay *r = t->relays.items;
    char a[ROUTE_HOST_MAX + 16], b[ROUTE_HOST_MAX + 16];
    size_t i;

    snprintf(a, sizeof(a), "[%s]:%u", host, port);
    snprintf(b, sizeof(b), "%s:%u", host, port);
    for (i = 0; i < t->relays.n; i++)
        if (strcasecmp(r[i].name, a) == 0 || strcasecmp(r[i].name, b) == 0)
            return &r[i];
    return NULL;
}
