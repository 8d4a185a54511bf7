/*
 * test_dkim_verify.c - unit tests of mailauth/dkim_verify.c with an in-memory key table
 * (dkim_testdns.h): the signed examples of RFC 6376 appendix A (with erratum 3192) and
 * RFC 8463 appendix A verify with their published keys; body and header changes fail;
 * key records (missing, temporary failure, deadline, revoked, k=, h=, s=, t=s, t=y, too
 * short); x= expiry, l= (a pass that says the body goes on), rsa-sha1 (a weak pass), a
 * signature that cannot be parsed, several signatures and the max_signatures bound,
 * cancellation, and the dkim= clause of Authentication-Results.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/xalloc.h"
#include "mailauth/dkim_crypto.h"
#include "mailauth/dkim_hash.h"
#include "mailauth/dkim_keygen.h"
#include "mailauth/dkim_verify.h"
#include "tests/unit/dkim_testdns.h"

#define FIELDS_MAX 64
#define NOW 1700000000LL

static const struct dkim_verify_conf conf = {
    .max_signatures = 8, .timeout_ms = 2000, .min_rsa_bits = 1024 };

/* RFC 6376 A.2 with erratum 3192 (one space after "game.") and erratum 4926 (6-space
 * indentation), and the key of A.3. */
static const char rfc6376_msg[] =
    "DKIM-Signature: v=1; a=rsa-sha256; s=brisbane; d=example.com;\r\n"
    "      c=simple/simple; q=dns/txt; i=joe@football.example.com;\r\n"
    "      h=Received : From : To : Subject : Date : Message-ID;\r\n"
    "      bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    "      b=AuUoFEfDxTDkHlLXSZEpZj79LICEps6eda7W3deTVFOk4yAUoqOB\r\n"
    "      4nujc7YopdG5dWLSdNg6xNAZpOPr+kHxt1IrE+NahM6L/LbvaHut\r\n"
    "      KVdkLLkpVaVVQPzeRDI009SO2Il5Lu7rDNH6mZckBdrIx0orEtZV\r\n"
    "      4bmp/YzhwvcubU4=;\r\n"
    "Received: from client1.football.example.com  [192.0.2.1]\r\n"
    "      by submitserver.example.com with SUBMISSION;\r\n"
    "      Fri, 11 Jul 2003 21:01:54 -0700 (PDT)\r\n"
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game. Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";
static const char rfc6376_key[] =
    "v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQ"
    "KBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYt"
    "IxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v"
    "/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhi"
    "tdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB";

/* RFC 8463 A.3, with the records of A.2. */
static const char rfc8463_msg[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    " date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";
static const char rfc8463_ed_key[] =
    "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
static const char rfc8463_rsa_key[] =
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWR"
    "iGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutAC"
    "DfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3"
    "Ip3G+2kryOTIKT+l/K4w3QIDAQAB";

static const char plain_msg[] =
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.net\r\n"
    "Subject: lunch\r\n"
    "\r\n"
    "Are we still on for noon?\r\n";

/* ---- helpers --------------------------------------------------------------------------- */

struct run {
    struct event_base *base;
    struct testdns dns;
    struct dkim_verify *v;
    int calls;
};

static void on_done(struct dkim_verify *v, void *arg)
{
    struct run *r = arg;
    assert_ptr_equal(v, r->v);
    r->calls++;
}

static int setup(void **state)
{
    struct run *r = xcalloc(1, sizeof(*r));
    r->base = event_base_new();
    r->dns.base = r->base;
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    struct run *r = *state;
    dkim_verify_free(r->v);
    event_base_free(r->base);
    free(r);
    return 0;
}

/* Verify msg, its body fed in chunks of 7 bytes; the results. */
static const struct dkim_result *verify_conf(struct run *r, const char *msg,
                                             const struct dkim_verify_conf *c, size_t *n)
{
    struct dkim_field f[FIELDS_MAX];
    size_t nf, body, len = strlen(msg), i;
    struct dkim_dns iface = testdns_iface(&r->dns);

    assert_int_equal(dkim_header_split(msg, len, f, FIELDS_MAX, &nf, &body), DKIM_SPLIT_OK);
    dkim_verify_free(r->v);
    r->calls = 0;
    r->v = dkim_verify_new(c, f, nf, NOW);
    dkim_verify_start(r->v, r->base, &iface, on_done, r);   /* lookups overlap the body */
    for (i = body; i < len; i += 7)
        dkim_verify_body(r->v, msg + i, len - i < 7 ? len - i : 7);
    assert_int_equal(r->calls, 0);
    dkim_verify_body_end(r->v);
    assert_int_equal(r->calls, 0);                          /* never inside a call */
    event_base_dispatch(r->base);
    assert_int_equal(r->calls, 1);
    return dkim_verify_results(r->v, n);
}

static const struct dkim_result *verify(struct run *r, const char *msg, size_t *n)
{
    return verify_conf(r, msg, &conf, n);
}

/* A copy of msg with the first occurrence of from replaced by to. */
static char *replace(const char *msg, const char *from, const char *to)
{
    const char *at = strstr(msg, from);
    assert_non_null(at);
    return xasprintf("%.*s%s%s", (int)(at - msg), msg, to, at + strlen(from));
}

/* msg with a new DKIM-Signature on top: tags (all but bh= and b=) are the caller's, and
 * names its h= list; c= and a= must match hc/bc/alg; l < 0: whole body. */
static char *add_sig(const char *msg, const char *tags, const char *const *names, size_t nn,
                     EVP_PKEY *key, enum dkim_alg alg, enum dkim_canon hc, enum dkim_canon bc,
                     long long l)
{
    struct dkim_field f[FIELDS_MAX];
    size_t nf, body, len = strlen(msg), dl, sl, b64len;
    struct dkim_bodyhash *bh = dkim_bodyhash_new();
    unsigned char d[DKIM_DIGEST_MAX], sig[DKIM_B_MAX];
    char bh64[128], b64[2048], *field, *out;
    int idx = dkim_bodyhash_add(bh, bc, dkim_alg_hash(alg), l);

    assert_int_equal(dkim_header_split(msg, len, f, FIELDS_MAX, &nf, &body), DKIM_SPLIT_OK);
    dkim_bodyhash_update(bh, msg + body, len - body);
    dkim_bodyhash_final(bh);
    dl = dkim_bodyhash_digest(bh, idx, d);
    base64_encode(d, dl, bh64, sizeof(bh64), &b64len);
    dkim_bodyhash_free(bh);
    field = xasprintf("DKIM-Signature: %s; bh=%s;\r\n b=", tags, bh64);
    dl = dkim_hash_headers(dkim_alg_hash(alg), hc, f, nf, names, nn, field, strlen(field),
                           strlen(field), strlen(field), d);
    assert_true(dl > 0);
    sl = dkim_crypto_sign(key, alg, d, dl, sig, sizeof(sig));
    assert_true(sl > 0);
    base64_encode(sig, sl, b64, sizeof(b64), &b64len);
    out = xasprintf("%s%s\r\n%s", field, b64, msg);
    free(field);
    return out;
}

static const char *const from_subject[] = { "from", "subject" };
#define RELAXED_TAGS(alg, extra) \
    "v=1; a=" alg "; c=relaxed/relaxed; d=example.org; s=sel; h=from:subject" extra

/* A key pair published at sel._domainkey.example.org (with extra tags before p=). */
static EVP_PKEY *publish(struct run *r, enum dkim_keytype type, unsigned bits,
                         const char *extra, char **record_out)
{
    EVP_PKEY *key = dkim_keygen(type, bits);
    char *rec = dkim_key_record(key), *p = strstr(rec, "p=");
    assert_non_null(p);
    *record_out = xasprintf("%.*s%s%s", (int)(p - rec), rec, extra, p);
    free(rec);
    testdns_add(&r->dns, "sel._domainkey.example.org", DKIM_DNS_OK, *record_out, NULL);
    return key;
}

/* The key records of RFC 8463 A.2. */
static void publish_rfc8463(struct run *r)
{
    testdns_add(&r->dns, "brisbane._domainkey.football.example.com", DKIM_DNS_OK,
                rfc8463_ed_key, NULL);
    testdns_add(&r->dns, "test._domainkey.football.example.com", DKIM_DNS_OK,
                rfc8463_rsa_key, NULL);
}

/* ---- RFC examples ---------------------------------------------------------------------- */

static void rfc6376_appendix_a_verifies(void **state)
{
    struct run *r = *state;
    const struct dkim_result *res;
    size_t n;
    char ar[512];

    testdns_add(&r->dns, "brisbane._domainkey.example.com", DKIM_DNS_OK, rfc6376_key, NULL);
    res = verify(r, rfc6376_msg, &n);
    assert_int_equal(n, 1);
    assert_int_equal(res[0].status, DKIM_PASS);
    assert_string_equal(res[0].domain, "example.com");
    assert_string_equal(res[0].selector, "brisbane");
    assert_string_equal(res[0].auid, "joe@football.example.com");
    assert_int_equal(res[0].alg, DKIM_ALG_RSA_SHA256);
    assert_int_equal(res[0].key_bits, 1024);
    assert_false(res[0].weak);
    assert_int_equal(r->dns.started, 1);
    dkim_ar_format(ar, sizeof(ar), res, n);
    assert_string_equal(ar, "dkim=pass (1024-bit rsa key) header.d=example.com "
                            "header.i=joe@football.example.com header.s=brisbane "
                            "header.a=rsa-sha256 header.b=AuUoFEfD");
}

/* The text as printed in the RFC, two spaces after "game.": erratum 3192 says why it
 * cannot verify with simple body canonicalization. */
static void rfc6376_text_without_erratum_fails_on_the_body(void **state)
{
    struct run *r = *state;
    char *msg = replace(rfc6376_msg, "game. Are", "game.  Are");
    size_t n;
    const struct dkim_result *res;

    testdns_add(&r->dns, "brisbane._domainkey.example.com", DKIM_DNS_OK, rfc6376_key, NULL);
    res = verify(r, msg, &n);
    assert_int_equal(res[0].status, DKIM_FAIL);
    assert_string_equal(res[0].reason, "body hash mismatch");
    free(msg);
}

static void rfc8463_appendix_a_both_verify(void **state)
{
    struct run *r = *state;
    const struct dkim_result *res;
    size_t n;

    publish_rfc8463(r);
    res = verify(r, rfc8463_msg, &n);
    assert_int_equal(n, 2);
    assert_int_equal(res[0].status, DKIM_PASS);
    assert_int_equal(res[0].alg, DKIM_ALG_ED25519_SHA256);
    assert_int_equal(res[0].key_bits, 256);
    assert_string_equal(res[0].selector, "brisbane");
    assert_int_equal(res[0].timestamp, 1528637909);
    assert_int_equal(res[1].status, DKIM_PASS);
    assert_int_equal(res[1].alg, DKIM_ALG_RSA_SHA256);
    assert_string_equal(res[1].selector, "test");
    assert_string_equal(res[1].domain, "football.example.com");
}

/* ---- changed messages ------------------------------------------------------------------ */

/* A changed body fails on the body hash; a changed signed field on the signature. */
static void changed_messages_fail(void **state)
{
    static const struct { const char *from, *to, *why; } cases[] = {
        { "Joe.", "Jo3.", "body hash mismatch" },
        { "dinner ready", "dinnerready", "signature did not verify" },
    };
    struct run *r = *state;
    size_t n, k;

    publish_rfc8463(r);
    for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char *msg = replace(rfc8463_msg, cases[k].from, cases[k].to);
        const struct dkim_result *res = verify(r, msg, &n);
        assert_int_equal(res[0].status, DKIM_FAIL);
        assert_string_equal(res[0].reason, cases[k].why);
        assert_int_equal(res[1].status, DKIM_FAIL);
        assert_string_equal(res[1].reason, cases[k].why);
        free(msg);
    }
}

/* relaxed/relaxed forgives refolding and trailing whitespace; an added From does not:
 * the RFC 8463 signatures oversign From (h= lists it twice). */
static void relaxed_forgives_whitespace_but_not_an_added_from(void **state)
{
    struct run *r = *state;
    char *m1 = replace(rfc8463_msg, "Subject: Is dinner", "Subject:  Is\r\n\t dinner");
    char *m2 = replace(m1, "Joe.\r\n", "Joe.  \r\n\r\n\r\n");
    char *m3 = replace(rfc8463_msg, "To: Suzie", "From: Mallory <m@evil.example>\r\nTo: Suzie");
    size_t n;
    const struct dkim_result *res;

    publish_rfc8463(r);
    res = verify(r, m2, &n);
    assert_int_equal(res[0].status, DKIM_PASS);
    assert_int_equal(res[1].status, DKIM_PASS);
    res = verify(r, m3, &n);
    assert_int_equal(res[0].status, DKIM_FAIL);
    assert_int_equal(res[1].status, DKIM_FAIL);
    free(m1);
    free(m2);
    free(m3);
}

/* ---- keys ------------------------------------------------------------------------------ */

static void missing_key_is_permerror_temporary_failure_is_temperror(void **state)
{
    struct run *r = *state;
    size_t n;
    const struct dkim_result *res;

    testdns_add(&r->dns, "brisbane._domainkey.football.example.com", DKIM_DNS_NOTFOUND,
                NULL, NULL);
    testdns_add(&r->dns, "test._domainkey.football.example.com", DKIM_DNS_TEMPFAIL,
                NULL, NULL);
    res = verify(r, rfc8463_msg, &n);
    assert_int_equal(res[0].status, DKIM_PERMERROR);
    assert_string_equal(res[0].reason, "no key for signature");
    assert_int_equal(res[1].status, DKIM_TEMPERROR);
    assert_string_equal(res[1].reason, "key lookup failed");
}

static void lookup_past_the_deadline_is_temperror(void **state)
{
    struct run *r = *state;
    struct dkim_verify_conf c = conf;
    size_t n;
    const struct dkim_result *res;

    c.timeout_ms = 50;
    testdns_add(&r->dns, "brisbane._domainkey.football.example.com", TESTDNS_HANG,
                NULL, NULL);
    testdns_add(&r->dns, "test._domainkey.football.example.com", DKIM_DNS_OK,
                rfc8463_rsa_key, NULL);
    res = verify_conf(r, rfc8463_msg, &c, &n);
    assert_int_equal(res[0].status, DKIM_TEMPERROR);
    assert_string_equal(res[0].reason, "key lookup timed out");
    assert_int_equal(res[1].status, DKIM_PASS);
    assert_int_equal(r->dns.cancelled, 1);
}

static void revoked_key_is_permerror(void **state)
{
    struct run *r = *state;
    size_t n;
    const struct dkim_result *res;

    testdns_add(&r->dns, "brisbane._domainkey.football.example.com", DKIM_DNS_OK,
                "v=DKIM1; k=ed25519; p=", NULL);
    testdns_add(&r->dns, "test._domainkey.football.example.com", DKIM_DNS_OK,
                "v=DKIM1; p=", NULL);
    res = verify(r, rfc8463_msg, &n);
    assert_int_equal(res[0].status, DKIM_PERMERROR);
    assert_string_equal(res[0].reason, "key revoked");
    assert_int_equal(res[1].status, DKIM_PERMERROR);
}

/* k=, h=, s= of the key must fit the signature; a second record that does not parse is
 * skipped. */
static void key_record_tags_are_enforced(void **state)
{
    struct run *r = *state;
    size_t n;
    const struct dkim_result *res;

    /* the Ed25519 key published as k=rsa, the RSA key allowing only sha1 */
    testdns_add(&r->dns, "brisbane._domainkey.football.example.com", DKIM_DNS_OK,
                "v=DKIM1; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", NULL);
    testdns_add(&r->dns, "test._domainkey.football.example.com", DKIM_DNS_OK,
                "not a key", "v=DKIM1; h=sha1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ"
                "DkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3F"
                "utACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G"
                "+2kryOTIKT+l/K4w3QIDAQAB");
    res = verify(r, rfc8463_msg, &n);
    assert_int_equal(res[0].status, DKIM_PERMERROR);
    assert_string_equal(res[0].reason, "key type does not match the signature algorithm");
    assert_int_equal(res[1].status, DKIM_PERMERROR);
    assert_string_equal(res[1].reason, "key does not allow the signature's hash");

    r->dns.n = 0;
    testdns_add(&r->dns, "brisbane._domainkey.football.example.com", DKIM_DNS_OK,
                "v=DKIM1; k=ed25519; s=other; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
                NULL);
    testdns_add(&r->dns, "test._domainkey.football.example.com", DKIM_DNS_OK,
                "v=DKIM1; k=ed25519; s=email:other; t=y:s; "
                "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", NULL);
    res = verify(r, rfc8463_msg, &n);
    assert_string_equal(res[0].reason, "key is not for email");
    assert_string_equal(res[1].reason, "key type does not match the signature algorithm");
}

/* t=s: i= must have exactly the domain of d=; t=y is reported. */
static void strict_and_testing_flags(void **state)
{
    struct run *r = *state;
    char *rec;
    EVP_PKEY *key = publish(r, DKIM_KEY_ED25519, 0, "t=y:s; ", &rec);
    static const char tags_sub[] = "v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org; "
                                   "s=sel; i=alice@mail.example.org; h=from:subject";
    char *ok = add_sig(plain_msg, RELAXED_TAGS("ed25519-sha256", "; i=alice@example.org"),
                       from_subject, 2, key, DKIM_ALG_ED25519_SHA256, DKIM_CANON_RELAXED,
                       DKIM_CANON_RELAXED, -1);
    char *sub = add_sig(plain_msg, tags_sub, from_subject, 2, key, DKIM_ALG_ED25519_SHA256,
                        DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, -1);
    size_t n;
    const struct dkim_result *res = verify(r, ok, &n);

    assert_int_equal(res[0].status, DKIM_PASS);
    assert_true(res[0].testing);
    res = verify(r, sub, &n);
    assert_int_equal(res[0].status, DKIM_PERMERROR);
    assert_string_equal(res[0].reason, "key requires i= to use exactly d= (t=s)");
    free(ok);
    free(sub);
    free(rec);
    EVP_PKEY_free(key);
}

static void short_rsa_key_is_permerror(void **state)
{
    struct run *r = *state;
    char *rec, *msg, ar[512];
    EVP_PKEY *key = publish(r, DKIM_KEY_RSA, 512, "", &rec);
    size_t n;
    const struct dkim_result *res;

    msg = add_sig(plain_msg, RELAXED_TAGS("rsa-sha256", ""), from_subject, 2, key,
                  DKIM_ALG_RSA_SHA256, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, -1);
    res = verify(r, msg, &n);
    assert_int_equal(res[0].status, DKIM_PERMERROR);
    assert_string_equal(res[0].reason, "RSA key too short");
    dkim_ar_format(ar, sizeof(ar), res, n);
    assert_non_null(strstr(ar, "dkim=permerror (RSA key too short; 512-bit rsa key)"));
    free(msg);
    free(rec);
    EVP_PKEY_free(key);
}

/* ---- signature tags -------------------------------------------------------------------- */

static void expired_signature_is_policy(void **state)
{
    struct run *r = *state;
    char *rec, *old, *fresh;
    EVP_PKEY *key = publish(r, DKIM_KEY_ED25519, 0, "", &rec);
    size_t n;
    const struct dkim_result *res;

    old = add_sig(plain_msg, RELAXED_TAGS("ed25519-sha256", "; t=1600000000; x=1690000000"),
                  from_subject, 2, key, DKIM_ALG_ED25519_SHA256, DKIM_CANON_RELAXED,
                  DKIM_CANON_RELAXED, -1);
    fresh = add_sig(plain_msg, RELAXED_TAGS("ed25519-sha256", "; t=1600000000; x=1800000000"),
                    from_subject, 2, key, DKIM_ALG_ED25519_SHA256, DKIM_CANON_RELAXED,
                    DKIM_CANON_RELAXED, -1);
    res = verify(r, old, &n);
    assert_int_equal(res[0].status, DKIM_POLICY);
    assert_string_equal(res[0].reason, "signature expired");
    assert_int_equal(res[0].expires, 1690000000);
    assert_int_equal(r->dns.started, 0);            /* no lookup for an expired one */
    res = verify(r, fresh, &n);
    assert_int_equal(res[0].status, DKIM_PASS);
    free(old);
    free(fresh);
    free(rec);
    EVP_PKEY_free(key);
}

/* l= : text appended after the signed part still passes, flagged; a shorter body fails. */
static void body_length_limit(void **state)
{
    struct run *r = *state;
    char *rec, *msg, *longer, *shorter, ar[512];
    EVP_PKEY *key = publish(r, DKIM_KEY_RSA, 1024, "", &rec);
    size_t n;
    const struct dkim_result *res;

    msg = add_sig(plain_msg, RELAXED_TAGS("rsa-sha256", "; l=27"), from_subject, 2, key,
                  DKIM_ALG_RSA_SHA256, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, 27);
    res = verify(r, msg, &n);
    assert_int_equal(res[0].status, DKIM_PASS);
    assert_true(res[0].has_l);
    assert_false(res[0].body_truncated);
    longer = xasprintf("%sBuy cheap pills at http://spam.example/\r\n", msg);
    res = verify(r, longer, &n);
    assert_int_equal(res[0].status, DKIM_PASS);
    assert_true(res[0].body_truncated);
    assert_int_equal(res[0].l, 27);
    assert_int_equal(res[0].body_length, 27 + 41);
    dkim_ar_format(ar, sizeof(ar), res, n);
    assert_non_null(strstr(ar, "only the first 27 of 68 body bytes signed"));
    shorter = replace(msg, "noon?", "no?");
    res = verify(r, shorter, &n);
    assert_int_equal(res[0].status, DKIM_FAIL);
    free(msg);
    free(longer);
    free(shorter);
    free(rec);
    EVP_PKEY_free(key);
}

static void rsa_sha1_passes_as_weak(void **state)
{
    struct run *r = *state;
    char *rec, *msg, ar[512];
    EVP_PKEY *key = publish(r, DKIM_KEY_RSA, 1024, "", &rec);
    static const char *const names[] = { "from" };
    size_t n;
    const struct dkim_result *res;

    msg = add_sig(plain_msg, "v=1; a=rsa-sha1; d=example.org; s=sel; h=from", names, 1, key,
                  DKIM_ALG_RSA_SHA1, DKIM_CANON_SIMPLE, DKIM_CANON_SIMPLE, -1);
    res = verify(r, msg, &n);
    assert_int_equal(res[0].status, DKIM_PASS);
    assert_true(res[0].weak);
    dkim_ar_format(ar, sizeof(ar), res, n);
    assert_non_null(strstr(ar, "dkim=pass (1024-bit rsa key; weak algorithm rsa-sha1)"));
    free(msg);
    free(rec);
    EVP_PKEY_free(key);
}

static void unparseable_signatures_are_neutral(void **state)
{
    struct run *r = *state;
    static const char *const msgs[] = {
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=subject; bh=AA==; b=AA==\r\n",
        "DKIM-Signature: v=2; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AA==; b=AA==\r\n",
        "DKIM-Signature: v=1; a=rsa-md5; d=example.org; s=sel; h=from; bh=AA==; b=AA==\r\n",
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AA==; b=AA==; "
        "i=joe@example.com\r\n",
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=AA==\r\n",
        "DKIM-Signature: v=1; v=1\r\n",
    };
    static const char *const why[] = {
        "From is not signed", "unsupported signature version",
        "unsupported signature algorithm", "i= is not within d=",
        "signature lacks a required tag", "signature syntax error",
    };
    size_t k, n;

    for (k = 0; k < sizeof(msgs) / sizeof(msgs[0]); k++) {
        char *msg = xasprintf("%s%s", msgs[k], plain_msg);
        const struct dkim_result *res = verify(r, msg, &n);
        assert_int_equal(n, 1);
        assert_int_equal(res[0].status, DKIM_NEUTRAL);
        assert_string_equal(res[0].reason, why[k]);
        free(msg);
    }
    assert_int_equal(r->dns.started, 0);
}

static void no_signature_gives_none(void **state)
{
    struct run *r = *state;
    size_t n;
    char ar[64];
    const struct dkim_result *res = verify(r, plain_msg, &n);

    assert_int_equal(n, 0);
    dkim_ar_format(ar, sizeof(ar), res, n);
    assert_string_equal(ar, "dkim=none");
}

/* Three signatures, max_signatures 2: the top two are checked, in order. */
static void signatures_beyond_the_limit_are_skipped(void **state)
{
    struct run *r = *state;
    struct dkim_verify_conf c = conf;
    char *rec, *m1, *m2, *m3;
    EVP_PKEY *key = publish(r, DKIM_KEY_ED25519, 0, "", &rec);
    size_t n;
    const struct dkim_result *res;

    c.max_signatures = 2;
    m1 = add_sig(plain_msg, RELAXED_TAGS("ed25519-sha256", ""), from_subject, 2, key,
                 DKIM_ALG_ED25519_SHA256, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, -1);
    m2 = xasprintf("DKIM-Signature: v=1; a=rsa-sha256; d=other.example; s=x; h=from; bh=AA==; "
                   "b=AA==\r\n%s", m1);
    m3 = add_sig(m2, RELAXED_TAGS("ed25519-sha256", "; x=1900000000"), from_subject, 2, key,
                 DKIM_ALG_ED25519_SHA256, DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, -1);
    res = verify_conf(r, m3, &c, &n);
    assert_int_equal(n, 2);
    assert_int_equal(dkim_verify_skipped(r->v), 1);
    assert_int_equal(res[0].status, DKIM_PASS);
    assert_int_equal(res[0].expires, 1900000000);
    assert_int_equal(res[1].status, DKIM_PERMERROR);   /* other.example has no key */
    assert_string_equal(res[1].domain, "other.example");
    free(m1);
    free(m2);
    free(m3);
    free(rec);
    EVP_PKEY_free(key);
}

/* Freed while a lookup is pending: the lookup is cancelled and the callback never runs. */
static void free_cancels_pending_lookups(void **state)
{
    struct run *r = *state;
    struct dkim_field f[FIELDS_MAX];
    size_t nf, body;
    struct dkim_dns iface = testdns_iface(&r->dns);

    testdns_add(&r->dns, "brisbane._domainkey.football.example.com", TESTDNS_HANG, NULL, NULL);
    assert_int_equal(dkim_header_split(rfc8463_msg, strlen(rfc8463_msg), f, FIELDS_MAX, &nf,
                                       &body), DKIM_SPLIT_OK);
    r->v = dkim_verify_new(&conf, f, nf, NOW);
    dkim_verify_start(r->v, r->base, &iface, on_done, r);
    dkim_verify_body_end(r->v);
    event_base_loop(r->base, EVLOOP_NONBLOCK);  /* the "test" key is answered */
    assert_int_equal(r->dns.answered, 1);
    dkim_verify_free(r->v);
    r->v = NULL;
    assert_int_equal(r->dns.cancelled, 1);
    event_base_dispatch(r->base);
    assert_int_equal(r->calls, 0);
}

/* header.b is lengthened when two signatures share their first 8 characters; values that
 * are not tokens are quoted. */
static void ar_clause_quotes_and_disambiguates(void **state)
{
    struct dkim_result res[2];
    char ar[1024];
    (void)state;

    memset(res, 0, sizeof(res));
    res[0].status = res[1].status = DKIM_PASS;
    strcpy(res[0].domain, "example.org");
    strcpy(res[1].domain, "example.org");
    strcpy(res[0].b_prefix, "ab/defghIJKLMNOP");
    strcpy(res[1].b_prefix, "ab/defghQRSTUVWX");
    strcpy(res[0].auid, "\"odd local\"@example.org");
    dkim_ar_format(ar, sizeof(ar), res, 2);
    assert_string_equal(ar, "dkim=pass header.d=example.org "
                            "header.i=\"\\\"odd local\\\"@example.org\" "
                            "header.b=\"ab/defghIJKLMNOP\"; dkim=pass header.d=example.org "
                            "header.b=\"ab/defghQRSTUVWX\"");
    res[1].b_prefix[3] = 'x';
    assert_int_equal(dkim_ar_format(ar, 8, res, 2), strlen("dkim=pass header.d=example.org "
        "header.i=\"\\\"odd local\\\"@example.org\" header.b=\"ab/defgh\"; dkim=pass "
        "header.d=example.org header.b=\"ab/xefgh\""));
    assert_string_equal(ar, "dkim=pa");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rfc6376_appendix_a_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(rfc6376_text_without_erratum_fails_on_the_body, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(rfc8463_appendix_a_both_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(changed_messages_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(relaxed_forgives_whitespace_but_not_an_added_from,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(missing_key_is_permerror_temporary_failure_is_temperror,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(lookup_past_the_deadline_is_temperror, setup, teardown),
        cmocka_unit_test_setup_teardown(revoked_key_is_permerror, setup, teardown),
        cmocka_unit_test_setup_teardown(key_record_tags_are_enforced, setup, teardown),
        cmocka_unit_test_setup_teardown(strict_and_testing_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(short_rsa_key_is_permerror, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_signature_is_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(body_length_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(rsa_sha1_passes_as_weak, setup, teardown),
        cmocka_unit_test_setup_teardown(unparseable_signatures_are_neutral, setup, teardown),
        cmocka_unit_test_setup_teardown(no_signature_gives_none, setup, teardown),
        cmocka_unit_test_setup_teardown(signatures_beyond_the_limit_are_skipped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(free_cancels_pending_lookups, setup, teardown),
        cmocka_unit_test(ar_clause_quotes_and_disambiguates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
