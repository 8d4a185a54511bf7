/*
 * test_dns_checks.c - the inbound DNS checks (rdns, helo, dnsbl, sender_domain,
 * early_talker) driven through the policy engine, with lib/dns asking a DNS server inside
 * the test process (dns_zone_server.h) on loopback: each symbol, strict refusals (5xx on
 * definite answers, 4xx on temporary ones), role bypass, DNSBL refusal codes, IPv6,
 * deadlines (a server that never answers gives NAME_TIMEOUT and accept), and that a
 * stage's lookups all go out before any answer comes back.
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

#include "lib/dns.h"
#include "policy/engine.h"
#include "policy/outage.h"
#include "policy/user_store.h"
#include "tests/unit/dns_zone_server.h"
#include "tests/unit/engine_testharness.h"

struct fx {
    struct event_base *base;
    struct dns_testserver srv;
    struct dns_conf dconf;
    char *server;
    struct dns *dns;
    struct outage *outages;
    struct user_store *store;
    struct pt_root cfg;
    struct engine *e;
    int unavailable_events;
    bool early_talk;
    char rdns_name[256];
    bool dnswl;               /* the fact dnswl.listed of the last attempt */
    char syms[1024];          /* the symbols of the last attempt, " A B C " */
};

static struct fx *fx;

static void on_event(void *arg, const char *type, json_t *data)
{
    struct fx *f = arg;

    if (strcmp(type, "policy.check_unavailable") == 0)
        f->unavailable_events++;
    json_decref(data);
}

static void zone(void)
{
    struct dns_testserver *s = &fx->srv;

    /* reverse DNS */
    dts_add(s, "10.2.0.192.in-addr.arpa", "PTR", "mail.good.test");
    dts_add(s, "mail.good.test", "A", "192.0.2.10");
    dts_add(s, "11.2.0.192.in-addr.arpa", "PTR", "liar.good.test");
    dts_add(s, "liar.good.test", "A", "192.0.2.99");
    dts_add(s, "13.2.0.192.in-addr.arpa", "PTR", "c-192-0-2-13.cust.isp.test");
    dts_add(s, "c-192-0-2-13.cust.isp.test", "A", "192.0.2.13");
    dts_add(s, "17.2.0.192.in-addr.arpa", "PTR", "192-0-2-17.static.isp.test");
    dts_add(s, "192-0-2-17.static.isp.test", "A", "192.0.2.17");
    dts_add(s, "14.2.0.192.in-addr.arpa", "SERVFAIL", "");
    dts_add(s, "15.2.0.192.in-addr.arpa", "HANG", "");
    dts_add(s, "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "PTR",
            "mail6.good.test");
    dts_add(s, "mail6.good.test", "AAAA", "2001:db8::10");
    /* blocklists: bl.test with codes, wl.test an allowlist, rhs.test for domains */
    dts_add(s, "20.2.0.192.bl.test", "A", "127.0.0.2");
    dts_add(s, "21.2.0.192.bl.test", "A", "127.0.0.4");
    dts_add(s, "22.2.0.192.bl.test", "A", "127.255.255.254");
    dts_add(s, "23.2.0.192.bl.test", "A", "192.0.2.1");          /* a wildcarding resolver */
    dts_add(s, "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test", "A",
            "127.0.0.2");
    dts_add(s, "10.2.0.192.wl.test", "A", "127.0.10.2");
    dts_add(s, "20.2.0.192.wl.test", "A", "127.0.0.255");         /* DNSWL: over the limit */
    dts_add(s, "spam.test.rhs.test", "A", "127.0.0.2");
    dts_add(s, "16.2.0.192.bl.test", "HANG", "");
    /* HELO names and sender domains */
    dts_add(s, "good.test", "MX", "10 mail.good.test");
    dts_add(s, "spam.test", "MX", "10 mail.good.test");
    dts_add(s, "nullmx.test", "MX", "0 .");
    dts_add(s, "nomx.test", "NONE", "");
    dts_add(s, "aonly.test", "A", "192.0.2.50");
    dts_add(s, "sf.test", "SERVFAIL", "");
    dts_add(s, "slow.test", "HANG", "");
}

static int setup(void **state)
{
    (void)state;
    fx = calloc(1, sizeof(*fx));
    fx->base = event_base_new();
    assert_int_equal(dts_start(&fx->srv, fx->base), 0);
    zone();
    fx->server = strdup(fx->srv.addr);
    fx->dconf = (struct dns_conf){ .servers = { .v = &fx->server, .n = 1 }, .timeout_ms = 2000,
                                   .tries = 1, .max_ttl_ms = 300000, .negative_ttl_ms = 60000,
                                   .cache_size = 0, .cache_memory = 1 << 20 };
    fx->dns = dns_new(fx->base, &fx->dconf);
    assert_non_null(fx->dns);
    fx->outages = outage_new(on_event, fx);
    fx->store = user_store_memory_new(fx->base);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (fx->e) {
        engine_free(fx->e);
        pt_free(&fx->cfg);
    }
    user_store_free(fx->store);
    outage_free(fx->outages);
    dns_free(fx->dns);
    dts_stop(&fx->srv);
    event_base_free(fx->base);
    free(fx->server);
    free(fx);
    return 0;
}

/* The engine with profile "p" (inbound) running these checks (JSON object members). */
static void start(const char *checks)
{
    char *json = NULL;
    struct engine_env env = {
        .base = fx->base, .dns = fx->dns, .outages = fx->outages, .hostname = "mx.test",
        .event = on_event, .event_arg = fx,
    };

    assert_true(asprintf(&json,
        "{\"relay\": {\"local_domains\": [\"a.test\", \"strict.test\"]},"
        " \"domains\": {\"strict.test\": {\"strict_dns\": true}},"
        " \"policy\": {\"profiles\": {\"p\": {\"deadline\": \"400ms\", \"checks\": {%s}}}}}",
        checks) > 0);
    fx->e = eh_engine_new(json, &fx->cfg, &env, fx->store);
    free(json);
}

static void run(struct engine_session *s, enum engine_stage st)
{
    eh_run(fx->base, s, st);
}

static void add_syms(json_t *obj)
{
    const char *k;
    json_t *v;
    size_t n = strlen(fx->syms);

    json_object_foreach(obj, k, v)
        n += (size_t)snprintf(fx->syms + n, sizeof(fx->syms) - n, "%s ", k);
}

/* One session from ip: HELO helo (when not NULL), MAIL from sender, RCPT rcpt. Returns
 * the RCPT reply ("" when accepted); fx->syms gets the recipient's symbols. */
static const char *attempt(const char *ip, const char *helo, const char *sender,
                           const char *rcpt)
{
    static char text[300];
    const struct engine_reply *r;
    struct engine_session *s = engine_session_new(fx->e, engine_profile_find(fx->e, "p"),
                                                  "mx", ip);
    json_t *name;

    snprintf(fx->syms, sizeof(fx->syms), " ");
    run(s, STAGE_CONNECT);
    if (fx->early_talk)
        engine_fact_set(s, FACT_SESSION, "smtpd.early_talk", json_true());
    if (helo != NULL) {
        engine_session_set_helo(s, helo);
        run(s, STAGE_HELO);
    }
    engine_tx_begin(s, sender, "QID1");
    run(s, STAGE_MAIL);
    engine_rcpt_add(s, rcpt);
    run(s, STAGE_RCPT);
    fx->dnswl = json_is_true(engine_fact(s, "dnswl.listed"));
    name = engine_fact(s, "rdns.name");
    snprintf(fx->rdns_name, sizeof(fx->rdns_name), "%s",
             json_is_string(name) ? json_string_value(name) : "");
    r = engine_rcpt_reply(s, 0);
    if (r != NULL) {
        json_t *syms = engine_refusal_symbols(s, 0);
        snprintf(text, sizeof(text), "%d %s %s", r->code, r->ecode, r->text);
        add_syms(syms);
        json_decref(syms);
    } else {
        const struct rcpt_result *res;
        size_t i, n = 1;
        text[0] = '\0';
        run(s, STAGE_DATA);
        run(s, STAGE_END);
        res = engine_result(s, 0);
        for (i = 0; res != NULL && i < res->nsyms; i++)
            n += (size_t)snprintf(fx->syms + n, sizeof(fx->syms) - n, "%s ", res->syms[i].name);
    }
    engine_session_free(s);
    return text;
}

static bool has(const char *sym)
{
    char pat[80];

    snprintf(pat, sizeof(pat), " %s ", sym);
    return strstr(fx->syms, pat) != NULL;
}

#define ASSERT_HAS(sym) do { if (!has(sym)) fail_msg("no %s in [%s]", sym, fx->syms); } while (0)
#define ASSERT_NOT(sym) do { if (has(sym)) fail_msg("%s in [%s]", sym, fx->syms); } while (0)

/* ---- rdns ------------------------------------------------------------------------------ */

static void rdns_confirms_names_and_scores_the_rest(void **state)
{
    (void)state;
    start("\"rdns\": {}");
    assert_string_equal(attempt("192.0.2.10", NULL, "s@good.test", "u@a.test"), "");
    ASSERT_NOT("RDNS_NONE");
    ASSERT_NOT("RDNS_MISMATCH");
    assert_string_equal(fx->rdns_name, "mail.good.test");
    assert_string_equal(attempt("2001:db8::10", NULL, "s@good.test", "u@a.test"), "");
    assert_string_equal(fx->rdns_name, "mail6.good.test");
    assert_string_equal(attempt("192.0.2.11", NULL, "s@good.test", "u@a.test"), "");
    ASSERT_HAS("RDNS_MISMATCH");
    assert_string_equal(fx->rdns_name, "");
    assert_string_equal(attempt("192.0.2.12", NULL, "s@good.test", "u@a.test"), "");
    ASSERT_HAS("RDNS_NONE");
    assert_string_equal(attempt("192.0.2.13", NULL, "s@good.test", "u@a.test"), "");
    ASSERT_HAS("RDNS_DYNAMIC");
    ASSERT_NOT("RDNS_MISMATCH");
    ASSERT_NOT("RDNS_GENERIC_STATIC");
    /* a generic name of a static address: the lesser symbol only */
    assert_string_equal(attempt("192.0.2.17", NULL, "s@good.test", "u@a.test"), "");
    ASSERT_HAS("RDNS_GENERIC_STATIC");
    ASSERT_NOT("RDNS_DYNAMIC");
    assert_string_equal(attempt("192.0.2.14", NULL, "s@good.test", "u@a.test"), "");
    ASSERT_HAS("RDNS_TEMPFAIL");
    ASSERT_NOT("RDNS_NONE");
}

static void strict_domains_refuse_without_reverse_dns(void **state)
{
    (void)state;
    start("\"rdns\": {}");
    assert_string_equal(attempt("192.0.2.12", NULL, "s@good.test", "u@strict.test"),
                        "550 5.7.25 Client host rejected: cannot find your reverse hostname, "
                        "[192.0.2.12]");
    assert_string_equal(attempt("192.0.2.11", NULL, "s@good.test", "u@strict.test"),
                        "550 5.7.25 Client host rejected: cannot find your hostname, "
                        "[192.0.2.11]");
    /* temporary: 4xx */
    assert_string_equal(attempt("192.0.2.14", NULL, "s@good.test", "u@strict.test"),
                        "450 4.7.25 Client host rejected: cannot find your reverse hostname, "
                        "[192.0.2.14]");
    assert_true(strncmp(attempt("192.0.2.13", NULL, "s@good.test", "u@strict.test"),
                        "550 5.7.1 Client host rejected: c-192-0-2-13.cust.isp.test "
                        "[192.0.2.13] looks like a dynamic", 80) == 0);
    /* a static generic name is not refused as dynamic */
    assert_string_equal(attempt("192.0.2.17", NULL, "s@good.test", "u@strict.test"), "");
    /* postmaster@ is always reachable; a confirmed name passes */
    assert_string_equal(attempt("192.0.2.12", NULL, "s@good.test", "postmaster@strict.test"), "");
    assert_string_equal(attempt("192.0.2.10", NULL, "s@good.test", "u@strict.test"), "");
}

static void a_backup_relay_may_defer_definite_answers(void **state)
{
    (void)state;
    start("\"rdns\": {\"definite_reply\": \"defer\", \"refuse_dynamic\": false}");
    assert_string_equal(attempt("192.0.2.12", NULL, "s@good.test", "u@strict.test"),
                        "450 4.7.25 Client host rejected: cannot find your reverse hostname, "
                        "[192.0.2.12]");
    assert_string_equal(attempt("192.0.2.13", NULL, "s@good.test", "u@strict.test"), "");
    ASSERT_HAS("RDNS_DYNAMIC");
}

/* ---- helo ------------------------------------------------------------------------------ */

static void helo_names_give_their_symbols(void **state)
{
    static const struct { const char *helo, *sym; } cases[] = {
        { "localhost", "HELO_NOT_FQDN" },
        { "1.2.3.4", "HELO_BARE_IP" },
        { "bad_name.test", "HELO_INVALID" },
        { "[192.0.2.99]", "HELO_BAD_LITERAL" },
        { "noname.test", "HELO_NO_DNS" },
        { "sf.test", "HELO_DNS_TEMPFAIL" },
    };
    size_t i;

    (void)state;
    start("\"helo\": {}");
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_string_equal(attempt("192.0.2.10", cases[i].helo, "s@good.test", "u@a.test"), "");
        ASSERT_HAS(cases[i].sym);
    }
    assert_string_equal(attempt("192.0.2.10", "mail.good.test", "s@good.test", "u@a.test"), "");
    ASSERT_NOT("HELO_NO_DNS");
    assert_string_equal(attempt("192.0.2.10", "good.test", "s@good.test", "u@a.test"), "");
    ASSERT_NOT("HELO_NO_DNS");     /* an MX is enough */
    assert_string_equal(attempt("192.0.2.10", "[192.0.2.10]", "s@good.test", "u@a.test"), "");
    ASSERT_NOT("HELO_BAD_LITERAL");
}

static void our_own_name_is_refused_and_strict_domains_want_a_name(void **state)
{
    (void)state;
    start("\"helo\": {\"own_addresses\": [\"198.51.100.25\"]}");
    assert_string_equal(attempt("192.0.2.10", "MX.test", "s@good.test", "u@a.test"),
                        "550 5.7.1 Helo command rejected: MX.test is my own name; you are "
                        "not me");
    ASSERT_HAS("HELO_IS_OURS");
    assert_string_equal(attempt("192.0.2.10", "[198.51.100.25]", "s@good.test", "u@a.test"),
                        "550 5.7.1 Helo command rejected: [198.51.100.25] is my own name; "
                        "you are not me");
    assert_string_equal(attempt("192.0.2.10", "mx.test", "s@good.test", "postmaster@a.test"),
                        "");
    assert_string_equal(attempt("192.0.2.10", "localhost", "s@good.test", "u@strict.test"),
                        "550 5.7.1 <localhost>: Helo command rejected: need fully-qualified "
                        "hostname");
    assert_string_equal(attempt("192.0.2.10", "noname.test", "s@good.test", "u@strict.test"),
                        "550 5.7.1 <noname.test>: Helo command rejected: Host not found");
    assert_string_equal(attempt("192.0.2.10", "sf.test", "s@good.test", "u@strict.test"),
                        "450 4.7.1 <sf.test>: Helo command rejected: cannot look up your host "
                        "name, try again later");
}

/* ---- dnsbl ----------------------------------------------------------------------------- */

#define ZONES                                                                               \
    "\"dnsbl\": {\"zones\": {"                                                              \
    "  \"bl.test\": {\"symbol\": \"DNSBL_TESTBL\", \"codes\": [\"127.0.0.2=SBL:4\","        \
    "                \"127.0.0.4-7=XBL:5\"]},"                                              \
    "  \"wl.test\": {\"allow\": true, \"score\": -2, \"codes\": [\"127.0.0.255=LIMIT:0\"]},"  \
    "  \"rhs.test\": {\"type\": \"domain\"}}}"

static void listed_clients_get_the_symbols_of_their_codes(void **state)
{
    (void)state;
    start(ZONES);
    assert_string_equal(attempt("192.0.2.20", NULL, "s@good.test", "u@a.test"), "");
    ASSERT_HAS("DNSBL_TESTBL_SBL");
    ASSERT_NOT("DNSBL_TESTBL_XBL");
    assert_string_equal(attempt("192.0.2.21", NULL, "s@good.test", "u@a.test"), "");
    ASSERT_HAS("DNSBL_TESTBL_XBL");
    assert_string_equal(attempt("2001:db8::20", NULL, "s@good.test", "u@a.test"), "");
    ASSERT_HAS("DNSBL_TESTBL_SBL");
    assert_string_equal(attempt("192.0.2.10", NULL, "s@good.test", "u@a.test"), "");
    ASSERT_HAS("DNSBL_WL");
    ASSERT_NOT("DNSBL_TESTBL");
    assert_true(fx->dnswl);
    /* .20 again: the allowlist's "over the limit" code is no allowlisting */
    assert_string_equal(attempt("192.0.2.20", NULL, "s@good.test", "u@a.test"), "");
    ASSERT_HAS("DNSBL_WL_LIMIT");
    assert_false(fx->dnswl);
    assert_string_equal(attempt("192.0.2.12", "spam.test", "s@spam.test", "u@a.test"), "");
    ASSERT_HAS("RHSBL_RHS");
    assert_string_equal(attempt("192.0.2.12", "spam.test.", "s@good.test", "u@a.test"), "");
    ASSERT_HAS("RHSBL_RHS");
    /* a wildcarding resolver's answer is not a listing */
    assert_string_equal(attempt("192.0.2.23", NULL, "s@good.test", "u@a.test"), "");
    ASSERT_NOT("DNSBL_TESTBL");
}

static void refused_queries_are_never_listings(void **state)
{
    (void)state;
    start(ZONES);
    assert_string_equal(attempt("192.0.2.22", NULL, "s@good.test", "u@a.test"), "");
    ASSERT_HAS("DNSBL_REFUSED");
    ASSERT_NOT("DNSBL_TESTBL");
    ASSERT_NOT("DNSBL_TESTBL_SBL");
    assert_int_equal(fx->unavailable_events, 1);
    assert_string_equal(attempt("192.0.2.22", NULL, "s@good.test", "u@a.test"), "");
    assert_int_equal(fx->unavailable_events, 1);     /* once per outage */
}

static void a_zone_may_refuse_listed_clients(void **state)
{
    (void)state;
    start("\"dnsbl\": {\"zones\": {\"bl.test\": {\"refuse\": \"strict\"}}}");
    assert_string_equal(attempt("192.0.2.20", NULL, "s@good.test", "u@a.test"), "");
    ASSERT_HAS("DNSBL_BL_TEST");
    assert_string_equal(attempt("192.0.2.20", NULL, "s@good.test", "u@strict.test"),
                        "554 5.7.1 Service unavailable; Client host [192.0.2.20] blocked "
                        "using bl.test");
}

/* ---- sender_domain ----------------------------------------------------------------------- */

static void sender_domains_must_take_mail(void **state)
{
    (void)state;
    start("\"sender_domain\": {\"refuse\": \"always\"}");
    assert_string_equal(attempt("192.0.2.10", NULL, "s@good.test", "u@a.test"), "");
    assert_string_equal(attempt("192.0.2.10", NULL, "s@aonly.test", "u@a.test"), "");
    assert_string_equal(attempt("192.0.2.10", NULL, "", "u@a.test"), "");
    assert_string_equal(attempt("192.0.2.10", NULL, "s@nx.test", "u@a.test"),
                        "550 5.1.8 <s@nx.test>: Sender address rejected: Domain not found");
    ASSERT_HAS("SENDER_DOMAIN_NXDOMAIN");
    assert_string_equal(attempt("192.0.2.10", NULL, "s@nomx.test", "u@a.test"),
                        "550 5.1.8 <s@nomx.test>: Sender address rejected: Domain not found");
    ASSERT_HAS("SENDER_DOMAIN_NO_MX");
    assert_string_equal(attempt("192.0.2.10", NULL, "s@nullmx.test", "u@a.test"),
                        "550 5.7.27 <s@nullmx.test>: Sender address rejected: Domain does not "
                        "accept mail (null MX)");
    ASSERT_HAS("SENDER_DOMAIN_NULL_MX");
    assert_string_equal(attempt("192.0.2.10", NULL, "s@sf.test", "u@a.test"),
                        "451 4.1.8 <s@sf.test>: Sender address rejected: Domain not found, try "
                        "again later");
    assert_string_equal(attempt("192.0.2.10", NULL, "s@nx.test", "postmaster@a.test"), "");
}

static void sender_domain_refusals_are_strict_only_by_default(void **state)
{
    (void)state;
    start("\"sender_domain\": {\"skip_domains\": [\"a.test\"]}");
    assert_string_equal(attempt("192.0.2.10", NULL, "s@nx.test", "u@a.test"), "");
    ASSERT_HAS("SENDER_DOMAIN_NXDOMAIN");
    assert_string_equal(attempt("192.0.2.10", NULL, "s@nx.test", "u@strict.test"),
                        "550 5.1.8 <s@nx.test>: Sender address rejected: Domain not found");
    /* a served domain's own users are not looked up */
    assert_string_equal(attempt("192.0.2.10", NULL, "me@a.test", "u@a.test"), "");
    ASSERT_NOT("SENDER_DOMAIN_NXDOMAIN");
}

/* ---- early talkers ------------------------------------------------------------------------ */

static void early_talkers_are_scored_from_the_session_fact(void **state)
{
    (void)state;
    start("\"early_talker\": {}");
    assert_string_equal(attempt("192.0.2.10", "mail.good.test", "s@good.test", "u@a.test"), "");
    ASSERT_NOT("EARLY_TALKER");
    fx->early_talk = true;
    assert_string_equal(attempt("192.0.2.10", "mail.good.test", "s@good.test", "u@a.test"), "");
    ASSERT_HAS("EARLY_TALKER");
}

/* ---- deadlines ------------------------------------------------------------------------------ */

static void a_server_that_never_answers_gives_timeouts_and_accepts(void **state)
{
    (void)state;
    start("\"rdns\": {}, \"sender_domain\": {}, \"helo\": {}, " ZONES);
    assert_string_equal(attempt("192.0.2.15", "slow.test", "s@slow.test", "u@a.test"), "");
    ASSERT_HAS("RDNS_TIMEOUT");
    ASSERT_HAS("HELO_TIMEOUT");
    ASSERT_HAS("SENDER_DOMAIN_TIMEOUT");
    assert_string_equal(attempt("192.0.2.16", NULL, "s@good.test", "u@a.test"), "");
    ASSERT_HAS("DNSBL_TIMEOUT");
    /* strict domains defer when the reverse lookups ran out of time */
    assert_string_equal(attempt("192.0.2.15", NULL, "s@good.test", "u@strict.test"),
                        "450 4.7.25 Client host rejected: cannot find your reverse hostname, "
                        "[192.0.2.15]");
}

/* ---- exempt networks ------------------------------------------------------------------------ */

static void exempt_networks_are_not_looked_up(void **state)
{
    struct pt_root cfg;
    char *msg = NULL;

    (void)state;
    start("\"rdns\": {\"skip_networks\": [\"192.0.2.0/25\", \"::1\"]},"
          "\"helo\": {\"skip_networks\": [\"192.0.2.12\"]},"
          "\"sender_domain\": {\"skip_networks\": [\"192.0.2.0/24\"]},"
          "\"dnsbl\": {\"skip_networks\": [\"192.0.2.0/24\"], \"zones\": {\"bl.test\": {}}}");
    fx->srv.received = 0;
    assert_string_equal(attempt("192.0.2.12", "localhost", "s@nx.test", "u@strict.test"), "");
    assert_int_equal(fx->srv.received, 0);
    ASSERT_NOT("RDNS_NONE");
    ASSERT_NOT("HELO_NOT_FQDN");
    assert_string_equal(attempt("192.0.2.200", NULL, "s@good.test", "u@a.test"), "");
    ASSERT_HAS("RDNS_NONE");
    /* a bad network is a config error */
    assert_int_equal(pt_load("{\"policy\": {\"profiles\": {\"p\": {\"checks\": {\"rdns\": "
                             "{\"skip_networks\": [\"not-a-net\"]}}}}}}", &cfg, &msg), -1);
    assert_non_null(strstr(msg, "skip_networks: \"not-a-net\" is not an IP network"));
    free(msg);
    pt_free(&cfg);
}

/* ---- concurrency ---------------------------------------------------------------------------- */

static void a_stage_sends_all_its_lookups_before_any_answer(void **state)
{
    (void)state;
    start("\"rdns\": {}, \"sender_domain\": {}, "
          "\"dnsbl\": {\"zones\": {\"bl.test\": {}, \"wl.test\": {}, \"third.test\": {},"
          "                       \"rhs.test\": {\"type\": \"domain\"}}}");
    /* CONNECT: PTR + 3 DNSBL zones; MAIL: MX, A, AAAA + 1 RHSBL zone */
    fx->srv.hold = 4;
    fx->srv.received = 0;
    {
        struct engine_session *s = engine_session_new(fx->e, engine_profile_find(fx->e, "p"),
                                                      "mx", "192.0.2.20");
        run(s, STAGE_CONNECT);
        assert_int_equal(fx->srv.held_max, 4);
        assert_int_equal(fx->srv.received, 4);   /* no PTR for .20: no forward lookup */
        fx->srv.hold = 4;
        fx->srv.received = 0;
        fx->srv.held_max = 0;
        engine_tx_begin(s, "s@spam.test", "QID1");
        run(s, STAGE_MAIL);
        assert_int_equal(fx->srv.held_max, 4);
        engine_session_free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rdns_confirms_names_and_scores_the_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(strict_domains_refuse_without_reverse_dns, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_backup_relay_may_defer_definite_answers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(helo_names_give_their_symbols, setup, teardown),
        cmocka_unit_test_setup_teardown(our_own_name_is_refused_and_strict_domains_want_a_name,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(listed_clients_get_the_symbols_of_their_codes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(refused_queries_are_never_listings, setup, teardown),
        cmocka_unit_test_setup_teardown(a_zone_may_refuse_listed_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(sender_domains_must_take_mail, setup, teardown),
        cmocka_unit_test_setup_teardown(sender_domain_refusals_are_strict_only_by_default, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(early_talkers_are_scored_from_the_session_fact, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_server_that_never_answers_gives_timeouts_and_accepts,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(exempt_networks_are_not_looked_up, setup, teardown),
        cmocka_unit_test_setup_teardown(a_stage_sends_all_its_lookups_before_any_answer, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
