/*
 * check_test.c - the test-only policy checks (see check_test.h). Also the worked example
 * of docs/policy.md: a complete check in one file, with settings, symbols, synchronous
 * and asynchronous answers, worker jobs and cancellation.
 */
#include "tests/checks/check_test.h"

#include "lib/xalloc.h"
#include "policy/check_registry.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct test_check_stats test_check_stats;

/* ---- settings ------------------------------------------------------------------------ */

static const char *const kind_names[] = { "refuse", "now", "disconnect", NULL };

struct test_settings {
    struct conf_strlist stages;
    struct conf_strlist emit;
    struct conf_strlist emit_for;
    long long delay_ms;
    bool hang;
    bool worker;
    char *verdict;
    int verdict_kind;
    char *verdict_for;
    char *action;
    char *action_reason;
    bool unsure;
    char *fact;
    char *session_fact;
    char *read_fact;
    struct conf_strlist emit_if;
};

#define TS(f) offsetof(struct test_settings, f)
static const struct conf_key test_keys[] = {
    { .name = "stages", .type = CONF_STRLIST, .offset = TS(stages), .def = "[\"end\"]",
      .help = "stages the test check acts at" },
    { .name = "emit", .type = CONF_STRLIST, .offset = TS(emit),
      .help = "symbols for everyone: NAME or NAME*WEIGHT" },
    { .name = "emit_for", .type = CONF_STRLIST, .offset = TS(emit_for),
      .help = "symbols for some recipients: \"LOCALPART NAME[*WEIGHT]\"" },
    { .name = "delay", .type = CONF_DURATION, .offset = TS(delay_ms), .def = "0",
      .min = 0, .max = 60000, .help = "answer after this long" },
    { .name = "hang", .type = CONF_BOOL, .offset = TS(hang), .def = "false",
      .help = "never answer" },
    { .name = "worker", .type = CONF_BOOL, .offset = TS(worker), .def = "false",
      .help = "wait on the check pool" },
    { .name = "verdict", .type = CONF_STRING, .offset = TS(verdict),
      .help = "a reply given as a verdict: \"550 5.7.1 text\"" },
    { .name = "verdict_kind", .type = CONF_ENUM, .offset = TS(verdict_kind), .def = "refuse",
      .choices = kind_names, .help = "refuse, now or disconnect" },
    { .name = "verdict_for", .type = CONF_STRING, .offset = TS(verdict_for),
      .help = "the local part the verdict is for (null: all)" },
    { .name = "action", .type = CONF_STRING, .offset = TS(action),
      .help = "END: a disposition for all recipients" },
    { .name = "action_reason", .type = CONF_STRING, .offset = TS(action_reason),
      .help = "the reason kept with the action" },
    { .name = "unsure", .type = CONF_BOOL, .offset = TS(unsure), .def = "false",
      .help = "cannot decide" },
    { .name = "fact", .type = CONF_STRING, .offset = TS(fact),
      .help = "KEY=VALUE: a transaction fact to set" },
    { .name = "read_fact", .type = CONF_STRING, .offset = TS(read_fact),
      .help = "a fact to read into the stats" },
    { .name = "session_fact", .type = CONF_STRING, .offset = TS(session_fact),
      .help = "KEY=VALUE: a session fact to set" },
    { .name = "emit_if", .type = CONF_STRLIST, .offset = TS(emit_if),
      .help = "\"KEY NAME[*WEIGHT]\": the symbol for everyone when fact KEY is true or a "
              "non-empty string" },
    { .name = NULL }
};
static const struct conf_section test_section = { .name = "test check", .keys = test_keys };

static const struct symbol_def test_symbols[] = {
    { "TEST_A", 1.0, "test symbol worth 1" },
    { "TEST_B", 2.5, "test symbol worth 2.5" },
    { "TEST_C", 4.0, "test symbol worth 4" },
    { "TEST_POINT", 0.1, "test symbol worth 0.1" },
    { "TEST_SCORE", 1.0, "test symbol used with a weight" },
    { "TEST_NEG", -2.0, "test symbol worth -2" },
    { "TEST_UNSURE", 0, "the test check could not decide" },
    { NULL, 0, NULL }
};

/* ---- instance and call state ----------------------------------------------------------- */

struct test_state {
    const struct engine_env *env;
};

struct test_wait {
    struct event *timer;
};

static int test_init(const struct engine_env *env, const void *settings, void **state)
{
    struct test_state *st = xcalloc(1, sizeof(*st));

    (void)settings;
    st->env = env;
    *state = st;
    test_check_stats.inits++;
    return 0;
}

static void test_free(void *state)
{
    free(state);
    test_check_stats.frees++;
}

/* ---- what it says ---------------------------------------------------------------------- */

/* "NAME" or "NAME*W" */
static void emit_one(struct check_call *c, ssize_t i, const char *spec)
{
    char name[80];
    const char *star = strchr(spec, '*');
    size_t n = star ? (size_t)(star - spec) : strlen(spec);

    snprintf(name, sizeof(name), "%.*s", (int)n, spec);
    check_symbol(c, i, name, star ? strtod(star + 1, NULL) : 1.0, "test");
}

/* The call's recipient whose local part (or address) is who, or -1. */
static ssize_t rcpt_named(const struct check_call *c, const char *who)
{
    size_t i, n = strlen(who);

    for (i = 0; i < check_call_nrcpt(c); i++) {
        const char *a = check_call_rcpt(c, i);
        if (strcmp(a, who) == 0 || (strncmp(a, who, n) == 0 && a[n] == '@'))
            return (ssize_t)i;
    }
    return -1;
}

static void say_verdict(struct check_call *c, const struct test_settings *ts)
{
    static const enum verdict_kind kinds[] = { VERDICT_REFUSE, VERDICT_REFUSE_NOW,
                                               VERDICT_DISCONNECT };
    char ecode[16] = "";
    int code = 0, off = 0;
    ssize_t i = CHECK_ALL;

    if (sscanf(ts->verdict, "%d %15s %n", &code, ecode, &off) < 2)
        return;
    if (ts->verdict_for != NULL && (i = rcpt_named(c, ts->verdict_for)) < 0)
        return;
    check_verdict(c, i, kinds[ts->verdict_kind], code, ecode, "%s", ts->verdict + off);
}

static void act(struct check_call *c)
{
    const struct test_settings *ts = check_call_settings(c);
    json_t *seen;
    size_t k;

    if (ts->read_fact != NULL) {
        seen = check_fact(c, ts->read_fact);
        snprintf(test_check_stats.fact_seen, sizeof(test_check_stats.fact_seen), "%s",
                 json_is_string(seen) ? json_string_value(seen) : "");
    }
    if (ts->unsure) {
        check_unsure(c, CHECK_ALL, "TEST_UNSURE");
        return;
    }
    for (k = 0; k < ts->emit.n; k++)
        emit_one(c, CHECK_ALL, ts->emit.v[k]);
    for (k = 0; k < ts->emit_for.n; k++) {
        const char *sp = strchr(ts->emit_for.v[k], ' ');
        char who[128];
        ssize_t i;
        if (sp == NULL)
            continue;
        snprintf(who, sizeof(who), "%.*s", (int)(sp - ts->emit_for.v[k]), ts->emit_for.v[k]);
        if ((i = rcpt_named(c, who)) >= 0)
            emit_one(c, i, sp + 1);
    }
    if (ts->verdict != NULL)
        say_verdict(c, ts);
    if (ts->action != NULL)
        check_disposition(c, CHECK_ALL, disposition_from_name(ts->action), ts->action_reason);
    for (k = 0; k < ts->emit_if.n; k++) {
        const char *sp = strchr(ts->emit_if.v[k], ' ');
        char key[64];
        json_t *f;
        if (sp == NULL)
            continue;
        snprintf(key, sizeof(key), "%.*s", (int)(sp - ts->emit_if.v[k]), ts->emit_if.v[k]);
        f = check_fact(c, key);
        if (json_is_true(f) || (json_is_string(f) && json_string_length(f) > 0))
            emit_one(c, CHECK_ALL, sp + 1);
    }
    if (ts->session_fact != NULL && strchr(ts->session_fact, '=') != NULL) {
        char key[64];
        const char *eq = strchr(ts->session_fact, '=');
        snprintf(key, sizeof(key), "%.*s", (int)(eq - ts->session_fact), ts->session_fact);
        check_fact_set(c, FACT_SESSION, key, json_string(eq + 1));
    }
    if (ts->fact != NULL && strchr(ts->fact, '=') != NULL) {
        char key[64];
        const char *eq = strchr(ts->fact, '=');
        snprintf(key, sizeof(key), "%.*s", (int)(eq - ts->fact), ts->fact);
        check_fact_set(c, FACT_TX, key, json_string(eq + 1));
    }
}

/* ---- run, waiting, cancel ------------------------------------------------------------ */

static bool acts_at(const struct test_settings *ts, enum engine_stage st)
{
    size_t i;

    for (i = 0; i < ts->stages.n; i++)
        if (strcmp(ts->stages.v[i], engine_stage_name(st)) == 0)
            return true;
    return false;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct check_call *c = arg;
    struct test_wait *w = check_call_priv(c);

    (void)fd;
    (void)what;
    event_free(w->timer);
    free(w);
    check_call_set_priv(c, NULL);
    act(c);
    test_check_stats.completions++;
    check_done(c);
}

/* The worker job: sleep, on a worker thread. */
struct test_job {
    long long delay_ms;
};

static void job_work(void *job)
{
    usleep((useconds_t)(((struct test_job *)job)->delay_ms * 1000));
}

static void job_done(struct check_call *c, void *job)
{
    (void)job;
    act(c);
    test_check_stats.completions++;
    check_done(c);
}

static void job_free(void *job)
{
    free(job);
    test_check_stats.jobs_freed++;
}

static enum call_status test_run(struct check_call *c)
{
    const struct test_settings *ts = check_call_settings(c);
    const struct test_state *st = check_call_state(c);
    struct test_wait *w;
    size_t len = strlen(test_check_stats.order);

    if (!acts_at(ts, check_call_stage(c)))
        return CALL_DONE;
    test_check_stats.runs++;
    test_check_stats.last_nrcpt = check_call_nrcpt(c);
    snprintf(test_check_stats.order + len, sizeof(test_check_stats.order) - len, "%s%s",
             len ? "," : "", check_call_def(c)->name);
    if (ts->worker) {
        struct test_job *j = xcalloc(1, sizeof(*j));
        j->delay_ms = ts->delay_ms;
        return check_work_submit(c, j, job_work, job_done, job_free) == 0 ? CALL_PENDING
                                                                          : CALL_DONE;
    }
    if (!ts->hang && ts->delay_ms == 0) {
        act(c);
        return CALL_DONE;
    }
    w = xcalloc(1, sizeof(*w));
    check_call_set_priv(c, w);
    if (!ts->hang) {
        struct timeval tv = { ts->delay_ms / 1000, (ts->delay_ms % 1000) * 1000 };
        w->timer = evtimer_new(st->env->base, on_timer, c);
        evtimer_add(w->timer, &tv);
    }
    return CALL_PENDING;
}

static void test_cancel(struct check_call *c)
{
    struct test_wait *w = check_call_priv(c);

    test_check_stats.cancels++;
    if (w != NULL) {
        if (w->timer != NULL)
            event_free(w->timer);
        free(w);
        check_call_set_priv(c, NULL);
    }
}

#define TEST_CHECK(NAME, GROUP, FLAGS, UNSURE)                                                \
    {                                                                                        \
        .name = NAME, .description = "test check " NAME, .stages = STAGES_ALL,               \
        .directions = DIR_ALL, .group = GROUP, .async = true, .flags = FLAGS,                \
        .unsure = UNSURE, .reason = "test", .symbols = test_symbols,                         \
        .settings = &test_section, .settings_size = sizeof(struct test_settings),            \
        .init = test_init, .free = test_free, .run = test_run, .cancel = test_cancel,        \
    }

const struct check_def check_testrule =
    TEST_CHECK("testrule", 10, CHECK_ROLE_BYPASS | CHECK_WHITELIST_BYPASS, UNSURE_DEFER);
const struct check_def check_testsym = TEST_CHECK("testsym", 50, CHECK_USES_SETTINGS,
                                                  UNSURE_ACCEPT);
const struct check_def check_testpeer = TEST_CHECK("testpeer", 50, 0, UNSURE_ACCEPT);
const struct check_def check_testlate = TEST_CHECK("testlate", 90, 0, UNSURE_ACCEPT);

void test_checks_register(void)
{
    if (check_registry_find("testsym") != NULL)
        return;
    check_registry_add(&check_testrule);
    check_registry_add(&check_testsym);
    check_registry_add(&check_testpeer);
    check_registry_add(&check_testlate);
}

void test_checks_reset(void)
{
    memset(&test_check_stats, 0, sizeof(test_check_stats));
}
