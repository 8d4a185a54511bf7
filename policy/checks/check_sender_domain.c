/*
 * check_sender_domain.c - the MAIL FROM domain must be able to receive replies: an MX, or an
 * address record (RFC 5321 5.1), and no null MX (RFC 7505). MX, A and AAAA go out
 * together. Not applied to the null sender, nor to the served domains (relay.local_domains
 * and backup_domains) and those of skip_domains.
 *
 * MAIL: symbols for every recipient of the transaction, transaction fact
 * sender_domain.status ("ok", "nxdomain", "no_mx", "null_mx", "tempfail"):
 *   SENDER_DOMAIN_NXDOMAIN  the domain does not exist
 *   SENDER_DOMAIN_NO_MX     it exists but has no MX, A or AAAA
 *   SENDER_DOMAIN_NULL_MX   it says it takes no mail (MX 0 .)
 *   SENDER_DOMAIN_TEMPFAIL  the lookups failed temporarily (SERVFAIL, timeout)
 * RCPT: by `refuse` ("strict", default: recipients with strict_dns; "always"; "never").
 * Not "always" by default: a definite-looking NXDOMAIN can come from a split-horizon or
 * broken resolver, or for a domain minutes old, and a SERVFAIL would defer all mail from
 * it; where the domain's admin did not ask for strictness the answer is scored evidence:
 *   nxdomain, no_mx  550 5.1.8   null_mx  550 5.7.27   tempfail  451 4.1.8
 * When the MAIL stage ran out of time, the unsure rule applies (SENDER_DOMAIN_TIMEOUT,
 * accept by default).
 */
#include "policy/checks/checks.h"
#include "policy/checks/skip_networks.h"

#include "lib/dns_batch.h"
#include "policy/policy.h"
#include "lib/xalloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { REFUSE_ALWAYS, REFUSE_STRICT, REFUSE_NEVER };

struct sd_settings {
    struct conf_strlist skip_networks;
    int refuse;
    struct conf_strlist skip_domains;
};

static const char *const refuse_choices[] = { "always", "strict", "never", NULL };

#define SS(f) offsetof(struct sd_settings, f)
static const struct conf_key sd_keys[] = {
    { .name = "refuse", .type = CONF_ENUM, .offset = SS(refuse), .def = "strict",
      .choices = refuse_choices,
      .help = "who refuses a sender domain that cannot receive mail: always, strict "
              "(recipients with strict_dns) or never (symbols only)" },
    { .name = "skip_domains", .type = CONF_STRLIST, .offset = SS(skip_domains),
      .help = "sender domains not checked (the served domains)" },
    SKIP_NETWORKS_KEY(struct sd_settings, skip_networks),
    { .name = NULL }
};
static int sd_section_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct sd_settings *s = obj;

    return skip_networks_validate(&s->skip_networks, pointer, errs);
}
static const struct conf_section sd_section = {
    .name = "sender_domain", .keys = sd_keys, .validate = sd_section_validate,
};

static const struct symbol_def sd_symbols[] = {
    { "SENDER_DOMAIN_NXDOMAIN", 4.0, "the sender domain does not exist" },
    { "SENDER_DOMAIN_NO_MX", 3.0, "the sender domain has no MX, A or AAAA record" },
    { "SENDER_DOMAIN_NULL_MX", 4.0, "the sender domain takes no mail (null MX, RFC 7505)" },
    { "SENDER_DOMAIN_TEMPFAIL", 0, "the sender domain lookups failed temporarily" },
    { NULL, 0, NULL }
};

struct sd_call {
    struct check_call *c;
    struct dns_batch *b;
    bool ok, null_mx, nxdomain;
    int temp;
};

static void on_answer(const struct dns_result *res, void *arg)
{
    struct sd_call *sc = arg;

    if (res->status == DNS_OK && res->type == DNS_T_MX && res->null_mx)
        sc->null_mx = true;
    else if (res->status == DNS_OK && res->n > 0)
        sc->ok = true;
    else if (res->status == DNS_NXDOMAIN || res->status == DNS_BADNAME)
        sc->nxdomain = true;
    else if (dns_status_is_temporary(res->status))
        sc->temp++;
}

static void conclude(struct sd_call *sc)
{
    struct check_call *c = sc->c;
    const char *status, *sym = NULL;

    if (sc->null_mx) {
        status = "null_mx";
        sym = "SENDER_DOMAIN_NULL_MX";
    } else if (sc->ok) {
        status = "ok";
    } else if (sc->nxdomain) {
        status = "nxdomain";
        sym = "SENDER_DOMAIN_NXDOMAIN";
    } else if (sc->temp > 0) {
        status = "tempfail";
        sym = "SENDER_DOMAIN_TEMPFAIL";
    } else {
        status = "no_mx";
        sym = "SENDER_DOMAIN_NO_MX";
    }
    if (sym != NULL)
        check_symbol(c, CHECK_ALL, sym, 1, strrchr(check_call_sender(c), '@') + 1);
    check_fact_set(c, FACT_TX, "sender_domain.status", json_string(status));
}

static void call_free(struct sd_call *sc)
{
    dns_batch_free(sc->b);
    free(sc);
}

static void on_done(void *arg)
{
    struct sd_call *sc = arg;
    struct check_call *c = sc->c;

    conclude(sc);
    check_call_set_priv(c, NULL);
    call_free(sc);
    check_done(c);
}

static enum call_status sd_mail(struct check_call *c)
{
    const struct sd_settings *s = check_call_settings(c);
    const struct engine_env *env = check_call_env(c);
    const char *sender = check_call_sender(c), *at;
    struct sd_call *sc;
    size_t i;

    if (sender == NULL || *sender == '\0' || (at = strrchr(sender, '@')) == NULL ||
        at[1] == '\0' || at[1] == '[')
        return CALL_DONE;
    for (i = 0; i < s->skip_domains.n; i++)
        if (strcasecmp(at + 1, s->skip_domains.v[i]) == 0)
            return CALL_DONE;
    for (i = 0; env->relay != NULL && i < env->relay->local_domains.n; i++)
        if (strcasecmp(at + 1, env->relay->local_domains.v[i]) == 0)
            return CALL_DONE;       /* our own users: the domain is ours, not a typo */
    for (i = 0; env->relay != NULL && i < env->relay->backup_domains.n; i++)
        if (strcasecmp(at + 1, env->relay->backup_domains.v[i]) == 0)
            return CALL_DONE;
    if (env->dns == NULL) {
        check_unsure(c, CHECK_ALL, "SENDER_DOMAIN_TEMPFAIL");
        return CALL_DONE;
    }
    sc = xcalloc(1, sizeof(*sc));
    sc->c = c;
    sc->b = dns_batch_new(env->dns, on_done, sc);
    dns_batch_lookup(sc->b, DNS_T_MX, at + 1, on_answer, sc);
    dns_batch_lookup(sc->b, DNS_T_A, at + 1, on_answer, sc);
    dns_batch_lookup(sc->b, DNS_T_AAAA, at + 1, on_answer, sc);
    dns_batch_seal(sc->b);
    check_call_set_priv(c, sc);
    return CALL_PENDING;
}

static enum call_status sd_rcpt(struct check_call *c)
{
    const struct sd_settings *s = check_call_settings(c);
    json_t *st = check_fact(c, "sender_domain.status");
    const char *status = json_is_string(st) ? json_string_value(st) : "ok";
    const char *sender = check_call_sender(c);
    size_t i;

    if (s->refuse == REFUSE_NEVER || strcmp(status, "ok") == 0)
        return CALL_DONE;
    for (i = 0; i < check_call_nrcpt(c); i++) {
        const struct policy_settings *ps = check_call_rcpt_settings(c, i);
        if (s->refuse == REFUSE_STRICT && (ps == NULL || !ps->strict_dns))
            continue;
        if (strcmp(status, "null_mx") == 0)
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, 550, "5.7.27",
                          "<%s>: Sender address rejected: Domain does not accept mail "
                          "(null MX)", sender);
        else if (strcmp(status, "tempfail") == 0)
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, 451, "4.1.8",
                          "<%s>: Sender address rejected: Domain not found, try again later",
                          sender);
        else
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, 550, "5.1.8",
                          "<%s>: Sender address rejected: Domain not found", sender);
    }
    return CALL_DONE;
}

static enum call_status sd_run(struct check_call *c)
{
    const struct sd_settings *s = check_call_settings(c);

    if (skip_networks_match(&s->skip_networks, check_call_client_ip(c)) ||
        skip_networks_match(check_call_env(c)->dns_skip_networks, check_call_client_ip(c)))
        return CALL_DONE;
    return check_call_stage(c) == STAGE_MAIL ? sd_mail(c) : sd_rcpt(c);
}

static void sd_cancel(struct check_call *c)
{
    struct sd_call *sc = check_call_priv(c);

    if (sc != NULL)
        call_free(sc);
    check_call_set_priv(c, NULL);
}

const struct check_def check_sender_domain = {
    .name = "sender_domain",
    .description = "the sender domain has an MX or an address, and no null MX",
    .stages = STAGE_BIT(STAGE_MAIL) | STAGE_BIT(STAGE_RCPT),
    .directions = DIR_ALL,
    .group = 50,
    .async = true,
    .flags = CHECK_ROLE_BYPASS | CHECK_WHITELIST_BYPASS | CHECK_USES_SETTINGS,
    .unsure = UNSURE_ACCEPT,
    .reason = "sender_domain",
    .symbols = sd_symbols,
    .settings = &sd_section,
    .settings_size = sizeof(struct sd_settings),
    .run = sd_run,
    .cancel = sd_cancel,
};
