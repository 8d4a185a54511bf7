/*
 * callout.h - the recipient-probe service (policy/callout.h) over the SMTP client: asks
 * the next hop delivery would use for a domain whether it takes some recipients.
 * server.c creates one, gives its service to the policy engine (engine_env.callout) and
 * frees it before the resolver. Loop thread only.
 */
#ifndef POSTERN_CALLOUT_H
#define POSTERN_CALLOUT_H

#include <stdbool.h>

#include "policy/callout.h"

struct event_base;
struct dns;
struct config;
struct callout;

struct callout_deps {
    struct event_base *base;
    struct dns *dns;
    /* the current config (borrowed; a request takes a reference for its life) */
    struct config *(*config)(void *arg);
    /* is the primary MX of this backup domain known to be down? may be NULL */
    bool (*primary_down)(void *arg, const char *domain);
    void *arg;
};

struct callout *callout_new(const struct callout_deps *deps);
const struct callout_service *callout_service(const struct callout *co);
/* Drop every request (no callback runs) and connection. NULL is allowed. */
void callout_free(struct callout *co);

#endif
