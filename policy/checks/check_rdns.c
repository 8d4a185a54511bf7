/*
 * check_rdns.c - the client's reverse DNS: PTR of the client address, then forward
 * confirmation (A or AAAA of each PTR name, all at once, must contain the address), and
 * generic ("dynamic") names of access networks.
 *
 * CONNECT: the lookups (one batch: PTR, then the forward lookups of its names) and the
 * symbols, for every recipient of the session:
 *   RDNS_NONE      no PTR (NXDOMAIN or no record)
 *   RDNS_MISMATCH  PTR names, none of which resolves back to the address
 *   RDNS_TEMPFAIL  the PTR (or every forward lookup) failed temporarily
 *   RDNS_DYNAMIC   the PTR name looks like a dial-up / DSL / cable / pool host
 *                  (lib/dnscheck.h ptr_is_dynamic; words overridable here)
 *   RDNS_GENERIC_STATIC  a generic name that says "static" or "fixed" (a business line:
 *                  a small score, never refused by refuse_dynamic)
 * Session facts: rdns.status ("ok", "none", "mismatch", "tempfail"), rdns.ptr (the
 * first PTR name, confirmed or not), rdns.name (only when forward-confirmed: the session
 * puts it in place of "unknown" in logs and Received:, engine_session_set_client_name),
 * rdns.dynamic (true).
 *
 * RCPT: recipients whose settings say strict_dns (domain or user) get a refusal:
 *   no PTR / not confirmed, definite answer: 550 5.7.25 (RFC 7372), or 450 4.7.25 when
 *     the setting definite_reply is "defer" (a backup relay prefers to defer);
 *   DNS failed temporarily (or the CONNECT lookups ran out of time): 450 4.7.25;
 *   a dynamic name (refuse_dynamic): 550 5.7.1 telling the sender to use their provider's
 *     relay.
 * postmaster@/abuse@ and whitelisted senders bypass it. Unsure (stage deadline): accept,
 * with RDNS_TIMEOUT.
 */
#include "policy/checks/checks.h"
#include "policy/checks/skip_networks.h"

#include "lib/dns_batch.h"
#include "lib/dnscheck.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RDNS_NAMES_MAX 4

struct rdns_settings {
    struct conf_strlist skip_networks;
    int definite_reply;                  /* 0 reject (5xx), 1 defer (4xx) */
    bool refuse_dynamic;
    struct conf_strlist dynamic_words;   /* empty: the built-in list */
    struct conf_strlist static_prefixes; /* empty: the built-in list */
};

static const char *const reply_choices[] = { "reject", "defer", NULL };

#define RS(f) offsetof(struct rdns_settings, f)
static const struct conf_key rdns_keys[] = {
    { .name = "definite_reply", .type = CONF_ENUM, .offset = RS(definite_reply),
      .def = "reject", .choices = reply_choices,
      .help = "strict_dns recipients, when DNS answered definitely (no PTR, not confirmed): "
              "reject (550 5.7.25) or defer (450 4.7.25, for backup relays)" },
    { .name = "refuse_dynamic", .type = CONF_BOOL, .offset = RS(refuse_dynamic), .def = "true",
      .help = "strict_dns recipients refuse clients with a dynamic-looking name (550 5.7.1)" },
    { .name = "dynamic_words", .type = CONF_STRLIST, .offset = RS(dynamic_words),
      .help = "words of generic PTR names (\"dsl\", \"host#\": digits required); "
              "empty: the built-in list" },
    { .name = "static_prefixes", .type = CONF_STRLIST, .offset = RS(static_prefixes),
      .help = "a PTR name whose first label starts with one of these is a mail server's "
              "(never dynamic); empty: mail, smtp, mx, mta, relay, out" },
    SKIP_NETWORKS_KEY(struct rdns_settings, skip_networks),
    { .name = NULL }
};
static int rdns_section_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct rdns_settings *s = obj;

    return skip_networks_validate(&s->skip_networks, pointer, errs);
}
static const struct conf_section rdns_section = {
    .name = "rdns", .keys = rdns_keys, .validate = rdns_section_validate,
};

static const struct symbol_def rdns_symbols[] = {
    { "RDNS_NONE", 2.0, "the client address has no reverse DNS (PTR) name" },
    { "RDNS_MISMATCH", 1.0, "the PTR name does not resolve back to the client address" },
    { "RDNS_DYNAMIC", 1.5, "the PTR name looks like a dial-up, DSL, cable or pool host" },
    { "RDNS_GENERIC_STATIC", 0.3, "the PTR name is a provider's generic name of a static "
      "address" },
    { "RDNS_TEMPFAIL", 0, "the reverse DNS lookups failed temporarily" },
    { NULL, 0, NULL }
};

struct rdns_call {
    struct check_call *c;
    struct dns_batch *b;
    struct in_addr v4;
    struct in6_addr v6;
    int family;
    int ptr_status;
    char names[RDNS_NAMES_MAX][256];
    size_t nnames;
    int fwd_temp, fwd_definite;
    char confirmed[256];
};

/* A NULL-terminated view of a strlist, or NULL when it is empty. */
static const char *const *strlist_or_null(const struct conf_strlist *l)
{
    return l->n > 0 ? (const char *const *)l->v : NULL;
}

static void on_forward(const struct dns_result *res, void *arg)
{
    struct rdns_call *rc = arg;
    size_t i;

    if (res->status == DNS_OK) {
        for (i = 0; i < res->n; i++) {
            bool hit = rc->family == 4 ? res->type == DNS_T_A && res->a[i].s_addr == rc->v4.s_addr
                                       : res->type == DNS_T_AAAA &&
                                             memcmp(&res->aaaa[i], &rc->v6, 16) == 0;
            if (hit && rc->confirmed[0] == '\0')
                snprintf(rc->confirmed, sizeof(rc->confirmed), "%s", res->name);
        }
        rc->fwd_definite++;
    } else if (dns_status_is_temporary(res->status)) {
        rc->fwd_temp++;
    } else {
        rc->fwd_definite++;
    }
}

static void on_ptr(const struct dns_result *res, void *arg)
{
    struct rdns_call *rc = arg;
    size_t i;

    rc->ptr_status = res->status;
    if (res->status != DNS_OK)
        return;
    for (i = 0; i < res->n && rc->nnames < RDNS_NAMES_MAX; i++) {
        snprintf(rc->names[rc->nnames], sizeof(rc->names[0]), "%s", res->ptr[i]);
        dns_batch_lookup(rc->b, rc->family == 4 ? DNS_T_A : DNS_T_AAAA, rc->names[rc->nnames],
                         on_forward, rc);
        rc->nnames++;
    }
}

static void conclude(struct rdns_call *rc)
{
    struct check_call *c = rc->c;
    const struct rdns_settings *s = check_call_settings(c);
    const char *status, *why = NULL, *dyn_name = NULL;
    char text[300];

    if (rc->ptr_status == DNS_OK && rc->nnames > 0) {
        check_fact_set(c, FACT_SESSION, "rdns.ptr", json_string(rc->names[0]));
        if (rc->confirmed[0] != '\0') {
            status = "ok";
            check_fact_set(c, FACT_SESSION, "rdns.name", json_string(rc->confirmed));
            dyn_name = rc->confirmed;
        } else if (rc->fwd_definite == 0) {
            status = "tempfail";
            dyn_name = rc->names[0];
        } else {
            status = "mismatch";
            dyn_name = rc->names[0];
            check_symbol(c, CHECK_ALL, "RDNS_MISMATCH", 1, rc->names[0]);
        }
    } else if (rc->ptr_status == DNS_OK || !dns_status_is_temporary(rc->ptr_status)) {
        status = "none";
        check_symbol(c, CHECK_ALL, "RDNS_NONE", 1, dns_status_str(rc->ptr_status));
    } else {
        status = "tempfail";
    }
    if (strcmp(status, "tempfail") == 0)
        check_symbol(c, CHECK_ALL, "RDNS_TEMPFAIL", 1, dns_status_str(rc->ptr_status));
    if (dyn_name != NULL &&
        ptr_is_dynamic(dyn_name, check_call_client_ip(c), strlist_or_null(&s->dynamic_words),
                       strlist_or_null(&s->static_prefixes), &why)) {
        snprintf(text, sizeof(text), "%s (%s)", dyn_name, why);
        check_symbol(c, CHECK_ALL, "RDNS_DYNAMIC", 1, text);
        check_fact_set(c, FACT_SESSION, "rdns.dynamic", json_true());
    } else if (why != NULL && strcmp(why, "static") == 0) {
        check_symbol(c, CHECK_ALL, "RDNS_GENERIC_STATIC", 1, dyn_name);
    }
    check_fact_set(c, FACT_SESSION, "rdns.status", json_string(status));
}

static void call_free(struct rdns_call *rc)
{
    dns_batch_free(rc->b);
    free(rc);
}

static void on_batch_done(void *arg)
{
    struct rdns_call *rc = arg;
    struct check_call *c = rc->c;

    conclude(rc);
    check_call_set_priv(c, NULL);
    call_free(rc);
    check_done(c);
}

static enum call_status rdns_connect(struct check_call *c)
{
    const struct engine_env *env = check_call_env(c);
    const char *ip = check_call_client_ip(c);
    struct rdns_call *rc;

    if (env->dns == NULL || ip == NULL) {
        check_unsure(c, CHECK_ALL, "RDNS_TEMPFAIL");
        return CALL_DONE;
    }
    rc = xcalloc(1, sizeof(*rc));
    rc->c = c;
    rc->ptr_status = DNS_ERROR;
    if (inet_pton(AF_INET, ip, &rc->v4) == 1) {
        rc->family = 4;
    } else if (inet_pton(AF_INET6, ip, &rc->v6) == 1) {
        rc->family = 6;
        if (IN6_IS_ADDR_V4MAPPED(&rc->v6)) {
            rc->family = 4;
            memcpy(&rc->v4, &rc->v6.s6_addr[12], 4);
        }
    } else {
        free(rc);
        check_symbol(c, CHECK_ALL, "RDNS_NONE", 1, "not an IP address");
        check_fact_set(c, FACT_SESSION, "rdns.status", json_string("none"));
        return CALL_DONE;
    }
    rc->b = dns_batch_new(env->dns, on_batch_done, rc);
    dns_batch_ptr(rc->b, ip, on_ptr, rc);
    dns_batch_seal(rc->b);
    check_call_set_priv(c, rc);
    return CALL_PENDING;
}

static enum call_status rdns_rcpt(struct check_call *c)
{
    const struct rdns_settings *s = check_call_settings(c);
    json_t *st = check_fact(c, "rdns.status");
    const char *status = json_is_string(st) ? json_string_value(st) : "tempfail";
    bool dynamic = json_is_true(check_fact(c, "rdns.dynamic"));
    json_t *ptr = check_fact(c, "rdns.ptr");
    const char *ip = check_call_client_ip(c);
    size_t i;

    for (i = 0; i < check_call_nrcpt(c); i++) {
        const struct policy_settings *ps = check_call_rcpt_settings(c, i);
        bool defer;
        if (ps == NULL || !ps->strict_dns)
            continue;
        defer = strcmp(status, "tempfail") == 0 || s->definite_reply == 1;
        if (strcmp(status, "none") == 0 || strcmp(status, "tempfail") == 0)
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, defer ? 450 : 550,
                          defer ? "4.7.25" : "5.7.25",
                          "Client host rejected: cannot find your reverse hostname, [%s]", ip);
        else if (strcmp(status, "mismatch") == 0)
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, defer ? 450 : 550,
                          defer ? "4.7.25" : "5.7.25",
                          "Client host rejected: cannot find your hostname, [%s]", ip);
        else if (dynamic && s->refuse_dynamic)
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, 550, "5.7.1",
                          "Client host rejected: %s [%s] looks like a dynamic or residential "
                          "address; send your mail through your provider's mail relay",
                          json_is_string(ptr) ? json_string_value(ptr) : "your name", ip);
    }
    return CALL_DONE;
}

static enum call_status rdns_run(struct check_call *c)
{
    const struct rdns_settings *s = check_call_settings(c);

    if (skip_networks_match(&s->skip_networks, check_call_client_ip(c)) ||
        skip_networks_match(check_call_env(c)->dns_skip_networks, check_call_client_ip(c)))
        return CALL_DONE;
    return check_call_stage(c) == STAGE_CONNECT ? rdns_connect(c) : rdns_rcpt(c);
}

static void rdns_cancel(struct check_call *c)
{
    struct rdns_call *rc = check_call_priv(c);

    if (rc != NULL)
        call_free(rc);
    check_call_set_priv(c, NULL);
}

const struct check_def check_rdns = {
    .name = "rdns",
    .description = "reverse DNS of the client: PTR, forward confirmation, dynamic names",
    .stages = STAGE_BIT(STAGE_CONNECT) | STAGE_BIT(STAGE_RCPT),
    .directions = DIR_INBOUND | DIR_BACKUP,
    .group = 50,
    .async = true,
    .flags = CHECK_ROLE_BYPASS | CHECK_WHITELIST_BYPASS | CHECK_USES_SETTINGS,
    .unsure = UNSURE_ACCEPT,
    .reason = "rdns",
    .symbols = rdns_symbols,
    .settings = &rdns_section,
    .settings_size = sizeof(struct rdns_settings),
    .run = rdns_run,
    .cancel = rdns_cancel,
};
