/*
 * test_dkim_sig.c - unit tests of the pure DKIM parsers: the tag=value list
 * (mailauth/dkim_tags.c), the DKIM-Signature field (mailauth/dkim_sig.c) and the key
 * record (mailauth/dkim_key.c): folding whitespace, duplicates, bounds, required and
 * defaulted tags, and the key-record tags k=, h=, s=, t=y, t=s and an empty p= (revoked).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "mailauth/dkim_key.h"
#include "mailauth/dkim_sig.h"
#include "mailauth/dkim_tags.h"

static enum dkim_tags_status tags(const char *s, struct dkim_tags *t)
{
    return dkim_tags_parse(s, strlen(s), t);
}

static void tag_list_with_folding_whitespace(void **state)
{
    struct dkim_tags t;
    char out[64];
    const char *s = " a = 1 ;\r\n\tbh=ab\r\n cd ; z=;;";
    (void)state;
    assert_int_equal(tags(s, &t), DKIM_TAGS_OK);
    assert_int_equal(t.n, 3);
    assert_true(dkim_tag_is(dkim_tags_find(&t, "a"), "1"));
    assert_int_equal(dkim_tags_find(&t, "bh")->value_len, strlen("ab\r\n cd"));
    assert_int_equal(dkim_tag_compact(dkim_tags_find(&t, "bh"), out, sizeof(out)), 4);
    assert_string_equal(out, "abcd");
    assert_int_equal(dkim_tags_find(&t, "z")->value_len, 0);
    assert_null(dkim_tags_find(&t, "A"));              /* names are case-sensitive */
    /* raw_start..raw_end is what "b=" removal deletes: all of the value */
    assert_int_equal(dkim_tags_find(&t, "bh")->raw_start, strlen(" a = 1 ;\r\n\tbh="));
    assert_int_equal(s[dkim_tags_find(&t, "bh")->raw_end], ';');
    assert_int_equal(dkim_tag_compact(dkim_tags_find(&t, "bh"), out, 4), -1);
}

static void tag_list_refusals(void **state)
{
    struct dkim_tags t;
    char many[DKIM_TAGS_MAX * 8 + 16];
    size_t i, n = 0;
    (void)state;
    assert_int_equal(tags("a=1; a=2", &t), DKIM_TAGS_DUPLICATE);
    assert_int_equal(tags("1a=1", &t), DKIM_TAGS_SYNTAX);
    assert_int_equal(tags("a", &t), DKIM_TAGS_SYNTAX);
    assert_int_equal(tags("a b=1", &t), DKIM_TAGS_SYNTAX);
    assert_int_equal(tags("a=x\001y", &t), DKIM_TAGS_SYNTAX);
    assert_int_equal(tags("a=caf\xc3\xa9", &t), DKIM_TAGS_OK);   /* UTF-8 (RFC 8616) */
    assert_int_equal(tags("abcdefghijabcdefghijabcdefghijabc=1", &t), DKIM_TAGS_SYNTAX);
    for (i = 0; i <= DKIM_TAGS_MAX; i++)
        n += (size_t)sprintf(many + n, "t%zu=1;", i);
    assert_int_equal(tags(many, &t), DKIM_TAGS_TOO_MANY);
    assert_int_equal(tags("", &t), DKIM_TAGS_OK);
    assert_int_equal(t.n, 0);
}

static enum dkim_sig_status sig(const char *s, struct dkim_sig *out)
{
    return dkim_sig_parse(s, strlen(s), out);
}

#define BASE " v=1; a=rsa-sha256; d=Example.COM; s=Sel; bh=AAAA; b=ab\r\n cd;"

static void signature_fields_and_defaults(void **state)
{
    struct dkim_sig s;
    (void)state;
    assert_int_equal(sig(BASE " h=From : Subject:from", &s), DKIM_SIG_OK);
    assert_string_equal(s.d, "example.com");
    assert_string_equal(s.s, "sel");
    assert_string_equal(s.i, "@example.com");
    assert_int_equal(s.hcanon, DKIM_CANON_SIMPLE);
    assert_int_equal(s.bcanon, DKIM_CANON_SIMPLE);
    assert_int_equal(s.h_n, 3);
    assert_string_equal(dkim_sig_h(&s, 0), "from");
    assert_string_equal(dkim_sig_h(&s, 1), "subject");
    assert_int_equal(s.bh_len, 3);
    assert_int_equal(s.b_len, 3);
    assert_string_equal(s.b_prefix, "abcd");
    assert_false(s.has_l);
    assert_int_equal(s.t, -1);
    assert_int_equal(s.x, -1);

    assert_int_equal(sig(BASE " h=from; c=relaxed; q=foo:dns/txt; l=12; t=10; x=20; "
                         "i=user@sub.example.com; z=ignored", &s), DKIM_SIG_OK);
    assert_int_equal(s.hcanon, DKIM_CANON_RELAXED);
    assert_int_equal(s.bcanon, DKIM_CANON_SIMPLE);
    assert_true(s.has_l);
    assert_int_equal(s.l, 12);
    assert_int_equal(s.t, 10);
    assert_int_equal(s.x, 20);
    assert_string_equal(s.i, "user@sub.example.com");
    assert_int_equal(sig(BASE " h=from; c=simple/relaxed; a=ed25519-sha256", &s),
                     DKIM_SIG_SYNTAX);   /* a= twice */
    assert_int_equal(sig(BASE " h=from; l=99999999999999999999999", &s), DKIM_SIG_OK);
    assert_true(s.l > 1000000000000ULL);    /* clamped, not wrapped */
}

static void signature_refusals(void **state)
{
    struct dkim_sig s;
    (void)state;
    assert_int_equal(sig(BASE " h=subject", &s), DKIM_SIG_FROM);
    assert_string_equal(s.d, "example.com");    /* names kept for the result */
    assert_int_equal(sig(" v=1; a=rsa-sha256; d=example.com; s=x; h=from; b=AAAA", &s),
                     DKIM_SIG_MISSING);
    assert_int_equal(sig(" a=rsa-sha256; d=example.com; s=x; h=from; b=AAAA; bh=AAAA", &s),
                     DKIM_SIG_VERSION);
    assert_int_equal(sig(BASE " h=from; c=fancy", &s), DKIM_SIG_CANON);
    assert_int_equal(sig(BASE " h=from; c=relaxed/fancy", &s), DKIM_SIG_CANON);
    assert_int_equal(sig(BASE " h=from; q=http", &s), DKIM_SIG_QUERY);
    assert_int_equal(sig(BASE " h=from; i=joe@example.net", &s), DKIM_SIG_AUID);
    assert_int_equal(sig(BASE " h=from; i=joe@badexample.com", &s), DKIM_SIG_AUID);
    assert_int_equal(sig(BASE " h=from; t=20; x=10", &s), DKIM_SIG_TIMES);
    assert_int_equal(sig(BASE " h=from; l=-1", &s), DKIM_SIG_SYNTAX);
    assert_int_equal(sig(BASE " h=from:", &s), DKIM_SIG_SYNTAX);
    assert_int_equal(sig(BASE " h=from", &s), DKIM_SIG_OK);
    assert_int_equal(sig(" v=1; a=rsa-sha256; d=exa mple.com; s=x; h=from; b=AAAA; bh=AAAA",
                         &s), DKIM_SIG_SYNTAX);
    assert_int_equal(sig(" v=1; a=rsa-sha256; d=example..com; s=x; h=from; b=AAAA; bh=AAAA",
                         &s), DKIM_SIG_SYNTAX);
    assert_int_equal(sig(" v=1; a=rsa-sha256; d=example.com; s=x; h=from; b=A*AA; bh=AAAA",
                         &s), DKIM_SIG_SYNTAX);
}

static enum dkim_key_status key(const char *s, struct dkim_key *out)
{
    return dkim_key_parse(s, strlen(s), out);
}

static void key_record_tags(void **state)
{
    struct dkim_key k;
    (void)state;
    assert_int_equal(key("p=AAAA", &k), DKIM_KEY_OK);
    assert_int_equal(k.type, DKIM_KEY_RSA);
    assert_true(k.allow_sha1 && k.allow_sha256 && k.service_email);
    assert_false(k.testing || k.strict || k.revoked);
    assert_int_equal(k.p_len, 3);
    assert_int_equal(key("v=DKIM1; k=ed25519; h=sha256; s=email; t=y:s; n=notes; p=AA AA",
                         &k), DKIM_KEY_OK);
    assert_int_equal(k.type, DKIM_KEY_ED25519);
    assert_false(k.allow_sha1);
    assert_true(k.allow_sha256);
    assert_true(k.testing && k.strict);
    assert_int_equal(key("v=DKIM1; h=sha1 : md5; s=other : * ; t=x; p=", &k), DKIM_KEY_OK);
    assert_true(k.revoked);
    assert_true(k.allow_sha1);
    assert_false(k.allow_sha256);
    assert_true(k.service_email);
    assert_false(k.testing);
    assert_int_equal(key("s=other; p=AAAA", &k), DKIM_KEY_OK);
    assert_false(k.service_email);
}

static void key_record_refusals(void **state)
{
    struct dkim_key k;
    (void)state;
    assert_int_equal(key("k=rsa; v=DKIM1; p=AAAA", &k), DKIM_KEY_SYNTAX);
    assert_int_equal(key("v=DKIM2; p=AAAA", &k), DKIM_KEY_VERSION);
    assert_int_equal(key("v=DKIM1; k=rsa", &k), DKIM_KEY_NO_P);
    assert_int_equal(key("v=DKIM1; k=dsa; p=AAAA", &k), DKIM_KEY_TYPE);
    assert_int_equal(key("v=DKIM1; p=AAA", &k), DKIM_KEY_SYNTAX);
    assert_int_equal(key("v=DKIM1; p=AAAA; p=AAAA", &k), DKIM_KEY_SYNTAX);
    assert_int_equal(key("some unrelated TXT record", &k), DKIM_KEY_SYNTAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tag_list_with_folding_whitespace),
        cmocka_unit_test(tag_list_refusals),
        cmocka_unit_test(signature_fields_and_defaults),
        cmocka_unit_test(signature_refusals),
        cmocka_unit_test(key_record_tags),
        cmocka_unit_test(key_record_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
