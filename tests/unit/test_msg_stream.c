/*
 * test_msg_stream.c - unit tests for lib/msg_stream.c: header fields counted (Received,
 * From, Message-ID, Date), the From value unfolded, 8-bit header detection, long lines
 * folded (header) or broken (body) or only flagged, Message-ID and Date inserted at the
 * end of the header, the sealing empty line, and byte-exact output for messages that need
 * no change. Every case is fed in one piece and split at every chunk size, and must give
 * the same result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "lib/msg_stream.h"

#define STR_AND_LEN(s) s, sizeof(s) - 1

struct sink {
    char *buf;
    size_t len, cap;
    unsigned calls;
};

static void sink_out(void *arg, const char *data, size_t len)
{
    struct sink *k = arg;
    assert_true(len > 0);
    if (k->len + len > k->cap) {
        k->cap = (k->len + len) * 2;
        k->buf = realloc(k->buf, k->cap);
        assert_non_null(k->buf);
    }
    memcpy(k->buf + k->len, data, len);
    k->len += len;
    k->calls++;
}

struct result {
    struct msg_stream m;
    struct sink out;
};

static const struct msg_stream_opts plain_opts = { .break_long_lines = true };
static const struct msg_stream_opts submission_opts = {
    .break_long_lines = true, .seal_header = true,
    .message_id = "<20250101.QID@mx.test>", .date = "Wed, 1 Jan 2025 00:00:00 +0000",
};

/* Run in[0..len) in chunks of chunk bytes (0: one piece). r->out.buf must be freed. */
static void run(const char *in, size_t len, const struct msg_stream_opts *o, size_t chunk,
                struct result *r)
{
    size_t off = 0;

    memset(&r->out, 0, sizeof(r->out));
    msg_stream_init(&r->m, o, sink_out, &r->out);
    if (chunk == 0)
        chunk = len ? len : 1;
    while (off < len) {
        size_t n = len - off < chunk ? len - off : chunk;
        msg_stream_feed(&r->m, in + off, n);
        off += n;
    }
    msg_stream_finish(&r->m);
    assert_int_equal(r->m.out_total, r->out.len);
}

/* Run once, then at every chunk size, and check that all runs agree with the first. */
static void run_all(const char *in, size_t len, const struct msg_stream_opts *o,
                    struct result *r)
{
    size_t chunk;

    run(in, len, o, 0, r);
    for (chunk = 1; chunk < len; chunk += chunk < 64 ? 1 : 97) {
        struct result s;
        run(in, len, o, chunk, &s);
        if (s.out.len != r->out.len || memcmp(s.out.buf, r->out.buf, s.out.len) != 0)
            fail_msg("chunk %zu: output differs", chunk);
        assert_int_equal(s.m.received, r->m.received);
        assert_int_equal(s.m.from, r->m.from);
        assert_int_equal(s.m.message_id, r->m.message_id);
        assert_int_equal(s.m.date, r->m.date);
        assert_int_equal(s.m.header_8bit, r->m.header_8bit);
        assert_int_equal(s.m.from_len, r->m.from_len);
        assert_memory_equal(s.m.from_value, r->m.from_value, s.m.from_len);
        assert_int_equal(s.m.long_lines, r->m.long_lines);
        assert_int_equal(s.m.breaks, r->m.breaks);
        free(s.out.buf);
    }
}

static void expect_out(const struct result *r, const char *want, size_t want_len)
{
    if (r->out.len != want_len || memcmp(r->out.buf, want, want_len) != 0)
        fail_msg("output \"%.*s\"\nwanted \"%.*s\"", (int)r->out.len, r->out.buf,
                 (int)want_len, want);
}

static void expect_from(const struct result *r, const char *want)
{
    if (r->m.from_len != strlen(want) || memcmp(r->m.from_value, want, r->m.from_len) != 0)
        fail_msg("From value \"%.*s\", wanted \"%s\"", (int)r->m.from_len, r->m.from_value,
                 want);
}

/* Every line of s[0..len) has at most MSG_LINE_MAX bytes before its CR LF. */
static void expect_lines_fit(const char *s, size_t len)
{
    size_t start = 0, i;
    for (i = 0; i + 1 < len; i++)
        if (s[i] == '\r' && s[i + 1] == '\n') {
            assert_true(i - start <= MSG_LINE_MAX);
            start = i + 2;
        }
    assert_true(len - start <= MSG_LINE_MAX);
}

static void message_that_needs_no_change_is_passed_on_unchanged(void **state)
{
    static const char msg[] =
        "Received: from a by b; Wed, 1 Jan 2025 00:00:00 +0000\r\n"
        "Received: from c\r\n\tby d; Wed, 1 Jan 2025 00:00:00 +0000\r\n"
        "From: Alice <alice@example.test>\r\nTo: bob@example.test\r\n"
        "Message-ID: <1@example.test>\r\nDate: Wed, 1 Jan 2025 00:00:00 +0000\r\n"
        "Subject: hi\r\n\r\nbody\r\nFrom: not a header\r\nReceived: neither\r\n";
    struct result r;
    (void)state;

    run_all(STR_AND_LEN(msg), &submission_opts, &r);
    expect_out(&r, STR_AND_LEN(msg));
    assert_int_equal(r.m.received, 2);
    assert_int_equal(r.m.from, 1);
    assert_int_equal(r.m.message_id, 1);
    assert_int_equal(r.m.date, 1);
    assert_true(r.m.header_ended);
    assert_false(r.m.header_8bit);
    assert_false(r.m.added_message_id || r.m.added_date);
    assert_int_equal(r.m.long_lines, 0);
    expect_from(&r, " Alice <alice@example.test>");
    free(r.out.buf);
}

static void body_is_passed_on_in_one_call_per_feed(void **state)
{
    char msg[20000];
    struct result r;
    size_t i;
    (void)state;

    memcpy(msg, "Subject: x\r\n\r\n", 14);
    for (i = 14; i + 80 <= sizeof(msg); i += 80) {
        memset(msg + i, 'b', 78);
        memcpy(msg + i + 78, "\r\n", 2);
    }
    run(msg, i, &plain_opts, 0, &r);
    expect_out(&r, msg, i);
    assert_true(r.out.calls <= 3);   /* the header lines, then the body in one run */
    free(r.out.buf);
}

static void from_value_is_unfolded_across_every_continuation_line(void **state)
{
    static const char msg[] =
        "From: alice@a.example\r\n (x)\r\n <ceo@b.example>\r\nSubject: s\r\n\r\nb\r\n";
    struct result r;
    (void)state;

    run_all(STR_AND_LEN(msg), &plain_opts, &r);
    expect_out(&r, STR_AND_LEN(msg));
    assert_int_equal(r.m.from, 1);
    expect_from(&r, " alice@a.example (x) <ceo@b.example>");
    free(r.out.buf);
}

static void from_fields_are_counted_with_spaces_before_the_colon(void **state)
{
    static const char two[] = "From: alice@a.example\r\nFROM \t: <ceo@b.example>\r\n\r\n";
    static const char spaced[] = "From   : <alice@a.example>\r\n\r\n";
    static const char no_colon[] = "From alice@a.example\r\nFrom: x@y\r\n\r\n";
    struct result r;
    (void)state;

    run_all(STR_AND_LEN(two), &plain_opts, &r);
    assert_int_equal(r.m.from, 2);
    expect_from(&r, " alice@a.example");
    free(r.out.buf);

    run_all(STR_AND_LEN(spaced), &plain_opts, &r);
    assert_int_equal(r.m.from, 1);
    expect_from(&r, " <alice@a.example>");
    free(r.out.buf);

    /* not a header field: the header ends before it, the From: below is body */
    run_all(STR_AND_LEN(no_colon), &plain_opts, &r);
    assert_int_equal(r.m.from, 0);
    assert_true(r.m.header_ended);
    expect_out(&r, STR_AND_LEN(no_colon));
    free(r.out.buf);
}

static void from_value_longer_than_the_limit_is_cut_and_said_so(void **state)
{
    char msg[3 * MSG_FROM_MAX];
    size_t n = 0, i;
    struct result r;
    (void)state;

    n += (size_t)sprintf(msg, "From: x");
    for (i = 0; i < MSG_FROM_MAX / 4; i++)
        n += (size_t)sprintf(msg + n, "\r\n a@b.c,d");
    n += (size_t)sprintf(msg + n, "\r\n\r\n");
    run_all(msg, n, &plain_opts, &r);
    assert_int_equal(r.m.from_len, MSG_FROM_MAX);
    assert_true(r.m.from_cut);
    free(r.out.buf);
}

static void received_fields_of_the_header_are_counted(void **state)
{
    char msg[8192];
    size_t n = 0, i;
    struct result r;
    (void)state;

    for (i = 0; i < 50; i++)
        n += (size_t)sprintf(msg + n, "received: from h%zu\r\n\tby x; date\r\n", i);
    n += (size_t)sprintf(msg + n, "Subject: loop\r\n\r\nReceived: in the body\r\n");
    run_all(msg, n, &plain_opts, &r);
    assert_int_equal(r.m.received, 50);
    free(r.out.buf);
}

static void eight_bit_bytes_are_noticed_in_the_header_only(void **state)
{
    static const char head[] = "Subject: caf\xc3\xa9\r\n\r\nbody\r\n";
    static const char folded[] = "Subject: x\r\n caf\xc3\xa9\r\n\r\nbody\r\n";
    static const char body[] = "Subject: cafe\r\n\r\ncaf\xc3\xa9\r\n";
    static const char not_field[] = "Subject: cafe\r\ncaf\xc3\xa9\r\n";
    struct result r;
    (void)state;

    run_all(STR_AND_LEN(head), &plain_opts, &r);
    assert_true(r.m.header_8bit);
    free(r.out.buf);
    run_all(STR_AND_LEN(folded), &plain_opts, &r);
    assert_true(r.m.header_8bit);
    free(r.out.buf);
    run_all(STR_AND_LEN(body), &plain_opts, &r);
    assert_false(r.m.header_8bit);
    free(r.out.buf);
    run_all(STR_AND_LEN(not_field), &plain_opts, &r);   /* that line starts the body */
    assert_false(r.m.header_8bit);
    free(r.out.buf);
}

/* A message with one body line of len bytes. */
static size_t body_line_message(char *msg, size_t len, char fill)
{
    size_t n = (size_t)sprintf(msg, "Subject: long\r\n\r\n");
    memset(msg + n, fill, len);
    n += len;
    memcpy(msg + n, "\r\nend\r\n", 7);
    return n + 7;
}

static void long_body_line_is_broken_at_998_octets(void **state)
{
    static char msg[6000], want[6100];
    size_t n = body_line_message(msg, 5000, 'a'), w, i;
    struct result r;
    (void)state;

    run_all(msg, n, &plain_opts, &r);
    assert_int_equal(r.m.long_lines, 1);
    assert_int_equal(r.m.breaks, 5);
    expect_lines_fit(r.out.buf, r.out.len);
    w = (size_t)sprintf(want, "Subject: long\r\n\r\n");
    for (i = 0; i < 5000; i += MSG_LINE_MAX) {
        size_t k = 5000 - i < MSG_LINE_MAX ? 5000 - i : MSG_LINE_MAX;
        memset(want + w, 'a', k);
        memcpy(want + w + k, "\r\n", 2);
        w += k + 2;
    }
    memcpy(want + w, "end\r\n", 5);
    expect_out(&r, want, w + 5);
    free(r.out.buf);
}

static void lines_of_998_octets_are_kept_and_999_are_broken(void **state)
{
    static char msg[1200];
    size_t n;
    struct result r;
    (void)state;

    n = body_line_message(msg, MSG_LINE_MAX, 'a');
    run_all(msg, n, &plain_opts, &r);
    expect_out(&r, msg, n);
    assert_int_equal(r.m.long_lines, 0);
    free(r.out.buf);

    n = body_line_message(msg, MSG_LINE_MAX + 1, 'a');
    run_all(msg, n, &plain_opts, &r);
    assert_int_equal(r.m.long_lines, 1);
    assert_int_equal(r.out.len, n + 2);
    expect_lines_fit(r.out.buf, r.out.len);
    free(r.out.buf);
}

static void long_lines_are_only_counted_when_not_breaking(void **state)
{
    static char msg[12000];
    static const struct msg_stream_opts flag_only = { .break_long_lines = false };
    size_t n = 0;
    struct result r;
    (void)state;

    n += (size_t)sprintf(msg, "X-Long: ");
    memset(msg + n, 'h', 3000);
    n += 3000;
    n += (size_t)sprintf(msg + n, "\r\n\r\n");
    memset(msg + n, 'b', 5000);
    n += 5000;
    n += (size_t)sprintf(msg + n, "\r\nshort\r\n");
    memset(msg + n, 'c', 1000);
    n += 1000;
    run_all(msg, n, &flag_only, &r);
    expect_out(&r, msg, n);
    assert_int_equal(r.m.long_lines, 3);
    assert_int_equal(r.m.breaks, 0);
    free(r.out.buf);
}

/* Remove every CR LF that is followed by a space or tab (RFC 5322 unfolding). */
static size_t unfold(char *s, size_t len)
{
    size_t i, w = 0;
    for (i = 0; i < len; i++) {
        if (i + 2 < len && s[i] == '\r' && s[i + 1] == '\n' && (s[i + 2] == ' ' || s[i + 2] == '\t'))
            i++;
        else
            s[w++] = s[i];
    }
    return w;
}

static void long_header_line_is_folded_before_a_space(void **state)
{
    static char msg[6000];
    size_t n = 0, i, u;
    struct result r;
    (void)state;

    n += (size_t)sprintf(msg, "To: ");
    for (i = 0; i < 200; i++)
        n += (size_t)sprintf(msg + n, "%suser%03zu@example.test", i ? ", " : "", i);
    n += (size_t)sprintf(msg + n, "\r\nSubject: x\r\n\r\nbody\r\n");
    run_all(msg, n, &plain_opts, &r);
    assert_int_equal(r.m.long_lines, 1);
    assert_true(r.m.breaks >= 4);
    expect_lines_fit(r.out.buf, r.out.len);
    assert_int_equal(r.out.len, n + 2 * r.m.breaks);   /* only CR LF was added */
    u = unfold(r.out.buf, r.out.len);
    expect_out(&(struct result){ .out = { .buf = r.out.buf, .len = u } }, msg, n);
    free(r.out.buf);
}

static void long_header_line_without_spaces_gets_crlf_space(void **state)
{
    static char msg[4000];
    size_t n = 0;
    struct result r;
    (void)state;

    n += (size_t)sprintf(msg, "From: ");
    memset(msg + n, 'f', 1800);
    n += 1800;
    n += (size_t)sprintf(msg + n, "\r\n\r\n");
    run_all(msg, n, &plain_opts, &r);
    assert_int_equal(r.m.breaks, 1);
    expect_lines_fit(r.out.buf, r.out.len);
    assert_int_equal(r.out.len, n + 3);
    assert_memory_equal(r.out.buf + MSG_LINE_MAX, "\r\n f", 4);
    assert_int_equal(r.m.from, 1);
    assert_int_equal(r.m.from_len, 1800 + 2);   /* the space after the colon, and the fold's */
    free(r.out.buf);
}

static void long_first_line_that_is_no_field_starts_the_body(void **state)
{
    static char msg[3000];
    size_t n = 0;
    struct result r;
    (void)state;

    memset(msg, 'z', 2000);
    n = 2000;
    n += (size_t)sprintf(msg + n, "\r\nSubject: body\r\n");
    run_all(msg, n, &plain_opts, &r);
    assert_true(r.m.header_ended);
    assert_int_equal(r.m.breaks, 2);
    assert_int_equal(r.out.len, n + 4);     /* body breaks: CR LF, no space */
    expect_lines_fit(r.out.buf, r.out.len);
    free(r.out.buf);
}

static void missing_message_id_and_date_are_inserted_at_the_end_of_the_header(void **state)
{
    static const char msg[] = "From: a@b\r\nSubject: s\r\n\r\nbody\r\n";
    static const char want[] = "From: a@b\r\nSubject: s\r\n"
        "Message-ID: <20250101.QID@mx.test>\r\nDate: Wed, 1 Jan 2025 00:00:00 +0000\r\n"
        "\r\nbody\r\n";
    static const char has_both[] = "message-id: <x@y>\r\nDATE: Wed, 1 Jan 2025\r\n\r\nb\r\n";
    static const char has_id[] = "Message-ID: <x@y>\r\n\r\nb\r\n";
    static const char has_id_want[] =
        "Message-ID: <x@y>\r\nDate: Wed, 1 Jan 2025 00:00:00 +0000\r\n\r\nb\r\n";
    struct result r;
    (void)state;

    run_all(STR_AND_LEN(msg), &submission_opts, &r);
    expect_out(&r, STR_AND_LEN(want));
    assert_true(r.m.added_message_id && r.m.added_date);
    free(r.out.buf);

    run_all(STR_AND_LEN(has_both), &submission_opts, &r);
    expect_out(&r, STR_AND_LEN(has_both));
    free(r.out.buf);

    run_all(STR_AND_LEN(has_id), &submission_opts, &r);
    expect_out(&r, STR_AND_LEN(has_id_want));
    assert_false(r.m.added_message_id);
    assert_true(r.m.added_date);
    free(r.out.buf);

    run_all(STR_AND_LEN(msg), &plain_opts, &r);     /* not asked: nothing inserted */
    expect_out(&r, STR_AND_LEN(msg));
    free(r.out.buf);
}

static void fields_are_inserted_in_messages_without_header_or_body(void **state)
{
    static const char ids[] =
        "Message-ID: <20250101.QID@mx.test>\r\nDate: Wed, 1 Jan 2025 00:00:00 +0000\r\n";
    static const char no_header[] = "\r\nbody\r\n";
    static const char header_only[] = "Subject: s\r\n";
    static const char unterminated[] = "Subject: s";
    char want[512];
    struct result r;
    (void)state;

    run_all("", 0, &submission_opts, &r);
    expect_out(&r, STR_AND_LEN(ids));
    free(r.out.buf);

    run_all(STR_AND_LEN(no_header), &submission_opts, &r);
    snprintf(want, sizeof(want), "%s%s", ids, no_header);
    expect_out(&r, want, strlen(want));
    free(r.out.buf);

    run_all(STR_AND_LEN(header_only), &submission_opts, &r);
    snprintf(want, sizeof(want), "%s%s", header_only, ids);
    expect_out(&r, want, strlen(want));
    free(r.out.buf);

    run_all(STR_AND_LEN(unterminated), &submission_opts, &r);
    snprintf(want, sizeof(want), "%s\r\n%s", unterminated, ids);
    expect_out(&r, want, strlen(want));
    free(r.out.buf);
}

static void header_ending_at_a_non_field_line_is_sealed_with_an_empty_line(void **state)
{
    static const char msg[] = "Subject: s\r\nMessage-ID: <x@y>\r\nDate: d\r\n"
                              "Hello world\r\nFrom: ceo@b.example\r\n";
    static const char want[] = "Subject: s\r\nMessage-ID: <x@y>\r\nDate: d\r\n"
                               "\r\nHello world\r\nFrom: ceo@b.example\r\n";
    static const char cont_first[] = " leading space\r\nFrom: x@y\r\n";
    static const struct msg_stream_opts seal_only = { .seal_header = true };
    struct result r;
    (void)state;

    run_all(STR_AND_LEN(msg), &seal_only, &r);
    expect_out(&r, STR_AND_LEN(want));
    assert_int_equal(r.m.from, 0);
    free(r.out.buf);

    run_all(STR_AND_LEN(msg), &plain_opts, &r);     /* not asked: unchanged */
    expect_out(&r, STR_AND_LEN(msg));
    free(r.out.buf);

    run_all(STR_AND_LEN(cont_first), &seal_only, &r);  /* a first line cannot continue */
    assert_int_equal(r.m.from, 0);
    assert_int_equal(r.out.len, sizeof(cont_first) - 1 + 2);
    free(r.out.buf);
}

static void bare_line_ends_never_crash_and_pass_through(void **state)
{
    static const char msg[] = "Subject: a\nFrom: x\r\r\n\n\rbody\n\r";
    struct result r;
    (void)state;

    run_all(STR_AND_LEN(msg), &plain_opts, &r);
    expect_out(&r, STR_AND_LEN(msg));
    free(r.out.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(message_that_needs_no_change_is_passed_on_unchanged),
        cmocka_unit_test(body_is_passed_on_in_one_call_per_feed),
        cmocka_unit_test(from_value_is_unfolded_across_every_continuation_line),
        cmocka_unit_test(from_fields_are_counted_with_spaces_before_the_colon),
        cmocka_unit_test(from_value_longer_than_the_limit_is_cut_and_said_so),
        cmocka_unit_test(received_fields_of_the_header_are_counted),
        cmocka_unit_test(eight_bit_bytes_are_noticed_in_the_header_only),
        cmocka_unit_test(long_body_line_is_broken_at_998_octets),
        cmocka_unit_test(lines_of_998_octets_are_kept_and_999_are_broken),
        cmocka_unit_test(long_lines_are_only_counted_when_not_breaking),
        cmocka_unit_test(long_header_line_is_folded_before_a_space),
        cmocka_unit_test(long_header_line_without_spaces_gets_crlf_space),
        cmocka_unit_test(long_first_line_that_is_no_field_starts_the_body),
        cmocka_unit_test(missing_message_id_and_date_are_inserted_at_the_end_of_the_header),
        cmocka_unit_test(fields_are_inserted_in_messages_without_header_or_body),
        cmocka_unit_test(header_ending_at_a_non_field_line_is_sealed_with_an_empty_line),
        cmocka_unit_test(bare_line_ends_never_crash_and_pass_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
