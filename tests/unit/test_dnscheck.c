/*
 * test_dnscheck.c - the pure helpers of the inbound DNS checks (lib/dnscheck.h): HELO
 * classification, DNSBL return codes (with Spamhaus' 127.255.255.x refusals), default
 * zone symbols, reversed query names (IPv4, IPv6 nibbles: lib/dns_wire.h), and the
 * dynamic-name patterns against real-world shaped PTR names, positives and negatives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lib/dns_wire.h"
#include "lib/dnscheck.h"

static void helo_names_are_classified(void **state)
{
    static const char *const names[] = { "mx.example.test", "relay.example.test", NULL };
    static const char *const addrs[] = { "192.0.2.1", "2001:db8::25", NULL };
    static const struct { const char *helo, *client; enum helo_class want; } cases[] = {
        { "mail.sender.test", "198.51.100.7", HELO_CLASS_FQDN },
        { "Mail.Sender.Test.", "198.51.100.7", HELO_CLASS_FQDN },
        { "[198.51.100.7]", "198.51.100.7", HELO_CLASS_LITERAL },
        { "[IPv6:2001:db8::7]", "2001:db8::7", HELO_CLASS_LITERAL },
        { "[IPv6:2001:db8:0::7]", "2001:db8::7", HELO_CLASS_LITERAL },
        { "[198.51.100.7]", "::ffff:198.51.100.7", HELO_CLASS_LITERAL },
        { "[198.51.100.8]", "198.51.100.7", HELO_CLASS_BAD_LITERAL },
        { "[198.51.100]", "198.51.100.7", HELO_CLASS_BAD_LITERAL },
        { "[2001:db8::7]", "2001:db8::7", HELO_CLASS_BAD_LITERAL },  /* no IPv6: tag */
        { "[IPv6:198.51.100.7]", "198.51.100.7", HELO_CLASS_BAD_LITERAL },
        { "[198.51.100.7", "198.51.100.7", HELO_CLASS_BAD_LITERAL },
        { "198.51.100.7", "198.51.100.7", HELO_CLASS_BARE_IP },
        { "203.0.113.9", "198.51.100.7", HELO_CLASS_BARE_IP },
        { "2001:db8::7", "198.51.100.7", HELO_CLASS_BARE_IP },
        { "localhost", "198.51.100.7", HELO_CLASS_NOT_FQDN },
        { "DESKTOP-4F2K9", "198.51.100.7", HELO_CLASS_NOT_FQDN },
        { "", "198.51.100.7", HELO_CLASS_INVALID },
        { "bad_name.example.test", "198.51.100.7", HELO_CLASS_INVALID },
        { "-dash.example.test", "198.51.100.7", HELO_CLASS_INVALID },
        { "dash-.example.test", "198.51.100.7", HELO_CLASS_INVALID },
        { "two..dots.test", "198.51.100.7", HELO_CLASS_INVALID },
        { "1.2.3", "198.51.100.7", HELO_CLASS_INVALID },
        { "spaces in.name", "198.51.100.7", HELO_CLASS_INVALID },
        { "mx.example.test", "198.51.100.7", HELO_CLASS_OURS },
        { "MX.Example.Test.", "198.51.100.7", HELO_CLASS_OURS },
        { "relay.example.test", "198.51.100.7", HELO_CLASS_OURS },
        { "[192.0.2.1]", "198.51.100.7", HELO_CLASS_OURS },
        { "192.0.2.1", "198.51.100.7", HELO_CLASS_OURS },
        { "[IPv6:2001:db8:0:0::25]", "198.51.100.7", HELO_CLASS_OURS },
        /* a loopback client that is us too: its own literal is fine */
        { "[192.0.2.1]", "192.0.2.1", HELO_CLASS_LITERAL },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum helo_class got = helo_classify(cases[i].helo, cases[i].client, names, addrs);
        if (got != cases[i].want)
            fail_msg("%s from %s: %s, want %s", cases[i].helo, cases[i].client,
                     helo_class_str(got), helo_class_str(cases[i].want));
    }
    assert_int_equal(helo_classify(NULL, "192.0.2.9", NULL, NULL), HELO_CLASS_INVALID);
    assert_int_equal(helo_classify("mx.example.test", "192.0.2.9", NULL, NULL),
                     HELO_CLASS_FQDN);
}

static uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
    return (uint32_t)a << 24 | b << 16 | c << 8 | d;
}

static void dnsbl_codes_are_decoded_and_refusals_never_list(void **state)
{
    struct dnsbl_code c;
    const char *why;

    (void)state;
    assert_int_equal(dnsbl_kind(ip4(127, 0, 0, 2)), DNSBL_LISTED);
    assert_int_equal(dnsbl_kind(ip4(127, 0, 1, 4)), DNSBL_LISTED);
    assert_int_equal(dnsbl_kind(ip4(127, 255, 255, 252)), DNSBL_REFUSED);   /* typo/bad */
    assert_int_equal(dnsbl_kind(ip4(127, 255, 255, 254)), DNSBL_REFUSED);   /* public DNS */
    assert_int_equal(dnsbl_kind(ip4(127, 255, 255, 255)), DNSBL_REFUSED);   /* rate limit */
    assert_int_equal(dnsbl_kind(ip4(192, 0, 2, 1)), DNSBL_BOGUS);          /* wildcard */

    assert_int_equal(dnsbl_code_parse("127.0.0.2=SBL:4", &c, &why), 0);
    assert_string_equal(c.suffix, "SBL");
    assert_true(c.has_score);
    assert_true(c.score == 4.0);
    assert_true(dnsbl_code_match(&c, ip4(127, 0, 0, 2)));
    assert_false(dnsbl_code_match(&c, ip4(127, 0, 0, 3)));

    assert_int_equal(dnsbl_code_parse("127.0.0.4-7=XBL", &c, &why), 0);
    assert_false(c.has_score);
    assert_false(dnsbl_code_match(&c, ip4(127, 0, 0, 3)));
    assert_true(dnsbl_code_match(&c, ip4(127, 0, 0, 4)));
    assert_true(dnsbl_code_match(&c, ip4(127, 0, 0, 7)));
    assert_false(dnsbl_code_match(&c, ip4(127, 0, 0, 8)));

    assert_int_equal(dnsbl_code_parse("127.0.0.10-127.0.0.11=PBL:1.5", &c, &why), 0);
    assert_true(dnsbl_code_match(&c, ip4(127, 0, 0, 11)));
    assert_true(c.score == 1.5);

    assert_int_equal(dnsbl_code_parse("&0x08=ABUSE:3", &c, &why), 0);
    assert_true(dnsbl_code_match(&c, ip4(127, 0, 0, 8)));
    assert_true(dnsbl_code_match(&c, ip4(127, 0, 0, 10)));
    assert_false(dnsbl_code_match(&c, ip4(127, 0, 0, 4)));
    /* a mask rule never matches a refusal code (its last octet has every bit set) */
    assert_false(dnsbl_code_match(&c, ip4(127, 255, 255, 255)));
    assert_int_equal(dnsbl_code_parse("127.0.0.0-255=ANY", &c, &why), 0);
    assert_false(dnsbl_code_match(&c, ip4(127, 255, 255, 254)));

    assert_int_equal(dnsbl_code_parse("127.0.0.2", &c, &why), -1);
    assert_int_equal(dnsbl_code_parse("10.0.0.2=X", &c, &why), -1);
    assert_int_equal(dnsbl_code_parse("127.0.0.7-4=X", &c, &why), -1);
    assert_int_equal(dnsbl_code_parse("127.0.0.2=lower", &c, &why), -1);
    assert_int_equal(dnsbl_code_parse("127.0.0.2=X:abc", &c, &why), -1);
    assert_int_equal(dnsbl_code_parse("&0=X", &c, &why), -1);
    assert_int_equal(dnsbl_code_parse("&256=X", &c, &why), -1);
    assert_int_equal(dnsbl_code_parse("=X", &c, &why), -1);
    assert_non_null(why);
}

static void zones_get_readable_default_symbols(void **state)
{
    static const char *const cases[][2] = {
        { "zen.spamhaus.org", "DNSBL_ZEN" },
        { "bl.spamcop.net", "DNSBL_SPAMCOP" },
        { "list.dnswl.org", "DNSBL_DNSWL" },
        { "b.barracudacentral.org", "DNSBL_BARRACUDACENTRAL" },
        { "dnsbl.sorbs.net", "DNSBL_SORBS" },
        { "ix.dnsbl.manitu.net", "DNSBL_IX" },
        { "psbl.surriel.com", "DNSBL_PSBL" },
        { "bl.test", "DNSBL_BL_TEST" },
    };
    char out[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(dnsbl_default_symbol(cases[i][0], false, out, sizeof(out)), 0);
        assert_string_equal(out, cases[i][1]);
    }
    assert_int_equal(dnsbl_default_symbol("dbl.spamhaus.org", true, out, sizeof(out)), 0);
    assert_string_equal(out, "RHSBL_SPAMHAUS");
    assert_int_equal(dnsbl_default_symbol("zen.spamhaus.org", false, out, 8), -1);
}

static void query_names_are_reversed_for_both_families(void **state)
{
    char out[300];

    (void)state;
    assert_int_equal(dns_reverse_name("192.0.2.1", "zen.test", out, sizeof(out)), 0);
    assert_string_equal(out, "1.2.0.192.zen.test");
    assert_int_equal(dns_reverse_name("2001:db8::1234", "zen.test", out, sizeof(out)), 0);
    assert_string_equal(out, "4.3.2.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"
                             ".zen.test");
    assert_int_equal(dns_reverse_name("::ffff:192.0.2.1", "zen.test", out, sizeof(out)), 0);
    assert_string_equal(out, "1.2.0.192.zen.test");
    assert_int_equal(dns_reverse_name("192.0.2.1", NULL, out, sizeof(out)), 0);
    assert_string_equal(out, "1.2.0.192.in-addr.arpa");
    assert_int_equal(dns_reverse_name("not-an-ip", "zen.test", out, sizeof(out)), -1);
}

/* Real-world shaped PTR names: (name, client address, dynamic?). */
static const struct { const char *name, *ip; bool dynamic; } ptr_cases[] = {
    /* generic names of access networks */
    { "c-24-5-6-7.hsd1.ma.comcast.net", "24.5.6.7", true },
    { "pool-71-105-3-4.nycmny.fios.verizon.net", "71.105.3.4", true },
    { "ppp-88-217-1-2.dynamic.mnet-online.de", "88.217.1.2", true },
    { "dslb-088-065-012-034.088.065.pools.vodafone-ip.de", "88.65.12.34", true },
    { "p5dc2a1b3.dip0.t-ipconnect.de", "93.194.161.179", true },
    { "7.6.5.4.dynamic.example.net", "4.5.6.7", true },
    { "host-92-1-2-3.as13285.net", "92.1.2.3", true },
    { "cpc123456-bagu16-2-0-cust99.1-3.cable.virginm.net", "82.1.2.3", true },
    { "adsl-75-1-2-3.dsl.pltn13.sbcglobal.net", "75.1.2.3", true },
    { "dhcp-192-168-1-20.example.org", "192.168.1.20", true },
    { "user-12-34-56-78.cable.mindspring.com", "12.34.56.78", true },
    { "d14-69-70-80.try.wideopenwest.com", "14.69.70.80", true },
    { "customer-187-141-1-2.uninet-ide.com.mx", "187.141.1.2", true },
    { "ip68-1-2-3.ph.ph.cox.net", "68.1.2.3", true },
    { "bband-dyn123.178-41-1.t-com.sk", "178.41.1.123", true },
    { "cable-24-135-1-2.dynamic.sbb.rs", "24.135.1.2", true },
    { "dynamic-acs-24-144-1-2.zoominternet.net", "24.144.1.2", true },
    { "mobile-166-1-2-3.mycingular.net", "166.1.2.3", true },
    { "ppp91-76-1-2.pppoe.mtu-net.ru", "91.76.1.2", true },
    { "adsl196-1-2-3-196.adsl196-2.iam.net.ma", "196.1.2.3", true },
    { "109-252-1-2.nat.spd-mgts.ru", "109.252.1.2", true },
    { "h123.145.16.98.dynamic.ip.windstream.net", "98.16.145.123", true },
    { "201-1-2-3.dsl.telesp.net.br", "201.1.2.3", true },
    { "broadband-95-84-1-2.ip.moscow.rt.ru", "95.84.1.2", true },
    { "5ac0a0b1.bb.sky.com", "90.192.160.177", true },
    { "cpe-72-1-2-3.nyc.res.rr.com", "72.1.2.3", true },
    { "client-200.1.2.3.speedy.com.ar", "200.1.2.3", true },
    { "192168001020.dsl.example.net", "192.168.1.20", true },
    { "dialup-pool-17.isp.example", "203.0.113.17", true },
    { "dsl-dynamic.provider.example.net", "203.0.113.5", true },
    { "unknown.telecom.example.net", "203.0.113.6", true },
    { "2001-db8-1-2-1234-5678-9abc-def0.ipv6.example.net", "2001:db8:1:2:1234:5678:9abc:def0",
      true },
    { "0fed.cba9.8765.4321.nibbles.example.net", "2001:db8:1:2:1234:5678:9abc:def0", true },
    /* mail servers, including known false positives of naive patterns */
    { "mail-wr1-f54.google.com", "209.85.221.54", false },
    { "mail-ed1-f65.google.com", "209.85.208.65", false },
    { "mail-dm6nam12on2041.outbound.protection.outlook.com", "40.107.243.41", false },
    { "a27-12.smtp-out.us-west-2.amazonses.com", "54.240.27.12", false },
    { "o1.ptr1234.sendgrid.net", "167.89.1.2", false },
    { "mx1.example.com", "192.0.2.10", false },
    { "smtp.gmail.com", "142.250.1.2", false },
    { "mta-out1.example.net", "192.0.2.11", false },
    { "relay.example.org", "192.0.2.12", false },
    { "out-1-2-3-4.provider.net", "1.2.3.4", false },
    { "mail-1-2-3-4.provider.net", "1.2.3.4", false },
    { "server1.example.com", "192.0.2.13", false },
    { "www.example.com", "192.0.2.14", false },
    { "ns1.example.net", "192.0.2.15", false },
    { "mailout.example.de", "192.0.2.16", false },
    { "outbound.mailhop.org", "192.0.2.17", false },
    { "mx-out.facebook.com", "192.0.2.18", false },
    { "smtp1.example.com", "192.0.2.19", false },
    { "exchange.contoso.com", "192.0.2.20", false },
    { "hosting.example.com", "192.0.2.21", false },
    { "webmail.example.org", "192.0.2.22", false },
    { "poolside.example.org", "192.0.2.23", false },
    { "srv123.example.net", "192.0.2.24", false },
    { "bendel.debian.org", "192.0.2.25", false },
    { "lb01.example.net", "192.0.2.26", false },
    { "gateway.example.co.uk", "192.0.2.27", false },
    { "node1.cluster.example.com", "192.0.2.28", false },
    { "c1.example.com", "192.0.2.29", false },
    { "shared.1-2-3-4.example.net", "192.0.2.30", false },  /* another address */
    /* generic, but of a static address: less suspicious (why "static") */
    { "187-141-1-2.static.axtel.net", "187.141.1.2", false },
    { "static-dsl-81-2-3-4.isp.example", "81.2.3.4", false },
    /* real senders named in the brief */
    { "o1.email.sendgrid.net", "167.89.1.2", false },
    { "smtp-out-12.mailer.com", "192.0.2.31", false },
    { "mx1.provider.net", "192.0.2.32", false },
    { "mail.example.com", "192.0.2.33", false },
};

/* Each generic form: a name that has it (dynamic) and a look-alike that does not. */
static const struct { const char *form, *pos, *neg, *ip; } form_cases[] = {
    { "dotted IP", "h1.2.3.4.isp.example", "h1.2.3.5.isp.example", "1.2.3.4" },
    { "dashed IP", "x-81-2-3-4.isp.example", "x-81-2-3-40.isp.example", "81.2.3.4" },
    { "reversed IP", "4-3-2-81.isp.example", "4-3-2-82.isp.example", "81.2.3.4" },
    { "zero-padded", "a081002003004.isp.example", "a081002003005.isp.example", "81.2.3.4" },
    { "padded dashed", "b-081-002-003-004.isp.example", "b-081-002-003-104.isp.example",
      "81.2.3.4" },
    { "hex IP", "p51020304.isp.example", "p51020305.isp.example", "81.2.3.4" },
    { "hex IP upper", "P51020304.isp.example", "P5102030.isp.example", "81.2.3.4" },
    { "dynamic", "dynamic-12.isp.example", "dynamics.isp.example", "1.1.1.1" },
    { "dyn", "dyn12.isp.example", "dyno12.isp.example", "1.1.1.1" },
    { "dhcp", "dhcp-a7.isp.example", "dhcpd.isp.example", "1.1.1.1" },
    { "pool", "pool-a.isp.example", "poolside.isp.example", "1.1.1.1" },
    { "ppp", "ppp7.isp.example", "pppx.isp.example", "1.1.1.1" },
    { "dsl", "dsl.x7.isp.example", "dslr.x7.isp.example", "1.1.1.1" },
    { "adsl", "adsl-a.isp.example", "adslx-a.isp.example", "1.1.1.1" },
    { "cable", "a.cable.isp.example", "a.cablecar.isp.example", "1.1.1.1" },
    { "cust", "cust42.isp.example", "custom42.isp.example", "1.1.1.1" },
    { "client", "client-a.isp.example", "clientele.isp.example", "1.1.1.1" },
    { "host-N", "host-17.isp.example", "host-a.isp.example", "1.1.1.1" },
    { "hostN", "host17.isp.example", "hostname.isp.example", "1.1.1.1" },
    { "ip-N", "ip-12-34.isp.example", "ip-gw.isp.example", "1.1.1.1" },
    { "ipN", "ip68-1-2.isp.example", "ipsec.isp.example", "1.1.1.1" },
    { "dialup", "dialup-9.isp.example", "dialupper.isp.example", "1.1.1.1" },
    { "fiber", "fiber-9.isp.example", "fiberglass.isp.example", "1.1.1.1" },
    { "pools", "x.pools.isp.example", "x.poolsvc.isp.example", "1.1.1.1" },
};

static void each_generic_form_has_a_positive_and_a_negative(void **state)
{
    size_t i;
    const char *why;

    (void)state;
    for (i = 0; i < sizeof(form_cases) / sizeof(form_cases[0]); i++) {
        if (!ptr_is_dynamic(form_cases[i].pos, form_cases[i].ip, NULL, NULL, &why))
            fail_msg("%s: %s not dynamic", form_cases[i].form, form_cases[i].pos);
        if (ptr_is_dynamic(form_cases[i].neg, form_cases[i].ip, NULL, NULL, &why))
            fail_msg("%s: %s dynamic (%s)", form_cases[i].form, form_cases[i].neg, why);
    }
}

static void static_generic_names_are_less_suspicious(void **state)
{
    const char *why;

    (void)state;
    /* generic by address or word, but "static" / "fixed": not dynamic, why "static" */
    assert_false(ptr_is_dynamic("187-141-1-2.static.axtel.net", "187.141.1.2", NULL, NULL,
                                &why));
    assert_string_equal(why, "static");
    assert_false(ptr_is_dynamic("fixed-ip-dsl.isp.example", "1.1.1.1", NULL, NULL, &why));
    assert_string_equal(why, "static");
    assert_false(ptr_is_dynamic("static12.cust.isp.example", "1.1.1.1", NULL, NULL, &why));
    assert_string_equal(why, "static");
    /* "static" alone, in a name nothing else makes generic: no reason at all */
    assert_false(ptr_is_dynamic("static.example.com", "1.1.1.1", NULL, NULL, &why));
    assert_null(why);
    /* a token that only starts with "static" does not count */
    assert_true(ptr_is_dynamic("staticky-dsl.isp.example", "1.1.1.1", NULL, NULL, &why));
    assert_string_equal(why, "word");
    /* the mail-server prefixes still win over everything */
    assert_false(ptr_is_dynamic("mail-81-2-3-4.static.isp.example", "81.2.3.4", NULL, NULL,
                                &why));
    assert_null(why);
}

static void dynamic_names_are_recognized(void **state)
{
    size_t i, pos = 0, neg = 0;
    const char *why;

    (void)state;
    for (i = 0; i < sizeof(ptr_cases) / sizeof(ptr_cases[0]); i++) {
        bool got = ptr_is_dynamic(ptr_cases[i].name, ptr_cases[i].ip, NULL, NULL, &why);
        if (got != ptr_cases[i].dynamic)
            fail_msg("%s [%s]: %s", ptr_cases[i].name, ptr_cases[i].ip,
                     got ? "dynamic" : "not dynamic");
        *(got ? &pos : &neg) += 1;
    }
    assert_true(pos + neg >= 50);
    assert_true(ptr_is_dynamic("c-24-5-6-7.hsd1.ma.comcast.net", "24.5.6.7", NULL, NULL, &why));
    assert_string_equal(why, "address");
    assert_true(ptr_is_dynamic("dsl-dynamic.provider.example.net", "1.1.1.1", NULL, NULL, &why));
    assert_string_equal(why, "word");
}

static void dynamic_patterns_can_be_overridden(void **state)
{
    static const char *const words[] = { "gw#", NULL };
    static const char *const statics[] = { "pool", NULL };

    (void)state;
    assert_false(ptr_is_dynamic("dsl-x.provider.example.net", "1.1.1.1", words, NULL, NULL));
    assert_true(ptr_is_dynamic("gw12.provider.example.net", "1.1.1.1", words, NULL, NULL));
    assert_false(ptr_is_dynamic("gw.provider.example.net", "1.1.1.1", words, NULL, NULL));
    assert_false(ptr_is_dynamic("pool-1-2-3-4.isp.example", "1.2.3.4", NULL, statics, NULL));
    /* with its own static prefixes, "mail-" is no longer special */
    assert_true(ptr_is_dynamic("mail-1-2-3-4.isp.example", "1.2.3.4", NULL, statics, NULL));
    assert_false(ptr_is_dynamic(NULL, "1.2.3.4", NULL, NULL, NULL));
    assert_false(ptr_is_dynamic("", "1.2.3.4", NULL, NULL, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(helo_names_are_classified),
        cmocka_unit_test(dnsbl_codes_are_decoded_and_refusals_never_list),
        cmocka_unit_test(zones_get_readable_default_symbols),
        cmocka_unit_test(query_names_are_reversed_for_both_families),
        cmocka_unit_test(dynamic_names_are_recognized),
        cmocka_unit_test(dynamic_patterns_can_be_overridden),
        cmocka_unit_test(each_generic_form_has_a_positive_and_a_negative),
        cmocka_unit_test(static_generic_names_are_less_suspicious),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
