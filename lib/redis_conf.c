/*
 * redis_conf.c - the "redis" configuration section: where Redis is and how long to wait.
 *
 * Declared here, next to lib/redis.c, and hooked into the root table by relay/ as
 * { "redis", CONF_SECTION, offsetof(root, redis), .sub = &redis_conf_section }.
 * Kept in its own file so programs that only use the client (test drivers) do not pull in
 * the configuration engine. Threading: used at config load only.
 */
#include "lib/redis.h"

#include "lib/conf.h"

#include <arpa/inet.h>
#include <stddef.h>

#define REDIS_TIMEOUT_MIN_MS 1
#define REDIS_TIMEOUT_MAX_MS 60000
#define REDIS_RECONNECT_MIN_MS 1
#define REDIS_RECONNECT_MAX_MS 600000

static const struct conf_key redis_keys[] = {
    { .name = "socket", .type = CONF_PATH, .offset = offsetof(struct redis_conf, socket),
      .help = "Unix socket of Redis; when set, it is used instead of address" },
    { .name = "address", .type = CONF_STRING, .offset = offsetof(struct redis_conf, address),
      .def = "127.0.0.1:6379",
      .help = "TCP address of Redis as IP:PORT or [IPv6]:PORT (no host names: they would "
              "block the event loop)" },
    { .name = "timeout", .type = CONF_DURATION,
      .offset = offsetof(struct redis_conf, timeout_ms), .def = "250ms",
      .min = REDIS_TIMEOUT_MIN_MS, .max = REDIS_TIMEOUT_MAX_MS,
      .help = "Deadline of each Redis command; a connection with no answer for this long "
              "is dropped and re-opened" },
    { .name = "reconnect_min", .type = CONF_DURATION,
      .offset = offsetof(struct redis_conf, reconnect_min_ms), .def = "100ms",
      .min = REDIS_RECONNECT_MIN_MS, .max = REDIS_RECONNECT_MAX_MS,
      .help = "First delay before re-opening a lost connection (doubles on each failure)" },
    { .name = "reconnect_max", .type = CONF_DURATION,
      .offset = offsetof(struct redis_conf, reconnect_max_ms), .def = "5s",
      .min = REDIS_RECONNECT_MIN_MS, .max = REDIS_RECONNECT_MAX_MS,
      .help = "Longest delay between two connection attempts" },
    { .name = "sentinels", .type = CONF_STRLIST, .offset = offsetof(struct redis_conf, sentinels),
      .help = "Redis Sentinels as IP:PORT; when given, they say where the master is (address "
              "is not used) and failovers are followed" },
    { .name = "master_name", .type = CONF_STRING,
      .offset = offsetof(struct redis_conf, master_name), .def = "mymaster",
      .help = "the master's name at the sentinels" },
    { .name = "username", .type = CONF_STRING, .offset = offsetof(struct redis_conf, username),
      .help = "AUTH username (Redis ACL users); null: the default user" },
    { .name = "password", .type = CONF_STRING, .offset = offsetof(struct redis_conf, password),
      .flags = CONF_SECRET, .help = "AUTH password; null: none" },
    { .name = NULL }
};

static int redis_conf_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct redis_conf *c = obj;
    char host[INET6_ADDRSTRLEN];
    int port, n = 0;

    if (c->socket == NULL && c->sentinels.n == 0 &&
        (c->address == NULL ||
         redis_parse_address(c->address, host, sizeof(host), &port) < 0))
        n += conf_error(errs, pointer, "address: \"%s\" is not IP:PORT or [IPv6]:PORT",
                        c->address ? c->address : "");
    for (size_t i = 0; i < c->sentinels.n; i++)
        if (redis_parse_address(c->sentinels.v[i], host, sizeof(host), &port) < 0)
            n += conf_error(errs, pointer, "sentinels: \"%s\" is not IP:PORT or [IPv6]:PORT",
                            c->sentinels.v[i]);
    if (c->sentinels.n > 0 && c->socket != NULL)
        n += conf_error(errs, pointer, "sentinels and socket exclude each other");
    if (c->username != NULL && c->password == NULL)
        n += conf_error(errs, pointer, "username needs a password");
    if (c->reconnect_max_ms < c->reconnect_min_ms)
        n += conf_error(errs, pointer, "reconnect_max is shorter than reconnect_min");
    return n;
}

const struct conf_section redis_conf_section = {
    .name = "redis",
    .keys = redis_keys,
    .validate = redis_conf_validate,
};
