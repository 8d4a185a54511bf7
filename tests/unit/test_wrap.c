/*
 * test_wrap.c - unit tests of content/wrap: the warning text, the Subject, attachments
 * replaced by notices with the text kept, nested multiparts and message/rfc822 walked,
 * a virus removing text parts too, a single-part message, a boundary that cannot clash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "content/wrap.h"

static const struct wrap_params PARAMS = { "blocked file x.scr", false, "mx.test", "r@x.test",
                                           "QID1", 0 };

static char *wrap(const char *msg, const struct wrap_params *p, unsigned *removed)
{
    size_t n;
    char *w = wrap_message(msg, strlen(msg), p, &n, removed);
    assert_int_equal(strlen(w), n);
    return w;
}

static void attachment_is_replaced_and_text_kept(void **state)
{
    const char *msg = "Subject: Invoice\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                      "pre\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
                      "--b\r\nContent-Type: application/octet-stream\r\n"
                      "Content-Disposition: attachment; filename=\"x.scr\"\r\n"
                      "Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMA\r\n--b--\r\nepi\r\n";
    unsigned removed;
    char *w = wrap(msg, &PARAMS, &removed);
    (void)state;
    assert_int_equal(removed, 1);
    assert_non_null(strstr(w, "From: Postern content filter <postmaster@mx.test>\r\n"
                              "To: <r@x.test>\r\nDate: Thu, 01 Jan 1970 00:00:00 +0000\r\n"
                              "Message-ID: <QID1.wrap@mx.test>\r\nSubject: [WARNING] Invoice\r\n"));
    assert_non_null(strstr(w, "WARNING: this message contained blocked file x.scr.\r\n"));
    assert_non_null(strstr(w, "Content-Type: message/rfc822\r\n"));
    assert_null(strstr(w, "TVqQ"));
    assert_non_null(strstr(w, "pre\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\n"
                              "Content-Type: text/plain; charset=us-ascii\r\n"
                              "Content-Disposition: inline\r\n\r\n"
                              "[Postern removed this part: x.scr (application/octet-stream)]"
                              "\r\n\r\n--b--\r\nepi\r\n"));
    free(w);
}

static void nested_and_attached_messages_are_walked(void **state)
{
    const char *msg = "Content-Type: multipart/mixed; boundary=\"o\"\r\n\r\n"
                      "--o\r\nContent-Type: multipart/alternative; boundary=\"i\"\r\n\r\n"
                      "--i\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
                      "--i\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--i--\r\n"
                      "--o\r\nContent-Type: message/rfc822\r\n\r\n"
                      "Subject: inner\r\nContent-Type: application/zip; name=a.zip\r\n\r\n"
                      "UEsDBA\r\n--o--\r\n";
    unsigned removed;
    char *w = wrap(msg, &PARAMS, &removed);
    (void)state;
    assert_int_equal(removed, 1);
    assert_non_null(strstr(w, "plain\r\n"));
    assert_non_null(strstr(w, "<p>html</p>"));
    assert_non_null(strstr(w, "Subject: inner\r\nContent-Type: text/plain; charset=us-ascii"));
    assert_non_null(strstr(w, "[Postern removed this part: a.zip (application/zip)]"));
    assert_null(strstr(w, "UEsDBA"));
    assert_non_null(strstr(w, "Subject: [WARNING] dangerous content removed\r\n"));
    free(w);
}

static void a_virus_removes_text_parts_too(void **state)
{
    struct wrap_params p = PARAMS;
    const char *msg = "Subject: x\r\nFrom: a@b\r\n\r\nX5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR\r\n";
    unsigned removed;
    char *w;
    (void)state;
    p.reason = "virus Eicar-Signature";
    p.virus = true;
    w = wrap(msg, &p, &removed);
    assert_int_equal(removed, 1);
    assert_null(strstr(w, "EICAR"));
    assert_non_null(strstr(w, "\r\n\r\nSubject: x\r\nFrom: a@b\r\n"
                              "Content-Type: text/plain; charset=us-ascii\r\n"));
    assert_non_null(strstr(w, "contained virus Eicar-Signature."));
    free(w);
}

static void boundary_never_clashes_with_the_content(void **state)
{
    const char *msg = "Subject: x\r\n\r\n--=_postern_wrap_QID1_0\r\n";
    char *w = wrap(msg, &PARAMS, NULL);
    (void)state;
    assert_non_null(strstr(w, "boundary=\"=_postern_wrap_QID1_1\""));
    free(w);
}

static void malformed_multipart_is_removed_whole(void **state)
{
    const char *msg = "Content-Type: multipart/mixed; boundary=zz\r\n\r\nno delimiters\r\n";
    unsigned removed;
    char *w = wrap(msg, &PARAMS, &removed);
    (void)state;
    assert_int_equal(removed, 1);
    assert_null(strstr(w, "no delimiters"));
    free(w);
}

/* What the file-type check sees is what goes: a uuencoded file inside a kept text part,
 * an RFC 2231 name, a part behind a boundary line with junk after it (content/mime.h). */
static void parts_the_mime_parser_sees_are_removed(void **state)
{
    const char *msg = "Subject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                      "--b\r\nContent-Type: text/plain\r\n\r\nsee this\r\n"
                      "begin 644 run.exe\r\n#86)C\r\n`\r\nend\r\nthanks\r\n"
                      "--b junk\r\nContent-Type: text/plain\r\n"
                      "Content-Disposition: attachment; filename*=utf-8''a%20b.scr\r\n\r\n"
                      "MZ-text\r\n--b--\r\n";
    unsigned removed;
    char *w = wrap(msg, &PARAMS, &removed);
    (void)state;
    assert_int_equal(removed, 2);
    assert_non_null(strstr(w, "see this\r\n[Postern removed this part: run.exe "
                              "(application/octet-stream)]\r\nthanks\r\n"));
    assert_null(strstr(w, "#86)C"));
    assert_non_null(strstr(w, "[Postern removed this part: a b.scr (text/plain)]"));
    assert_null(strstr(w, "MZ-text"));
    free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(attachment_is_replaced_and_text_kept),
        cmocka_unit_test(nested_and_attached_messages_are_walked),
        cmocka_unit_test(a_virus_removes_text_parts_too),
        cmocka_unit_test(boundary_never_clashes_with_the_content),
        cmocka_unit_test(malformed_multipart_is_removed_whole),
        cmocka_unit_test(parts_the_mime_parser_sees_are_removed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
