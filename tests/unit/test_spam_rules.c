/*
 * test_spam_rules.c - each spam rule (content/spam_rules_list.h) with a message that fires
 * it and one that must not; the plain message fires none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "content/spam_score.h"

#define HDR_FROM  "From: Alice Example <alice@example.org>\n"
#define HDR_TO    "To: bob@example.net\n"
#define HDR_DATE  "Date: Fri, 04 Dec 2026 12:00:00 +0000\n"
#define HDR_MID   "Message-ID: <20261204120000.1234@example.org>\n"
#define HDR_SUBJ  "Subject: Lunch on Friday\n"
#define BODY      "\nHello Bob,\n\nshall we have lunch on Friday at the usual place? The new menu\n" \
                  "looks good and I would like to try the soup.\n\nAlice\n"

static const char clean[] = HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ BODY;

static bool fires(const char *msg, const char *rule)
{
    struct spam_score sc;
    size_t i;

    spam_score_message(NULL, msg, strlen(msg), &sc);
    for (i = 0; i < sc.nrules; i++)
        if (strcmp(sc.rules[i]->name, rule) == 0)
            return true;
    return false;
}

static void the_plain_message_fires_no_rule(void **state)
{
    struct spam_score sc;

    (void)state;
    spam_score_message(NULL, clean, strlen(clean), &sc);
    if (sc.nrules > 0)
        fail_msg("fired %s", sc.rules[0]->name);
    assert_true(sc.bayes_prob < 0);          /* no model: the classifier abstains */
    assert_null(sc.bayes_symbol);
    assert_true(sc.total == 0);
}

static void gtube(void **state)
{
    struct spam_score sc;
    const char *m = HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ
        "\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\n";

    (void)state;
    assert_true(fires(m, "GTUBE"));
    assert_false(fires(clean, "GTUBE"));
    /* also inside a base64 part */
    assert_true(fires(HDR_FROM HDR_DATE HDR_MID "Content-Type: text/plain\n"
                      "Content-Transfer-Encoding: base64\n\n"
                      "WEpTKkM0SkRCUUFETjEuTlNCTjMqMklETkVOKkdUVUJFLVNUQU5EQVJELUFOVEktVUJFLVRF\n"
                      "U1QtRU1BSUwqQy4zNFgK\n", "GTUBE"));
    spam_score_message(NULL, m, strlen(m), &sc);
    assert_true(sc.total >= 500);            /* passes every kill threshold (max 1000 = never) */
}

static void date_rules(void **state)
{
    (void)state;
    assert_true(fires(HDR_FROM HDR_TO HDR_MID HDR_SUBJ BODY, "MISSING_DATE"));
    assert_false(fires(clean, "MISSING_DATE"));
    assert_true(fires(HDR_FROM HDR_TO "Date: yesterday at noon\n" HDR_MID HDR_SUBJ BODY,
                      "INVALID_DATE"));
    assert_true(fires(HDR_FROM HDR_TO "Date: Fri, 34 Dec 2026 12:00:00 +0000\n" HDR_MID
                      HDR_SUBJ BODY, "INVALID_DATE"));
    assert_false(fires(HDR_FROM HDR_TO "Date: 4 Dec 2026 12:00 EST\n" HDR_MID HDR_SUBJ BODY,
                       "INVALID_DATE"));
    assert_false(fires(clean, "INVALID_DATE"));
}

static void message_id_rules(void **state)
{
    (void)state;
    assert_true(fires(HDR_FROM HDR_TO HDR_DATE HDR_SUBJ BODY, "MISSING_MID"));
    assert_false(fires(clean, "MISSING_MID"));
    assert_true(fires(HDR_FROM HDR_TO HDR_DATE "Message-ID: 12345\n" HDR_SUBJ BODY,
                      "INVALID_MSGID"));
    assert_true(fires(HDR_FROM HDR_TO HDR_DATE "Message-ID: <no domain>\n" HDR_SUBJ BODY,
                      "INVALID_MSGID"));
    assert_false(fires(clean, "INVALID_MSGID"));
}

static void from_rules(void **state)
{
    (void)state;
    assert_true(fires(HDR_TO HDR_DATE HDR_MID HDR_SUBJ BODY, "MISSING_FROM"));
    assert_false(fires(clean, "MISSING_FROM"));
    assert_true(fires("From: Alice Example\n" HDR_TO HDR_DATE HDR_MID HDR_SUBJ BODY,
                      "INVALID_FROM"));
    assert_false(fires(clean, "INVALID_FROM"));
}

static void forged_mailers(void **state)
{
    (void)state;
    assert_true(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ
                      "X-Mailer: Microsoft Outlook, Build 10.0.2616\n" BODY,
                      "FORGED_MUA_OUTLOOK"));
    assert_false(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ
                       "X-Mailer: Microsoft Outlook, Build 10.0.2616\n"
                       "X-MimeOLE: Produced By Microsoft MimeOLE V6.00.2600.0000\n" BODY,
                       "FORGED_MUA_OUTLOOK"));
    assert_true(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ
                      "X-Mailer: Microsoft Outlook Express 6.00.2600.0000\n" BODY,
                      "FORGED_MUA_OE"));
    assert_false(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ
                       "X-Mailer: Microsoft Outlook Express 6.00.2600.0000\n"
                       "X-MimeOLE: Produced By Microsoft MimeOLE V6.00.2600.0000\n" BODY,
                       "FORGED_MUA_OE"));
    assert_false(fires(clean, "FORGED_MUA_OE"));
}

static void subject_caps(void **state)
{
    (void)state;
    assert_true(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID "Subject: FREE MONEY FOR YOU NOW!!!\n"
                      BODY, "SUBJ_ALL_CAPS"));
    assert_false(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID "Subject: Meeting at IBM HQ\n" BODY,
                       "SUBJ_ALL_CAPS"));
    assert_false(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID "Subject: RE: FYI\n" BODY,
                       "SUBJ_ALL_CAPS"));       /* too short to say */
}

#define HTML_HDR HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ "MIME-Version: 1.0\n" \
                 "Content-Type: text/html; charset=us-ascii\n"

static void html_only_little_text(void **state)
{
    (void)state;
    assert_true(fires(HTML_HDR "\n<html><body><a href=\"http://shop.example/\">Click</a>"
                      "</body></html>\n", "HTML_ONLY_LITTLE_TEXT"));
    assert_false(fires(HTML_HDR "\n<html><body><p>Hello Bob, shall we have lunch on Friday "
                       "at the usual place? The new menu looks good and I would like to try "
                       "the soup. Also the bread, which everyone says is baked in the house "
                       "every morning, and the coffee that comes after it. Tell me which day "
                       "suits you best and I will book a table for the two of us.</p>"
                       "</body></html>\n",
                       "HTML_ONLY_LITTLE_TEXT"));
    assert_false(fires(clean, "HTML_ONLY_LITTLE_TEXT"));
}

static void images_only(void **state)
{
    (void)state;
    assert_true(fires(HTML_HDR "\n<html><body><img src=\"http://img.example/offer.gif\">"
                      "</body></html>\n", "IMAGES_ONLY"));
    assert_true(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ
                      "Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\n"
                      "Content-Type: image/gif; name=\"offer.gif\"\n"
                      "Content-Transfer-Encoding: base64\n\nR0lGODlhAQABAAAAACw=\n--b1--\n",
                      "IMAGES_ONLY"));
    assert_false(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ
                       "Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\n"
                       "Content-Type: text/plain\n" BODY "--b1\n"
                       "Content-Type: image/gif; name=\"photo.gif\"\n"
                       "Content-Transfer-Encoding: base64\n\nR0lGODlhAQABAAAAACw=\n--b1--\n",
                       "IMAGES_ONLY"));
}

static void link_text_mismatch(void **state)
{
    (void)state;
    assert_true(fires(HTML_HDR "\n<p>Your bank: <a href=\"http://evil.example.ru/login\">"
                      "https://www.mybank.com/login</a></p>\n", "LINK_TEXT_MISMATCH"));
    assert_false(fires(HTML_HDR "\n<p>Your bank: <a href=\"https://secure.mybank.com/login\">"
                       "https://www.mybank.com/login</a></p>\n", "LINK_TEXT_MISMATCH"));
    assert_false(fires(HTML_HDR "\n<p><a href=\"http://evil.example.ru/\">click here</a></p>\n",
                       "LINK_TEXT_MISMATCH"));
}

static void url_shortener(void **state)
{
    (void)state;
    assert_true(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ
                      "\nSee https://bit.ly/3xYzAbc for the offer.\n", "URL_SHORTENER"));
    assert_false(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ
                       "\nSee https://www.example.org/offer for the offer.\n", "URL_SHORTENER"));
}

static void charset_mismatch(void **state)
{
    (void)state;
    assert_true(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ
                      "Content-Type: text/plain; charset=us-ascii\n\nGr\xfc\xdf" "e\n",
                      "CHARSET_MISMATCH"));
    assert_true(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ
                      "Content-Type: text/plain; charset=utf-8\n\nGr\xfc\xdf" "e\n",
                      "CHARSET_MISMATCH"));
    assert_false(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ
                       "Content-Type: text/plain; charset=utf-8\n\nGr\xc3\xbc\xc3\x9f" "e\n",
                       "CHARSET_MISMATCH"));
    assert_false(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ
                       "Content-Type: text/plain; charset=iso-8859-1\n\nGr\xfc\xdf" "e\n",
                       "CHARSET_MISMATCH"));
}

static void base64_text(void **state)
{
    (void)state;
    /* "Hello Bob, lunch on Friday?" */
    assert_true(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ
                      "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
                      "SGVsbG8gQm9iLCBsdW5jaCBvbiBGcmlkYXk/Cg==\n", "BASE64_TEXT"));
    assert_false(fires(HDR_FROM HDR_TO HDR_DATE HDR_MID HDR_SUBJ
                       "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
                       "Hello Bob, lunch on Friday=3F\n", "BASE64_TEXT"));
}

/* Every rule of the table has a test above. */
static void every_rule_is_tested(void **state)
{
    static const char *const tested[] = {
        "GTUBE", "MISSING_DATE", "INVALID_DATE", "MISSING_MID", "INVALID_MSGID",
        "MISSING_FROM", "INVALID_FROM", "FORGED_MUA_OUTLOOK", "FORGED_MUA_OE",
        "SUBJ_ALL_CAPS", "HTML_ONLY_LITTLE_TEXT", "IMAGES_ONLY", "LINK_TEXT_MISMATCH",
        "URL_SHORTENER", "CHARSET_MISMATCH", "BASE64_TEXT", NULL
    };
    size_t i, j;

    (void)state;
    for (i = 0; spam_rule_defs[i].name; i++) {
        for (j = 0; tested[j] && strcmp(tested[j], spam_rule_defs[i].name) != 0; j++)
            ;
        if (tested[j] == NULL)
            fail_msg("rule %s has no test", spam_rule_defs[i].name);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_plain_message_fires_no_rule),
        cmocka_unit_test(gtube),
        cmocka_unit_test(date_rules),
        cmocka_unit_test(message_id_rules),
        cmocka_unit_test(from_rules),
        cmocka_unit_test(forged_mailers),
        cmocka_unit_test(subject_caps),
        cmocka_unit_test(html_only_little_text),
        cmocka_unit_test(images_only),
        cmocka_unit_test(link_text_mismatch),
        cmocka_unit_test(url_shortener),
        cmocka_unit_test(charset_mismatch),
        cmocka_unit_test(base64_text),
        cmocka_unit_test(every_rule_is_tested),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
