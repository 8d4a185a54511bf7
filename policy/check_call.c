/*
 * check_call.c - the check-facing API (check_api.h): what a call reads of the session,
 * and where what it says is recorded (session, transaction or recipient, by stage).
 */
#include "policy/engine_int.h"

#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/smtp_replies.h"
#include "lib/xalloc.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const stage_names[STAGE_COUNT] = {
    "connect", "helo", "auth", "mail", "rcpt", "data", "end",
};

const char *engine_stage_name(enum engine_stage s)
{
    return (unsigned)s < STAGE_COUNT ? stage_names[s] : "?";
}

static struct engine_session *sess(const struct check_call *c)
{
    return c->run->s;
}

/* ---- reading ------------------------------------------------------------------------- */

const struct check_def *check_call_def(const struct check_call *c) { return c->inst->def; }
enum engine_stage check_call_stage(const struct check_call *c) { return c->run->stage; }
const struct engine_env *check_call_env(const struct check_call *c) { return &sess(c)->e->env; }
void *check_call_state(const struct check_call *c) { return c->inst->state; }
const void *check_call_settings(const struct check_call *c) { return c->inst->settings; }
void check_call_set_priv(struct check_call *c, void *priv) { c->priv = priv; }
void *check_call_priv(const struct check_call *c) { return c->priv; }
const char *check_call_listener(const struct check_call *c) { return sess(c)->listener; }
const char *check_call_client_ip(const struct check_call *c) { return sess(c)->ip; }
const char *check_call_client_name(const struct check_call *c) { return sess(c)->name; }
const char *check_call_helo(const struct check_call *c) { return sess(c)->helo; }
const char *check_call_login(const struct check_call *c) { return sess(c)->login; }
bool check_call_tls(const struct check_call *c) { return sess(c)->tls; }
size_t check_call_nrcpt(const struct check_call *c) { return c->nrcpts; }

bool check_call_submission(const struct check_call *c)
{
    return engine_profile_submission(sess(c)->p);
}

const char *check_call_sender(const struct check_call *c)
{
    return sess(c)->tx ? sess(c)->tx->sender : NULL;
}

const char *check_call_queue_id(const struct check_call *c)
{
    return sess(c)->tx ? sess(c)->tx->qid : NULL;
}

size_t check_call_accepted(const struct check_call *c)
{
    return engine_accepted(sess(c));
}

static struct eng_rcpt *rcpt_of(const struct check_call *c, size_t i)
{
    return i < c->nrcpts ? &sess(c)->tx->r[c->rcpts[i]] : NULL;
}

const char *check_call_rcpt(const struct check_call *c, size_t i)
{
    struct eng_rcpt *r = rcpt_of(c, i);

    return r ? r->addr : NULL;
}

const struct policy_settings *check_call_rcpt_settings(const struct check_call *c, size_t i)
{
    struct eng_rcpt *r = rcpt_of(c, i);

    return r ? r->settings : NULL;
}

double check_call_rcpt_score(const struct check_call *c, size_t i)
{
    struct eng_rcpt *r = rcpt_of(c, i);

    return r != NULL ? decide_rcpt_score(sess(c), r) : 0;
}

bool check_call_rcpt_whitelisted(const struct check_call *c, size_t i)
{
    struct eng_rcpt *r = rcpt_of(c, i);

    return r != NULL && r->listed == LISTED_WHITE;
}

const struct engine_message *check_call_message(const struct check_call *c)
{
    struct engine_tx *tx = sess(c)->tx;

    return c->run->stage == STAGE_END && tx && tx->has_msg ? &tx->msg : NULL;
}

json_t *check_fact(const struct check_call *c, const char *key)
{
    return engine_fact(sess(c), key);
}

/* ---- saying -------------------------------------------------------------------------- */

/* The scope of a stage without recipients. */
static struct scope *scope_of(struct check_call *c)
{
    struct engine_session *s = sess(c);

    if (c->run->stage == STAGE_MAIL && s->tx != NULL)
        return &s->tx->sc;
    return &s->sc;
}

static bool has_rcpts(const struct check_call *c)
{
    enum engine_stage st = c->run->stage;

    return st == STAGE_RCPT || st == STAGE_DATA || st == STAGE_END;
}

/* The recipients i designates: one, or all of the call's; empty for a bad index. */
static size_t pick(const struct check_call *c, ssize_t i, size_t *first)
{
    if (i == CHECK_ALL) {
        *first = 0;
        return c->nrcpts;
    }
    if (i < 0 || (size_t)i >= c->nrcpts) {
        log_error("policy", "check %s: recipient index %zd out of range (bug)",
                  c->inst->def->name, i);
        *first = 0;
        return 0;
    }
    *first = (size_t)i;
    return 1;
}

static const struct symbol *known_symbol(struct check_call *c, const char *name)
{
    const struct symbol *sym = symtab_find(sess(c)->e->symbols, name);

    if (sym == NULL)
        log_error("policy", "check %s: undeclared symbol %s ignored (bug)",
                  c->inst->def->name, name);
    return sym;
}

static void add_symbol(struct check_call *c, ssize_t i, const struct symbol *sym, double weight,
                       const char *text)
{
    size_t first, n, k;

    if (!has_rcpts(c)) {
        hits_add(&scope_of(c)->hits, sym, weight, text);
        return;
    }
    for (n = pick(c, i, &first), k = first; k < first + n; k++)
        hits_add(&rcpt_of(c, k)->hits, sym, weight, text);
}

void check_symbol(struct check_call *c, ssize_t i, const char *name, double weight,
                  const char *text)
{
    const struct symbol *sym;

    if (c->state != CALL_RUNNING)
        return;
    sym = known_symbol(c, name);
    if (sym != NULL)
        add_symbol(c, i, sym, weight, text);
}

/* A verdict for recipient k of the call. At RCPT it decides the recipient now. */
static void rcpt_verdict(struct check_call *c, size_t k, enum disposition d,
                         enum disposition mixed, const struct engine_reply *reply,
                         const char *why)
{
    struct eng_rcpt *r = rcpt_of(c, k);

    verdict_merge(&r->v, d, mixed, c->inst->def, reply, why);
    if (c->run->stage == STAGE_RCPT && r->v.disp >= DISP_DEFER)
        r->state = RCPT_REFUSED;
}

static void add_later(struct scope *sc, enum disposition d, const struct check_def *by,
                      const struct engine_reply *reply)
{
    sc->later = xrealloc(sc->later, (sc->nlater + 1) * sizeof(*sc->later));
    memset(&sc->later[sc->nlater], 0, sizeof(sc->later[0]));
    verdict_merge(&sc->later[sc->nlater++], d, by->mixed, by, reply, NULL);
}

static void verdict_v(struct check_call *c, ssize_t i, enum verdict_kind kind,
                      const char *reason, int code, const char *ecode, const char *fmt,
                      va_list ap) __attribute__((format(printf, 7, 0)));

static void verdict_v(struct check_call *c, ssize_t i, enum verdict_kind kind,
                      const char *reason, int code, const char *ecode, const char *fmt,
                      va_list ap)
{
    struct engine_session *s = sess(c);
    const struct check_def *d = c->inst->def;
    enum disposition disp = code >= 500 ? DISP_REFUSE : DISP_DEFER;
    struct engine_reply reply;
    size_t first, n, k;

    memset(&reply, 0, sizeof(reply));
    reply.code = code;
    snprintf(reply.ecode, sizeof(reply.ecode), "%s", ecode ? ecode : "");
    vsnprintf(reply.text, sizeof(reply.text), fmt, ap);
    reply.check = d->name;
    reply.reason = reason ? reason : d->reason ? d->reason : "other";
    reply.disconnect = kind == VERDICT_DISCONNECT;
    if (kind == VERDICT_DISCONNECT ||
        (kind == VERDICT_REFUSE_NOW && c->run->stage != STAGE_RCPT && c->run->stage != STAGE_END)) {
        if (s->reply.code == 0 || (reply.disconnect && !s->reply.disconnect))
            s->reply = reply;
        return;
    }
    if (!has_rcpts(c)) {
        add_later(scope_of(c), disp, d, &reply);
        return;
    }
    for (n = pick(c, i, &first), k = first; k < first + n; k++)
        rcpt_verdict(c, k, disp, d->mixed, &reply, NULL);
}

void check_verdict(struct check_call *c, ssize_t i, enum verdict_kind kind, int code,
                   const char *ecode, const char *fmt, ...)
{
    va_list ap;

    if (c->state != CALL_RUNNING)
        return;
    va_start(ap, fmt);
    verdict_v(c, i, kind, NULL, code, ecode, fmt, ap);
    va_end(ap);
}

void check_verdict_reason(struct check_call *c, ssize_t i, enum verdict_kind kind,
                          const char *reason, int code, const char *ecode, const char *fmt, ...)
{
    va_list ap;

    if (c->state != CALL_RUNNING)
        return;
    va_start(ap, fmt);
    verdict_v(c, i, kind, reason, code, ecode, fmt, ap);
    va_end(ap);
}

void check_disposition(struct check_call *c, ssize_t i, enum disposition d, const char *why)
{
    size_t first, n, k;

    if (c->state != CALL_RUNNING)
        return;
    if (!has_rcpts(c) || d == DISP_NONE || d >= DISP_DEFER) {
        log_error("policy", "check %s: disposition %s at %s ignored (bug)", c->inst->def->name,
                  disposition_name(d), engine_stage_name(c->run->stage));
        return;
    }
    for (n = pick(c, i, &first), k = first; k < first + n; k++)
        rcpt_verdict(c, k, d, DISP_NONE, NULL, why);
}

void check_unsure(struct check_call *c, ssize_t i, const char *symbol)
{
    struct scope *sc;
    size_t first, n, k;

    if (c->state != CALL_RUNNING)
        return;
    if (symbol != NULL)
        check_symbol(c, i, symbol, 1.0, NULL);
    if (!has_rcpts(c)) {
        sc = scope_of(c);
        sc->unsure = xrealloc(sc->unsure, (sc->nunsure + 1) * sizeof(*sc->unsure));
        sc->unsure[sc->nunsure++] = c->inst->def;
        return;
    }
    for (n = pick(c, i, &first), k = first; k < first + n; k++) {
        decide_unsure(sess(c), rcpt_of(c, k), c->inst->def);
        if (c->run->stage == STAGE_RCPT && rcpt_of(c, k)->v.disp >= DISP_DEFER)
            rcpt_of(c, k)->state = RCPT_REFUSED;
    }
}

static void push_header(char ***v, size_t *n, const char *name, const char *value)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = xasprintf("%s: %s", name, value);
}

void check_header(struct check_call *c, ssize_t i, const char *name, const char *value)
{
    size_t first, n, k;

    if (c->state != CALL_RUNNING)
        return;
    if (strpbrk(name, "\r\n: ") != NULL || strpbrk(value, "\r\n") != NULL || !has_rcpts(c)) {
        log_error("policy", "check %s: header field %s refused (bug)", c->inst->def->name, name);
        return;
    }
    for (n = pick(c, i, &first), k = first; k < first + n; k++)
        push_header(&rcpt_of(c, k)->headers, &rcpt_of(c, k)->nheaders, name, value);
}

void check_note(struct check_call *c, const char *text)
{
    struct engine_tx *tx = sess(c)->tx;

    if (c->state == CALL_RUNNING && tx != NULL)
        snprintf(tx->note, sizeof(tx->note), " %s", text);
}

void check_fact_set(struct check_call *c, enum fact_scope scope, const char *key, json_t *value)
{
    if (c->state != CALL_RUNNING) {
        json_decref(value);
        return;
    }
    engine_fact_set(sess(c), scope, key, value);
}

void check_event(struct check_call *c, const char *type, json_t *data)
{
    const struct engine_env *env = &sess(c)->e->env;

    if (env->event != NULL)
        env->event(env->event_arg, type, data);
    else
        json_decref(data);
}

void check_call_observe(const struct check_call *c)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    metrics_robserve(metrics_default(), M_CHECK_SECONDS,
                     (const char *const[]){ c->inst->def->name, NULL },
                     (double)(now.tv_sec - c->started.tv_sec) +
                         (double)(now.tv_nsec - c->started.tv_nsec) / 1e9);
}

void check_done(struct check_call *c)
{
    if (c->state != CALL_RUNNING)
        return; /* cancelled: the engine no longer waits (a check bug, but harmless) */
    check_call_observe(c);
    c->state = CALL_FINISHED;
    if (!c->in_run)
        stage_run_call_done(c->run);
}

/* ---- worker jobs ----------------------------------------------------------------------- */

struct check_job {
    struct check_call *call;       /* NULL once the call was cancelled */
    struct check_job *next;
    void *job;
    void (*work)(void *job);
    void (*done)(struct check_call *c, void *job);
    void (*job_free)(void *job);
};

static void job_work(void *arg)
{
    struct check_job *j = arg;

    j->work(j->job);
}

static void job_done(void *arg)
{
    struct check_job *j = arg, **p;
    struct check_call *c = j->call;

    if (c != NULL) {
        for (p = &c->jobs; *p != NULL; p = &(*p)->next)
            if (*p == j) {
                *p = j->next;
                break;
            }
        j->done(c, j->job);   /* may finish the stage and free c: not touched after */
    }
    j->job_free(j->job);
    free(j);
}

int check_work_submit(struct check_call *c, void *job, void (*work)(void *job),
                      void (*done)(struct check_call *c, void *job),
                      void (*job_free)(void *job))
{
    struct workpool *pool = sess(c)->e->env.check_pool;
    struct check_job *j = xcalloc(1, sizeof(*j));

    j->call = c;
    j->job = job;
    j->work = work;
    j->done = done;
    j->job_free = job_free;
    if (pool == NULL || workpool_try_submit(pool, job_work, job_done, j) < 0) {
        free(j);
        job_free(job);
        check_verdict(c, CHECK_ALL, VERDICT_REFUSE, R_POLICY_BUSY);
        return -1;
    }
    j->next = c->jobs;
    c->jobs = j;
    return 0;
}

/* ---- work on the message ----------------------------------------------------------- */

struct message_job {
    int fd;                         /* a duplicate of the queue file's descriptor */
    unsigned long long offset, size;
    bool read_ok;
    void *job;
    void (*work)(void *job, const char *msg, size_t len);
    void (*done)(struct check_call *c, void *job, bool read_ok);
    void (*job_free)(void *job);
};

static void message_work(void *arg)
{
    struct message_job *mj = arg;
    char *buf = malloc(mj->size + 1);
    size_t got = 0;

    if (buf != NULL) {
        got = pread_all(mj->fd, buf, (size_t)mj->size, mj->offset);
        buf[got] = '\0';
    }
    mj->read_ok = buf != NULL && (got > 0 || mj->size == 0);
    mj->work(mj->job, mj->read_ok ? buf : NULL, mj->read_ok ? got : 0);
    free(buf);
}

static void message_done(struct check_call *c, void *arg)
{
    struct message_job *mj = arg;

    mj->done(c, mj->job, mj->read_ok);
}

static void message_free(void *arg)
{
    struct message_job *mj = arg;

    if (mj->fd >= 0)
        close(mj->fd);
    mj->job_free(mj->job);
    free(mj);
}

enum call_status check_message_submit(struct check_call *c, unsigned long long max,
                                      void *job,
                                      void (*work)(void *job, const char *msg, size_t len),
                                      void (*done)(struct check_call *c, void *job,
                                                   bool read_ok),
                                      void (*job_free)(void *job))
{
    const struct engine_message *m = check_call_message(c);
    struct message_job *mj;

    if (m == NULL || m->fd < 0) {
        job_free(job);
        return CALL_DONE;
    }
    mj = xcalloc(1, sizeof(*mj));
    mj->fd = fcntl(m->fd, F_DUPFD_CLOEXEC, 0);
    mj->offset = m->offset;
    mj->size = m->size < max ? m->size : max;
    mj->job = job;
    mj->work = work;
    mj->done = done;
    mj->job_free = job_free;
    if (mj->fd < 0) {
        message_free(mj);
        check_unsure(c, CHECK_ALL, NULL);
        return CALL_DONE;
    }
    return check_work_submit(c, mj, message_work, message_done, message_free) == 0
               ? CALL_PENDING : CALL_DONE;
}

void check_call_orphan_jobs(struct check_call *c)
{
    struct check_job *j;

    for (j = c->jobs; j != NULL; j = j->next)
        j->call = NULL;
    c->jobs = NULL;
}

void check_call_free(struct check_call *c)
{
    check_call_orphan_jobs(c);
    free(c->rcpts);
    free(c);
}

void check_call_timed_out(struct engine_session *s, const struct check_inst *inst,
                          const size_t *rcpts, size_t nrcpts, enum engine_stage stage)
{
    struct scope *sc = stage == STAGE_MAIL && s->tx ? &s->tx->sc : &s->sc;
    size_t k;

    if (stage != STAGE_RCPT && stage != STAGE_DATA && stage != STAGE_END) {
        if (inst->timeout != NULL)
            hits_add(&sc->hits, inst->timeout, 1.0, NULL);
        sc->unsure = xrealloc(sc->unsure, (sc->nunsure + 1) * sizeof(*sc->unsure));
        sc->unsure[sc->nunsure++] = inst->def;
        return;
    }
    for (k = 0; k < nrcpts; k++) {
        struct eng_rcpt *r = &s->tx->r[rcpts[k]];
        if (inst->timeout != NULL)
            hits_add(&r->hits, inst->timeout, 1.0, NULL);
        decide_unsure(s, r, inst->def);
        if (stage == STAGE_RCPT && r->v.disp >= DISP_DEFER)
            r->state = RCPT_REFUSED;
    }
}
