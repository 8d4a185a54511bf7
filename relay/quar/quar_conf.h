/*
 * quar_conf.h - the "quarantine" config section: the digest links' key (their URL is the
 * web page's, web.base_url), this node's name in the shared index, and how often the
 * runner polls and sweeps.
 * The per-domain keys (retention, size cap, digest interval and address) are in
 * policy/domain_conf.h. Read-only after config load.
 */
#ifndef POSTERN_QUAR_CONF_H
#define POSTERN_QUAR_CONF_H

#include "lib/conf.h"

struct quar_conf {
    char *token_key;          /* HMAC key of the digest links; NULL: digests carry no links */
    long long link_lifetime_ms;
    char *node;               /* this node's name in the index; NULL: the hostname */
    long long poll_ms;        /* how often this node's job list is popped */
    long long sweep_ms;       /* retention, size caps and digests are looked at this often */
    char *digest_from;        /* the digests' From: address; NULL: postmaster@HOSTNAME */
};

extern const struct conf_section quar_conf_section;

#endif
