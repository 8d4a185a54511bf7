/*
 * test_check_mailauth.c - the SPF, DKIM and DMARC checks (policy/checks/check_spf.c,
 * check_dkim.c, check_dmarc.c) driven through the policy engine on a real libevent loop,
 * with the daemon's resolver (lib/dns) asking a loopback DNS server
 * (dns_zone_server.h): SPF facts, symbols and the refusals given at RCPT (fail 550 5.7.23,
 * temperror 451 4.7.24, postmaster@ still reachable), the null sender checked by HELO;
 * DKIM on the spooled message (Ed25519 signature made here) hashed on the check pool;
 * DMARC pass through aligned DKIM, reject refused (550 5.7.1), quarantine marked, the
 * organizational-domain fallback with sp=, a bad From; the one Authentication-Results
 * field; cancellation when the session ends during a lookup.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "mailauth/dkim_keygen.h"
#include "mailauth/dkim_sign.h"
#include "policy/engine.h"
#include "policy/outage.h"
#include "tests/unit/dns_zone_server.h"
#include "tests/unit/engine_testharness.h"

struct fx {
    struct event_base *base;
    struct dns_testserver dts;
    struct dns *dns;
    struct pt_root cfg;
    struct outage *outages;
    struct workpool *pool;
    struct engine *e;
    struct engine_session *s;
    char tmpdir[64];
    int msg_fd;
    char *msg;
    struct dkim_signer *signer;
    struct dkim_conf dkc;
    char *key_record;
};

static struct fx *fx;

static void on_event(void *arg, const char *type, json_t *data)
{
    (void)arg;
    (void)type;
    json_decref(data);
}

/* An Ed25519 signer for example.org, selector e1; its key record for the zone. */
static void make_signer(void)
{
    EVP_PKEY *key = dkim_keygen(DKIM_KEY_ED25519, 0);
    char *path = xasprintf("%s/e1.pem", fx->tmpdir), err[256], *json;
    struct conf_errors errs = { .file = "dkim", .out = stderr };

    assert_non_null(key);
    assert_int_equal(dkim_key_write_private(path, key, err, sizeof(err)), 0);
    fx->key_record = dkim_key_record(key);
    EVP_PKEY_free(key);
    json = xasprintf("{\"sign\": {\"example.org\": {\"keys\": [{\"selector\": \"e1\", "
                     "\"algorithm\": \"ed25519-sha256\", \"file\": \"%s\"}]}}}", path);
    assert_int_equal(conf_load_buffer("dkim", json, strlen(json), &dkim_conf_section,
                                      &fx->dkc, &errs), 0);
    fx->signer = dkim_signer_load((const struct dkim_domain_conf *)fx->dkc.sign.items, err,
                                  sizeof(err));
    assert_non_null(fx->signer);
    free(json);
    free(path);
}

static int setup(void **state)
{
    (void)state;
    fx = xcalloc(1, sizeof(*fx));
    fx->msg_fd = -1;
    fx->base = event_base_new();
    fx->dts.fd = -1;
    assert_int_equal(dts_start(&fx->dts, fx->base), 0);
    fx->dns = dts_resolver(&fx->dts, fx->base);
    assert_non_null(fx->dns);
    fx->outages = outage_new(on_event, fx);
    fx->pool = workpool_new_bounded(fx->base, 1, 4);
    snprintf(fx->tmpdir, sizeof(fx->tmpdir), "/tmp/pt-mailauth-XXXXXX");
    assert_non_null(mkdtemp(fx->tmpdir));
    make_signer();
    return 0;
}

static int teardown(void **state)
{
    char *cmd;
    (void)state;
    engine_session_free(fx->s);
    engine_free(fx->e);
    pt_free(&fx->cfg);
    workpool_free(fx->pool);
    outage_free(fx->outages);
    dns_free(fx->dns);
    dts_stop(&fx->dts);
    event_base_free(fx->base);
    if (fx->msg_fd >= 0)
        close(fx->msg_fd);
    free(fx->msg);
    dkim_signer_free(fx->signer);
    conf_free(&dkim_conf_section, &fx->dkc);
    free(fx->key_record);
    cmd = xasprintf("rm -rf %s", fx->tmpdir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(fx);
    return 0;
}

/* The engine with profile "p" = {"checks": CHECKS}, a session from 192.0.2.10. */
static void start(const char *checks)
{
    char *json = xasprintf(
        "{\"relay\": {\"local_domains\": [\"a.test\"]},"
        " \"policy\": {\"profiles\": {\"p\": {\"checks\": %s}}}}", checks);
    struct engine_env env = {
        .base = fx->base, .dns = fx->dns, .check_pool = fx->pool, .outages = fx->outages,
        .hostname = "mx.test", .event = on_event, .event_arg = fx,
    };

    fx->e = eh_engine_new(json, &fx->cfg, &env, NULL);
    free(json);
    fx->s = engine_session_new(fx->e, engine_profile_find(fx->e, "p"), "mx", "192.0.2.10");
    engine_session_set_helo(fx->s, "client.sender.test");
}

static void run(enum engine_stage st)
{
    eh_run(fx->base, fx->s, st);
}

static const char *fact(const char *key)
{
    json_t *v = engine_fact(fx->s, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* MAIL from sender, RCPT each of rcpts (NULL-terminated). */
static void mail_rcpt(const char *sender, const char *const *rcpts)
{
    engine_tx_begin(fx->s, sender, "4XkQ2Lm7Zc");
    run(STAGE_MAIL);
    for (; *rcpts != NULL; rcpts++)
        engine_rcpt_add(fx->s, *rcpts);
    run(STAGE_RCPT);
}

/* The message as the spool has it (our Received: first), optionally DKIM-signed by
 * example.org and then optionally changed; then DATA and END. */
static void message(const char *head, const char *body, bool sign, const char *append)
{
    char *text = xasprintf("%s\r\n%s", head, body), *sig = NULL, *full, err[128];
    struct dkim_field f[64];
    size_t n = 0, bodyoff = 0;
    struct engine_message m = { 0 };
    char *path = xasprintf("%s/msg", fx->tmpdir);
    FILE *out;

    if (sign) {
        struct dkim_sign *ds = dkim_sign_new(fx->signer);
        assert_int_equal(dkim_header_split(text, strlen(text), f, 64, &n, &bodyoff),
                         DKIM_SPLIT_OK);
        dkim_sign_body(ds, text + bodyoff, strlen(text) - bodyoff);
        sig = dkim_sign_finish(ds, f, n, (long long)time(NULL), err, sizeof(err));
        assert_non_null(sig);
        dkim_sign_free(ds);
    }
    full = xasprintf("Received: from client.sender.test by mx.test; Mon, 1 Jan 2024\r\n"
                     "%s%s%s", sig ? sig : "", text,
                     append ? append : "");
    out = fopen(path, "w");
    fputs(full, out);
    fclose(out);
    fx->msg_fd = open(path, O_RDONLY);
    assert_true(fx->msg_fd >= 0);
    fx->msg = full;
    m.fd = fx->msg_fd;
    m.offset = 0;
    m.size = strlen(full);
    m.head = full;
    m.head_len = (size_t)(strstr(full, "\r\n\r\n") - full) + 4;
    free(sig);
    free(text);
    free(path);
    run(STAGE_DATA);
    engine_set_message(fx->s, &m);
    run(STAGE_END);
}

static bool has_symbol(size_t i, const char *name)
{
    const struct rcpt_result *r = engine_result(fx->s, i);
    size_t k;

    assert_non_null(r);
    for (k = 0; k < r->nsyms; k++)
        if (strcmp(r->syms[k].name, name) == 0)
            return true;
    return false;
}

static const char *added_header(size_t i, const char *prefix)
{
    const struct rcpt_result *r = engine_result(fx->s, i);
    size_t k;

    for (k = 0; r != NULL && k < r->nadd; k++)
        if (strncmp(r->add_headers[k], prefix, strlen(prefix)) == 0)
            return r->add_headers[k];
    return NULL;
}

static const char *const one_rcpt[] = { "u@a.test", NULL };

/* ---- SPF ----------------------------------------------------------------------------- */

static void spf_pass_gives_facts_and_symbol(void **state)
{
    (void)state;
    dts_add(&fx->dts, "sender.test", "TXT", "v=spf1 ip4:192.0.2.0/24 -all");
    start("{\"spf\": {}}");
    mail_rcpt("bob@sender.test", one_rcpt);
    assert_string_equal(fact("spf.result"), "pass");
    assert_string_equal(fact("spf.domain"), "sender.test");
    assert_string_equal(fact("spf.identity"), "mailfrom");
    assert_string_equal(fact("authres.spf"), "spf=pass smtp.mailfrom=bob@sender.test");
    assert_null(engine_rcpt_reply(fx->s, 0));
    message("From: bob@sender.test\r\nSubject: hi\r\n", "hello\r\n", false, NULL);
    assert_null(engine_reply(fx->s));
    assert_true(has_symbol(0, "SPF_PASS"));
}

static void spf_fail_is_refused_at_rcpt_when_asked(void **state)
{
    static const char *const rc[] = { "u@a.test", "postmaster@a.test", NULL };
    const struct engine_reply *r;
    (void)state;
    dts_add(&fx->dts, "forged.test", "TXT", "v=spf1 ip4:198.51.100.1 -all");
    start("{\"spf\": {\"refuse_fail\": true}}");
    mail_rcpt("x@forged.test", rc);
    assert_null(engine_reply(fx->s));           /* MAIL itself goes on */
    r = engine_rcpt_reply(fx->s, 0);
    assert_non_null(r);
    assert_int_equal(r->code, 550);
    assert_string_equal(r->ecode, "5.7.23");
    assert_non_null(strstr(r->text, "forged.test"));
    assert_null(engine_rcpt_reply(fx->s, 1));    /* postmaster@ is still reachable */
    assert_string_equal(fact("spf.result"), "fail");
}

static void spf_fail_is_only_scored_by_default(void **state)
{
    (void)state;
    dts_add(&fx->dts, "forged.test", "TXT", "v=spf1 -all");
    start("{\"spf\": {}}");
    mail_rcpt("x@forged.test", one_rcpt);
    assert_null(engine_rcpt_reply(fx->s, 0));
    message("From: x@forged.test\r\n", "b\r\n", false, NULL);
    assert_true(has_symbol(0, "SPF_FAIL"));
}

static void spf_temperror_is_deferred_when_asked(void **state)
{
    const struct engine_reply *r;
    (void)state;
    dts_add(&fx->dts, "broken.test", "SERVFAIL", "");
    start("{\"spf\": {\"defer_temperror\": true}}");
    mail_rcpt("x@broken.test", one_rcpt);
    r = engine_rcpt_reply(fx->s, 0);
    assert_non_null(r);
    assert_int_equal(r->code, 451);
    assert_string_equal(r->ecode, "4.7.24");
    assert_string_equal(fact("spf.result"), "temperror");
}

static void spf_null_sender_checks_helo(void **state)
{
    (void)state;
    dts_add(&fx->dts, "client.sender.test", "TXT", "v=spf1 ip4:192.0.2.10 -all");
    start("{\"spf\": {}}");
    mail_rcpt("", one_rcpt);
    assert_string_equal(fact("spf.result"), "pass");
    assert_string_equal(fact("spf.identity"), "helo");
    assert_string_equal(fact("spf.domain"), "client.sender.test");
}

/* ---- DKIM and DMARC ------------------------------------------------------------------ */

#define ALL "{\"spf\": {}, \"dkim\": {}, \"dmarc\": {\"refuse_reject\": true}}"

static void signed_mail_passes_dkim_and_dmarc_with_one_header(void **state)
{
    const char *ar;
    (void)state;
    dts_add(&fx->dts, "e1._domainkey.example.org", "TXT", fx->key_record);
    dts_add(&fx->dts, "_dmarc.example.org", "TXT", "v=DMARC1; p=reject");
    dts_add(&fx->dts, "list.test", "TXT", "v=spf1 ip4:192.0.2.10 -all");
    start(ALL);
    mail_rcpt("bounce@list.test", one_rcpt);
    message("From: Ann <ann@example.org>\r\nTo: u@a.test\r\nSubject: signed\r\n",
            "signed body\r\n", true, NULL);
    assert_null(engine_reply(fx->s));
    assert_true(has_symbol(0, "DKIM_VALID"));
    assert_true(has_symbol(0, "DMARC_PASS"));
    assert_true(has_symbol(0, "SPF_PASS"));
    assert_string_equal(fact("dmarc.result"), "pass");
    assert_string_equal(fact("dmarc.policy"), "reject");
    assert_false(json_is_true(engine_fact(fx->s, "dkim.sender_aligned")));
    ar = added_header(0, "Authentication-Results: ");
    assert_non_null(ar);
    assert_non_null(strstr(ar, "Authentication-Results: mx.test; spf=pass "
                               "smtp.mailfrom=bounce@list.test; dkim=pass"));
    assert_non_null(strstr(ar, "header.d=example.org"));
    assert_non_null(strstr(ar, "header.s=e1"));
    assert_non_null(strstr(ar, "; dmarc=pass (p=reject sp=reject pct=100 dis=none) "
                               "header.from=example.org"));
}

static void dkim_pass_aligned_with_the_envelope_sender(void **state)
{
    (void)state;
    dts_add(&fx->dts, "e1._domainkey.example.org", "TXT", fx->key_record);
    start("{\"dkim\": {}}");
    mail_rcpt("bounces@mail.example.org", one_rcpt);
    message("From: ann@example.org\r\n", "x\r\n", true, NULL);
    assert_true(json_is_true(engine_fact(fx->s, "dkim.sender_aligned")));
    assert_non_null(strstr(fact("authres.dkim"), "dkim=pass"));
}

static void changed_body_fails_and_dmarc_reject_is_refused(void **state)
{
    const struct engine_reply *r;
    (void)state;
    dts_add(&fx->dts, "e1._domainkey.example.org", "TXT", fx->key_record);
    dts_add(&fx->dts, "_dmarc.example.org", "TXT", "v=DMARC1; p=reject; rua=mailto:d@example.org");
    start(ALL);
    mail_rcpt("x@elsewhere.test", one_rcpt);
    message("From: ann@example.org\r\nSubject: x\r\n", "original\r\n", true,
            "appended by someone\r\n");
    r = engine_reply(fx->s);
    assert_non_null(r);
    assert_int_equal(r->code, 550);
    assert_string_equal(r->ecode, "5.7.1");
    assert_non_null(strstr(r->text, "example.org"));
    assert_string_equal(fact("dmarc.result"), "fail");
    assert_string_equal(fact("dmarc.disposition"), "reject");
    assert_non_null(strstr(fact("authres.dkim"), "dkim=fail"));
}

static void dmarc_reject_with_postmaster_accepts_and_marks_the_others(void **state)
{
    static const char *const rc[] = { "u@a.test", "postmaster@a.test", NULL };
    (void)state;
    dts_add(&fx->dts, "_dmarc.example.org", "TXT", "v=DMARC1; p=reject");
    start(ALL);
    mail_rcpt("x@elsewhere.test", rc);
    message("From: ann@example.org\r\n", "unsigned\r\n", false, NULL);
    assert_null(engine_reply(fx->s));            /* postmaster@ bypasses the refusal */
    assert_int_equal(engine_accepted(fx->s), 2);
    assert_int_equal(engine_result(fx->s, 0)->disp, DISP_MARK);
    assert_true(engine_result(fx->s, 1)->disp < DISP_MARK);
}

static void dmarc_quarantine_marks_the_message(void **state)
{
    (void)state;
    dts_add(&fx->dts, "_dmarc.example.org", "TXT", "v=DMARC1; p=quarantine");
    start(ALL);
    mail_rcpt("x@elsewhere.test", one_rcpt);
    message("From: ann@example.org\r\n", "unsigned\r\n", false, NULL);
    assert_null(engine_reply(fx->s));
    assert_true(has_symbol(0, "DMARC_QUARANTINE"));
    assert_true(has_symbol(0, "DKIM_NONE"));
    assert_int_equal(engine_result(fx->s, 0)->disp, DISP_MARK);
}

static void dmarc_falls_back_to_the_org_domain(void **state)
{
    (void)state;
    dts_add(&fx->dts, "_dmarc.example.org", "TXT", "v=DMARC1; p=reject; sp=none");
    start(ALL);
    mail_rcpt("x@elsewhere.test", one_rcpt);
    message("From: news@news.example.org\r\n", "unsigned\r\n", false, NULL);
    assert_null(engine_reply(fx->s));            /* sp=none applies to the subdomain */
    assert_true(has_symbol(0, "DMARC_POLICY_NONE"));
    assert_string_equal(fact("dmarc.from_domain"), "news.example.org");
    assert_string_equal(fact("dmarc.policy"), "none");
}

static void bad_from_is_scored_or_refused(void **state)
{
    const struct engine_reply *r;
    (void)state;
    start("{\"dmarc\": {\"refuse_bad_from\": true}}");
    mail_rcpt("x@elsewhere.test", one_rcpt);
    message("From: a@example.org\r\nFrom: b@example.net\r\n", "x\r\n", false, NULL);
    r = engine_reply(fx->s);
    assert_non_null(r);
    assert_int_equal(r->code, 550);
    assert_non_null(strstr(r->text, "several From fields"));
    assert_string_equal(fact("dmarc.result"), "permerror");
}

static void session_end_cancels_pending_lookups(void **state)
{
    int called = 0, spins;
    (void)state;
    dts_add(&fx->dts, "slow.test", "HANG", "");
    start("{\"spf\": {}}");
    engine_tx_begin(fx->s, "x@slow.test", "Q1");
    assert_int_equal(engine_run(fx->s, STAGE_MAIL, eh_on_done, &called), ENGINE_PENDING);
    for (spins = 0; spins < 3 && fx->dts.received == 0; spins++)
        event_base_loop(fx->base, EVLOOP_ONCE);
    engine_session_free(fx->s);
    fx->s = NULL;
    event_base_loop(fx->base, EVLOOP_NONBLOCK);
    assert_int_equal(called, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(spf_pass_gives_facts_and_symbol, setup, teardown),
        cmocka_unit_test_setup_teardown(spf_fail_is_refused_at_rcpt_when_asked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(spf_fail_is_only_scored_by_default, setup, teardown),
        cmocka_unit_test_setup_teardown(spf_temperror_is_deferred_when_asked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(spf_null_sender_checks_helo, setup, teardown),
        cmocka_unit_test_setup_teardown(signed_mail_passes_dkim_and_dmarc_with_one_header,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(dkim_pass_aligned_with_the_envelope_sender, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(changed_body_fails_and_dmarc_reject_is_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(dmarc_reject_with_postmaster_accepts_and_marks_the_others,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(dmarc_quarantine_marks_the_message, setup, teardown),
        cmocka_unit_test_setup_teardown(dmarc_falls_back_to_the_org_domain, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_from_is_scored_or_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(session_end_cancels_pending_lookups, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
