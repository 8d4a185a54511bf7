/*
 * engine_decide.c - what the evidence means for each recipient, at the stages where
 * recipients exist (see engine.h, "When refusals are given" and "The multi-recipient
 * rule"). The arithmetic itself is pure and lives in decide.c; this file gathers its
 * inputs from the session, transaction and recipients, and records the outcome.
 */
#include "policy/engine_int.h"

#include "lib/metrics.h"
#include "lib/smtp_replies.h"
#include "lib/xalloc.h"
#include "policy/settings.h"
#include "policy/user_prefs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *reference(const struct engine_session *s)
{
    return s->tx && s->tx->qid[0] ? s->tx->qid : "NOQUEUE";
}

bool rcpt_bypasses(const struct engine_session *s, const struct eng_rcpt *r,
                   const struct check_def *by)
{
    (void)s;
    if (by == NULL || r->settings == NULL)
        return false;
    if ((by->flags & CHECK_ROLE_BYPASS) && r->settings->role)
        return true;
    return (by->flags & CHECK_WHITELIST_BYPASS) && r->listed == LISTED_WHITE;
}

void unsure_reply(struct engine_reply *out, const struct engine_session *s,
                  const struct check_def *by)
{
    if (by->unsure_reply != NULL)
        reply_set(out, by, by->unsure_reply->code, by->unsure_reply->ecode, "%s",
                  by->unsure_reply->text);
    else
        reply_set(out, by, R_POLICY_UNSURE, by->name, reference(s));
    if (by->unsure_reason != NULL)
        out->reason = by->unsure_reason;
}

void decide_unsure(struct engine_session *s, struct eng_rcpt *r, const struct check_def *by)
{
    struct engine_reply reply;

    if (r->settings == NULL ||
        level_unsure_rule(r->settings->level, by->name, by->unsure) != UNSURE_DEFER)
        return;
    unsure_reply(&reply, s, by);
    verdict_merge(&r->v, DISP_DEFER, by->mixed, by, &reply, NULL);
}

/* ---- RCPT, before the checks --------------------------------------------------------- */

/* The user overrides read for recipient i in this run, and whether reading failed. */
static struct user_prefs *prefs_for(const struct stage_run *run, size_t i, bool *failed)
{
    size_t k;

    *failed = false;
    for (k = 0; k < run->nprefs; k++)
        if (run->prefs_for[k] == i) {
            *failed = run->prefs[k] == NULL;
            return run->prefs[k];
        }
    return NULL;
}

/* What CONNECT, HELO, AUTH (session) and MAIL (transaction) left for each recipient. */
static void apply_scope(struct engine_session *s, struct eng_rcpt *r, const struct scope *sc)
{
    size_t k;

    for (k = 0; k < sc->nlater; k++) {
        const struct verdict *v = &sc->later[k];
        if (!rcpt_bypasses(s, r, v->by) && (v->by->directions & r->dir))
            verdict_merge(&r->v, v->disp, v->mixed, v->by, &v->reply, NULL);
    }
    for (k = 0; k < sc->nunsure; k++)
        if (!rcpt_bypasses(s, r, sc->unsure[k]) && (sc->unsure[k]->directions & r->dir))
            decide_unsure(s, r, sc->unsure[k]);
}

static void add_engine_symbol(struct engine_session *s, struct eng_rcpt *r, const char *name)
{
    const struct symbol *sym = symtab_find(s->e->symbols, name);

    if (sym != NULL)
        hits_add(&r->hits, sym, 1.0, NULL);
}

void decide_rcpt_prepare(struct engine_session *s, struct stage_run *run)
{
    struct engine_tx *tx = s->tx;
    bool sub = engine_profile_submission(s->p);
    size_t i;

    for (i = 0; i < tx->n; i++) {
        struct eng_rcpt *r = &tx->r[i];
        struct user_prefs *prefs;
        bool failed;

        if (r->state != RCPT_PENDING || r->settings != NULL)
            continue;
        if (sub) {
            prefs = tx->sender_prefs;
            failed = tx->sender_prefs_unavailable;
        } else {
            prefs = prefs_for(run, i, &failed);
        }
        r->settings = settings_resolve(s->e->settings, sub ? tx->sender : r->addr, sub, prefs);
        if (failed)
            add_engine_symbol(s, r, SYM_USER_TEMPFAIL);
        r->dir = sub ? DIR_SUBMISSION : r->settings->kind == DOMAIN_BACKUP ? DIR_BACKUP
                                                                           : DIR_INBOUND;
        if (!sub) {
            r->listed = settings_sender_listed(r->settings, tx->sender, s->ip);
            r->excluded = settings_rcpt_excluded(r->settings, r->addr);
        }
        if (r->listed == LISTED_WHITE)
            add_engine_symbol(s, r, SYM_WHITELISTED);
        else if (r->listed == LISTED_BLACK)
            add_engine_symbol(s, r, SYM_BLACKLISTED);
        apply_scope(s, r, &s->sc);
        apply_scope(s, r, &tx->sc);
        if (r->v.disp >= DISP_DEFER)
            r->state = RCPT_REFUSED;
    }
}

/* ---- scores and decisions -------------------------------------------------------------- */

/* Every symbol that counts for r (session, transaction, recipient; each once). */
static size_t gather(const struct engine_session *s, const struct eng_rcpt *r, struct hit **out)
{
    const struct hits *all[3] = { &s->sc.hits, &s->tx->sc.hits, &r->hits };
    size_t cap = s->sc.hits.n + s->tx->sc.hits.n + r->hits.n, n = 0, a, i, k;
    struct hit *v = xcalloc(cap ? cap : 1, sizeof(*v));

    for (a = 0; a < 3; a++)
        for (i = 0; i < all[a]->n; i++) {
            const struct hit *h = &all[a]->v[i];
            for (k = 0; k < n && v[k].sym != h->sym; k++)
                ;
            if (k == n)
                v[n++] = *h;
            else if (fabs(h->weight) > fabs(v[k].weight))
                v[k].weight = h->weight;
        }
    *out = v;
    return n;
}

static double score_of(const struct hit *v, size_t n)
{
    double sum = 0;
    size_t i;

    for (i = 0; i < n; i++)
        sum += v[i].sym->score * v[i].weight;
    return sum;
}

double decide_rcpt_score(const struct engine_session *s, const struct eng_rcpt *r)
{
    struct hit *v;
    size_t n = gather(s, r, &v);
    double sum = score_of(v, n);

    free(v);
    return sum;
}

static struct decide_input rcpt_input(const struct engine_session *s,
                                      const struct eng_rcpt *r, double score)
{
    const struct policy_settings *st = r->settings;
    struct decide_input in = {
        .score = score, .tag = st->tag, .spam = st->spam, .kill = st->kill,
        .spam_action = level_spam_disposition(st->level),
        .blacklist_refuses = st->level->blacklist == BLACKLIST_REFUSE,
        .excluded = r->excluded, .whitelisted = r->listed == LISTED_WHITE,
        .blacklisted = r->listed == LISTED_BLACK, .role = st->role,
        .submission = engine_profile_submission(s->p), .header_only = st->header_only,
        .verdict = r->v.disp, .verdict_mixed = r->v.mixed,
    };
    return in;
}

static void rcpt_decide(const struct engine_session *s, const struct eng_rcpt *r, double score,
                        struct decision *out)
{
    struct decide_input in = rcpt_input(s, r, score);

    decide_rcpt(&in, out);
}

/* postern_spam_actions_total{action, direction}: the level's action for r, counted once,
 * when it takes effect: at acceptance (accepted), or when the recipient or the message is
 * refused (then only a refusal the level itself gives is counted). */
static void count_level_action(const struct engine_session *s, const struct eng_rcpt *r,
                               double score, bool accepted)
{
    struct decide_input in = rcpt_input(s, r, score);
    enum disposition a = decide_level_action(&in, accepted);

    if (!accepted && a != DISP_REFUSE)
        return;
    metrics_inc2(M_SPAM_ACTIONS, decide_action_label(a),
                 r->dir == DIR_SUBMISSION ? "submission" : r->dir == DIR_BACKUP ? "backup"
                                                                               : "inbound");
}

/* The reply of a refusal for spam (score or blacklist). */
static void spam_reply(struct engine_reply *out, const struct engine_session *s,
                       const struct eng_rcpt *r, double score)
{
    char sc[32];

    if (r->listed == LISTED_BLACK) {
        reply_set(out, NULL, R_POLICY_BLOCKED, reference(s));
        out->reason = "blacklist";
        return;
    }
    snprintf(sc, sizeof(sc), "%.1f", score);
    reply_set(out, NULL, R_POLICY_SPAM, sc, reference(s));
}

/* After the RCPT checks: a recipient whose score (or blacklist) already means a refusal
 * is refused now; the others are accepted. */
static void rcpt_end(struct engine_session *s)
{
    struct engine_tx *tx = s->tx;
    struct decision d;
    size_t i;

    for (i = 0; i < tx->n; i++) {
        struct eng_rcpt *r = &tx->r[i];
        double score;
        if (r->state != RCPT_PENDING)
            continue;
        score = decide_rcpt_score(s, r);
        rcpt_decide(s, r, score, &d);
        if (d.disp == DISP_REFUSE && d.spam_refusal) {
            struct engine_reply reply;
            spam_reply(&reply, s, r, score);
            verdict_merge(&r->v, DISP_REFUSE, d.mixed, NULL, &reply, NULL);
            r->state = RCPT_REFUSED;
            count_level_action(s, r, score, false);
            continue;
        }
        r->state = RCPT_ACCEPTED;
        r->accepted_idx = tx->naccepted++;
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct result_symbol *)a)->name,
                  ((const struct result_symbol *)b)->name);
}

/* The reason kept with an action after acceptance. */
static char *result_reason(const struct eng_rcpt *r, const struct decision *d,
                           enum disposition applied)
{
    if (r->v.disp >= DISP_DEFER && (d->disp == DISP_REFUSE || d->disp == DISP_DEFER) &&
        !d->spam_refusal && r->v.reply.text[0] != '\0')
        return xasprintf("%s for this recipient: %s",
                         r->v.disp == DISP_REFUSE ? "refused" : "deferred", r->v.reply.text);
    if (r->v.why != NULL && applied == r->v.disp)
        return xstrdup(r->v.why);
    if (d->spam && (applied == DISP_MARK || applied == DISP_QUARANTINE ||
                    applied == DISP_DISCARD))
        return xstrdup(d->spam_refusal ? "spam, refused for this recipient" : "spam");
    return NULL;
}

static void build_result(const struct engine_session *s, const struct eng_rcpt *r,
                         const struct decision *d, struct rcpt_result *res)
{
    const struct policy_settings *st = r->settings;
    struct hit *v;
    size_t n = gather(s, r, &v), i;

    res->rcpt = r->accepted_idx;
    res->disp = decide_applied(d);
    res->score = score_of(v, n);
    res->tag = st->tag;
    res->spam = st->spam;
    res->spam_flag = d->spam;
    res->headers = d->headers && st->level->headers && s->p->scores;
    res->level = xstrdup(st->level->name);
    res->subject_prefix = res->disp == DISP_MARK ? xstrdup(st->level->subject_prefix) : NULL;
    res->reason = result_reason(r, d, res->disp);
    res->nsyms = n;
    res->syms = n ? xcalloc(n, sizeof(*res->syms)) : NULL;
    for (i = 0; i < n; i++) {
        res->syms[i].name = xstrdup(v[i].sym->name);
        res->syms[i].score = v[i].sym->score * v[i].weight;
        res->syms[i].text = v[i].text ? xstrdup(v[i].text) : NULL;
    }
    if (n > 1)
        qsort(res->syms, n, sizeof(*res->syms), by_name);
    res->nadd = r->nheaders;
    res->add_headers = r->nheaders ? xcalloc(r->nheaders, sizeof(char *)) : NULL;
    for (i = 0; i < r->nheaders; i++)
        res->add_headers[i] = xstrdup(r->headers[i]);
    free(v);
}

/* DATA and END: every accepted recipient's decision, then the multi-recipient rule. */
static void message_end(struct engine_session *s, bool build)
{
    struct engine_tx *tx = s->tx;
    struct decision *d = xcalloc(tx->naccepted ? tx->naccepted : 1, sizeof(*d));
    struct eng_rcpt **who = xcalloc(tx->naccepted ? tx->naccepted : 1, sizeof(*who));
    double *score = xcalloc(tx->naccepted ? tx->naccepted : 1, sizeof(*score));
    enum message_verdict mv;
    size_t i, from = 0;

    for (i = 0; i < tx->n; i++) {
        struct eng_rcpt *r = &tx->r[i];
        if (r->state != RCPT_ACCEPTED || r->accepted_idx >= tx->naccepted)
            continue;
        who[r->accepted_idx] = r;
        score[r->accepted_idx] = decide_rcpt_score(s, r);
        rcpt_decide(s, r, score[r->accepted_idx], &d[r->accepted_idx]);
    }
    mv = decide_message(d, tx->naccepted, &from);
    if (s->reply.code != 0) {
        /* a command-level answer (421, a refusal of DATA) already decided */
    } else if (mv != MESSAGE_ACCEPT) {
        tx->reply_rcpt = (size_t)(who[from] - tx->r);
        if (d[from].spam_refusal)
            spam_reply(&s->reply, s, who[from], score[from]);
        else
            s->reply = who[from]->v.reply;
        if (mv == MESSAGE_REFUSE)   /* a deferred message comes back: counted then */
            for (i = 0; i < tx->naccepted; i++)
                count_level_action(s, who[i], score[i], false);
    } else if (build) {
        tx->results = xcalloc(tx->naccepted ? tx->naccepted : 1, sizeof(*tx->results));
        tx->nresults = tx->naccepted;
        for (i = 0; i < tx->naccepted; i++) {
            build_result(s, who[i], &d[i], &tx->results[i]);
            count_level_action(s, who[i], score[i], true);
        }
    }
    free(d);
    free(who);
    free(score);
}

json_t *engine_refusal_symbols(const struct engine_session *s, size_t i)
{
    json_t *out = json_object();
    struct hit *v;
    size_t n, k;

    if (s->tx == NULL)
        return out;
    if (i == ENGINE_MESSAGE)
        i = s->tx->reply_rcpt;
    if (i >= s->tx->n)
        return out;
    n = gather(s, &s->tx->r[i], &v);
    for (k = 0; k < n; k++)
        json_object_set_new(out, v[k].sym->name, json_real(v[k].sym->score * v[k].weight));
    free(v);
    return out;
}

void decide_stage_end(struct engine_session *s, enum engine_stage stage)
{
    if (s->tx == NULL)
        return;
    if (stage == STAGE_RCPT)
        rcpt_end(s);
    else if (stage == STAGE_DATA)
        message_end(s, false);
    else if (stage == STAGE_END)
        message_end(s, true);
}
