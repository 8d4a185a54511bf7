/*
 * auth_conf.c - the "auth" configuration section (see auth_conf.h for the layout).
 *
 * Declares every key of SMTP AUTH and sender ownership once. The section's validate
 * callback upper-cases and checks the mechanism names, reads auth.sender_map into
 * auth.senders, refuses logins without "@domain" there (logins are canonical
 * "user@realm", see auth_login_canonical) and sorts the result for sender_owned(). Whether a mechanism's plugin is
 * installed is only known once Cyrus SASL is initialised: sasl_server_setup() warns
 * about and drops the missing ones.
 * In its own file so that test drivers need not pull in the config engine.
 * Threading: used at config load (loop thread) only.
 */
#include "auth/auth_conf.h"

#include "auth/sender_owner.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Mechanisms Postern knows how to offer over SMTP (no security layer, no GSSAPI). */
static const char *const auth_known_mechs[] = {
    "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", NULL
};
#define AUTH_POINTER_MAX 512  /* JSON pointers in messages (longer ones are cut) */

static const char *const auth_pwcheck_names[] = { "auxprop", "saslauthd", NULL };

static int auth_sender_validate(void *obj, const char *pointer, struct conf_errors *errs);
static int auth_validate(void *obj, const char *pointer, struct conf_errors *errs);

#define AS(f) offsetof(struct auth_sender, f)
static const struct conf_key auth_sender_keys[] = {
    { .name = "addresses", .type = CONF_STRLIST, .offset = AS(addresses),
      .flags = CONF_REQUIRED,
      .help = "envelope senders this login may use: \"user@domain\" or \"@domain\"" },
    { .name = NULL }
};
static const struct conf_section auth_sender_section = {
    .name = "sender", .keys = auth_sender_keys, .validate = auth_sender_validate,
};

#define A(f) offsetof(struct auth_conf, f)
static const struct conf_key auth_keys[] = {
    { .name = "mechanisms", .type = CONF_STRLIST, .offset = A(mechanisms),
      .def = "[\"PLAIN\", \"LOGIN\"]",
      .help = "SASL mechanisms offered: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256 "
              "(those whose Cyrus plugin is missing are dropped with a warning)" },
    { .name = "sasldb", .type = CONF_PATH, .offset = A(sasldb), .def = "/etc/postern/sasldb2",
      .help = "sasldb2 user database; add users with: saslpasswd2 -f PATH -c user@domain" },
    { .name = "pwcheck_method", .type = CONF_ENUM, .offset = A(pwcheck_method),
      .def = "auxprop", .choices = auth_pwcheck_names,
      .help = "auxprop (the sasldb file) or saslauthd (PLAIN and LOGIN only)" },
    { .name = "saslauthd_path", .type = CONF_PATH, .offset = A(saslauthd_path),
      .help = "saslauthd socket (null: Cyrus' default, /var/run/saslauthd/mux)" },
    { .name = "realm", .type = CONF_STRING, .offset = A(realm),
      .help = "realm of logins given without @domain (null: the server's hostname); "
              "a login user@domain always uses realm domain. Postern knows every login as "
              "user@realm in lower case (limits, counters, ownership, logs)" },
    { .name = "require_tls", .type = CONF_BOOL, .offset = A(require_tls), .def = "true",
      .help = "offer and accept AUTH only over TLS (STARTTLS or implicit TLS)" },
    { .name = "senders", .type = CONF_MAP, .offset = A(senders), .sub = &auth_sender_section,
      .elem_size = sizeof(struct auth_sender),
      .help = "login -> addresses it may use as sender; a login without an entry may use "
              "only itself" },
    { .name = "sender_map", .type = CONF_PATH, .offset = A(sender_map),
      .help = "file with more entries, one per line: \"login  addr1, @domain2\"" },
    { .name = "header_from_must_match", .type = CONF_BOOL,
      .offset = A(header_from_must_match), .def = "false",
      .help = "also require the From: header address to be one the login may use" },
    { .name = NULL }
};

const struct conf_section auth_conf_section = {
    .name = "auth", .keys = auth_keys, .validate = auth_validate,
};

static int auth_sender_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct auth_sender *e = obj;
    int bad = 0;
    size_t i;

    if (e->login[0] == '\0')
        bad += conf_error(errs, pointer, "empty login");
    for (i = 0; i < e->addresses.n; i++) {
        char at[AUTH_POINTER_MAX];
        if (sender_pattern_valid(e->addresses.v[i]))
            continue;
        snprintf(at, sizeof(at), "%s/addresses/%zu", pointer, i);
        bad += conf_error(errs, at, "\"%s\" is not user@domain or @domain",
                          e->addresses.v[i]);
    }
    return bad;
}

static bool auth_mech_known(const char *name)
{
    size_t i;
    for (i = 0; auth_known_mechs[i] != NULL; i++) {
        if (strcasecmp(name, auth_known_mechs[i]) == 0)
            return true;
    }
    return false;
}

static int auth_validate_mechs(struct auth_conf *c, const char *pointer,
                               struct conf_errors *errs)
{
    int bad = 0;
    size_t i;
    char *p;

    for (i = 0; i < c->mechanisms.n; i++) {
        if (!auth_mech_known(c->mechanisms.v[i])) {
            char at[AUTH_POINTER_MAX];
            snprintf(at, sizeof(at), "%s/mechanisms/%zu", pointer, i);
            bad += conf_error(errs, at, "unknown mechanism \"%s\"", c->mechanisms.v[i]);
            continue;
        }
        for (p = c->mechanisms.v[i]; *p; p++)
            *p = (char)toupper((unsigned char)*p);
    }
    return bad;
}

/* Logins are canonical "user@realm" (auth_login_canonical): an entry for a login without
 * "@" would never match, so it is an error rather than a silent no-op. */
static int auth_validate_sender_logins(const struct auth_conf *c, const char *pointer,
                                       struct conf_errors *errs)
{
    const struct auth_sender *e = c->senders.items;
    char at[AUTH_POINTER_MAX];
    int bad = 0;
    size_t i;

    snprintf(at, sizeof(at), "%s/senders", pointer);
    for (i = 0; i < c->senders.n; i++) {
        if (e[i].login[0] != '\0' && strchr(e[i].login, '@') == NULL)
            bad += conf_error(errs, at, "login \"%s\" has no @domain: a login without one is "
                              "known as login@REALM (auth.realm, or the hostname)",
                              e[i].login);
    }
    return bad;
}

static int auth_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    struct auth_conf *c = obj;
    char err[SENDER_MAP_LINE_MAX];
    int bad = auth_validate_mechs(c, pointer, errs);

    if (c->sender_map != NULL &&
        sender_map_read(c->sender_map, &c->senders, err, sizeof(err)) < 0) {
        char at[AUTH_POINTER_MAX];
        snprintf(at, sizeof(at), "%s/sender_map", pointer);
        bad += conf_error(errs, at, "%s", err);
    }
    bad += auth_validate_sender_logins(c, pointer, errs);
    sender_map_sort(&c->senders);
    return bad;
}
