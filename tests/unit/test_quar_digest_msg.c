/*
 * test_quar_digest_msg.c - unit tests of content/quar_digest_msg: the digest mail lists each
 * entry in the text and the HTML part (escaped), with two verifiable links per entry made
 * for the digest's recipient, none for a virus entry, and none without a key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "content/quar_digest_msg.h"

static const char key[] = "digest-test-key-0123456789";

static struct quar_entry entry(const char *id, const char *subject, const char *reason)
{
    struct quar_entry e = { 0 };

    strcpy(e.id, id);
    e.rcpt = (char *)"bob@example.test";
    e.sender = (char *)"x@spam.example";
    e.from = (char *)"\"Spam\" <x@spam.example>";
    e.subject = (char *)subject;
    e.reason = (char *)reason;
    e.detail = (char *)reason;
    e.symbols = (char *)"";
    e.node = (char *)"n1";
    e.qid = (char *)"Q";
    e.score = 7.25;
    e.date = 1700000000;
    return e;
}

static struct quar_digest_params params(void)
{
    struct quar_digest_params p = { .from = "postmaster@mx.test", .to = "bob@example.test",
                                    .hostname = "mx.test", .ui_url = "https://q.test/ui/",
                                    .key = key, .keylen = sizeof(key) - 1,
                                    .token_rcpt = "bob@example.test", .now = 1700000100,
                                    .expires = 1700086500, .unique = "U1" };
    return p;
}

/* The n-th "/ui/q/TOKEN" of text (1-based), verified: its entry and action. */
static int nth_link(const char *text, int n, struct quar_token *t)
{
    const char *p = text;
    char tok[QUAR_TOKEN_MAX + 1];
    size_t k;

    while (n-- > 0) {
        p = strstr(p, "https://q.test/ui/q/");
        if (p == NULL)
            return -1;
        p += strlen("https://q.test/ui/q/");
    }
    k = strcspn(p, "\r\n\" ");
    memcpy(tok, p, k);
    tok[k] = '\0';
    return quar_token_verify(key, sizeof(key) - 1, tok, 1700000200, t) == QUAR_TOKEN_OK ? 0
                                                                                      : -1;
}

static void entries_are_listed_with_verifiable_links(void **state)
{
    struct quar_entry e[2] = { entry("A.0", "Hello <b>you</b> & co", "spam"),
                               entry("B.1", "Infected", "virus") };
    struct quar_digest_params p = params();
    struct quar_token t;
    size_t len;
    char *m = quar_digest_format(&p, e, 2, &len);
    const char *html;

    (void)state;
    assert_int_equal(strlen(m), len);
    assert_non_null(strstr(m, "Subject: Quarantine digest: 2 new messages held for "
                              "bob@example.test\r\n"));
    assert_non_null(strstr(m, "Content-Type: multipart/alternative; boundary=\"=_digest_U1\""));
    assert_non_null(strstr(m, "Subject: Hello <b>you</b> & co\r\n"));   /* text part */
    html = strstr(m, "Content-Type: text/html");
    assert_non_null(html);
    assert_non_null(strstr(html, "Hello &lt;b&gt;you&lt;/b&gt; &amp; co"));
    assert_null(strstr(html, "<b>you"));
    assert_non_null(strstr(m, "Score: 7.2"));
    assert_int_equal(nth_link(m, 1, &t), 0);
    assert_string_equal(t.entry, "A.0");
    assert_string_equal(t.rcpt, "bob@example.test");
    assert_int_equal(t.action, QUAR_ACT_RELEASE);
    assert_int_equal(nth_link(m, 2, &t), 0);
    assert_int_equal(t.action, QUAR_ACT_RELEASE_LEARN);
    /* the virus entry has no link: text part has 2, HTML part 2 */
    assert_int_equal(nth_link(m, 5, &t), -1);
    assert_non_null(strstr(m, "only an administrator can release it"));
    free(m);
}

static void without_a_key_there_are_no_links_and_bytes_stay_7bit(void **state)
{
    struct quar_entry e[1] = { entry("A.0", "caf\xc3\xa9\r\nBcc: x", "spam") };
    struct quar_digest_params p = params();
    size_t len, i;
    char *m;

    (void)state;
    p.key = NULL;
    m = quar_digest_format(&p, e, 1, &len);
    assert_null(strstr(m, "/ui/q/"));
    for (i = 0; i < len; i++)
        assert_true((unsigned char)m[i] < 0x80);
    assert_null(strstr(m, "\r\nBcc: x"));            /* no header injection */
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(entries_are_listed_with_verifiable_links),
        cmocka_unit_test(without_a_key_there_are_no_links_and_bytes_stay_7bit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
