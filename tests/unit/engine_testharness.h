/*
 * engine_testharness.h - the policy engine as the unit tests drive it: build an engine
 * from a JSON config (policy_testconf.h's root: relay, domain_defaults, domains, policy)
 * over a test's env and store, and run a stage to its end on the test's loop. One copy
 * for test_engine.c and the tests of the checks (spam, virus, filetype, mail
 * authentication, DNS, Redis-backed, bulk, rules). Include after cmocka.h.
 */
#ifndef POSTERN_TESTS_ENGINE_TESTHARNESS_H
#define POSTERN_TESTS_ENGINE_TESTHARNESS_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>

#include "policy/engine.h"
#include "tests/unit/policy_testconf.h"

#define EH_SPINS 50000   /* loop turns a stage may take (a scan or a DNS answer: a few) */

/* The engine over json, loaded into *cfg (release it with pt_free after engine_free);
 * fails the test when the config is refused or a check cannot start. */
static inline struct engine *eh_engine_new(const char *json, struct pt_root *cfg,
                                           const struct engine_env *env,
                                           struct user_store *store)
{
    struct engine_inputs in;
    struct engine *e;
    char *msg = NULL;

    if (pt_load(json, cfg, &msg) != 0)
        fail_msg("config: %s", msg);
    free(msg);
    in = (struct engine_inputs){
        .conf = &cfg->policy, .domains = &cfg->domains,
        .domain_defaults = &cfg->domain_defaults,
        .local_domains = &cfg->relay.local_domains,
        .backup_domains = &cfg->relay.backup_domains,
    };
    e = engine_new(&in, env, store);
    assert_non_null(e);
    return e;
}

static inline void eh_on_done(void *arg)
{
    (*(int *)arg)++;
}

/* Run stage st of s to its end on base; true when it went asynchronous. Fails the test
 * unless the engine's callback ran exactly once (never when the stage was done at once). */
static inline bool eh_run(struct event_base *base, struct engine_session *s,
                          enum engine_stage st)
{
    int called = 0, spins;

    if (engine_run(s, st, eh_on_done, &called) == ENGINE_DONE) {
        assert_int_equal(called, 0);
        return false;
    }
    for (spins = 0; called == 0 && spins < EH_SPINS; spins++)
        event_base_loop(base, EVLOOP_ONCE);
    assert_int_equal(called, 1);
    return true;
}

#endif
