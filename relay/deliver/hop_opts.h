/*
 * hop_opts.h - the SMTP client options for a connection to a route's next hop, as
 * delivery (deliver_smtp.c) and recipient callouts (callout.c) both use them: TLS policy,
 * certificate check and smarthost credentials from the transport section. One function
 * so that a callout talks to a next hop exactly as delivery would. Pure.
 */
#ifndef POSTERN_HOP_OPTS_H
#define POSTERN_HOP_OPTS_H

#include "relay/deliver/smtp_client.h"
#include "relay/relay_conf.h"

/* Fill o for route under cf (the strings point into cf and route: they must live until
 * smtp_client_new() copies them): MX routes get transport.mx_tls; relays and LMTP over TCP
 * their entry in transport.relays (TLS policy, certificate check against tls_name or the
 * route's host, credentials), else opportunistic TLS for relays and none for LMTP; a relay
 * whose certificate is verified gets TLS "required". o->tls != SMTP_TLS_NONE means an
 * SSL_CTX for transport.ca_file is needed (smtp_client_ssl_ctx_new); when the caller
 * cannot get one it must fail a "required" policy and may drop an opportunistic one. */
void hop_client_opts(const struct config *cf, const struct route *route,
                     struct smtp_client_opts *o);

#endif
