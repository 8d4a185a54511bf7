/*
 * admin_api.h - the JSON API under /api/v1/ of the admin HTTP listener (relay/admin_http.c
 * routes those paths here). Every route runs a command line of the admin socket through
 * deps->command; docs/api.md ("Admin API") lists them. Loop thread only.
 */
#ifndef POSTERN_ADMIN_API_H
#define POSTERN_ADMIN_API_H

#include "relay/admin_http.h"

struct evhttp_request;
struct api_call;

/* The requests waiting for their command (one list per listener). */
struct api_calls {
    struct api_call *head;
};

/* Answer req for path (which starts with /api/v1/), now or when its command is done. */
void admin_api_request(struct api_calls *calls, struct evhttp_request *req, const char *path,
                       const struct admin_http_deps *deps);

/* The listener goes away (its requests with it): answers that come later are dropped. */
void admin_api_orphan(struct api_calls *calls);

#endif
