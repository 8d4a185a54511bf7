/*
 * check_helo.c - the HELO/EHLO name: syntax (an FQDN, or an address literal of the client),
 * not one of our own names or addresses, and resolvable (A, AAAA or MX, looked up
 * together).
 *
 * HELO: symbols for every recipient of the session, and the session fact helo.status
 * ("ok", "literal", "invalid", "bare_ip", "not_fqdn", "bad_literal", "ours", "no_dns",
 * "tempfail"):
 *   HELO_INVALID      not a host name (bad characters, empty label, numeric TLD)
 *   HELO_BARE_IP      an IP address without brackets
 *   HELO_NOT_FQDN     a single label ("localhost", "DESKTOP-4F2K")
 *   HELO_BAD_LITERAL  an address literal that is malformed or not the client's address
 *   HELO_IS_OURS      our own name (env hostname, own_names) or address (own_addresses,
 *                     the session fact smtpd.local_ip): someone forges us. Always refused:
 *                     550 5.7.1 (postmaster@ can still be reached).
 *   HELO_NO_DNS       an FQDN with no A, AAAA or MX (definite answers)
 *   HELO_DNS_TEMPFAIL the lookups failed temporarily
 * RCPT: recipients with strict_dns get 550 5.7.1 for a name that is not an FQDN (or a bad
 * literal) and for HELO_NO_DNS (450 4.7.1 when definite_reply is "defer"), 450 4.7.1 when
 * the lookups failed temporarily or ran out of time.
 */
#include "policy/checks/checks.h"
#include "policy/checks/skip_networks.h"

#include "lib/dns_batch.h"
#include "lib/dnscheck.h"
#include "lib/xalloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OWN_MAX 32

struct helo_settings {
    struct conf_strlist skip_networks;
    int definite_reply;              /* 0 reject, 1 defer */
    bool lookup;
    struct conf_strlist own_names;
    struct conf_strlist own_addresses;
};

static const char *const reply_choices[] = { "reject", "defer", NULL };

#define HS(f) offsetof(struct helo_settings, f)
static const struct conf_key helo_keys[] = {
    { .name = "definite_reply", .type = CONF_ENUM, .offset = HS(definite_reply),
      .def = "reject", .choices = reply_choices,
      .help = "strict_dns recipients, when the HELO name does not resolve: reject (550 5.7.1) "
              "or defer (450 4.7.1)" },
    { .name = "lookup", .type = CONF_BOOL, .offset = HS(lookup), .def = "true",
      .help = "look the HELO name up (A, AAAA, MX); false: syntax and own names only" },
    { .name = "own_names", .type = CONF_STRLIST, .offset = HS(own_names),
      .help = "more names of this server (besides its hostname) that no client may use" },
    { .name = "own_addresses", .type = CONF_STRLIST, .offset = HS(own_addresses),
      .help = "addresses of this server that no client may use as HELO (besides the "
              "listener's local address)" },
    SKIP_NETWORKS_KEY(struct helo_settings, skip_networks),
    { .name = NULL }
};
static int helo_section_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct helo_settings *s = obj;

    return skip_networks_validate(&s->skip_networks, pointer, errs);
}
static const struct conf_section helo_section = {
    .name = "helo", .keys = helo_keys, .validate = helo_section_validate,
};

static const struct symbol_def helo_symbols[] = {
    { "HELO_INVALID", 2.0, "the HELO name is not a valid host name" },
    { "HELO_BARE_IP", 2.0, "the HELO name is an IP address without brackets" },
    { "HELO_NOT_FQDN", 1.0, "the HELO name is not fully qualified" },
    { "HELO_BAD_LITERAL", 2.0, "the HELO address literal is not the client's address" },
    { "HELO_IS_OURS", 5.0, "the client uses our own name or address as HELO" },
    { "HELO_NO_DNS", 1.0, "the HELO name has no A, AAAA or MX record" },
    { "HELO_DNS_TEMPFAIL", 0, "the HELO name lookups failed temporarily" },
    { NULL, 0, NULL }
};

struct helo_call {
    struct check_call *c;
    struct dns_batch *b;
    int ok, temp, definite;
};

static void on_answer(const struct dns_result *res, void *arg)
{
    struct helo_call *hc = arg;

    if (res->status == DNS_OK && (res->n > 0 || res->null_mx))
        hc->ok++;
    else if (dns_status_is_temporary(res->status))
        hc->temp++;
    else
        hc->definite++;
}

static void conclude(struct helo_call *hc)
{
    struct check_call *c = hc->c;
    const char *status = "ok";

    if (hc->ok == 0 && hc->temp == 0) {
        status = "no_dns";
        check_symbol(c, CHECK_ALL, "HELO_NO_DNS", 1, check_call_helo(c));
    } else if (hc->ok == 0) {
        status = "tempfail";
        check_symbol(c, CHECK_ALL, "HELO_DNS_TEMPFAIL", 1, check_call_helo(c));
    }
    check_fact_set(c, FACT_SESSION, "helo.status", json_string(status));
}

static void call_free(struct helo_call *hc)
{
    dns_batch_free(hc->b);
    free(hc);
}

static void on_done(void *arg)
{
    struct helo_call *hc = arg;
    struct check_call *c = hc->c;

    conclude(hc);
    check_call_set_priv(c, NULL);
    call_free(hc);
    check_done(c);
}

static enum call_status helo_stage(struct check_call *c)
{
    const struct helo_settings *s = check_call_settings(c);
    const struct engine_env *env = check_call_env(c);
    const char *helo = check_call_helo(c);
    const char *names[OWN_MAX + 2], *addrs[OWN_MAX + 2];
    size_t nn = 0, na = 0, i;
    json_t *local = check_fact(c, "smtpd.local_ip");
    const char *status = NULL, *sym = NULL;
    struct helo_call *hc;

    if (env->hostname != NULL)
        names[nn++] = env->hostname;
    for (i = 0; i < s->own_names.n && nn < OWN_MAX; i++)
        names[nn++] = s->own_names.v[i];
    names[nn] = NULL;
    if (json_is_string(local))
        addrs[na++] = json_string_value(local);
    for (i = 0; i < s->own_addresses.n && na < OWN_MAX; i++)
        addrs[na++] = s->own_addresses.v[i];
    addrs[na] = NULL;

    switch (helo_classify(helo, check_call_client_ip(c), names, addrs)) {
    case HELO_CLASS_LITERAL: status = "literal"; break;
    case HELO_CLASS_INVALID: status = "invalid"; sym = "HELO_INVALID"; break;
    case HELO_CLASS_BARE_IP: status = "bare_ip"; sym = "HELO_BARE_IP"; break;
    case HELO_CLASS_NOT_FQDN: status = "not_fqdn"; sym = "HELO_NOT_FQDN"; break;
    case HELO_CLASS_BAD_LITERAL: status = "bad_literal"; sym = "HELO_BAD_LITERAL"; break;
    case HELO_CLASS_OURS:
        status = "ours";
        sym = "HELO_IS_OURS";
        check_verdict(c, CHECK_ALL, VERDICT_REFUSE, 550, "5.7.1",
                      "Helo command rejected: %s is my own name; you are not me",
                      helo ? helo : "");
        break;
    case HELO_CLASS_FQDN:
        break;
    }
    if (sym != NULL)
        check_symbol(c, CHECK_ALL, sym, 1, helo);
    if (status != NULL || !s->lookup || env->dns == NULL) {
        check_fact_set(c, FACT_SESSION, "helo.status", json_string(status ? status : "ok"));
        return CALL_DONE;
    }
    hc = xcalloc(1, sizeof(*hc));
    hc->c = c;
    hc->b = dns_batch_new(env->dns, on_done, hc);
    dns_batch_lookup(hc->b, DNS_T_A, helo, on_answer, hc);
    dns_batch_lookup(hc->b, DNS_T_AAAA, helo, on_answer, hc);
    dns_batch_lookup(hc->b, DNS_T_MX, helo, on_answer, hc);
    dns_batch_seal(hc->b);
    check_call_set_priv(c, hc);
    return CALL_PENDING;
}

static enum call_status helo_rcpt(struct check_call *c)
{
    const struct helo_settings *s = check_call_settings(c);
    json_t *st = check_fact(c, "helo.status");
    const char *status = json_is_string(st) ? json_string_value(st) : "tempfail";
    const char *helo = check_call_helo(c);
    size_t i;

    if (helo == NULL)
        return CALL_DONE;
    for (i = 0; i < check_call_nrcpt(c); i++) {
        const struct policy_settings *ps = check_call_rcpt_settings(c, i);
        if (ps == NULL || !ps->strict_dns)
            continue;
        if (strcmp(status, "invalid") == 0 || strcmp(status, "bare_ip") == 0 ||
            strcmp(status, "not_fqdn") == 0)
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, 550, "5.7.1",
                          "<%s>: Helo command rejected: need fully-qualified hostname",
                          helo ? helo : "");
        else if (strcmp(status, "bad_literal") == 0)
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, 550, "5.7.1",
                          "<%s>: Helo command rejected: the address literal is not your "
                          "address", helo ? helo : "");
        else if (strcmp(status, "no_dns") == 0)
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, s->definite_reply ? 450 : 550,
                          s->definite_reply ? "4.7.1" : "5.7.1",
                          "<%s>: Helo command rejected: Host not found", helo ? helo : "");
        else if (strcmp(status, "tempfail") == 0)
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, 450, "4.7.1",
                          "<%s>: Helo command rejected: cannot look up your host name, try "
                          "again later", helo ? helo : "");
    }
    return CALL_DONE;
}

static enum call_status helo_run(struct check_call *c)
{
    const struct helo_settings *s = check_call_settings(c);

    if (skip_networks_match(&s->skip_networks, check_call_client_ip(c)) ||
        skip_networks_match(check_call_env(c)->dns_skip_networks, check_call_client_ip(c)))
        return CALL_DONE;
    return check_call_stage(c) == STAGE_HELO ? helo_stage(c) : helo_rcpt(c);
}

static void helo_cancel(struct check_call *c)
{
    struct helo_call *hc = check_call_priv(c);

    if (hc != NULL)
        call_free(hc);
    check_call_set_priv(c, NULL);
}

const struct check_def check_helo = {
    .name = "helo",
    .description = "HELO/EHLO name: syntax, our own names, resolvable",
    .stages = STAGE_BIT(STAGE_HELO) | STAGE_BIT(STAGE_RCPT),
    .directions = DIR_INBOUND | DIR_BACKUP,
    .group = 50,
    .async = true,
    .flags = CHECK_ROLE_BYPASS | CHECK_WHITELIST_BYPASS | CHECK_USES_SETTINGS,
    .unsure = UNSURE_ACCEPT,
    .reason = "helo",
    .symbols = helo_symbols,
    .settings = &helo_section,
    .settings_size = sizeof(struct helo_settings),
    .run = helo_run,
    .cancel = helo_cancel,
};
