/*
 * test_check_rules.c - the rule checks that moved out of relay/ (policy/checks/):
 * relay_access (served domains, trusted networks, logins, routing characters, the bare
 * postmaster), submission_auth (530 as the answer to MAIL; "auth": "optional") and
 * sender_owner (envelope sender at MAIL, the From: facts at END), driven through the
 * engine as the SMTP session drives it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_conf.h"
#include "auth/sender_owner.h"
#include "policy/engine.h"
#include "tests/unit/engine_testharness.h"

struct fx {
    struct event_base *base;
    struct pt_root cfg;
    struct auth_conf auth;
    struct auth_sender sender;
    char *addrs[1];
    struct engine *e;
    struct engine_session *s;
};

static struct fx *fx;

static int setup(void **state)
{
    (void)state;
    fx = calloc(1, sizeof(*fx));
    fx->base = event_base_new();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    engine_session_free(fx->s);
    engine_free(fx->e);
    pt_free(&fx->cfg);
    event_base_free(fx->base);
    free(fx);
    return 0;
}

/* An engine whose profile "p" runs checks (JSON), a session from ip. */
static void start(const char *direction, const char *checks, const char *ip)
{
    char *json = NULL;
    struct engine_env env = { .base = fx->base, .hostname = "mx.test" };

    assert_true(asprintf(&json,
        "{\"relay\": {\"local_domains\": [\"a.test\"], \"backup_domains\": [\"b.test\"],"
        "             \"trusted_networks\": [\"10.0.0.0/8\"]},"
        " \"domains\": {\"a.test\": {\"allow_routing_characters\": true}},"
        " \"policy\": {\"profiles\": {\"p\": {\"direction\": \"%s\", \"checks\": %s}}}}",
        direction, checks) > 0);
    /* alice owns alice@a.test only; header From: must match */
    fx->addrs[0] = "alice@a.test";
    fx->sender = (struct auth_sender){ .login = "alice",
                                       .addresses = { .v = fx->addrs, .n = 1 } };
    fx->auth.senders = (struct conf_array){ .items = &fx->sender, .n = 1 };
    fx->auth.header_from_must_match = true;
    env.relay = &fx->cfg.relay;
    env.domains = &fx->cfg.domains;
    env.domain_defaults = &fx->cfg.domain_defaults;
    env.auth = &fx->auth;
    fx->e = eh_engine_new(json, &fx->cfg, &env, NULL);
    free(json);
    fx->s = engine_session_new(fx->e, engine_profile_find(fx->e, "p"), "l", ip);
}

static const struct engine_reply *stage(enum engine_stage st)
{
    assert_int_equal(engine_run(fx->s, st, NULL, NULL), ENGINE_DONE); /* all synchronous */
    return engine_reply(fx->s);
}

/* The RCPT reply code of each address (0: accepted). */
static void rcpts(const char *const *addrs, const int *want)
{
    size_t i, first = 0, n;

    for (n = 0; addrs[n] != NULL; n++) {
        size_t k = engine_rcpt_add(fx->s, addrs[n]);
        if (n == 0)
            first = k;
    }
    stage(STAGE_RCPT);
    for (i = 0; i < n; i++) {
        const struct engine_reply *r = engine_rcpt_reply(fx->s, first + i);
        if ((r ? r->code : 0) != want[i])
            fail_msg("%s: %d, want %d", addrs[i], r ? r->code : 0, want[i]);
        if (r != NULL)
            assert_string_equal(r->reason, "relay");
    }
}

static void relay_access_refuses_other_domains_from_strangers(void **state)
{
    static const char *const a[] = { "x@a.test", "x@b.test", "x@c.test", "postmaster@a.test",
                                     "u%v@b.test", "u%v@a.test", NULL };
    static const int want[] = { 0, 0, 554, 0, 550, 0 };
    (void)state;
    start("inbound", "{\"relay_access\": {}}", "192.0.2.1");
    engine_tx_begin(fx->s, "s@else.test", "Q1");
    assert_null(stage(STAGE_MAIL));
    rcpts(a, want);
    assert_int_equal(engine_accepted(fx->s), 4);
}

static void relay_access_lets_trusted_and_logged_in_clients_relay(void **state)
{
    static const char *const a[] = { "x@c.test", NULL };
    static const int ok[] = { 0 };
    (void)state;
    start("inbound", "{\"relay_access\": {}}", "10.1.2.3");
    engine_tx_begin(fx->s, "s@else.test", "Q1");
    stage(STAGE_MAIL);
    rcpts(a, ok);
    engine_session_free(fx->s);
    fx->s = engine_session_new(fx->e, engine_profile_find(fx->e, "p"), "l", "192.0.2.1");
    engine_session_set_login(fx->s, "alice");
    engine_tx_begin(fx->s, "s@else.test", "Q2");
    stage(STAGE_MAIL);
    rcpts(a, ok);
}

static void submission_auth_answers_mail_with_530(void **state)
{
    const struct engine_reply *r;
    (void)state;
    start("submission", "{\"submission_auth\": {}, \"relay_access\": {}}", "192.0.2.1");
    engine_tx_begin(fx->s, "s@a.test", "Q1");
    r = stage(STAGE_MAIL);
    assert_non_null(r);
    assert_int_equal(r->code, 530);
    assert_string_equal(r->reason, "auth");
    /* a listener with "auth": "optional" */
    engine_fact_set(fx->s, FACT_SESSION, "smtpd.auth", json_string("optional"));
    engine_tx_begin(fx->s, "s@a.test", "Q2");
    assert_null(stage(STAGE_MAIL));
}

/* A transaction of alice's with the From: facts given; the END reply. */
static const struct engine_reply *end_with(long long count, const char *from)
{
    static const char *const a[] = { "x@c.test", NULL };
    static const int ok[] = { 0 };
    static struct engine_message m = { .fd = -1 };

    engine_tx_begin(fx->s, "alice@a.test", "Q3");
    assert_null(stage(STAGE_MAIL));
    rcpts(a, ok);
    engine_set_message(fx->s, &m);
    engine_fact_set(fx->s, FACT_TX, "message.from_count", json_integer(count));
    if (from != NULL)
        engine_fact_set(fx->s, FACT_TX, "message.from", json_string(from));
    return stage(STAGE_END);
}

static void sender_owner_checks_envelope_and_header_from(void **state)
{
    const struct engine_reply *r;
    (void)state;
    start("submission", "{\"sender_owner\": {}, \"relay_access\": {}}", "192.0.2.1");
    engine_session_set_login(fx->s, "alice");
    engine_tx_begin(fx->s, "bob@a.test", "Q1");
    r = stage(STAGE_MAIL);
    assert_non_null(r);
    assert_int_equal(r->code, 553);
    engine_tx_begin(fx->s, "", "Q2"); /* the null sender is fine */
    assert_null(stage(STAGE_MAIL));
    r = end_with(2, NULL);
    assert_non_null(r);
    assert_int_equal(r->code, 550);
    assert_non_null(strstr(r->text, "2 From: header fields"));
    r = end_with(1, "bob@a.test");
    assert_non_null(r);
    assert_non_null(strstr(r->text, "not an address owned by user alice"));
    r = end_with(0, NULL);
    assert_non_null(r);
    assert_null(end_with(1, "alice@a.test"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(relay_access_refuses_other_domains_from_strangers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(relay_access_lets_trusted_and_logged_in_clients_relay,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(submission_auth_answers_mail_with_530, setup, teardown),
        cmocka_unit_test_setup_teardown(sender_owner_checks_envelope_and_header_from, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
