/*
 * outage.h - one alert per outage of a service the checks depend on.
 *
 * Checks call outage_down() each time their backing service fails them (the DNS resolver,
 * Redis, a DNSBL zone that refuses queries, later the virus scanner) and outage_up() each
 * time it answers. The first failure of an outage logs a warning and raises the event
 *   policy.check_unavailable {"service": "redis", "check": "greylist", "reason": "timeout"}
 * (docs/webhooks.md); further failures are silent until the service answers again, which
 * logs "service S is available again after N s" once. A service is any short name;
 * services are tracked independently (at most OUTAGE_SERVICES_MAX at once).
 *
 * The daemon keeps one tracker for its lifetime (config reloads do not reopen an outage)
 * and hands it to the engine in struct engine_env. Loop thread only.
 */
#ifndef POSTERN_POLICY_OUTAGE_H
#define POSTERN_POLICY_OUTAGE_H

#include <stdbool.h>

struct json_t;
struct outage;

#define OUTAGE_SERVICES_MAX 64

typedef void (*outage_event_fn)(void *arg, const char *type, struct json_t *data);

/* event may be NULL (log only). */
struct outage *outage_new(outage_event_fn event, void *event_arg);
void outage_free(struct outage *o);

/* service failed check (may be NULL) for reason. Returns true when this starts an outage
 * (logged and raised). */
bool outage_down(struct outage *o, const char *service, const char *check, const char *reason);

/* service answered. Returns true when this ends an outage (logged). */
bool outage_up(struct outage *o, const char *service);

bool outage_is_down(const struct outage *o, const char *service);

/* For tests: the clock in seconds (NULL: time(NULL)). */
void outage_set_clock(struct outage *o, long long (*now_s)(void));

#endif
