/*
 * test_mime.c - unit tests for content/mime.c (the streaming MIME parser) and
 * content/mime_header.c (parameters, RFC 2231, RFC 2047): part trees, every transfer
 * encoding, file names in each encoding, malformations that set flags without hiding a
 * part, limits, and the same events whatever the chunk boundaries (every split point of
 * small messages, CR LF split between feeds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "content/charset.h"
#include "content/mime.h"
#include "content/mime_header.h"

#define MAXP 64

struct rec_part {
    struct mime_part info;     /* as at part_end */
    bool began, ended;
    char *data;
    size_t len;
};

struct rec {
    struct rec_part p[MAXP];
    size_t n;
    unsigned flags;
    unsigned count;
    int order_errors;
};

static struct rec_part *find(struct rec *r, unsigned id)
{
    size_t i;
    for (i = 0; i < r->n; i++)
        if (r->p[i].info.id == id)
            return &r->p[i];
    return NULL;
}

static void on_begin(void *arg, const struct mime_part *p)
{
    struct rec *r = arg;
    assert_true(r->n < MAXP);
    memset(&r->p[r->n], 0, sizeof(r->p[r->n]));
    r->p[r->n].info = *p;
    r->p[r->n].began = true;
    r->n++;
}

static void on_data(void *arg, const struct mime_part *p, const unsigned char *d, size_t n)
{
    struct rec *r = arg;
    struct rec_part *q = find(r, p->id);
    assert_non_null(q);
    assert_true(n > 0);
    if (q->ended)
        r->order_errors++;
    q->data = realloc(q->data, q->len + n + 1);
    memcpy(q->data + q->len, d, n);
    q->len += n;
    q->data[q->len] = '\0';
}

static void on_end(void *arg, const struct mime_part *p)
{
    struct rec *r = arg;
    struct rec_part *q = find(r, p->id);
    assert_non_null(q);
    q->info = *p;
    q->ended = true;
    assert_int_equal(p->size, q->len);
    assert_true(p->head_len == (q->len < MIME_HEAD_MAX ? q->len : MIME_HEAD_MAX));
    if (q->len > 0)
        assert_memory_equal(p->head, q->data, p->head_len);
}

static const struct mime_callbacks cbs = { on_begin, on_data, on_end, NULL };

static void rec_free(struct rec *r)
{
    size_t i;
    for (i = 0; i < r->n; i++)
        free(r->p[i].data);
}

/* Parse s in pieces of `chunk` bytes (0: one piece). */
static void parse_lim(struct rec *r, const char *s, size_t len, size_t chunk,
                      const struct mime_limits *lim)
{
    struct mime_parser *m = mime_new(lim, &cbs, r);
    size_t i;

    memset(r, 0, sizeof(*r));
    if (chunk == 0)
        chunk = len ? len : 1;
    for (i = 0; i < len; i += chunk)
        mime_feed(m, s + i, len - i < chunk ? len - i : chunk);
    mime_end(m);
    mime_end(m);
    r->flags = mime_flags(m);
    r->count = mime_part_count(m);
    mime_free(m);
    for (i = 0; i < r->n; i++)
        assert_true(r->p[i].ended);
    assert_int_equal(r->order_errors, 0);
}

static void parse(struct rec *r, const char *s)
{
    parse_lim(r, s, strlen(s), 0, NULL);
}

/* Parsing at every split into two pieces, and byte by byte, gives the same events. */
static void same_at_every_split(const char *s)
{
    struct rec a, b;
    size_t len = strlen(s), cut, i;

    parse(&a, s);
    for (cut = 0; cut <= len; cut++) {
        struct mime_parser *m = mime_new(NULL, &cbs, &b);
        memset(&b, 0, sizeof(b));
        mime_feed(m, s, cut);
        mime_feed(m, s + cut, len - cut);
        mime_end(m);
        b.flags = mime_flags(m);
        mime_free(m);
        assert_int_equal(a.n, b.n);
        assert_int_equal(a.flags, b.flags);
        for (i = 0; i < a.n; i++) {
            assert_int_equal(a.p[i].len, b.p[i].len);
            if (a.p[i].len)
                assert_memory_equal(a.p[i].data, b.p[i].data, a.p[i].len);
            assert_string_equal(a.p[i].info.type, b.p[i].info.type);
            assert_string_equal(a.p[i].info.filename, b.p[i].info.filename);
            assert_int_equal(a.p[i].info.flags, b.p[i].info.flags);
        }
        rec_free(&b);
    }
    parse_lim(&b, s, len, 1, NULL);
    assert_int_equal(a.n, b.n);
    for (i = 0; i < a.n; i++)
        assert_int_equal(a.p[i].len, b.p[i].len);
    rec_free(&b);
    rec_free(&a);
}

/* ---- messages ------------------------------------------------------------------------ */

#define MIXED \
    "Received: from x\r\n" \
    "Subject: test\r\n" \
    "MIME-Version: 1.0\r\n" \
    "Content-Type: multipart/mixed;\r\n boundary=\"XX\"\r\n" \
    "\r\n" \
    "preamble\r\n" \
    "--XX\r\n" \
    "Content-Type: text/plain; charset=ISO-8859-1\r\n" \
    "Content-Transfer-Encoding: quoted-printable\r\n" \
    "\r\n" \
    "caf=E9 soft=\r\n" \
    "break\r\n" \
    "\r\n" \
    "--XX\r\n" \
    "Content-Type: application/pdf; name=\"report.final.pdf\"\r\n" \
    "Content-Disposition: attachment; filename=\"report.final.pdf\"\r\n" \
    "Content-Transfer-Encoding: base64\r\n" \
    "\r\n" \
    "JVBERi0xLjQK\r\n" \
    "SGVsbG8=\r\n" \
    "--XX--\r\n" \
    "epilogue\r\n"

static void multipart_mixed_gives_each_part_decoded(void **state)
{
    struct rec r;
    (void)state;
    parse(&r, MIXED);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.flags, 0);
    assert_string_equal(r.p[0].info.type, "multipart/mixed");
    assert_int_equal(r.p[0].info.kind, MIME_KIND_MULTIPART);
    assert_string_equal(r.p[1].info.type, "text/plain");
    assert_string_equal(mime_subtype(&r.p[1].info), "plain");
    assert_string_equal(r.p[1].info.charset, "iso-8859-1");
    assert_int_equal(r.p[1].info.parent, 0);
    assert_int_equal(r.p[1].info.depth, 1);
    assert_int_equal(r.p[1].len, strlen("caf\xe9 softbreak\r\n"));
    assert_memory_equal(r.p[1].data, "caf\xe9 softbreak\r\n", r.p[1].len);
    assert_string_equal(r.p[2].info.filename, "report.final.pdf");
    assert_string_equal(r.p[2].info.name, "report.final.pdf");
    assert_true(r.p[2].info.attachment);
    assert_int_equal(r.p[2].len, 14);
    assert_memory_equal(r.p[2].data, "%PDF-1.4\nHello", 14);
    assert_memory_equal(r.p[2].info.head, "%PDF-1.4", 8);
    rec_free(&r);
}

static void every_chunk_split_gives_the_same_events(void **state)
{
    (void)state;
    same_at_every_split(MIXED);
}

static void crlf_split_between_feeds_is_one_line_end(void **state)
{
    static const char *msg = "Content-Type: text/plain\r\n\r\nab\r\ncd\r\n";
    struct mime_parser *m;
    struct rec r;
    (void)state;
    memset(&r, 0, sizeof(r));
    m = mime_new(NULL, &cbs, &r);
    mime_feed(m, msg, 27);     /* ends with the CR of the empty line */
    mime_feed(m, msg + 27, 5);   /* "\nab\r" */
    mime_feed(m, msg + 32, strlen(msg) - 32);
    mime_end(m);
    assert_int_equal(mime_flags(m), 0);
    mime_free(m);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.p[0].len, 8);
    assert_memory_equal(r.p[0].data, "ab\r\ncd\r\n", 8);
    rec_free(&r);
}

static void plain_message_without_mime_is_one_text_part(void **state)
{
    struct rec r;
    (void)state;
    parse(&r, "Subject: hi\r\n\r\nhello\r\n");
    assert_int_equal(r.n, 1);
    assert_string_equal(r.p[0].info.type, "text/plain");
    assert_false(r.p[0].info.type_declared);
    assert_string_equal(r.p[0].data, "hello\r\n");
    assert_int_equal(r.flags, 0);
    rec_free(&r);
}

static void nested_multipart_and_message_rfc822_are_recursed(void **state)
{
    static const char *msg =
        "Content-Type: multipart/mixed; boundary=outer\r\n\r\n"
        "--outer\r\n"
        "Content-Type: multipart/alternative; boundary=inner\r\n\r\n"
        "--inner\r\n"
        "Content-Type: text/plain\r\n\r\nplain\r\n"
        "--inner\r\n"
        "Content-Type: text/html; charset=\"UTF-8\"\r\n\r\n<p>html</p>\r\n"
        "--inner--\r\n"
        "--outer\r\n"
        "Content-Type: message/rfc822\r\n\r\n"
        "Subject: inner\r\n"
        "Content-Type: multipart/mixed; boundary=deep\r\n\r\n"
        "--deep\r\n"
        "Content-Type: application/octet-stream; name=evil.exe\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        "TVqQAAMAAAAEAAAA\r\n"
        "--deep--\r\n"
        "--outer--\r\n";
    struct rec r;
    (void)state;
    parse(&r, msg);
    assert_int_equal(r.flags, 0);
    assert_int_equal(r.n, 7);
    assert_string_equal(r.p[1].info.type, "multipart/alternative");
    assert_string_equal(r.p[2].data, "plain");
    assert_string_equal(r.p[3].info.type, "text/html");
    assert_string_equal(mime_subtype(&r.p[3].info), "html");
    assert_string_equal(r.p[3].info.charset, "utf-8");
    assert_string_equal(r.p[3].data, "<p>html</p>");
    assert_int_equal(r.p[4].info.kind, MIME_KIND_MESSAGE);
    assert_int_equal(r.p[5].info.kind, MIME_KIND_MULTIPART);
    assert_int_equal(r.p[5].info.parent, r.p[4].info.id);
    assert_string_equal(r.p[6].info.name, "evil.exe");
    assert_int_equal(r.p[6].info.depth, 3);
    assert_memory_equal(r.p[6].data, "MZ\x90\0\x03\0\0\0\x04\0\0\0", 12);
    same_at_every_split(msg);
    rec_free(&r);
}

static void uuencoded_file_in_a_text_body_is_its_own_part(void **state)
{
    static const char *msg =
        "Subject: uu\r\n\r\n"
        "see attached\r\n"
        "begin 644 test.exe\r\n"
        "%35J0``,`\r\n"          /* "MZ\x90\0\x03" */
        "`\r\n"
        "end\r\n"
        "bye\r\n";
    struct rec r;
    (void)state;
    parse(&r, msg);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.flags, 0);
    assert_true(r.p[1].info.uuencoded);
    assert_string_equal(r.p[1].info.filename, "test.exe");
    assert_int_equal(r.p[1].info.parent, 0);
    assert_int_equal(r.p[1].len, 5);
    assert_memory_equal(r.p[1].data, "MZ\x90\0\x03", 5);
    assert_string_equal(r.p[0].data, "see attached\r\nbye\r\n");
    same_at_every_split(msg);
    rec_free(&r);
}

static void uuencode_transfer_encoding_is_decoded(void **state)
{
    struct rec r;
    (void)state;
    parse(&r, "Content-Type: application/octet-stream\r\n"
              "Content-Transfer-Encoding: x-uuencode\r\n\r\n"
              "begin 600 a.bin\r\n#86)C\r\n`\r\nend\r\n");
    assert_int_equal(r.n, 1);
    assert_int_equal(r.flags, 0);
    assert_string_equal(r.p[0].info.filename, "a.bin");
    assert_string_equal(r.p[0].data, "abc");
    rec_free(&r);
}

static void unterminated_uuencode_is_flagged_and_kept(void **state)
{
    struct rec r;
    (void)state;
    parse(&r, "Subject: uu\r\n\r\nbegin 644 x.scr\r\n#86)C\r\n");
    assert_int_equal(r.n, 2);
    assert_string_equal(r.p[1].data, "abc");
    assert_true(r.flags & MIME_F_BAD_UUENCODE);
    rec_free(&r);
}

static void eight_bit_and_binary_are_passed_as_is(void **state)
{
    struct rec r;
    (void)state;
    parse(&r, "Content-Type: text/plain; charset=utf-8\r\n"
              "Content-Transfer-Encoding: 8bit\r\n\r\n\xc3\xa9t\xc3\xa9\nline2");
    assert_int_equal(r.p[0].info.encoding, MIME_ENC_8BIT);
    assert_string_equal(r.p[0].data, "\xc3\xa9t\xc3\xa9\nline2");
    rec_free(&r);
}

/* ---- names --------------------------------------------------------------------------- */

static void rfc2231_continued_encoded_filename_is_decoded(void **state)
{
    static const char *msg =
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        "--b\r\n"
        "Content-Type: application/octet-stream\r\n"
        "Content-Disposition: attachment;\r\n"
        " filename*0*=UTF-8''r%C3%A9sum;\r\n"
        " filename*1*=%C3%A9;\r\n"
        " filename*2=\".pdf.exe\"\r\n\r\n"
        "x\r\n"
        "--b--\r\n";
    struct rec r;
    (void)state;
    parse(&r, msg);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.p[1].info.filename, "r\xc3\xa9sum\xc3\xa9.pdf.exe");
    assert_int_equal(r.flags, 0);
    rec_free(&r);
}

static void rfc2231_single_and_latin1_names(void **state)
{
    char out[256];
    unsigned fl = 0;
    (void)state;
    assert_true(mime_hdr_param("attachment; filename*=iso-8859-1'fr'caf%E9.scr", "filename",
                               true, out, sizeof(out), &fl));
    assert_string_equal(out, "caf\xc3\xa9.scr");
    assert_true(mime_hdr_param("attachment; filename*0=\"a b\"; filename*1=\"c.exe\"",
                               "filename", true, out, sizeof(out), &fl));
    assert_string_equal(out, "a bc.exe");
    assert_int_equal(fl, 0);
    /* the RFC 2231 form wins over a plain one */
    assert_true(mime_hdr_param("attachment; filename=\"ok.txt\"; filename*=UTF-8''bad.exe",
                               "filename", true, out, sizeof(out), &fl));
    assert_string_equal(out, "bad.exe");
    assert_false(mime_hdr_param("attachment", "filename", true, out, sizeof(out), &fl));
    /* "name" does not match "filename" and vice versa */
    assert_false(mime_hdr_param("text/plain; filename=a", "name", true, out, sizeof(out),
                                &fl));
}

static void rfc2047_names_are_decoded(void **state)
{
    char out[256];
    unsigned fl = 0;
    (void)state;
    assert_true(mime_hdr_param("application/x; name=\"=?UTF-8?B?ZmFjdHVyZS5wZGYuZXhl?=\"",
                               "name", true, out, sizeof(out), &fl));
    assert_string_equal(out, "facture.pdf.exe");
    mime_decode_words("=?iso-8859-1?q?caf=E9?= =?iso-8859-1?q?_au_lait?= x", 51, out,
                      sizeof(out), &fl);
    assert_string_equal(out, "caf\xc3\xa9 au lait x");
    /* a character split between two B words of one charset */
    mime_decode_words("=?UTF-8?B?w6k=?= =?UTF-8?B?w6k=?=", 33, out, sizeof(out), &fl);
    assert_string_equal(out, "\xc3\xa9\xc3\xa9");
    mime_decode_words("plain =?bogus", 13, out, sizeof(out), &fl);
    assert_string_equal(out, "plain =?bogus");
    assert_int_equal(fl, 0);
}

static void unknown_charset_and_bad_utf8_become_question_marks(void **state)
{
    char out[16];
    bool lossy;
    (void)state;
    charset_to_utf8("x-no-such-charset", "a\xff", 2, out, sizeof(out), &lossy);
    assert_string_equal(out, "a?");
    assert_true(lossy);
    charset_to_utf8("windows-1252", "\x80", 1, out, sizeof(out), &lossy);
    assert_string_equal(out, "\xe2\x82\xac");
    /* bounded: never past out_size, never a cut sequence */
    charset_to_utf8("utf-8", "\xc3\xa9\xc3\xa9\xc3\xa9", 6, out, 4, &lossy);
    assert_string_equal(out, "\xc3\xa9");
    assert_true(lossy);
}

static void content_type_name_and_disposition_filename_are_both_kept(void **state)
{
    struct rec r;
    (void)state;
    parse(&r, "Content-Type: image/jpeg; name=\"photo.jpeg\"\r\n"
              "Content-Disposition: inline; filename=\"photo.scr\"\r\n\r\nx");
    assert_string_equal(r.p[0].info.name, "photo.jpeg");
    assert_string_equal(r.p[0].info.filename, "photo.scr");
    assert_string_equal(mime_part_filename(&r.p[0].info), "photo.scr");
    assert_false(r.p[0].info.attachment);
    rec_free(&r);
}

static void header_tokens_and_types(void **state)
{
    char out[64];
    (void)state;
    assert_true(mime_hdr_type(" Text/HTML ; charset=x", out, sizeof(out)));
    assert_string_equal(out, "text/html");
    assert_false(mime_hdr_type("text", out, sizeof(out)));
    assert_false(mime_hdr_type("/x", out, sizeof(out)));
    mime_hdr_token(" Base64 (comment)", out, sizeof(out));
    assert_string_equal(out, "base64");
}

/* ---- malformed ----------------------------------------------------------------------- */

static void missing_closing_boundary_is_flagged_and_parts_kept(void **state)
{
    struct rec r;
    (void)state;
    parse(&r, "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n"
              "--b\r\nContent-Type: application/x-msdownload; name=a.exe\r\n\r\nMZ");
    assert_int_equal(r.n, 3);
    assert_true(r.flags & MIME_F_NO_CLOSE_BOUNDARY);
    assert_string_equal(r.p[2].info.name, "a.exe");
    assert_string_equal(r.p[2].data, "MZ");
    rec_free(&r);
}

static void header_line_without_colon_ends_the_header(void **state)
{
    struct rec r;
    (void)state;
    parse(&r, "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
              "Content-Type: text/plain\r\nthis is no header\r\nmore\r\n--b--\r\n");
    assert_int_equal(r.n, 2);
    assert_true(r.flags & MIME_F_HEADER_NO_COLON);
    assert_string_equal(r.p[1].data, "this is no header\r\nmore");
    rec_free(&r);
}

static void eight_bit_in_header_is_flagged(void **state)
{
    struct rec r;
    (void)state;
    parse(&r, "Subject: \xe9t\xe9\r\n\r\nx");
    assert_true(r.flags & MIME_F_HEADER_8BIT);
    rec_free(&r);
}

static void boundary_inside_a_header_opens_the_next_part(void **state)
{
    struct rec r;
    (void)state;
    parse(&r, "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
              "Content-Type: text/plain\r\n--b\r\n"
              "Content-Type: application/octet-stream; name=x.exe\r\n\r\nMZ\r\n--b--\r\n");
    assert_int_equal(r.n, 3);
    assert_true(r.flags & MIME_F_BOUNDARY_IN_HEADER);
    assert_string_equal(r.p[2].info.name, "x.exe");
    rec_free(&r);
}

static void overlong_lines_are_flagged_and_data_kept(void **state)
{
    size_t n = 20000, i;
    char *msg = malloc(n + 64);
    struct rec r;
    (void)state;
    i = (size_t)sprintf(msg, "Subject: x\r\n\r\n");
    memset(msg + i, 'a', n);
    msg[i + n] = '\0';
    parse_lim(&r, msg, strlen(msg), 777, NULL);
    assert_true(r.flags & MIME_F_LONG_LINE);
    assert_int_equal(r.p[0].len, n);
    rec_free(&r);
    /* a long header field */
    i = (size_t)sprintf(msg, "Content-Type: text/plain; name=\"");
    memset(msg + i, 'b', n - i);
    strcpy(msg + n, "\"\r\n\r\nx");
    parse(&r, msg);
    assert_true(r.flags & MIME_F_LONG_LINE);
    assert_true(r.flags & MIME_F_HEADER_TOO_LONG);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.p[0].data, "x");
    rec_free(&r);
    free(msg);
}

static void bad_base64_is_flagged_and_decoded_around(void **state)
{
    struct rec r;
    (void)state;
    parse(&r, "Content-Transfer-Encoding: base64\r\n\r\nYW*Jj\r\nZA");
    assert_true(r.flags & MIME_F_BAD_BASE64);
    assert_string_equal(r.p[0].data, "abcd");
    rec_free(&r);
}

static void bad_quoted_printable_is_kept_literally(void **state)
{
    struct rec r;
    (void)state;
    parse(&r, "Content-Transfer-Encoding: quoted-printable\r\n\r\na=zz=4\r\n");
    assert_true(r.flags & MIME_F_BAD_QP);
    assert_string_equal(r.p[0].data, "a=zz=4\r\n");
    rec_free(&r);
}

static void multipart_without_boundary_is_a_flagged_leaf(void **state)
{
    struct rec r;
    (void)state;
    parse(&r, "Content-Type: multipart/mixed\r\n\r\n--x\r\nbody\r\n");
    assert_int_equal(r.n, 1);
    assert_true(r.flags & MIME_F_NO_BOUNDARY);
    assert_string_equal(r.p[0].data, "--x\r\nbody\r\n");
    rec_free(&r);
}

static void depth_limit_keeps_the_deep_part_as_a_leaf(void **state)
{
    char msg[8192];
    size_t o = 0;
    int i;
    struct mime_limits lim = { .max_depth = 3 };
    struct rec r;
    (void)state;
    for (i = 0; i < 6; i++)
        o += (size_t)sprintf(msg + o, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n"
                                      "--b%d\r\n", i, i);
    o += (size_t)sprintf(msg + o, "Content-Type: text/plain; name=deep.exe\r\n\r\nMZ\r\n");
    parse_lim(&r, msg, o, 0, &lim);
    assert_true(r.flags & MIME_F_DEPTH);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.p[3].info.kind, MIME_KIND_LEAF);
    assert_non_null(strstr(r.p[3].data, "deep.exe"));   /* the rest is its data */
    rec_free(&r);
}

static void part_limit_stops_events_and_is_flagged(void **state)
{
    char *msg = malloc(100000);
    size_t o = 0;
    int i;
    struct mime_limits lim = { .max_parts = 10 };
    struct rec r;
    (void)state;
    o += (size_t)sprintf(msg, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
    for (i = 0; i < 500; i++)
        o += (size_t)sprintf(msg + o, "--b\r\n\r\npart %d\r\n", i);
    o += (size_t)sprintf(msg + o, "--b--\r\n");
    parse_lim(&r, msg, o, 100, &lim);
    assert_int_equal(r.n, 10);
    assert_int_equal(r.count, 501);
    assert_true(r.flags & MIME_F_TOO_MANY_PARTS);
    rec_free(&r);
    {   /* 501 parts are within the default limit */
        struct mime_parser *m = mime_new(NULL, NULL, NULL);
        mime_feed(m, msg, o);
        mime_end(m);
        assert_int_equal(mime_flags(m), 0);
        assert_int_equal(mime_part_count(m), 501);
        mime_free(m);
    }
    free(msg);
}

static void garbage_never_crashes(void **state)
{
    unsigned char buf[4096];
    unsigned seed = 12345;
    int round;
    (void)state;
    for (round = 0; round < 200; round++) {
        size_t i, len = 1 + seed % sizeof(buf);
        struct mime_parser *m;
        static const char *const bits[] = { "--b\r\n", "\r\n", "Content-Type: multipart/mixed; "
            "boundary=b\r\n", "begin 644 a\r\n", "=\r\n", "Content-Transfer-Encoding: base64"
            "\r\n", "message/rfc822", "\n" };
        for (i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 16) % 7 == 0) {
                const char *b = bits[(seed >> 8) % 8];
                size_t k = strlen(b);
                if (i + k > len)
                    k = len - i;
                memcpy(buf + i, b, k);
                i += k - 1;
            } else {
                buf[i] = (unsigned char)(seed >> 16);
            }
        }
        m = mime_new(NULL, NULL, NULL);
        mime_feed(m, buf, len / 2);
        mime_feed(m, buf + len / 2, len - len / 2);
        mime_end(m);
        mime_free(m);
    }
}

static void flag_names_exist(void **state)
{
    unsigned b;
    (void)state;
    for (b = 1; b <= MIME_F_BOUNDARY_JUNK; b <<= 1)
        assert_true(mime_flag_name(b)[0] != '\0');
    assert_string_equal(mime_flag_name(0), "");
}

/* Offsets: each part's raw range, whatever the chunking; header fields reported. */
static char fields[512];

static void on_field(void *arg, const struct mime_part *p, const char *name, size_t nl,
                     const char *v, size_t vl)
{
    size_t l = strlen(fields);
    (void)arg;
    snprintf(fields + l, sizeof(fields) - l, "%u:%.*s=%.*s|", p->id, (int)nl, name, (int)vl, v);
}

static void offsets_and_header_fields(void **state)
{
    static const char msg[] =
        "Subject: a\r\n b\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
        "pre\r\n--B\r\nX-A: 1\r\n\r\nhello\r\nbegin 644 f.bin\r\n#86)C\r\n`\r\nend\r\nbye\r\n"
        "--B\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\ninner\r\n--B--\r\nepi\r\n";
    static const struct mime_callbacks fcb = { on_begin, on_data, on_end, on_field };
    size_t chunk;

    (void)state;
    for (chunk = 0; chunk <= 7; chunk += 7) {
        struct rec r;
        struct mime_parser *m;
        const char *b = msg;
        size_t i;

        memset(&r, 0, sizeof(r));
        fields[0] = '\0';
        m = mime_new(NULL, &fcb, &r);
        for (i = 0; i < sizeof(msg) - 1; i += chunk ? chunk : sizeof(msg))
            mime_feed(m, msg + i, chunk && sizeof(msg) - 1 - i > chunk ? chunk
                                                                       : sizeof(msg) - 1 - i);
        mime_end(m);
        mime_free(m);
        assert_string_equal(fields, "0:Subject= a b|0:Content-Type= multipart/mixed; boundary=B|"
                                    "1:X-A= 1|3:Content-Type= message/rfc822|4:Subject= in|");
        assert_int_equal(r.n, 5);
        /* 0 the message, 1 the text, 2 the uuencoded file in it, 3 message/rfc822, 4 inside */
        assert_int_equal(find(&r, 0)->info.off_begin, 0);
        assert_int_equal(find(&r, 0)->info.off_end, sizeof(msg) - 1);
        assert_true(strncmp(b + find(&r, 0)->info.off_body, "pre\r\n", 5) == 0);
        assert_true(strncmp(b + find(&r, 1)->info.off_begin, "X-A: 1\r\n\r\nhello", 15) == 0);
        assert_true(strncmp(b + find(&r, 1)->info.off_body, "hello\r\n", 7) == 0);
        assert_true(strncmp(b + find(&r, 1)->info.off_end, "\r\n--B\r\n", 7) == 0);
        assert_true(strncmp(b + find(&r, 2)->info.off_begin, "begin 644", 9) == 0);
        assert_true(strncmp(b + find(&r, 2)->info.off_end, "bye\r\n", 5) == 0);
        assert_true(strncmp(b + find(&r, 3)->info.off_body, "Subject: in", 11) == 0);
        assert_int_equal(find(&r, 4)->info.off_begin, find(&r, 3)->info.off_body);
        assert_true(strncmp(b + find(&r, 4)->info.off_body, "inner\r\n--B--", 12) == 0);
        assert_true(strncmp(b + find(&r, 4)->info.off_end, "\r\n--B--", 7) == 0);
        assert_int_equal(find(&r, 3)->info.off_end, find(&r, 4)->info.off_end);
        rec_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(multipart_mixed_gives_each_part_decoded),
        cmocka_unit_test(every_chunk_split_gives_the_same_events),
        cmocka_unit_test(crlf_split_between_feeds_is_one_line_end),
        cmocka_unit_test(plain_message_without_mime_is_one_text_part),
        cmocka_unit_test(nested_multipart_and_message_rfc822_are_recursed),
        cmocka_unit_test(uuencoded_file_in_a_text_body_is_its_own_part),
        cmocka_unit_test(uuencode_transfer_encoding_is_decoded),
        cmocka_unit_test(unterminated_uuencode_is_flagged_and_kept),
        cmocka_unit_test(eight_bit_and_binary_are_passed_as_is),
        cmocka_unit_test(rfc2231_continued_encoded_filename_is_decoded),
        cmocka_unit_test(rfc2231_single_and_latin1_names),
        cmocka_unit_test(rfc2047_names_are_decoded),
        cmocka_unit_test(unknown_charset_and_bad_utf8_become_question_marks),
        cmocka_unit_test(content_type_name_and_disposition_filename_are_both_kept),
        cmocka_unit_test(header_tokens_and_types),
        cmocka_unit_test(missing_closing_boundary_is_flagged_and_parts_kept),
        cmocka_unit_test(header_line_without_colon_ends_the_header),
        cmocka_unit_test(eight_bit_in_header_is_flagged),
        cmocka_unit_test(boundary_inside_a_header_opens_the_next_part),
        cmocka_unit_test(overlong_lines_are_flagged_and_data_kept),
        cmocka_unit_test(bad_base64_is_flagged_and_decoded_around),
        cmocka_unit_test(bad_quoted_printable_is_kept_literally),
        cmocka_unit_test(multipart_without_boundary_is_a_flagged_leaf),
        cmocka_unit_test(depth_limit_keeps_the_deep_part_as_a_leaf),
        cmocka_unit_test(part_limit_stops_events_and_is_flagged),
        cmocka_unit_test(garbage_never_crashes),
        cmocka_unit_test(flag_names_exist),
        cmocka_unit_test(offsets_and_header_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
