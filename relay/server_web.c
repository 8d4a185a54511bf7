/*
 * server_web.c - the web page's services (see server_web.h). A request holds a reference
 * to the config that was current when it arrived, so a SIGHUP in the middle of a login
 * changes nothing under it.
 */
#include "relay/server_web.h"

#include "admin/web.h"
#include "relay/relay_conf.h"
#include "relay/server.h"

static void web_view_get(void *arg, struct web_view *out)
{
    struct server *srv = arg;
    struct config *cf = config_ref(srv->cf);

    out->handle = cf;
    out->hostname = cf->c.hostname;
    out->auth = &cf->c.auth;
    out->af = cf->af;
    out->authfail = &cf->c.authfail;
    out->domains = &cf->c.domains;
    out->domain_defaults = &cf->c.domain_defaults;
    out->levels = &cf->c.policy.levels;
    out->local_domains = &cf->c.relay.local_domains;
    out->quar_key = cf->c.quarantine.token_key;    /* NULL: no /ui/q/ links */
}

static void web_view_release(void *handle)
{
    config_unref(handle);
}

int server_web_start(struct server *srv)
{
    struct web_deps deps = {
        .base = srv->base, .redis = srv->redis, .wp = srv->wp, .quar = srv->quar,
        .view_get = web_view_get, .view_release = web_view_release,
        .event = server_event, .arg = srv,
    };
    int failed;

    srv->web = web_new(&srv->cf->c.web, &deps, &failed);
    return failed ? -1 : 0;
}

void server_web_stop(struct server *srv)
{
    web_free(srv->web);
    srv->web = NULL;
}
