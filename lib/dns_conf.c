/*
 * dns_conf.c - the "dns" configuration section: which servers, how long to wait, how
 * long to remember answers.
 *
 * Declared here, next to lib/dns.c, and hooked into the root table by relay/ as
 * { "dns", CONF_SECTION, offsetof(root, dns), .sub = &dns_conf_section }.
 * Kept in its own file so programs that only use the resolver (test drivers) do not pull
 * in the configuration engine. Threading: used at config load only.
 */
#include "lib/dns.h"

#include "lib/dns_wire.h"

#include <stddef.h>
#include <stdio.h>

#define DNS_TIMEOUT_MIN_MS 10
#define DNS_TIMEOUT_MAX_MS 60000
#define DNS_TRIES_MIN 1
#define DNS_TRIES_MAX 10
#define DNS_TTL_MIN_MS 0
#define DNS_TTL_MAX_MS 86400000LL          /* one day */
#define DNS_CACHE_SIZE_MIN 0
#define DNS_CACHE_SIZE_MAX 10000000LL
#define DNS_CACHE_MEMORY_MIN 0
#define DNS_CACHE_MEMORY_MAX (1LL << 32)      /* 4G */
#define DNS_CONF_POINTER_MAX 256          /* room for "/dns/servers/N" under any parent */

static const struct conf_key dns_keys[] = {
    { .name = "servers", .type = CONF_STRLIST, .offset = offsetof(struct dns_conf, servers),
      .def = "[]",
      .help = "DNS servers as IP, IP:PORT or [IPv6]:PORT, tried in order; empty: the "
              "nameservers of /etc/resolv.conf" },
    { .name = "timeout", .type = CONF_DURATION,
      .offset = offsetof(struct dns_conf, timeout_ms), .def = "2s",
      .min = DNS_TIMEOUT_MIN_MS, .max = DNS_TIMEOUT_MAX_MS,
      .help = "Wait for one server to answer one attempt; a lookup gives up (temporary "
              "failure) after timeout * tries * number of servers" },
    { .name = "tries", .type = CONF_INT, .offset = offsetof(struct dns_conf, tries),
      .def = "2", .min = DNS_TRIES_MIN, .max = DNS_TRIES_MAX,
      .help = "Attempts per server for one lookup" },
    { .name = "max_ttl", .type = CONF_DURATION,
      .offset = offsetof(struct dns_conf, max_ttl_ms), .def = "5m",
      .min = DNS_TTL_MIN_MS, .max = DNS_TTL_MAX_MS,
      .help = "Longest time an answer is cached, whatever its TTL (0: no caching)" },
    { .name = "negative_ttl", .type = CONF_DURATION,
      .offset = offsetof(struct dns_conf, negative_ttl_ms), .def = "1m",
      .min = DNS_TTL_MIN_MS, .max = DNS_TTL_MAX_MS,
      .help = "How long a \"no such name\" or \"no data\" answer is cached when the "
              "server sends no SOA record with it (capped by max_ttl)" },
    { .name = "cache_size", .type = CONF_INT,
      .offset = offsetof(struct dns_conf, cache_size), .def = "10000",
      .min = DNS_CACHE_SIZE_MIN, .max = DNS_CACHE_SIZE_MAX,
      .help = "Most answers kept in the cache (least recently used go first; 0: none)" },
    { .name = "cache_memory", .type = CONF_SIZE,
      .offset = offsetof(struct dns_conf, cache_memory), .def = "16M",
      .min = DNS_CACHE_MEMORY_MIN, .max = DNS_CACHE_MEMORY_MAX,
      .help = "Most memory the cached answers may hold (a large TXT or MX answer counts "
              "for its size; least recently used go first)" },
    { .name = NULL }
};

static int dns_conf_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct dns_conf *c = obj;
    char where[DNS_CONF_POINTER_MAX];
    int n = 0;

    for (size_t i = 0; i < c->servers.n; i++) {
        if (dns_server_check(c->servers.v[i]) == 0)
            continue;
        snprintf(where, sizeof(where), "%s/servers/%zu", pointer, i);
        n += conf_error(errs, where, "\"%s\" is not IP, IP:PORT or [IPv6]:PORT",
                        c->servers.v[i]);
    }
    return n;
}

const struct conf_section dns_conf_section = {
    .name = "dns",
    .keys = dns_keys,
    .validate = dns_conf_validate,
};
