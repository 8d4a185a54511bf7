/*
 * test_dkim_sign.c - unit tests of mailauth/dkim_sign.c, dkim_conf.c, dkim_keygen.c and
 * the signing side of dkim_crypto.c: the published b= values of RFC 8463 appendix A are
 * reproduced with its private keys (both algorithms are deterministic); a message signed
 * by the signer (RSA 2048 and Ed25519 at once) verifies with the verifier; h= oversigns;
 * folding; x=; the config checks of signing keys; key generation, the TXT record and its
 * zone-file line, and the private key file mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/base64.h"
#include "lib/xalloc.h"
#include "mailauth/dkim_crypto.h"
#include "mailauth/dkim_hash.h"
#include "mailauth/dkim_keygen.h"
#include "mailauth/dkim_sign.h"
#include "mailauth/dkim_verify.h"
#include "tests/unit/dkim_testdns.h"

#define FIELDS_MAX 64
#define NOW 1700000000LL

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_dkim_sign.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int remove_tmpdir(void **state)
{
    char *cmd = xasprintf("rm -rf '%s'", tmpdir);
    (void)state;
    assert_int_equal(system(cmd), 0);
    free(cmd);
    return 0;
}

/* RFC 8463 A.1: the private keys. */
static const char rfc8463_rsa_pem[] =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIICXQIBAAKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQi\n"
    "Y/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqM\n"
    "KrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\n"
    "AoGAH0cxOhFZDgzXWhDhnAJDw5s4roOXN4OhjiXa8W7Y3rhX3FJqmJSPuC8N9vQm\n"
    "6SVbaLAE4SG5mLMueHlh4KXffEpuLEiNp9Ss3O4YfLiQpbRqE7Tm5SxKjvvQoZZe\n"
    "zHorimOaChRL2it47iuWxzxSiRMv4c+j70GiWdxXnxe4UoECQQDzJB/0U58W7RZy\n"
    "6enGVj2kWF732CoWFZWzi1FicudrBFoy63QwcowpoCazKtvZGMNlPWnC7x/6o8Gc\n"
    "uSe0ga2xAkEA8C7PipPm1/1fTRQvj1o/dDmZp243044ZNyxjg+/OPN0oWCbXIGxy\n"
    "WvmZbXriOWoSALJTjExEgraHEgnXssuk7QJBALl5ICsYMu6hMxO73gnfNayNgPxd\n"
    "WFV6Z7ULnKyV7HSVYF0hgYOHjeYe9gaMtiJYoo0zGN+L3AAtNP9huqkWlzECQE1a\n"
    "licIeVlo1e+qJ6Mgqr0Q7Aa7falZ448ccbSFYEPD6oFxiOl9Y9se9iYHZKKfIcst\n"
    "o7DUw1/hz2Ck4N5JrgUCQQCyKveNvjzkkd8HjYs0SwM0fPjK16//5qDZ2UiDGnOe\n"
    "uEzxBDAr518Z8VFbR41in3W4Y3yCDgQlLlcETrS+zYcL\n"
    "-----END RSA PRIVATE KEY-----\n";
static const char rfc8463_ed_seed[] = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";

/* RFC 8463 A.3: the header, each signature field with its b= value emptied, and the
 * published b= values. */
static const char rfc8463_header[] =
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n";
static const char rfc8463_ed_field[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=\r\n";
static const char rfc8463_ed_b[] =
    "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==";
static const char rfc8463_rsa_field[] =
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    " date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=\r\n";
static const char rfc8463_rsa_b[] =
    "F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tF"
    "OeS9mPYQTnGdaSGsgeefOsk2JzdA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=";

static EVP_PKEY *rfc8463_ed_key(void)
{
    unsigned char seed[32];
    size_t len;
    assert_int_equal(base64_decode(rfc8463_ed_seed, strlen(rfc8463_ed_seed), seed,
                                   sizeof(seed), &len), BASE64_OK);
    return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, len);
}

static EVP_PKEY *rfc8463_rsa_key(void)
{
    BIO *bio = BIO_new_mem_buf(rfc8463_rsa_pem, -1);
    EVP_PKEY *k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    assert_non_null(k);
    return k;
}

static void reproduce(EVP_PKEY *key, enum dkim_alg alg, const char *field, const char *want)
{
    static const char *const names[] = { "from", "to", "subject", "date", "message-id",
                                         "from", "subject", "date" };
    struct dkim_field f[8];
    size_t n, body, dlen, slen, b64len;
    unsigned char d[DKIM_DIGEST_MAX], sig[512];
    char b64[1024];
    const char *b = strstr(field, "b=\r\n") + 2;

    assert_int_equal(dkim_header_split(rfc8463_header, strlen(rfc8463_header), f, 8, &n,
                                       &body), DKIM_SPLIT_OK);
    dlen = dkim_hash_headers(DKIM_HASH_SHA256, DKIM_CANON_RELAXED, f, n, names, 8, field,
                             strlen(field), (size_t)(b - field), strlen(field), d);
    assert_int_equal(dlen, 32);
    slen = dkim_crypto_sign(key, alg, d, dlen, sig, sizeof(sig));
    assert_true(slen > 0);
    base64_encode(sig, slen, b64, sizeof(b64), &b64len);
    assert_string_equal(b64, want);
    assert_int_equal(dkim_crypto_verify(key, alg, d, dlen, sig, slen), 1);
    sig[0] ^= 1;
    assert_int_equal(dkim_crypto_verify(key, alg, d, dlen, sig, slen), 0);
}

/* Ed25519 and RSASSA-PKCS1-v1_5 are deterministic: the RFC's keys give the RFC's b=. */
static void rfc8463_signatures_are_reproduced(void **state)
{
    EVP_PKEY *ed = rfc8463_ed_key(), *rsa = rfc8463_rsa_key();
    (void)state;
    reproduce(ed, DKIM_ALG_ED25519_SHA256, rfc8463_ed_field, rfc8463_ed_b);
    reproduce(rsa, DKIM_ALG_RSA_SHA256, rfc8463_rsa_field, rfc8463_rsa_b);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(rsa);
}

/* ---- keys and config ------------------------------------------------------------------- */

static char *write_key(const char *name, EVP_PKEY *key)
{
    char *path = xasprintf("%s/%s", tmpdir, name), err[256];
    unlink(path);
    assert_int_equal(dkim_key_write_private(path, key, err, sizeof(err)), 0);
    return path;
}

static void keygen_writes_private_key_0600_and_never_over_a_file(void **state)
{
    EVP_PKEY *key = dkim_keygen(DKIM_KEY_ED25519, 0), *back;
    char *path = write_key("k.pem", key), err[256];
    struct stat st;
    (void)state;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(dkim_key_write_private(path, key, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "File exists"));
    back = dkim_crypto_load_private(path, err, sizeof(err));
    assert_non_null(back);
    assert_int_equal(EVP_PKEY_eq(key, back), 1);
    EVP_PKEY_free(back);
    EVP_PKEY_free(key);
    free(path);
}

static void key_record_and_zone_line(void **state)
{
    EVP_PKEY *rsa = dkim_keygen(DKIM_KEY_RSA, 2048), *ed = dkim_keygen(DKIM_KEY_ED25519, 0);
    char *rec = dkim_key_record(rsa), *zone = dkim_key_zone_line("s1", "example.org", rec);
    char *edrec = dkim_key_record(ed);
    const char *p;
    size_t strings = 0;
    (void)state;
    assert_int_equal(strncmp(rec, "v=DKIM1; k=rsa; p=MIIBIjAN", 26), 0);
    assert_int_equal(strlen(rec), 18 + 392);
    assert_int_equal(strncmp(edrec, "v=DKIM1; k=ed25519; p=", 22), 0);
    assert_int_equal(strlen(edrec), 22 + 44);
    assert_int_equal(strncmp(zone, "s1._domainkey.example.org. IN TXT ( \"", 37), 0);
    for (p = strchr(zone, '"'); p; p = strchr(strchr(p + 1, '"') + 1, '"')) {
        const char *end = strchr(p + 1, '"');
        assert_true(end - p - 1 <= DKIM_TXT_STRING_MAX);
        strings++;
    }
    assert_int_equal(strings, 2);
    assert_string_equal(zone + strlen(zone) - 2, " )");
    free(rec);
    free(edrec);
    free(zone);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ed);
}

/* Load `json` (a "dkim" section) and count the errors; the output goes to a file. */
static int load(const char *json, struct dkim_conf *c, char *out, size_t out_size)
{
    char *path = xasprintf("%s/conf.out", tmpdir);
    FILE *f = fopen(path, "w+");
    struct conf_errors errs = { .file = "test", .count = 0, .out = f };
    size_t n;
    int rc;

    memset(c, 0, sizeof(*c));
    rc = conf_load_buffer("test", json, strlen(json), &dkim_conf_section, c, &errs);
    rewind(f);
    n = fread(out, 1, out_size - 1, f);
    out[n] = '\0';
    fclose(f);
    free(path);
    return rc < 0 ? errs.count : 0;
}

static void config_checks_signing_keys(void **state)
{
    EVP_PKEY *ed = dkim_keygen(DKIM_KEY_ED25519, 0), *r512 = dkim_keygen(DKIM_KEY_RSA, 512);
    EVP_PKEY *r1024 = dkim_keygen(DKIM_KEY_RSA, 1024);
    char *edp = write_key("ed.pem", ed), *r512p = write_key("r512.pem", r512);
    char *r1024p = write_key("r1024.pem", r1024), *json, out[4096];
    struct dkim_conf c;
    (void)state;

    json = xasprintf("{\"sign\": {\"Example.ORG\": {\"keys\": [{\"selector\": \"e1\", "
                     "\"algorithm\": \"ed25519-sha256\", \"file\": \"%s\"}, {\"selector\": "
                     "\"r1\", \"file\": \"%s\"}]}}}", edp, r1024p);
    assert_int_equal(load(json, &c, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "warning: /sign/Example.ORG/keys/1: file: "));
    assert_non_null(strstr(out, "is a 1024-bit RSA key; 2048 bits are recommended"));
    assert_int_equal(c.verify.max_signatures, 8);
    assert_int_equal(c.verify.timeout_ms, 8000);
    {
        struct dkim_signers *set = dkim_signers_load(&c, out, sizeof(out));
        assert_non_null(set);
        assert_non_null(dkim_signers_find(set, "example.org"));
        assert_string_equal(dkim_signer_domain(dkim_signers_find(set, "EXAMPLE.org")),
                            "example.org");
        assert_null(dkim_signers_find(set, "sub.example.org"));
        dkim_signers_free(set);
    }
    conf_free(&dkim_conf_section, &c);
    free(json);

    json = xasprintf("{\"sign\": {\"example.org\": {\"keys\": [{\"selector\": \"e1\", "
                     "\"file\": \"%s\"}, {\"selector\": \"r1\", \"file\": \"%s\"}, "
                     "{\"selector\": \"x\", \"file\": \"%s/missing.pem\"}], "
                     "\"headers\": [\"subject\"], \"oversign\": [\"to\"]}, "
                     "\"other.example\": {\"keys\": [{\"selector\": \"a b\", \"algorithm\": "
                     "\"ed25519-sha256\", \"file\": \"%s\"}]}}}", edp, r512p, tmpdir, edp);
    assert_int_equal(load(json, &c, out, sizeof(out)), 4);
    assert_non_null(strstr(out, "/sign/example.org/keys/0: file: "));
    assert_non_null(strstr(out, "is not an RSA key (algorithm rsa-sha256)"));
    assert_non_null(strstr(out, "is a 512-bit RSA key; verifiers refuse fewer than 1024"));
    assert_non_null(strstr(out, "missing.pem: No such file or directory"));
    assert_non_null(strstr(out, "/sign/other.example/keys/0: selector: \"a b\""));
    conf_free(&dkim_conf_section, &c);
    free(json);
    /* headers without from, oversign outside headers: checked once the keys are good */
    json = xasprintf("{\"sign\": {\"example.org\": {\"keys\": [{\"selector\": \"e1\", "
                     "\"algorithm\": \"ed25519-sha256\", \"file\": \"%s\"}], "
                     "\"headers\": [\"subject\"], \"oversign\": [\"to\"]}, \"bad domain\": "
                     "{\"keys\": [{\"selector\": \"e1\", \"algorithm\": \"ed25519-sha256\", "
                     "\"file\": \"%s\"}]}}}", edp, edp);
    assert_int_equal(load(json, &c, out, sizeof(out)), 3);
    assert_non_null(strstr(out, "/sign/bad domain: \"bad domain\" is not a domain name"));
    assert_non_null(strstr(out, "/sign/example.org/headers: must include from"));
    assert_non_null(strstr(out, "/sign/example.org/oversign/0: \"to\" is not in headers"));
    conf_free(&dkim_conf_section, &c);
    free(json);
    free(edp);
    free(r512p);
    free(r1024p);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(r512);
    EVP_PKEY_free(r1024);
}

/* ---- signing --------------------------------------------------------------------------- */

static const char msg_text[] =
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.net\r\n"
    "To: carol@example.net\r\n"
    "Subject: lunch  \r\n"
    "X-Mailer: test\r\n"
    "\r\n"
    "Are we still on for noon?  \r\n"
    "\r\n"
    "\r\n";

struct signed_msg {
    char *text;
    struct dkim_signer *signer;
    char *rsa_rec, *ed_rec;
};

static void sign_msg(struct signed_msg *sm, const char *extra_conf)
{
    EVP_PKEY *rsa = dkim_keygen(DKIM_KEY_RSA, 2048), *ed = dkim_keygen(DKIM_KEY_ED25519, 0);
    char *rp = write_key("r.pem", rsa), *ep = write_key("e.pem", ed), *json, out[4096];
    struct dkim_conf c;
    struct dkim_field f[FIELDS_MAX];
    size_t n, body, i;
    struct dkim_sign *m;
    char *sigs;

    json = xasprintf("{\"sign\": {\"example.org\": {\"keys\": [{\"selector\": \"r\", "
                     "\"file\": \"%s\"}, {\"selector\": \"e\", \"algorithm\": "
                     "\"ed25519-sha256\", \"file\": \"%s\"}]%s}}}", rp, ep, extra_conf);
    assert_int_equal(load(json, &c, out, sizeof(out)), 0);
    sm->signer = dkim_signer_load(c.sign.items, out, sizeof(out));
    assert_non_null(sm->signer);
    assert_int_equal(dkim_header_split(msg_text, strlen(msg_text), f, FIELDS_MAX, &n, &body),
                     DKIM_SPLIT_OK);
    m = dkim_sign_new(sm->signer);
    for (i = body; i < strlen(msg_text); i += 5)     /* in chunks, as DATA streams */
        dkim_sign_body(m, msg_text + i, strlen(msg_text) - i < 5 ? strlen(msg_text) - i : 5);
    sigs = dkim_sign_finish(m, f, n, NOW, out, sizeof(out));
    assert_non_null(sigs);
    sm->text = xasprintf("%s%s", sigs, msg_text);
    sm->rsa_rec = dkim_key_record(rsa);
    sm->ed_rec = dkim_key_record(ed);
    free(sigs);
    dkim_sign_free(m);
    conf_free(&dkim_conf_section, &c);
    free(json);
    free(rp);
    free(ep);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ed);
}

static void signed_msg_free(struct signed_msg *sm)
{
    free(sm->text);
    free(sm->rsa_rec);
    free(sm->ed_rec);
    dkim_signer_free(sm->signer);
}

struct vrun {
    int calls;
};

static void on_done(struct dkim_verify *v, void *arg)
{
    (void)v;
    ((struct vrun *)arg)->calls++;
}

/* Verify text with the two keys published; n results into res (copied). */
static size_t verify_text(const struct signed_msg *sm, const char *text,
                          struct dkim_result *res)
{
    static const struct dkim_verify_conf vc = { 8, 2000, 1024 };
    struct event_base *base = event_base_new();
    struct testdns t = { .base = base };
    struct dkim_dns iface = testdns_iface(&t);
    struct dkim_field f[FIELDS_MAX];
    size_t n, body;
    struct dkim_verify *v;
    struct vrun vr = { 0 };
    const struct dkim_result *r;

    testdns_add(&t, "r._domainkey.example.org", DKIM_DNS_OK, sm->rsa_rec, NULL);
    testdns_add(&t, "e._domainkey.example.org", DKIM_DNS_OK, sm->ed_rec, NULL);
    assert_int_equal(dkim_header_split(text, strlen(text), f, FIELDS_MAX, &n, &body),
                     DKIM_SPLIT_OK);
    v = dkim_verify_new(&vc, f, n, NOW);
    dkim_verify_body(v, text + body, strlen(text) - body);
    dkim_verify_body_end(v);
    dkim_verify_start(v, base, &iface, on_done, &vr);
    event_base_dispatch(base);
    assert_int_equal(vr.calls, 1);
    r = dkim_verify_results(v, &n);
    memcpy(res, r, n * sizeof(*r));
    dkim_verify_free(v);
    event_base_free(base);
    return n;
}

static void signed_message_verifies_with_both_keys(void **state)
{
    struct signed_msg sm;
    struct dkim_result res[4];
    const char *line;
    char *tampered;
    (void)state;

    sign_msg(&sm, "");
    assert_int_equal(verify_text(&sm, sm.text, res), 2);
    assert_int_equal(res[0].status, DKIM_PASS);
    assert_int_equal(res[0].alg, DKIM_ALG_RSA_SHA256);
    assert_int_equal(res[0].key_bits, 2048);
    assert_int_equal(res[1].status, DKIM_PASS);
    assert_int_equal(res[1].alg, DKIM_ALG_ED25519_SHA256);
    assert_string_equal(res[1].domain, "example.org");
    assert_int_equal(res[1].timestamp, NOW);
    assert_int_equal(res[1].expires, -1);
    /* From, To (twice present) and Subject oversigned; X-Mailer not in the list */
    assert_non_null(strstr(sm.text, "h=from:from:reply-to:subject:subject:date:to:to:to:cc:"));
    assert_null(strstr(sm.text, "x-mailer"));
    assert_non_null(strstr(sm.text, "c=relaxed/relaxed;"));
    /* folded, b= last in each field */
    for (line = sm.text; *line; line = strstr(line, "\r\n") + 2)
        assert_true(strstr(line, "\r\n") - line <= 78);
    for (line = strstr(sm.text, " b="); line; line = strstr(line + 1, " b=")) {
        const char *end = line;     /* the end of this field: CRLF not followed by WSP */
        while (!(end[0] == '\r' && end[2] != '\t' && end[2] != ' '))
            end++;
        assert_null(memchr(line, ';', (size_t)(end - line)));
    }
    /* an added To breaks it (oversigned); so does a changed body */
    tampered = xasprintf("To: mallory@evil.example\r\n%s", sm.text);
    verify_text(&sm, tampered, res);
    assert_int_equal(res[0].status, DKIM_FAIL);
    assert_int_equal(res[1].status, DKIM_FAIL);
    free(tampered);
    tampered = xasprintf("%snoon!\r\n", sm.text);
    verify_text(&sm, tampered, res);
    assert_string_equal(res[0].reason, "body hash mismatch");
    free(tampered);
    signed_msg_free(&sm);
}

static void simple_canonicalization_and_expiry(void **state)
{
    struct signed_msg sm;
    struct dkim_result res[4];
    (void)state;

    sign_msg(&sm, ", \"canonicalization\": \"simple/simple\", \"expire\": \"7d\"");
    assert_non_null(strstr(sm.text, "c=simple/simple;"));
    assert_non_null(strstr(sm.text, "x=1700604800;"));
    assert_int_equal(verify_text(&sm, sm.text, res), 2);
    assert_int_equal(res[0].status, DKIM_PASS);
    assert_int_equal(res[1].status, DKIM_PASS);
    assert_int_equal(res[0].expires, NOW + 7 * 86400);
    signed_msg_free(&sm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc8463_signatures_are_reproduced),
        cmocka_unit_test(keygen_writes_private_key_0600_and_never_over_a_file),
        cmocka_unit_test(key_record_and_zone_line),
        cmocka_unit_test(config_checks_signing_keys),
        cmocka_unit_test(signed_message_verifies_with_both_keys),
        cmocka_unit_test(simple_canonicalization_and_expiry),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
