/*
 * web_conf.c - the "web" config section of the users' web page (see web.h).
 */
#include "admin/web.h"

#include "lib/http_listen.h"
#include "lib/redis.h"
#include "lib/xalloc.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define HOST_MAX 64

static int web_validate(void *obj, const char *pointer, struct conf_errors *errs);

#define W(f) offsetof(struct web_conf, f)
static const struct conf_key web_keys[] = {
    { .name = "enabled", .type = CONF_BOOL, .offset = W(enabled), .def = "false",
      .help = "serve the users' web page (quarantine and protection settings) under /ui/; "
              "needs Redis (sessions) and SASL (the mail login)" },
    { .name = "address", .type = CONF_STRING, .offset = W(address), .def = "127.0.0.1:8025",
      .help = "IP:port of the web page's own listener (never the admin listener's); "
              "anything but loopback needs cert and key" },
    { .name = "base_url", .type = CONF_STRING, .offset = W(base_url),
      .help = "the page's public URL, e.g. \"https://mail.example.net/ui/\" (without a "
              "path: /ui/ on that origin): forms posted from another origin are refused, "
              "and the quarantine digests link to BASE_URL/q/TOKEN; null: "
              "http://ADDRESS/ui/" },
    { .name = "cert", .type = CONF_PATH, .offset = W(cert),
      .help = "PEM certificate chain: serve HTTPS (required off loopback)" },
    { .name = "key", .type = CONF_PATH, .offset = W(key), .flags = CONF_SECRET,
      .help = "PEM private key of cert" },
    { .name = "session_ttl", .type = CONF_DURATION, .offset = W(session_ttl_ms), .def = "1h",
      .min = 60000, .max = 7 * 86400000LL,
      .help = "a login session ends after this long without a request" },
    { NULL }
};
const struct conf_section web_conf_section = { "web", web_keys, web_validate };

char *web_base_url(const struct web_conf *c)
{
    const char *u = c->base_url, *host;

    if (u == NULL)
        return xasprintf("http://%s/ui/", c->address);
    host = strstr(u, "://");
    host = host ? host + 3 : u;
    if (strchr(host, '/') == NULL)                      /* an origin: the page is at /ui/ */
        return xasprintf("%s/ui/", u);
    if (strcmp(strchr(host, '/'), "/") == 0)
        return xasprintf("%sui/", u);
    if (u[strlen(u) - 1] != '/')
        return xasprintf("%s/", u);
    return xstrdup(u);
}

static int web_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct web_conf *c = obj;
    char host[HOST_MAX], at[128];
    int port;

    snprintf(at, sizeof(at), "%s/address", pointer);
    if (c->address == NULL || redis_parse_address(c->address, host, sizeof(host), &port) < 0)
        return conf_error(errs, at, "expected IP:port or [IPv6]:port, got \"%s\"",
                          c->address ? c->address : "null");
    if ((c->cert == NULL) != (c->key == NULL))
        return conf_error(errs, pointer, "cert and key go together");
    if (c->enabled && c->cert == NULL && !http_address_is_loopback(c->address))
        return conf_error(errs, at, "the web page on %s (not loopback) needs HTTPS: set "
                          "web.cert and web.key", c->address);
    snprintf(at, sizeof(at), "%s/base_url", pointer);
    if (c->base_url != NULL && strncmp(c->base_url, "https://", 8) != 0 &&
        strncmp(c->base_url, "http://", 7) != 0)
        return conf_error(errs, at, "expected an http:// or https:// URL");
    return 0;
}
