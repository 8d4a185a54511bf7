/*
 * dnschecks_bench.c - what the inbound DNS checks cost the policy engine: sessions per
 * second through CONNECT, HELO, MAIL and RCPT with rdns, helo, dnsbl (3 zones) and
 * sender_domain on, against a DNS server on loopback inside the process that answers at
 * once (tests/unit/dns_zone_server.h), the resolver's cache off (every lookup goes to the
 * wire) and on; and the same sessions with no checks. C sessions run concurrently on one
 * loop. Prints figures, asserts nothing.
 * Usage: dnschecks_bench [SESSIONS, default 2000] [CONCURRENT, default 50]
 */
#include "lib/dns.h"
#include "lib/xalloc.h"
#include "policy/engine.h"
#include "policy/user_store.h"
#include "tests/unit/dns_zone_server.h"
#include "tests/unit/policy_testconf.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const enum engine_stage stages[] = { STAGE_CONNECT, STAGE_HELO, STAGE_MAIL, STAGE_RCPT };
#define NSTAGES (sizeof(stages) / sizeof(stages[0]))

struct bench {
    struct event_base *base;
    struct engine *e;
    const struct engine_profile *p;
    int started, finished, total, concurrent;
};

struct sess {
    struct bench *b;
    struct engine_session *s;
    size_t at;
};

static void step(struct sess *x);

static void on_stage(void *arg)
{
    struct sess *x = arg;

    x->at++;
    step(x);
}

static void start_one(struct bench *b);

static void step(struct sess *x)
{
    for (;;) {
        if (x->at == NSTAGES) {
            struct bench *b = x->b;
            engine_session_free(x->s);
            free(x);
            b->finished++;
            if (b->started < b->total)
                start_one(b);
            else if (b->finished == b->total)
                event_base_loopbreak(b->base);
            return;
        }
        switch (stages[x->at]) {
        case STAGE_HELO:
            engine_session_set_helo(x->s, "mail.good.test");
            break;
        case STAGE_MAIL:
            engine_tx_begin(x->s, "s@good.test", "QID");
            break;
        case STAGE_RCPT:
            engine_rcpt_add(x->s, "u@a.test");
            break;
        default:
            break;
        }
        if (engine_run(x->s, stages[x->at], on_stage, x) == ENGINE_PENDING)
            return;
        x->at++;
    }
}

static void start_one(struct bench *b)
{
    struct sess *x = xcalloc(1, sizeof(*x));
    char ip[32];

    /* 200 client addresses: the cache-on figure sees repeats, like a real MX */
    snprintf(ip, sizeof(ip), "192.0.2.%d", 10 + b->started % 200);
    x->b = b;
    x->s = engine_session_new(b->e, b->p, "mx", ip);
    b->started++;
    step(x);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double run_profile(struct bench *b, const char *name, int n, int c)
{
    double t0;
    int i;

    b->p = engine_profile_find(b->e, name);
    b->started = b->finished = 0;
    b->total = n;
    t0 = now_s();
    for (i = 0; i < c && i < n; i++)
        start_one(b);
    if (b->finished < b->total)
        event_base_dispatch(b->base);
    return n / (now_s() - t0);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000, c = argc > 2 ? atoi(argv[2]) : 50, pass;
    struct dns_testserver srv = { 0 };
    struct bench b = { 0 };
    struct pt_root cfg;
    char *msg = NULL, *server;
    int i;

    if (n <= 0 || c <= 0) {
        fprintf(stderr, "usage: dnschecks_bench [SESSIONS] [CONCURRENT]\n");
        return 2;
    }
    b.base = event_base_new();
    if (dts_start(&srv, b.base) < 0)
        return 1;
    dts_add(&srv, "good.test", "MX", "10 mail.good.test");
    dts_add(&srv, "mail.good.test", "A", "192.0.2.1");
    for (i = 0; i < 200; i++) {
        static char names[200][2][64];
        snprintf(names[i][0], sizeof(names[0][0]), "%d.2.0.192.in-addr.arpa", 10 + i);
        snprintf(names[i][1], sizeof(names[0][1]), "h%d.good.test", 10 + i);
        dts_add(&srv, names[i][0], "PTR", names[i][1]);
        if (srv.nrec + 2 >= DTS_RECORDS_MAX)
            break;
    }
    server = strdup(srv.addr);
    if (pt_load("{\"relay\": {\"local_domains\": [\"a.test\"]},"
                " \"policy\": {\"profiles\": {"
                "   \"off\": {\"checks\": {}},"
                "   \"on\": {\"checks\": {\"rdns\": {}, \"helo\": {}, \"sender_domain\": {},"
                "     \"dnsbl\": {\"zones\": {\"a.bl.test\": {}, \"b.bl.test\": {},"
                "                            \"c.bl.test\": {}}}}}}}}", &cfg, &msg) != 0) {
        fprintf(stderr, "%s", msg);
        return 1;
    }
    for (pass = 0; pass < 2; pass++) {
        struct dns_conf dc = { .servers = { .v = &server, .n = 1 }, .timeout_ms = 2000,
                               .tries = 1, .max_ttl_ms = 300000, .negative_ttl_ms = 60000,
                               .cache_size = pass == 0 ? 0 : 10000, .cache_memory = 16 << 20 };
        struct dns *dns = dns_new(b.base, &dc);
        struct user_store *store = user_store_memory_new(b.base);
        struct engine_env env = { .base = b.base, .dns = dns, .hostname = "mx.test" };
        struct engine_inputs in = {
            .conf = &cfg.policy, .domains = &cfg.domains,
            .domain_defaults = &cfg.domain_defaults,
            .local_domains = &cfg.relay.local_domains,
            .backup_domains = &cfg.relay.backup_domains,
        };
        struct dns_stats st0, st1;
        double on, off;

        b.e = engine_new(&in, &env, store);
        if (dns == NULL || b.e == NULL)
            return 1;
        off = run_profile(&b, "off", n, c);
        dns_get_stats(dns, &st0);
        on = run_profile(&b, "on", n, c);
        dns_get_stats(dns, &st1);
        printf("dns checks, cache %s: %d sessions x (CONNECT HELO MAIL RCPT), %d at once: "
               "engine alone %.0f sessions/s, with the checks %.0f sessions/s, %.1f queries on the "
               "wire per session (the rest coalesced or cached), %.0f/s\n",
               pass == 0 ? "off" : "on ", n, c, off, on,
               (double)(st1.sent - st0.sent) / n, (double)(st1.sent - st0.sent) / n * on);
        engine_free(b.e);
        user_store_free(store);
        dns_free(dns);
    }
    pt_free(&cfg);
    free(msg);
    free(server);
    dts_stop(&srv);
    event_base_free(b.base);
    return 0;
}
