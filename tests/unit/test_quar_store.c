/*
 * test_quar_store.c - unit tests of relay/quar/quar_store: an entry made from a queue file
 * (one recipient, its policy record, index fields read back), the release into the queue
 * (new queue file with X-Postern-Released and a "pass" record, entry gone), recovery of an
 * interrupted release (exactly once), deletion, and the header field reader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "relay/quar/quar_store.h"
#include "relay/queue/queue_file.h"

static const char MSG[] = "Received: from x\r\nFrom: Spammer <s@spam.example>\r\n"
                          "Subject: Cheap\r\n pills\r\n\r\nbody\r\n";

struct fx {
    char dir[64];
    int queue, qdir;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char path[128], file[4096];
    int fd, n;

    snprintf(f->dir, sizeof(f->dir), "/tmp/postern-quar-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/queue", f->dir);
    mkdir(path, 0700);
    f->queue = open(path, O_RDONLY | O_DIRECTORY);
    f->qdir = quar_store_open(f->dir);
    n = snprintf(file, sizeof(file),
                 "POSTERN-QUEUE 1\nsize %016zu\nid QID1\ntime 1000.5\nclient 192.0.2.1\n"
                 "client_name unknown\nhelo h\nlistener mx\nproto ESMTP\nfrom x@spam.example\n"
                 "rcpt a@example.test\nrcpt b@example.test\ndata\n%s"
                 "policy 1 quarantine 9.5 5 8 HS medium syms=SENDER_BLACKLISTED:9.5 "
                 "reason=spam\n", strlen(MSG), MSG);
    fd = openat(f->queue, "QID1", O_WRONLY | O_CREAT, 0600);
    if (fd < 0 || write(fd, file, (size_t)n) != n)
        return -1;
    close(fd);
    *state = f;
    return f->queue >= 0 && f->qdir >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    close(f->queue);
    close(f->qdir);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static int count(int dir)
{
    DIR *d = fdopendir(dup(dir));
    struct dirent *e;
    int n = 0;

    rewinddir(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void put_entry(struct fx *f, struct quar_entry *e)
{
    int fd = -1;
    struct queue_file *qf = queue_file_load(f->queue, "QID1", &fd);

    assert_non_null(qf);
    assert_int_equal(quar_store_put(f->qdir, qf, fd, 1, 2000, e), 0);
    close(fd);
    queue_file_free(qf);
}

static void an_entry_keeps_one_recipient_and_its_fields(void **state)
{
    struct fx *f = *state;
    struct quar_entry e, r;
    size_t n;
    char **ids;

    put_entry(f, &e);
    assert_string_equal(e.id, "QID1.1");
    assert_string_equal(e.rcpt, "b@example.test");
    assert_string_equal(e.subject, "Cheap pills");
    assert_string_equal(e.from, "Spammer <s@spam.example>");
    assert_string_equal(e.reason, "list");
    assert_string_equal(e.symbols, "SENDER_BLACKLISTED(9.50)");
    assert_int_equal(e.date, 2000);
    ids = quar_store_list(f->qdir, &n);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], "QID1.1");
    free(ids[0]);
    free(ids);
    assert_int_equal(quar_store_read(f->qdir, "QID1.1", &r), 0);
    assert_string_equal(r.rcpt, "b@example.test");
    assert_true(r.score > 9.4);
    quar_entry_clear(&r);
    quar_entry_clear(&e);
}

static void a_release_moves_a_new_queue_file_into_the_queue(void **state)
{
    struct fx *f = *state;
    struct quar_entry e;
    char qid[QID_MAX], buf[4096];
    struct queue_file *qf;
    int fd = -1;
    ssize_t n;

    put_entry(f, &e);
    quar_entry_clear(&e);
    assert_int_equal(quar_store_release(f->qdir, f->queue, "QID1.1", "admin", 3000, qid), 0);
    assert_true(qid_valid(qid));
    assert_int_equal(count(f->qdir), 0);
    qf = queue_file_load(f->queue, qid, &fd);
    assert_non_null(qf);
    assert_int_equal(qf->nrcpt, 1);
    assert_string_equal(qf->rcpts[0].addr, "b@example.test");
    assert_string_equal(qf->sender, "x@spam.example");
    assert_non_null(qf->rcpts[0].policy);
    assert_int_equal(qf->rcpts[0].policy->disp, DISP_PASS);
    n = pread(fd, buf, sizeof(buf) - 1, (off_t)qf->msg_offset);
    buf[n] = '\0';
    assert_true(strncmp(buf, "X-Postern-Released: from quarantine entry QID1.1 by admin",
                        57) == 0);
    assert_non_null(strstr(buf, "Subject: Cheap\r\n pills"));
    close(fd);
    queue_file_free(qf);
    errno = 0;
    assert_int_equal(quar_store_release(f->qdir, f->queue, "QID1.1", "admin", 3000, qid), -1);
    assert_int_equal(errno, ENOENT);
}

static void an_interrupted_release_is_finished_once(void **state)
{
    struct fx *f = *state;
    struct quar_entry e;
    char **done;
    size_t n;
    int fd;

    put_entry(f, &e);
    quar_entry_clear(&e);
    /* the state after step 2 (the .rel is written, the entry still there): make it by
       hand, from the entry itself as a stand-in queue file */
    assert_int_equal(linkat(f->qdir, "QID1.1", f->qdir, "QID1.1.rel", 0), 0);
    fd = openat(f->qdir, "QID1.0.tmp", O_WRONLY | O_CREAT, 0600);   /* a cut entry */
    close(fd);
    done = quar_store_recover(f->qdir, f->queue, &n);
    assert_int_equal(n, 1);
    assert_string_equal(done[0], "QID1 QID1.1");   /* the entry's own queue ID */
    free(done[0]);
    free(done);
    assert_int_equal(count(f->qdir), 0);
    assert_int_equal(faccessat(f->queue, "QID1", F_OK, 0), 0);
    done = quar_store_recover(f->qdir, f->queue, &n);  /* nothing left: nothing twice */
    assert_int_equal(n, 0);
    free(done);
}

static void delete_removes_the_entry(void **state)
{
    struct fx *f = *state;
    struct quar_entry e;

    put_entry(f, &e);
    quar_entry_clear(&e);
    assert_int_equal(quar_store_delete(f->qdir, "QID1.1"), 0);
    assert_int_equal(count(f->qdir), 0);
    assert_int_equal(quar_store_delete(f->qdir, "QID1.1"), 0);
    assert_int_equal(quar_store_delete(f->qdir, "../x"), -1);
}

static void header_values_are_unfolded_and_cut(void **state)
{
    static const char h[] = "From: a\r\nSUBJECT: one\r\n\ttwo\x01\r\nX: y\r\n";
    char *v;
    char big[3000];

    (void)state;
    v = quar_header_value(h, sizeof(h) - 1, "Subject");
    assert_string_equal(v, "one two");
    free(v);
    v = quar_header_value(h, sizeof(h) - 1, "To");
    assert_string_equal(v, "");
    free(v);
    memset(big, 'a', sizeof(big));
    memcpy(big, "Subject: ", 9);
    v = quar_header_value(big, sizeof(big), "Subject");
    assert_int_equal(strlen(v), QUAR_FIELD_MAX);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(an_entry_keeps_one_recipient_and_its_fields, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_release_moves_a_new_queue_file_into_the_queue, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_interrupted_release_is_finished_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(delete_removes_the_entry, setup, teardown),
        cmocka_unit_test(header_values_are_unfolded_and_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
