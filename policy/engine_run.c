/*
 * engine_run.c - running one stage of one session: read the user settings it needs,
 * start the checks group by group, wait for the asynchronous ones up to the stage
 * deadline, cancel what is late, then let engine_decide.c conclude (see engine.h).
 *
 * A stage run is a small state machine owned by the session (s->run):
 *   fetch    (RCPT, and MAIL on submission) per-user settings through the cache
 *   walk     start every check of the next group; a group with pending calls waits
 *   wait     check_done() counts calls down; the last one walks on
 *   deadline the timer cancels the pending calls and times out the groups not started
 *   finish   decide_stage_end(), free the run, call back if engine_run had returned
 *            ENGINE_PENDING
 * Cancellation (engine_session_free, engine_tx_end) cancels the fetch and every pending
 * call and frees the run without calling back.
 */
#include "policy/engine_int.h"

#include "lib/log.h"
#include "lib/xalloc.h"
#include "policy/outage.h"
#include "policy/settings.h"
#include "policy/user_cache.h"
#include "policy/user_prefs.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool stage_has_rcpts(enum engine_stage st)
{
    return st == STAGE_RCPT || st == STAGE_DATA || st == STAGE_END;
}

/* Does the check apply to the session's profile at all (before recipients)? */
static bool direction_ok(const struct engine_session *s, const struct check_def *d)
{
    return engine_profile_submission(s->p) ? (d->directions & DIR_SUBMISSION) != 0
                                           : (d->directions & (DIR_INBOUND | DIR_BACKUP)) != 0;
}

size_t stage_rcpts_for(const struct engine_session *s, enum engine_stage stage,
                       const struct check_def *def, size_t **out)
{
    enum rcpt_state want = stage == STAGE_RCPT ? RCPT_PENDING : RCPT_ACCEPTED;
    size_t i, n = 0;

    *out = NULL;
    if (!stage_has_rcpts(stage) || s->tx == NULL || s->tx->n == 0)
        return 0;
    *out = xcalloc(s->tx->n, sizeof(**out));
    for (i = 0; i < s->tx->n; i++) {
        const struct eng_rcpt *r = &s->tx->r[i];
        if (r->state == want && (r->dir & def->directions) && !rcpt_bypasses(s, r, def))
            (*out)[n++] = i;
    }
    return n;
}

static void run_free(struct stage_run *r)
{
    size_t i;

    for (i = 0; i < r->ncalls; i++)
        check_call_free(r->calls[i]);
    free(r->calls);
    if (r->deadline)
        event_free(r->deadline);
    for (i = 0; i < r->nprefs; i++)
        user_prefs_unref(r->prefs ? r->prefs[i] : NULL);
    free(r->prefs);
    free(r->prefs_for);
    free(r);
}

static void finish(struct stage_run *r)
{
    struct engine_session *s = r->s;

    decide_stage_end(s, r->stage);
    s->run = NULL;
    run_free(r);
}

/* The stage is over after engine_run returned ENGINE_PENDING: tell the session. */
static void complete(struct stage_run *r)
{
    engine_done_fn cb = r->cb;
    void *arg = r->arg;

    finish(r);
    cb(arg);
}

/* Does check `in` run at this stage, and for which recipients (*rcpts, malloc'd)? */
static bool applies(const struct stage_run *r, const struct check_inst *in, size_t **rcpts,
                    size_t *n)
{
    *rcpts = NULL;
    *n = 0;
    if (!(in->def->stages & STAGE_BIT(r->stage)) || !direction_ok(r->s, in->def))
        return false;
    if (!stage_has_rcpts(r->stage))
        return true;
    *n = stage_rcpts_for(r->s, r->stage, in->def, rcpts);
    if (*n > 0)
        return true;
    free(*rcpts); /* nobody for it to look at */
    *rcpts = NULL;
    return false;
}

static void start_call(struct stage_run *r, const struct check_inst *in)
{
    const struct check_def *d = in->def;
    struct check_call *c;
    size_t *rcpts, n;
    enum call_status st;

    if (!applies(r, in, &rcpts, &n))
        return;
    c = xcalloc(1, sizeof(*c));
    c->run = r;
    c->inst = in;
    c->state = CALL_RUNNING;
    c->rcpts = rcpts;
    c->nrcpts = n;
    if (r->ncalls == r->capcalls) {
        r->capcalls = r->capcalls ? r->capcalls * 2 : 8;
        r->calls = xrealloc(r->calls, r->capcalls * sizeof(*r->calls));
    }
    r->calls[r->ncalls++] = c;
    c->in_run = true;
    clock_gettime(CLOCK_MONOTONIC, &c->started);
    st = d->run(c);
    c->in_run = false;
    if (st == CALL_DONE || c->state != CALL_RUNNING) {
        if (c->state == CALL_RUNNING)
            check_call_observe(c);    /* check_done() observed the others */
        c->state = CALL_FINISHED;
    } else {
        r->running++;
    }
}

/* Is there any point in starting more checks at this stage? */
static bool stage_decided(const struct stage_run *r)
{
    const struct engine_session *s = r->s;
    size_t i;

    if (s->reply.disconnect || (!stage_has_rcpts(r->stage) && s->reply.code != 0))
        return true;
    if (r->stage != STAGE_RCPT)
        return false;
    for (i = 0; i < s->tx->n; i++)
        if (s->tx->r[i].state == RCPT_PENDING && s->tx->r[i].v.disp < DISP_DEFER)
            return false;
    return true;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg);

static void arm_deadline(struct stage_run *r)
{
    const struct profile_conf *pc = r->s->p->conf;
    long long limit = r->stage == STAGE_END ? pc->end_deadline_ms : pc->deadline_ms;
    long long left = limit - (mono_ms() - r->started_ms);
    struct timeval tv;

    if (r->deadline != NULL || r->s->e->env.base == NULL)
        return;
    if (left < 0)
        left = 0;
    tv.tv_sec = left / 1000;
    tv.tv_usec = (left % 1000) * 1000;
    r->deadline = evtimer_new(r->s->e->env.base, on_deadline, r);
    evtimer_add(r->deadline, &tv);
}

/* Start groups until one has pending calls. True when the stage's checks are all done. */
static bool walk(struct stage_run *r)
{
    const struct engine_profile *p = r->s->p;

    r->walking = true;
    while (r->running == 0 && r->next < p->ninsts) {
        int group = p->insts[r->next].def->group;
        while (r->next < p->ninsts && p->insts[r->next].def->group == group)
            start_call(r, &p->insts[r->next++]);
        if (stage_decided(r) && r->running == 0)
            r->next = p->ninsts;
    }
    r->walking = false;
    if (r->running > 0) {
        arm_deadline(r);
        return false;
    }
    return true;
}

void stage_run_call_done(struct stage_run *r)
{
    r->running--;
    if (r->walking || r->running > 0)
        return;
    if (walk(r))
        complete(r);
}

/* Cancel every call still running; on a deadline they also time out. */
static void cancel_running(struct stage_run *r, bool timed_out)
{
    size_t i;

    for (i = 0; i < r->ncalls; i++) {
        struct check_call *c = r->calls[i];
        if (c->state != CALL_RUNNING)
            continue;
        c->state = CALL_CANCELLED;
        c->inst->def->cancel(c);
        check_call_orphan_jobs(c);
        if (timed_out)
            check_call_timed_out(r->s, c->inst, c->rcpts, c->nrcpts, r->stage);
    }
    r->running = 0;
}

/* The deadline: cancel what is still running, time out what never started. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct stage_run *r = arg;
    const struct engine_profile *p = r->s->p;
    size_t *rcpts, n;

    (void)fd;
    (void)what;
    cancel_running(r, true);
    for (; r->next < p->ninsts; r->next++) {
        if (!applies(r, &p->insts[r->next], &rcpts, &n))
            continue;
        check_call_timed_out(r->s, &p->insts[r->next], rcpts, n, r->stage);
        free(rcpts);
    }
    complete(r);
}

void stage_run_cancel(struct stage_run *r)
{
    if (r->fetch != NULL)
        user_cache_cancel(r->fetch);
    cancel_running(r, false);
    run_free(r);
}

/* ---- per-user settings ------------------------------------------------------------------- */

/* Settings are read, then the checks run. Returns true when the stage went on (the fetch
 * was answered from memory or not needed). */
static bool after_fetch(struct stage_run *r)
{
    struct engine_session *s = r->s;
    struct outage *o = s->e->env.outages;
    size_t i;

    if (r->nprefs > 0 && o != NULL) {
        if (r->prefs_unavailable)
            outage_down(o, "redis", "user_settings", "unavailable");
        else
            outage_up(o, "redis");
    }
    if (r->stage == STAGE_MAIL) {
        s->tx->sender_prefs_tried = true;
        s->tx->sender_prefs_unavailable = r->nprefs == 1 && r->prefs[0] == NULL;
        if (r->nprefs == 1 && r->prefs[0] != NULL)
            s->tx->sender_prefs = user_prefs_ref(r->prefs[0]);
    }
    if (r->stage == STAGE_RCPT)
        decide_rcpt_prepare(s, r);
    for (i = 0; i < r->nprefs; i++) {
        user_prefs_unref(r->prefs[i]);
        r->prefs[i] = NULL;
    }
    return walk(r);
}

static void on_prefs(void *arg, bool unavailable)
{
    struct stage_run *r = arg;

    r->fetch = NULL;
    r->prefs_unavailable = unavailable;
    if (after_fetch(r))
        complete(r);
}

/* Which addresses to read: RCPT the batch's served recipients (inbound); MAIL the
 * sender (submission). */
static size_t fetch_list(struct stage_run *r, const char ***addrs)
{
    struct engine_session *s = r->s;
    bool sub = engine_profile_submission(s->p);
    size_t i, n = 0;

    *addrs = NULL;
    if (s->e->users == NULL || !s->p->needs_settings || s->tx == NULL)
        return 0;
    if (r->stage == STAGE_MAIL && sub && s->tx->sender[0] != '\0' && !s->tx->sender_prefs_tried) {
        *addrs = xcalloc(1, sizeof(**addrs));
        r->prefs_for = xcalloc(1, sizeof(*r->prefs_for));
        (*addrs)[n++] = s->tx->sender;
        return n;
    }
    if (r->stage != STAGE_RCPT || sub)
        return 0;
    *addrs = xcalloc(s->tx->n, sizeof(**addrs));
    r->prefs_for = xcalloc(s->tx->n, sizeof(*r->prefs_for));
    for (i = 0; i < s->tx->n; i++) {
        const char *at = strrchr(s->tx->r[i].addr, '@');
        if (s->tx->r[i].state != RCPT_PENDING || s->tx->r[i].settings != NULL ||
            settings_domain_kind(s->e->settings, at ? at + 1 : NULL) == DOMAIN_OTHER)
            continue;
        r->prefs_for[n] = i;
        (*addrs)[n++] = s->tx->r[i].addr;
    }
    return n;
}

enum engine_status engine_run(struct engine_session *s, enum engine_stage stage,
                              engine_done_fn cb, void *arg)
{
    struct stage_run *r;
    const char **addrs;

    /* Before RCPT nothing is decided but by checks, and DATA without a check of its own
     * decides what RCPT did: a stage no check runs at is over at once (the hot path of
     * a profile with few checks allocates nothing for it). */
    if (s->run == NULL && !(s->p->stages & STAGE_BIT(stage)) &&
        (stage == STAGE_CONNECT || stage == STAGE_HELO || stage == STAGE_AUTH ||
         stage == STAGE_DATA)) {
        memset(&s->reply, 0, sizeof(s->reply));
        return ENGINE_DONE;
    }
    r = xcalloc(1, sizeof(*r));
    if (s->run != NULL) {
        /* one stage at a time: a session bug; never leave the old one dangling */
        log_error("policy", "stage %s started while %s runs (bug)", engine_stage_name(stage),
                  engine_stage_name(s->run->stage));
        stage_run_cancel(s->run);
    }
    memset(&s->reply, 0, sizeof(s->reply));
    r->s = s;
    r->stage = stage;
    r->cb = cb;
    r->arg = arg;
    r->started_ms = mono_ms();
    s->run = r;
    if (stage_has_rcpts(stage) && s->tx == NULL) {
        finish(r); /* no transaction: nothing to check (a session bug; keep calm) */
        return ENGINE_DONE;
    }
    r->nprefs = fetch_list(r, &addrs);
    if (r->nprefs > 0) {
        r->prefs = xcalloc(r->nprefs, sizeof(*r->prefs));
        r->fetch = user_cache_get(s->e->users, addrs, r->nprefs, r->prefs, on_prefs, r);
        free(addrs);
        if (r->fetch != NULL) {
            r->waited = true;
            return ENGINE_PENDING;
        }
    } else {
        free(addrs);
    }
    if (after_fetch(r)) {
        finish(r);
        return ENGINE_DONE;
    }
    r->waited = true;
    return ENGINE_PENDING;
}
