/*
 * test_dmarc.c - unit tests of mailauth/dmarc_record.c, dmarc_org.c and dmarc.c: record
 * parsing (what is required, what is tolerated), organizational domains with multi-level
 * public suffixes (co.uk, wildcard and exception rules, private suffixes), relaxed and
 * strict alignment of SPF and DKIM identities, p=/sp=/pct= (deterministic sampling),
 * discovery with fallback to the organizational domain through an in-memory TXT table
 * (dkim_testdns.h), temporary failures, cancellation and the dmarc= clause.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/dmarc.h"
#include "tests/unit/dkim_testdns.h"

/* ---- records ---------------------------------------------------------------------------- */

static enum dmarc_record_status parse(const char *s, struct dmarc_record *r)
{
    return dmarc_record_parse(s, strlen(s), r, NULL);
}

static void record_minimal_is_parsed_with_defaults(void **state)
{
    struct dmarc_record r;
    (void)state;
    assert_int_equal(parse("v=DMARC1; p=reject", &r), DMARC_REC_OK);
    assert_int_equal(r.p, DMARC_POLICY_REJECT);
    assert_int_equal(r.sp, DMARC_POLICY_REJECT);
    assert_false(r.has_sp);
    assert_int_equal(r.adkim, DMARC_ALIGN_RELAXED);
    assert_int_equal(r.aspf, DMARC_ALIGN_RELAXED);
    assert_int_equal(r.pct, 100);
}

static void record_all_tags_are_read(void **state)
{
    struct dmarc_record r;
    (void)state;
    assert_int_equal(parse(" v = DMARC1 ;p=quarantine; sp=none; adkim=s; aspf=s; pct=20;"
                           " rua=mailto:agg@example.com!10m, https://x.example/r; "
                           "ruf=mailto:f@example.com; fo=0:d; rf=afrf; ri=3600;", &r),
                     DMARC_REC_OK);
    assert_int_equal(r.p, DMARC_POLICY_QUARANTINE);
    assert_int_equal(r.sp, DMARC_POLICY_NONE);
    assert_true(r.has_sp);
    assert_int_equal(r.adkim, DMARC_ALIGN_STRICT);
    assert_int_equal(r.aspf, DMARC_ALIGN_STRICT);
    assert_int_equal(r.pct, 20);
    assert_true(r.has_rua);
    assert_true(r.has_ruf);
    assert_int_equal(r.ignored, 0);
}

static void record_keywords_are_case_insensitive(void **state)
{
    struct dmarc_record r;
    (void)state;
    assert_int_equal(parse("v=dmarc1; P=Reject; SP=NONE", &r), DMARC_REC_OK);
    assert_int_equal(r.p, DMARC_POLICY_REJECT);
    assert_int_equal(r.sp, DMARC_POLICY_NONE);
}

static void record_must_start_with_version(void **state)
{
    struct dmarc_record r;
    (void)state;
    assert_int_equal(parse("p=reject; v=DMARC1", &r), DMARC_REC_NOT_DMARC);
    assert_int_equal(parse("v=DMARC2; p=reject", &r), DMARC_REC_NOT_DMARC);
    assert_int_equal(parse("v=DMARC1 p=reject", &r), DMARC_REC_NOT_DMARC);
    assert_int_equal(parse("v=spf1 -all", &r), DMARC_REC_NOT_DMARC);
    assert_int_equal(parse("", &r), DMARC_REC_NOT_DMARC);
    assert_int_equal(parse("v", &r), DMARC_REC_NOT_DMARC);
}

static void record_without_policy_is_ignored_unless_rua(void **state)
{
    struct dmarc_record r;
    (void)state;
    assert_int_equal(parse("v=DMARC1", &r), DMARC_REC_NO_POLICY);
    assert_int_equal(parse("v=DMARC1; p=block", &r), DMARC_REC_NO_POLICY);
    assert_int_equal(parse("v=DMARC1; rua=not a uri", &r), DMARC_REC_NO_POLICY);
    assert_int_equal(parse("v=DMARC1; p=bogus; sp=reject; rua=mailto:a@example.com", &r),
                     DMARC_REC_OK);
    assert_true(r.p_implied);
    assert_int_equal(r.p, DMARC_POLICY_NONE);
    assert_int_equal(r.sp, DMARC_POLICY_REJECT);
}

static void record_bad_optional_values_fall_back_to_defaults(void **state)
{
    struct dmarc_record r;
    (void)state;
    assert_int_equal(parse("v=DMARC1; p=reject; sp=maybe; adkim=x; aspf=; pct=101; "
                           "fo=9; ri=soon; future=1", &r), DMARC_REC_OK);
    assert_int_equal(r.sp, DMARC_POLICY_REJECT);
    assert_false(r.has_sp);
    assert_int_equal(r.adkim, DMARC_ALIGN_RELAXED);
    assert_int_equal(r.aspf, DMARC_ALIGN_RELAXED);
    assert_int_equal(r.pct, 100);
    assert_int_equal(r.ignored, 7);
    assert_int_equal(parse("v=DMARC1; p=reject; pct=-1", &r), DMARC_REC_OK);
    assert_int_equal(r.pct, 100);
    assert_int_equal(parse("v=DMARC1; p=reject; pct=0", &r), DMARC_REC_OK);
    assert_int_equal(r.pct, 0);
}

static void record_malformed_tag_list_is_invalid(void **state)
{
    struct dmarc_record r;
    (void)state;
    assert_int_equal(parse("v=DMARC1; p=reject; p=none", &r), DMARC_REC_INVALID);
    assert_int_equal(parse("v=DMARC1; p=reject; P=none", &r), DMARC_REC_INVALID);
    assert_int_equal(parse("v=DMARC1; p", &r), DMARC_REC_INVALID);
    assert_int_equal(parse("v=DMARC1; p=reject; =x", &r), DMARC_REC_INVALID);
    assert_int_equal(dmarc_record_parse("v=DMARC1; p=re\0ject", 19, &r, NULL),
                     DMARC_REC_INVALID);
}

static void record_uri_lists(void **state)
{
    (void)state;
    assert_true(dmarc_uri_list_valid("mailto:a@b", 10));
    assert_true(dmarc_uri_list_valid("bad, mailto:a@b!5k", 18));
    assert_false(dmarc_uri_list_valid("mailto:a@b!", 11));
    assert_false(dmarc_uri_list_valid("mailto:a@b!5x", 13));
    assert_false(dmarc_uri_list_valid("mailto:", 7));
    assert_false(dmarc_uri_list_valid("1x:y", 4));
    assert_false(dmarc_uri_list_valid("", 0));
}

/* ---- organizational domains and alignment ---------------------------------------------- */

static void org(const char *d, const char *want)
{
    char out[DMARC_DOMAIN_MAX + 1];
    assert_int_equal(dmarc_org_domain(d, out, sizeof(out)), 0);
    assert_string_equal(out, want);
}

static void org_domain_multi_level_suffixes(void **state)
{
    (void)state;
    org("example.com", "example.com");
    org("Mail.Example.COM.", "example.com");
    org("a.b.example.co.uk", "example.co.uk");
    org("example.co.uk", "example.co.uk");
    org("co.uk", "co.uk");                       /* a suffix is its own org domain */
    org("deep.mail.example.com.au", "example.com.au");
    org("a.b.c.d.pvt.k12.ma.us", "d.pvt.k12.ma.us");   /* four-label suffix */
    org("foo.bar.kawasaki.jp", "foo.bar.kawasaki.jp"); /* *.kawasaki.jp wildcard */
    org("www.city.kawasaki.jp", "city.kawasaki.jp");   /* !city.kawasaki.jp exception */
    org("x.y.blogspot.com", "y.blogspot.com");   /* private section of the list */
}

static void org_domain_refuses_non_domains(void **state)
{
    char out[DMARC_DOMAIN_MAX + 1];
    char longname[300];
    (void)state;
    assert_int_equal(dmarc_org_domain("", out, sizeof(out)), -1);
    assert_int_equal(dmarc_org_domain("a..example.com", out, sizeof(out)), -1);
    assert_int_equal(dmarc_org_domain("exa mple.com", out, sizeof(out)), -1);
    assert_int_equal(dmarc_org_domain(".example.com", out, sizeof(out)), -1);
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(dmarc_org_domain(longname, out, sizeof(out)), -1);
}

static void alignment_relaxed_and_strict(void **state)
{
    (void)state;
    assert_true(dmarc_aligned("example.com", "mail.example.com", DMARC_ALIGN_RELAXED));
    assert_false(dmarc_aligned("example.com", "mail.example.com", DMARC_ALIGN_STRICT));
    assert_true(dmarc_aligned("Example.COM", "example.com.", DMARC_ALIGN_STRICT));
    assert_true(dmarc_aligned("news.example.co.uk", "bounce.example.co.uk",
                              DMARC_ALIGN_RELAXED));
    /* two registrants under one multi-level suffix never align */
    assert_false(dmarc_aligned("example.co.uk", "other.co.uk", DMARC_ALIGN_RELAXED));
    assert_false(dmarc_aligned("example.co.uk", "co.uk", DMARC_ALIGN_RELAXED));
    assert_false(dmarc_aligned("a.kawasaki.jp", "b.kawasaki.jp", DMARC_ALIGN_RELAXED));
    assert_false(dmarc_aligned("a.blogspot.com", "b.blogspot.com", DMARC_ALIGN_RELAXED));
    assert_false(dmarc_aligned("example.com", "example.net", DMARC_ALIGN_RELAXED));
    assert_false(dmarc_aligned("example.com", NULL, DMARC_ALIGN_RELAXED));
}

/* ---- evaluation (pure) ----------------------------------------------------------------- */

static struct dkim_txt T(const char *s)
{
    struct dkim_txt t = { s, strlen(s) };
    return t;
}

static void eval_spf_aligned_pass(void **state)
{
    struct dmarc_input in = { .from_domain = "example.co.uk",
                              .spf = { "bounce.example.co.uk", true } };
    struct dkim_txt rec = T("v=DMARC1; p=reject");
    struct dmarc_outcome o;
    (void)state;
    dmarc_evaluate(&in, &rec, 1, NULL, 0, &o);
    assert_int_equal(o.result, DMARC_RESULT_PASS);
    assert_true(o.spf_aligned);
    assert_false(o.dkim_aligned);
    assert_int_equal(o.disposition, DMARC_POLICY_NONE);
    assert_string_equal(o.record_domain, "example.co.uk");
}

static void eval_strict_spf_does_not_align_subdomain(void **state)
{
    struct dmarc_input in = { .from_domain = "example.com",
                              .spf = { "bounce.example.com", true } };
    struct dkim_txt rec = T("v=DMARC1; p=reject; aspf=s");
    struct dmarc_outcome o;
    (void)state;
    dmarc_evaluate(&in, &rec, 1, NULL, 0, &o);
    assert_int_equal(o.result, DMARC_RESULT_FAIL);
    assert_int_equal(o.policy, DMARC_POLICY_REJECT);
    assert_int_equal(o.disposition, DMARC_POLICY_REJECT);
}

static void eval_dkim_aligned_pass_among_others(void **state)
{
    struct dmarc_ident dk[] = { { "example.net", true }, { "mail.example.com", false },
                                { "lists.example.com", true } };
    struct dmarc_input in = { .from_domain = "example.com", .spf = { "example.org", true },
                              .dkim = dk, .ndkim = 3 };
    struct dkim_txt rec = T("v=DMARC1; p=reject");
    struct dmarc_outcome o;
    (void)state;
    dmarc_evaluate(&in, &rec, 1, NULL, 0, &o);
    assert_int_equal(o.result, DMARC_RESULT_PASS);
    assert_true(o.dkim_aligned);
    assert_false(o.spf_aligned);
    assert_string_equal(o.dkim_domain, "lists.example.com");
    /* adkim=s: only an exact d= counts */
    rec = T("v=DMARC1; p=reject; adkim=s");
    dmarc_evaluate(&in, &rec, 1, NULL, 0, &o);
    assert_int_equal(o.result, DMARC_RESULT_FAIL);
}

static void eval_spf_fail_does_not_count(void **state)
{
    struct dmarc_ident dk[] = { { "example.com", false } };
    struct dmarc_input in = { .from_domain = "example.com", .spf = { "example.com", false },
                              .dkim = dk, .ndkim = 1 };
    struct dkim_txt rec = T("v=DMARC1; p=quarantine");
    struct dmarc_outcome o;
    (void)state;
    dmarc_evaluate(&in, &rec, 1, NULL, 0, &o);
    assert_int_equal(o.result, DMARC_RESULT_FAIL);
    assert_int_equal(o.disposition, DMARC_POLICY_QUARANTINE);
}

static void eval_falls_back_to_org_domain_and_uses_sp(void **state)
{
    struct dmarc_input in = { .from_domain = "news.example.co.uk" };
    struct dkim_txt other = T("some other TXT");
    struct dkim_txt orgrec = T("v=DMARC1; p=reject; sp=quarantine");
    struct dmarc_outcome o;
    char orgd[DMARC_DOMAIN_MAX + 1];
    (void)state;
    assert_true(dmarc_need_org_lookup(&in, &other, 1, orgd, sizeof(orgd)));
    assert_string_equal(orgd, "example.co.uk");
    dmarc_evaluate(&in, &other, 1, &orgrec, 1, &o);
    assert_int_equal(o.result, DMARC_RESULT_FAIL);
    assert_string_equal(o.record_domain, "example.co.uk");
    assert_string_equal(o.org_domain, "example.co.uk");
    assert_int_equal(o.policy, DMARC_POLICY_QUARANTINE);
    /* without sp=, p= applies to subdomains too */
    orgrec = T("v=DMARC1; p=reject");
    dmarc_evaluate(&in, &other, 1, &orgrec, 1, &o);
    assert_int_equal(o.policy, DMARC_POLICY_REJECT);
    /* the From domain's own record wins, with p=, not sp= */
    struct dkim_txt own = T("v=DMARC1; p=none; sp=reject");
    assert_false(dmarc_need_org_lookup(&in, &own, 1, orgd, sizeof(orgd)));
    dmarc_evaluate(&in, &own, 1, &orgrec, 1, &o);
    assert_int_equal(o.policy, DMARC_POLICY_NONE);
    assert_string_equal(o.record_domain, "news.example.co.uk");
}

static void eval_no_record_anywhere_is_none(void **state)
{
    struct dmarc_input in = { .from_domain = "a.example.com", .spf = { "a.example.com", true } };
    struct dkim_txt empty[1] = { { "", 0 } };
    struct dmarc_outcome o;
    char orgd[DMARC_DOMAIN_MAX + 1];
    (void)state;
    dmarc_evaluate(&in, empty, 0, empty, 0, &o);
    assert_int_equal(o.result, DMARC_RESULT_NONE);
    assert_false(o.have_record);
    /* an org domain is never looked up twice */
    in.from_domain = "example.co.uk";
    assert_false(dmarc_need_org_lookup(&in, empty, 0, orgd, sizeof(orgd)));
}

static void eval_several_records_end_discovery(void **state)
{
    struct dmarc_input in = { .from_domain = "sub.example.com" };
    struct dkim_txt two[] = { T("v=DMARC1; p=none"), T("v=DMARC1; p=reject") };
    struct dkim_txt orgrec = T("v=DMARC1; p=reject");
    struct dmarc_outcome o;
    char orgd[DMARC_DOMAIN_MAX + 1];
    (void)state;
    assert_false(dmarc_need_org_lookup(&in, two, 2, orgd, sizeof(orgd)));
    dmarc_evaluate(&in, two, 2, &orgrec, 1, &o);
    assert_int_equal(o.result, DMARC_RESULT_NONE);
}

static void eval_errors(void **state)
{
    struct dmarc_input in = { .from_domain = "sub.example.com" };
    struct dkim_txt bad = T("v=DMARC1; p=reject; p=none");
    struct dkim_txt nopol = T("v=DMARC1; adkim=s");
    struct dkim_txt none = T("x");
    struct dmarc_outcome o;
    (void)state;
    dmarc_evaluate(&in, &bad, 1, NULL, 0, &o);
    assert_int_equal(o.result, DMARC_RESULT_PERMERROR);
    dmarc_evaluate(&in, &nopol, 1, NULL, 0, &o);
    assert_int_equal(o.result, DMARC_RESULT_NONE);
    dmarc_evaluate(&in, NULL, 0, NULL, 0, &o);
    assert_int_equal(o.result, DMARC_RESULT_TEMPERROR);
    dmarc_evaluate(&in, &none, 1, NULL, 0, &o);         /* org lookup failed */
    assert_int_equal(o.result, DMARC_RESULT_TEMPERROR);
    in.from_domain = "not a domain";
    dmarc_evaluate(&in, &none, 1, NULL, 0, &o);
    assert_int_equal(o.result, DMARC_RESULT_PERMERROR);
}

static void eval_pct_sampling_is_deterministic(void **state)
{
    struct dmarc_input in = { .from_domain = "example.com" };
    struct dkim_txt rec = T("v=DMARC1; p=reject; pct=30");
    struct dmarc_outcome o;
    unsigned s, applied = 0;
    char key[32];
    (void)state;
    in.sample = 29;
    dmarc_evaluate(&in, &rec, 1, NULL, 0, &o);
    assert_int_equal(o.disposition, DMARC_POLICY_REJECT);
    assert_false(o.sampled_out);
    in.sample = 30;
    dmarc_evaluate(&in, &rec, 1, NULL, 0, &o);
    assert_int_equal(o.disposition, DMARC_POLICY_QUARANTINE);   /* one step down */
    assert_true(o.sampled_out);
    rec = T("v=DMARC1; p=quarantine; pct=0");
    in.sample = 0;
    dmarc_evaluate(&in, &rec, 1, NULL, 0, &o);
    assert_int_equal(o.disposition, DMARC_POLICY_NONE);
    /* the sample of a key never changes, and spreads over 0..99 */
    assert_int_equal(dmarc_sample("4Xk2LQ7mZ"), dmarc_sample("4Xk2LQ7mZ"));
    assert_int_equal(dmarc_sample(NULL), 0);
    for (s = 0; s < 1000; s++) {
        snprintf(key, sizeof(key), "Q%u", s);
        assert_true(dmarc_sample(key) < 100);
        applied += dmarc_sample(key) < 30;
    }
    assert_in_range(applied, 200, 400);
}

static void ar_clause(void **state)
{
    struct dmarc_input in = { .from_domain = "Example.com" };
    struct dkim_txt rec = T("v=DMARC1; p=reject; pct=50");
    struct dmarc_outcome o;
    char buf[256];
    (void)state;
    in.sample = 70;
    dmarc_evaluate(&in, &rec, 1, NULL, 0, &o);
    dmarc_ar_format(buf, sizeof(buf), &o);
    assert_string_equal(buf, "dmarc=fail (p=reject sp=reject pct=50 dis=quarantine) "
                             "header.from=example.com");
    dmarc_evaluate(&in, &rec, 0, NULL, 0, &o);
    dmarc_ar_format(buf, sizeof(buf), &o);
    assert_string_equal(buf, "dmarc=none header.from=example.com");
}

/* ---- asynchronous discovery ------------------------------------------------------------- */

struct got {
    int calls;
    struct dmarc_outcome o;
};

static void on_done(const struct dmarc_outcome *o, void *arg)
{
    struct got *g = arg;
    g->calls++;
    g->o = *o;
}

static void async_fallback_to_org_domain(void **state)
{
    struct event_base *base = event_base_new();
    struct testdns t = { .base = base };
    struct dkim_dns dns = testdns_iface(&t);
    struct dmarc_input in = { .from_domain = "mail.shop.example.co.uk",
                              .spf = { "example.co.uk", true } };
    struct got g = { 0 };
    (void)state;
    testdns_add(&t, "_dmarc.mail.shop.example.co.uk", DKIM_DNS_NOTFOUND, NULL, NULL);
    testdns_add(&t, "_dmarc.example.co.uk", DKIM_DNS_OK, "v=spf1 -all",
                "v=DMARC1; p=reject; sp=quarantine");
    assert_non_null(dmarc_check_start(base, &dns, &in, on_done, &g));
    assert_int_equal(g.calls, 0);        /* never inside start */
    event_base_dispatch(base);
    assert_int_equal(g.calls, 1);
    assert_int_equal(t.started, 2);
    assert_int_equal(g.o.result, DMARC_RESULT_PASS);
    assert_string_equal(g.o.record_domain, "example.co.uk");
    assert_int_equal(g.o.policy, DMARC_POLICY_QUARANTINE);
    event_base_free(base);
}

static void async_temporary_failure_and_bad_domain(void **state)
{
    struct event_base *base = event_base_new();
    struct testdns t = { .base = base };
    struct dkim_dns dns = testdns_iface(&t);
    struct dmarc_input in = { .from_domain = "example.org" };
    struct got g = { 0 };
    (void)state;
    testdns_add(&t, "_dmarc.example.org", DKIM_DNS_TEMPFAIL, NULL, NULL);
    dmarc_check_start(base, &dns, &in, on_done, &g);
    event_base_dispatch(base);
    assert_int_equal(g.o.result, DMARC_RESULT_TEMPERROR);
    in.from_domain = "bad domain";
    dmarc_check_start(base, &dns, &in, on_done, &g);
    assert_int_equal(g.calls, 1);
    event_base_dispatch(base);
    assert_int_equal(g.calls, 2);
    assert_int_equal(g.o.result, DMARC_RESULT_PERMERROR);
    assert_int_equal(t.started, 1);
    event_base_free(base);
}

static void async_cancel_stops_lookup(void **state)
{
    struct event_base *base = event_base_new();
    struct testdns t = { .base = base };
    struct dkim_dns dns = testdns_iface(&t);
    struct dmarc_ident dk[] = { { "example.org", true } };
    struct dmarc_input in = { .from_domain = "example.org", .dkim = dk, .ndkim = 1 };
    struct got g = { 0 };
    struct dmarc_check *c;
    (void)state;
    testdns_add(&t, "_dmarc.example.org", TESTDNS_HANG, NULL, NULL);
    c = dmarc_check_start(base, &dns, &in, on_done, &g);
    event_base_loop(base, EVLOOP_NONBLOCK);
    dmarc_cancel(c);
    event_base_dispatch(base);
    assert_int_equal(g.calls, 0);
    assert_int_equal(t.cancelled, 1);
    in.from_domain = "";          /* the deferred permerror can be cancelled too */
    c = dmarc_check_start(base, &dns, &in, on_done, &g);
    dmarc_cancel(c);
    event_base_dispatch(base);
    assert_int_equal(g.calls, 0);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(record_minimal_is_parsed_with_defaults),
        cmocka_unit_test(record_all_tags_are_read),
        cmocka_unit_test(record_keywords_are_case_insensitive),
        cmocka_unit_test(record_must_start_with_version),
        cmocka_unit_test(record_without_policy_is_ignored_unless_rua),
        cmocka_unit_test(record_bad_optional_values_fall_back_to_defaults),
        cmocka_unit_test(record_malformed_tag_list_is_invalid),
        cmocka_unit_test(record_uri_lists),
        cmocka_unit_test(org_domain_multi_level_suffixes),
        cmocka_unit_test(org_domain_refuses_non_domains),
        cmocka_unit_test(alignment_relaxed_and_strict),
        cmocka_unit_test(eval_spf_aligned_pass),
        cmocka_unit_test(eval_strict_spf_does_not_align_subdomain),
        cmocka_unit_test(eval_dkim_aligned_pass_among_others),
        cmocka_unit_test(eval_spf_fail_does_not_count),
        cmocka_unit_test(eval_falls_back_to_org_domain_and_uses_sp),
        cmocka_unit_test(eval_no_record_anywhere_is_none),
        cmocka_unit_test(eval_several_records_end_discovery),
        cmocka_unit_test(eval_errors),
        cmocka_unit_test(eval_pct_sampling_is_deterministic),
        cmocka_unit_test(ar_clause),
        cmocka_unit_test(async_fallback_to_org_domain),
        cmocka_unit_test(async_temporary_failure_and_bad_domain),
        cmocka_unit_test(async_cancel_stops_lookup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
