/*
 * test_quar_token.c - unit tests of content/quar_token: the digest links' signed tokens
 * (round trip, forged, expired, another recipient's, malformed input).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "content/quar_token.h"

static const char key[] = "0123456789abcdef-test-key";
#define KL (sizeof(key) - 1)

static void a_token_verifies_and_says_what_it_was_made_for(void **state)
{
    struct quar_token t;
    char *tok = quar_token_make(key, KL, "5BN6Xh6QXkzm0xr.1", "bob@example.test",
                                QUAR_ACT_RELEASE_LEARN, 2000);
    (void)state;
    assert_non_null(tok);
    assert_null(strpbrk(tok, "+/= &?#"));
    assert_int_equal(quar_token_verify(key, KL, tok, 1000, &t), QUAR_TOKEN_OK);
    assert_string_equal(t.entry, "5BN6Xh6QXkzm0xr.1");
    assert_string_equal(t.rcpt, "bob@example.test");
    assert_int_equal(t.action, QUAR_ACT_RELEASE_LEARN);
    assert_int_equal(t.expires, 2000);
    free(tok);
}

static void an_expired_token_is_refused(void **state)
{
    struct quar_token t;
    char *tok = quar_token_make(key, KL, "E.0", "bob@example.test", QUAR_ACT_RELEASE, 2000);
    (void)state;
    assert_int_equal(quar_token_verify(key, KL, tok, 2001, &t), QUAR_TOKEN_EXPIRED);
    free(tok);
}

static void a_forged_token_is_refused(void **state)
{
    struct quar_token t;
    char *tok = quar_token_make(key, KL, "E.0", "bob@example.test", QUAR_ACT_RELEASE, 2000);
    char *mine = quar_token_make(key, KL, "E.0", "eve@example.test", QUAR_ACT_RELEASE, 2000);
    char *other = quar_token_make("another-key-0123456", 19, "E.0", "bob@example.test",
                                  QUAR_ACT_RELEASE, 2000);
    char *dot, *swap;
    (void)state;
    /* a flipped payload byte */
    tok[2] = tok[2] == 'A' ? 'B' : 'A';
    assert_int_equal(quar_token_verify(key, KL, tok, 1000, &t), QUAR_TOKEN_BAD);
    /* another key */
    assert_int_equal(quar_token_verify(key, KL, other, 1000, &t), QUAR_TOKEN_BAD);
    /* eve's payload with bob's MAC: another recipient's entry */
    free(tok);
    tok = quar_token_make(key, KL, "E.0", "bob@example.test", QUAR_ACT_RELEASE, 2000);
    dot = strchr(mine, '.');
    swap = malloc(strlen(mine) + strlen(tok));
    memcpy(swap, mine, (size_t)(dot - mine));
    strcpy(swap + (dot - mine), strchr(tok, '.'));
    assert_int_equal(quar_token_verify(key, KL, swap, 1000, &t), QUAR_TOKEN_BAD);
    free(swap);
    free(tok);
    free(mine);
    free(other);
}

static void malformed_tokens_are_refused(void **state)
{
    static const char *const bad[] = { "", ".", "abc", "abc.def", "a.b.c", "====.====",
                                       "cTE.AAAA", NULL };
    struct quar_token t;
    size_t i;
    char longtok[QUAR_TOKEN_MAX + 10];
    (void)state;
    for (i = 0; bad[i]; i++)
        assert_int_equal(quar_token_verify(key, KL, bad[i], 0, &t), QUAR_TOKEN_BAD);
    assert_int_equal(quar_token_verify(key, KL, NULL, 0, &t), QUAR_TOKEN_BAD);
    memset(longtok, 'A', sizeof(longtok) - 1);
    longtok[sizeof(longtok) - 1] = '\0';
    longtok[100] = '.';
    assert_int_equal(quar_token_verify(key, KL, longtok, 0, &t), QUAR_TOKEN_BAD);
}

static void bad_arguments_make_no_token(void **state)
{
    (void)state;
    assert_null(quar_token_make("short", 5, "E.0", "a@b", QUAR_ACT_RELEASE, 1));
    assert_null(quar_token_make(key, KL, "E|0", "a@b", QUAR_ACT_RELEASE, 1));
    assert_null(quar_token_make(key, KL, "E.0", "a|b@c", QUAR_ACT_RELEASE, 1));
    assert_int_equal(quar_token_verify("short", 5, "x.y", 0, &(struct quar_token){ 0 }),
                     QUAR_TOKEN_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_token_verifies_and_says_what_it_was_made_for),
        cmocka_unit_test(an_expired_token_is_refused),
        cmocka_unit_test(a_forged_token_is_refused),
        cmocka_unit_test(malformed_tokens_are_refused),
        cmocka_unit_test(bad_arguments_make_no_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
