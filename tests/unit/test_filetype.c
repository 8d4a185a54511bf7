/*
 * test_filetype.c - unit tests for the file-type layer of content/: content/magic.c (types
 * from first bytes), content/zip_list.c (names in a zip: local headers, central
 * directory, data descriptors, encrypted entries, a nested zip stored or deflated, fed in
 * small pieces) and content/filetype.c (each blocked extension of the default list, double
 * extensions, MIME types, renamed executables, names inside a zip, and harmless names that
 * must pass).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>

#include "content/filetype.h"
#include "content/magic.h"
#include "content/zip_list.h"

/* ---- a small zip writer ---------------------------------------------------------------- */

struct zbuf {
    unsigned char *b;
    size_t len;
};

static void put(struct zbuf *z, const void *p, size_t n)
{
    z->b = realloc(z->b, z->len + n);
    memcpy(z->b + z->len, p, n);
    z->len += n;
}

static void put16(struct zbuf *z, unsigned v)
{
    unsigned char b[2] = { (unsigned char)v, (unsigned char)(v >> 8) };
    put(z, b, 2);
}

static void put32(struct zbuf *z, uint32_t v)
{
    unsigned char b[4] = { (unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 24) };
    put(z, b, 4);
}

struct zent {
    const char *name;
    const unsigned char *data;
    size_t len;
    unsigned method;     /* 0 stored, 8 deflated */
    unsigned flags;      /* 1 encrypted, 8 sizes after the data */
};

/* A zip of the entries; central: write the central directory too. */
static struct zbuf make_zip(const struct zent *e, size_t n, bool central)
{
    struct zbuf z = { NULL, 0 }, cd = { NULL, 0 };
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char *comp = NULL;
        size_t clen = e[i].len;
        uint32_t off = (uint32_t)z.len, crc = (uint32_t)crc32(0, e[i].data, (uInt)e[i].len);
        bool desc = e[i].flags & 8;
        if (e[i].method == 8) {
            uLongf out = compressBound(e[i].len) + 16;
            unsigned char *tmp = malloc(out);
            z_stream s;
            memset(&s, 0, sizeof(s));
            assert_int_equal(deflateInit2(&s, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
            s.next_in = (unsigned char *)e[i].data;
            s.avail_in = (uInt)e[i].len;
            s.next_out = tmp;
            s.avail_out = (uInt)out;
            assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
            clen = s.total_out;
            deflateEnd(&s);
            comp = tmp;
        }
        put32(&z, 0x04034b50);
        put16(&z, 20);
        put16(&z, e[i].flags);
        put16(&z, e[i].method);
        put32(&z, 0);
        put32(&z, desc ? 0 : crc);
        put32(&z, desc ? 0 : (uint32_t)clen);
        put32(&z, desc ? 0 : (uint32_t)e[i].len);
        put16(&z, (unsigned)strlen(e[i].name));
        put16(&z, 0);
        put(&z, e[i].name, strlen(e[i].name));
        put(&z, comp ? comp : e[i].data, clen);
        if (desc) {
            put32(&z, 0x08074b50);
            put32(&z, crc);
            put32(&z, (uint32_t)clen);
            put32(&z, (uint32_t)e[i].len);
        }
        put32(&cd, 0x02014b50);
        put16(&cd, 20);
        put16(&cd, 20);
        put16(&cd, e[i].flags);
        put16(&cd, e[i].method);
        put32(&cd, 0);
        put32(&cd, crc);
        put32(&cd, (uint32_t)clen);
        put32(&cd, (uint32_t)e[i].len);
        put16(&cd, (unsigned)strlen(e[i].name));
        put16(&cd, 0);
        put16(&cd, 0);
        put16(&cd, 0);
        put16(&cd, 0);
        put32(&cd, 0);
        put32(&cd, off);
        put(&cd, e[i].name, strlen(e[i].name));
        free(comp);
    }
    if (central) {
        uint32_t cdoff = (uint32_t)z.len;
        put(&z, cd.b, cd.len);
        put32(&z, 0x06054b50);
        put16(&z, 0);
        put16(&z, 0);
        put16(&z, (unsigned)n);
        put16(&z, (unsigned)n);
        put32(&z, (uint32_t)cd.len);
        put32(&z, cdoff);
        put16(&z, 0);
    }
    free(cd.b);
    return z;
}

static struct zip_list *list(const struct zbuf *z, size_t chunk)
{
    struct zip_list *l = zip_list_new();
    size_t i;
    for (i = 0; i < z->len; i += chunk)
        zip_list_feed(l, z->b + i, z->len - i < chunk ? z->len - i : chunk);
    zip_list_end(l);
    return l;
}

static bool has(const struct zip_list *l, const char *name)
{
    size_t i;
    for (i = 0; i < zip_list_count(l); i++)
        if (strcmp(zip_list_name(l, i), name) == 0)
            return true;
    return false;
}

#define U(s) (const unsigned char *)(s), sizeof(s) - 1

/* ---- magic --------------------------------------------------------------------------- */

static void magic_numbers_are_recognised(void **state)
{
    static const struct { const char *b; size_t n; enum magic_type t; } cases[] = {
        { "MZ\x90\0", 4, MAGIC_PE }, { "\x7f" "ELF\x02", 5, MAGIC_ELF },
        { "\xcf\xfa\xed\xfe", 4, MAGIC_MACHO }, { "\xca\xfe\xba\xbe\0\0\0\x02", 8, MAGIC_MACHO },
        { "\xca\xfe\xba\xbe\0\0\0\x34", 8, MAGIC_UNKNOWN },   /* a Java class */
        { "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8, MAGIC_OLE }, { "PK\x03\x04", 4, MAGIC_ZIP },
        { "Rar!\x1a\x07\x01", 7, MAGIC_RAR }, { "7z\xbc\xaf\x27\x1c", 6, MAGIC_7Z },
        { "\x1f\x8b\x08", 3, MAGIC_GZIP }, { "%PDF-1.7", 8, MAGIC_PDF },
        { "\x89PNG\r\n\x1a\n", 8, MAGIC_PNG }, { "\xff\xd8\xff\xe0", 4, MAGIC_JPEG },
        { "GIF89a", 6, MAGIC_GIF }, { "#!/bin/sh\n", 10, MAGIC_SCRIPT },
        { "MSCF\0\0\0\0", 8, MAGIC_CAB }, { "{\\rtf1", 6, MAGIC_RTF },
        { "\xef\xbb\xbf  <html><head><HTA:APPLICATION id=x>", 40, MAGIC_HTA },
        { "\n<!DOCTYPE html><p>", 19, MAGIC_HTML },
        { "L\0\0\0\x01\x14\x02\0\0\0\0\0\xc0\0\0\0\0\0\0\x46", 20, MAGIC_LNK },
        { "hello", 5, MAGIC_UNKNOWN }, { "M", 1, MAGIC_UNKNOWN },
    };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum magic_type t = magic_detect((const unsigned char *)cases[i].b, cases[i].n);
        if (t != cases[i].t)
            fail_msg("case %zu: %s, expected %s", i, magic_name(t), magic_name(cases[i].t));
    }
    assert_int_equal(magic_detect(NULL, 0), MAGIC_UNKNOWN);
    assert_true(magic_is_executable(MAGIC_PE));
    assert_false(magic_is_executable(MAGIC_ZIP));
}

/* ---- zip ----------------------------------------------------------------------------- */

static void zip_names_from_local_headers_and_central_directory(void **state)
{
    const struct zent e[] = {
        { "docs/readme.txt", U("hello"), 0, 0 },
        { "run.exe", U("MZ........"), 8, 0 },
        { "later.scr", U("data after which the sizes come"), 8, 8 },
    };
    struct zbuf z = make_zip(e, 3, true);
    size_t chunk;
    (void)state;
    for (chunk = 1; chunk <= 257; chunk += 64) {
        struct zip_list *l = list(&z, chunk);
        assert_int_equal(zip_list_count(l), 3);
        assert_true(has(l, "docs/readme.txt") && has(l, "run.exe") && has(l, "later.scr"));
        assert_int_equal(zip_list_flags(l) & (ZIP_F_ENCRYPTED | ZIP_F_BROKEN), 0);
        zip_list_free(l);
    }
    free(z.b);
}

static void zip_without_central_directory_still_lists_names(void **state)
{
    const struct zent e[] = { { "a.txt", U("x"), 0, 0 }, { "b.vbs", U("y"), 8, 8 } };
    struct zbuf z = make_zip(e, 2, false);
    struct zip_list *l;
    (void)state;
    l = list(&z, 7);
    assert_true(has(l, "a.txt") && has(l, "b.vbs"));
    zip_list_free(l);
    free(z.b);
}

static void encrypted_entry_sets_the_flag(void **state)
{
    const struct zent e[] = { { "secret.doc", U("xxxxxxxxxxxx"), 0, 1 } };
    struct zbuf z = make_zip(e, 1, true);
    struct zip_list *l = list(&z, 100);
    (void)state;
    assert_true(zip_list_flags(l) & ZIP_F_ENCRYPTED);
    zip_list_free(l);
    free(z.b);
}

static void nested_zip_stored_and_deflated_is_listed(void **state)
{
    const struct zent ie[] = { { "inner.exe", U("MZ"), 0, 0 }, { "x.txt", U("t"), 8, 0 } };
    struct zbuf inner = make_zip(ie, 2, true);
    unsigned m;
    (void)state;
    for (m = 0; m <= 8; m += 8) {
        struct zent e[] = { { "nested.zip", inner.b, inner.len, m, 0 },
                            { "top.txt", U("top"), 0, 0 } };
        struct zbuf z = make_zip(e, 2, true);
        struct zip_list *l = list(&z, 13);
        assert_true(has(l, "nested.zip") && has(l, "top.txt"));
        assert_true(has(l, "nested.zip/inner.exe"));
        assert_true(has(l, "nested.zip/x.txt"));
        assert_true(zip_list_flags(l) & ZIP_F_NESTED);
        zip_list_free(l);
        free(z.b);
    }
    free(inner.b);
}

static void garbage_is_not_a_zip_and_does_not_crash(void **state)
{
    unsigned char buf[3000];
    size_t i;
    struct zip_list *l = zip_list_new();
    (void)state;
    for (i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 7 + (i >> 3));
    memcpy(buf, "PK\x03\x04\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 18);
    memcpy(buf + 2000, "PK\x05\x06\0\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff\0\0", 18);
    zip_list_feed(l, buf, sizeof(buf));
    zip_list_end(l);
    zip_list_end(l);
    zip_list_free(l);
}

/* ---- policy -------------------------------------------------------------------------- */

static enum filetype_rule check_name(const char *name, struct filetype_verdict *v)
{
    struct filetype_file f = { .filename = name };
    return filetype_check(filetype_default_policy(), &f, v);
}

static void each_default_extension_is_blocked(void **state)
{
    static const char *const exts[] = {
        "ade", "adp", "app", "bas", "bat", "chm", "cmd", "com", "cpl", "crt", "exe", "fxp",
        "hlp", "hta", "inf", "ins", "isp", "js", "jse", "lnk", "mda", "mdb", "mde", "mdw",
        "mdt", "mdz", "msc", "msi", "msp", "mst", "ops", "pcd", "pif", "prg", "reg", "scr",
        "sct", "shb", "shs", "vb", "vbe", "vbs", "wsc", "wsf", "wsh",
    };
    struct filetype_verdict v;
    char name[64];
    size_t i;
    (void)state;
    assert_int_equal(filetype_default_policy()->n_extensions, 45);
    for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        snprintf(name, sizeof(name), "file.%s", exts[i]);
        assert_int_equal(check_name(name, &v), FT_EXTENSION);
        assert_string_equal(v.file, name);
        assert_string_equal(v.detail, exts[i]);
        snprintf(name, sizeof(name), "FILE.%s", exts[i]);
        for (char *c = name; *c; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
        assert_int_equal(check_name(name, &v), FT_EXTENSION);
    }
}

static void double_extensions_are_blocked(void **state)
{
    static const char *const bad[] = {
        "invoice.pdf.exe", "invoice.pdf      .exe", "invoice.pdf.....exe", "a.doc.scr",
        "photo.jpg.pif", "x.txt.bat", "x.txt.cmd", "x.txt.com", "x.txt.cpl", "x.txt.dll",
        "x.txt.vbs", "letter.doc . . .dll",
    };
    struct filetype_verdict v;
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (check_name(bad[i], &v) != FT_DOUBLE_EXTENSION)
            fail_msg("%s: %s", bad[i], filetype_rule_name(v.rule));
    /* dll alone is not on the extension list */
    assert_int_equal(check_name("library.dll", &v), FT_PASS);
}

static void harmless_names_pass(void **state)
{
    static const char *const ok[] = {
        "report.final.pdf", "archive.tar.gz", "photo.jpeg", "notes.txt", "README",
        "my.exe.backup.pdf", "data.v1.2.csv", "", ".profile", "x.execute",
    };
    struct filetype_verdict v;
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (check_name(ok[i], &v) != FT_PASS)
            fail_msg("%s blocked by %s", ok[i], filetype_rule_name(v.rule));
}

static void windows_tricks_are_seen_through(void **state)
{
    struct filetype_verdict v;
    (void)state;
    assert_int_equal(check_name("evil.exe.", &v), FT_EXTENSION);
    assert_int_equal(check_name("evil.exe   ", &v), FT_EXTENSION);
    assert_int_equal(check_name("C:\\tmp\\evil.scr", &v), FT_EXTENSION);
    assert_int_equal(check_name("dir/evil.js", &v), FT_EXTENSION);
}

static void content_type_name_is_checked_too(void **state)
{
    struct filetype_file f = { .filename = "photo.jpg", .name = "photo.scr" };
    struct filetype_verdict v;
    (void)state;
    assert_int_equal(filetype_check(filetype_default_policy(), &f, &v), FT_EXTENSION);
    assert_string_equal(v.file, "photo.scr");
}

static void blocked_mime_types(void **state)
{
    static const char *const types[] = {
        "application/x-msdownload", "application/x-msdos-program", "application/hta",
        "message/partial", "message/external-body",
    };
    struct filetype_verdict v;
    size_t i;
    (void)state;
    for (i = 0; i < 5; i++) {
        struct filetype_file f = { .name = "harmless.txt", .type = types[i] };
        assert_int_equal(filetype_check(filetype_default_policy(), &f, &v), FT_MIME_TYPE);
        assert_string_equal(v.detail, types[i]);
    }
    {
        struct filetype_file f = { .type = "application/pdf" };
        assert_int_equal(filetype_check(filetype_default_policy(), &f, &v), FT_PASS);
    }
}

static void renamed_executable_is_blocked_by_content(void **state)
{
    static const unsigned char pe[] = "MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff";
    struct filetype_verdict v;
    (void)state;
    {
        struct filetype_file f = { .filename = "photo.jpg", .head = pe, .head_len = 14 };
        assert_int_equal(filetype_check(filetype_default_policy(), &f, &v), FT_MAGIC);
        assert_string_equal(v.file, "photo.jpg");
        assert_string_equal(v.detail, "pe");
    }
    {   /* a DLL named so is not a disguise (and dll alone is allowed) */
        struct filetype_file f = { .filename = "library.dll", .head = pe, .head_len = 14 };
        assert_int_equal(filetype_check(filetype_default_policy(), &f, &v), FT_PASS);
    }
    {   /* an ELF with no name at all */
        struct filetype_file f = { .head = U("\x7f" "ELF\x02\x01") };
        assert_int_equal(filetype_check(filetype_default_policy(), &f, &v), FT_MAGIC);
        assert_string_equal(v.file, "(no name)");
    }
    {   /* a real JPEG named .jpeg passes */
        struct filetype_file f = { .filename = "photo.jpeg", .head = U("\xff\xd8\xff\xe0") };
        assert_int_equal(filetype_check(filetype_default_policy(), &f, &v), FT_PASS);
    }
}

static void names_inside_a_zip_are_checked(void **state)
{
    const char *members[] = { "docs/readme.txt", "nested.zip/payload.pdf.exe" };
    struct filetype_file f = { .filename = "docs.zip", .head = U("PK\x03\x04"),
                               .members = members, .n_members = 2 };
    struct filetype_verdict v;
    (void)state;
    assert_int_equal(filetype_check(filetype_default_policy(), &f, &v), FT_ARCHIVE_MEMBER);
    assert_string_equal(v.file, "nested.zip/payload.pdf.exe");
    f.n_members = 1;
    assert_int_equal(filetype_check(filetype_default_policy(), &f, &v), FT_PASS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(magic_numbers_are_recognised),
        cmocka_unit_test(zip_names_from_local_headers_and_central_directory),
        cmocka_unit_test(zip_without_central_directory_still_lists_names),
        cmocka_unit_test(encrypted_entry_sets_the_flag),
        cmocka_unit_test(nested_zip_stored_and_deflated_is_listed),
        cmocka_unit_test(garbage_is_not_a_zip_and_does_not_crash),
        cmocka_unit_test(each_default_extension_is_blocked),
        cmocka_unit_test(double_extensions_are_blocked),
        cmocka_unit_test(harmless_names_pass),
        cmocka_unit_test(windows_tricks_are_seen_through),
        cmocka_unit_test(content_type_name_is_checked_too),
        cmocka_unit_test(blocked_mime_types),
        cmocka_unit_test(renamed_executable_is_blocked_by_content),
        cmocka_unit_test(names_inside_a_zip_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
