/*
 * outage.c - per-service outage state and its alert (see outage.h).
 */
#include "policy/outage.h"

#include "lib/log.h"
#include "lib/xalloc.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct service {
    char *name;
    long long since;      /* start of the current outage; 0 when up */
};

struct outage {
    struct service v[OUTAGE_SERVICES_MAX];
    size_t n;
    outage_event_fn event;
    void *event_arg;
    long long (*now_s)(void);
};

static long long real_now_s(void)
{
    return (long long)time(NULL);
}

struct outage *outage_new(outage_event_fn event, void *event_arg)
{
    struct outage *o = xcalloc(1, sizeof(*o));

    o->event = event;
    o->event_arg = event_arg;
    o->now_s = real_now_s;
    return o;
}

void outage_free(struct outage *o)
{
    size_t i;

    if (o == NULL)
        return;
    for (i = 0; i < o->n; i++)
        free(o->v[i].name);
    free(o);
}

void outage_set_clock(struct outage *o, long long (*now_s)(void))
{
    o->now_s = now_s ? now_s : real_now_s;
}

static struct service *find(const struct outage *o, const char *name)
{
    size_t i;

    for (i = 0; i < o->n; i++)
        if (strcmp(o->v[i].name, name) == 0)
            return (struct service *)&o->v[i];
    return NULL;
}

bool outage_down(struct outage *o, const char *service, const char *check, const char *reason)
{
    struct service *s = find(o, service);
    char name[64], why[128];

    if (s != NULL && s->since != 0)
        return false;
    if (s == NULL) {
        /* a full table forgets services that are up; with none up, the outage is
           still logged and raised, just not remembered */
        size_t i;
        for (i = 0; o->n == OUTAGE_SERVICES_MAX && i < o->n; i++)
            if (o->v[i].since == 0) {
                free(o->v[i].name);
                o->v[i] = o->v[--o->n];
                break;
            }
        if (o->n < OUTAGE_SERVICES_MAX) {
            s = &o->v[o->n++];
            s->name = xstrdup(service);
        }
    }
    if (s != NULL)
        s->since = o->now_s();
    log_sanitize(name, sizeof(name), service, strlen(service));
    log_sanitize(why, sizeof(why), reason ? reason : "unknown", strlen(reason ? reason : "unknown"));
    log_warn("policy", "service %s is unavailable%s%s: %s; checks use their unsure rule",
             name, check ? " for check " : "", check ? check : "", why);
    if (o->event != NULL)
        o->event(o->event_arg, "policy.check_unavailable",
                 json_pack("{s:s, s:s*, s:s}", "service", service, "check", check,
                           "reason", reason ? reason : "unknown"));
    return true;
}

bool outage_up(struct outage *o, const char *service)
{
    struct service *s = find(o, service);
    char name[64];

    if (s == NULL || s->since == 0)
        return false;
    log_sanitize(name, sizeof(name), service, strlen(service));
    log_info("policy", "service %s is available again after %lld s", name,
             o->now_s() - s->since);
    s->since = 0;
    return true;
}

bool outage_is_down(const struct outage *o, const char *service)
{
    const struct service *s = find(o, service);

    return s != NULL && s->since != 0;
}
