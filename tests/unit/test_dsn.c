/*
 * test_dsn.c - unit tests of lib/dsn.c: the RFC 3464 report's structure (multipart/report
 * with the three parts), the per-message and per-recipient fields, the delay variant,
 * header attachment (cut at a line end, without the empty line), the boundary never
 * occurring in the attached headers, 8-bit detection, internationalized reports (RFC 6533:
 * global types, the utf-8 address type, charset labels), refusal of unusable input
 * (empty sender, CR/LF in fields), and determinism.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/dsn.h"

#define NOW     1795448400LL   /* Mon, 23 Nov 2026 15:40:00 UTC */
#define ARRIVAL 1795440000LL

static const char headers[] =
    "Received: from client.example (unknown [192.0.2.1])\r\n"
    "\tby mx.example (Postern) with ESMTP id 5BN6Xh6QXkzm0xr;\r\n"
    "From: alice@example.org\r\n"
    "Subject: hello\r\n"
    "\r\n";

static struct dsn_rcpt one_rcpt[] = {
    { "bob@remote.test", "5.1.1", "mx.remote.test", "550 5.1.1 <bob@remote.test>: no such user",
      "host mx.remote.test[192.0.2.9]:25 said: 550 5.1.1 <bob@remote.test>: no such user "
      "(in reply to RCPT TO command)", NOW },
};

static struct dsn_report base_report(void)
{
    struct dsn_report r;
    memset(&r, 0, sizeof(r));
    r.action = DSN_FAILED;
    r.reporting_mta = "mx.example";
    r.qid = "5BN6Xh6QXkzm0xr";
    r.sender = "alice@example.org";
    r.arrival = ARRIVAL;
    r.now = NOW;
    r.message_id = "5BN6Xz1.1795448400@mx.example";
    r.rcpts = one_rcpt;
    r.nrcpt = 1;
    r.headers = headers;
    r.headers_len = strlen(headers);
    r.headers_max = 16384;
    return r;
}

static char *build(const struct dsn_report *r, struct dsn_message *m)
{
    assert_int_equal(dsn_build(r, m), 0);
    assert_non_null(m->text);
    assert_int_equal(strlen(m->text), m->len);
    return m->text;
}

/* The base report with msg as the original message. */
static char *build_with_headers(const char *msg, struct dsn_message *m)
{
    struct dsn_report r = base_report();
    r.headers = msg;
    r.headers_len = strlen(msg);
    return build(&r, m);
}

static const char *after(const char *hay, const char *needle)
{
    const char *p = strstr(hay, needle);
    assert_non_null(p);
    return p + strlen(needle);
}

static void failed_report_has_three_parts_in_order(void **state)
{
    struct dsn_report r = base_report();
    struct dsn_message m;
    const char *t = build(&r, &m), *p1, *p2, *p3;
    (void)state;

    assert_non_null(strstr(t, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
                              "\tboundary=\"5BN6Xh6QXkzm0xr.1795448400/mx.example\"\r\n"));
    p1 = after(t, "--5BN6Xh6QXkzm0xr.1795448400/mx.example\r\nContent-Description: Notification"
                  "\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n");
    p2 = after(p1, "--5BN6Xh6QXkzm0xr.1795448400/mx.example\r\nContent-Description: Delivery "
                   "report\r\nContent-Type: message/delivery-status\r\n\r\n");
    p3 = after(p2, "--5BN6Xh6QXkzm0xr.1795448400/mx.example\r\nContent-Description: "
                   "Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n");
    assert_non_null(strstr(p3, "\r\n--5BN6Xh6QXkzm0xr.1795448400/mx.example--\r\n"));
    assert_false(m.eightbit);
    free(m.text);
}

static void top_headers_address_the_sender_from_mailer_daemon(void **state)
{
    struct dsn_report r = base_report();
    struct dsn_message m;
    const char *t = build(&r, &m);
    static const char want[] = "From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\n"
                               "To: <alice@example.org>\r\n"
                               "Subject: Undelivered Mail Returned to Sender\r\n"
                               "Date: Mon, 23 Nov 2026 15:40:00 +0000\r\n"
                               "Message-ID: <5BN6Xz1.1795448400@mx.example>\r\n"
                               "Auto-Submitted: auto-replied\r\n"
                               "MIME-Version: 1.0\r\n";
    (void)state;
    assert_true(strncmp(t, want, strlen(want)) == 0);
    free(m.text);
}

static void delivery_status_fields(void **state)
{
    struct dsn_report r = base_report();
    struct dsn_message m;
    const char *t = build(&r, &m);
    (void)state;

    assert_non_null(strstr(t, "\r\n\r\nReporting-MTA: dns; mx.example\r\n"
                              "X-Postern-Queue-ID: 5BN6Xh6QXkzm0xr\r\n"
                              "X-Postern-Sender: rfc822; alice@example.org\r\n"
                              "Arrival-Date: Mon, 23 Nov 2026 13:20:00 +0000\r\n"
                              "\r\n"
                              "Final-Recipient: rfc822; bob@remote.test\r\n"
                              "Action: failed\r\n"
                              "Status: 5.1.1\r\n"
                              "Remote-MTA: dns; mx.remote.test\r\n"
                              "Diagnostic-Code: smtp; 550 5.1.1 <bob@remote.test>: no such user\r\n"
                              "Last-Attempt-Date: Mon, 23 Nov 2026 15:40:00 +0000\r\n"));
    assert_null(strstr(t, "Will-Retry-Until"));
    free(m.text);
}

static void human_part_names_each_recipient_and_reason(void **state)
{
    struct dsn_report r = base_report();
    struct dsn_message m;
    const char *t = build(&r, &m);
    (void)state;
    assert_non_null(strstr(t, "This is the mail system at host mx.example.\r\n"));
    assert_non_null(strstr(t, "<bob@remote.test>: host mx.remote.test[192.0.2.9]:25 said: 550"));
    free(m.text);
}

static void delayed_report_says_delayed_and_until_when(void **state)
{
    struct dsn_report r = base_report();
    struct dsn_rcpt rc = { "bob@remote.test", "4.4.1", NULL, NULL,
                           "connect to mx.remote.test[192.0.2.9]:25: Connection refused", 0 };
    struct dsn_message m;
    const char *t;
    (void)state;

    r.action = DSN_DELAYED;
    r.rcpts = &rc;
    r.retry_until = ARRIVAL + 5 * 86400;
    t = build(&r, &m);
    assert_non_null(strstr(t, "Subject: Delayed Mail (still being retried)\r\n"));
    assert_non_null(strstr(t, "THIS IS A WARNING ONLY"));
    assert_non_null(strstr(t, "Action: delayed\r\nStatus: 4.4.1\r\n"
                              "Will-Retry-Until: Sat, 28 Nov 2026 13:20:00 +0000\r\n"));
    assert_null(strstr(t, "Remote-MTA"));
    assert_null(strstr(t, "Diagnostic-Code"));
    assert_null(strstr(t, "Last-Attempt-Date"));
    free(m.text);
}

static void several_recipients_get_one_block_each(void **state)
{
    struct dsn_report r = base_report();
    struct dsn_rcpt rc[3] = {
        { "a@x.test", "5.1.1", NULL, NULL, "no such user", 0 },
        { "b@x.test", "5.2.2", NULL, NULL, "mailbox full", 0 },
        { "c@x.test", "5.1.10", NULL, NULL, "null MX", 0 },
    };
    struct dsn_message m;
    const char *t;
    (void)state;
    r.rcpts = rc;
    r.nrcpt = 3;
    t = build(&r, &m);
    t = after(t, "Final-Recipient: rfc822; a@x.test\r\nAction: failed\r\nStatus: 5.1.1\r\n");
    t = after(t, "Final-Recipient: rfc822; b@x.test\r\nAction: failed\r\nStatus: 5.2.2\r\n");
    t = after(t, "Final-Recipient: rfc822; c@x.test\r\nAction: failed\r\nStatus: 5.1.10\r\n");
    free(m.text);
}

static void attached_headers_stop_before_the_body(void **state)
{
    static const char msg[] = "Subject: s\r\nX-A: 1\r\n\r\nbody text\r\nmore\r\n";
    struct dsn_report r = base_report();
    struct dsn_message m;
    const char *t, *h;
    (void)state;
    r.headers = msg;
    r.headers_len = strlen(msg);
    t = build(&r, &m);
    h = after(t, "Content-Type: text/rfc822-headers\r\n\r\n");
    assert_true(strncmp(h, "Subject: s\r\nX-A: 1\r\n\r\n--", 24) == 0);
    assert_null(strstr(t, "body text"));
    free(m.text);
}

static void attached_headers_are_cut_at_a_line_end(void **state)
{
    static const char msg[] = "Subject: first\r\nX-Long: 0123456789\r\nX-Third: 3\r\n\r\nbody";
    struct dsn_report r = base_report();
    struct dsn_message m;
    const char *t, *h;
    (void)state;
    r.headers = msg;
    r.headers_len = strlen(msg);
    r.headers_max = 30; /* inside the second line */
    t = build(&r, &m);
    h = after(t, "Content-Type: text/rfc822-headers\r\n\r\n");
    assert_true(strncmp(h, "Subject: first\r\n\r\n--", 20) == 0);
    assert_null(strstr(t, "X-Long"));
    free(m.text);
}

static void message_without_body_separator_attaches_everything(void **state)
{
    static const char msg[] = "Subject: only headers\r\nX-A: 1";
    struct dsn_message m;
    const char *t;
    (void)state;
    t = build_with_headers(msg, &m);
    assert_non_null(strstr(t, "\r\n\r\nSubject: only headers\r\nX-A: 1\r\n\r\n--"));
    free(m.text);
}

static void boundary_never_occurs_in_the_attached_headers(void **state)
{
    static const char msg[] = "X-Evil: --5BN6Xh6QXkzm0xr.1795448400/mx.example\r\n\r\n";
    struct dsn_message m;
    const char *t;
    (void)state;
    t = build_with_headers(msg, &m);
    assert_non_null(strstr(t, "boundary=\"5BN6Xh6QXkzm0xr.1795448400.1/mx.example\""));
    assert_non_null(strstr(t, "\r\n--5BN6Xh6QXkzm0xr.1795448400.1/mx.example--\r\n"));
    free(m.text);
}

static void boundary_never_occurs_in_an_address_or_reply(void **state)
{
    static struct dsn_rcpt rc[] = {
        { "bob@remote.test", "5.1.1", NULL, "550 5.1.1 --5BN6Xh6QXkzm0xr.1795448400.1/mx.example",
          NULL, NOW },
    };
    struct dsn_report r = base_report();
    struct dsn_message m;
    const char *t;
    (void)state;
    r.sender = "--5BN6Xh6QXkzm0xr.1795448400/mx.example@example.org";
    r.rcpts = rc;
    t = build(&r, &m);
    assert_non_null(strstr(t, "boundary=\"5BN6Xh6QXkzm0xr.1795448400.2/mx.example\""));
    free(m.text);
}

static void legacy_eight_bit_headers_are_flagged(void **state)
{
    /* 8-bit but not UTF-8 (ISO-8859-1 "gr\xfc\xdfe"): not an internationalized message */
    static const char msg[] = "Subject: gr\xfc\xdf""e\r\n\r\n";
    struct dsn_message m;
    const char *t;
    (void)state;
    t = build_with_headers(msg, &m);
    assert_true(m.eightbit);
    assert_non_null(strstr(t, "report-type=delivery-status;"));
    assert_non_null(strstr(t, "Content-Type: message/delivery-status\r\n\r\n"));
    assert_non_null(strstr(t, "Content-Type: text/rfc822-headers\r\n"
                              "Content-Transfer-Encoding: 8bit\r\n\r\n"));
    free(m.text);
}

static void utf8_headers_are_returned_as_message_global_headers(void **state)
{
    static const char msg[] = "From: J\xc3\xb6rg <joerg@example.org>\r\n"
                              "Subject: gr\xc3\xbc\xc3\x9f""e\r\n\r\nbody\r\n";
    struct dsn_message m;
    const char *t;
    (void)state;
    t = build_with_headers(msg, &m);
    assert_true(m.eightbit);
    assert_non_null(strstr(t, "Content-Type: multipart/report; "
                              "report-type=global-delivery-status;\r\n"));
    assert_non_null(strstr(t, "Content-Type: text/plain; charset=us-ascii\r\n\r\n"));
    assert_non_null(strstr(t, "Content-Type: message/global-delivery-status\r\n\r\n"));
    assert_non_null(strstr(t, "Final-Recipient: rfc822; bob@remote.test\r\n"));
    assert_non_null(strstr(t, "Content-Type: message/global-headers\r\n"
                              "Content-Transfer-Encoding: 8bit\r\n\r\n"
                              "From: J\xc3\xb6rg <joerg@example.org>\r\n"
                              "Subject: gr\xc3\xbc\xc3\x9f""e\r\n\r\n--"));
    assert_null(strstr(t, "text/rfc822-headers"));
    free(m.text);
}

static void utf8_addresses_get_the_utf8_address_type(void **state)
{
    static struct dsn_rcpt rc[] = {
        { "b\xc3\xb6+x=y@remote.test", "5.6.7", NULL, NULL,
          "SMTPUTF8 is required, but was not offered by host mx.remote.test", NOW },
        { "plain@remote.test", "5.1.1", NULL, NULL, "no such user", NOW },
    };
    struct dsn_report r = base_report();
    struct dsn_message m;
    const char *t;
    (void)state;
    r.sender = "j\xc3\xb6rg@example.org";
    r.rcpts = rc;
    r.nrcpt = 2;
    t = build(&r, &m);
    assert_true(m.eightbit);
    assert_non_null(strstr(t, "To: <j\xc3\xb6rg@example.org>\r\n"));
    assert_non_null(strstr(t, "report-type=global-delivery-status;"));
    assert_non_null(strstr(t, "Content-Type: text/plain; charset=utf-8\r\n"
                              "Content-Transfer-Encoding: 8bit\r\n\r\n"));
    assert_non_null(strstr(t, "<b\xc3\xb6+x=y@remote.test>: SMTPUTF8 is required"));
    assert_non_null(strstr(t, "Content-Type: message/global-delivery-status\r\n"
                              "Content-Transfer-Encoding: 8bit\r\n\r\n"));
    assert_non_null(strstr(t, "X-Postern-Sender: utf-8; j\xc3\xb6rg@example.org\r\n"));
    assert_non_null(strstr(t, "Final-Recipient: utf-8; b\xc3\xb6\\x{2B}x\\x{3D}y@remote.test"
                              "\r\n"));
    assert_non_null(strstr(t, "Final-Recipient: rfc822; plain@remote.test\r\n"));
    /* the attached headers are ASCII: they stay text/rfc822-headers */
    assert_non_null(strstr(t, "Content-Type: text/rfc822-headers\r\n\r\n"));
    free(m.text);
}

static void unusable_reports_are_refused(void **state)
{
    struct dsn_report r = base_report();
    struct dsn_rcpt bad = one_rcpt[0];
    struct dsn_message m;
    (void)state;

    r.sender = "";
    assert_int_equal(dsn_build(&r, &m), -1);
    assert_null(m.text);
    r = base_report();
    r.nrcpt = 0;
    assert_int_equal(dsn_build(&r, &m), -1);
    r = base_report();
    r.sender = "a@b\r\nBcc: victim@x";
    assert_int_equal(dsn_build(&r, &m), -1);
    r = base_report();
    bad.diagnostic = "550 ok\r\nX-Injected: 1";
    r.rcpts = &bad;
    assert_int_equal(dsn_build(&r, &m), -1);
}

static void same_input_same_bytes(void **state)
{
    struct dsn_report r = base_report();
    struct dsn_message a, b;
    (void)state;
    build(&r, &a);
    build(&r, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.text, b.text, a.len);
    free(a.text);
    free(b.text);
}

static void every_line_ends_in_crlf_and_is_short(void **state)
{
    struct dsn_report r = base_report();
    struct dsn_message m;
    const char *t = build(&r, &m), *p = t;
    (void)state;
    while (*p) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        assert_true(nl > t && nl[-1] == '\r');
        assert_true(nl - p <= 998);
        p = nl + 1;
    }
    free(m.text);
}

static void header_section_length(void **state)
{
    (void)state;
    assert_int_equal(dsn_header_section_len("A: 1\r\n\r\nbody", 13), 8);
    assert_int_equal(dsn_header_section_len("\r\nbody", 6), 2);
    assert_int_equal(dsn_header_section_len("A: 1\r\nB: 2", 10), 10);
}

static void dates_are_rfc5322_utc(void **state)
{
    char buf[40];
    (void)state;
    assert_string_equal(dsn_format_date(buf, sizeof(buf), 0), "Thu, 01 Jan 1970 00:00:00 +0000");
    assert_string_equal(dsn_format_date(buf, sizeof(buf), 951782400),
                        "Tue, 29 Feb 2000 00:00:00 +0000");
}

/* The reason already quotes the remote reply: the human part says it once. */
static void remote_diagnostic_appears_once(void **state)
{
    struct dsn_report r = base_report();
    struct dsn_message m;
    const char *t = build(&r, &m), *human_end = strstr(t, "Content-Type: message/delivery-status");
    const char *first, *second;
    (void)state;
    assert_non_null(human_end);
    first = strstr(t, "550 5.1.1 <bob@remote.test>: no such user");
    assert_non_null(first);
    assert_true(first < human_end);
    second = strstr(first + 1, "550 5.1.1 <bob@remote.test>: no such user");
    assert_true(second == NULL || second > human_end); /* then only Diagnostic-Code */
    free(m.text);
}

static void ages_under_a_day_are_hours_or_minutes(void **state)
{
    char b[32];
    (void)state;
    dsn_format_age(b, sizeof b, 5 * 86400 + 3600);
    assert_string_equal(b, "5 days");
    dsn_format_age(b, sizeof b, 86400);
    assert_string_equal(b, "1 day");
    dsn_format_age(b, sizeof b, 4 * 3600 + 59);
    assert_string_equal(b, "4 hours");
    dsn_format_age(b, sizeof b, 3600);
    assert_string_equal(b, "1 hour");
    dsn_format_age(b, sizeof b, 150);
    assert_string_equal(b, "2 minutes");
    dsn_format_age(b, sizeof b, 0);
    assert_string_equal(b, "1 minute");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failed_report_has_three_parts_in_order),
        cmocka_unit_test(top_headers_address_the_sender_from_mailer_daemon),
        cmocka_unit_test(delivery_status_fields),
        cmocka_unit_test(human_part_names_each_recipient_and_reason),
        cmocka_unit_test(delayed_report_says_delayed_and_until_when),
        cmocka_unit_test(several_recipients_get_one_block_each),
        cmocka_unit_test(attached_headers_stop_before_the_body),
        cmocka_unit_test(attached_headers_are_cut_at_a_line_end),
        cmocka_unit_test(message_without_body_separator_attaches_everything),
        cmocka_unit_test(boundary_never_occurs_in_the_attached_headers),
        cmocka_unit_test(boundary_never_occurs_in_an_address_or_reply),
        cmocka_unit_test(legacy_eight_bit_headers_are_flagged),
        cmocka_unit_test(utf8_headers_are_returned_as_message_global_headers),
        cmocka_unit_test(utf8_addresses_get_the_utf8_address_type),
        cmocka_unit_test(unusable_reports_are_refused),
        cmocka_unit_test(same_input_same_bytes),
        cmocka_unit_test(every_line_ends_in_crlf_and_is_short),
        cmocka_unit_test(header_section_length),
        cmocka_unit_test(dates_are_rfc5322_utc),
        cmocka_unit_test(remote_diagnostic_appears_once),
        cmocka_unit_test(ages_under_a_day_are_hours_or_minutes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
