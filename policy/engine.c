/*
 * engine.c - the engine object, its profiles and check instances, sessions and
 * transactions, and the results the session reads back (see engine.h).
 */
#include "policy/engine_int.h"

#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/xalloc.h"
#include "policy/check_registry.h"
#include "policy/result_record.h"
#include "policy/settings.h"
#include "policy/spam_report.h"
#include "policy/user_cache.h"
#include "policy/user_prefs.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers shared by the engine's files ------------------------------------- */

void hits_add(struct hits *h, const struct symbol *sym, double weight, const char *text)
{
    size_t i;

    for (i = 0; i < h->n; i++) {
        if (h->v[i].sym != sym)
            continue;
        /* the same symbol twice (two lookups of one zone): keep the stronger */
        if (fabs(weight) > fabs(h->v[i].weight))
            h->v[i].weight = weight;
        return;
    }
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 8;
        h->v = xrealloc(h->v, h->cap * sizeof(*h->v));
    }
    metrics_inc1(M_POLICY_SYMBOLS, sym->name);
    h->v[h->n++] = (struct hit){ sym, weight, text ? xstrdup(text) : NULL };
}

void hits_clear(struct hits *h)
{
    size_t i;

    for (i = 0; i < h->n; i++)
        free(h->v[i].text);
    free(h->v);
    memset(h, 0, sizeof(*h));
}

void verdict_clear(struct verdict *v)
{
    free(v->why);
    memset(v, 0, sizeof(*v));
}

void verdict_merge(struct verdict *v, enum disposition disp, enum disposition mixed,
                   const struct check_def *by, const struct engine_reply *reply,
                   const char *why)
{
    if (disp <= v->disp)
        return;
    v->disp = disp;
    v->mixed = mixed;
    v->by = by;
    if (reply != NULL)
        v->reply = *reply;
    else
        memset(&v->reply, 0, sizeof(v->reply));
    free(v->why);
    v->why = why ? xstrdup(why) : NULL;
}

void reply_set(struct engine_reply *r, const struct check_def *by, int code, const char *ecode,
               const char *fmt, ...)
{
    va_list ap;

    memset(r, 0, sizeof(*r));
    r->code = code;
    snprintf(r->ecode, sizeof(r->ecode), "%s", ecode ? ecode : "");
    va_start(ap, fmt);
    vsnprintf(r->text, sizeof(r->text), fmt, ap);
    va_end(ap);
    r->check = by ? by->name : "policy";
    r->reason = by ? (by->reason ? by->reason : "other") : "spam";
}

static void scope_clear(struct scope *sc)
{
    size_t i;

    hits_clear(&sc->hits);
    for (i = 0; i < sc->nlater; i++)
        verdict_clear(&sc->later[i]);
    free(sc->later);
    free(sc->unsure);
    memset(sc, 0, sizeof(*sc));
}

/* ---- the engine ---------------------------------------------------------------------- */

static void profile_free(struct engine_profile *p)
{
    size_t i;

    for (i = 0; i < p->ninsts; i++)
        if (p->insts[i].def->free != NULL)
            p->insts[i].def->free(p->insts[i].state);
    free(p->insts);
}

static int profile_build(struct engine *e, struct engine_profile *p, const struct profile_conf *pc)
{
    const struct conf_named *c = pc->checks.items;
    char tname[SYMBOL_NAME_MAX + 1];
    size_t i, j;

    p->conf = pc;
    p->insts = pc->checks.n ? xcalloc(pc->checks.n, sizeof(*p->insts)) : NULL;
    for (i = 0; i < pc->checks.n; i++) {
        struct check_inst *in = &p->insts[p->ninsts];
        const struct check_def *d = check_registry_find(c[i].name);
        const struct conf_strlist *off = &e->in.conf->disabled_checks;
        for (j = 0; j < off->n && strcmp(off->v[j], c[i].name) != 0; j++)
            ;
        if (j < off->n)
            continue;           /* policy.disabled_checks */
        if (d == NULL) {
            log_error("policy", "profile %s: unknown check %s", pc->name, c[i].name);
            return -1;
        }
        in->def = d;
        in->settings = c[i].obj;
        symbol_timeout_name(tname, sizeof(tname), d->name);
        in->timeout = symtab_find(e->symbols, tname);
        if (d->init != NULL && d->init(&e->env, in->settings, &in->state) < 0) {
            log_error("policy", "profile %s: check %s cannot start", pc->name, d->name);
            return -1;
        }
        p->ninsts++;
        p->stages |= d->stages;
        if ((d->symbols != NULL && d->symbols->name != NULL) || d->settings_symbols != NULL)
            p->scores = true;
        if (p->scores || (d->flags & CHECK_USES_SETTINGS))
            p->needs_settings = true;
        if (d->flags & CHECK_NEEDS_HEADER)
            p->needs_header = true;
    }
    /* stable sort by group: the config's order within a group */
    for (i = 1; i < p->ninsts; i++) {
        struct check_inst t = p->insts[i];
        for (j = i; j > 0 && p->insts[j - 1].def->group > t.def->group; j--)
            p->insts[j] = p->insts[j - 1];
        p->insts[j] = t;
    }
    return 0;
}

struct engine *engine_new(const struct engine_inputs *in, const struct engine_env *env,
                          struct user_store *store)
{
    struct engine *e = xcalloc(1, sizeof(*e));
    const struct profile_conf *pc = in->conf->profiles.items;
    struct settings_inputs si = {
        .levels = &in->conf->levels, .domains = in->domains,
        .domain_defaults = in->domain_defaults, .local_domains = in->local_domains,
        .backup_domains = in->backup_domains, .whitelist = &in->conf->whitelist,
        .blacklist = &in->conf->blacklist, .exclusions = &in->conf->exclusions,
    };
    char why[256];
    size_t i;

    e->in = *in;
    e->env = *env;
    e->symbols = symtab_new(&in->conf->profiles, &in->conf->symbols, "/policy", NULL);
    e->settings = settings_base_new(&si, why, sizeof(why));
    if (e->symbols == NULL || e->settings == NULL) {
        log_error("policy", "cannot build the policy engine: %s",
                  e->settings ? "bad symbol overrides" : why);
        engine_free(e);
        return NULL;
    }
    e->profiles = xcalloc(in->conf->profiles.n ? in->conf->profiles.n : 1,
                          sizeof(*e->profiles));
    for (i = 0; i < in->conf->profiles.n; i++) {
        e->nprofiles++;
        if (profile_build(e, &e->profiles[i], &pc[i]) < 0) {
            engine_free(e);
            return NULL;
        }
    }
    if (store != NULL)
        e->users = user_cache_new(store, in->conf->user_settings_ttl_ms,
                                  (size_t)in->conf->user_settings_cache);
    return e;
}

void engine_free(struct engine *e)
{
    size_t i;

    if (e == NULL)
        return;
    for (i = 0; i < e->nprofiles; i++)
        profile_free(&e->profiles[i]);
    free(e->profiles);
    user_cache_free(e->users);
    settings_base_free(e->settings);
    symtab_free(e->symbols);
    free(e);
}

const struct engine_profile *engine_profile_find(const struct engine *e, const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < e->nprofiles; i++)
        if (strcmp(e->profiles[i].conf->name, name) == 0)
            return &e->profiles[i];
    return NULL;
}

bool engine_profile_submission(const struct engine_profile *p)
{
    return p->conf->direction == DIRECTION_SUBMISSION;
}

bool engine_profile_needs_header(const struct engine_profile *p)
{
    return p->needs_header;
}

const struct symtab *engine_symbols(const struct engine *e)
{
    return e->symbols;
}

bool engine_session_runs(const struct engine_session *s, enum engine_stage stage)
{
    return (s->p->stages & STAGE_BIT(stage)) != 0;
}

/* ---- sessions and transactions ------------------------------------------------------- */

struct engine_session *engine_session_new(struct engine *e, const struct engine_profile *p,
                                          const char *listener, const char *client_ip)
{
    struct engine_session *s = xcalloc(1, sizeof(*s));

    s->e = e;
    s->p = p;
    s->listener = xstrdup(listener ? listener : "");
    s->ip = xstrdup(client_ip ? client_ip : "");
    s->name = xstrdup("unknown");
    s->facts = json_object();
    return s;
}

static void replace(char **field, const char *v)
{
    free(*field);
    *field = v ? xstrdup(v) : NULL;
}

void engine_session_set_client_name(struct engine_session *s, const char *name)
{
    replace(&s->name, name ? name : "unknown");
}

void engine_session_set_helo(struct engine_session *s, const char *helo)
{
    replace(&s->helo, helo);
}

void engine_session_set_login(struct engine_session *s, const char *login)
{
    replace(&s->login, login);
}

void engine_session_set_tls(struct engine_session *s, bool tls)
{
    s->tls = tls;
}

static void rcpt_clear(struct eng_rcpt *r)
{
    size_t i;

    free(r->addr);
    settings_free(r->settings);
    hits_clear(&r->hits);
    verdict_clear(&r->v);
    for (i = 0; i < r->nheaders; i++)
        free(r->headers[i]);
    free(r->headers);
}

void engine_tx_end(struct engine_session *s)
{
    struct engine_tx *tx = s->tx;
    size_t i;

    if (tx == NULL)
        return;
    if (s->run != NULL) {
        stage_run_cancel(s->run);
        s->run = NULL;
    }
    for (i = 0; i < tx->n; i++)
        rcpt_clear(&tx->r[i]);
    for (i = 0; i < tx->nresults; i++)
        rcpt_result_clear(&tx->results[i]);
    free(tx->results);
    free(tx->r);
    scope_clear(&tx->sc);
    json_decref(tx->facts);
    user_prefs_unref(tx->sender_prefs);
    free(tx->sender);
    free(tx->qid);
    free(tx);
    s->tx = NULL;
}

void engine_tx_begin(struct engine_session *s, const char *sender, const char *queue_id)
{
    engine_tx_end(s);
    s->tx = xcalloc(1, sizeof(*s->tx));
    s->tx->sender = xstrdup(sender ? sender : "");
    s->tx->qid = xstrdup(queue_id ? queue_id : "");
    s->tx->facts = json_object();
}

void engine_tx_set_queue_id(struct engine_session *s, const char *queue_id)
{
    if (s->tx != NULL)
        replace(&s->tx->qid, queue_id ? queue_id : "");
}

void engine_fact_set(struct engine_session *s, enum fact_scope scope, const char *key,
                     json_t *value)
{
    if (scope == FACT_TX && s->tx == NULL) {
        json_decref(value);
        return;
    }
    json_object_set_new(scope == FACT_TX ? s->tx->facts : s->facts, key, value);
}

size_t engine_rcpt_add(struct engine_session *s, const char *addr)
{
    struct engine_tx *tx = s->tx;

    if (tx->n == tx->cap) {
        tx->cap = tx->cap ? tx->cap * 2 : 8;
        tx->r = xrealloc(tx->r, tx->cap * sizeof(*tx->r));
    }
    memset(&tx->r[tx->n], 0, sizeof(tx->r[tx->n]));
    tx->r[tx->n].addr = xstrdup(addr);
    tx->r[tx->n].state = RCPT_PENDING;
    return tx->n++;
}

void engine_set_message(struct engine_session *s, const struct engine_message *m)
{
    s->tx->msg = *m;
    s->tx->has_msg = true;
}

void engine_session_free(struct engine_session *s)
{
    if (s == NULL)
        return;
    if (s->run != NULL) {
        stage_run_cancel(s->run);
        s->run = NULL;
    }
    engine_tx_end(s);
    scope_clear(&s->sc);
    json_decref(s->facts);
    free(s->listener);
    free(s->ip);
    free(s->name);
    free(s->helo);
    free(s->login);
    free(s);
}

/* ---- results ------------------------------------------------------------------------- */

const struct engine_reply *engine_reply(const struct engine_session *s)
{
    return s->reply.code != 0 ? &s->reply : NULL;
}

const struct engine_reply *engine_rcpt_reply(const struct engine_session *s, size_t i)
{
    const struct eng_rcpt *r;

    if (s->tx == NULL || i >= s->tx->n)
        return NULL;
    r = &s->tx->r[i];
    return r->state == RCPT_REFUSED ? &r->v.reply : NULL;
}

size_t engine_accepted(const struct engine_session *s)
{
    return s->tx ? s->tx->naccepted : 0;
}

size_t engine_rcpt_count(const struct engine_session *s)
{
    return s->tx ? s->tx->n : 0;
}

const struct rcpt_result *engine_result(const struct engine_session *s, size_t i)
{
    return s->tx && i < s->tx->nresults ? &s->tx->results[i] : NULL;
}

char *engine_records(const struct engine_session *s)
{
    char *out = xstrdup(""), *rec, *joined;
    size_t i;

    for (i = 0; s->tx != NULL && i < s->tx->nresults; i++) {
        rec = result_record_format(&s->tx->results[i]);
        joined = xasprintf("%s%s", out, rec);
        free(rec);
        free(out);
        out = joined;
    }
    return out;
}

void engine_results_signed(struct engine_session *s)
{
    size_t i;

    for (i = 0; s->tx != NULL && i < s->tx->nresults; i++) {
        struct rcpt_result *r = &s->tx->results[i];
        if (r->disp != DISP_MARK)
            continue;
        free(r->subject_prefix);
        r->subject_prefix = NULL;
        r->headers = true;
        r->spam_flag = true;
    }
}

/* Two results that would log the same line. */
static bool same_result(const struct rcpt_result *a, const struct rcpt_result *b)
{
    size_t i;

    if (a->disp != b->disp || a->score != b->score || a->spam != b->spam ||
        a->nsyms != b->nsyms)
        return false;
    for (i = 0; i < a->nsyms; i++)
        if (strcmp(a->syms[i].name, b->syms[i].name) != 0 || a->syms[i].score != b->syms[i].score)
            return false;
    return true;
}

/* The accepted recipient whose result is results[i]. */
static const char *result_addr(const struct engine_tx *tx, size_t i)
{
    size_t k;

    for (k = 0; k < tx->n; k++)
        if (tx->r[k].state == RCPT_ACCEPTED && tx->r[k].accepted_idx == i)
            return tx->r[k].addr;
    return "";
}

void engine_log_results(const struct engine_session *s, const char *queue_id)
{
    const struct engine_tx *tx = s->tx;
    bool *done;
    size_t i, j;

    if (tx == NULL || tx->nresults == 0)
        return;
    done = xcalloc(tx->nresults, sizeof(*done));
    for (i = 0; i < tx->nresults; i++) {
        bool all = true;
        char *to = NULL, *line, safe[300];
        if (done[i])
            continue;
        for (j = i; j < tx->nresults; j++) {
            if (!same_result(&tx->results[i], &tx->results[j])) {
                all = false;
                continue;
            }
            done[j] = true;
            log_sanitize(safe, sizeof(safe), result_addr(tx, j), strlen(result_addr(tx, j)));
            line = xasprintf("%s%s<%s>", to ? to : "", to ? "," : "", safe);
            free(to);
            to = line;
        }
        for (j = 0; j < i && all; j++)
            all = same_result(&tx->results[i], &tx->results[j]);
        line = spam_log_format(queue_id, &tx->results[i], all ? NULL : to);
        log_info("policy", "%s", line);
        free(line);
        free(to);
    }
    free(done);
}

const char *engine_note(const struct engine_session *s)
{
    return s->tx ? s->tx->note : "";
}

struct json_t *engine_facts(const struct engine_session *s)
{
    json_t *all = json_deep_copy(s->facts);

    if (s->tx != NULL)
        json_object_update(all, s->tx->facts);
    return all;
}

const char *engine_result_addr(const struct engine_session *s, size_t i)
{
    return s->tx ? result_addr(s->tx, i) : "";
}

struct json_t *engine_fact(const struct engine_session *s, const char *key)
{
    json_t *v = s->tx ? json_object_get(s->tx->facts, key) : NULL;

    return v ? v : json_object_get(s->facts, key);
}
