/*
 * test_dkim_canon.c - unit tests of mailauth/dkim_canon.c and mailauth/dkim_hash.c: the
 * canonicalization example of RFC 6376 3.4.6 (headers and body, simple and relaxed), the
 * trailing-line rules (empty bodies, missing final CRLF, whitespace-only lines), the same
 * output whatever the chunking (a CR at the end of one chunk and its LF in the next), the
 * published empty-body hashes (RFC 4871 errata 1376), l= counting, shared hashes, and
 * header field selection for h= (bottom-up, oversigned names add nothing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "mailauth/dkim_canon.h"
#include "mailauth/dkim_hash.h"
#include "mailauth/dkim_header.h"

#define OUT_MAX 4096

struct out {
    char buf[OUT_MAX];
    size_t len;
};

static void collect(void *arg, const char *data, size_t len)
{
    struct out *o = arg;
    assert_true(o->len + len <= OUT_MAX);
    memcpy(o->buf + o->len, data, len);
    o->len += len;
}

/* Canonicalize body in chunks of `chunk` bytes; the result as a NUL-terminated string. */
static const char *canon_body(enum dkim_canon c, const char *body, size_t chunk)
{
    static struct out o;
    struct dkim_body_canon bc;
    size_t len = strlen(body), i;

    o.len = 0;
    dkim_body_canon_init(&bc, c, collect, &o);
    for (i = 0; i < len; i += chunk)
        dkim_body_canon_update(&bc, body + i, len - i < chunk ? len - i : chunk);
    dkim_body_canon_final(&bc);
    assert_int_equal(bc.length, o.len);
    o.buf[o.len] = '\0';
    return o.buf;
}

static const char *canon_field(enum dkim_canon c, const char *raw)
{
    static char buf[OUT_MAX];
    size_t n = dkim_canon_header(c, raw, strlen(raw), buf);
    buf[n] = '\0';
    return buf;
}

/* RFC 6376 3.4.6: "A: X", "B : Y\t" folded onto "\tZ  ", and the body " C \r\nD \t E". */
static const char rfc_body[] = " C \r\nD \t E\r\n\r\n\r\n";

static void rfc6376_example_headers(void **state)
{
    (void)state;
    assert_string_equal(canon_field(DKIM_CANON_RELAXED, "A: X\r\n"), "a:X\r\n");
    assert_string_equal(canon_field(DKIM_CANON_RELAXED, "B : Y\t\r\n\tZ  \r\n"), "b:Y Z\r\n");
    assert_string_equal(canon_field(DKIM_CANON_SIMPLE, "B : Y\t\r\n\tZ  \r\n"),
                        "B : Y\t\r\n\tZ  \r\n");
    /* without its final CRLF, a field gets one */
    assert_string_equal(canon_field(DKIM_CANON_SIMPLE, "A: X"), "A: X\r\n");
    assert_string_equal(canon_field(DKIM_CANON_RELAXED, "SUBJECT:   \t"), "subject:\r\n");
    /* only the colon after the name loses its whitespace, not one inside the value */
    assert_string_equal(canon_field(DKIM_CANON_RELAXED, "X : a : b"), "x:a : b\r\n");
}

static void rfc6376_example_body(void **state)
{
    size_t chunk;
    (void)state;
    for (chunk = 1; chunk <= sizeof(rfc_body); chunk++) {
        assert_string_equal(canon_body(DKIM_CANON_RELAXED, rfc_body, chunk), " C\r\nD E\r\n");
        assert_string_equal(canon_body(DKIM_CANON_SIMPLE, rfc_body, chunk),
                            " C \r\nD \t E\r\n");
    }
}

static void empty_and_unterminated_bodies(void **state)
{
    (void)state;
    assert_string_equal(canon_body(DKIM_CANON_SIMPLE, "", 1), "\r\n");
    assert_string_equal(canon_body(DKIM_CANON_RELAXED, "", 1), "");
    assert_string_equal(canon_body(DKIM_CANON_SIMPLE, "\r\n\r\n", 1), "\r\n");
    assert_string_equal(canon_body(DKIM_CANON_RELAXED, " \t\r\n  \r\n", 1), "");
    assert_string_equal(canon_body(DKIM_CANON_SIMPLE, "abc", 2), "abc\r\n");
    assert_string_equal(canon_body(DKIM_CANON_RELAXED, "abc  ", 2), "abc\r\n");
    /* leading and inner empty lines stay; only trailing ones go */
    assert_string_equal(canon_body(DKIM_CANON_SIMPLE, "\r\n\r\na\r\n\r\nb\r\n\r\n", 3),
                        "\r\n\r\na\r\n\r\nb\r\n");
    /* a whitespace-only line in the middle becomes empty, and stays */
    assert_string_equal(canon_body(DKIM_CANON_RELAXED, "a\r\n \t \r\nb\r\n", 1),
                        "a\r\n\r\nb\r\n");
    /* erratum 1384: whitespace is reduced before trailing empty lines are removed */
    assert_string_equal(canon_body(DKIM_CANON_RELAXED, "testing\r\n  \r\n\r\n", 1),
                        "testing\r\n");
}

static void bare_cr_and_lf_are_content(void **state)
{
    size_t chunk;
    (void)state;
    for (chunk = 1; chunk < 6; chunk++) {
        assert_string_equal(canon_body(DKIM_CANON_SIMPLE, "a\rb\nc\r\n", chunk),
                            "a\rb\nc\r\n");
        assert_string_equal(canon_body(DKIM_CANON_RELAXED, "a \rb\r", chunk), "a \rb\r\r\n");
        assert_string_equal(canon_body(DKIM_CANON_SIMPLE, "x\r\n\r", chunk), "x\r\n\r\r\n");
    }
}

/* Many trailing empty lines are a count, not a buffer; inner ones are all passed on. */
static void many_empty_lines(void **state)
{
    size_t n = 1000, i;
    char *body = malloc(2 * n + 4);
    (void)state;
    body[0] = 'x';
    for (i = 0; i < n; i++)
        memcpy(body + 1 + 2 * i, "\r\n", 2);
    body[1 + 2 * n] = '\0';
    assert_string_equal(canon_body(DKIM_CANON_SIMPLE, body, 7), "x\r\n");
    body[1 + 2 * n] = 'y';
    body[2 + 2 * n] = '\0';
    assert_int_equal(strlen(canon_body(DKIM_CANON_RELAXED, body, 7)), 2 * n + 4);
    free(body);
}

static void b64(const unsigned char *d, size_t n, char *out)
{
    size_t len;
    assert_int_equal(base64_encode(d, n, out, 128, &len), BASE64_OK);
}

static void bodyhash_of(const char *body, enum dkim_canon c, enum dkim_hash h, long long limit,
                        char *out)
{
    struct dkim_bodyhash *bh = dkim_bodyhash_new();
    unsigned char d[DKIM_DIGEST_MAX];
    int idx = dkim_bodyhash_add(bh, c, h, limit);
    assert_true(idx >= 0);
    dkim_bodyhash_update(bh, body, strlen(body));
    dkim_bodyhash_final(bh);
    b64(d, dkim_bodyhash_digest(bh, idx, d), out);
    dkim_bodyhash_free(bh);
}

static void empty_body_hashes_match_published_values(void **state)
{
    char out[128];
    (void)state;
    bodyhash_of("", DKIM_CANON_SIMPLE, DKIM_HASH_SHA256, -1, out);
    assert_string_equal(out, "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=");
    bodyhash_of("", DKIM_CANON_SIMPLE, DKIM_HASH_SHA1, -1, out);
    assert_string_equal(out, "uoq1oCgLlTqpdDX/iUbLy7J1Wic=");
    bodyhash_of("", DKIM_CANON_RELAXED, DKIM_HASH_SHA256, -1, out);
    assert_string_equal(out, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    bodyhash_of("", DKIM_CANON_RELAXED, DKIM_HASH_SHA1, -1, out);
    assert_string_equal(out, "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
}

/* The body of the RFC 6376 and RFC 8463 examples: its published bh=. */
static const char joe_body[] = "Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n";
static const char joe_bh[] = "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=";

static void rfc_example_body_hash(void **state)
{
    char out[128];
    (void)state;
    bodyhash_of(joe_body, DKIM_CANON_RELAXED, DKIM_HASH_SHA256, -1, out);
    assert_string_equal(out, joe_bh);
    /* erratum 3192: with one space after "game." the simple hash is the same */
    bodyhash_of("Hi.\r\n\r\nWe lost the game. Are you hungry yet?\r\n\r\nJoe.\r\n\r\n",
                DKIM_CANON_SIMPLE, DKIM_HASH_SHA256, -1, out);
    assert_string_equal(out, joe_bh);
}

/* l= counts canonical bytes: signing the first 5 gives the hash of "Hi.\r\n". */
static void limit_counts_canonical_bytes(void **state)
{
    char a[128], b[128];
    (void)state;
    bodyhash_of("Hi.  \r\nmore text\r\n", DKIM_CANON_RELAXED, DKIM_HASH_SHA256, 5, a);
    bodyhash_of("Hi.\r\n", DKIM_CANON_RELAXED, DKIM_HASH_SHA256, -1, b);
    assert_string_equal(a, b);
    bodyhash_of("Hi.  \r\nmore text\r\n", DKIM_CANON_RELAXED, DKIM_HASH_SHA256, 0, a);
    assert_string_equal(a, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
}

static void identical_requests_share_one_hash(void **state)
{
    struct dkim_bodyhash *bh = dkim_bodyhash_new();
    int a, b, c, d;
    (void)state;
    a = dkim_bodyhash_add(bh, DKIM_CANON_RELAXED, DKIM_HASH_SHA256, -1);
    b = dkim_bodyhash_add(bh, DKIM_CANON_RELAXED, DKIM_HASH_SHA256, -5);
    c = dkim_bodyhash_add(bh, DKIM_CANON_RELAXED, DKIM_HASH_SHA256, 10);
    d = dkim_bodyhash_add(bh, DKIM_CANON_SIMPLE, DKIM_HASH_SHA256, -1);
    assert_int_equal(a, b);
    assert_int_not_equal(a, c);
    assert_int_not_equal(a, d);
    dkim_bodyhash_update(bh, "x  y\r\n\r\n", 8);
    /* no new entry once the body has started */
    assert_int_equal(dkim_bodyhash_add(bh, DKIM_CANON_SIMPLE, DKIM_HASH_SHA1, -1), -1);
    dkim_bodyhash_final(bh);
    assert_int_equal(dkim_bodyhash_length(bh, DKIM_CANON_RELAXED), 5);
    assert_int_equal(dkim_bodyhash_length(bh, DKIM_CANON_SIMPLE), 6);
    dkim_bodyhash_free(bh);
}

/* h=from:subject:from with one From: the second "from" adds nothing, so the hash equals
 * that of h=from:subject; with two From fields the last one is used first. */
static void header_selection_is_bottom_up(void **state)
{
    static const char msg[] = "From: a@x\r\nSubject: s\r\nFrom: b@x\r\n\r\n";
    static const char sig[] = "DKIM-Signature: b=zz";
    struct dkim_field f[4];
    size_t n, body;
    unsigned char d1[DKIM_DIGEST_MAX], d2[DKIM_DIGEST_MAX];
    const char *fs[] = { "from", "subject", "from", "from" };
    (void)state;
    assert_int_equal(dkim_header_split(msg, strlen(msg), f, 4, &n, &body), DKIM_SPLIT_OK);
    assert_int_equal(n, 3);
    /* both From fields, bottom first, then a third "from" that finds none */
    assert_int_equal(dkim_hash_headers(DKIM_HASH_SHA256, DKIM_CANON_RELAXED, f, n, fs, 4, sig,
                                       strlen(sig), 17, 19, d1), 32);
    assert_int_equal(dkim_hash_headers(DKIM_HASH_SHA256, DKIM_CANON_RELAXED, f, n, fs, 3, sig,
                                       strlen(sig), 17, 19, d2), 32);
    assert_memory_equal(d1, d2, 32);
    {
        const char *one[] = { "from" };
        const struct dkim_field last[] = { f[2] };
        assert_int_equal(dkim_hash_headers(DKIM_HASH_SHA256, DKIM_CANON_RELAXED, f, n, one, 1,
                                           sig, strlen(sig), 17, 19, d1), 32);
        assert_int_equal(dkim_hash_headers(DKIM_HASH_SHA256, DKIM_CANON_RELAXED, last, 1, one,
                                           1, sig, strlen(sig), 17, 19, d2), 32);
        assert_memory_equal(d1, d2, 32);
    }
}

static void splitter_finds_fields_and_body(void **state)
{
    static const char msg[] = "A: 1\r\nB: 2\r\n\tcont\r\nC:3\r\n\r\nbody\r\n";
    struct dkim_field f[2];
    size_t n, body;
    (void)state;
    assert_int_equal(dkim_header_split(msg, strlen(msg), f, 2, &n, &body),
                     DKIM_SPLIT_TOO_MANY);
    {
        struct dkim_field g[8];
        assert_int_equal(dkim_header_split(msg, strlen(msg), g, 8, &n, &body), DKIM_SPLIT_OK);
        assert_int_equal(n, 3);
        assert_int_equal(g[1].raw_len, strlen("B: 2\r\n\tcont\r\n"));
        assert_true(dkim_field_is(&g[1], "b"));
        assert_string_equal(msg + body, "body\r\n");
    }
    assert_int_equal(dkim_header_split(" x: 1\r\n", 7, f, 2, &n, &body), DKIM_SPLIT_MALFORMED);
    assert_int_equal(dkim_header_split("nocolon\r\n", 9, f, 2, &n, &body),
                     DKIM_SPLIT_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc6376_example_headers),
        cmocka_unit_test(rfc6376_example_body),
        cmocka_unit_test(empty_and_unterminated_bodies),
        cmocka_unit_test(bare_cr_and_lf_are_content),
        cmocka_unit_test(many_empty_lines),
        cmocka_unit_test(empty_body_hashes_match_published_values),
        cmocka_unit_test(rfc_example_body_hash),
        cmocka_unit_test(limit_counts_canonical_bytes),
        cmocka_unit_test(identical_requests_share_one_hash),
        cmocka_unit_test(header_selection_is_bottom_up),
        cmocka_unit_test(splitter_finds_fields_and_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
