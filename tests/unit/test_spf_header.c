/*
 * test_spf_header.c - Received-SPF (RFC 7208 9.1) and the spf= clause of
 * Authentication-Results (RFC 8601) from an SPF outcome (mailauth/spf_header.c): the
 * fields, quoting, folding, and that nothing from the client can break the header.
 */
#include "mailauth/spf_header.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static struct spf_outcome pass_outcome(void)
{
    struct spf_outcome o = {
        .result = SPF_RESULT_PASS, .identity = SPF_ID_MAILFROM, .domain = "example.com",
        .sender = "myname@example.com", .client_ip = "192.0.2.1", .helo = "foo.example.com",
        .mechanism = "ip4:192.0.2.0/24", .comment = "example.com: ip4:192.0.2.0/24 matched",
    };
    return o;
}

static void received_spf_has_the_rfc_fields(void **state)
{
    struct spf_outcome o = pass_outcome();
    char *h = spf_received_spf(&o, "mybox.example.org");
    (void)state;
    assert_string_equal(h,
        "Received-SPF: pass (mybox.example.org: domain of myname@example.com designates\r\n"
        "\t192.0.2.1 as permitted sender) receiver=mybox.example.org;\r\n"
        "\tclient-ip=192.0.2.1; envelope-from=\"myname@example.com\";\r\n"
        "\thelo=foo.example.com; mechanism=\"ip4:192.0.2.0/24\"; identity=mailfrom");
    for (const char *line = h; line;
         line = strstr(line, "\r\n") ? strstr(line, "\r\n") + 2 : NULL)
        assert_true(strcspn(line, "\r") <= 78);
    free(h);
}

static void errors_carry_the_problem(void **state)
{
    struct spf_outcome o = pass_outcome();
    char *h;
    (void)state;
    o.result = SPF_RESULT_PERMERROR;
    o.mechanism = NULL;
    o.comment = "example.com: unknown mechanism in \"moo\"";
    h = spf_received_spf(&o, NULL);
    assert_non_null(strstr(h, "problem=\"example.com: unknown mechanism in \\\"moo\\\"\""));
    assert_null(strstr(h, "receiver="));
    free(h);
}

static void client_text_cannot_break_the_header(void **state)
{
    struct spf_outcome o = pass_outcome();
    char *h;
    (void)state;
    o.result = SPF_RESULT_FAIL;
    o.helo = "evil\r\nX-Injected: yes";
    o.sender = "a(b)\\c@example.com";
    h = spf_received_spf(&o, NULL);
    assert_null(strstr(h, "\r\nX-Injected"));
    assert_non_null(strstr(h, "helo=\"evil??X-Injected: yes\""));
    assert_non_null(strstr(h, "a\\(b\\)\\\\c@example.com"));      /* escaped in the comment */
    for (const char *p = h; *p; p++)                                 /* CRLF only for folding */
        if (*p == '\n')
            assert_true(p > h && p[-1] == '\r' && p[1] == '\t');
    free(h);
}

static void helo_identity(void **state)
{
    struct spf_outcome o = pass_outcome();
    char *h, *ar;
    (void)state;
    o.identity = SPF_ID_HELO;
    o.result = SPF_RESULT_NONE;
    o.domain = "foo.example.com";
    o.sender = "postmaster@foo.example.com";
    h = spf_received_spf(&o, NULL);
    assert_null(strstr(h, "envelope-from"));
    assert_non_null(strstr(h, "identity=helo"));
    ar = spf_auth_results(&o);
    assert_string_equal(ar, "spf=none smtp.helo=foo.example.com");
    free(h);
    free(ar);
}

static void authentication_results_clause(void **state)
{
    struct spf_outcome o = pass_outcome();
    char *ar = spf_auth_results(&o);
    (void)state;
    assert_string_equal(ar, "spf=pass smtp.mailfrom=myname@example.com");
    free(ar);
    o.result = SPF_RESULT_SOFTFAIL;
    o.sender = "\"odd local\"@example.com";      /* not a dot-atom: the domain only */
    ar = spf_auth_results(&o);
    assert_string_equal(ar, "spf=softfail smtp.mailfrom=example.com");
    free(ar);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(received_spf_has_the_rfc_fields),
        cmocka_unit_test(errors_carry_the_problem),
        cmocka_unit_test(client_text_cannot_break_the_header),
        cmocka_unit_test(helo_identity),
        cmocka_unit_test(authentication_results_clause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
