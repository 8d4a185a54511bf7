/*
 * dkim_conf.h - the "dkim" configuration section: verification limits, and the signing
 * keys and options of each sending domain.
 *
 *   "dkim": {
 *     "verify": { "max_signatures": 8, "timeout": "8s", "min_rsa_bits": 1024 },
 *     "sign": {
 *       "example.org": {
 *         "keys": [
 *           { "selector": "r2026", "algorithm": "rsa-sha256",
 *             "file": "/etc/postern/dkim/example.org.r2026.key" },
 *           { "selector": "e2026", "algorithm": "ed25519-sha256",
 *             "file": "/etc/postern/dkim/example.org.e2026.key" } ],
 *         "headers": [ ... ], "oversign": [ ... ],
 *         "canonicalization": "relaxed/relaxed", "expire": "0" } } }
 *
 * Loading checks every key: the file is readable and holds an unencrypted PEM private key
 * of the algorithm's type, and an RSA key has at least 1024 bits (a warning below 2048).
 * Hooked into the daemon's root table by relay/ as dkim_daemon_conf_section ("sign" only;
 * verification is set per profile); posternctl loads dkim_conf_section on its own for
 * dkim sign. Threading: read-only after load.
 */
#ifndef POSTERN_DKIM_CONF_H
#define POSTERN_DKIM_CONF_H

#include "lib/conf.h"
#include "mailauth/dkim_verify.h"

/* Signing algorithms offered (rsa-sha1 is verified, never used to sign: RFC 8301). */
enum dkim_sign_alg { DKIM_SIGN_RSA_SHA256, DKIM_SIGN_ED25519_SHA256 };
/* "c=" choices, header/body. */
enum dkim_sign_canon {
    DKIM_SIGN_RELAXED_RELAXED, DKIM_SIGN_RELAXED_SIMPLE, DKIM_SIGN_SIMPLE_RELAXED,
    DKIM_SIGN_SIMPLE_SIMPLE
};

struct dkim_key_conf {
    char *selector;
    int algorithm;                  /* enum dkim_sign_alg */
    char *file;                     /* PEM private key */
};

struct dkim_domain_conf {
    char *name;                     /* the sending domain (d=), the map key */
    struct conf_array keys;         /* struct dkim_key_conf; one signature per key */
    struct conf_strlist headers;    /* fields signed when present */
    struct conf_strlist oversign;   /* signed once more than present, so none can be added */
    int canonicalization;           /* enum dkim_sign_canon */
    long long expire_ms;            /* x= this long after t= (0: no x=) */
};

struct dkim_conf {
    struct dkim_verify_conf verify;
    struct conf_array sign;         /* struct dkim_domain_conf, by domain */
    bool warn_unsigned;             /* the daemon's: DMARC of domains signed for by no key */
};

extern const struct conf_section dkim_conf_section;
/* The daemon's root "dkim" section: "sign" and "warn_unsigned" (relay/relay_conf.c; the DKIM check's
 * verification settings are per profile, policy.profiles.NAME.checks.dkim). */
extern const struct conf_section dkim_daemon_conf_section;
/* Its "verify" part alone (struct dkim_verify_conf): also the settings of the DKIM
 * policy check (policy/checks/check_dkim.c), so the keys are declared once. */
extern const struct conf_section dkim_verify_conf_section;

/* The dkim_alg of a configured signing algorithm. */
enum dkim_alg dkim_sign_alg_of(int algorithm);

#endif
