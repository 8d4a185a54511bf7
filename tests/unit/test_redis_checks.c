/*
 * test_redis_checks.c - unit tests of the checks that keep their state in Redis, driven
 * through the policy engine against a private redis-server.
 *   greylist: the triplet's parts (client network, sender normalization: BATV, SRS,
 *     +tags, VERP ids); first contact deferred with the time to wait, early retry
 *     deferred, a retry after the delay passes and stays passed, /24 grouping, the
 *     auto-allowlist, skips (authenticated, whitelisted, big senders by confirmed rDNS,
 *     SPF pass, a domain without greylisting, postmaster@), Redis down, posternctl.
 *   rcpt_verify: static lists, learned senders, unsure answers, the harvest guard.
 *   backscatter: submitted Message-IDs remembered; bounces that quote one pass, others
 *     are refused and counted; a client past the limit gets its bounces refused at RCPT.
 *   newsletter + account: bulk rules, VERP addresses, bounce and complaint intake, the
 *     suppression list, sender health suspending a login, posternctl account/suppress.
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
#include "lib/workpool.h"
#include "policy/engine.h"
#include "policy/account_breaker.h"
#include "policy/bounce_refs.h"
#include "policy/greylist_admin.h"
#include "policy/greylist_key.h"
#include "policy/outage.h"
#include "policy/report_parse.h"
#include "policy/verp.h"
#include "policy/suppress_admin.h"
#include "policy/user_store.h"
#include "tests/unit/engine_testharness.h"
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

static void a_bounce_is_known_by_its_header_and_quotes_ids(void **state)
{
    static const char head_dsn[] = "From: x\r\nContent-Type: Multipart/Report;\r\n"
                                   " report-type=delivery-status\r\n\r\n";
    static const char head_no[] = "Auto-Submitted: no\r\nSubject: x\r\n\r\n";
    static const char head_auto[] = "Auto-Submitted: auto-generated\r\n\r\n";
    static const char msg[] =
        "Message-ID: <own@x.test>\r\nReferences: <a@b.test>\r\n <c@d.test> <a@b.test>\r\n"
        "In-Reply-To: <no-at-sign>\r\n\r\nbody\r\nMESSAGE-ID: <e@f.test>\r\n"
        "X-Message-ID: <g@h.test>\r\n";
    char ids[BOUNCE_IDS_MAX][BOUNCE_ID_MAX + 1], own[BOUNCE_ID_MAX + 1];

    (void)state;
    assert_true(bounce_header_is_auto(head_dsn, strlen(head_dsn)));
    assert_false(bounce_header_is_auto(head_no, strlen(head_no)));
    assert_true(bounce_header_is_auto(head_auto, strlen(head_auto)));
    assert_int_equal(bounce_quoted_ids(msg, strlen(msg), ids, BOUNCE_IDS_MAX), 3);
    assert_string_equal(ids[0], "<a@b.test>");
    assert_string_equal(ids[1], "<c@d.test>");
    assert_string_equal(ids[2], "<e@f.test>");
    assert_int_equal(bounce_quoted_ids(msg, strlen(msg), ids, 1), 1);
    assert_true(bounce_own_id(msg, strlen(msg), own));
    assert_string_equal(own, "<own@x.test>");
    assert_false(bounce_own_id(head_no, strlen(head_no), own));
}

static void reports_are_classified_and_tokens_are_signed(void **state)
{
    static const char soft[] = "Action: delayed\r\nStatus: 4.4.1\r\n";
    static const char hard[] = "Final-Recipient: rfc822; x@y\r\nAction: failed\r\n"
                               "Status: 5.1.1 (no such user)\r\nDiagnostic-Code: smtp; 550 no\r\n";
    static const char arf[] = "Content-Type: multipart/report; report-type=feedback-report\r\n";
    static const char none[] = "I could not deliver your mail.\r\n";
    struct report r;
    char tok[VERP_TOKEN_LEN + 1], local[64], out[VERP_TOKEN_LEN + 1];

    (void)state;
    report_parse(soft, strlen(soft), &r);
    assert_int_equal(r.kind, REPORT_SOFT);
    report_parse(hard, strlen(hard), &r);
    assert_int_equal(r.kind, REPORT_HARD);
    assert_string_equal(r.status, "5.1.1");
    assert_string_equal(r.diagnostic, "smtp; 550 no");
    report_parse(arf, strlen(arf), &r);
    assert_int_equal(r.kind, REPORT_COMPLAINT);
    report_parse(none, strlen(none), &r);
    assert_int_equal(r.kind, REPORT_SOFT);
    verp_token_new("k1-0123456789abcdef", tok);
    assert_int_equal(strlen(tok), VERP_TOKEN_LEN);
    snprintf(local, sizeof(local), "BOUNCES+%s", tok);
    assert_true(verp_token_check("k1-0123456789abcdef", local, out));
    assert_string_equal(out, tok);
    assert_false(verp_token_check("k2-0123456789abcdef", local, out));
    local[20] = local[20] == 'a' ? 'b' : 'a';
    assert_false(verp_token_check("k1-0123456789abcdef", local, out));
    assert_false(verp_token_check("k1-0123456789abcdef", "bounces+short", out));
}

/* ---- the check, through the engine ----------------------------------------------------- */

struct fx {
    struct redis_testserver srv;
    struct event_base *base;
    struct redis_conf rconf;
    struct redis *redis;
    struct outage *outages;
    struct workpool *pool;
    struct user_store *store;
    struct pt_root cfg;
    struct engine *e;
    struct engine_session *s;
    int unavailable_events;
    int blocked_events;
    int bounced_events, complained_events, suspended_events;
    char last_bounce[200];
};

static struct fx *fx;

static void on_event(void *arg, const char *type, json_t *data)
{
    struct fx *f = arg;

    if (strcmp(type, "policy.check_unavailable") == 0)
        f->unavailable_events++;
    if (strcmp(type, "backscatter.blocked") == 0)
        f->blocked_events++;
    if (strcmp(type, "account.suspended") == 0)
        f->suspended_events++;
    if (strcmp(type, "recipient.bounced") == 0 || strcmp(type, "recipient.complained") == 0) {
        *(type[10] == 'b' ? &f->bounced_events : &f->complained_events) += 1;
        snprintf(f->last_bounce, sizeof(f->last_bounce), "%s %s %s %s",
                 json_string_value(json_object_get(data, "login")),
                 json_string_value(json_object_get(data, "recipient")),
                 json_string_value(json_object_get(data, "type")),
                 json_string_value(json_object_get(data, "status")));
    }
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
    fx->pool = workpool_new_bounded(fx->base, 1, 4);
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
    if (fx->pool)
        workpool_free(fx->pool);
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

/* The engine with profiles "p" (inbound) and "sub" (submission) whose checks are given
 * (JSON object members). */
static void start_profiles(const char *checks, const char *sub_checks)
{
    char *json = NULL;
    struct engine_env env = {
        .base = fx->base, .redis = fx->redis, .outages = fx->outages,
        .check_pool = fx->pool, .hostname = "mx.test", .event = on_event, .event_arg = fx,
    };

    assert_true(asprintf(&json,
        "{\"relay\": {\"local_domains\": [\"a.test\", \"plain.test\", \"bounce.a.test\"],"
        "             \"backup_domains\": [\"b.test\"]},"
        " \"domains\": {\"a.test\": {\"greylisting\": true, \"whitelist\": [\"@friend.test\"],"
        "                             \"recipients_file\": \"%s/a.list\","
        "                             \"backscatter_protection\": true},"
        "               \"b.test\": {\"greylisting\": true, \"greylist_delay\": \"3s\","
        "                          \"recipients_learned\": true},"
        "               \"plain.test\": {\"recipients_learned\": true,"
        "                              \"recipients_unsure\": \"accept\"}},"
        " \"policy\": {\"profiles\": {\"p\": {\"checks\": {%s}},"
        "                           \"sub\": {\"direction\": \"submission\","
        "                                     \"checks\": {%s}}}}}",
        fx->srv.dir, checks, sub_checks) > 0);
    fx->e = eh_engine_new(json, &fx->cfg, &env, fx->store);
    free(json);
}

static void start_checks(const char *checks)
{
    start_profiles(checks, "\"rcpt_verify\": {}, \"backscatter\": {}");
}

/* Only greylist, with these settings. */
static void start(const char *greylist_settings)
{
    char *checks = NULL;

    assert_true(asprintf(&checks, "\"greylist\": {%s}", greylist_settings) > 0);
    start_checks(checks);
    free(checks);
}

static void run(struct engine_session *s, enum engine_stage st)
{
    eh_run(fx->base, s, st);
}

/* One session from ip: MAIL from sender, RCPT rcpt. Returns the RCPT reply text ("" when
 * accepted) and, when accepted, whether the recipient has symbol `sym` (syms may be NULL). */
static const char *attempt_on(const char *profile, const char *ip, const char *login,
                              const char *sender, const char *rcpt, const char *sym, bool *has)
{
    static char text[300];
    const struct engine_reply *r;
    struct engine_session *s = engine_session_new(fx->e, engine_profile_find(fx->e, profile),
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

static const char *attempt(const char *ip, const char *login, const char *sender,
                           const char *rcpt, const char *sym, bool *has)
{
    return attempt_on("p", ip, login, sender, rcpt, sym, has);
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
    /* another network, another recipient, the backup domain (its own delay): new triplets */
    assert_string_equal(attempt("198.51.100.1", NULL, "s@sender.test", "u@a.test", NULL, NULL),
                        "451 4.7.1 Greylisted, try again in 1 seconds");
    assert_string_equal(attempt("192.0.2.10", NULL, "s@sender.test", "v@b.test", NULL, NULL),
                        "451 4.7.1 Greylisted, try again in 3 seconds");
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

/* ---- recipient verification ---------------------------------------------------------- */

static void write_list(const char *text)
{
    char path[160];
    FILE *f;

    snprintf(path, sizeof(path), "%s/a.list", fx->srv.dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void a_static_list_refuses_unknown_recipients(void **state)
{
    bool has;

    (void)state;
    NEED_REDIS();
    write_list("# users of a.test\nalice\nBob@A.test  # comment\n\nnot valid <x>\n");
    start_checks("\"rcpt_verify\": {}");
    assert_string_equal(attempt("192.0.2.60", NULL, "s@x.test", "alice@a.test",
                                "RCPT_VERIFIED", &has), "");
    assert_true(has);
    assert_string_equal(attempt("192.0.2.60", NULL, "s@x.test", "bob+tag@a.test", NULL, NULL),
                        "");
    assert_string_equal(attempt("192.0.2.60", NULL, "s@x.test", "carol@a.test",
                                "RCPT_UNKNOWN", &has),
                        "550 5.1.1 <carol@a.test>: Recipient address rejected: User unknown");
    assert_true(has);
    /* postmaster@ is always reachable; a domain without a source is not verified */
    assert_string_equal(attempt("192.0.2.60", NULL, "s@x.test", "postmaster@a.test", NULL,
                                NULL), "");
    assert_string_equal(attempt("192.0.2.60", NULL, "s@x.test", "anyone@other.test", NULL,
                                NULL), "");
}

static void submitted_senders_become_known_recipients(void **state)
{
    bool has;

    (void)state;
    NEED_REDIS();
    write_list("alice\n");
    start_checks("\"rcpt_verify\": {}");
    /* not learned yet: unsure, and b.test defers while plain.test accepts */
    assert_string_equal(attempt("192.0.2.61", NULL, "s@x.test", "dan@b.test",
                                "RCPT_UNVERIFIED", &has),
                        "450 4.1.1 <dan@b.test>: Recipient address rejected: cannot verify "
                        "the address now, try again later");
    assert_true(has);
    assert_string_equal(attempt("192.0.2.61", NULL, "s@x.test", "eve@plain.test", NULL, NULL),
                        "");
    /* dan@b.test sends a message through submission */
    assert_string_equal(attempt_on("sub", "192.0.2.62", "dan@b.test", "dan@b.test",
                                   "x@far.test", NULL, NULL), "");
    loop_ms(50);
    assert_string_equal(attempt("192.0.2.61", NULL, "s@x.test", "Dan@b.test",
                                "RCPT_VERIFIED", &has), "");
    assert_true(has);
}

static void a_harvester_is_disconnected(void **state)
{
    struct engine_session *s;
    const struct engine_reply *r;
    char rcpt[32];
    int i;

    (void)state;
    NEED_REDIS();
    write_list("alice\n");
    start_checks("\"rcpt_verify\": {\"harvest_limit\": 3}");
    s = engine_session_new(fx->e, engine_profile_find(fx->e, "p"), "mx", "192.0.2.63");
    engine_tx_begin(s, "s@x.test", "QID1");
    run(s, STAGE_MAIL);
    for (i = 0; i < 3; i++) {
        snprintf(rcpt, sizeof(rcpt), "guess%d@a.test", i);
        engine_rcpt_add(s, rcpt);
    }
    run(s, STAGE_RCPT);
    assert_null(engine_reply(s));   /* three: at the limit, not past it */
    engine_rcpt_add(s, "guess3@a.test");
    run(s, STAGE_RCPT);
    r = engine_reply(s);
    assert_non_null(r);
    assert_true(r->disconnect);
    assert_int_equal(r->code, 421);
    assert_string_equal(r->text, "mx.test Error: too many unknown recipients, closing connection");
    engine_session_free(s);
}

/* ---- backscatter --------------------------------------------------------------------- */

/* A whole transaction with a message: "" when accepted (then *has: symbol sym seen), else
 * the reply (RCPT's or END's). */
static const char *deliver(const char *profile, const char *ip, const char *login,
                           const char *sender, const char *rcpt, const char *msg,
                           const char *sym, bool *has)
{
    static char text[300];
    char path[160];
    const struct engine_reply *r;
    struct engine_message m;
    const char *eoh = strstr(msg, "\r\n\r\n");
    struct engine_session *s = engine_session_new(fx->e, engine_profile_find(fx->e, profile),
                                                  "mx", ip);
    FILE *f;
    size_t i;

    snprintf(path, sizeof(path), "%s/msg", fx->srv.dir);
    f = fopen(path, "w+");
    assert_non_null(f);
    fputs(msg, f);
    fflush(f);
    if (login != NULL)
        engine_session_set_login(s, login);
    engine_tx_begin(s, sender, "QID1");
    run(s, STAGE_MAIL);
    engine_rcpt_add(s, rcpt);
    run(s, STAGE_RCPT);
    text[0] = '\0';
    if ((r = engine_rcpt_reply(s, 0)) == NULL) {
        run(s, STAGE_DATA);
        m = (struct engine_message){ .fd = fileno(f), .offset = 0, .size = strlen(msg),
                                     .head = msg, .head_len = eoh ? (size_t)(eoh - msg) + 2
                                                                  : strlen(msg) };
        engine_set_message(s, &m);
        run(s, STAGE_END);
        r = engine_reply(s);
    }
    if (r != NULL)
        snprintf(text, sizeof(text), "%d %s %s", r->code, r->ecode, r->text);
    if (has != NULL) {
        *has = false;
        if (r == NULL) {
            const struct rcpt_result *res = engine_result(s, 0);
            for (i = 0; res != NULL && i < res->nsyms; i++)
                *has |= strcmp(res->syms[i].name, sym) == 0;
        } else {
            json_t *syms = engine_refusal_symbols(s, r == engine_rcpt_reply(s, 0) ? 0
                                                                               : ENGINE_MESSAGE);
            *has = json_object_get(syms, sym) != NULL;
            json_decref(syms);
        }
    }
    engine_session_free(s);
    fclose(f);
    return text;
}

static void bounces_must_quote_a_message_sent_from_here(void **state)
{
    static const char sent[] =
        "From: alice@a.test\r\nTo: x@far.test\r\nMessage-ID: <m1.42@a.test>\r\n"
        "Subject: hi\r\n\r\nhello\r\n";
    static const char dsn[] =
        "From: MAILER-DAEMON@far.test\r\nTo: alice@a.test\r\nMessage-ID: <dsn1@far.test>\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n"
        "\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: alice@a.test\r\n"
        "message-id:\r\n <m1.42@a.test>\r\n\r\n--b--\r\n";
    static const char forged[] =
        "From: MAILER-DAEMON@far.test\r\nTo: alice@a.test\r\nMessage-ID: <dsn2@far.test>\r\n"
        "\r\nYour message could not be delivered.\r\n\r\nFrom: alice@a.test\r\n"
        "Message-ID: <spam.77@a.test>\r\n";
    static const char autoreply[] =
        "From: bob@far.test\r\nTo: alice@a.test\r\nAuto-Submitted: auto-replied\r\n"
        "In-Reply-To: <never@a.test>\r\n\r\nI am away.\r\n";
    static const char plain[] = "From: bob@far.test\r\nTo: alice@a.test\r\n\r\nhi\r\n";
    bool has;

    (void)state;
    NEED_REDIS();
    write_list("*\n");
    start_checks("\"backscatter\": {\"limit\": 1}");
    assert_string_equal(deliver("sub", "192.0.2.70", "alice@a.test", "alice@a.test",
                                "x@far.test", sent, NULL, NULL), "");
    loop_ms(50);
    assert_string_equal(deliver("p", "198.51.100.9", NULL, "", "alice@a.test", dsn,
                                "BOUNCE_VALID", &has), "");
    assert_true(has);
    assert_string_equal(deliver("p", "198.51.100.9", NULL, "", "alice@a.test", forged,
                                "BACKSCATTER", &has),
                        "550 5.7.1 Bounce refused: it refers to no message sent from here "
                        "(backscatter)");
    assert_true(has);
    assert_int_equal(fx->blocked_events, 0);
    /* an auto-reply with a sender is a bounce too; the second one blocks the address */
    assert_string_equal(deliver("p", "198.51.100.9", NULL, "bob@far.test", "alice@a.test",
                                autoreply, NULL, NULL),
                        "550 5.7.1 Bounce refused: it refers to no message sent from here "
                        "(backscatter)");
    assert_int_equal(fx->blocked_events, 1);
    assert_string_equal(deliver("p", "198.51.100.9", NULL, "", "alice@a.test", dsn,
                                "BACKSCATTER_BLOCKED", &has),
                        "554 5.7.1 Bounces from 198.51.100.9 are refused for a while: too much "
                        "backscatter");
    assert_true(has);
    /* ordinary mail from it, and bounces to an unprotected domain, still pass */
    assert_string_equal(deliver("p", "198.51.100.9", NULL, "bob@far.test", "alice@a.test",
                                plain, NULL, NULL), "");
    assert_string_equal(deliver("p", "198.51.100.9", NULL, "", "u@plain.test", forged, NULL,
                                NULL), "");
}

/* ---- newsletter endpoint --------------------------------------------------------------- */

#define NL_SETTINGS                                                                          \
    "\"newsletter\": {\"bounce_domain\": \"bounce.a.test\","                                 \
    " \"token_key\": \"0123456789abcdef-test\", \"min_messages\": 2,"                          \
    " \"max_bounce_rate\": 0.4}"

static const char newsletter[] =
    "From: News <news@a.test>\r\nTo: r@far.test\r\nSubject: news\r\n"
    "List-Unsubscribe: <https://a.test/u/1>, <mailto:u@a.test>\r\n"
    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nhello\r\n";

/* Submit the newsletter as news@a.test to rcpt; "" when accepted (*verp: its bounce
 * address, when verp is not NULL), else the reply. */
static const char *submit_news(const char *rcpt, const char *msg, char *verp, size_t len)
{
    static char text[300];
    char path[160];
    struct engine_session *s = engine_session_new(fx->e, engine_profile_find(fx->e, "sub"),
                                                  "sub", "192.0.2.80");
    const struct engine_reply *r;
    struct engine_message m;
    FILE *f;

    snprintf(path, sizeof(path), "%s/news", fx->srv.dir);
    f = fopen(path, "w+");
    fputs(msg, f);
    fflush(f);
    engine_session_set_login(s, "news@a.test");
    engine_tx_begin(s, "news@a.test", "QNEWS1");
    run(s, STAGE_MAIL);
    text[0] = '\0';
    if ((r = engine_reply(s)) == NULL) {
        engine_rcpt_add(s, rcpt);
        run(s, STAGE_RCPT);
        if ((r = engine_rcpt_reply(s, 0)) == NULL) {
            run(s, STAGE_DATA);
            m = (struct engine_message){ .fd = fileno(f), .size = strlen(msg), .head = msg,
                                         .head_len = strlen(msg) };
            engine_set_message(s, &m);
            run(s, STAGE_END);
            r = engine_reply(s);
        }
    }
    if (r != NULL)
        snprintf(text, sizeof(text), "%d %s %s", r->code, r->ecode, r->text);
    else if (verp != NULL)
        snprintf(verp, len, "%s", json_string_value(json_object_get(
                                      engine_fact(s, "newsletter.verp"), rcpt)));
    engine_session_free(s);
    fclose(f);
    return text;
}

static char *dsn_for(const char *rcpt, const char *status)
{
    char *text = NULL;

    assert_true(asprintf(&text,
        "From: MAILER-DAEMON@far.test\r\nTo: x\r\nContent-Type: multipart/report;"
        " report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\n"
        "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; far.test\r\n\r\n"
        "Final-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: %s\r\n"
        "Diagnostic-Code: smtp; 550 no such user\r\n\r\n--b--\r\n", rcpt, status) > 0);
    return text;
}

static void newsletters_follow_the_bulk_rules(void **state)
{
    static const char no_unsub[] = "From: news@a.test\r\nSubject: x\r\n\r\nhi\r\n";
    static const char misaligned[] =
        "From: news@other.test\r\nList-Unsubscribe: <https://a.test/u>\r\n"
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nhi\r\n";
    char verp[200];
    struct engine_session *s;

    (void)state;
    NEED_REDIS();
    start_profiles(NL_SETTINGS, NL_SETTINGS ", \"account\": {}");
    assert_string_equal(submit_news("r@far.test", newsletter, verp, sizeof(verp)), "");
    assert_int_equal(strncmp(verp, "bounces+", 8), 0);
    assert_non_null(strstr(verp, "@bounce.a.test"));
    assert_int_equal(strlen(verp), strlen("bounces+@bounce.a.test") + 26);
    assert_string_equal(submit_news("r@far.test", no_unsub, NULL, 0),
                        "550 5.7.1 Newsletter rule unsubscribe: add List-Unsubscribe with an "
                        "https: URI");
    assert_string_equal(submit_news("r@far.test", misaligned, NULL, 0),
                        "550 5.7.1 Newsletter rule alignment: the From domain must be a.test "
                        "or under it");
    /* a second recipient in one message */
    s = engine_session_new(fx->e, engine_profile_find(fx->e, "sub"), "sub", "192.0.2.80");
    engine_session_set_login(s, "news@a.test");
    engine_tx_begin(s, "news@a.test", "QNEWS2");
    run(s, STAGE_MAIL);
    engine_rcpt_add(s, "one@far.test");
    engine_rcpt_add(s, "two@far.test");
    run(s, STAGE_RCPT);
    assert_null(engine_rcpt_reply(s, 0));
    assert_non_null(engine_rcpt_reply(s, 1));
    assert_int_equal(engine_rcpt_reply(s, 1)->code, 452);
    engine_session_free(s);
}

static void bounces_are_attributed_suppressed_and_suspend_a_bad_sender(void **state)
{
    char verp[200], verp2[200], forged[200], *dsn;
    redisContext *c;
    bool has;

    (void)state;
    NEED_REDIS();
    start_profiles(NL_SETTINGS, NL_SETTINGS ", \"account\": {}");
    assert_string_equal(submit_news("gone@far.test", newsletter, verp, sizeof(verp)), "");
    assert_string_equal(submit_news("fine@far.test", newsletter, verp2, sizeof(verp2)), "");
    loop_ms(50);
    /* a forged bounce address is refused at RCPT */
    snprintf(forged, sizeof(forged), "%s", verp);
    forged[10] = forged[10] == 'a' ? 'b' : 'a';
    assert_non_null(strstr(deliver("p", "198.51.100.20", NULL, "", forged, "x\r\n\r\ny\r\n",
                                   "NEWSLETTER_BOUNCE_FORGED", &has),
                           "550 5.7.1 <bounces+"));
    assert_true(has);
    assert_non_null(strstr(deliver("p", "198.51.100.20", NULL, "", forged, "x\r\n\r\ny\r\n",
                                   NULL, NULL),
                           ">: unknown bounce address (not made by this server)"));
    /* a hard bounce: attributed, suppressed, and 1 of 2 sent is over 40%: suspended */
    dsn = dsn_for("gone@far.test", "5.1.1");
    assert_string_equal(deliver("p", "198.51.100.20", NULL, "", verp, dsn, "NEWSLETTER_BOUNCE",
                                &has), "");
    free(dsn);
    assert_true(has);
    loop_ms(50);
    assert_int_equal(fx->bounced_events, 1);
    assert_string_equal(fx->last_bounce, "news@a.test gone@far.test hard 5.1.1");
    assert_int_equal(fx->suspended_events, 1);
    assert_string_equal(submit_news("gone@far.test", newsletter, NULL, 0),
                        "450 4.7.1 Error: this account is suspended for sending spam or "
                        "viruses; contact your provider");
    c = redis_connect_blocking(&fx->rconf);
    assert_int_equal(account_admin_release(c, "news@a.test", false, stderr), 0);
    assert_string_equal(submit_news("gone@far.test", newsletter, NULL, 0),
                        "550 5.1.1 <gone@far.test>: suppressed for this sender after a hard "
                        "bounce");
    assert_int_equal(suppress_admin(c, "remove", "news@a.test", "gone@far.test", stderr), 0);
    assert_string_equal(submit_news("gone@far.test", newsletter, NULL, 0), "");
    redisFree(c);
}

static void a_complaint_suppresses_for_good(void **state)
{
    static const char arf_fmt[] =
        "From: fbl@isp.test\r\nContent-Type: multipart/report; report-type=feedback-report;"
        " boundary=\"b\"\r\n\r\n--b\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: isp/1.0\r\nVersion: 1\r\n\r\n--b--\r\n";

    (void)state;
    NEED_REDIS();
    start_profiles(NL_SETTINGS, NL_SETTINGS);
    char verp[200];
    assert_string_equal(submit_news("angry@far.test", newsletter, verp, sizeof(verp)), "");
    loop_ms(50);
    assert_string_equal(deliver("p", "198.51.100.21", NULL, "fbl@isp.test", verp, arf_fmt,
                                NULL, NULL), "");
    loop_ms(50);
    assert_int_equal(fx->complained_events, 1);
    assert_string_equal(submit_news("angry@far.test", newsletter, NULL, 0),
                        "550 5.7.1 <angry@far.test>: suppressed for this sender after a spam "
                        "complaint");
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
        cmocka_unit_test(a_bounce_is_known_by_its_header_and_quotes_ids),
        cmocka_unit_test(reports_are_classified_and_tokens_are_signed),
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
        cmocka_unit_test_setup_teardown(a_static_list_refuses_unknown_recipients, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(submitted_senders_become_known_recipients, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_harvester_is_disconnected, setup, teardown),
        cmocka_unit_test_setup_teardown(bounces_must_quote_a_message_sent_from_here, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(newsletters_follow_the_bulk_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(
            bounces_are_attributed_suppressed_and_suspend_a_bad_sender, setup, teardown),
        cmocka_unit_test_setup_teardown(a_complaint_suppresses_for_good, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
