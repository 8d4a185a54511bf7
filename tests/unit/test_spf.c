/*
 * test_spf.c - the SPF evaluator (mailauth/spf.c) against an in-memory DNS table, from the
 * text of RFC 7208: results and qualifiers, record selection, every mechanism and
 * modifier, include/redirect semantics, exp=, %{p}, the lookup, void and MX limits, DNS
 * errors, the HELO identity, the deadline and cancellation.
 *
 * The fake resolver answers from a table of (name, type, data) rows on the next loop
 * turn, never inside lookup(), like lib/dns. Special rows: type "TIMEOUT" makes every
 * lookup of the name answer DNS_TIMEOUT; "HANG" makes it never answer.
 */
#include "mailauth/spf.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#define FAKE_MAX_RECORDS 32
#define FAKE_NAME_MAX 300

struct fake_rr {
    const char *name, *type, *data;
};

struct fake_q {
    struct fake_q *next, *prev;
    struct event *ev;
    enum dns_type type;
    char name[FAKE_NAME_MAX];
    dns_cb cb;
    void *arg;
};

static struct {
    struct event_base *base;
    const struct fake_rr *zone;
    size_t nzone;
    struct fake_q *pending;
    size_t in_flight, max_in_flight, queries;
    char log[4096];                      /* "TYPE name;" per query */
} fake;

static const char *type_name(enum dns_type t)
{
    return dns_type_str(t);
}

static bool has_rule(const char *name, const char *rule)
{
    for (size_t i = 0; i < fake.nzone; i++)
        if (strcasecmp(fake.zone[i].name, name) == 0 && strcmp(fake.zone[i].type, rule) == 0)
            return true;
    return false;
}

static void fake_unlink(struct fake_q *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        fake.pending = q->next;
    if (q->next)
        q->next->prev = q->prev;
    fake.in_flight--;
}

static void fake_fire(evutil_socket_t fd, short what, void *arg)
{
    struct fake_q *q = arg;
    struct in_addr a[FAKE_MAX_RECORDS];
    struct in6_addr aaaa[FAKE_MAX_RECORDS];
    struct dns_mx mx[FAKE_MAX_RECORDS];
    char mxhost[FAKE_MAX_RECORDS][FAKE_NAME_MAX];
    const char *ptr[FAKE_MAX_RECORDS];
    struct dns_txt txt[FAKE_MAX_RECORDS];
    struct dns_result res = { .type = q->type, .name = q->name };
    bool name_exists = false;

    (void)fd;
    (void)what;
    fake_unlink(q);
    for (size_t i = 0; i < fake.nzone; i++) {
        const struct fake_rr *r = &fake.zone[i];
        if (strcasecmp(r->name, q->name) != 0)
            continue;
        name_exists = true;
        if (strcmp(r->type, type_name(q->type)) != 0)
            continue;
        switch (q->type) {
        case DNS_T_A:
            inet_pton(AF_INET, r->data, &a[res.n]);
            break;
        case DNS_T_AAAA:
            inet_pton(AF_INET6, r->data, &aaaa[res.n]);
            break;
        case DNS_T_MX:
            sscanf(r->data, "%u %299s", &mx[res.n].pref, mxhost[res.n]);
            mx[res.n].host = mxhost[res.n];
            break;
        case DNS_T_PTR:
            ptr[res.n] = r->data;
            break;
        case DNS_T_TXT:
            txt[res.n].text = r->data;
            txt[res.n].len = strlen(r->data);
            break;
        }
        res.n++;
    }
    res.a = a;
    res.aaaa = aaaa;
    res.mx = mx;
    res.ptr = ptr;
    res.txt = txt;
    if (has_rule(q->name, "TIMEOUT"))
        res.status = DNS_TIMEOUT, res.n = 0;
    else
        res.status = res.n ? DNS_OK : name_exists ? DNS_NODATA : DNS_NXDOMAIN;
    q->cb(&res, q->arg);
    event_free(q->ev);
    free(q);
}

static void *fake_lookup(void *ctx, enum dns_type type, const char *name, dns_cb cb, void *arg)
{
    struct fake_q *q = calloc(1, sizeof(*q));

    (void)ctx;
    q->type = type;
    snprintf(q->name, sizeof(q->name), "%s", name);
    q->cb = cb;
    q->arg = arg;
    q->next = fake.pending;
    if (fake.pending)
        fake.pending->prev = q;
    fake.pending = q;
    fake.queries++;
    if (++fake.in_flight > fake.max_in_flight)
        fake.max_in_flight = fake.in_flight;
    snprintf(fake.log + strlen(fake.log), sizeof(fake.log) - strlen(fake.log), "%s %s;",
             type_name(type), name);
    q->ev = event_new(fake.base, -1, 0, fake_fire, q);
    if (!has_rule(name, "HANG"))
        event_active(q->ev, EV_TIMEOUT, 0);
    return q;
}

static void fake_cancel(void *ctx, void *handle)
{
    struct fake_q *q = handle;

    (void)ctx;
    fake_unlink(q);
    event_free(q->ev);
    free(q);
}

static const struct spf_resolver fake_resolver = {
    .lookup = fake_lookup, .cancel = fake_cancel, .ctx = NULL,
};

/* ---- running one check ---- */

static struct {
    bool done;
    struct spf_outcome *o;
} got;

static void on_done(const struct spf_outcome *o, void *arg)
{
    (void)arg;
    assert_false(got.done);
    got.done = true;
    got.o = spf_outcome_dup(o);
}

static int setup(void **state)
{
    (void)state;
    memset(&fake, 0, sizeof(fake));
    memset(&got, 0, sizeof(got));
    fake.base = event_base_new();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_null(fake.pending);                /* every lookup answered or cancelled */
    spf_outcome_free(got.o);
    event_base_free(fake.base);
    return 0;
}

#define ZONE(...) (const struct fake_rr[]){ __VA_ARGS__ }, \
    sizeof((const struct fake_rr[]){ __VA_ARGS__ }) / sizeof(struct fake_rr)

static const struct spf_outcome *check_full(const struct fake_rr *zone, size_t n, const char *ip,
                                            const char *sender, const char *helo,
                                            long long deadline_ms)
{
    struct spf_request req = { .ip = ip, .sender = sender, .helo = helo,
                               .receiver = "mx.receiver.test", .deadline_ms = deadline_ms,
                               .now = 1700000000 };

    spf_outcome_free(got.o);
    memset(&got, 0, sizeof(got));
    fake.zone = zone;
    fake.nzone = n;
    fake.queries = fake.max_in_flight = 0;
    fake.log[0] = '\0';
    spf_check_start(fake.base, &fake_resolver, &req, on_done, NULL);
    assert_false(got.done);                   /* never inside spf_check_start() */
    event_base_dispatch(fake.base);
    assert_true(got.done);
    return got.o;
}

static const struct spf_outcome *check(const struct fake_rr *zone, size_t n, const char *ip,
                                       const char *sender)
{
    return check_full(zone, n, ip, sender, "helo.example.org", 0);
}

#define assert_result(o, r) assert_string_equal(spf_result_str((o)->result), r)

/* ---- results and record selection (RFC 7208 2.6, 4.4, 4.5, 4.7) ---- */

static void ip4_match_gives_the_qualifier_result(void **state)
{
    const struct spf_outcome *o;
    (void)state;
    o = check(ZONE({ "example.com", "TXT", "v=spf1 ip4:192.0.2.0/24 -all" }),
              "192.0.2.9", "user@example.com");
    assert_result(o, "pass");
    assert_string_equal(o->mechanism, "ip4:192.0.2.0/24");
    assert_string_equal(o->domain, "example.com");
    assert_int_equal(o->identity, SPF_ID_MAILFROM);
    assert_string_equal(o->sender, "user@example.com");
    o = check(ZONE({ "example.com", "TXT", "v=spf1 ip4:192.0.2.0/24 -all" }),
              "198.51.100.1", "user@example.com");
    assert_result(o, "fail");
    assert_string_equal(o->mechanism, "-all");
    assert_null(o->explanation);
}

static void softfail_neutral_and_the_default(void **state)
{
    (void)state;
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 ~all" }), "192.0.2.1",
                        "a@example.com"), "softfail");
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 ?all" }), "192.0.2.1",
                        "a@example.com"), "neutral");
    /* 4.7: nothing matched, no redirect: neutral */
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 ip4:10.0.0.1" }), "192.0.2.1",
                        "a@example.com"), "neutral");
    assert_null(got.o->mechanism);
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1" }), "192.0.2.1",
                        "a@example.com"), "neutral");
}

static void no_record_is_none(void **state)
{
    (void)state;
    assert_result(check(ZONE({ "other.com", "A", "192.0.2.1" }), "192.0.2.1",
                        "a@example.com"), "none");                    /* NXDOMAIN */
    assert_result(check(ZONE({ "example.com", "A", "192.0.2.1" }), "192.0.2.1",
                        "a@example.com"), "none");                    /* no TXT */
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf10 -all" },
                             { "example.com", "TXT", "google-site-verification=x" }),
                        "192.0.2.1", "a@example.com"), "none");
}

static void malformed_domains_are_none_without_a_query(void **state)
{
    static const char *const senders[] = {
        "a@A123456789012345678901234567890123456789012345678901234567890123.example.com",
        "a@A...example.com", "a@[192.0.2.1]", "a@localhost", "a@192.0.2.1",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(senders) / sizeof(senders[0]); i++) {
        assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 -all" }), "192.0.2.1",
                            senders[i]), "none");
        assert_int_equal(fake.queries, 0);
    }
}

static void several_spf_records_are_permerror(void **state)
{
    (void)state;
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 -all" },
                             { "example.com", "TXT", "V=SPF1 +all" }),
                        "192.0.2.1", "a@example.com"), "permerror");
    /* 3.3: strings of one record are joined; the version is case-insensitive */
    assert_result(check(ZONE({ "example.com", "TXT", "V=SpF1 ~all" },
                             { "example.com", "TXT", "other text" }),
                        "192.0.2.1", "a@example.com"), "softfail");
}

static void any_syntax_error_is_permerror_even_after_a_match(void **state)
{
    (void)state;
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 ip4:192.0.2.1 -all moo" }),
                        "192.0.2.1", "a@example.com"), "permerror");
    assert_non_null(strstr(got.o->comment, "moo"));
    assert_null(got.o->mechanism);
}

static void record_lookup_timeout_is_temperror(void **state)
{
    (void)state;
    assert_result(check(ZONE({ "example.com", "TIMEOUT", "" }), "192.0.2.1", "a@example.com"),
                  "temperror");
}

/* ---- mechanisms (RFC 7208 5) ---- */

static void a_mechanism_with_dual_cidr(void **state)
{
#define A_ZONE ZONE({ "example.com", "TXT", "v=spf1 a/24//64 -all" }, \
                    { "example.com", "A", "192.0.2.5" }, \
                    { "example.com", "AAAA", "2001:db8:1234::dead:beef" })
    (void)state;
    assert_result(check(A_ZONE, "192.0.2.77", "a@example.com"), "pass");
    assert_result(check(A_ZONE, "192.0.3.77", "a@example.com"), "fail");
    assert_result(check(A_ZONE, "2001:db8:1234::cafe:babe", "a@example.com"), "pass");
    assert_result(check(A_ZONE, "2001:db8:1235::1", "a@example.com"), "fail");
    assert_non_null(strstr(fake.log, "AAAA example.com;"));   /* the client's family */
#undef A_ZONE
}

static void ipv4_mapped_client_is_ipv4(void **state)
{
    (void)state;
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 ip6:::/0 ip4:192.0.2.1 -all" }),
                        "::ffff:192.0.2.1", "a@example.com"), "pass");
    assert_string_equal(got.o->mechanism, "ip4:192.0.2.1");
}

static void mx_hosts_are_looked_up_together(void **state)
{
    (void)state;
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 mx -all" },
                             { "example.com", "MX", "10 mx1.example.com" },
                             { "example.com", "MX", "20 mx2.example.com" },
                             { "example.com", "MX", "30 mx3.example.com" },
                             { "mx1.example.com", "A", "192.0.2.10" },
                             { "mx2.example.com", "A", "192.0.2.11" },
                             { "mx3.example.com", "A", "192.0.2.12" }),
                        "192.0.2.12", "a@example.com"), "pass");
    assert_int_equal(fake.max_in_flight, 3);
    assert_int_equal(got.o->lookups, 1);          /* one term, however many hosts */
}

static void mx_limits_and_errors(void **state)
{
    (void)state;
    /* 4.6.4: more than 10 MX records is permerror */
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 mx" },
                             { "example.com", "MX", "0 m0.example.com" },
                             { "example.com", "MX", "1 m1.example.com" },
                             { "example.com", "MX", "2 m2.example.com" },
                             { "example.com", "MX", "3 m3.example.com" },
                             { "example.com", "MX", "4 m4.example.com" },
                             { "example.com", "MX", "5 m5.example.com" },
                             { "example.com", "MX", "6 m6.example.com" },
                             { "example.com", "MX", "7 m7.example.com" },
                             { "example.com", "MX", "8 m8.example.com" },
                             { "example.com", "MX", "9 m9.example.com" },
                             { "example.com", "MX", "10 m10.example.com" }),
                        "192.0.2.1", "a@example.com"), "permerror");
    /* 5.4: no MX means no match, never the domain's own A */
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 mx" },
                             { "example.com", "A", "192.0.2.1" }),
                        "192.0.2.1", "a@example.com"), "neutral");
    /* a timeout on a host's addresses is temperror */
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 mx:mx.example.org -all" },
                             { "mx.example.org", "MX", "10 slow.example.org" },
                             { "slow.example.org", "TIMEOUT", "" }),
                        "192.0.2.1", "a@example.com"), "temperror");
}

static void ptr_matches_validated_names_only(void **state)
{
#define PTR_ZONE ZONE({ "example.com", "TXT", "v=spf1 ptr -all" }, \
                      { "1.2.0.192.in-addr.arpa", "PTR", "mail.Example.com" }, \
                      { "1.2.0.192.in-addr.arpa", "PTR", "liar.example.com" }, \
                      { "2.2.0.192.in-addr.arpa", "PTR", "liar.example.com" }, \
                      { "mail.example.com", "A", "192.0.2.1" }, \
                      { "liar.example.com", "A", "198.51.100.1" })
    (void)state;
    assert_result(check(PTR_ZONE, "192.0.2.1", "a@example.com"), "pass");
    /* the PTR name's A record does not point back: not validated (5.5) */
    assert_result(check(PTR_ZONE, "192.0.2.2", "a@example.com"), "fail");
    /* a DNS error on the PTR lookup is no match, not temperror (5.5) */
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 ptr ?all" },
                             { "3.2.0.192.in-addr.arpa", "TIMEOUT", "" }),
                        "192.0.2.3", "a@example.com"), "neutral");
#undef PTR_ZONE
}

static void include_results(void **state)
{
    (void)state;
    /* 5.2: pass matches; fail, softfail, neutral do not */
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 include:_spf.example.net -all" },
                             { "_spf.example.net", "TXT", "v=spf1 ip4:192.0.2.0/24 -all" }),
                        "192.0.2.1", "a@example.com"), "pass");
    assert_string_equal(got.o->mechanism, "include:_spf.example.net");
    assert_string_equal(got.o->mechanism_domain, "example.com");
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 include:_spf.example.net ~all" },
                             { "_spf.example.net", "TXT", "v=spf1 ip4:10.0.0.1 -all" }),
                        "192.0.2.1", "a@example.com"), "softfail");
    /* none in the included domain is permerror; temperror stays temperror */
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 include:nothing.example.net" }),
                        "192.0.2.1", "a@example.com"), "permerror");
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 include:slow.example.net" },
                             { "slow.example.net", "TIMEOUT", "" }),
                        "192.0.2.1", "a@example.com"), "temperror");
}

static void exists_uses_a_records_for_any_client(void **state)
{
    (void)state;
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 exists:%{ir}.list.example.com -all" },
                             { "1.2.0.192.list.example.com", "A", "127.0.0.2" }),
                        "192.0.2.1", "a@example.com"), "pass");
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 exists:%{l}.example.com -all" },
                             { "a.example.com", "A", "127.0.0.2" }),
                        "2001:db8::1", "a@example.com"), "pass");
    assert_non_null(strstr(fake.log, "A a.example.com;"));
}

/* ---- modifiers (RFC 7208 6) ---- */

static void redirect_only_when_nothing_matched(void **state)
{
    (void)state;
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 ip4:10.0.0.1 redirect=_spf.example.com" },
                             { "_spf.example.com", "TXT", "v=spf1 a -all" },
                             { "_spf.example.com", "A", "192.0.2.1" }),
                        "192.0.2.1", "a@example.com"), "pass");
    /* %{d} and the implicit domain of "a" become the redirect target's */
    assert_non_null(strstr(fake.log, "A _spf.example.com;"));
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 redirect=loop.example.com ~all" }),
                        "192.0.2.1", "a@example.com"), "softfail");
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 redirect=nothing.example.com" }),
                        "192.0.2.1", "a@example.com"), "permerror");
}

static void explanation_on_fail_only(void **state)
{
#define EXP_ZONE(q) ZONE({ "example.com", "TXT", "v=spf1 " q "all exp=why.%{d}" }, \
                         { "why.example.com", "TXT", "%{l} may not send from %{c} (%{r})." })
    (void)state;
    assert_result(check(EXP_ZONE("-"), "192.0.2.1", "joe@example.com"), "fail");
    assert_string_equal(got.o->explanation,
                        "joe may not send from 192.0.2.1 (mx.receiver.test).");
    assert_result(check(EXP_ZONE("~"), "192.0.2.1", "joe@example.com"), "softfail");
    assert_null(got.o->explanation);
    assert_null(strstr(fake.log, "why.example.com"));          /* not even looked up */
#undef EXP_ZONE
}

static void explanation_problems_are_ignored(void **state)
{
    (void)state;
    /* 6.2: more than one TXT record, a DNS error, a syntax error: no explanation */
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 -all exp=why.example.com" },
                             { "why.example.com", "TXT", "one" },
                             { "why.example.com", "TXT", "two" }),
                        "192.0.2.1", "a@example.com"), "fail");
    assert_null(got.o->explanation);
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 -all exp=why.example.com" },
                             { "why.example.com", "TIMEOUT", "" }),
                        "192.0.2.1", "a@example.com"), "fail");
    assert_null(got.o->explanation);
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 -all exp=why.example.com" },
                             { "why.example.com", "TXT", "The %{x}-files." }),
                        "192.0.2.1", "a@example.com"), "fail");
    assert_null(got.o->explanation);
}

static void explanation_of_the_deciding_record(void **state)
{
    (void)state;
    /* redirect drops the first record's exp= and uses the target's */
    check(ZONE({ "example.com", "TXT", "v=spf1 exp=e1.example.com redirect=r.example.com" },
               { "r.example.com", "TXT", "v=spf1 -all exp=e2.example.com" },
               { "e1.example.com", "TXT", "No-see-um" },
               { "e2.example.com", "TXT", "See me." }),
          "192.0.2.1", "a@example.com");
    assert_string_equal(got.o->explanation, "See me.");
    /* include never uses the included record's exp= */
    check(ZONE({ "example.com", "TXT", "v=spf1 -include:i.example.com -all exp=e1.example.com" },
               { "i.example.com", "TXT", "v=spf1 +all exp=e2.example.com" },
               { "e1.example.com", "TXT", "Correct!" },
               { "e2.example.com", "TXT", "Wrong" }),
          "192.0.2.1", "a@example.com");
    assert_result(got.o, "fail");
    assert_string_equal(got.o->explanation, "Correct!");
}

static void p_macro_uses_the_validated_name(void **state)
{
#define P_ZONE ZONE({ "example.com", "TXT", "v=spf1 -all exp=msg.example.com" }, \
                    { "msg.example.com", "TXT", "connect from %{p}" }, \
                    { "40.2.0.192.in-addr.arpa", "PTR", "mx.example.com" }, \
                    { "41.2.0.192.in-addr.arpa", "PTR", "mx.example.com" }, \
                    { "mx.example.com", "A", "192.0.2.41" })
    (void)state;
    check(P_ZONE, "192.0.2.41", "a@example.com");
    assert_string_equal(got.o->explanation, "connect from mx.example.com");
    check(P_ZONE, "192.0.2.40", "a@example.com");
    assert_string_equal(got.o->explanation, "connect from unknown");
#undef P_ZONE
}

/* ---- limits (RFC 7208 4.6.4) ---- */

static void ten_lookups_pass_eleven_are_permerror(void **state)
{
    (void)state;
    assert_result(check(ZONE({ "example.com", "TXT",
                               "v=spf1 a mx a mx a mx a mx a ptr ip4:192.0.2.1 -all" },
                             { "example.com", "A", "198.51.100.1" },
                             { "example.com", "MX", "10 example.com" }),
                        "192.0.2.1", "a@example.com"), "pass");
    assert_int_equal(got.o->lookups, 10);
    assert_result(check(ZONE({ "example.com", "TXT",
                               "v=spf1 a mx a mx a mx a mx a ptr a ip4:192.0.2.1 -all" },
                             { "example.com", "A", "198.51.100.1" },
                             { "example.com", "MX", "10 example.com" }),
                        "192.0.2.1", "a@example.com"), "permerror");
    /* an include loop ends at the limit */
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 include:loop.example.com" },
                             { "loop.example.com", "TXT", "v=spf1 include:example.com" }),
                        "192.0.2.1", "a@example.com"), "permerror");
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 ip4:10.0.0.1 redirect=example.com" }),
                        "192.0.2.1", "a@example.com"), "permerror");
}

static void third_void_lookup_is_permerror(void **state)
{
    (void)state;
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 a:n1.example.com a:n2.example.com ?all" }),
                        "192.0.2.1", "a@example.com"), "neutral");
    assert_int_equal(got.o->void_lookups, 2);
    assert_result(check(ZONE({ "example.com", "TXT",
                               "v=spf1 a:n1.example.com a:n2.example.com a:n3.example.com ?all" }),
                        "192.0.2.1", "a@example.com"), "permerror");
    /* exp= does not count */
    assert_result(check(ZONE({ "example.com", "TXT",
                               "v=spf1 a:n1.example.com a:n2.example.com exp=n3.example.com -all" }),
                        "192.0.2.1", "a@example.com"), "fail");
}

/* ---- identity, deadline, cancellation ---- */

static void helo_is_checked_for_the_null_sender(void **state)
{
    (void)state;
    check_full(ZONE({ "mail.example.org", "TXT", "v=spf1 -all exp=why.example.org" },
                    { "why.example.org", "TXT", "%{l} %{o} %{s}" }),
               "192.0.2.1", "", "mail.example.org", 0);
    assert_result(got.o, "fail");
    assert_int_equal(got.o->identity, SPF_ID_HELO);
    assert_string_equal(got.o->domain, "mail.example.org");
    assert_string_equal(got.o->explanation,
                        "postmaster mail.example.org postmaster@mail.example.org");
    /* a sender without a local part gets "postmaster" (4.3) */
    check(ZONE({ "example.net", "TXT", "v=spf1 -all exp=why.example.net" },
               { "why.example.net", "TXT", "%{l}" }),
          "192.0.2.1", "@example.net");
    assert_string_equal(got.o->explanation, "postmaster");
}

static void deadline_gives_temperror(void **state)
{
    (void)state;
    check_full(ZONE({ "example.com", "TXT", "v=spf1 a:slow.example.com -all" },
                    { "slow.example.com", "HANG", "" }),
               "192.0.2.1", "a@example.com", NULL, 50);
    assert_result(got.o, "temperror");
    assert_non_null(strstr(got.o->comment, "deadline"));
}

static void cancel_runs_no_callback(void **state)
{
    static const struct fake_rr zone[] = {
        { "example.com", "TXT", "v=spf1 mx -all" },
        { "example.com", "MX", "10 mx1.example.com" },
        { "example.com", "MX", "20 mx2.example.com" },
        { "mx1.example.com", "HANG", "" },
        { "mx2.example.com", "HANG", "" },
    };
    struct spf_request req = { .ip = "192.0.2.1", .sender = "a@example.com" };
    struct spf_check *c;
    (void)state;
    fake.zone = zone;
    fake.nzone = sizeof(zone) / sizeof(zone[0]);
    c = spf_check_start(fake.base, &fake_resolver, &req, on_done, NULL);
    /* run until both MX hosts' lookups hang in flight, then cancel mid-evaluation */
    for (int i = 0; i < 10 && fake.in_flight < 2; i++)
        event_base_loop(fake.base, EVLOOP_NONBLOCK);
    assert_int_equal(fake.in_flight, 2);
    spf_cancel(c);
    assert_int_equal(fake.in_flight, 0);
    event_base_dispatch(fake.base);
    assert_false(got.done);
    spf_cancel(NULL);
}

static void bad_client_address_is_none(void **state)
{
    (void)state;
    assert_result(check(ZONE({ "example.com", "TXT", "v=spf1 -all" }), "no.such.ip",
                        "a@example.com"), "none");
    assert_int_equal(fake.queries, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(ip4_match_gives_the_qualifier_result, setup, teardown),
        cmocka_unit_test_setup_teardown(softfail_neutral_and_the_default, setup, teardown),
        cmocka_unit_test_setup_teardown(no_record_is_none, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_domains_are_none_without_a_query, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(several_spf_records_are_permerror, setup, teardown),
        cmocka_unit_test_setup_teardown(any_syntax_error_is_permerror_even_after_a_match,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(record_lookup_timeout_is_temperror, setup, teardown),
        cmocka_unit_test_setup_teardown(a_mechanism_with_dual_cidr, setup, teardown),
        cmocka_unit_test_setup_teardown(ipv4_mapped_client_is_ipv4, setup, teardown),
        cmocka_unit_test_setup_teardown(mx_hosts_are_looked_up_together, setup, teardown),
        cmocka_unit_test_setup_teardown(mx_limits_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(ptr_matches_validated_names_only, setup, teardown),
        cmocka_unit_test_setup_teardown(include_results, setup, teardown),
        cmocka_unit_test_setup_teardown(exists_uses_a_records_for_any_client, setup, teardown),
        cmocka_unit_test_setup_teardown(redirect_only_when_nothing_matched, setup, teardown),
        cmocka_unit_test_setup_teardown(explanation_on_fail_only, setup, teardown),
        cmocka_unit_test_setup_teardown(explanation_problems_are_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(explanation_of_the_deciding_record, setup, teardown),
        cmocka_unit_test_setup_teardown(p_macro_uses_the_validated_name, setup, teardown),
        cmocka_unit_test_setup_teardown(ten_lookups_pass_eleven_are_permerror, setup, teardown),
        cmocka_unit_test_setup_teardown(third_void_lookup_is_permerror, setup, teardown),
        cmocka_unit_test_setup_teardown(helo_is_checked_for_the_null_sender, setup, teardown),
        cmocka_unit_test_setup_teardown(deadline_gives_temperror, setup, teardown),
        cmocka_unit_test_setup_teardown(cancel_runs_no_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_client_address_is_none, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
