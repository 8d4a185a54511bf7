/*
 * test_spf_macro.c - SPF macro expansion (mailauth/spf_macro.c) and client address forms
 * (mailauth/spf_ip.c): the examples of RFC 7208 section 7.4, transformers, delimiters,
 * URL escaping of upper-case macros, the explanation-only letters, %{p}'s choice among
 * validated names, and the 253-character truncation of query names.
 */
#include "mailauth/spf_ip.h"
#include "mailauth/spf_macro.h"

#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

static char ip_dotted[SPF_IP_REVERSE_MAX], ip_text[SPF_IP_TEXT_MAX];

/* The RFC 7208 7.4 example: strong-bad@email.example.com from 192.0.2.3. */
static struct spf_macro_vars rfc_vars(const char *ip)
{
    struct spf_ip a;
    struct spf_macro_vars v = {
        .sender = "strong-bad@email.example.com", .local = "strong-bad",
        .sender_domain = "email.example.com", .domain = "email.example.com",
        .helo = "mx.example.org", .receiver = "mx.example.net", .timestamp = 1234567890,
    };
    assert_int_equal(spf_ip_parse(ip, &a), 0);
    spf_ip_dotted(&a, ip_dotted);
    spf_ip_text(&a, ip_text);
    v.ip_dotted = ip_dotted;
    v.ip_text = ip_text;
    v.ip_version = a.family == AF_INET ? "in-addr" : "ip6";
    return v;
}

static void expect(const char *macro, enum spf_macro_ctx ctx, const struct spf_macro_vars *v,
                   const char *want)
{
    char *got = spf_macro_expand(macro, ctx, v);

    if (got == NULL || strcmp(got, want) != 0)
        fail_msg("%s -> \"%s\", want \"%s\"", macro, got ? got : "(null)", want);
    free(got);
}

static void rfc_7208_examples(void **state)
{
    struct spf_macro_vars v = rfc_vars("192.0.2.3");
    (void)state;
    expect("%{s}", SPF_MACRO_DOMAIN, &v, "strong-bad@email.example.com");
    expect("%{o}", SPF_MACRO_DOMAIN, &v, "email.example.com");
    expect("%{d}", SPF_MACRO_DOMAIN, &v, "email.example.com");
    expect("%{d4}", SPF_MACRO_DOMAIN, &v, "email.example.com");
    expect("%{d3}", SPF_MACRO_DOMAIN, &v, "email.example.com");
    expect("%{d2}", SPF_MACRO_DOMAIN, &v, "example.com");
    expect("%{d1}", SPF_MACRO_DOMAIN, &v, "com");
    expect("%{dr}", SPF_MACRO_DOMAIN, &v, "com.example.email");
    expect("%{d2r}", SPF_MACRO_DOMAIN, &v, "example.email");
    expect("%{l}", SPF_MACRO_DOMAIN, &v, "strong-bad");
    expect("%{l-}", SPF_MACRO_DOMAIN, &v, "strong.bad");
    expect("%{lr}", SPF_MACRO_DOMAIN, &v, "strong-bad");
    expect("%{lr-}", SPF_MACRO_DOMAIN, &v, "bad.strong");
    expect("%{l1r-}", SPF_MACRO_DOMAIN, &v, "strong");
    expect("%{ir}.%{v}._spf.%{d2}", SPF_MACRO_DOMAIN, &v, "3.2.0.192.in-addr._spf.example.com");
    expect("%{lr-}.lp._spf.%{d2}", SPF_MACRO_DOMAIN, &v, "bad.strong.lp._spf.example.com");
    expect("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", SPF_MACRO_DOMAIN, &v,
           "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
    expect("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", SPF_MACRO_DOMAIN, &v,
           "3.2.0.192.in-addr.strong.lp._spf.example.com");
    expect("%{d2}.trusted-domains.example.net", SPF_MACRO_DOMAIN, &v,
           "example.com.trusted-domains.example.net");
}

static void ipv6_uses_dotted_nibbles(void **state)
{
    struct spf_macro_vars v = rfc_vars("2001:db8::cb01");
    char *got;
    (void)state;
    /* RFC 7208 7.4 prints the nibbles in lower case; DNS names are case-insensitive and
     * Postern prints them in upper case, as the reference implementation does */
    got = spf_macro_expand("%{ir}.%{v}._spf.%{d2}", SPF_MACRO_DOMAIN, &v);
    assert_int_equal(strcasecmp(got, "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0."
                                     "1.0.0.2.ip6._spf.example.com"), 0);
    free(got);
    expect("%{c}", SPF_MACRO_EXPLAIN, &v, "2001:db8::cb01");
    expect("%{v}", SPF_MACRO_DOMAIN, &v, "ip6");
}

static void ipv4_mapped_client_is_ipv4(void **state)
{
    struct spf_macro_vars v = rfc_vars("::ffff:192.0.2.3");
    (void)state;
    expect("%{i} %{c} %{v}", SPF_MACRO_EXPLAIN, &v, "192.0.2.3 192.0.2.3 in-addr");
}

static void escapes_and_upper_case_url_encoding(void **state)
{
    struct spf_macro_vars v = rfc_vars("192.0.2.3");
    (void)state;
    expect("macro%%percent%_%_space%-url-space.example.com", SPF_MACRO_DOMAIN, &v,
           "macro%percent  space%20url-space.example.com");
    v.local = "~jack&jill=up-a_b3.c";
    expect("http://example.com/why.html?l=%{L}", SPF_MACRO_EXPLAIN, &v,
           "http://example.com/why.html?l=~jack%26jill%3Dup-a_b3.c");
    v.helo = "JUMPIN' JUPITER";
    expect("%{H}.bar", SPF_MACRO_DOMAIN, &v, "JUMPIN%27%20JUPITER.bar");
}

static void several_delimiters(void **state)
{
    struct spf_macro_vars v = rfc_vars("1.2.3.4");
    (void)state;
    v.local = "foo-bar+zip+quux";
    expect("%{l2r+-}.user.%{d2}", SPF_MACRO_DOMAIN, &v, "bar.foo.user.example.com");
    v.local = "philip-gladstone-test";
    expect("%{i}.%{l2r-}.user.%{d2}", SPF_MACRO_DOMAIN, &v,
           "1.2.3.4.gladstone.philip.user.example.com");
}

static void explanation_only_letters(void **state)
{
    struct spf_macro_vars v = rfc_vars("192.168.218.40");
    const char *why;
    (void)state;
    expect("Connections from %{c} not authorized at %{r} (%{t}).", SPF_MACRO_EXPLAIN, &v,
           "Connections from 192.168.218.40 not authorized at mx.example.net (1234567890).");
    assert_int_equal(spf_macro_check("%{r}.example.com", 16, SPF_MACRO_DOMAIN, NULL, &why), -1);
    assert_int_equal(spf_macro_check("%{c}", 4, SPF_MACRO_DOMAIN, NULL, &why), -1);
    assert_int_equal(spf_macro_check("%{t}", 4, SPF_MACRO_EXPLAIN, NULL, &why), 0);
    /* spaces are text only in explanations */
    assert_int_equal(spf_macro_check("a b", 3, SPF_MACRO_DOMAIN, NULL, &why), -1);
    assert_int_equal(spf_macro_check("a b", 3, SPF_MACRO_EXPLAIN, NULL, &why), 0);
    /* a trailing dot stays in explanation text (7.3 removes it from domains only) */
    expect("This is a test.", SPF_MACRO_EXPLAIN, &v, "This is a test.");
}

static void syntax_check(void **state)
{
    const char *why;
    bool end;
    (void)state;
    assert_int_equal(spf_macro_check("%{d}", 4, SPF_MACRO_DOMAIN, &end, &why), 0);
    assert_true(end);
    assert_int_equal(spf_macro_check("x.%{d}.com", 10, SPF_MACRO_DOMAIN, &end, &why), 0);
    assert_false(end);
    assert_int_equal(spf_macro_check("%", 1, SPF_MACRO_DOMAIN, NULL, &why), -1);
    assert_int_equal(spf_macro_check("%x", 2, SPF_MACRO_DOMAIN, NULL, &why), -1);
    assert_int_equal(spf_macro_check("%{d", 3, SPF_MACRO_DOMAIN, NULL, &why), -1);
    assert_int_equal(spf_macro_check("%{d0}", 5, SPF_MACRO_DOMAIN, NULL, &why), -1);
    assert_int_equal(spf_macro_check("%{d2r.-}", 8, SPF_MACRO_DOMAIN, NULL, &why), 0);
    assert_int_equal(spf_macro_check("%{d2x}", 6, SPF_MACRO_DOMAIN, NULL, &why), -1);
    assert_int_equal(spf_domain_spec_check("%{d}.", 5, &why), 0);
    assert_int_equal(spf_domain_spec_check("a.b-c", 5, &why), 0);
    assert_int_equal(spf_domain_spec_check("a.b_c", 5, &why), -1);
    assert_true(spf_macro_uses_p("x.%{p}.y"));
    assert_true(spf_macro_uses_p("%{P2}"));
    assert_false(spf_macro_uses_p("%%{p}"));
}

static void validated_name_choice(void **state)
{
    static const char *const names[] = { "mx.example.com", "mx.e7.example.com" };
    struct spf_macro_vars v = rfc_vars("192.0.2.3");
    (void)state;
    v.validated = names;
    v.n_validated = 2;
    v.domain = "e7.example.com";                    /* a subdomain of <domain> first */
    assert_string_equal(spf_macro_pick_validated(&v), "mx.e7.example.com");
    v.domain = "mx.example.com";                    /* <domain> itself first */
    assert_string_equal(spf_macro_pick_validated(&v), "mx.example.com");
    v.domain = "other.test";                         /* else any */
    assert_string_equal(spf_macro_pick_validated(&v), "mx.example.com");
    v.n_validated = 0;
    expect("connect from %{p}", SPF_MACRO_EXPLAIN, &v, "connect from unknown");
    assert_true(spf_domain_is_under("mail.Example.com", "example.COM."));
    assert_true(spf_domain_is_under("example.com", "example.com"));
    assert_false(spf_domain_is_under("badexample.com", "example.com"));
}

static void long_names_lose_labels_on_the_left(void **state)
{
    struct spf_macro_vars v = rfc_vars("192.0.2.3");
    char *got;
    (void)state;
    v.sender_domain = "somewhat.long.exp.example.com";    /* 29 characters */
    got = spf_macro_expand("foobar.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.%{o}.example.com.",
                           SPF_MACRO_DOMAIN, &v);
    assert_true(strlen(got) <= SPF_DOMAIN_MAX);
    assert_string_equal(got, "somewhat.long.exp.example.com.somewhat.long.exp.example.com."
                        "somewhat.long.exp.example.com.somewhat.long.exp.example.com."
                        "somewhat.long.exp.example.com.somewhat.long.exp.example.com."
                        "somewhat.long.exp.example.com.somewhat.long.exp.example.com.example.com");
    free(got);
    expect("example.com.", SPF_MACRO_DOMAIN, &v, "example.com");   /* trailing dot */
}

static void huge_expansions_are_refused(void **state)
{
    struct spf_macro_vars v = rfc_vars("192.0.2.3");
    char macro[2048] = "";
    (void)state;
    for (int i = 0; i < 400; i++)
        strcat(macro, "%{s}");
    assert_null(spf_macro_expand(macro, SPF_MACRO_EXPLAIN, &v));
}

static void addresses(void **state)
{
    struct spf_ip ip;
    char out[SPF_IP_REVERSE_MAX];
    unsigned char net[4];
    (void)state;
    assert_int_equal(spf_ip_parse("192.0.2.200", &ip), 0);
    assert_true(spf_ip_in_net(&ip, AF_INET, (const unsigned char *)"\xc0\x00\x02\x00", 24));
    assert_false(spf_ip_in_net(&ip, AF_INET, (const unsigned char *)"\xc0\x00\x02\x00", 25));
    assert_true(spf_ip_in_net(&ip, AF_INET, (const unsigned char *)"\x01\x01\x01\x01", 0));
    assert_false(spf_ip_in_net(&ip, AF_INET6, (const unsigned char *)"\0\0\0\0\0\0\0\0\0\0\0\0"
                                                                     "\0\0\0\0", 0));
    spf_ip_reverse_name(&ip, out);
    assert_string_equal(out, "200.2.0.192.in-addr.arpa");
    assert_int_equal(spf_ip_parse("2001:db8::1", &ip), 0);
    spf_ip_reverse_name(&ip, out);
    assert_string_equal(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
                             "ip6.arpa");
    assert_int_equal(spf_ip_parse("not an ip", &ip), -1);
    assert_int_equal(spf_ip4_parse_strict("1.2.3.4", 7, net), 0);
    assert_int_equal(spf_ip4_parse_strict("1.2.3.04", 8, net), -1);
    assert_int_equal(spf_ip4_parse_strict("1.2.3.256", 9, net), -1);
    assert_int_equal(spf_ip4_parse_strict("1.2.3.4.", 8, net), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc_7208_examples),
        cmocka_unit_test(ipv6_uses_dotted_nibbles),
        cmocka_unit_test(ipv4_mapped_client_is_ipv4),
        cmocka_unit_test(escapes_and_upper_case_url_encoding),
        cmocka_unit_test(several_delimiters),
        cmocka_unit_test(explanation_only_letters),
        cmocka_unit_test(syntax_check),
        cmocka_unit_test(validated_name_choice),
        cmocka_unit_test(long_names_lose_labels_on_the_left),
        cmocka_unit_test(huge_expansions_are_refused),
        cmocka_unit_test(addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
