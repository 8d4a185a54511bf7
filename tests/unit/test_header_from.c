/*
 * test_header_from.c - unit tests of policy/header_from.c: the From domain(s) for DMARC
 * from a header block (one field, mailbox lists of one or several domains, folded
 * values, comments and quoted commas, no From, several From fields, groups and other
 * unparseable values, the end of the header).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "policy/header_from.h"

static struct header_from hf(const char *head)
{
    struct header_from out;
    header_from_domains(head, strlen(head), &out);
    return out;
}

static void one_from_one_domain(void **state)
{
    struct header_from o;
    (void)state;
    o = hf("Subject: x\r\nFrom: Joe <joe@Mail.Example.COM>\r\nTo: a@b\r\n\r\nbody");
    assert_int_equal(o.status, HFROM_OK);
    assert_int_equal(o.n, 1);
    assert_string_equal(o.domain[0], "mail.example.com");
    o = hf("from :\r\n \"Doe, John\" (work, really)\r\n <john@example.org>\n\n");
    assert_int_equal(o.status, HFROM_OK);
    assert_string_equal(o.domain[0], "example.org");
    o = hf("From: a@example.org, \"b,c\" <b@EXAMPLE.org>\r\n");
    assert_int_equal(o.status, HFROM_OK);
    assert_int_equal(o.n, 1);
}

static void several_domains_are_listed(void **state)
{
    struct header_from o;
    (void)state;
    o = hf("From: a@example.org, B <b@example.net>\r\n");
    assert_int_equal(o.status, HFROM_MULTIPLE_DOMAINS);
    assert_int_equal(o.n, 2);
    assert_string_equal(o.domain[0], "example.org");
    assert_string_equal(o.domain[1], "example.net");
    o = hf("From: a@d1.test, a@d2.test, a@d3.test, a@d4.test, a@d5.test\r\n");
    assert_int_equal(o.status, HFROM_UNPARSEABLE);   /* more than we evaluate */
}

static void missing_or_repeated_from(void **state)
{
    (void)state;
    assert_int_equal(hf("Subject: x\r\nFromage: a@b.test\r\nResent-From: a@b.test\r\n")
                         .status, HFROM_NONE);
    assert_int_equal(hf("Subject: x\r\n\r\nFrom: a@b.test\r\n").status, HFROM_NONE);
    assert_int_equal(hf("From: a@b.test\r\nTo: x@y\r\nFROM: c@d.test\r\n").status,
                     HFROM_MULTIPLE_FIELDS);
    assert_int_equal(hf("").status, HFROM_NONE);
}

static void unparseable_values(void **state)
{
    (void)state;
    assert_int_equal(hf("From:\r\n").status, HFROM_UNPARSEABLE);
    assert_int_equal(hf("From: Undisclosed:;\r\n").status, HFROM_UNPARSEABLE);
    assert_int_equal(hf("From: friends: a@b.test, c@d.test;\r\n").status, HFROM_UNPARSEABLE);
    assert_int_equal(hf("From: \"unclosed <a@b.test>\r\n").status, HFROM_UNPARSEABLE);
    assert_int_equal(hf("From: (unclosed a@b.test\r\n").status, HFROM_UNPARSEABLE);
    assert_int_equal(hf("From: <a@b.test\r\n").status, HFROM_UNPARSEABLE);
    assert_int_equal(hf("From: just a name\r\n").status, HFROM_UNPARSEABLE);
    assert_int_equal(hf("From: a@b.test,\r\n").status, HFROM_UNPARSEABLE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_from_one_domain),
        cmocka_unit_test(several_domains_are_listed),
        cmocka_unit_test(missing_or_repeated_from),
        cmocka_unit_test(unparseable_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
