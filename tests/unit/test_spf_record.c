/*
 * test_spf_record.c - the SPF record parser (mailauth/spf_record.c), from RFC 7208
 * sections 4.5, 4.6, 5, 6 and 12: which TXT strings are SPF records, every mechanism and
 * modifier form, CIDR lengths, domain-specs, and every class of syntax error (permerror).
 */
#include "mailauth/spf_record.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

static struct spf_record *parse_ok(const char *text)
{
    struct spf_record *rec;
    char err[SPF_ERROR_MAX];
    enum spf_parse_status st = spf_record_parse(text, strlen(text), &rec, err);

    if (st != SPF_PARSE_OK)
        fail_msg("\"%s\" refused: %s", text, err);
    return rec;
}

static void assert_error(const char *text)
{
    struct spf_record *rec = NULL;
    char err[SPF_ERROR_MAX];

    if (spf_record_parse(text, strlen(text), &rec, err) != SPF_PARSE_ERROR)
        fail_msg("\"%s\" was not a syntax error", text);
    assert_null(rec);
    assert_true(err[0] != '\0');
}

static void version_is_case_insensitive_and_ends_at_space_or_end(void **state)
{
    (void)state;
    assert_true(spf_record_is_spf1("v=spf1", 6));
    assert_true(spf_record_is_spf1("V=SpF1 -all", 11));
    assert_false(spf_record_is_spf1("v=spf10", 7));
    assert_false(spf_record_is_spf1("v=spf1mx", 8));     /* strings joined without space */
    assert_false(spf_record_is_spf1("v=spf", 5));
    assert_false(spf_record_is_spf1(" v=spf1", 7));
    assert_false(spf_record_is_spf1("v=DMARC1; p=reject", 18));
}

static void non_spf_text_is_not_parsed(void **state)
{
    struct spf_record *rec;
    char err[SPF_ERROR_MAX];
    (void)state;
    assert_int_equal(spf_record_parse("hello", 5, &rec, err), SPF_PARSE_NOT_SPF);
    assert_null(rec);
}

static void empty_record_and_spaces(void **state)
{
    struct spf_record *rec = parse_ok("v=spf1");
    (void)state;
    assert_int_equal(rec->n, 0);
    spf_record_free(rec);
    rec = parse_ok("v=spf1  a   -all ");                /* 1*SP between, *SP at the end */
    assert_int_equal(rec->n, 2);
    assert_string_equal(rec->terms[1].text, "-all");
    spf_record_free(rec);
}

static void qualifiers_and_mechanism_names(void **state)
{
    struct spf_record *rec = parse_ok("v=spf1 +A -MX ~Ptr ?all InClUdE:x.example.com "
                                      "EXISTS:x.example.com IP4:192.0.2.1 Ip6:2001:db8::1");
    (void)state;
    assert_int_equal(rec->n, 8);
    assert_int_equal(rec->terms[0].mech, SPF_MECH_A);
    assert_int_equal(rec->terms[0].qualifier, '+');
    assert_int_equal(rec->terms[1].mech, SPF_MECH_MX);
    assert_int_equal(rec->terms[1].qualifier, '-');
    assert_int_equal(rec->terms[2].mech, SPF_MECH_PTR);
    assert_int_equal(rec->terms[2].qualifier, '~');
    assert_int_equal(rec->terms[3].mech, SPF_MECH_ALL);
    assert_int_equal(rec->terms[3].qualifier, '?');
    assert_int_equal(rec->terms[4].mech, SPF_MECH_INCLUDE);
    assert_string_equal(rec->terms[4].domain, "x.example.com");
    assert_int_equal(rec->terms[5].mech, SPF_MECH_EXISTS);
    assert_int_equal(rec->terms[6].mech, SPF_MECH_IP4);
    assert_int_equal(rec->terms[7].mech, SPF_MECH_IP6);
    assert_null(rec->terms[0].domain);
    spf_record_free(rec);
}

static void dual_cidr_lengths(void **state)
{
    struct spf_record *rec = parse_ok("v=spf1 a/24//64 mx:example.com/16 a//0 "
                                      "mx:foo:bar/baz.example.com a:x.example.com//48");
    (void)state;
    assert_int_equal(rec->terms[0].cidr4, 24);
    assert_int_equal(rec->terms[0].cidr6, 64);
    assert_null(rec->terms[0].domain);
    assert_string_equal(rec->terms[1].domain, "example.com");
    assert_int_equal(rec->terms[1].cidr4, 16);
    assert_int_equal(rec->terms[1].cidr6, 128);
    assert_int_equal(rec->terms[2].cidr4, 32);
    assert_int_equal(rec->terms[2].cidr6, 0);
    /* a "/" that is not followed by digits belongs to the domain-spec (7.1) */
    assert_string_equal(rec->terms[3].domain, "foo:bar/baz.example.com");
    assert_int_equal(rec->terms[4].cidr6, 48);
    assert_string_equal(rec->terms[4].text, "a:x.example.com//48");
    spf_record_free(rec);
}

static void ip_networks(void **state)
{
    struct spf_record *rec = parse_ok("v=spf1 ip4:192.0.2.0/24 ip4:10.1.2.3 ip6:::1.1.1.1/0 "
                                      "ip6:Cafe:Babe:8000::/33");
    unsigned char v6[16];
    (void)state;
    assert_memory_equal(rec->terms[0].net, "\xc0\x00\x02\x00", 4);
    assert_int_equal(rec->terms[0].cidr4, 24);
    assert_int_equal(rec->terms[1].cidr4, 32);
    assert_int_equal(rec->terms[2].cidr6, 0);
    inet_pton(AF_INET6, "cafe:babe:8000::", v6);
    assert_memory_equal(rec->terms[3].net, v6, 16);
    assert_int_equal(rec->terms[3].cidr6, 33);
    spf_record_free(rec);
}

static void bad_cidr_and_networks_are_errors(void **state)
{
    (void)state;
    assert_error("v=spf1 ip4:1.2.3.4/33");
    assert_error("v=spf1 ip4:1.2.3.4/032");        /* leading zero */
    assert_error("v=spf1 ip4:1.2.3.4//32");        /* no dual-cidr on ip4 */
    assert_error("v=spf1 ip4:1.2.3");               /* 5.6: no shortened addresses */
    assert_error("v=spf1 ip4:01.2.3.4");
    assert_error("v=spf1 ip4:1.2.3.4:8080");
    assert_error("v=spf1 ip4");
    assert_error("v=spf1 ip6");
    assert_error("v=spf1 ip6:::1.1.1.1/129");
    assert_error("v=spf1 ip6:::1.1.1.1//33");
    assert_error("v=spf1 ip6::CAFE::BABE");
    assert_error("v=spf1 a/33");
    assert_error("v=spf1 a//129");
    assert_error("v=spf1 a/24/64");
    assert_error("v=spf1 mx/33 -all");
    assert_error("v=spf1 a/");
}

static void domain_specs(void **state)
{
    struct spf_record *rec = parse_ok("v=spf1 a:foo.example.xn--zckzah a:%{d} "
                                      "exists:%{ir}.%{l1r+-}._spf.%{d} include:a.example.com. "
                                      "a:x.1-2");
    (void)state;
    assert_int_equal(rec->n, 5);
    spf_record_free(rec);
    assert_error("v=spf1 a:foo-bar");               /* no "." toplabel */
    assert_error("v=spf1 a:museum");
    assert_error("v=spf1 a:museum.");
    assert_error("v=spf1 a:abc.123");              /* all-numeric toplabel */
    assert_error("v=spf1 a:111.222.33.44");
    assert_error("v=spf1 a:example.-com");
    assert_error("v=spf1 a:example.com-");
    assert_error("v=spf1 a:example.com:8080");
    assert_error("v=spf1 a:");
    assert_error("v=spf1 mx: -all");
    assert_error("v=spf1 include: -all");
    assert_error("v=spf1 include");
    assert_error("v=spf1 exists");
    assert_error("v=spf1 exists:");
    assert_error("v=spf1 ptr:");
    assert_error("v=spf1 include:ip5.example.com/24");
    assert_error("v=spf1 exists:mail.example.com/24");
}

static void all_and_ptr_take_no_extra(void **state)
{
    struct spf_record *rec = parse_ok("v=spf1 ptr ptr:example.com all");
    (void)state;
    assert_null(rec->terms[0].domain);
    assert_string_equal(rec->terms[1].domain, "example.com");
    spf_record_free(rec);
    assert_error("v=spf1 -all.");
    assert_error("v=spf1 -all:foobar");
    assert_error("v=spf1 -all/8");
    assert_error("v=spf1 ptr/0 -all");
}

static void unknown_mechanisms_are_errors(void **state)
{
    (void)state;
    assert_error("v=spf1 ip4:1.2.3.4 -all moo");    /* 4.6: errors anywhere count */
    assert_error("v=spf1 redirect:example.com");    /* a modifier written as mechanism */
    assert_error("v=spf1 moo.cow/far_out=man:dog/cat");
    assert_error("v=spf1 moo.cow:far_out=man:dog/cat");
    assert_error("v=spf1 1up=foo");                 /* a name starts with ALPHA */
    assert_error("v=spf1 =all");
    assert_error("v=spf1 +");
    assert_error("v=spf1 -");
}

static void modifiers(void **state)
{
    struct spf_record *rec = parse_ok("v=spf1 moo.cow-far_out=man:dog/cat default=pass "
                                      "x=%{c}%{r}%{t} REDIRECT=_spf.example.com "
                                      "Exp=explain.%{d}");
    (void)state;
    assert_int_equal(rec->n, 0);                     /* unknown modifiers are ignored */
    assert_string_equal(rec->redirect, "_spf.example.com");
    assert_string_equal(rec->exp, "explain.%{d}");
    spf_record_free(rec);
    assert_error("v=spf1 redirect=a.example.com redirect=b.example.com");
    assert_error("v=spf1 exp=a.example.com exp=b.example.com");
    assert_error("v=spf1 exp= -all");
    assert_error("v=spf1 ?all redirect=");
    assert_error("v=spf1 exp=-all");
    assert_error("v=spf1 redirect=-all ?all");
    assert_error("v=spf1 -all foo=%abc");           /* unknown modifier: macro syntax */
}

static void macro_syntax_errors(void **state)
{
    (void)state;
    assert_error("v=spf1 -exists:%(ir).sbl.example.com ?all");
    assert_error("v=spf1 exists:foo%.sbl.example.com");
    assert_error("v=spf1 a:%{a}.example.com");      /* unknown letter */
    assert_error("v=spf1 -all exp=%{r}.example.com"); /* c r t: explanation text only */
    assert_error("v=spf1 a:%{d0}.example.com");      /* digit transformer is nonzero */
    assert_error("v=spf1 a:%{d.example.com");
}

static void characters_outside_printable_ascii_are_errors(void **state)
{
    static const char nul[] = "v=spf1 a:foo.example.com\0";
    struct spf_record *rec;
    char err[SPF_ERROR_MAX];
    (void)state;
    assert_int_equal(spf_record_parse(nul, sizeof(nul) - 1, &rec, err), SPF_PARSE_ERROR);
    assert_error("v=spf1 a:ctrl.example.com\rptr -all");
    assert_error("v=spf1 ip4:192.0.2.5\n include:x.example.com ~all");
    assert_error("v=spf1 \x80" "a:example.net -all");
    assert_error("v=spf1 a:\xef\xbb\xbfgarbage.example.net -all");
    assert_error("v=spf1 a\ta");
}

static void error_text_names_the_term(void **state)
{
    struct spf_record *rec;
    char err[SPF_ERROR_MAX];
    (void)state;
    spf_record_parse("v=spf1 ip4:1.2.3.4/33", 21, &rec, err);
    assert_non_null(strstr(err, "ip4:1.2.3.4/33"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(version_is_case_insensitive_and_ends_at_space_or_end),
        cmocka_unit_test(non_spf_text_is_not_parsed),
        cmocka_unit_test(empty_record_and_spaces),
        cmocka_unit_test(qualifiers_and_mechanism_names),
        cmocka_unit_test(dual_cidr_lengths),
        cmocka_unit_test(ip_networks),
        cmocka_unit_test(bad_cidr_and_networks_are_errors),
        cmocka_unit_test(domain_specs),
        cmocka_unit_test(all_and_ptr_take_no_extra),
        cmocka_unit_test(unknown_mechanisms_are_errors),
        cmocka_unit_test(modifiers),
        cmocka_unit_test(macro_syntax_errors),
        cmocka_unit_test(characters_outside_printable_ascii_are_errors),
        cmocka_unit_test(error_text_names_the_term),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
