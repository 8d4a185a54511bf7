/*
 * check_test.h - test-only policy checks that emit chosen symbols and verdicts.
 *
 * Compiled only into test programs (the unit tests link the objects of tests/checks/;
 * phase 2 builds a test variant of the daemon with them): never part of the shipped
 * library. Four definitions share one implementation and differ only in their declaration, so tests
 * can see groups, bypass flags and unsure defaults at work:
 *   testrule   group 10, unsure defer,  postmaster@/abuse@ and whitelisted senders bypass it
 *   testsym    group 50, unsure accept, reads settings (user overrides are fetched)
 *   testpeer   group 50 too (runs beside testsym), unsure accept
 *   testlate   group 90, unsure accept
 * Settings (inside a profile's "checks": {"testsym": {...}}):
 *   stages       stages it acts at (["end"]); at other declared stages it does nothing
 *   emit         symbols for every recipient (or the session/transaction before RCPT):
 *                "TEST_A", or "TEST_SCORE*6.2" (a weight)
 *   emit_for     symbols for some recipients: "LOCALPART SYMBOL[*W]" ("bob TEST_C")
 *   delay        answer after this long (0: synchronously, inside run)
 *   hang         never answer (only the deadline or cancellation ends the call)
 *   worker       do the waiting on the check pool (a job that sleeps `delay`)
 *   verdict      a reply "550 5.7.1 text" given as a verdict, verdict_kind refuse | now |
 *                disconnect, to the recipient verdict_for (a local part) or all
 *   action       END: a disposition name (wrap, quarantine, discard ...) for all,
 *                with action_reason
 *   unsure       say "cannot decide" (symbol TEST_UNSURE) instead of the above
 *   fact         "KEY=VALUE": set a transaction fact; read_fact: KEY, recorded in the stats
 *   session_fact "KEY=VALUE": set a session fact
 *   emit_if      "KEY SYMBOL[*W]": the symbol for everyone when fact KEY is true or a
 *                non-empty string (facts the session gives: smtpd.early_talk, ...)
 * Symbols: TEST_A 1, TEST_B 2.5, TEST_C 4, TEST_POINT 0.1, TEST_SCORE 1, TEST_NEG -2,
 * TEST_UNSURE 0.
 */
#ifndef POSTERN_TESTS_CHECK_TEST_H
#define POSTERN_TESTS_CHECK_TEST_H

#include "policy/check_api.h"

extern const struct check_def check_testrule;
extern const struct check_def check_testsym;
extern const struct check_def check_testpeer;
extern const struct check_def check_testlate;

/* What the test checks did (reset with test_checks_reset). */
struct test_check_stats {
    unsigned inits, frees, runs, completions, cancels, jobs_freed;
    char fact_seen[128];        /* read_fact: the value seen, "" when absent */
    char order[256];            /* "testrule,testsym,..." in the order runs started */
    size_t last_nrcpt;          /* recipients the last run was about */
};
extern struct test_check_stats test_check_stats;

/* Register the four checks (once per program; later calls do nothing). */
void test_checks_register(void);
void test_checks_reset(void);

#endif
