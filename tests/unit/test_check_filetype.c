/*
 * test_check_filetype.c - engine-level tests of the filetype check
 * (policy/checks/check_filetype.c) with a real libevent loop and check pool: the message is a
 * spooled file read at END. Inbound mail with a blocked attachment is wrapped (the
 * default file_action), submitted mail is refused 554 5.7.1 naming the file, a domain's
 * own file_action and blocked lists apply to its recipients, names inside a zip and
 * renamed executables are found, malformed MIME gives MIME_MALFORMED and the strict
 * level refuses it, and a message that cannot be read is deferred, never passed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "policy/engine.h"
#include "policy/outage.h"
#include "policy/user_store.h"
#include "tests/checks/check_test.h"
#include "tests/unit/engine_testharness.h"

struct fx {
    struct event_base *base;
    struct pt_root cfg;
    struct outage *outages;
    struct workpool *pool;
    struct user_store *store;
    struct engine *e;
};

static struct fx *fx;

static void on_event(void *arg, const char *type, json_t *data)
{
    (void)arg;
    (void)type;
    json_decref(data);
}

static int setup(void **state)
{
    char *json = NULL;
    struct engine_env env;

    (void)state;
    fx = calloc(1, sizeof(*fx));
    fx->base = event_base_new();
    fx->outages = outage_new(on_event, fx);
    fx->pool = workpool_new_bounded(fx->base, 1, 4);
    fx->store = user_store_memory_new(fx->base);
    env = (struct engine_env){
        .base = fx->base, .check_pool = fx->pool, .outages = fx->outages,
        .hostname = "mx.test", .event = on_event, .event_arg = fx,
    };
    assert_true(asprintf(&json,
        "{\"relay\": {\"local_domains\": [\"a.test\", \"strict.test\", \"rej.test\","
        "                                 \"pdf.test\", \"off.test\", \"mark.test\","
        "                                 \"lvl.test\"]},"
        " \"domains\": {\"strict.test\": {\"level\": \"high\"},"
        "   \"lvl.test\": {\"level\": \"pdfonly\"},"
        "   \"rej.test\": {\"file_action\": \"reject\"},"
        "   \"off.test\": {\"file_action\": \"off\"},"
        "   \"mark.test\": {\"file_action\": \"mark\"},"
        "   \"pdf.test\": {\"blocked_extensions\": [\"pdf\"], \"blocked_types\": []}},"
        " \"policy\": {\"levels\": {\"pdfonly\": {\"blocked_extensions\": [\"pdf\"]}},"
        "   \"profiles\": {\"p\": {\"checks\": {\"filetype\": {}}},"
        "   \"sub\": {\"direction\": \"submission\", \"checks\": {\"filetype\": {}}}}}}") > 0);
    fx->e = eh_engine_new(json, &fx->cfg, &env, fx->store);
    free(json);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    engine_free(fx->e);
    pt_free(&fx->cfg);
    workpool_free(fx->pool);
    user_store_free(fx->store);
    outage_free(fx->outages);
    event_base_free(fx->base);
    free(fx);
    return 0;
}

static void run(struct engine_session *s, enum engine_stage st)
{
    eh_run(fx->base, s, st);
}

struct outcome {
    char reply[300];               /* "" when accepted */
    enum disposition disp;
    char reason[300];
    bool blocked, malformed;
    char blocked_text[300];
    char headers[300];
    char fact[300];                /* the filetype.blocked fact, as JSON */
};

enum fd_kind { FD_READ, FD_BAD, FD_WRITE_ONLY };

/* Deliver msg from sender to rcpt through profile; fdk: how the queue file is open
 * (FD_BAD: the message cannot be read; FD_WRITE_ONLY: as the spool writes it). */
static void deliver_fd(const char *profile, const char *rcpt, const char *msg,
                       enum fd_kind fdk, struct outcome *o)
{
    struct engine_session *s = engine_session_new(fx->e, engine_profile_find(fx->e, profile),
                                                  "mx", "192.0.2.10");
    const struct engine_reply *r;
    struct engine_message m;
    FILE *f = tmpfile();
    size_t i;
    int wfd = -1;
    char path[40];

    memset(o, 0, sizeof(*o));
    assert_non_null(f);
    fputs(msg, f);
    fflush(f);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fileno(f));
    if (fdk == FD_WRITE_ONLY)
        assert_true((wfd = open(path, O_WRONLY | O_CLOEXEC)) >= 0);
    if (strcmp(profile, "sub") == 0)
        engine_session_set_login(s, "user@a.test");
    engine_tx_begin(s, "sender@sender.test", "QID1");
    run(s, STAGE_MAIL);
    engine_rcpt_add(s, rcpt);
    run(s, STAGE_RCPT);
    assert_null(engine_rcpt_reply(s, 0));
    run(s, STAGE_DATA);
    m = (struct engine_message){ .fd = fdk == FD_BAD ? -1 : fdk == FD_WRITE_ONLY ? wfd
                                                                              : fileno(f),
                                 .offset = 0,
                                 .size = strlen(msg) };
    engine_set_message(s, &m);
    run(s, STAGE_END);
    if (engine_fact(s, "filetype.blocked") != NULL) {
        char *js = json_dumps(engine_fact(s, "filetype.blocked"), JSON_COMPACT);
        snprintf(o->fact, sizeof(o->fact), "%s", js);
        free(js);
    }
    if ((r = engine_reply(s)) != NULL) {
        json_t *syms = engine_refusal_symbols(s, ENGINE_MESSAGE);
        snprintf(o->reply, sizeof(o->reply), "%d %s %s", r->code, r->ecode, r->text);
        o->blocked = json_object_get(syms, "FILETYPE_BLOCKED") != NULL;
        o->malformed = json_object_get(syms, "MIME_MALFORMED") != NULL;
        json_decref(syms);
    } else {
        const struct rcpt_result *res = engine_result(s, 0);
        assert_non_null(res);
        o->disp = res->disp;
        snprintf(o->reason, sizeof(o->reason), "%s", res->reason ? res->reason : "");
        for (i = 0; i < res->nsyms; i++) {
            if (strcmp(res->syms[i].name, "FILETYPE_BLOCKED") == 0) {
                o->blocked = true;
                snprintf(o->blocked_text, sizeof(o->blocked_text), "%s",
                         res->syms[i].text ? res->syms[i].text : "");
            }
            o->malformed |= strcmp(res->syms[i].name, "MIME_MALFORMED") == 0;
        }
        for (i = 0; i < res->nadd; i++)
            snprintf(o->headers + strlen(o->headers), sizeof(o->headers) - strlen(o->headers),
                     "%s\n", res->add_headers[i]);
    }
    engine_session_free(s);
    if (wfd >= 0)
        close(wfd);
    fclose(f);
}

static void deliver(const char *profile, const char *rcpt, const char *msg, bool bad_fd,
                    struct outcome *o)
{
    deliver_fd(profile, rcpt, msg, bad_fd ? FD_BAD : FD_READ, o);
}

#define ATTACH(name, type, b64) \
    "From: s@sender.test\r\nSubject: file\r\nMIME-Version: 1.0\r\n" \
    "Content-Type: multipart/mixed; boundary=\"==b\"\r\n\r\n" \
    "--==b\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n" \
    "--==b\r\nContent-Type: " type "; name=\"" name "\"\r\n" \
    "Content-Disposition: attachment; filename=\"" name "\"\r\n" \
    "Content-Transfer-Encoding: base64\r\n\r\n" b64 "\r\n--==b--\r\n"

#define PDF_B64 "JVBERi0xLjQKJcOkw7zDtsOfCg=="
#define PE_B64  "TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAA="
/* a stored zip with docs/readme.txt and tool.exe */
#define ZIP_EXE_B64 \
    "UEsDBBQAAAAAAGJlhF2GphA2BQAAAAUAAAAPAAAAZG9jcy9yZWFkbWUudHh0aGVsbG9QSwMEFAAAAAAAYmWEXYB+" \
    "UFgEAAAABAAAAAgAAAB0b29sLmV4ZU1akABQSwECFAMUAAAAAABiZYRdhqYQNgUAAAAFAAAADwAAAAAAAAAAAAAA" \
    "gAEAAAAAZG9jcy9yZWFkbWUudHh0UEsBAhQDFAAAAAAAYmWEXYB+UFgEAAAABAAAAAgAAAAAAAAAAAAAAIABMgAA" \
    "AHRvb2wuZXhlUEsFBgAAAAACAAIAcwAAAFwAAAAAAA=="
/* a deflated zip with a.txt */
#define ZIP_TXT_B64 \
    "UEsDBBQAAAAIAGJlhF3BSEJZDAAAACwBAAAFAAAAYS50eHTLSM3JyVfIGCWJIAFQSwECFAMUAAAACABiZYRdwUhC" \
    "WQwAAAAsAQAABQAAAAAAAAAAAAAAgAEAAAAAYS50eHRQSwUGAAAAAAEAAQAzAAAALwAAAAAA"

static void inbound_blocked_attachment_is_wrapped_by_default(void **state)
{
    struct outcome o;
    (void)state;
    deliver("p", "x@a.test", ATTACH("holiday.scr", "application/octet-stream", PE_B64), false,
            &o);
    assert_string_equal(o.reply, "");
    assert_true(o.blocked);
    assert_string_equal(o.blocked_text, "holiday.scr");
    assert_int_equal(o.disp, DISP_WRAP);
    assert_non_null(strstr(o.reason, "holiday.scr"));
    assert_string_equal(o.fact, "[{\"part\":2,\"file\":\"holiday.scr\","
                                "\"rule\":\"extension\",\"detail\":\"scr\"}]");
}

static void submission_blocked_attachment_is_refused_naming_the_file(void **state)
{
    struct outcome o;
    (void)state;
    deliver("sub", "someone@elsewhere.test",
            ATTACH("invoice.pdf.exe", "application/pdf", PE_B64), false, &o);
    assert_non_null(strstr(o.reply, "554 5.7.1"));
    assert_non_null(strstr(o.reply, "invoice.pdf.exe"));
    assert_true(o.blocked);
}

static void harmless_attachments_pass(void **state)
{
    static const char *const names[] = { "report.final.pdf", "archive.tar.gz", "photo.jpeg" };
    struct outcome o;
    size_t i;
    char msg[2048];
    (void)state;
    for (i = 0; i < 3; i++) {
        snprintf(msg, sizeof(msg), ATTACH("%s", "application/octet-stream", PDF_B64),
                 names[i], names[i]);
        deliver("p", "x@a.test", msg, false, &o);
        assert_string_equal(o.reply, "");
        assert_false(o.blocked);
        assert_false(o.malformed);
        assert_int_equal(o.disp, DISP_PASS);
        assert_string_equal(o.fact, "");
        deliver("sub", "x@elsewhere.test", msg, false, &o);
        assert_string_equal(o.reply, "");
    }
}

static void a_domain_file_action_and_lists_and_level_lists_apply(void **state)
{
    struct outcome o;
    const char *msg = ATTACH("report.pdf", "application/pdf", PDF_B64);
    (void)state;
    deliver("p", "x@rej.test", ATTACH("run.exe", "application/octet-stream", PE_B64), false,
            &o);
    assert_non_null(strstr(o.reply, "554 5.7.1"));
    assert_non_null(strstr(o.reply, "run.exe"));
    deliver("p", "x@off.test", ATTACH("run.exe", "application/octet-stream", PE_B64), false,
            &o);
    assert_string_equal(o.reply, "");
    assert_false(o.blocked);
    deliver("p", "x@mark.test", ATTACH("run.exe", "application/octet-stream", PE_B64), false,
            &o);
    assert_string_equal(o.reply, "");
    assert_non_null(strstr(o.headers, "X-Postern-Blocked-File: run.exe"));
    /* pdf.test's own list blocks pdf; the default list does not */
    deliver("p", "x@pdf.test", msg, false, &o);
    assert_true(o.blocked);
    assert_int_equal(o.disp, DISP_WRAP);
    deliver("p", "x@a.test", msg, false, &o);
    assert_false(o.blocked);
    /* lvl.test names no list: its level's applies (pdf only, not exe) */
    deliver("p", "x@lvl.test", msg, false, &o);
    assert_true(o.blocked);
    deliver("p", "x@lvl.test", ATTACH("run.exe", "application/octet-stream", PE_B64), false,
            &o);
    assert_false(o.blocked);
}

static void names_inside_a_zip_and_renamed_executables_are_blocked(void **state)
{
    struct outcome o;
    (void)state;
    deliver("p", "x@rej.test", ATTACH("docs.zip", "application/zip", ZIP_EXE_B64), false, &o);
    assert_non_null(strstr(o.reply, "tool.exe"));
    assert_non_null(strstr(o.reply, "archive member"));
    deliver("p", "x@a.test", ATTACH("texts.zip", "application/zip", ZIP_TXT_B64), false, &o);
    assert_false(o.blocked);
    deliver("p", "x@rej.test", ATTACH("photo.jpg", "image/jpeg", PE_B64), false, &o);
    assert_non_null(strstr(o.reply, "photo.jpg"));
    assert_non_null(strstr(o.reply, "content"));
}

static void blocked_mime_type_and_uuencoded_file_are_found(void **state)
{
    struct outcome o;
    (void)state;
    deliver("p", "x@rej.test", ATTACH("setup.bin", "application/x-msdownload", PDF_B64), false,
            &o);
    assert_non_null(strstr(o.reply, "mime type"));
    deliver("p", "x@rej.test", "Subject: uu\r\n\r\nhere\r\nbegin 644 game.com\r\n"
                               "#86)C\r\n`\r\nend\r\n", false, &o);
    assert_non_null(strstr(o.reply, "game.com"));
    /* an RFC 2231 encoded, continued name */
    deliver("p", "x@rej.test",
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
            "Content-Disposition: attachment; filename*0*=UTF-8''r%C3%A9sum; "
            "filename*1=\"e.pdf.vbs\"\r\n\r\nx\r\n--b--\r\n", false, &o);
    assert_non_null(strstr(o.reply, "r\xc3\xa9sume.pdf.vbs"));
}

static void malformed_mime_is_a_symbol_and_the_strict_level_refuses(void **state)
{
    const char *msg = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                      "Content-Type: text/plain\r\n\r\nnever closed\r\n";
    struct outcome o;
    (void)state;
    deliver("p", "x@a.test", msg, false, &o);
    assert_string_equal(o.reply, "");
    assert_true(o.malformed);
    deliver("p", "x@strict.test", msg, false, &o);
    assert_non_null(strstr(o.reply, "554 5.7.1 Malformed MIME"));
    assert_non_null(strstr(o.reply, "missing closing boundary"));
    assert_true(o.malformed);
}

static void unreadable_message_is_deferred(void **state)
{
    struct outcome o;
    (void)state;
    deliver("p", "x@a.test", ATTACH("a.pdf", "application/pdf", PDF_B64), true, &o);
    assert_non_null(strstr(o.reply, "451 4.3.0"));
}

static void a_write_only_queue_file_is_read_through_a_new_descriptor(void **state)
{
    struct outcome o;
    (void)state;
    deliver_fd("p", "x@rej.test", ATTACH("a.exe", "application/octet-stream", PE_B64),
               FD_WRITE_ONLY, &o);
    assert_non_null(strstr(o.reply, "554 5.7.1"));
    assert_non_null(strstr(o.reply, "a.exe"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(inbound_blocked_attachment_is_wrapped_by_default,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(submission_blocked_attachment_is_refused_naming_the_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(harmless_attachments_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(a_domain_file_action_and_lists_and_level_lists_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(names_inside_a_zip_and_renamed_executables_are_blocked,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(blocked_mime_type_and_uuencoded_file_are_found,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_mime_is_a_symbol_and_the_strict_level_refuses,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(unreadable_message_is_deferred, setup, teardown),
        cmocka_unit_test_setup_teardown(a_write_only_queue_file_is_read_through_a_new_descriptor,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
