/*
 * test_smtp_parse.c - unit tests for lib/smtp_parse.c: line framing (the SMTP smuggling
 * defence on the command channel), verb lookup, MAIL/RCPT paths and ESMTP parameters,
 * SIZE values and HELO arguments. Mostly tables; each test name states the behaviour.
 * Line framing is checked through a small simulated session (frame()) that feeds the
 * input in chunks of every size and drains what the reader consumes, as a session does.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "lib/smtp_parse.h"

#define N_ELEMENTS(a) (sizeof(a) / sizeof((a)[0]))
#define STR_AND_LEN(s) s, sizeof(s) - 1

/* ---- line framing ------------------------------------------------------------------- */

#define FRAME_BUF 16384

/*
 * Feed in[0..len) to a reader with the given max, chunk bytes at a time, draining what
 * it consumes, and describe what it reported in trace: "ok:TEXT;" for each good line,
 * "lf;", "cr;", "nul;", "long;" for bad ones. Returns the most bytes ever left in the
 * session buffer after a NEED_MORE (the reader's memory bound).
 */
static size_t frame(const char *in, size_t len, size_t max, size_t chunk, char *trace,
                    size_t cap)
{
    static const char *const names[] = { "", "ok", "long", "lf", "cr", "nul" };
    static char buf[FRAME_BUF];
    struct smtp_line_reader rd = { .max = max };
    size_t have = 0, off = 0, held = 0, tlen = 0;

    trace[0] = '\0';
    while (off < len) {
        size_t n = len - off < chunk ? len - off : chunk;
        enum smtp_line_status st;
        assert_true(have + n <= sizeof buf);
        memcpy(buf + have, in + off, n);
        have += n;
        off += n;
        do {
            size_t line_len, consumed;
            st = smtp_line_next(&rd, buf, have, &line_len, &consumed);
            assert_true(consumed <= have);
            if (st == SMTP_LINE_OK)
                tlen += (size_t)snprintf(trace + tlen, cap - tlen, "ok:%.*s;", (int)line_len, buf);
            else if (st != SMTP_LINE_NEED_MORE)
                tlen += (size_t)snprintf(trace + tlen, cap - tlen, "%s;", names[st]);
            assert_true(tlen < cap);
            memmove(buf, buf + consumed, have - consumed);
            have -= consumed;
        } while (st != SMTP_LINE_NEED_MORE);
        if (have > held)
            held = have;
    }
    return held;
}

struct frame_case {
    const char *name;
    size_t max;
    const char *in;
    size_t len;
    const char *trace;
};

/* Every case must give the same trace however the input is split, with the reader never
 * keeping more than max + 1 bytes. */
static void check_frames(const struct frame_case *cases, size_t n)
{
    char trace[4096];
    size_t i, chunk;
    for (i = 0; i < n; i++) {
        for (chunk = 1; chunk <= cases[i].len; chunk++) {
            size_t held = frame(cases[i].in, cases[i].len, cases[i].max, chunk, trace,
                                sizeof trace);
            if (strcmp(trace, cases[i].trace) != 0)
                fail_msg("%s (chunk %zu): got \"%s\", want \"%s\"", cases[i].name, chunk,
                         trace, cases[i].trace);
            if (held > cases[i].max + 1)
                fail_msg("%s (chunk %zu): %zu bytes held", cases[i].name, chunk, held);
        }
    }
}

#define FC(name, max, in, trace) { name, max, STR_AND_LEN(in), trace }

static void crlf_lines_are_returned_without_crlf(void **state)
{
    static const struct frame_case cases[] = {
        FC("one line", 512, "EHLO mx.example\r\n", "ok:EHLO mx.example;"),
        FC("empty line", 512, "\r\n", "ok:;"),
        FC("empty lines", 512, "\r\n\r\nQUIT\r\n", "ok:;ok:;ok:QUIT;"),
        FC("partial line", 512, "QUI", ""),
        FC("partial after line", 512, "NOOP\r\nQUI", "ok:NOOP;"),
    };
    (void)state;
    check_frames(cases, N_ELEMENTS(cases));
}

static void pipelined_lines_in_one_buffer_come_out_one_by_one(void **state)
{
    static const struct frame_case cases[] = {
        FC("pipelined", 512,
           "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n",
           "ok:MAIL FROM:<a@b.example>;ok:RCPT TO:<c@d.example>;ok:DATA;"),
    };
    (void)state;
    check_frames(cases, N_ELEMENTS(cases));
}

static void bare_lf_ends_the_line_with_bare_lf_status(void **state)
{
    static const struct frame_case cases[] = {
        FC("bare lf", 512, "NOOP\nQUIT\r\n", "lf;ok:QUIT;"),
        FC("only lf", 512, "\n", "lf;"),
        FC("lf after cr lf", 512, "NOOP\r\n\nQUIT\r\n", "ok:NOOP;lf;ok:QUIT;"),
        FC("smuggled dot", 512, "DATA\r\n\n.\nMAIL FROM:<x@y>\r\n",
           "ok:DATA;lf;lf;ok:MAIL FROM:<x@y>;"),
        FC("bare lf and cr", 512, "a\rb\nQUIT\r\n", "lf;ok:QUIT;"),
    };
    (void)state;
    check_frames(cases, N_ELEMENTS(cases));
}

static void bare_cr_is_reported_when_the_line_ends(void **state)
{
    static const struct frame_case cases[] = {
        FC("cr inside", 512, "NO\rOP\r\nQUIT\r\n", "cr;ok:QUIT;"),
        FC("cr before crlf", 512, "NOOP\r\r\nQUIT\r\n", "cr;ok:QUIT;"),
        FC("cr at start", 512, "\rNOOP\r\n", "cr;"),
        FC("cr never ends a line", 512, "NOOP\rQUIT\r", ""),
    };
    (void)state;
    check_frames(cases, N_ELEMENTS(cases));
}

static void cr_at_buffer_end_needs_more_input(void **state)
{
    struct smtp_line_reader rd = { .max = 512 };
    size_t line_len = 99, consumed = 99;
    (void)state;
    assert_int_equal(smtp_line_next(&rd, STR_AND_LEN("QUIT\r"), &line_len, &consumed),
                     SMTP_LINE_NEED_MORE);
    assert_int_equal(consumed, 0);
    assert_int_equal(line_len, 0);
    assert_int_equal(smtp_line_next(&rd, STR_AND_LEN("QUIT\r\n"), &line_len, &consumed),
                     SMTP_LINE_OK);
    assert_int_equal(line_len, 4);
    assert_int_equal(consumed, 6);
}

static void nul_inside_a_line_is_reported(void **state)
{
    static const struct frame_case cases[] = {
        FC("nul", 512, "NO\0OP\r\nQUIT\r\n", "nul;ok:QUIT;"),
        FC("nul and cr: cr wins", 512, "\0\r\r\n", "cr;"),
    };
    (void)state;
    check_frames(cases, N_ELEMENTS(cases));
}

static void bad_line_reports_its_length_and_bytes(void **state)
{
    struct smtp_line_reader rd = { .max = 512 };
    size_t line_len, consumed;
    (void)state;
    assert_int_equal(smtp_line_next(&rd, STR_AND_LEN("NOOP\nQUIT\r\n"), &line_len, &consumed),
                     SMTP_LINE_BARE_LF);
    assert_int_equal(line_len, 4);
    assert_int_equal(consumed, 5);
}

static void line_of_exactly_max_bytes_is_ok(void **state)
{
    static const struct frame_case cases[] = {
        FC("max with crlf", 8, "12345678\r\nQUIT\r\n", "ok:12345678;ok:QUIT;"),
        FC("max with bare lf", 8, "12345678\nQUIT\r\n", "lf;ok:QUIT;"),
        FC("max and a cr: still undecided", 8, "12345678\r", ""),
        FC("max zero allows empty lines", 0, "\r\n", "ok:;"),
    };
    (void)state;
    check_frames(cases, N_ELEMENTS(cases));
}

static void line_of_max_plus_one_bytes_is_too_long(void **state)
{
    static const struct frame_case cases[] = {
        FC("max+1 with crlf", 8, "123456789\r\nQUIT\r\n", "long;ok:QUIT;"),
        FC("max+1 with bare lf", 8, "123456789\nQUIT\r\n", "long;ok:QUIT;"),
        FC("max+1, cr inside", 8, "1234\r6789\r\nQUIT\r\n", "long;ok:QUIT;"),
        FC("max+1, not ended yet", 8, "123456789", ""),
        FC("max zero", 0, "a\r\n\r\n", "long;ok:;"),
        FC("two long lines", 4, "123456\r\nabcdefgh\r\nQUIT\r\n", "long;long;ok:QUIT;"),
    };
    (void)state;
    check_frames(cases, N_ELEMENTS(cases));
}

static void too_long_line_over_many_calls_is_discarded_with_bounded_memory(void **state)
{
    static char in[20000];
    char trace[256];
    size_t chunks[] = { 1, 7, 100, 101, 102, 1000, 4096, FRAME_BUF - 200 };
    size_t i;
    (void)state;
    memset(in, 'x', sizeof in);
    memcpy(in + sizeof in - 12, "\r\nQUIT\r\n\r\n\r\n", 12);
    for (i = 0; i < N_ELEMENTS(chunks); i++) {
        size_t held = frame(in, sizeof in, 100, chunks[i], trace, sizeof trace);
        assert_string_equal(trace, "long;ok:QUIT;ok:;ok:;");
        assert_true(held <= 101);
    }
}

static void discarding_consumes_everything_it_sees(void **state)
{
    struct smtp_line_reader rd = { .max = 4 };
    size_t line_len, consumed;
    (void)state;
    assert_int_equal(smtp_line_next(&rd, STR_AND_LEN("123456"), &line_len, &consumed),
                     SMTP_LINE_NEED_MORE);
    assert_int_equal(consumed, 6);
    assert_true(rd.discarding);
    assert_int_equal(smtp_line_next(&rd, STR_AND_LEN("78\r"), &line_len, &consumed),
                     SMTP_LINE_NEED_MORE);
    assert_int_equal(consumed, 3);
    assert_int_equal(smtp_line_next(&rd, STR_AND_LEN("\nQUIT\r\n"), &line_len, &consumed),
                     SMTP_LINE_TOO_LONG);
    assert_int_equal(consumed, 1);
    assert_false(rd.discarding);
    assert_int_equal(smtp_line_next(&rd, STR_AND_LEN("QUIT\r\n"), &line_len, &consumed),
                     SMTP_LINE_OK);
}

/* ---- commands ----------------------------------------------------------------------- */

struct cmd_case {
    const char *line;
    int ret;
    enum smtp_verb verb;
    const char *arg;
};

static void check_cmds(const struct cmd_case *cases, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        struct smtp_cmd cmd;
        int ret = smtp_cmd_parse(cases[i].line, strlen(cases[i].line), &cmd);
        if (ret != cases[i].ret || cmd.verb != cases[i].verb
            || cmd.arg_len != strlen(cases[i].arg)
            || memcmp(cmd.arg, cases[i].arg, cmd.arg_len) != 0)
            fail_msg("\"%s\": got %d %s \"%.*s\"", cases[i].line, ret,
                     smtp_verb_name(cmd.verb), (int)cmd.arg_len, cmd.arg);
    }
}

static void every_verb_is_recognised_with_its_argument(void **state)
{
    static const struct cmd_case cases[] = {
        { "HELO mx.example", 0, SMTP_VERB_HELO, "mx.example" },
        { "EHLO mx.example", 0, SMTP_VERB_EHLO, "mx.example" },
        { "MAIL FROM:<a@b.example>", 0, SMTP_VERB_MAIL, "FROM:<a@b.example>" },
        { "RCPT TO:<a@b.example> NOTIFY=NEVER", 0, SMTP_VERB_RCPT,
          "TO:<a@b.example> NOTIFY=NEVER" },
        { "DATA", 0, SMTP_VERB_DATA, "" },
        { "BDAT 1000 LAST", 0, SMTP_VERB_BDAT, "1000 LAST" },
        { "RSET", 0, SMTP_VERB_RSET, "" },
        { "NOOP", 0, SMTP_VERB_NOOP, "" },
        { "QUIT", 0, SMTP_VERB_QUIT, "" },
        { "VRFY user", 0, SMTP_VERB_VRFY, "user" },
        { "EXPN list", 0, SMTP_VERB_EXPN, "list" },
        { "HELP", 0, SMTP_VERB_HELP, "" },
        { "STARTTLS", 0, SMTP_VERB_STARTTLS, "" },
        { "AUTH PLAIN xyz", 0, SMTP_VERB_AUTH, "PLAIN xyz" },
        { "ETRN example.com", 0, SMTP_VERB_ETRN, "example.com" },
    };
    (void)state;
    check_cmds(cases, N_ELEMENTS(cases));
}

static void verbs_are_case_insensitive(void **state)
{
    static const struct cmd_case cases[] = {
        { "quit", 0, SMTP_VERB_QUIT, "" },
        { "MaIl FROM:<a@b>", 0, SMTP_VERB_MAIL, "FROM:<a@b>" },
        { "starttls", 0, SMTP_VERB_STARTTLS, "" },
        { "ehlo x", 0, SMTP_VERB_EHLO, "x" },
    };
    (void)state;
    check_cmds(cases, N_ELEMENTS(cases));
}

static void verb_must_be_followed_by_space_or_end(void **state)
{
    static const struct cmd_case cases[] = {
        { "MAILFROM:<a@b>", -1, SMTP_VERB_UNKNOWN, "" },
        { "QUITX", -1, SMTP_VERB_UNKNOWN, "" },
        { "STARTTLSX", -1, SMTP_VERB_UNKNOWN, "" },
        { "QUIT\tnow", -1, SMTP_VERB_UNKNOWN, "" },
        { " QUIT", -1, SMTP_VERB_UNKNOWN, "" },
    };
    (void)state;
    check_cmds(cases, N_ELEMENTS(cases));
}

static void spaces_around_the_argument_are_stripped(void **state)
{
    static const struct cmd_case cases[] = {
        { "DATA   ", 0, SMTP_VERB_DATA, "" },
        { "MAIL   FROM:<a@b>   ", 0, SMTP_VERB_MAIL, "FROM:<a@b>" },
        { "AUTH PLAIN  a b ", 0, SMTP_VERB_AUTH, "PLAIN  a b" },
        { "HELO x\t", 0, SMTP_VERB_HELO, "x\t" },
    };
    (void)state;
    check_cmds(cases, N_ELEMENTS(cases));
}

static void unknown_or_empty_line_is_refused(void **state)
{
    static const struct cmd_case cases[] = {
        { "", -1, SMTP_VERB_UNKNOWN, "" },
        { "FOO bar", -1, SMTP_VERB_UNKNOWN, "" },
        { "HEL", -1, SMTP_VERB_UNKNOWN, "" },
        { "GET / HTTP/1.1", -1, SMTP_VERB_UNKNOWN, "" },
    };
    (void)state;
    check_cmds(cases, N_ELEMENTS(cases));
}

static void verb_names_round_trip_through_the_parser(void **state)
{
    int v;
    (void)state;
    for (v = SMTP_VERB_UNKNOWN + 1; v < SMTP_VERB_COUNT; v++) {
        const char *name = smtp_verb_name((enum smtp_verb)v);
        struct smtp_cmd cmd;
        assert_int_equal(smtp_cmd_parse(name, strlen(name), &cmd), 0);
        assert_int_equal(cmd.verb, v);
    }
    assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "UNKNOWN");
}

/* ---- paths -------------------------------------------------------------------------- */

struct path_case {
    const char *arg;
    bool rcpt;
    enum smtp_path_status st;
    const char *addr;    /* checked when st is OK */
    const char *local;
    const char *domain;
};

static void check_path(const char *arg, size_t len, const struct path_case *c,
                       struct smtp_path_args *out)
{
    enum smtp_path_status st = smtp_path_parse(arg, len, c->rcpt, out);
    if (st != c->st)
        fail_msg("\"%s\": status %d, want %d", c->arg, st, c->st);
    if (st != SMTP_PATH_OK)
        return;
    if (strcmp(out->path.addr, c->addr) != 0 || strcmp(out->path.local, c->local) != 0
        || strcmp(out->path.domain, c->domain) != 0)
        fail_msg("\"%s\": got addr \"%s\" local \"%s\" domain \"%s\"", c->arg,
                 out->path.addr, out->path.local, out->path.domain);
}

static void check_paths(const struct path_case *cases, size_t n)
{
    struct smtp_path_args out;
    size_t i;
    for (i = 0; i < n; i++)
        check_path(cases[i].arg, strlen(cases[i].arg), &cases[i], &out);
}

#define OK_(arg, rcpt, addr, local, domain) { arg, rcpt, SMTP_PATH_OK, addr, local, domain }
#define BAD(arg, rcpt, st) { arg, rcpt, st, NULL, NULL, NULL }

static void simple_path_is_parsed(void **state)
{
    static const struct path_case cases[] = {
        OK_("FROM:<user@example.com>", false, "user@example.com", "user", "example.com"),
        OK_("TO:<first.last+tag@mail.example.org>", true,
            "first.last+tag@mail.example.org", "first.last+tag", "mail.example.org"),
        OK_("from:<a@b>", false, "a@b", "a", "b"),
        OK_("To:<!#$%&'*+-/=?^_`{|}~@x-1.example>", true,
            "!#$%&'*+-/=?^_`{|}~@x-1.example", "!#$%&'*+-/=?^_`{|}~", "x-1.example"),
        OK_("TO:<a@1.2.3.4>", true, "a@1.2.3.4", "a", "1.2.3.4"),
    };
    (void)state;
    check_paths(cases, N_ELEMENTS(cases));
}

static void domain_is_lowercased_and_local_part_kept(void **state)
{
    static const struct path_case cases[] = {
        OK_("FROM:<John.Doe@Example.COM>", false, "John.Doe@example.com", "John.Doe",
            "example.com"),
        OK_("FROM:<u@B\xc3\x9c" "CHER.Example>", false, "u@b\xc3\x9c" "cher.example", "u",
            "b\xc3\x9c" "cher.example"),
    };
    (void)state;
    check_paths(cases, N_ELEMENTS(cases));
}

static void quoted_local_part_is_canonicalised(void **state)
{
    static const struct path_case cases[] = {
        OK_("FROM:<\"john doe\"@example.com>", false, "\"john doe\"@example.com", "john doe",
            "example.com"),
        OK_("TO:<\"john\"@x>", true, "john@x", "john", "x"),
        OK_("TO:<\"john.doe\"@x>", true, "john.doe@x", "john.doe", "x"),
        OK_("TO:<\"a\\bc\"@x>", true, "abc@x", "abc", "x"),
        OK_("TO:<\"a\\\"b\\\\c\"@x>", true, "\"a\\\"b\\\\c\"@x", "a\"b\\c", "x"),
        OK_("TO:<\"a..b\"@x>", true, "\"a..b\"@x", "a..b", "x"),
        OK_("TO:<\".a\"@x>", true, "\".a\"@x", ".a", "x"),
        OK_("TO:<\"\"@x>", true, "\"\"@x", "", "x"),
        OK_("TO:<\"a@b\"@x>", true, "\"a@b\"@x", "a@b", "x"),
        OK_("TO:<\"<>\"@x>", true, "\"<>\"@x", "<>", "x"),
        BAD("TO:<\"john@x>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<\"john\"x@x>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<\"a\\", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<john\"@x>", true, SMTP_PATH_BAD_SYNTAX),
    };
    (void)state;
    check_paths(cases, N_ELEMENTS(cases));
}

static void source_route_is_accepted_and_dropped(void **state)
{
    static const struct path_case cases[] = {
        OK_("TO:<@a.example,@b.example:user@c.example>", true, "user@c.example", "user",
            "c.example"),
        OK_("FROM:<@a.example:user@c.example>", false, "user@c.example", "user",
            "c.example"),
        BAD("TO:<@a.example,b.example:u@c>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<@a.example u@c>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<@:u@c>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<@a.example:>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<@a.example>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<@[1.2.3.4]:u@c>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<@a.example:postmaster>", true, SMTP_PATH_BAD_SYNTAX),
    };
    (void)state;
    check_paths(cases, N_ELEMENTS(cases));
}

static void bare_postmaster_is_accepted_for_rcpt_only(void **state)
{
    static const struct path_case cases[] = {
        OK_("TO:<postmaster>", true, "postmaster", "postmaster", ""),
        OK_("TO:<PostMaster>", true, "PostMaster", "PostMaster", ""),
        OK_("TO:<Postmaster@Example.com>", true, "Postmaster@example.com", "Postmaster",
            "example.com"),
        BAD("FROM:<postmaster>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<postmasterx>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<postmaster>x", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<postmaster", true, SMTP_PATH_BAD_SYNTAX),
    };
    (void)state;
    check_paths(cases, N_ELEMENTS(cases));
}

static void null_path_is_allowed_for_mail_and_refused_for_rcpt(void **state)
{
    static const struct path_case cases[] = {
        OK_("FROM:<>", false, "", "", ""),
        OK_("FROM:<> SIZE=100", false, "", "", ""),
        BAD("TO:<>", true, SMTP_PATH_NULL_NOT_ALLOWED),
        BAD("FROM:<>x", false, SMTP_PATH_BAD_SYNTAX),
    };
    struct smtp_path_args out;
    (void)state;
    check_paths(cases, N_ELEMENTS(cases));
    assert_int_equal(smtp_path_parse(STR_AND_LEN("FROM:<>"), false, &out), SMTP_PATH_OK);
    assert_true(out.path.null_path);
    assert_int_equal(smtp_path_parse(STR_AND_LEN("FROM:<a@b>"), false, &out), SMTP_PATH_OK);
    assert_false(out.path.null_path);
}

static void address_literals_are_validated(void **state)
{
    static const struct path_case cases[] = {
        OK_("TO:<u@[192.0.2.1]>", true, "u@[192.0.2.1]", "u", "[192.0.2.1]"),
        OK_("TO:<u@[IPv6:2001:DB8::1]>", true, "u@[IPv6:2001:db8::1]", "u",
            "[IPv6:2001:db8::1]"),
        OK_("TO:<u@[ipv6:::1]>", true, "u@[IPv6:::1]", "u", "[IPv6:::1]"),
        OK_("TO:<u@[IPv6:::ffff:192.0.2.1]>", true, "u@[IPv6:::ffff:192.0.2.1]", "u",
            "[IPv6:::ffff:192.0.2.1]"),
        OK_("TO:<u@[x-tag:Some-Thing]>", true, "u@[x-tag:Some-Thing]", "u",
            "[x-tag:Some-Thing]"),
        BAD("TO:<u@[192.0.2.256]>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<u@[192.0.2]>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<u@[1.2.3.4.5]>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<u@[192.0.2.01]>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<u@[]>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<u@[IPv6:2001:db8::g]>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<u@[IPv6:1.2.3.4]>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<u@[IPv6:1:2:3:4:5:6:7:8:9]>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<u@[IPv6:]>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<u@[IPv6:::1%eth0]>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<u@[192.0.2.1>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<u@[192.0.2.1]x>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<u@[tag-:x]>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<u@[tag:]>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<u@[ta g:x]>", true, SMTP_PATH_BAD_SYNTAX),
        BAD("TO:<u@[tag:a\\b]>", true, SMTP_PATH_BAD_SYNTAX),
    };
    struct smtp_path_args out;
    (void)state;
    check_paths(cases, N_ELEMENTS(cases));
    assert_int_equal(smtp_path_parse(STR_AND_LEN("TO:<u@[192.0.2.1]>"), true, &out),
                     SMTP_PATH_OK);
    assert_true(out.path.literal);
    assert_int_equal(smtp_path_parse(STR_AND_LEN("TO:<u@example.com>"), true, &out),
                     SMTP_PATH_OK);
    assert_false(out.path.literal);
}

static void angle_brackets_are_required(void **state)
{
    static const struct path_case cases[] = {
        BAD("FROM:user@example.com", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<user@example.com", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:user@example.com>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<<a@b>>", false, SMTP_PATH_BAD_SYNTAX),
    };
    (void)state;
    check_paths(cases, N_ELEMENTS(cases));
}

static void prefix_is_checked_and_spaces_after_colon_tolerated(void **state)
{
    static const struct path_case cases[] = {
        OK_("FROM: <a@b>", false, "a@b", "a", "b"),
        OK_("TO:    <a@b>", true, "a@b", "a", "b"),
        BAD("FROM :<a@b>", false, SMTP_PATH_BAD_PREFIX),
        BAD("FRM:<a@b>", false, SMTP_PATH_BAD_PREFIX),
        BAD("FROM:<a@b>", true, SMTP_PATH_BAD_PREFIX),
        BAD("TO:<a@b>", false, SMTP_PATH_BAD_PREFIX),
        BAD("", false, SMTP_PATH_BAD_PREFIX),
        BAD("FRO", false, SMTP_PATH_BAD_PREFIX),
    };
    (void)state;
    check_paths(cases, N_ELEMENTS(cases));
}

static void esmtp_params_are_split_into_keys_and_values(void **state)
{
    static const char arg[] = "FROM:<a@b>  SIZE=123 BODY=8BITMIME   SMTPUTF8 ";
    struct smtp_path_args out;
    const struct smtp_param *p;
    unsigned long long size;
    (void)state;
    assert_int_equal(smtp_path_parse(STR_AND_LEN(arg), false, &out), SMTP_PATH_OK);
    assert_int_equal(out.nparams, 3);
    p = smtp_param_find(&out, "size");
    assert_non_null(p);
    assert_int_equal(p->key_len, 4);
    assert_memory_equal(p->value, "123", 3);
    assert_int_equal(p->value_len, 3);
    assert_int_equal(smtp_param_size(p, &size), 0);
    assert_int_equal(size, 123);
    p = smtp_param_find(&out, "BODY");
    assert_non_null(p);
    assert_int_equal(p->value_len, 8);
    assert_memory_equal(p->value, "8BITMIME", 8);
    p = smtp_param_find(&out, "SmtpUtf8");
    assert_non_null(p);
    assert_null(p->value);
    assert_int_equal(p->value_len, 0);
    assert_null(smtp_param_find(&out, "SIZ"));
    assert_null(smtp_param_find(&out, "RET"));
}

static void malformed_params_are_refused(void **state)
{
    static const struct path_case cases[] = {
        OK_("FROM:<a@b> X-1=a!b", false, "a@b", "a", "b"),
        OK_("FROM:<a@b> ENVID=\xc3\xa9t\xc3\xa9", false, "a@b", "a", "b"),
        BAD("FROM:<a@b> SIZE=", false, SMTP_PATH_BAD_PARAM),
        BAD("FROM:<a@b> =1", false, SMTP_PATH_BAD_PARAM),
        BAD("FROM:<a@b> -X", false, SMTP_PATH_BAD_PARAM),
        BAD("FROM:<a@b> SIZE=1=2", false, SMTP_PATH_BAD_PARAM),
        BAD("FROM:<a@b> SIZE==1", false, SMTP_PATH_BAD_PARAM),
        BAD("FROM:<a@b> A_B", false, SMTP_PATH_BAD_PARAM),
        BAD("FROM:<a@b> A:B", false, SMTP_PATH_BAD_PARAM),
        BAD("FROM:<a@b> ENVID=\xff", false, SMTP_PATH_BAD_PARAM),
        BAD("FROM:<a@b> ENVID=\xc3", false, SMTP_PATH_BAD_PARAM),
        BAD("FROM:<a@b> \xc3\xa9=1", false, SMTP_PATH_BAD_PARAM),
    };
    (void)state;
    check_paths(cases, N_ELEMENTS(cases));
}

static void at_most_sixteen_params_are_accepted(void **state)
{
    char arg[256] = "FROM:<a@b>";
    struct smtp_path_args out;
    int i;
    (void)state;
    for (i = 0; i < SMTP_PARAMS_MAX; i++)
        snprintf(arg + strlen(arg), sizeof arg - strlen(arg), " P%d=%d", i, i);
    assert_int_equal(smtp_path_parse(arg, strlen(arg), false, &out), SMTP_PATH_OK);
    assert_int_equal(out.nparams, SMTP_PARAMS_MAX);
    strcat(arg, " ONE-MORE");
    assert_int_equal(smtp_path_parse(arg, strlen(arg), false, &out), SMTP_PATH_BAD_PARAM);
}

/* Build "TO:<" local "@" domain ">" with the given lengths of 'a' (domain in labels). */
static size_t long_path(char *buf, size_t local_len, size_t domain_len)
{
    size_t n = 0, i;
    memcpy(buf, "TO:<", 4);
    n = 4;
    memset(buf + n, 'a', local_len);
    n += local_len;
    buf[n++] = '@';
    for (i = 0; i < domain_len; i++)
        buf[n++] = i % 10 == 9 && i + 1 < domain_len ? '.' : 'b';
    buf[n++] = '>';
    return n;
}

static void local_part_over_64_and_domain_over_255_are_too_long(void **state)
{
    static const struct {
        size_t local, domain;
        enum smtp_path_status st;
    } cases[] = {
        { 64, 10, SMTP_PATH_OK },       { 65, 10, SMTP_PATH_TOO_LONG },
        { 10, 255, SMTP_PATH_OK },      { 10, 256, SMTP_PATH_TOO_LONG },
        { 64, 255, SMTP_PATH_OK },      { 1000, 10, SMTP_PATH_TOO_LONG },
        { 10, 2000, SMTP_PATH_TOO_LONG },
    };
    char arg[4096];
    struct smtp_path_args out;
    size_t i;
    (void)state;
    for (i = 0; i < N_ELEMENTS(cases); i++) {
        size_t n = long_path(arg, cases[i].local, cases[i].domain);
        enum smtp_path_status st = smtp_path_parse(arg, n, true, &out);
        if (st != cases[i].st)
            fail_msg("local %zu domain %zu: status %d", cases[i].local, cases[i].domain, st);
        if (st == SMTP_PATH_OK)
            assert_int_equal(strlen(out.path.addr), cases[i].local + 1 + cases[i].domain);
    }
}

static void source_route_domain_over_255_is_too_long(void **state)
{
    char arg[512] = "TO:<@";
    size_t n = strlen(arg), i;
    struct smtp_path_args out;
    (void)state;
    for (i = 0; i < SMTP_DOMAIN_MAX + 2; i++)   /* "r.r. ... r", 257 bytes */
        arg[n++] = i % 2 ? '.' : 'r';
    memcpy(arg + n, ":u@example.com>", 15);
    n += 15;
    assert_int_equal(smtp_path_parse(arg, n, true, &out), SMTP_PATH_TOO_LONG);
}

static void longest_quoted_address_fits_the_canonical_buffer(void **state)
{
    char arg[4096];
    size_t n = 0, i;
    struct smtp_path_args out;
    (void)state;
    n += (size_t)sprintf(arg, "FROM:<\"");
    for (i = 0; i < SMTP_LOCAL_MAX; i++)
        n += (size_t)sprintf(arg + n, "\\\"");
    n += (size_t)sprintf(arg + n, "\"@");
    for (i = 0; i < SMTP_DOMAIN_MAX; i++)
        arg[n++] = i % 2 ? '.' : 'c';
    arg[n++] = '>';
    assert_int_equal(smtp_path_parse(arg, n, false, &out), SMTP_PATH_OK);
    assert_int_equal(strlen(out.path.local), SMTP_LOCAL_MAX);
    assert_int_equal(strlen(out.path.addr), SMTP_LOCAL_MAX * 2 + 2 + 1 + SMTP_DOMAIN_MAX);
    assert_int_equal(strlen(out.path.addr) + 1, SMTP_ADDR_MAX);
}

static void utf8_sets_the_flag_and_malformed_utf8_is_refused(void **state)
{
    static const struct path_case cases[] = {
        OK_("FROM:<j\xc3\xb6ran@example.com>", false, "j\xc3\xb6ran@example.com",
            "j\xc3\xb6ran", "example.com"),
        OK_("FROM:<\"j\xc3\xb6 ran\"@example.com>", false, "\"j\xc3\xb6 ran\"@example.com",
            "j\xc3\xb6 ran", "example.com"),
        OK_("TO:<u@\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88>", true,
            "u@\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88", "u",
            "\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88"),
        OK_("TO:<\xf0\x9f\x93\xa7@x>", true, "\xf0\x9f\x93\xa7@x", "\xf0\x9f\x93\xa7", "x"),
        BAD("FROM:<j\xc3(ran@example.com>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<\xc0\xaf@example.com>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<\xe0\x80\xaf@example.com>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<\xed\xa0\x80@example.com>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<\xf4\x90\x80\x80@example.com>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<\xf5\x80\x80\x80@example.com>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<\x80@example.com>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<u@example.\xe2\x82>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<\"\\\xc3\xa9\"@x>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<\"\xc3(\"@x>", false, SMTP_PATH_BAD_SYNTAX),
    };
    struct smtp_path_args out;
    (void)state;
    check_paths(cases, N_ELEMENTS(cases));
    assert_int_equal(smtp_path_parse(STR_AND_LEN("FROM:<j\xc3\xb6ran@example.com>"), false,
                                     &out), SMTP_PATH_OK);
    assert_true(out.path.utf8);
    assert_int_equal(smtp_path_parse(STR_AND_LEN("FROM:<u@b\xc3\xbc" "cher.de>"), false,
                                     &out), SMTP_PATH_OK);
    assert_true(out.path.utf8);
    assert_int_equal(smtp_path_parse(STR_AND_LEN("FROM:<u@x> ENVID=\xc3\xa9"), false, &out),
                     SMTP_PATH_OK);
    assert_false(out.path.utf8);
}

static void control_characters_are_refused_anywhere(void **state)
{
    static const struct path_case cases[] = {
        BAD("FROM:<a\x01" "b@x>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<\"a\tb\"@x>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<\"a\\\tb\"@x>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a@x\x7f>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a@x>\tSIZE=1", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a@x> SIZE=1\r", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:\x1b<a@x>", false, SMTP_PATH_BAD_SYNTAX),
    };
    struct smtp_path_args out;
    (void)state;
    check_paths(cases, N_ELEMENTS(cases));
    assert_int_equal(smtp_path_parse(STR_AND_LEN("FROM:<a\0b@x>"), false, &out),
                     SMTP_PATH_BAD_SYNTAX);
}

static void malformed_mailboxes_are_refused(void **state)
{
    static const struct path_case cases[] = {
        BAD("FROM:<a@b>x", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a@b>>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a@b>SIZE=1", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<@b>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a@>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a@b@c>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a b@c>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<.a@b>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a.@b>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a..b@c>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a@-b.com>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a@b-.com>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a@b..com>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a@.b>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a@b.>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a@b_c.com>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a(b)@c>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a@b c>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:< a@b>", false, SMTP_PATH_BAD_SYNTAX),
        BAD("FROM:<a@b >", false, SMTP_PATH_BAD_SYNTAX),
    };
    (void)state;
    check_paths(cases, N_ELEMENTS(cases));
}

static void params_point_into_the_argument(void **state)
{
    static const char arg[] = "TO:<a@b> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b";
    struct smtp_path_args out;
    (void)state;
    assert_int_equal(smtp_path_parse(STR_AND_LEN(arg), true, &out), SMTP_PATH_OK);
    assert_int_equal(out.nparams, 2);
    assert_ptr_equal(out.params[0].key, arg + 9);
    assert_ptr_equal(out.params[1].value, arg + 38);
    assert_int_equal(out.params[1].value_len, 10);
}

/* ---- SIZE and HELO ------------------------------------------------------------------ */

static void size_values_are_digits_only_and_saturate(void **state)
{
    static const struct {
        const char *value;
        int ret;
        unsigned long long size;
    } cases[] = {
        { "0", 0, 0 },
        { "123", 0, 123 },
        { "0000123", 0, 123 },
        { "18446744073709551615", 0, ULLONG_MAX },
        { "18446744073709551616", 0, ULLONG_MAX },
        { "99999999999999999999", 0, ULLONG_MAX },
        { "100000000000000000000", -1, 0 },
        { "", -1, 0 },
        { "12a", -1, 0 },
        { "-1", -1, 0 },
        { "+1", -1, 0 },
        { " 1", -1, 0 },
    };
    struct smtp_param p = { "SIZE", 4, NULL, 0 };
    unsigned long long size;
    size_t i;
    (void)state;
    assert_int_equal(smtp_param_size(&p, &size), -1);
    assert_int_equal(smtp_param_size(NULL, &size), -1);
    for (i = 0; i < N_ELEMENTS(cases); i++) {
        int ret;
        size = 42;
        p.value = cases[i].value;
        p.value_len = strlen(cases[i].value);
        ret = smtp_param_size(&p, &size);
        if (ret != cases[i].ret || (ret == 0 && size != cases[i].size))
            fail_msg("\"%s\": got %d %llu", cases[i].value, ret, size);
    }
}

static void helo_argument_must_be_a_domain_or_literal(void **state)
{
    static const struct {
        const char *arg;
        bool ok;
    } cases[] = {
        { "mx.example.com", true },     { "mx.example.com.", true },
        { "localhost", true },          { "MX-1.Example.COM", true },
        { "[192.0.2.1]", true },        { "[IPv6:::1]", true },
        { "[IPv6:2001:db8::1]", true }, { "", false },
        { ".", false },                 { "a..b", false },
        { "-a", false },                { "a-", false },
        { "a_b.example", false },       { "mx.example.com..", false },
        { "[192.0.2.1", false },        { "[192.0.2.1]x", false },
        { "[999.1.1.1]", false },       { "b\xc3\xbc" "cher.de", false },
        { "a b", false },               { "mx.example.com\t", false },
        { "[IPv6:::1]]", false },
    };
    char big[300];
    size_t i;
    (void)state;
    for (i = 0; i < N_ELEMENTS(cases); i++)
        if (smtp_helo_valid(cases[i].arg, strlen(cases[i].arg)) != cases[i].ok)
            fail_msg("\"%s\": want %d", cases[i].arg, cases[i].ok);
    assert_false(smtp_helo_valid(STR_AND_LEN("[192.0.2.1\0]")));
    memset(big, 'a', sizeof big);
    for (i = 9; i < sizeof big; i += 10)
        big[i] = '.';
    assert_true(smtp_helo_valid(big, SMTP_DOMAIN_MAX));
    assert_false(smtp_helo_valid(big, SMTP_DOMAIN_MAX + 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crlf_lines_are_returned_without_crlf),
        cmocka_unit_test(pipelined_lines_in_one_buffer_come_out_one_by_one),
        cmocka_unit_test(bare_lf_ends_the_line_with_bare_lf_status),
        cmocka_unit_test(bare_cr_is_reported_when_the_line_ends),
        cmocka_unit_test(cr_at_buffer_end_needs_more_input),
        cmocka_unit_test(nul_inside_a_line_is_reported),
        cmocka_unit_test(bad_line_reports_its_length_and_bytes),
        cmocka_unit_test(line_of_exactly_max_bytes_is_ok),
        cmocka_unit_test(line_of_max_plus_one_bytes_is_too_long),
        cmocka_unit_test(too_long_line_over_many_calls_is_discarded_with_bounded_memory),
        cmocka_unit_test(discarding_consumes_everything_it_sees),
        cmocka_unit_test(every_verb_is_recognised_with_its_argument),
        cmocka_unit_test(verbs_are_case_insensitive),
        cmocka_unit_test(verb_must_be_followed_by_space_or_end),
        cmocka_unit_test(spaces_around_the_argument_are_stripped),
        cmocka_unit_test(unknown_or_empty_line_is_refused),
        cmocka_unit_test(verb_names_round_trip_through_the_parser),
        cmocka_unit_test(simple_path_is_parsed),
        cmocka_unit_test(domain_is_lowercased_and_local_part_kept),
        cmocka_unit_test(quoted_local_part_is_canonicalised),
        cmocka_unit_test(source_route_is_accepted_and_dropped),
        cmocka_unit_test(bare_postmaster_is_accepted_for_rcpt_only),
        cmocka_unit_test(null_path_is_allowed_for_mail_and_refused_for_rcpt),
        cmocka_unit_test(address_literals_are_validated),
        cmocka_unit_test(angle_brackets_are_required),
        cmocka_unit_test(prefix_is_checked_and_spaces_after_colon_tolerated),
        cmocka_unit_test(esmtp_params_are_split_into_keys_and_values),
        cmocka_unit_test(malformed_params_are_refused),
        cmocka_unit_test(at_most_sixteen_params_are_accepted),
        cmocka_unit_test(local_part_over_64_and_domain_over_255_are_too_long),
        cmocka_unit_test(source_route_domain_over_255_is_too_long),
        cmocka_unit_test(longest_quoted_address_fits_the_canonical_buffer),
        cmocka_unit_test(utf8_sets_the_flag_and_malformed_utf8_is_refused),
        cmocka_unit_test(control_characters_are_refused_anywhere),
        cmocka_unit_test(malformed_mailboxes_are_refused),
        cmocka_unit_test(params_point_into_the_argument),
        cmocka_unit_test(size_values_are_digits_only_and_saturate),
        cmocka_unit_test(helo_argument_must_be_a_domain_or_literal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
