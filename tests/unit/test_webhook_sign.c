/*
 * test_webhook_sign.c - unit tests of webhooks/sign.c: the Standard Webhooks test vector,
 * strict secret decoding, and signatures that change with every signed part.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "webhooks/sign.h"

#define SPEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SPEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SPEC_TS 1614265330LL
#define SPEC_BODY "{\"test\": 2432232314}"
#define SPEC_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

static void sign_spec(const char *id, long long ts, const char *body, char *out)
{
    unsigned char key[WH_KEY_MAX];
    size_t klen;

    assert_int_equal(wh_secret_decode(SPEC_SECRET, key, &klen), WH_SECRET_OK);
    assert_int_equal(wh_sign(key, klen, id, ts, body, strlen(body), out), 0);
}

static void spec_test_vector_matches(void **state)
{
    char sig[WH_SIGNATURE_SIZE];

    (void)state;
    sign_spec(SPEC_ID, SPEC_TS, SPEC_BODY, sig);
    assert_string_equal(sig, SPEC_SIG);
}

static void spec_secret_decodes_to_24_bytes(void **state)
{
    unsigned char key[WH_KEY_MAX];
    size_t klen = 99;

    (void)state;
    assert_int_equal(wh_secret_decode(SPEC_SECRET, key, &klen), WH_SECRET_OK);
    assert_int_equal(klen, 24);
    assert_int_equal(key[0], 0x31);   /* "MfKQ" -> 31 f2 90 */
    assert_int_equal(key[1], 0xf2);
    assert_int_equal(key[2], 0x90);
}

static void every_signed_part_changes_the_signature(void **state)
{
    char a[WH_SIGNATURE_SIZE], b[WH_SIGNATURE_SIZE];

    (void)state;
    sign_spec(SPEC_ID, SPEC_TS + 1, SPEC_BODY, a);
    assert_string_not_equal(a, SPEC_SIG);
    sign_spec("msg_other", SPEC_TS, SPEC_BODY, b);
    assert_string_not_equal(b, SPEC_SIG);
    sign_spec(SPEC_ID, SPEC_TS, "{\"test\": 2432232315}", b);
    assert_string_not_equal(b, SPEC_SIG);
    assert_memory_equal(a, "v1,", 3);
    assert_int_equal(strlen(a), 3 + 44);
}

static void secret_without_prefix_is_refused(void **state)
{
    unsigned char key[WH_KEY_MAX];
    size_t klen;

    (void)state;
    assert_int_equal(wh_secret_decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &klen),
                     WH_SECRET_NO_PREFIX);
    assert_int_equal(wh_secret_decode("whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, &klen),
                     WH_SECRET_NO_PREFIX);
    assert_int_equal(wh_secret_decode(NULL, key, &klen), WH_SECRET_NO_PREFIX);
    assert_int_equal(klen, 0);
}

static void secret_with_bad_base64_is_refused(void **state)
{
    unsigned char key[WH_KEY_MAX];
    size_t klen;

    (void)state;
    /* a character outside the alphabet, a length not a multiple of 4, whitespace,
     * padding in the middle, spare bits set (not canonical) */
    assert_int_equal(wh_secret_decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!", key, &klen),
                     WH_SECRET_BAD_BASE64);
    assert_int_equal(wh_secret_decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", key, &klen),
                     WH_SECRET_BAD_BASE64);
    assert_int_equal(wh_secret_decode("whsec_MfKQ9r8GKYqrTwjU PD8ILPZIo2LaLaSw", key, &klen),
                     WH_SECRET_BAD_BASE64);
    assert_int_equal(wh_secret_decode("whsec_MfKQ9r8G=YqrTwjUPD8ILPZIo2LaLaSw", key, &klen),
                     WH_SECRET_BAD_BASE64);
    assert_int_equal(wh_secret_decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYqr"
                                      "TwjUPD8ILPZIo2LaLaSwQR==", key, &klen),
                     WH_SECRET_BAD_BASE64);
    assert_int_equal(klen, 0);
}

static void secret_length_must_be_24_to_64_bytes(void **state)
{
    unsigned char key[WH_KEY_MAX];
    size_t klen;

    (void)state;
    /* 18 bytes: too short */
    assert_int_equal(wh_secret_decode("whsec_AAECAwQFBgcICQoLDA0ODxAR", key, &klen),
                     WH_SECRET_BAD_LENGTH);
    /* 64 bytes: the longest accepted */
    assert_int_equal(wh_secret_decode("whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
                                      "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==", key, &klen),
                     WH_SECRET_OK);
    assert_int_equal(klen, 64);
    /* 66 bytes: too long */
    assert_int_equal(wh_secret_decode("whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
                                      "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB", key, &klen),
                     WH_SECRET_BAD_LENGTH);
    assert_int_equal(wh_secret_decode("whsec_", key, &klen), WH_SECRET_BAD_LENGTH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_test_vector_matches),
        cmocka_unit_test(spec_secret_decodes_to_24_bytes),
        cmocka_unit_test(every_signed_part_changes_the_signature),
        cmocka_unit_test(secret_without_prefix_is_refused),
        cmocka_unit_test(secret_with_bad_base64_is_refused),
        cmocka_unit_test(secret_length_must_be_24_to_64_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
