/*
 * check_spf.c - the SPF check (RFC 7208): at MAIL, the MAIL FROM identity (the HELO name for
 * the null sender) is evaluated by mailauth/spf.c over the daemon's resolver.
 *
 * Says: one symbol SPF_PASS, SPF_FAIL, SPF_SOFTFAIL, SPF_NEUTRAL, SPF_NONE,
 * SPF_TEMPERROR or SPF_PERMERROR; the transaction facts spf.result ("pass" ...),
 * spf.domain (the domain checked), spf.identity ("mailfrom" or "helo") and authres.spf
 * (the spf= clause of Authentication-Results, policy/authres_facts.h); and, when its
 * settings ask, a refusal: `refuse_fail` gives 550 5.7.23 for fail, `defer_temperror`
 * 451 4.7.24 for temperror (RFC 7372). Like every refusal decided at MAIL, the engine
 * gives it to each recipient at RCPT, so postmaster@ and abuse@ (role bypass) can still
 * be reached. The greylisting check reads spf.result and spf.domain.
 * Runs for inbound and backup profiles; the evaluation's own deadline is `timeout`
 * (temperror after it), and the stage deadline cancels it (spf_cancel).
 */
#include "policy/checks/checks.h"

#include "lib/smtp_replies.h"
#include "mailauth/spf.h"
#include "mailauth/spf_header.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct spf_settings {
    bool refuse_fail;
    bool defer_temperror;
    long long timeout_ms;
};

#define SS(f) offsetof(struct spf_settings, f)
static const struct conf_key spf_keys[] = {
    { .name = "refuse_fail", .type = CONF_BOOL, .offset = SS(refuse_fail), .def = "false",
      .help = "refuse mail whose SPF result is fail (550 5.7.23, given at RCPT)" },
    { .name = "defer_temperror", .type = CONF_BOOL, .offset = SS(defer_temperror),
      .def = "false",
      .help = "defer mail whose SPF check failed temporarily (451 4.7.24, given at RCPT)" },
    { .name = "timeout", .type = CONF_DURATION, .offset = SS(timeout_ms), .def = "20s",
      .min = 100, .max = 120000,
      .help = "total time for one SPF evaluation (RFC 7208 4.6.4); then temperror" },
    { .name = NULL }
};
static const struct conf_section spf_section = { .name = "spf check", .keys = spf_keys };

static const struct symbol_def spf_symbols[] = {
    { "SPF_PASS", -0.5, "the sender's domain authorizes the client (SPF pass)" },
    { "SPF_FAIL", 3.0, "the sender's domain says the client may not send for it" },
    { "SPF_SOFTFAIL", 1.0, "the sender's domain says the client is probably not allowed" },
    { "SPF_NEUTRAL", 0.0, "the sender's domain makes no statement about the client" },
    { "SPF_NONE", 0.3, "the sender's domain publishes no SPF record" },
    { "SPF_TEMPERROR", 0.0, "the SPF check failed temporarily (DNS)" },
    { "SPF_PERMERROR", 0.5, "the sender's domain publishes a broken SPF record" },
    { NULL, 0, NULL }
};

static const char *const result_symbol[] = {
    [SPF_RESULT_NONE] = "SPF_NONE", [SPF_RESULT_NEUTRAL] = "SPF_NEUTRAL",
    [SPF_RESULT_PASS] = "SPF_PASS", [SPF_RESULT_FAIL] = "SPF_FAIL",
    [SPF_RESULT_SOFTFAIL] = "SPF_SOFTFAIL", [SPF_RESULT_TEMPERROR] = "SPF_TEMPERROR",
    [SPF_RESULT_PERMERROR] = "SPF_PERMERROR",
};

/* Say what the outcome means for this call. */
static void spf_say(struct check_call *c, const struct spf_outcome *o)
{
    const struct spf_settings *ss = check_call_settings(c);
    char *ar = spf_auth_results(o);

    check_symbol(c, CHECK_ALL, result_symbol[o->result], 1.0, o->comment);
    check_fact_set(c, FACT_TX, "spf.result", json_string(spf_result_str(o->result)));
    check_fact_set(c, FACT_TX, "spf.domain", json_string(o->domain ? o->domain : ""));
    check_fact_set(c, FACT_TX, "spf.identity", json_string(spf_identity_str(o->identity)));
    check_fact_set(c, FACT_TX, "authres.spf", json_string(ar));
    free(ar);
    if (o->result == SPF_RESULT_FAIL && ss->refuse_fail)
        check_verdict(c, CHECK_ALL, VERDICT_REFUSE, R_SPF_FAIL, o->domain ? o->domain : "",
                      o->client_ip ? o->client_ip : "", o->explanation ? o->explanation
                                                                         : "SPF fail");
    else if (o->result == SPF_RESULT_TEMPERROR && ss->defer_temperror)
        check_verdict(c, CHECK_ALL, VERDICT_REFUSE, R_SPF_TEMPERROR,
                      o->domain ? o->domain : "");
}

static void spf_done(const struct spf_outcome *o, void *arg)
{
    struct check_call *c = arg;

    check_call_set_priv(c, NULL);      /* the evaluator frees itself after this */
    spf_say(c, o);
    check_done(c);
}

static enum call_status spf_run(struct check_call *c)
{
    const struct engine_env *env = check_call_env(c);
    const struct spf_settings *ss = check_call_settings(c);
    struct spf_resolver r;
    struct spf_request req = { 0 };
    struct spf_check *sc;

    if (env->dns == NULL || env->base == NULL) {
        struct spf_outcome o = { .result = SPF_RESULT_TEMPERROR, .domain = "",
                                 .comment = "no resolver" };
        spf_say(c, &o);
        return CALL_DONE;
    }
    r = spf_resolver_dns(env->dns);
    req.ip = check_call_client_ip(c);
    req.sender = check_call_sender(c);
    req.helo = check_call_helo(c);
    req.receiver = env->hostname;
    req.deadline_ms = ss->timeout_ms;
    sc = spf_check_start(env->base, &r, &req, spf_done, c);
    check_call_set_priv(c, sc);
    return CALL_PENDING;
}

static void spf_cancel_call(struct check_call *c)
{
    spf_cancel(check_call_priv(c));
    check_call_set_priv(c, NULL);
}

const struct check_def check_spf = {
    .name = "spf",
    .description = "SPF (RFC 7208) of MAIL FROM, or of HELO for the null sender",
    .stages = STAGE_BIT(STAGE_MAIL),
    .directions = DIR_INBOUND | DIR_BACKUP,
    .group = 50,
    .async = true,
    .flags = CHECK_ROLE_BYPASS,
    .unsure = UNSURE_ACCEPT,
    .reason = "spf",
    .symbols = spf_symbols,
    .settings = &spf_section,
    .settings_size = sizeof(struct spf_settings),
    .run = spf_run,
    .cancel = spf_cancel_call,
};
