/*
 * test_header_edit.c - unit tests of lib/header_edit: splitting a message, adding and
 * removing fields (folded ones too), and the Subject prefix (once, missing, folded,
 * RFC 2047 encoded, empty).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/header_edit.h"

static void edit(struct hdr_edit *h, const char *s)
{
    hdr_init(h, s, strlen(s));
}

static void split_finds_the_empty_line(void **state)
{
    const char *m = "A: 1\r\nB: 2\r\n folded\r\n\r\nbody\r\n";
    size_t f, b;
    (void)state;
    hdr_split(m, strlen(m), &f, &b);
    assert_int_equal(f, strlen("A: 1\r\nB: 2\r\n folded\r\n"));
    assert_int_equal(b, f + 2);
    hdr_split("A: 1\r\nno end", 13, &f, &b);
    assert_int_equal(f, 13);
    assert_int_equal(b, 13);
    hdr_split("\r\nbody", 6, &f, &b);
    assert_int_equal(f, 0);
    assert_int_equal(b, 2);
    hdr_split("A: 1\n\nbody", 10, &f, &b);
    assert_int_equal(f, 5);
    assert_int_equal(b, 6);
}

static void prepend_and_append_add_complete_fields(void **state)
{
    struct hdr_edit h;
    (void)state;
    edit(&h, "Subject: hi\r\n");
    hdr_prepend(&h, "X-A: 1\r\n");
    hdr_append(&h, "X-B: 2");
    assert_string_equal(h.p, "X-A: 1\r\nSubject: hi\r\nX-B: 2\r\n");
    hdr_free(&h);
    edit(&h, "Last: no crlf");
    hdr_append(&h, "X: y\r\n");
    assert_string_equal(h.p, "Last: no crlf\r\nX: y\r\n");
    hdr_free(&h);
}

static void insert_after_first_goes_below_our_received(void **state)
{
    struct hdr_edit h;
    (void)state;
    edit(&h, "Received: from a\r\n\tby b\r\nReceived: older\r\nSubject: s\r\n");
    hdr_insert_after_first(&h, "Received", "X-A: 1\r\n");
    assert_string_equal(h.p, "Received: from a\r\n\tby b\r\nX-A: 1\r\nReceived: older\r\n"
                             "Subject: s\r\n");
    hdr_free(&h);
    edit(&h, "Subject: s\r\n");
    hdr_insert_after_first(&h, "Received", "X-A: 1");
    assert_string_equal(h.p, "X-A: 1\r\nSubject: s\r\n");
    hdr_free(&h);
}

static void outside_x_spam_fields_are_removed_with_their_folds(void **state)
{
    struct hdr_edit h;
    (void)state;
    edit(&h, "Received: x\r\nX-Spam-Status: Yes, score=99\r\n\ttests=FAKE\r\n"
             "x-spam-flag: YES\r\nSubject: s\r\nX-Spammer: keep? no\r\nX-Spam: kept\r\n");
    assert_int_equal(hdr_remove_prefix(&h, "X-Spam-"), 2);
    assert_string_equal(h.p, "Received: x\r\nSubject: s\r\nX-Spammer: keep? no\r\n"
                             "X-Spam: kept\r\n");
    hdr_free(&h);
}

static void remove_by_name_is_exact_and_case_insensitive(void **state)
{
    struct hdr_edit h;
    (void)state;
    edit(&h, "Authentication-Results: a\r\n x\r\nAuthentication-Results-X: b\r\n"
             "AUTHENTICATION-RESULTS: c\r\nnot a field line\r\n");
    assert_int_equal(hdr_remove_name(&h, "Authentication-Results"), 2);
    assert_string_equal(h.p, "Authentication-Results-X: b\r\nnot a field line\r\n");
    hdr_free(&h);
}

static bool value_has_evil(const char *name, size_t nlen, const char *field, size_t flen,
                           void *arg)
{
    (void)name;
    (void)nlen;
    (void)arg;
    return memmem(field, flen, "evil", 4) != NULL;
}

static void remove_by_predicate_sees_the_whole_field(void **state)
{
    struct hdr_edit h;
    (void)state;
    edit(&h, "A: good\r\nB: fine\r\n but evil\r\nC: ok\r\n");
    assert_int_equal(hdr_remove_if(&h, value_has_evil, NULL), 1);
    assert_string_equal(h.p, "A: good\r\nC: ok\r\n");
    hdr_free(&h);
}

static void subject_is_prefixed_once(void **state)
{
    struct hdr_edit h;
    (void)state;
    edit(&h, "From: a@b\r\nSubject: Cheap pills\r\nTo: c@d\r\n");
    assert_true(hdr_subject_prefix(&h, "+++SPAM+++ "));
    assert_string_equal(h.p, "From: a@b\r\nSubject: +++SPAM+++ Cheap pills\r\nTo: c@d\r\n");
    assert_false(hdr_subject_prefix(&h, "+++SPAM+++ "));
    assert_string_equal(h.p, "From: a@b\r\nSubject: +++SPAM+++ Cheap pills\r\nTo: c@d\r\n");
    hdr_free(&h);
}

static void missing_subject_is_added(void **state)
{
    struct hdr_edit h;
    (void)state;
    edit(&h, "From: a@b\r\n");
    assert_true(hdr_subject_prefix(&h, "[SPAM] "));
    assert_string_equal(h.p, "From: a@b\r\nSubject: [SPAM]\r\n");
    hdr_free(&h);
    edit(&h, "From: a@b\r\nSubject:\r\n");
    assert_true(hdr_subject_prefix(&h, "[SPAM] "));
    assert_string_equal(h.p, "From: a@b\r\nSubject: [SPAM]\r\n");
    hdr_free(&h);
}

static void folded_and_encoded_subjects_keep_their_form(void **state)
{
    struct hdr_edit h;
    (void)state;
    edit(&h, "Subject:\r\n a long\r\n subject\r\n");
    assert_true(hdr_subject_prefix(&h, "+++SPAM+++ "));
    assert_string_equal(h.p, "Subject:\r\n +++SPAM+++ a long\r\n subject\r\n");
    hdr_free(&h);
    edit(&h, "Subject: =?UTF-8?B?w6lzcGFt?=\r\n");
    assert_true(hdr_subject_prefix(&h, "+++SPAM+++ "));
    assert_string_equal(h.p, "Subject: +++SPAM+++ =?UTF-8?B?w6lzcGFt?=\r\n");
    hdr_free(&h);
}

static void only_the_first_subject_changes(void **state)
{
    struct hdr_edit h;
    (void)state;
    edit(&h, "X-Subject: no\r\nSubject: one\r\nSubject: two\r\n");
    assert_true(hdr_subject_prefix(&h, "*** "));
    assert_string_equal(h.p, "X-Subject: no\r\nSubject: *** one\r\nSubject: two\r\n");
    hdr_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_finds_the_empty_line),
        cmocka_unit_test(prepend_and_append_add_complete_fields),
        cmocka_unit_test(insert_after_first_goes_below_our_received),
        cmocka_unit_test(outside_x_spam_fields_are_removed_with_their_folds),
        cmocka_unit_test(remove_by_name_is_exact_and_case_insensitive),
        cmocka_unit_test(remove_by_predicate_sees_the_whole_field),
        cmocka_unit_test(subject_is_prefixed_once),
        cmocka_unit_test(missing_subject_is_added),
        cmocka_unit_test(folded_and_encoded_subjects_keep_their_form),
        cmocka_unit_test(only_the_first_subject_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
