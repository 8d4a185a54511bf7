/*
 * test_spool.c - unit tests for the envelope that relay/spool/spool.c writes: a value can never
 * break its line (control characters become '?'), and the smtputf8 line says 1 only when
 * the message needs SMTPUTF8 (patched at commit when the header turned out to). Each test
 * commits one message into a spool in a temporary directory, with a real sync pool on a
 * libevent loop, and reads the queue file back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <event2/event.h>

#include "lib/workpool.h"
#include "relay/spool/spool.h"

struct committed {
    struct event_base *base;
    int err;
    char qid[QID_MAX];
};

static void on_commit(void *arg, int err, const char *qid)
{
    struct committed *c = arg;
    c->err = err;
    snprintf(c->qid, sizeof(c->qid), "%s", qid);
    event_base_loopbreak(c->base);
}

/* Commit one message with env (and the header's UTF-8 finding); returns the queue file's
 * text (malloc'd). */
static char *commit_one(const struct spool_envelope *env, bool header_utf8)
{
    char dir[] = "/tmp/test_spool.XXXXXX", path[256], cmd[300];
    struct committed c = { 0 };
    struct workpool *wp;
    struct spool *sp;
    struct spool_file *f;
    char *text = calloc(1, 4096);
    FILE *in;

    assert_non_null(mkdtemp(dir));
    c.base = event_base_new();
    wp = workpool_new(c.base, 1);
    sp = spool_open(dir, wp);
    assert_non_null(sp);
    f = spool_file_new(sp);
    assert_non_null(f);
    assert_int_equal(spool_file_write_envelope(f, env), 0);
    assert_int_equal(spool_file_write(f, "Subject: x\r\n\r\nbody\r\n", 20), 0);
    if (header_utf8)
        spool_file_smtputf8_needed(f);
    spool_file_commit(f, on_commit, &c);
    event_base_dispatch(c.base);
    assert_int_equal(c.err, 0);
    snprintf(path, sizeof(path), "%s/queue/%s", dir, c.qid);
    in = fopen(path, "r");
    assert_non_null(in);
    assert_true(fread(text, 1, 4095, in) > 0);
    fclose(in);
    workpool_free(wp);
    spool_close(sp);
    event_base_free(c.base);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    return text;
}

static struct spool_envelope envelope(void)
{
    static const char *const rcpts[] = { "b@example.test" };
    struct spool_envelope env = {
        .arrival = 1.5, .client_ip = "127.0.0.1", .client_name = "unknown",
        .helo = "client.example", .listener = "mx", .proto = "ESMTP",
        .sender = "a@example.org", .rcpts = rcpts, .nrcpt = 1,
    };
    return env;
}

static void control_characters_never_break_an_envelope_line(void **state)
{
    struct spool_envelope env = envelope();
    char *text;
    (void)state;

    env.auth_login = "eve\r\nrcpt evil@example.org\nX-Injected: yes";
    env.helo = "helo\tname\x7f";
    text = commit_one(&env, false);
    assert_non_null(strstr(text, "\nauth eve??rcpt evil@example.org?X-Injected: yes\n"));
    assert_non_null(strstr(text, "\nhelo helo?name?\n"));
    assert_null(strstr(text, "\nrcpt evil"));
    assert_null(strstr(text, "\nX-Injected"));
    free(text);
}

static void smtputf8_line_says_whether_the_message_needs_it(void **state)
{
    struct spool_envelope env = envelope();
    char *text;
    (void)state;

    text = commit_one(&env, false);                 /* not asked */
    assert_null(strstr(text, "smtputf8"));
    free(text);

    env.smtputf8_asked = true;                       /* asked, all ASCII */
    text = commit_one(&env, false);
    assert_non_null(strstr(text, "\nsmtputf8 0\n"));
    free(text);

    text = commit_one(&env, true);                   /* asked, UTF-8 in the header */
    assert_non_null(strstr(text, "\nsmtputf8 1\n"));
    free(text);

    env.smtputf8_asked = false;                      /* UTF-8 in the envelope */
    env.smtputf8 = true;
    text = commit_one(&env, false);
    assert_non_null(strstr(text, "\nsmtputf8 1\n"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(control_characters_never_break_an_envelope_line),
        cmocka_unit_test(smtputf8_line_says_whether_the_message_needs_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
