/*
 * dkim_bench.c - DKIM signing and verifying cost for make bench: messages per second of
 * one core (thread CPU time) for a 4 KB and a 100 KB message, with an RSA-2048 and an
 * Ed25519 key, through the same code the daemon runs (mailauth/dkim_sign.c and
 * dkim_verify.c, body fed in 16 KB chunks as DATA streams, key records from an in-memory
 * table answered on the event loop); then the cost of the public-key operation alone per
 * signature (RSA-2048, RSA-4096, Ed25519). Prints figures, asserts nothing but that every
 * verification passes.
 * Usage: dkim_bench [SECONDS per figure, default 0.5]
 */
#include "lib/xalloc.h"
#include "mailauth/dkim_crypto.h"
#include "mailauth/dkim_hash.h"
#include "mailauth/dkim_keygen.h"
#include "mailauth/dkim_sign.h"
#include "mailauth/dkim_verify.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 16384
#define FIELDS_MAX 32
#define NS_PER_S 1e9
#define US_PER_S 1e6
#define SMALL 4096
#define LARGE (100 * 1024)
#define LINE_LEN 76
#define BATCH 8

static double budget_s = 0.5;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / NS_PER_S;
}

/* A message of about size bytes: a few header fields and lines of text. */
static char *make_message(size_t size, size_t *len)
{
    static const char head[] = "From: Alice <alice@bench.example>\r\nTo: bob@example.net\r\n"
                               "Subject: benchmark message\r\nDate: Mon, 1 Jan 2024 10:00:00 "
                               "+0000\r\nMessage-ID: <bench@bench.example>\r\n"
                               "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n";
    char *m = xmalloc(size + LINE_LEN + sizeof(head));
    size_t n = strlen(head), k = 0;

    memcpy(m, head, n);
    while (n < size) {
        size_t i;
        for (i = 0; i < LINE_LEN - 2; i++)
            m[n++] = (char)("abcdefghij klmnopqrst  uvwxyz"[(k + i) % 29]);
        m[n++] = '\r';
        m[n++] = '\n';
        k++;
    }
    *len = n;
    return m;
}

/* ---- key records for the verifier: answered from the loop --------------------------- */

struct table {
    struct event_base *base;
    const char *name, *record;
};

struct query {
    struct table *t;
    struct event *ev;
    dkim_dns_cb cb;
    void *arg;
};

static void answer(evutil_socket_t fd, short what, void *arg)
{
    struct query *q = arg;
    struct dkim_txt txt = { q->t->record, strlen(q->t->record) };
    (void)fd, (void)what;
    event_free(q->ev);
    q->cb(q->arg, DKIM_DNS_OK, &txt, 1);
    free(q);
}

static void *lookup(void *ctx, const char *name, dkim_dns_cb cb, void *arg)
{
    struct query *q = xcalloc(1, sizeof(*q));
    struct timeval now = { 0, 0 };
    (void)name;
    q->t = ctx;
    q->cb = cb;
    q->arg = arg;
    q->ev = evtimer_new(q->t->base, answer, q);
    evtimer_add(q->ev, &now);
    return q;
}

static void cancel(void *ctx, void *query)
{
    struct query *q = query;
    (void)ctx;
    event_free(q->ev);
    free(q);
}

static const struct dkim_dns_ops table_ops = { lookup, cancel };

/* ---- one key ------------------------------------------------------------------------ */

static struct dkim_signer *signer_for(EVP_PKEY *key, const char *dir, const char *alg)
{
    char *path = xasprintf("%s/%s.pem", dir, alg), *json, err[512];
    struct conf_errors errs = { .file = "bench", .count = 0, .out = stderr };
    struct dkim_conf c;
    struct dkim_signer *s;

    if (dkim_key_write_private(path, key, err, sizeof(err)) < 0) {
        fprintf(stderr, "dkim_bench: %s\n", err);
        exit(1);
    }
    json = xasprintf("{\"sign\": {\"bench.example\": {\"keys\": [{\"selector\": \"b\", "
                     "\"algorithm\": \"%s\", \"file\": \"%s\"}]}}}", alg, path);
    memset(&c, 0, sizeof(c));
    if (conf_load_buffer("bench", json, strlen(json), &dkim_conf_section, &c, &errs) < 0)
        exit(1);
    s = dkim_signer_load(c.sign.items, err, sizeof(err));
    if (s == NULL)
        exit(1);
    conf_free(&dkim_conf_section, &c);
    unlink(path);
    free(json);
    free(path);
    return s;
}

static char *sign_message(const struct dkim_signer *s, const char *msg, size_t len,
                          size_t *out_len)
{
    struct dkim_field f[FIELDS_MAX];
    size_t n, body, i;
    struct dkim_sign *m = dkim_sign_new(s);
    char err[256], *sigs, *out;

    dkim_header_split(msg, len, f, FIELDS_MAX, &n, &body);
    for (i = body; i < len; i += CHUNK)
        dkim_sign_body(m, msg + i, len - i < CHUNK ? len - i : CHUNK);
    sigs = dkim_sign_finish(m, f, n, (long long)time(NULL), err, sizeof(err));
    dkim_sign_free(m);
    if (out_len == NULL) {
        free(sigs);
        return NULL;
    }
    out = xasprintf("%s%.*s", sigs, (int)len, msg);
    *out_len = strlen(out);
    free(sigs);
    return out;
}

static void done(struct dkim_verify *v, void *arg)
{
    (void)v, (void)arg;
}

static void verify_message(struct event_base *base, struct table *t, const char *msg,
                           size_t len)
{
    static const struct dkim_verify_conf vc = { 8, 8000, 1024 };
    struct dkim_dns dns = { &table_ops, t };
    struct dkim_field f[FIELDS_MAX];
    size_t n, body, i;
    const struct dkim_result *r;
    struct dkim_verify *v;

    dkim_header_split(msg, len, f, FIELDS_MAX, &n, &body);
    v = dkim_verify_new(&vc, f, n, (long long)time(NULL));
    dkim_verify_start(v, base, &dns, done, NULL);
    for (i = body; i < len; i += CHUNK)
        dkim_verify_body(v, msg + i, len - i < CHUNK ? len - i : CHUNK);
    dkim_verify_body_end(v);
    event_base_dispatch(base);
    r = dkim_verify_results(v, &n);
    if (n != 1 || r[0].status != DKIM_PASS) {
        fprintf(stderr, "dkim_bench: verification did not pass\n");
        exit(1);
    }
    dkim_verify_free(v);
}

static void bench_key(const char *label, EVP_PKEY *key, const char *alg, const char *dir)
{
    static const size_t sizes[] = { SMALL, LARGE };
    struct dkim_signer *s = signer_for(key, dir, alg);
    struct event_base *base = event_base_new();
    char *record = dkim_key_record(key);
    struct table t = { base, "b._domainkey.bench.example", record };
    size_t k;

    for (k = 0; k < 2; k++) {
        size_t len, slen;
        char *msg = make_message(sizes[k], &len), *signed_msg;
        double t0 = cpu_now(), t1;
        long nsign = 0, nver = 0, i;

        do {
            for (i = 0; i < BATCH; i++)
                sign_message(s, msg, len, NULL);
            nsign += BATCH;
        } while ((t1 = cpu_now()) - t0 < budget_s);
        printf("dkim sign   %-8s %4zu KB: %8.0f messages/s (one core)\n", label,
               sizes[k] / 1024, nsign / (t1 - t0));
        signed_msg = sign_message(s, msg, len, &slen);
        t0 = cpu_now();
        do {
            for (i = 0; i < BATCH; i++)
                verify_message(base, &t, signed_msg, slen);
            nver += BATCH;
        } while ((t1 = cpu_now()) - t0 < budget_s);
        printf("dkim verify %-8s %4zu KB: %8.0f messages/s (one core)\n", label,
               sizes[k] / 1024, nver / (t1 - t0));
        free(signed_msg);
        free(msg);
    }
    free(record);
    event_base_free(base);
    dkim_signer_free(s);
}

/* The public-key operation alone, per signature, in microseconds. */
static void bench_crypto(const char *label, EVP_PKEY *key, enum dkim_alg alg)
{
    unsigned char digest[32] = { 1, 2, 3 }, sig[1024];
    size_t len = dkim_crypto_sign(key, alg, digest, sizeof(digest), sig, sizeof(sig));
    double t0 = cpu_now(), t1;
    long n = 0, i;

    do {
        for (i = 0; i < BATCH; i++)
            if (dkim_crypto_verify(key, alg, digest, sizeof(digest), sig, len) != 1)
                exit(1);
        n += BATCH;
    } while ((t1 = cpu_now()) - t0 < budget_s / 2);
    printf("dkim crypto %-8s: verify %7.1f us", label, (t1 - t0) * US_PER_S / n);
    t0 = cpu_now();
    n = 0;
    do {
        dkim_crypto_sign(key, alg, digest, sizeof(digest), sig, sizeof(sig));
        n++;
    } while ((t1 = cpu_now()) - t0 < budget_s / 2);
    printf(", sign %7.1f us per signature\n", (t1 - t0) * US_PER_S / n);
}

int main(int argc, char **argv)
{
    char dir[] = "/tmp/dkim_bench.XXXXXX";
    EVP_PKEY *rsa = dkim_keygen(DKIM_KEY_RSA, DKIM_RSA_BITS_DEFAULT);
    EVP_PKEY *rsa4k = dkim_keygen(DKIM_KEY_RSA, 4096);
    EVP_PKEY *ed = dkim_keygen(DKIM_KEY_ED25519, 0);

    if (argc > 1)
        budget_s = atof(argv[1]);
    if (mkdtemp(dir) == NULL || rsa == NULL || rsa4k == NULL || ed == NULL)
        return 1;
    bench_key("rsa-2048", rsa, "rsa-sha256", dir);
    bench_key("ed25519", ed, "ed25519-sha256", dir);
    bench_crypto("rsa-2048", rsa, DKIM_ALG_RSA_SHA256);
    bench_crypto("rsa-4096", rsa4k, DKIM_ALG_RSA_SHA256);
    bench_crypto("ed25519", ed, DKIM_ALG_ED25519_SHA256);
    rmdir(dir);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa4k);
    EVP_PKEY_free(ed);
    return 0;
}
