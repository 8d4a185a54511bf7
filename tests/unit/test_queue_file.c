/*
 * test_queue_file.c - unit tests of relay/queue/queue_file.c: the envelope parser (complete,
 * incomplete, not a queue file, missing fields, unknown keys), the status records (each
 * kind, order, a record cut by a crash, malformed lines, indexes out of range, a late
 * "deferred" that must not reopen a final recipient), the record writers (sanitising,
 * round trip), and the blocking I/O: load with records, append after a cut record,
 * remove.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay/queue/queue_file.h"
#include "relay/spool/spool.h"

#define ENVELOPE \
    "POSTERN-QUEUE 1\n" \
    "size 0000000000000021\n" \
    "id 5BN6Xh6QXkzm0xr\n" \
    "time 1795448355.854939\n" \
    "client 127.0.0.1\n" \
    "client_name unknown\n" \
    "helo client.example\n" \
    "listener mx\n" \
    "profile inbound\n" \
    "proto ESMTP\n" \
    "body 8BITMIME\n" \
    "future_key some value\n" \
    "from sender@example.org\n" \
    "rcpt a@example.test\n" \
    "rcpt b@example.test\n" \
    "rcpt c@remote.test\n" \
    "data\n"
#define MESSAGE "Subject: x\r\n\r\nhello\r\n"   /* 21 bytes */

static struct queue_file *parse(const char *text, enum qf_parse want)
{
    struct queue_file *qf = calloc(1, sizeof(*qf));
    size_t env_len = 0;
    const char *why;
    assert_int_equal(queue_file_parse_envelope(text, strlen(text), qf, &env_len, &why), want);
    if (want == QF_PARSE_OK && strncmp(text, ENVELOPE, strlen(ENVELOPE)) == 0)
        assert_int_equal(env_len, strlen(ENVELOPE));
    return qf;
}

static void envelope_is_parsed(void **state)
{
    struct queue_file *qf = parse(ENVELOPE MESSAGE, QF_PARSE_OK);
    (void)state;
    assert_string_equal(qf->qid, "5BN6Xh6QXkzm0xr");
    assert_true(qf->arrival > 1795448355.85 && qf->arrival < 1795448355.86);
    assert_string_equal(qf->sender, "sender@example.org");
    assert_string_equal(qf->client, "127.0.0.1");
    assert_string_equal(qf->helo, "client.example");
    assert_string_equal(qf->body, "8BITMIME");
    assert_string_equal(qf->listener, "mx");
    assert_string_equal(qf->profile, "inbound");
    assert_false(qf->smtputf8);
    assert_null(qf->auth);
    assert_int_equal(qf->nrcpt, 3);
    assert_string_equal(qf->rcpts[2].addr, "c@remote.test");
    assert_int_equal(qf->rcpts[0].state, QF_PENDING);
    assert_int_equal(qf->msg_offset, strlen(ENVELOPE));
    assert_int_equal(qf->msg_size, strlen(MESSAGE));
    assert_int_equal(queue_file_pending(qf), 3);
    queue_file_free(qf);
}

static void null_sender_is_empty(void **state)
{
    struct queue_file *qf = parse("POSTERN-QUEUE 1\nsize 0000000000000000\nid X1\nfrom \n"
                                  "rcpt a@b\ndata\n", QF_PARSE_OK);
    (void)state;
    assert_string_equal(qf->sender, "");
    assert_null(qf->profile); /* older files and DSNs: no profile line */
    queue_file_free(qf);
}

static void incomplete_envelope_wants_more(void **state)
{
    size_t cut[] = { 5, 16, 40, strlen(ENVELOPE) - 3 };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        struct queue_file *qf = calloc(1, sizeof(*qf));
        size_t env_len;
        const char *why;
        assert_int_equal(queue_file_parse_envelope(ENVELOPE, cut[i], qf, &env_len, &why),
                         QF_PARSE_MORE);
        queue_file_free(qf);
    }
}

static void other_files_are_refused(void **state)
{
    const char *bad[] = {
        "POSTERN-QUEUE 2\nsize 0\ndata\n",                          /* version */
        "From someone\n",                                            /* not ours */
        "POSTERN-QUEUE 1\nsize 12x\nid A\nfrom a@b\nrcpt c@d\ndata\n", /* size */
        "POSTERN-QUEUE 1\nid A\nfrom a@b\nrcpt c@d\ndata\n",          /* no size */
        "POSTERN-QUEUE 1\nsize 1\nid A\nfrom a@b\ndata\n",            /* no recipient */
        "POSTERN-QUEUE 1\nsize 1\nid A\nrcpt c@d\ndata\n",            /* no sender */
        "POSTERN-QUEUE 1\nsize 1\nnovalue\ndata\n",                   /* bad line */
        /* a size that would wrap offset + size (found by fuzz_queue_file) */
        "POSTERN-QUEUE 1\nsize 18446744073709551615\nid A\nfrom a@b\nrcpt c@d\ndata\n",
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct queue_file *qf = calloc(1, sizeof(*qf));
        size_t env_len;
        const char *why = NULL;
        assert_int_equal(queue_file_parse_envelope(bad[i], strlen(bad[i]), qf, &env_len, &why),
                         QF_PARSE_BAD);
        assert_non_null(why);
        queue_file_free(qf);
    }
}

static void records_set_recipient_states(void **state)
{
    struct queue_file *qf = parse(ENVELOPE MESSAGE, QF_PARSE_OK);
    static const char recs[] =
        "deferred 0 1795448400 4.4.1 mx.test[192.0.2.1]:25 connect to mx.test: refused\n"
        "done 1 1795448401 2.0.0 mx.test[192.0.2.1]:25 250 2.0.0 Ok: queued as X\n"
        "bounced 2 1795448402 5.1.1 mx.remote[192.0.2.9]:25 host said: 550 5.1.1 no\n"
        "try 1 1795448700\n";
    (void)state;
    queue_file_apply_records(qf, recs, strlen(recs));
    assert_int_equal(qf->rcpts[0].state, QF_PENDING);
    assert_true(qf->rcpts[0].deferred);
    assert_string_equal(qf->rcpts[0].dsn, "4.4.1");
    assert_string_equal(qf->rcpts[0].text, "connect to mx.test: refused");
    assert_int_equal(qf->rcpts[1].state, QF_DONE);
    assert_string_equal(qf->rcpts[1].relay, "mx.test[192.0.2.1]:25");
    assert_int_equal(qf->rcpts[1].time, 1795448401);
    assert_int_equal(qf->rcpts[2].state, QF_BOUNCED);
    assert_string_equal(qf->rcpts[2].dsn, "5.1.1");
    assert_int_equal(qf->tries, 1);
    assert_int_equal(qf->next_try, 1795448700);
    assert_int_equal(queue_file_pending(qf), 1);
    assert_int_equal(qf->bad_records, 0);
    queue_file_free(qf);
}

static void later_records_win_and_final_states_stay_final(void **state)
{
    struct queue_file *qf = parse(ENVELOPE MESSAGE, QF_PARSE_OK);
    static const char recs[] =
        "try 1 100\n"
        "done 0 10 2.0.0 r ok\n"
        "deferred 0 11 4.0.0 r late\n"   /* never reopens a delivered recipient */
        "try 2 200\n"
        "hold 12\n"
        "warned 13\n";
    (void)state;
    queue_file_apply_records(qf, recs, strlen(recs));
    assert_int_equal(qf->rcpts[0].state, QF_DONE);
    assert_string_equal(qf->rcpts[0].text, "ok");
    assert_int_equal(qf->tries, 2);
    assert_int_equal(qf->next_try, 200);
    assert_true(qf->held);
    assert_true(qf->warned);
    queue_file_apply_records(qf, "release 14\n", 11);
    assert_false(qf->held);
    queue_file_free(qf);
}

static void a_record_cut_by_a_crash_is_ignored(void **state)
{
    struct queue_file *qf = parse(ENVELOPE MESSAGE, QF_PARSE_OK);
    static const char recs[] = "done 0 10 2.0.0 r ok\ndone 1 11 2.0";
    (void)state;
    queue_file_apply_records(qf, recs, strlen(recs));
    assert_int_equal(qf->rcpts[0].state, QF_DONE);
    assert_int_equal(qf->rcpts[1].state, QF_PENDING);
    assert_int_equal(qf->bad_records, 0);
    queue_file_free(qf);
}

static void malformed_records_are_counted_and_skipped(void **state)
{
    struct queue_file *qf = parse(ENVELOPE MESSAGE, QF_PARSE_OK);
    static const char recs[] =
        "done 3 10 2.0.0 r out of range\n"
        "done x 10 2.0.0 r not a number\n"
        "done 0 10\n"
        "frobnicate 1 2\n"
        "try 1\n"
        "\n"
        "done 1 10 2.0.0 r fine\n"
        /* a cut record followed by a record the writer started on a new line */
        "done 2 1\n";
    (void)state;
    queue_file_apply_records(qf, recs, strlen(recs));
    assert_int_equal(qf->bad_records, 6);
    assert_int_equal(qf->rcpts[0].state, QF_PENDING);
    assert_int_equal(qf->rcpts[1].state, QF_DONE);
    queue_file_free(qf);
}

static void the_sender_auth_record_is_read_and_written(void **state)
{
    struct queue_file *qf = parse(ENVELOPE MESSAGE, QF_PARSE_OK);
    char *rec = spool_rec_sender_auth("spf+dkim");
    static const char bad[] = "sender_auth\nsender_auth far-too-long-to-be-a-method\n";
    (void)state;
    assert_string_equal(qf->sender_auth, "");
    assert_string_equal(rec, "sender_auth spf+dkim\n");
    queue_file_apply_records(qf, bad, strlen(bad));
    assert_int_equal(qf->bad_records, 2);
    assert_string_equal(qf->sender_auth, "");
    queue_file_apply_records(qf, rec, strlen(rec));
    assert_string_equal(qf->sender_auth, "spf+dkim");
    free(rec);
    rec = spool_rec_sender_auth("dk im\n");
    assert_string_equal(rec, "sender_auth dk?im?\n");
    free(rec);
    queue_file_free(qf);
}

static void verp_records_give_a_recipient_its_own_envelope_sender(void **state)
{
    struct queue_file *qf = parse(ENVELOPE MESSAGE, QF_PARSE_OK);
    char *rec = spool_rec_verp(1, "bounces+abc@bounce.test");
    static const char bad[] = "verp 9 x@y\nverp 0\nverp 0 a@b c\nverp x a@b\n";
    (void)state;
    assert_string_equal(rec, "verp 1 bounces+abc@bounce.test\n");
    queue_file_apply_records(qf, rec, strlen(rec));
    queue_file_apply_records(qf, bad, strlen(bad));
    assert_int_equal(qf->bad_records, 4);
    assert_string_equal(queue_file_rcpt_sender(qf, 1), "bounces+abc@bounce.test");
    assert_string_equal(queue_file_rcpt_sender(qf, 0), qf->sender);
    assert_null(spool_rec_verp(0, "a b@c"));
    assert_null(spool_rec_verp(0, ""));
    assert_null(spool_rec_verp(0, "a\r\n@c"));
    free(rec);
    queue_file_free(qf);
}

static void time_held_for_a_suspended_login_does_not_count_towards_the_age(void **state)
{
    struct queue_file *qf = parse(ENVELOPE MESSAGE, QF_PARSE_OK);
    const long long t0 = 1795448355;   /* the envelope's arrival (whole seconds) */
    char recs[200];

    (void)state;
    assert_false(qf->suspended);
    assert_int_equal(queue_file_age(qf, t0 + 100), 100);
    /* held from +100 to +600, then again from +700 (a second suspension) */
    snprintf(recs, sizeof(recs), "suspended %lld\nsuspended %lld\nunsuspended %lld\n"
             "unsuspended %lld\nsuspended %lld\n", t0 + 100, t0 + 300, t0 + 600, t0 + 650,
             t0 + 700);
    queue_file_apply_records(qf, recs, strlen(recs));
    assert_int_equal(qf->bad_records, 0);
    assert_true(qf->suspended);
    assert_int_equal(qf->suspended_since, t0 + 700);
    assert_int_equal(qf->suspended_s, 500);
    assert_int_equal(queue_file_age(qf, t0 + 1000), 200);   /* 100 + 100 not held */
    snprintf(recs, sizeof(recs), "unsuspended x\nsuspended\n");
    queue_file_apply_records(qf, recs, strlen(recs));
    assert_int_equal(qf->bad_records, 2);
    snprintf(recs, sizeof(recs), "unsuspended %lld\n", t0 + 900);
    queue_file_apply_records(qf, recs, strlen(recs));
    assert_false(qf->suspended);
    assert_int_equal(queue_file_age(qf, t0 + 1000), 300);
    queue_file_free(qf);
}

static void record_writers_round_trip_and_sanitise(void **state)
{
    struct queue_file *qf = parse(ENVELOPE MESSAGE, QF_PARSE_OK);
    char *a = queue_file_rec_rcpt("deferred", 2, 77, "4.4.2", "host with space[1.2.3.4]:25",
                                  "lost connection\r\nwhile sending \x01 data");
    char *b = queue_file_rec_rcpt("done", 0, 78, NULL, NULL, NULL);
    char *c = queue_file_rec_try(3, 999);
    char *d = queue_file_rec_mark("hold", 5);
    (void)state;
    assert_string_equal(a, "deferred 2 77 4.4.2 host?with?space[1.2.3.4]:25 "
                           "lost connection??while sending ? data\n");
    assert_string_equal(b, "done 0 78 4.0.0 none -\n");
    assert_string_equal(c, "try 3 999\n");
    assert_string_equal(d, "hold 5\n");
    queue_file_apply_records(qf, a, strlen(a));
    queue_file_apply_records(qf, c, strlen(c));
    queue_file_apply_records(qf, d, strlen(d));
    assert_string_equal(qf->rcpts[2].text, "lost connection??while sending ? data");
    assert_int_equal(qf->tries, 3);
    assert_true(qf->held);
    assert_int_equal(qf->bad_records, 0);
    free(a);
    free(b);
    free(c);
    free(d);
    queue_file_free(qf);
}

/* ---- I/O ---- */

static char dir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_queue_file.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int write_file(int dfd, const char *name, const char *text)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

static void load_append_remove(void **state)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY), fd = -1;
    struct queue_file *qf;
    struct stat st;
    char *rec;
    (void)state;

    assert_int_equal(write_file(dfd, "5BN6Xh6QXkzm0xr",
                                ENVELOPE MESSAGE "done 0 10 2.0.0 r ok\ntry 1 500\ndone 1 1"), 0);
    qf = queue_file_load(dfd, "5BN6Xh6QXkzm0xr", &fd);
    assert_non_null(qf);
    assert_true(fd >= 0);
    assert_int_equal(qf->rcpts[0].state, QF_DONE);
    assert_int_equal(qf->rcpts[1].state, QF_PENDING);
    assert_int_equal(qf->tries, 1);
    close(fd);
    queue_file_free(qf);

    /* the cut "done 1 1" gets its own line end first; the new record parses */
    rec = queue_file_rec_rcpt("bounced", 2, 20, "5.1.1", "r", "no such user");
    assert_int_equal(queue_file_append(dfd, "5BN6Xh6QXkzm0xr", rec, strlen(rec)), 0);
    free(rec);
    qf = queue_file_load(dfd, "5BN6Xh6QXkzm0xr", NULL);
    assert_non_null(qf);
    assert_int_equal(qf->rcpts[2].state, QF_BOUNCED);
    assert_int_equal(qf->rcpts[1].state, QF_PENDING);
    assert_int_equal(qf->bad_records, 1);  /* "done 1 1": too short */
    assert_int_equal(queue_file_pending(qf), 1);
    queue_file_free(qf);

    assert_int_equal(queue_file_remove(dfd, "5BN6Xh6QXkzm0xr"), 0);
    assert_int_equal(fstatat(dfd, "5BN6Xh6QXkzm0xr", &st, 0), -1);
    assert_int_equal(queue_file_remove(dfd, "5BN6Xh6QXkzm0xr"), 0); /* already gone: fine */
    assert_null(queue_file_load(dfd, "5BN6Xh6QXkzm0xr", NULL));
    close(dfd);
}

static void big_envelope_and_truncated_files(void **state)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    size_t n = 3000, i, len = 0;
    char *text = malloc(n * 40 + 256);
    struct queue_file *qf;
    (void)state;

    len += (size_t)sprintf(text, "POSTERN-QUEUE 1\nsize 0000000000000005\nid BIG\nfrom a@b\n");
    for (i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, "rcpt user%05zu@example.test\n", i);
    len += (size_t)sprintf(text + len, "data\nhello");
    assert_int_equal(write_file(dfd, "BIG", text), 0);
    qf = queue_file_load(dfd, "BIG", NULL);
    assert_non_null(qf);
    assert_int_equal(qf->nrcpt, n);
    assert_string_equal(qf->rcpts[n - 1].addr, "user02999@example.test");
    queue_file_free(qf);

    text[len - 2] = '\0'; /* the message is shorter than its size field */
    assert_int_equal(write_file(dfd, "BIG", text), 0);
    assert_null(queue_file_load(dfd, "BIG", NULL));
    assert_int_equal(write_file(dfd, "NOTQ", "hello world\n"), 0);
    assert_null(queue_file_load(dfd, "NOTQ", NULL));
    free(text);
    close(dfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(envelope_is_parsed),
        cmocka_unit_test(null_sender_is_empty),
        cmocka_unit_test(incomplete_envelope_wants_more),
        cmocka_unit_test(other_files_are_refused),
        cmocka_unit_test(records_set_recipient_states),
        cmocka_unit_test(later_records_win_and_final_states_stay_final),
        cmocka_unit_test(a_record_cut_by_a_crash_is_ignored),
        cmocka_unit_test(malformed_records_are_counted_and_skipped),
        cmocka_unit_test(the_sender_auth_record_is_read_and_written),
        cmocka_unit_test(verp_records_give_a_recipient_its_own_envelope_sender),
        cmocka_unit_test(time_held_for_a_suspended_login_does_not_count_towards_the_age),
        cmocka_unit_test(record_writers_round_trip_and_sanitise),
        cmocka_unit_test_setup_teardown(load_append_remove, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(big_envelope_and_truncated_files, setup_dir,
                                        teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
