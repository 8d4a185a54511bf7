/*
 * test_spam.c - the spam classifier's parts: the message walker (decoding), the tokenizer
 * (features sorted and unique, contexts kept apart), naive Bayes learning and scoring, and
 * the Redis shard codec (merge, expiry, cap).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content/spam_msg.h"
#include "content/spam_model.h"
#include "content/spam_score.h"
#include "content/spam_store.h"
#include "content/spam_tok.h"

struct seen {
    char text[4096];
    char hdrs[1024];
    int parts;
};

static void on_hdr(void *arg, const char *n, size_t nl, const char *v, size_t vl)
{
    struct seen *s = arg;
    size_t l = strlen(s->hdrs);

    snprintf(s->hdrs + l, sizeof(s->hdrs) - l, "%.*s=%.*s|", (int)nl, n, (int)vl, v);
}

static void on_part(void *arg, const struct spam_part *p)
{
    struct seen *s = arg;
    size_t l = strlen(s->text);

    s->parts++;
    if (p->data)
        snprintf(s->text + l, sizeof(s->text) - l, "[%s]%.*s", p->ctype, (int)p->len, p->data);
}

static void the_walker_decodes_parts_and_unfolds_headers(void **state)
{
    static const char msg[] =
        "Subject: a long\r\n subject\r\n"
        "Content-Type: multipart/alternative;\r\n boundary=\"XX\"\r\n\r\n"
        "preamble\r\n--XX\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=FC=DFe, soft=\r\nbreak\r\n"
        "--XX\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        "PGI+aGk8L2I+\r\n--XX--\r\nepilogue\r\n";
    struct seen s;
    struct spam_msg_cb cb = { on_hdr, on_part, &s };

    (void)state;
    memset(&s, 0, sizeof(s));
    spam_msg_walk(msg, sizeof(msg) - 1, &cb);
    assert_int_equal(s.parts, 3);
    assert_non_null(strstr(s.hdrs, "Subject=a long subject|"));
    assert_string_equal(s.text, "[text/plain]Gr\xc3\xbc\xc3\x9f" "e, softbreak[text/html]<b>hi</b>");
}

static void the_walker_converts_charsets_and_takes_out_uuencoded_files(void **state)
{
    static const char msg[] =
        "Subject: =?iso-8859-1?q?caf=E9?= =?UTF-8?B?w6k=?= ok\n"
        "Content-Type: multipart/mixed; boundary=b\n\n"
        "--b\nContent-Type: text/plain; charset=koi8-r\n\n\xf0\xd2\xc9\n"
        "--b\nContent-Type: text/plain\n\nbefore\nbegin 644 x.exe\n#86)C\n`\nend\nafter\n"
        "--b\nContent-Type: text/plain; charset=us-ascii\n\nna\xefve\n--b--\n";
    struct seen s;
    struct spam_msg_cb cb = { on_hdr, on_part, &s };
    struct spam_features f = { 0 };
    struct spam_facts fa;

    (void)state;
    memset(&s, 0, sizeof(s));
    spam_msg_walk(msg, sizeof(msg) - 1, &cb);
    /* multipart, koi8-r text, the uuencoded file, the text around it, the us-ascii text */
    assert_int_equal(s.parts, 5);
    assert_non_null(strstr(s.hdrs, "Subject==?iso-8859-1?q?caf=E9?= =?UTF-8?B?w6k=?= ok|"));
    /* (the line end before a boundary belongs to the boundary) */
    assert_string_equal(s.text, "[text/plain]\xd0\x9f\xd1\x80\xd0\xb8"
                                "[text/plain]before\nafter[text/plain]na\xefve");
    spam_analyze(msg, sizeof(msg) - 1, &f, &fa);
    assert_true(fa.charset_mismatch);      /* 8-bit bytes in us-ascii */
    assert_int_equal(fa.attach_parts, 1);  /* x.exe */
    spam_features_free(&f);
}

static void features_are_sorted_unique_and_stable(void **state)
{
    static const char msg[] = "Subject: hello hello\n\nhello world hello world\n";
    struct spam_features a = { 0 }, b = { 0 };
    size_t i;

    (void)state;
    spam_analyze(msg, sizeof(msg) - 1, &a, NULL);
    spam_analyze(msg, sizeof(msg) - 1, &b, NULL);
    assert_true(a.n > 4);
    assert_int_equal(a.n, b.n);
    assert_memory_equal(a.v, b.v, a.n * sizeof(a.v[0]));
    for (i = 1; i < a.n; i++)
        assert_true(a.v[i - 1] < a.v[i] && a.v[i] != 0);
    spam_features_free(&a);
    spam_features_free(&b);
}

static size_t common(const struct spam_features *a, const struct spam_features *b)
{
    size_t i = 0, j = 0, n = 0;

    while (i < a->n && j < b->n) {
        if (a->v[i] == b->v[j])
            n++, i++, j++;
        else if (a->v[i] < b->v[j])
            i++;
        else
            j++;
    }
    return n;
}

static void hidden_html_text_is_not_visible_text(void **state)
{
    static const char vis[] = "Content-Type: text/html\n\n<p>pharmacy discount</p>";
    static const char hid[] = "Content-Type: text/html\n\n<p style=\"display: none\">pharmacy "
                              "discount</p>";
    static const char plain[] = "Content-Type: text/plain\n\npharmacy discount";
    struct spam_features a = { 0 }, b = { 0 }, c = { 0 };
    struct spam_facts fa;

    (void)state;
    spam_analyze(vis, sizeof(vis) - 1, &a, NULL);
    spam_analyze(hid, sizeof(hid) - 1, &b, NULL);
    spam_analyze(plain, sizeof(plain) - 1, &c, &fa);
    /* the visible HTML words are the plain text's words; the hidden ones are not */
    assert_true(common(&a, &c) >= 3);       /* pharmacy, discount, the bigram */
    assert_true(common(&b, &c) < common(&a, &c));
    assert_int_equal(fa.text_parts, 1);
    spam_features_free(&a);
    spam_features_free(&b);
    spam_features_free(&c);
}

static void naive_bayes_learns_and_unlearns(void **state)
{
    struct spam_model m;
    char msg[512];
    struct spam_score sc;
    int i;

    (void)state;
    spam_model_init(&m, 0);
    for (i = 0; i < 12; i++) {
        snprintf(msg, sizeof(msg), "Subject: cheap pills %d\n\nBuy cheap pills online now, "
                 "best price viagra pharmacy %d\n", i, i);
        spam_score_learn(&m, msg, strlen(msg), true, 1);
        snprintf(msg, sizeof(msg), "Subject: minutes %d\n\nThe meeting notes from the "
                 "project review are attached, please check the agenda %d\n", i, i);
        spam_score_learn(&m, msg, strlen(msg), false, 1);
    }
    assert_int_equal(m.nspam, 12);
    snprintf(msg, sizeof(msg), "Subject: cheap pills\n\nbest price pharmacy, buy now\n");
    spam_score_message(&m, msg, strlen(msg), &sc);
    assert_true(sc.bayes_prob > 0.9);
    assert_string_equal(sc.bayes_symbol, "BAYES_SPAM");
    assert_true(sc.bayes_points > 5 && sc.bayes_points <= SPAM_BAYES_MAX);
    snprintf(msg, sizeof(msg), "Subject: minutes\n\nthe project review meeting agenda\n");
    spam_score_message(&m, msg, strlen(msg), &sc);
    assert_true(sc.bayes_prob < 0.1);
    assert_string_equal(sc.bayes_symbol, "BAYES_HAM");
    assert_true(sc.bayes_points < 0 && sc.bayes_points >= SPAM_BAYES_MIN);
    /* unlearning below the minimum: the classifier abstains */
    for (i = 0; i < 5; i++) {
        snprintf(msg, sizeof(msg), "Subject: cheap pills %d\n\nBuy cheap pills online now, "
                 "best price viagra pharmacy %d\n", i, i);
        spam_score_learn(&m, msg, strlen(msg), true, -1);
    }
    assert_int_equal(m.nspam, 7);
    spam_score_message(&m, msg, strlen(msg), &sc);
    assert_true(sc.bayes_prob < 0);
    assert_null(sc.bayes_symbol);
    spam_model_clear(&m);
}

static void shards_merge_expire_and_cap(void **state)
{
    struct spam_entry d[3] = {
        { .key = 0x0100000000000003ULL, .ns = 1 },
        { .key = 0x0100000000000005ULL, .nh = 2 },
        { .key = 0x0100000000000009ULL, .ns = 1, .nh = 1 },
    };
    struct spam_entry d2[1] = { { .key = 0x0100000000000005ULL, .ns = 4 } };
    struct spam_model m;
    const struct spam_entry *e;
    size_t len, len2, len3;
    char *b1, *b2, *b3;

    (void)state;
    assert_int_equal(spam_shard_of(d[0].key), 1);
    b1 = spam_shard_merge("", 0, d, 3, 1, 100, 10, 0, &len);
    assert_int_equal(len, 3 * SPAM_ENTRY_BYTES);
    /* a later learn: counts add up, the untouched entries expire after 10 days */
    b2 = spam_shard_merge(b1, len, d2, 1, 1, 111, 10, 0, &len2);
    assert_int_equal(len2, 1 * SPAM_ENTRY_BYTES);
    spam_model_init(&m, 0);
    assert_int_equal(spam_shard_decode(&m, b2, len2), 1);
    e = spam_model_get(&m, 0x0100000000000005ULL);
    assert_non_null(e);
    assert_int_equal(e->ns, 4);
    assert_int_equal(e->nh, 2);
    assert_int_equal(e->stamp, 111);
    spam_model_clear(&m);
    /* the cap keeps the most frequent */
    b3 = spam_shard_merge(b1, len, d2, 1, 1, 101, 10, 2, &len3);
    assert_int_equal(len3, 2 * SPAM_ENTRY_BYTES);
    spam_model_init(&m, 0);
    spam_shard_decode(&m, b3, len3);
    assert_non_null(spam_model_get(&m, 0x0100000000000005ULL));
    assert_non_null(spam_model_get(&m, 0x0100000000000009ULL));
    assert_null(spam_model_get(&m, 0x0100000000000003ULL));
    assert_int_equal(spam_shard_decode(&m, b3, 7), -1);
    spam_model_clear(&m);
    /* unlearning: counts go down, never below 0; a feature with none left goes */
    {
        struct spam_entry u[2] = { { .key = 0x0100000000000003ULL, .ns = 5 },
                                   { .key = 0x0100000000000009ULL, .nh = 1 } };
        size_t len4;
        char *b4 = spam_shard_merge(b1, len, u, 2, -1, 100, 10, 0, &len4);
        assert_int_equal(len4, 2 * SPAM_ENTRY_BYTES);
        spam_model_init(&m, 0);
        spam_shard_decode(&m, b4, len4);
        assert_null(spam_model_get(&m, 0x0100000000000003ULL));
        e = spam_model_get(&m, 0x0100000000000009ULL);
        assert_non_null(e);
        assert_int_equal(e->ns, 1);
        assert_int_equal(e->nh, 0);
        spam_model_clear(&m);
        free(b4);
    }
    free(b1);
    free(b2);
    free(b3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_walker_decodes_parts_and_unfolds_headers),
        cmocka_unit_test(the_walker_converts_charsets_and_takes_out_uuencoded_files),
        cmocka_unit_test(features_are_sorted_unique_and_stable),
        cmocka_unit_test(hidden_html_text_is_not_visible_text),
        cmocka_unit_test(naive_bayes_learns_and_unlearns),
        cmocka_unit_test(shards_merge_expire_and_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
