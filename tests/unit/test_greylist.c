/*
 * test_greylist.c - unit tests of greylisting: the triplet's parts (client network,
 * sender normalization: BATV, SRS, +tags, VERP ids) and the check itself, driven through
 * the policy engine against a private redis-server: first contact deferred with the time
 * to wait, early retry deferred, a retry after the delay passes and stays passed, /24
 * grouping, the auto-allowlist, skips (authenticated, whitelisted, big senders by
 * confirmed rDNS, SPF pass, a domain without greylisting, postmaster@) and Redis down.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/redis.h"
#include "policy/engine.h"
#include "policy/greylist_admin.h"
#include "policy/greylist_key.h"
#include "policy/outage.h"
#include "policy/user_store.h"
#include "tests/unit/policy_testconf.h"
#include "tests/unit/redis_testserver.h"

/* ---- the triplet's parts ------------------------------------------------------------- */

static void senders_are_normalized_so_a_retry_is_the_same_triplet(void **state)
{
    static const char *const cases[][2] = {
        { "Alice@Example.ORG", "alice@example.org" },
        { "alice+news@example.org", "alice@example.org" },
        { "prvs=1234abcdef=alice@example.org", "alice@example.org" },
        { "PRVS=0042FFEE00=bob@example.org", "bob@example.org" },
        { "btv1==1234abcd==carol@example.org", "carol@example.org" },
        { "SRS0=HHH=TT=origin.test=dave@forwarder.test", "dave@origin.test" },
        { "SRS1=XXX=fwd1.test==HHH=TT=origin.test=erin@fwd2.test", "erin@origin.test" },
        { "bounce-12345-frank=example.net@lists.test", "bounce-#-frank=example.net@lists.test" },
        { "msprvs1=abc=x@example.org", "#=abc=x@example.org" },
        { "newsletter@example.org", "newsletter@example.org" },
        { "", "" },
        { "postmaster", "postmaster" },
    };
    char out[320];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        greylist_sender(cases[i][0], out, sizeof(out));
        assert_string_equal(out, cases[i][1]);
    }
    greylist_sender("someone@example.org", out, 5);
    assert_int_equal(strlen(out), 4);
}

static void clients_are_grouped_by_network(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(greylist_network("192.0.2.77", 24, 64, out, sizeof(out)), 0);
    assert_string_equal(out, "192.0.2.0/24");
    assert_int_equal(greylist_network("192.0.2.77", 32, 64, out, sizeof(out)), 0);
    assert_string_equal(out, "192.0.2.77/32");
    assert_int_equal(greylist_network("198.51.100.200", 20, 64, out, sizeof(out)), 0);
    assert_string_equal(out, "198.51.96.0/20");
    assert_int_equal(greylist_network("2001:db8:1:2:3:4:5:6", 24, 64, out, sizeof(out)), 0);
    assert_string_equal(out, "2001:db8:1:2::/64");
    assert_int_equal(greylist_network("2001:db8:1:2:3:4:5:6", 24, 48, out, sizeof(out)), 0);
    assert_string_equal(out, "2001:db8:1::/48");
    assert_int_equal(greylist_network("not-an-ip", 24, 64, out, sizeof(out)), -1);
}

/* ---- the check, through the engine ----------------------------------------------------- */

struct fx {
    struct redis_testserver srv;
    struct event_base *base;
    struct redis_conf rconf;
    struct redis *redis;
    struct outage *outages;
    struct user_store *store;
    struct pt_root cfg;
    struct engine *e;
    struct engine_session *s;
    int unavailable_events;
};

static struct fx *fx;

static void on_event(void *arg, const char *type, json_t *data)
{
    struct fx *f = arg;

    if (strcmp(type, "policy.check_unavailable") == 0)
        f->unavailable_events++;
    json_decref(data);
}

static void loop_ms(int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    event_base_loopexit(fx->base, &tv);
    event_base_dispatch(fx->base);
}

static int setup(void **state)
{
    int i;

    (void)state;
    fx = calloc(1, sizeof(*fx));
    if (redis_testserver_start(&fx->srv) != 0)
        return 0;   /* each test skips */
    fx->base = event_base_new();
    fx->rconf = (struct redis_conf){ .socket = fx->srv.sock, .timeout_ms = 500,
                                     .reconnect_min_ms = 50, .reconnect_max_ms = 200 };
    fx->redis = redis_new(fx->base, &fx->rconf, NULL, NULL);
    fx->outages = outage_new(on_event, fx);
    fx->store = user_store_memory_new(fx->base);
    for (i = 0; i < 200 && redis_state(fx->redis) != REDIS_STATE_UP; i++)
        loop_ms(10);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (fx->s)
        engine_session_free(fx->s);
    if (fx->e) {
        engine_free(fx->e);
        pt_free(&fx->cfg);
    }
    if (fx->store)
        user_store_free(fx->store);
    if (fx->outages)
        outage_free(fx->outages);
    if (fx->redis)
        redis_free(fx->redis);
    if (fx->base)
        event_base_free(fx->base);
    redis_testserver_stop(&fx->srv);
    free(fx);
    return 0;
}

#define NEED_REDIS()                                                                         \
    do {                                                                                     \
        if (fx->redis == NULL || redis_state(fx->redis) != REDIS_STATE_UP)                   \
            skip();                                                                          \
    } while (0)

/* The engine with a profile running only greylist (its settings: extra JSON). */
static void start(const char *greylist_settings)
{
    char *json = NULL, *msg = NULL;
    struct engine_env env = {
        .base = fx->base, .redis = fx->redis, .outages = fx->outages,
        .hostname = "mx.test", .event = on_event, .event_arg = fx,
    };
    struct engine_inputs in;

    assert_true(asprintf(&json,
        "{\"relay\": {\"local_domains\": [\"a.test\", \"plain.test\"],"
        "             \"backup_domains\": [\"b.test\"]},"
        " \"domains\": {\"a.test\": {\"greylisting\": true, \"whitelist\": [\"@friend.test\"]},"
        "               \"b.test\": {\"greylisting\": true}},"
        " \"policy\": {\"profiles\": {\"p\": {\"checks\": {\"greylist\": {%s}}}}}}",
        greylist_settings) > 0);
    if (pt_load(json, &fx->cfg, &msg) != 0)
        fail_msg("config: %s", msg);
    free(msg);
    free(json);
    in = (struct engine_inputs){
        .conf = &fx->cfg.policy, .domains = &fx->cfg.domains,
        .domain_defaults = &fx->cfg.domain_defaults,
        .local_domains = &fx->cfg.relay.local_domains,
        .backup_domains = &fx->cfg.relay.backup_domains,
    };
    fx->e = engine_new(&in, &env, fx->store);
    assert_non_null(fx->e);
}

static void on_done(void *arg)
{
    (*(int *)arg)++;
}

static void run(struct engine_session *s, enum engine_stage st)
{
    int called = 0, spins;

    if (engine_run(s, st, on_done, &called) == ENGINE_DONE)
        return;
    for (spins = 0; called == 0 && spins < 5000; spins++)
        event_base_loop(fx->base, EVLOOP_ONCE);
    assert_int_equal(called, 1);
}

/* One session from ip: MAIL from sender, RCPT rcpt. Returns the RCPT reply text ("" when
 * accepted) and, when accepted, whether the recipient has symbol `sym` (syms may be NULL). */
static const char *attempt(const char *ip, const char *login, const char *sender,
                           const char *rcpt, const char *sym, bool *has)
{
    static char text[300];
    const struct engine_reply *r;
    struct engine_session *s = engine_session_new(fx->e, engine_profile_find(fx->e, "p"),
                                                  "mx", ip);

    if (login != NULL)
        engine_session_set_login(s, login);
    engine_tx_begin(s, sender, "QID1");
    run(s, STAGE_MAIL);
    engine_rcpt_add(s, rcpt);
    run(s, STAGE_RCPT);
    r = engine_rcpt_reply(s, 0);
    if (r != NULL) {
        snprintf(text, sizeof(text), "%d %s %s", r->code, r->ecode, r->text);
        if (has != NULL) {
            json_t *syms = engine_refusal_symbols(s, 0);
            *has = sym != NULL && json_object_get(syms, sym) != NULL;
            json_decref(syms);
        }
    } else {
        text[0] = '\0';
        run(s, STAGE_DATA);
        run(s, STAGE_END);
        if (has != NULL) {
            const struct rcpt_result *res = engine_result(s, 0);
            size_t i;
            *has = false;
            for (i = 0; res != NULL && sym != NULL && i < res->nsyms; i++)
                *has |= strcmp(res->syms[i].name, sym) == 0;
        }
    }
    engine_session_free(s);
    return text;
}

static void first_contact_waits_then_the_retry_passes_for_good(void **state)
{
    bool has;

    (void)state;
    NEED_REDIS();
    start("\"delay\": \"1s\"");
    assert_string_equal(attempt("192.0.2.10", NULL, "s@sender.test", "u@a.test",
                                "GREYLIST_NEW", &has),
                        "451 4.7.1 Greylisted, try again in 1 seconds");
    assert_true(has);
    assert_string_equal(attempt("192.0.2.10", NULL, "s@sender.test", "u@a.test",
                                "GREYLIST_EARLY", &has),
                        "451 4.7.1 Greylisted, try again in 1 seconds");
    assert_true(has);
    loop_ms(1100);
    /* another address of the same /24, the sender with a new BATV tag */
    assert_string_equal(attempt("192.0.2.99", NULL, "prvs=0001abcdef=s@sender.test",
                                "u@a.test", "GREYLIST_PASSED", &has), "");
    assert_true(has);
    assert_string_equal(attempt("192.0.2.10", NULL, "s+x@sender.test", "u@a.test",
                                "GREYLIST_KNOWN", &has), "");
    assert_true(has);
    /* another network, another recipient, the backup domain: new triplets */
    assert_string_equal(attempt("198.51.100.1", NULL, "s@sender.test", "u@a.test", NULL, NULL),
                        "451 4.7.1 Greylisted, try again in 1 seconds");
    assert_string_equal(attempt("192.0.2.10", NULL, "s@sender.test", "v@b.test", NULL, NULL),
                        "451 4.7.1 Greylisted, try again in 1 seconds");
}

static void a_network_that_passed_often_is_allowlisted(void **state)
{
    char rcpt[32];
    bool has;
    int i;

    (void)state;
    NEED_REDIS();
    start("\"delay\": \"0\", \"awl_after\": 2");
    for (i = 0; i < 2; i++) {
        snprintf(rcpt, sizeof(rcpt), "u%d@a.test", i);
        assert_string_equal(attempt("203.0.113.5", NULL, "s@x.test", rcpt, NULL, NULL),
                            "451 4.7.1 Greylisted, try again in 1 seconds");
        assert_string_equal(attempt("203.0.113.5", NULL, "s@x.test", rcpt, "GREYLIST_PASSED",
                                    &has), "");
        assert_true(has);
    }
    assert_string_equal(attempt("203.0.113.6", NULL, "new@y.test", "fresh@a.test",
                                "GREYLIST_AWL", &has), "");
    assert_true(has);
}

static void skips_are_symbols_and_never_deferred(void **state)
{
    bool has;

    (void)state;
    NEED_REDIS();
    start("\"delay\": \"1h\"");
    assert_string_equal(attempt("192.0.2.20", "user@a.test", "user@a.test", "u@a.test",
                                "GREYLIST_SKIP_AUTH", &has), "");
    assert_true(has);
    assert_string_equal(attempt("192.0.2.20", NULL, "pal@friend.test", "u@a.test",
                                "GREYLIST_SKIP_WHITELIST", &has), "");
    assert_true(has);
    /* a domain without greylisting: nothing to say */
    assert_string_equal(attempt("192.0.2.20", NULL, "s@x.test", "u@plain.test",
                                "GREYLIST_NEW", &has), "");
    assert_false(has);
    /* postmaster@ is always reachable */
    assert_string_equal(attempt("192.0.2.20", NULL, "s@x.test", "postmaster@a.test", NULL,
                                NULL), "");
}

static void facts_of_earlier_checks_skip_big_senders(void **state)
{
    struct engine_session *s;
    const struct rcpt_result *res;
    size_t i;
    bool has = false;

    (void)state;
    NEED_REDIS();
    start("\"delay\": \"1h\"");
    s = engine_session_new(fx->e, engine_profile_find(fx->e, "p"), "mx", "192.0.2.30");
    engine_fact_set(s, FACT_SESSION, "rdns.name", json_string("mail-yw1-f170.Google.com."));
    engine_tx_begin(s, "s@x.test", "QID1");
    run(s, STAGE_MAIL);
    engine_rcpt_add(s, "u@a.test");
    run(s, STAGE_RCPT);
    assert_null(engine_rcpt_reply(s, 0));
    run(s, STAGE_DATA);
    run(s, STAGE_END);
    res = engine_result(s, 0);
    for (i = 0; i < res->nsyms; i++)
        has |= strcmp(res->syms[i].name, "GREYLIST_SKIP_RDNS") == 0;
    assert_true(has);
    engine_session_free(s);

    s = engine_session_new(fx->e, engine_profile_find(fx->e, "p"), "mx", "192.0.2.31");
    engine_fact_set(s, FACT_SESSION, "rdns.name", json_string("notgoogle.com.example"));
    engine_tx_begin(s, "s@outlook.com", "QID2");
    engine_fact_set(s, FACT_TX, "spf.result", json_string("pass"));
    engine_fact_set(s, FACT_TX, "spf.domain", json_string("outlook.com"));
    run(s, STAGE_MAIL);
    engine_rcpt_add(s, "u@a.test");
    run(s, STAGE_RCPT);
    assert_null(engine_rcpt_reply(s, 0));
    engine_session_free(s);
}

static void redis_down_lets_mail_through_and_alerts_once(void **state)
{
    bool has;

    (void)state;
    NEED_REDIS();
    start("\"delay\": \"1h\"");
    redis_testserver_stop(&fx->srv);
    user_store_memory_set_down(fx->store, true);   /* per-user settings live there too */
    loop_ms(100);
    assert_string_equal(attempt("192.0.2.40", NULL, "s@x.test", "u@a.test",
                                "GREYLIST_UNAVAILABLE", &has), "");
    assert_true(has);
    assert_string_equal(attempt("192.0.2.40", NULL, "s@x.test", "w@a.test", NULL, NULL), "");
    assert_int_equal(fx->unavailable_events, 1);
}

/* posternctl greylist show|allow|forget, on what the check wrote. */
static char *admin(const char *verb, const char *target)
{
    redisContext *c = redis_connect_blocking(&fx->rconf);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    assert_non_null(c);
    assert_int_equal(greylist_admin(c, verb, target, out), 0);
    fclose(out);
    redisFree(c);
    return text;
}

static void the_admin_sees_allows_and_forgets_a_network(void **state)
{
    char *text;
    bool has;

    (void)state;
    NEED_REDIS();
    start("\"delay\": \"1h\"");
    attempt("192.0.2.50", NULL, "s@x.test", "u@a.test", NULL, NULL);
    text = admin("show", "192.0.2.51");
    assert_non_null(strstr(text, "network 192.0.2.0/24 passes=0 allowed=no\n"));
    assert_non_null(strstr(text, "triplet <s@x.test> <u@a.test> waiting_since="));
    free(text);
    free(admin("allow", "192.0.2.0/24"));
    assert_string_equal(attempt("192.0.2.50", NULL, "s@x.test", "u@a.test",
                                "GREYLIST_ALLOWED", &has), "");
    assert_true(has);
    free(admin("forget", "192.0.2.7"));
    text = admin("show", "192.0.2.7");
    assert_string_equal(text, "network 192.0.2.0/24 passes=0 allowed=no\n");
    free(text);
    assert_string_equal(attempt("192.0.2.50", NULL, "s@x.test", "u@a.test", NULL, NULL),
                        "451 4.7.1 Greylisted, try again in 3600 seconds");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(senders_are_normalized_so_a_retry_is_the_same_triplet),
        cmocka_unit_test(clients_are_grouped_by_network),
        cmocka_unit_test_setup_teardown(first_contact_waits_then_the_retry_passes_for_good,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_network_that_passed_often_is_allowlisted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(skips_are_symbols_and_never_deferred, setup, teardown),
        cmocka_unit_test_setup_teardown(facts_of_earlier_checks_skip_big_senders, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(redis_down_lets_mail_through_and_alerts_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_admin_sees_allows_and_forgets_a_network, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
