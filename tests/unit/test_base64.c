/*
 * test_base64.c - unit tests of lib/base64.c: RFC 4648 test vectors both ways, the strict
 * decoder's refusals (alphabet, length, padding, non-canonical bits, buffer space), and a
 * round trip over every byte value and length.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "lib/base64.h"

static const struct { const char *plain, *coded; } rfc4648_vectors[] = {
    { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
    { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
};
#define N_VECTORS (sizeof(rfc4648_vectors) / sizeof(rfc4648_vectors[0]))

static enum base64_status decode_str(const char *in, unsigned char *out, size_t size,
                                     size_t *len)
{
    return base64_decode(in, strlen(in), out, size, len);
}

static void rfc4648_vectors_encode(void **state)
{
    char out[32];
    size_t i, len;
    (void)state;
    for (i = 0; i < N_VECTORS; i++) {
        const char *p = rfc4648_vectors[i].plain;
        assert_int_equal(base64_encode((const unsigned char *)p, strlen(p), out, sizeof(out),
                                       &len), BASE64_OK);
        assert_string_equal(out, rfc4648_vectors[i].coded);
        assert_int_equal(len, strlen(rfc4648_vectors[i].coded));
    }
}

static void rfc4648_vectors_decode(void **state)
{
    unsigned char out[32];
    size_t i, len;
    (void)state;
    for (i = 0; i < N_VECTORS; i++) {
        const char *p = rfc4648_vectors[i].plain;
        assert_int_equal(decode_str(rfc4648_vectors[i].coded, out, sizeof(out), &len),
                         BASE64_OK);
        assert_int_equal(len, strlen(p));
        assert_memory_equal(out, p, len);
    }
}

static void sasl_plain_response_with_nul_bytes_decodes(void **state)
{
    unsigned char out[64];
    size_t len;
    static const char want[] = "\0demo@example.test\0demo-password";
    (void)state;
    assert_int_equal(decode_str("AGRlbW9AZXhhbXBsZS50ZXN0AGRlbW8tcGFzc3dvcmQ=", out,
                                sizeof(out), &len), BASE64_OK);
    assert_int_equal(len, sizeof(want) - 1);
    assert_memory_equal(out, want, len);
}

static void characters_outside_the_alphabet_are_refused(void **state)
{
    static const char *const bad[] = {
        "Zm9v\n", "Zm 9", "Zm9\r", "Zm-v", "Zm_v", "Zm9v\t===", "Zm.v", "Zm9\x80",
        "Zm\0v",
    };
    unsigned char out[16];
    size_t i, len = 99;
    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = i == 8 ? 4 : strlen(bad[i]);
        enum base64_status st = base64_decode(bad[i], n, out, sizeof(out), &len);
        assert_true(st == BASE64_ERR_CHAR || st == BASE64_ERR_LENGTH);
        assert_int_equal(len, 0);
    }
    assert_int_equal(decode_str("Zm-v", out, sizeof(out), &len), BASE64_ERR_CHAR);
    assert_int_equal(decode_str("Zm9vYm\n=", out, sizeof(out), &len), BASE64_ERR_CHAR);
}

static void length_not_a_multiple_of_four_is_refused(void **state)
{
    unsigned char out[16];
    size_t len;
    (void)state;
    assert_int_equal(decode_str("Zg", out, sizeof(out), &len), BASE64_ERR_LENGTH);
    assert_int_equal(decode_str("Zm9", out, sizeof(out), &len), BASE64_ERR_LENGTH);
    assert_int_equal(decode_str("Zm9vY", out, sizeof(out), &len), BASE64_ERR_LENGTH);
    assert_int_equal(decode_str("=", out, sizeof(out), &len), BASE64_ERR_LENGTH);
}

static void bad_padding_is_refused(void **state)
{
    static const char *const bad[] = {
        "====", "Z===", "Zg=a", "Zg==Zg==", "Zm8=Zm9v", "=Zm9", "Zm=v", "Zh==", "Zm9=",
    };
    unsigned char out[16];
    size_t i, len;
    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(decode_str(bad[i], out, sizeof(out), &len), BASE64_ERR_PAD);
}

static void non_canonical_trailing_bits_are_refused(void **state)
{
    unsigned char out[16];
    size_t len;
    (void)state;
    /* "Zg==" is "f"; "Zh==" and "Zm9=" carry bits that the padding drops. */
    assert_int_equal(decode_str("Zh==", out, sizeof(out), &len), BASE64_ERR_PAD);
    assert_int_equal(decode_str("Zm9=", out, sizeof(out), &len), BASE64_ERR_PAD);
    assert_int_equal(decode_str("Zm8=", out, sizeof(out), &len), BASE64_OK);
}

static void decode_reports_a_buffer_that_is_too_small(void **state)
{
    unsigned char out[8];
    size_t len = 99;
    (void)state;
    assert_int_equal(decode_str("Zm9vYmFy", out, 5, &len), BASE64_ERR_SPACE);
    assert_int_equal(len, 0);
    assert_int_equal(decode_str("Zm9vYmE=", out, 4, &len), BASE64_ERR_SPACE);
    assert_int_equal(decode_str("Zm9vYmE=", out, 5, &len), BASE64_OK);
    assert_int_equal(len, 5);
    assert_int_equal(decode_str("Zm9v", out, 0, &len), BASE64_ERR_SPACE);
}

static void encode_reports_a_buffer_that_is_too_small(void **state)
{
    char out[16];
    size_t len = 99;
    (void)state;
    memset(out, 'x', sizeof(out));
    assert_int_equal(base64_encode((const unsigned char *)"foo", 3, out, 4, &len),
                     BASE64_ERR_SPACE);
    assert_int_equal(len, 0);
    assert_int_equal(out[0], '\0');
    assert_int_equal(base64_encode((const unsigned char *)"foo", 3, out, 5, &len), BASE64_OK);
    assert_string_equal(out, "Zm9v");
    assert_int_equal(base64_encode((const unsigned char *)"", 0, out, 1, &len), BASE64_OK);
    assert_string_equal(out, "");
}

static void every_byte_round_trips_at_every_length(void **state)
{
    unsigned char in[256], back[256];
    char coded[BASE64_ENCODED_SIZE(256)];
    size_t n, i, clen, blen;
    (void)state;
    for (i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(255 - i);
    for (n = 0; n <= sizeof(in); n++) {
        assert_int_equal(base64_encode(in, n, coded, sizeof(coded), &clen), BASE64_OK);
        assert_int_equal(clen + 1, BASE64_ENCODED_SIZE(n));
        assert_int_equal(base64_decode(coded, clen, back, BASE64_DECODED_MAX(clen), &blen),
                         BASE64_OK);
        assert_int_equal(blen, n);
        assert_memory_equal(back, in, n);
    }
}

static void strerror_names_every_status(void **state)
{
    (void)state;
    assert_string_equal(base64_strerror(BASE64_OK), "ok");
    assert_non_null(strstr(base64_strerror(BASE64_ERR_PAD), "padding"));
    assert_non_null(strstr(base64_strerror(BASE64_ERR_CHAR), "character"));
    assert_non_null(strstr(base64_strerror(BASE64_ERR_LENGTH), "multiple"));
    assert_non_null(strstr(base64_strerror(BASE64_ERR_SPACE), "small"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc4648_vectors_encode),
        cmocka_unit_test(rfc4648_vectors_decode),
        cmocka_unit_test(sasl_plain_response_with_nul_bytes_decodes),
        cmocka_unit_test(characters_outside_the_alphabet_are_refused),
        cmocka_unit_test(length_not_a_multiple_of_four_is_refused),
        cmocka_unit_test(bad_padding_is_refused),
        cmocka_unit_test(non_canonical_trailing_bits_are_refused),
        cmocka_unit_test(decode_reports_a_buffer_that_is_too_small),
        cmocka_unit_test(encode_reports_a_buffer_that_is_too_small),
        cmocka_unit_test(every_byte_round_trips_at_every_length),
        cmocka_unit_test(strerror_names_every_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
