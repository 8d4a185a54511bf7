/*
 * test_authres.c - unit tests of mailauth/authres.c: our Authentication-Results field
 * (clauses, "none", quoting of an odd authserv-id, folding) and the forged fields that
 * claim our authserv-id (comments, quoting, versions, case, trailing dot, folded and
 * obsolete field syntax, look-alike ids that are not ours, the end of the header).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/authres.h"

#define ME "mx.example.net"

static void header_value_and_field(void **state)
{
    const char *cl[] = { "spf=pass smtp.mailfrom=a@example.com", NULL,
                         "dkim=pass header.d=example.com header.s=sel header.b=abcdefgh",
                         "dmarc=pass (p=reject sp=reject pct=100 dis=none) "
                         "header.from=example.com" };
    char *v;
    (void)state;
    v = authres_header(ME, cl, 4);
    assert_string_equal(v, ME "; spf=pass smtp.mailfrom=a@example.com; dkim=pass "
                           "header.d=example.com header.s=sel header.b=abcdefgh; dmarc=pass "
                           "(p=reject sp=reject pct=100 dis=none) header.from=example.com");
    free(v);
    v = authres_field(ME, cl, 1);
    assert_string_equal(v, "Authentication-Results: " ME ";\r\n\tspf=pass "
                           "smtp.mailfrom=a@example.com");
    free(v);
    v = authres_header(ME, NULL, 0);
    assert_string_equal(v, ME "; none");
    free(v);
    v = authres_header("odd id\"x", cl, 0);
    assert_string_equal(v, "\"odd id\\\"x\"; none");
    free(v);
    cl[0] = "spf=pass\r\nX-Injected: yes";
    v = authres_header(ME, cl, 1);
    assert_null(strchr(v, '\r'));
    assert_null(strchr(v, '\n'));
    free(v);
}

static void id(const char *value, const char *want, unsigned want_version)
{
    char out[AUTHRES_ID_MAX + 1];
    unsigned ver = 0;
    assert_int_equal(authres_parse_id(value, strlen(value), out, sizeof(out), &ver), 0);
    assert_string_equal(out, want);
    assert_int_equal(ver, want_version);
}

static void parse_id_grammar(void **state)
{
    char out[AUTHRES_ID_MAX + 1];
    (void)state;
    id(" mx.example.net; spf=pass", "mx.example.net", 1);
    id("mx.example.net;spf=pass", "mx.example.net", 1);
    id(" mx.example.net 1; none", "mx.example.net", 1);
    id(" mx.example.net (v) 2 (x); none", "mx.example.net", 2);
    id(" (comment (nested \\) still)) mx.example.net; none", "mx.example.net", 1);
    id("\r\n\t(folded)\r\n mx.example.net\r\n ; none", "mx.example.net", 1);
    id(" \"mx.example.net\"; none", "mx.example.net", 1);
    id(" \"mx.ex\\ample.net\"; none", "mx.example.net", 1);
    id(" mx.example.net(c); none", "mx.example.net", 1);
    assert_int_equal(authres_parse_id(" (unclosed mx.example.net; none", 31, out,
                                      sizeof(out), NULL), -1);
    assert_int_equal(authres_parse_id(" \"unclosed", 10, out, sizeof(out), NULL), -1);
    assert_int_equal(authres_parse_id(" ; none", 7, out, sizeof(out), NULL), -1);
    assert_int_equal(authres_parse_id("", 0, out, sizeof(out), NULL), -1);
    assert_int_equal(authres_parse_id("abcdef", 6, out, 4, NULL), -1);
}

static void id_comparison(void **state)
{
    (void)state;
    assert_true(authres_id_equal("MX.Example.NET", ME));
    assert_true(authres_id_equal("mx.example.net.", ME));
    assert_false(authres_id_equal("mx.example.net.evil", ME));
    assert_false(authres_id_equal("x.mx.example.net", ME));
    assert_false(authres_id_equal("", ""));
}

static const char head[] =
    "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
    "Authentication-Results: mx.example.net; spf=pass smtp.mailfrom=x@evil.test\r\n"
    "Authentication-Results: other.example.org; dkim=fail\r\n"
    "authentication-results : (forged) \"MX.EXAMPLE.NET\" 1;\r\n"
    "\tdkim=pass header.d=bank.test\r\n"
    "X-Authentication-Results: mx.example.net; none\r\n"
    "Authentication-Results: mx.example.net.evil; none\r\n"
    "Authentication-Results: (mx.example.net) relay.test; none\r\n"
    "Authentication-Results:\r\n mx.example.net.\r\n ; dmarc=pass\r\n"
    "Subject: hi\r\n"
    "\r\n"
    "Authentication-Results: mx.example.net; none\r\n";

static void forged_fields_are_found(void **state)
{
    struct authres_span s[8];
    size_t n;
    (void)state;
    n = authres_find_forged(head, strlen(head), ME, s, 8);
    assert_int_equal(n, 3);
    assert_memory_equal(head + s[0].start, "Authentication-Results: mx.example.net; spf",
                        43);
    assert_int_equal(head[s[0].start + s[0].len - 1], '\n');
    assert_memory_equal(head + s[1].start, "authentication-results : (forged)", 33);
    assert_memory_equal(head + s[1].start + s[1].len, "X-Auth", 6);
    assert_memory_equal(head + s[2].start + s[2].len, "Subject:", 8);
    /* max bounds what is stored, not what is counted */
    assert_int_equal(authres_find_forged(head, strlen(head), ME, s, 1), 3);
    assert_int_equal(authres_find_forged(head, strlen(head), "nobody.test", s, 8), 0);
}

static void forged_fields_are_stripped(void **state)
{
    char buf[sizeof(head)];
    size_t n;
    (void)state;
    memcpy(buf, head, sizeof(head));
    n = authres_strip_forged(buf, strlen(buf), ME);
    buf[n] = '\0';
    assert_string_equal(buf,
        "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
        "Authentication-Results: other.example.org; dkim=fail\r\n"
        "X-Authentication-Results: mx.example.net; none\r\n"
        "Authentication-Results: mx.example.net.evil; none\r\n"
        "Authentication-Results: (mx.example.net) relay.test; none\r\n"
        "Subject: hi\r\n"
        "\r\n"
        "Authentication-Results: mx.example.net; none\r\n");
}

static void many_forged_fields_and_lf_only(void **state)
{
    char buf[64 * 40 + 64];
    size_t i, len = 0, n;
    (void)state;
    for (i = 0; i < 40; i++)
        len += (size_t)sprintf(buf + len, "Authentication-Results: " ME "; none\n");
    len += (size_t)sprintf(buf + len, "To: a@b\n");
    assert_int_equal(authres_find_forged(buf, len, ME, NULL, 0), 40);
    n = authres_strip_forged(buf, len, ME);
    assert_int_equal(n, 8);
    assert_memory_equal(buf, "To: a@b\n", 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_value_and_field),
        cmocka_unit_test(parse_id_grammar),
        cmocka_unit_test(id_comparison),
        cmocka_unit_test(forged_fields_are_found),
        cmocka_unit_test(forged_fields_are_stripped),
        cmocka_unit_test(many_forged_fields_and_lf_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
