/*
 * dkim_conf.c - the "dkim" config section (see dkim_conf.h): keys declared once, with the
 * checks of signing keys that must fail at load rather than at the first message.
 */
#include "mailauth/dkim_conf.h"

#include "mailauth/dkim_crypto.h"
#include "mailauth/dkim_hash.h"
#include "mailauth/dkim_keygen.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_SIGNATURES_MAX DKIM_BODYHASH_MAX
#define TIMEOUT_MIN_MS 100
#define TIMEOUT_MAX_MS 120000
#define RSA_BITS_RECOMMENDED 2048
#define EXPIRE_MAX_MS (365LL * 86400 * 1000)
#define POINTER_MAX 512
#define ERR_MAX 512

static const char *const alg_names[] = { "rsa-sha256", "ed25519-sha256", NULL };
static const char *const canon_names[] = { "relaxed/relaxed", "relaxed/simple",
                                           "simple/relaxed", "simple/simple", NULL };

enum dkim_alg dkim_sign_alg_of(int algorithm)
{
    return algorithm == DKIM_SIGN_ED25519_SHA256 ? DKIM_ALG_ED25519_SHA256
                                                 : DKIM_ALG_RSA_SHA256;
}

static const struct conf_key verify_keys[] = {
    { .name = "max_signatures", .type = CONF_INT,
      .offset = offsetof(struct dkim_verify_conf, max_signatures), .def = "8",
      .min = 1, .max = MAX_SIGNATURES_MAX,
      .help = "DKIM signatures checked per message, from the top; more are not checked" },
    { .name = "timeout", .type = CONF_DURATION,
      .offset = offsetof(struct dkim_verify_conf, timeout_ms), .def = "8s",
      .min = TIMEOUT_MIN_MS, .max = TIMEOUT_MAX_MS,
      .help = "Key lookups still unanswered this long after they started give temperror" },
    { .name = "min_rsa_bits", .type = CONF_INT,
      .offset = offsetof(struct dkim_verify_conf, min_rsa_bits), .def = "1024",
      .min = DKIM_RSA_BITS_MIN, .max = DKIM_RSA_BITS_MAX,
      .help = "Signatures by shorter RSA keys give permerror (RFC 8301: 1024)" },
    { .name = NULL }
};
const struct conf_section dkim_verify_conf_section = { "dkim.verify", verify_keys, NULL };

static int key_validate(void *obj, const char *pointer, struct conf_errors *errs);
#define K(f) offsetof(struct dkim_key_conf, f)
static const struct conf_key key_keys[] = {
    { .name = "selector", .type = CONF_STRING, .offset = K(selector), .flags = CONF_REQUIRED,
      .help = "The selector: the key is published at SELECTOR._domainkey.DOMAIN" },
    { .name = "algorithm", .type = CONF_ENUM, .offset = K(algorithm), .def = "rsa-sha256",
      .choices = alg_names,
      .help = "rsa-sha256 (RSA key, 2048 bits recommended) or ed25519-sha256 (RFC 8463)" },
    { .name = "file", .type = CONF_PATH, .offset = K(file), .flags = CONF_REQUIRED,
      .help = "The private key, PEM (posternctl dkim keygen writes one), readable by "
              "postern only" },
    { .name = NULL }
};
static const struct conf_section key_section = { "dkim.key", key_keys, key_validate };

static int domain_validate(void *obj, const char *pointer, struct conf_errors *errs);
#define D(f) offsetof(struct dkim_domain_conf, f)
static const struct conf_key domain_keys[] = {
    { .name = "keys", .type = CONF_ARRAY, .offset = D(keys), .sub = &key_section,
      .elem_size = sizeof(struct dkim_key_conf), .flags = CONF_REQUIRED,
      .help = "Signing keys; each adds one DKIM-Signature (an RSA and an Ed25519 key "
              "together, as RFC 8463 recommends)" },
    { .name = "headers", .type = CONF_STRLIST, .offset = D(headers),
      .def = "[\"from\", \"reply-to\", \"subject\", \"date\", \"to\", \"cc\", "
             "\"message-id\", \"in-reply-to\", \"references\", \"mime-version\", "
             "\"content-type\", \"content-transfer-encoding\", \"content-disposition\", "
             "\"sender\", \"list-id\", \"list-help\", \"list-unsubscribe\", "
             "\"list-unsubscribe-post\", \"list-subscribe\", \"list-post\", \"list-owner\", "
             "\"list-archive\", \"resent-date\", \"resent-from\", \"resent-to\", "
             "\"resent-cc\", \"resent-message-id\"]",
      .help = "Header fields signed, each as many times as it is present; must include "
              "from" },
    { .name = "oversign", .type = CONF_STRLIST, .offset = D(oversign),
      .def = "[\"from\", \"reply-to\", \"subject\", \"date\", \"to\", \"cc\", "
             "\"message-id\", \"mime-version\", \"content-type\", "
             "\"content-transfer-encoding\", \"sender\", \"list-unsubscribe\", "
             "\"list-unsubscribe-post\"]",
      .help = "Fields of headers signed once more than present, so that a copy added "
              "later breaks the signature" },
    { .name = "canonicalization", .type = CONF_ENUM, .offset = D(canonicalization),
      .def = "relaxed/relaxed", .choices = canon_names,
      .help = "c= header/body canonicalization" },
    { .name = "expire", .type = CONF_DURATION, .offset = D(expire_ms), .def = "0",
      .min = 0, .max = EXPIRE_MAX_MS,
      .help = "Set x= this long after the signing time (0: signatures do not expire)" },
    { .name = NULL }
};
static const struct conf_section domain_section = { "dkim.domain", domain_keys,
                                                    domain_validate };

/* The "sign" row, in both tables below. */
#define SIGN_KEY                                                                            \
    { .name = "sign", .type = CONF_MAP, .offset = offsetof(struct dkim_conf, sign),         \
      .sub = &domain_section, .elem_size = sizeof(struct dkim_domain_conf),                 \
      .help = "DKIM signing of mail from logged-in senders, per sending domain (the From "  \
              "domain, or a parent of it)" }
static const struct conf_key dkim_keys[] = {
    { .name = "verify", .type = CONF_SECTION, .offset = offsetof(struct dkim_conf, verify),
      .sub = &dkim_verify_conf_section, .help = "DKIM verification of inbound mail" },
    SIGN_KEY,
    { .name = NULL }
};
const struct conf_section dkim_conf_section = { "dkim", dkim_keys, NULL };

/* The daemon's "dkim" section: verification is set per profile (checks.dkim). */
static const struct conf_key dkim_daemon_keys[] = {
    SIGN_KEY,
    { .name = "warn_unsigned", .type = CONF_BOOL,
      .offset = offsetof(struct dkim_conf, warn_unsigned), .def = "true",
      .help = "When mail of logged-in senders leaves unsigned (no key for its From domain), "
              "look up that domain's DMARC policy once a day and log a warning when it is "
              "reject or quarantine" },
    { .name = NULL }
};
const struct conf_section dkim_daemon_conf_section = { "dkim", dkim_daemon_keys, NULL };

/* The key file must load, match its algorithm, and (RSA) be long enough. */
static int key_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct dkim_key_conf *k = obj;
    enum dkim_keytype want = dkim_alg_keytype(dkim_sign_alg_of(k->algorithm)), have;
    char err[ERR_MAX], sel[DKIM_SELECTOR_MAX + 1];
    EVP_PKEY *key;
    int bad = 0;

    if (dkim_domain_copy(k->selector, strlen(k->selector), sel, sizeof(sel)) < 0)
        bad += conf_error(errs, pointer, "selector: \"%s\" is not a DNS label sequence",
                          k->selector);
    key = dkim_crypto_load_private(k->file, err, sizeof(err));
    if (key == NULL)
        return bad + conf_error(errs, pointer, "file: %s", err);
    if (dkim_crypto_key_type(key, &have) < 0 || have != want) {
        bad += conf_error(errs, pointer, "file: %s is not an %s key (algorithm %s)", k->file,
                          want == DKIM_KEY_RSA ? "RSA" : "Ed25519", alg_names[k->algorithm]);
    } else if (have == DKIM_KEY_RSA && EVP_PKEY_get_bits(key) < DKIM_RSA_BITS_MIN) {
        bad += conf_error(errs, pointer, "file: %s is a %d-bit RSA key; verifiers refuse "
                          "fewer than %d bits (RFC 8301)", k->file, EVP_PKEY_get_bits(key),
                          DKIM_RSA_BITS_MIN);
    } else if (have == DKIM_KEY_RSA && EVP_PKEY_get_bits(key) < RSA_BITS_RECOMMENDED) {
        fprintf(errs->out ? errs->out : stderr, "%s: warning: %s: file: %s is a %d-bit RSA "
                "key; %d bits are recommended\n", errs->file ? errs->file : "config",
                pointer, k->file, EVP_PKEY_get_bits(key), RSA_BITS_RECOMMENDED);
    }
    EVP_PKEY_free(key);
    return bad;
}

static bool listed(const struct conf_strlist *l, const char *name)
{
    size_t i;
    for (i = 0; i < l->n; i++)
        if (strcasecmp(l->v[i], name) == 0)
            return true;
    return false;
}

static int domain_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct dkim_domain_conf *d = obj;
    char dom[DKIM_DOMAIN_MAX + 1], at[POINTER_MAX];
    size_t i;
    int bad = 0;

    if (dkim_domain_copy(d->name, strlen(d->name), dom, sizeof(dom)) < 0)
        bad += conf_error(errs, pointer, "\"%s\" is not a domain name", d->name);
    if (d->keys.n == 0)
        bad += conf_error(errs, pointer, "keys: at least one key is needed");
    if (!listed(&d->headers, "from")) {
        snprintf(at, sizeof(at), "%s/headers", pointer);
        bad += conf_error(errs, at, "must include from (RFC 6376 5.4)");
    }
    for (i = 0; i < d->headers.n; i++) {
        /* delivery removes and adds these (the spam tags, also of signed mail whose
         * Subject it may not mark): signing them would break the signature */
        if (strncasecmp(d->headers.v[i], "x-spam-", 7) != 0)
            continue;
        snprintf(at, sizeof(at), "%s/headers/%zu", pointer, i);
        bad += conf_error(errs, at, "\"%s\" is added at delivery and cannot be signed",
                          d->headers.v[i]);
    }
    for (i = 0; i < d->oversign.n; i++) {
        if (listed(&d->headers, d->oversign.v[i]))
            continue;
        snprintf(at, sizeof(at), "%s/oversign/%zu", pointer, i);
        bad += conf_error(errs, at, "\"%s\" is not in headers", d->oversign.v[i]);
    }
    return bad;
}
