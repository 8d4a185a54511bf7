/*
 * hop_opts.c - the SMTP client options of a next hop (see hop_opts.h).
 */
#include "relay/deliver/hop_opts.h"

#include <string.h>

void hop_client_opts(const struct config *cf, const struct route *route,
                     struct smtp_client_opts *o)
{
    const struct transport_conf *t = &cf->c.transport;
    const struct transport_relay *r = NULL;

    memset(o, 0, sizeof(*o));
    o->conf = &cf->c.smtp_client;
    o->helo_name = cf->c.hostname;
    o->lmtp = route->kind == ROUTE_LMTP;
    o->tls = SMTP_TLS_NONE;
    if (route->kind == ROUTE_MX) {
        o->tls = (enum smtp_tls_policy)t->mx_tls;
    } else if (route->kind == ROUTE_RELAY || (route->kind == ROUTE_LMTP && !route->is_unix)) {
        r = transport_relay_find(t, route->host, route->port);
        o->tls = r ? (enum smtp_tls_policy)r->tls
                   : route->kind == ROUTE_RELAY ? SMTP_TLS_OPPORTUNISTIC : SMTP_TLS_NONE;
    }
    if (route->kind != ROUTE_MX && !route->is_unix)
        o->tls_name = r && r->tls_name ? r->tls_name : route->host;
    if (r) {
        o->tls_verify = transport_relay_verifies(r);
        if (o->tls_verify)
            o->tls = SMTP_TLS_REQUIRED;   /* a verified session or none */
        o->auth_user = r->user;
        o->auth_pass = r->password;
        o->auth_plaintext = r->auth_plaintext;
    }
}
