/*
 * check_dmarc.c - the DMARC check (RFC 7489): at END, after the DKIM check (group
 * order), the RFC5322.From domain(s) of the message (policy/header_from.h) are evaluated
 * by mailauth/dmarc.c against the SPF and DKIM results the other checks left as facts
 * (spf.result, spf.domain; dkim.results), with the policy record looked up through the
 * daemon's resolver.
 *
 * Says: DMARC_PASS; for a failure, by the policy that applies after pct=: DMARC_REJECT,
 * DMARC_QUARANTINE or DMARC_POLICY_NONE; DMARC_NONE (no policy published),
 * DMARC_TEMPERROR, DMARC_PERMERROR, DMARC_BAD_FROM (no From, several From fields or an
 * unparseable one: RFC 7489 6.6.1 lets the receiver refuse those). Several From domains
 * in one field are each evaluated; the strictest failure wins. Actions by its settings:
 * `refuse_reject` refuses a p=reject failure (550 5.7.1; otherwise it gets
 * `quarantine_action`), `quarantine_action` is what a p=quarantine failure gets (mark:
 * the spam marking, until the quarantine store exists; quarantine; none),
 * `refuse_bad_from` refuses DMARC_BAD_FROM mail (550 5.7.1). Facts (transaction):
 * dmarc.result, dmarc.policy, dmarc.disposition, dmarc.from_domain, authres.dmarc. With
 * `add_header` it adds the message's one Authentication-Results field (our host name as
 * authserv-id; spf=, dkim= and dmarc= from the facts: policy/authres_facts.h) to every
 * delivered copy. The pct= sample comes from the queue ID (deterministic).
 */
#include "policy/checks/checks.h"

#include "lib/smtp_replies.h"
#include "lib/xalloc.h"
#include "mailauth/dmarc.h"
#include "policy/authres_facts.h"
#include "policy/header_from.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DMARC_HEAD_READ (64 * 1024)   /* header bytes read when the engine gives none */

enum quarantine_action { QACT_MARK, QACT_QUARANTINE, QACT_NONE };
static const char *const qact_names[] = { "mark", "quarantine", "none", NULL };

struct dmarc_settings {
    bool refuse_reject;
    int quarantine_action;
    bool refuse_bad_from;
    bool add_header;
};

#define DS(f) offsetof(struct dmarc_settings, f)
static const struct conf_key dmarc_keys[] = {
    { .name = "refuse_reject", .type = CONF_BOOL, .offset = DS(refuse_reject),
      .def = "false",
      .help = "refuse mail failing DMARC whose domain publishes p=reject (550 5.7.1)" },
    { .name = "quarantine_action", .type = CONF_ENUM, .offset = DS(quarantine_action),
      .def = "mark", .choices = qact_names,
      .help = "what a failure under p=quarantine (or an unrefused p=reject) gets: mark "
              "(the spam marking), quarantine, none" },
    { .name = "refuse_bad_from", .type = CONF_BOOL, .offset = DS(refuse_bad_from),
      .def = "false",
      .help = "refuse mail with no From, several From fields or an unparseable From "
              "(550 5.7.1)" },
    { .name = "add_header", .type = CONF_BOOL, .offset = DS(add_header), .def = "true",
      .help = "add the Authentication-Results field (SPF, DKIM, DMARC) to delivered mail" },
    { .name = NULL }
};
static const struct conf_section dmarc_section = { .name = "dmarc check", .keys = dmarc_keys };

static const struct symbol_def dmarc_symbols[] = {
    { "DMARC_PASS", -0.5, "the From domain is authenticated by aligned SPF or DKIM" },
    { "DMARC_REJECT", 4.0, "DMARC fails and the From domain asks to refuse such mail" },
    { "DMARC_QUARANTINE", 2.5, "DMARC fails and the From domain asks to treat it as spam" },
    { "DMARC_POLICY_NONE", 0.5, "DMARC fails; the From domain asks for no action (p=none)" },
    { "DMARC_NONE", 0.0, "the From domain publishes no DMARC policy" },
    { "DMARC_TEMPERROR", 0.0, "the DMARC policy could not be looked up (DNS)" },
    { "DMARC_PERMERROR", 0.5, "the From domain publishes a broken DMARC record" },
    { "DMARC_BAD_FROM", 2.0, "no From field, several, or one that cannot be parsed" },
    { NULL, 0, NULL }
};

/* Per call: one evaluation per From domain. */
struct dmarc_wait;
struct dmarc_slot {
    struct check_call *c;
    struct dmarc_wait *w;
    size_t i;
};
struct dmarc_wait {
    struct dmarc_check *h[HFROM_DOMAINS_MAX];     /* NULL once its callback ran */
    struct dmarc_slot slot[HFROM_DOMAINS_MAX];
    struct dmarc_outcome out[HFROM_DOMAINS_MAX];
    size_t n, pending;
};

/* ---- the header --------------------------------------------------------------------- */

static void read_from(const struct check_call *c, struct header_from *hf)
{
    const struct engine_message *m = check_call_message(c);
    char *buf;
    size_t want, got = 0;

    if (m == NULL) {
        hf->status = HFROM_NONE;
        return;
    }
    if (m->head != NULL) {
        header_from_domains(m->head, m->head_len, hf);
        return;
    }
    want = m->size < DMARC_HEAD_READ ? (size_t)m->size : DMARC_HEAD_READ;
    buf = xmalloc(want + 1);
    while (got < want) {
        ssize_t r = pread(m->fd, buf + got, want - got, (off_t)(m->offset + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    header_from_domains(buf, got, hf);
    free(buf);
}

/* ---- combining and saying -------------------------------------------------------------- */

/* Worse first: fail, temperror, permerror, none, pass. */
static int rank(enum dmarc_result r)
{
    switch (r) {
    case DMARC_RESULT_FAIL:      return 4;
    case DMARC_RESULT_TEMPERROR: return 3;
    case DMARC_RESULT_PERMERROR: return 2;
    case DMARC_RESULT_NONE:      return 1;
    default:                     return 0;
    }
}

static const struct dmarc_outcome *worst(const struct dmarc_wait *w)
{
    const struct dmarc_outcome *o = &w->out[0];
    size_t i;

    for (i = 1; i < w->n; i++)
        if (rank(w->out[i].result) > rank(o->result) ||
            (w->out[i].result == DMARC_RESULT_FAIL && o->result == DMARC_RESULT_FAIL &&
             w->out[i].disposition > o->disposition))
            o = &w->out[i];
    return o;
}

static void add_header(struct check_call *c, const char *dmarc_clause)
{
    const struct engine_env *env = check_call_env(c);
    json_t *mine = json_string(dmarc_clause);
    char *v = authres_facts_value(env->hostname, check_fact(c, "authres.spf"),
                                  check_fact(c, "authres.dkim"), mine);

    if (v != NULL)
        check_header(c, CHECK_ALL, "Authentication-Results", v);
    free(v);
    json_decref(mine);
}

static void apply_quarantine(struct check_call *c, const struct dmarc_settings *ds,
                             const char *why)
{
    if (ds->quarantine_action == QACT_MARK)
        check_disposition(c, CHECK_ALL, DISP_MARK, why);
    else if (ds->quarantine_action == QACT_QUARANTINE)
        check_disposition(c, CHECK_ALL, DISP_QUARANTINE, why);
}

static void say(struct check_call *c, const struct dmarc_wait *w)
{
    const struct dmarc_settings *ds = check_call_settings(c);
    const struct dmarc_outcome *o = worst(w);
    char clause[2048], why[DMARC_DOMAIN_MAX + 64];
    size_t i, len = 0;
    const char *sym;

    clause[0] = '\0';
    for (i = 0; i < w->n && len < sizeof(clause); i++) {
        if (i > 0)
            len += (size_t)snprintf(clause + len, sizeof(clause) - len, "; ");
        if (len < sizeof(clause))
            len += dmarc_ar_format(clause + len, sizeof(clause) - len, &w->out[i]);
    }
    switch (o->result) {
    case DMARC_RESULT_PASS:      sym = "DMARC_PASS"; break;
    case DMARC_RESULT_TEMPERROR: sym = "DMARC_TEMPERROR"; break;
    case DMARC_RESULT_PERMERROR: sym = "DMARC_PERMERROR"; break;
    case DMARC_RESULT_FAIL:
        sym = o->disposition == DMARC_POLICY_REJECT ? "DMARC_REJECT"
            : o->disposition == DMARC_POLICY_QUARANTINE ? "DMARC_QUARANTINE"
            : "DMARC_POLICY_NONE";
        break;
    default:                     sym = "DMARC_NONE"; break;
    }
    check_symbol(c, CHECK_ALL, sym, 1.0, o->from_domain[0] ? o->from_domain : o->comment);
    check_fact_set(c, FACT_TX, "dmarc.result", json_string(dmarc_result_name(o->result)));
    check_fact_set(c, FACT_TX, "dmarc.policy", json_string(o->have_record
                                                               ? dmarc_policy_name(o->policy)
                                                               : ""));
    check_fact_set(c, FACT_TX, "dmarc.disposition",
                   json_string(dmarc_policy_name(o->disposition)));
    check_fact_set(c, FACT_TX, "dmarc.from_domain", json_string(o->from_domain));
    check_fact_set(c, FACT_TX, "authres.dmarc", json_string(clause));
    if (ds->add_header)
        add_header(c, clause);
    if (o->result != DMARC_RESULT_FAIL)
        return;
    snprintf(why, sizeof(why), "DMARC %s policy of %s", dmarc_policy_name(o->disposition),
             o->from_domain);
    if (o->disposition == DMARC_POLICY_REJECT && ds->refuse_reject)
        check_verdict(c, CHECK_ALL, VERDICT_REFUSE, R_DMARC_REJECT, o->from_domain);
    else if (o->disposition != DMARC_POLICY_NONE)
        apply_quarantine(c, ds, why);
}

static void say_bad_from(struct check_call *c, const struct header_from *hf)
{
    const struct dmarc_settings *ds = check_call_settings(c);
    char clause[128];

    snprintf(clause, sizeof(clause), "dmarc=permerror (%s)",
             header_from_status_name(hf->status));
    check_symbol(c, CHECK_ALL, "DMARC_BAD_FROM", 1.0, header_from_status_name(hf->status));
    check_fact_set(c, FACT_TX, "dmarc.result", json_string("permerror"));
    check_fact_set(c, FACT_TX, "authres.dmarc", json_string(clause));
    if (ds->add_header)
        add_header(c, clause);
    if (ds->refuse_bad_from)
        check_verdict(c, CHECK_ALL, VERDICT_REFUSE, R_DMARC_BAD_FROM,
                      header_from_status_name(hf->status));
}

/* ---- running ------------------------------------------------------------------------ */

static void on_outcome(const struct dmarc_outcome *o, void *arg)
{
    struct dmarc_slot *slot = arg;
    struct dmarc_wait *w = slot->w;
    struct check_call *c = slot->c;

    w->h[slot->i] = NULL;
    w->out[slot->i] = *o;
    if (--w->pending > 0)
        return;
    say(c, w);
    free(w);
    check_call_set_priv(c, NULL);
    check_done(c);
}

/* The DKIM identities from the fact dkim.results. */
static size_t dkim_idents(const struct check_call *c, struct dmarc_ident *id, size_t max)
{
    json_t *arr = check_fact(c, "dkim.results"), *e;
    size_t i, n = 0;

    json_array_foreach(arr, i, e) {
        const char *d = json_string_value(json_object_get(e, "d"));
        const char *r = json_string_value(json_object_get(e, "result"));
        if (n == max || d == NULL || d[0] == '\0')
            continue;
        id[n].domain = d;
        id[n].pass = r != NULL && strcmp(r, "pass") == 0;
        n++;
    }
    return n;
}

static enum call_status dmarc_run(struct check_call *c)
{
    const struct engine_env *env = check_call_env(c);
    struct header_from hf;
    struct dmarc_ident dk[16];
    struct dmarc_input in = { 0 };
    struct dkim_dns dns;
    struct dmarc_wait *w;
    const char *spf_result = json_string_value(check_fact(c, "spf.result"));
    size_t i;

    read_from(c, &hf);
    if (hf.status != HFROM_OK && hf.status != HFROM_MULTIPLE_DOMAINS) {
        say_bad_from(c, &hf);
        return CALL_DONE;
    }
    in.spf.domain = json_string_value(check_fact(c, "spf.domain"));
    in.spf.pass = spf_result != NULL && strcmp(spf_result, "pass") == 0;
    in.dkim = dk;
    in.ndkim = dkim_idents(c, dk, sizeof(dk) / sizeof(dk[0]));
    in.sample = dmarc_sample(check_call_queue_id(c));
    w = xcalloc(1, sizeof(*w));
    w->n = hf.n;
    if (env->dns == NULL || env->base == NULL) {
        for (i = 0; i < hf.n; i++) {
            dmarc_evaluate(&in, NULL, 0, NULL, 0, &w->out[i]);   /* temperror */
            snprintf(w->out[i].from_domain, sizeof(w->out[i].from_domain), "%s",
                     hf.domain[i]);
        }
        say(c, w);
        free(w);
        return CALL_DONE;
    }
    dns = dkim_dns_resolver(env->dns);
    check_call_set_priv(c, w);
    w->pending = hf.n;
    for (i = 0; i < hf.n; i++) {
        in.from_domain = hf.domain[i];
        w->slot[i] = (struct dmarc_slot){ .c = c, .w = w, .i = i };
        w->h[i] = dmarc_check_start(env->base, &dns, &in, on_outcome, &w->slot[i]);
    }
    return CALL_PENDING;
}

static void dmarc_cancel_call(struct check_call *c)
{
    struct dmarc_wait *w = check_call_priv(c);
    size_t i;

    if (w == NULL)
        return;
    for (i = 0; i < w->n; i++)
        if (w->h[i] != NULL)
            dmarc_cancel(w->h[i]);
    free(w);
    check_call_set_priv(c, NULL);
}

const struct check_def check_dmarc = {
    .name = "dmarc",
    .description = "DMARC (RFC 7489) of the From domain, from the SPF and DKIM results",
    .stages = STAGE_BIT(STAGE_END),
    .directions = DIR_INBOUND | DIR_BACKUP,
    .group = 65,
    .async = true,
    .flags = CHECK_ROLE_BYPASS | CHECK_NEEDS_HEADER,
    .unsure = UNSURE_ACCEPT,
    .mixed = DISP_MARK,        /* refused, but accepted for postmaster@: marked as spam
                                  (the quarantine does not exist yet) */
    .reason = "dmarc",
    .symbols = dmarc_symbols,
    .settings = &dmarc_section,
    .settings_size = sizeof(struct dmarc_settings),
    .run = dmarc_run,
    .cancel = dmarc_cancel_call,
};
