/*
 * dnsq.c - command-line driver of lib/dns.c for the integration tests (test_dns.py).
 *
 * Usage: dnsq [--server IP:PORT]... [--timeout-ms N] [--tries N] [--max-ttl-ms N]
 *             [--negative-ttl-ms N] [--cache-size N] [--cache-memory BYTES] [--repeat N]
 *             [--cancel N] [--timing] [--pause-ms N] [--free-pending]
 *             TYPE NAME [TYPE NAME ...]
 * TYPE is A, AAAA, MX, TXT, PTR (NAME is an IP) or DNSBL (NAME is IP@ZONE).
 *
 * All lookups of a round start at once on one libevent loop; the loop then runs until
 * the resolver has nothing left to do (queries whose handles were cancelled included),
 * and one line per lookup is printed in command-line order:
 *   TYPE NAME STATUS [ttl=N] [cached] [ms=N] DATA...
 * ttl for ok/nxdomain/nodata; "cached" when served from the cache; ms (elapsed time)
 * with --timing. DATA: MX "PREF HOST" pairs or "nullmx"; addresses; PTR names; TXT
 * records as double-quoted strings (\" \\ and \xHH escapes). After each round:
 *   stats round=R sent=N cache_hits=N coalesced=N deadlines=N     (cumulative)
 * --repeat N runs N rounds with the same resolver (the cache proves itself in round 2);
 * --pause-ms N waits that long between rounds (cache expiry).
 * --cancel N cancels the first N lookups of round 1 right after starting them; their
 * lines read "TYPE NAME cancelled", and a callback that runs anyway is reported as
 * "BUG" with exit status 1. --free-pending starts the lookups once more after the last
 * round and destroys the resolver at once (for valgrind: pending lookups are dropped
 * without callbacks), printing "freed pending=N".
 * Single-threaded; exit 0 after the last round, 1 on a bug, 2 on usage.
 */
#include "lib/dns.h"

#include "lib/log.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DNSQ_MAX_SERVERS 8
#define DNSQ_LINE_MAX 65536
#define DNSQ_MS_PER_S 1000.0
#define DNSQ_NS_PER_MS 1e6
#define DNSQ_MS_PER_S_INT 1000
#define DNSQ_NS_PER_MS_INT 1000000L
#define DNSQ_PRINTABLE_MIN 0x20
#define DNSQ_PRINTABLE_MAX 0x7e
/* Defaults: the same as the "dns" config section's (lib/dns_conf.c). */
#define DNSQ_TIMEOUT_MS 2000
#define DNSQ_TRIES 2
#define DNSQ_MAX_TTL_MS 300000
#define DNSQ_NEGATIVE_TTL_MS 60000
#define DNSQ_CACHE_SIZE 10000
#define DNSQ_CACHE_MEMORY (16u << 20)

struct job {
    const char *type;
    const char *name;
    struct dns_query *q;
    int cancelled;
    int done;
    double started_ms;
    char *line;
};

struct run {
    struct dns *dns;
    struct job *jobs;
    size_t njobs;
    int timing;
    int bug;
};

static struct run run;

static double mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * DNSQ_MS_PER_S + ts.tv_nsec / DNSQ_NS_PER_MS;
}

static void usage(void)
{
    fprintf(stderr, "usage: dnsq [--server IP:PORT]... [--timeout-ms N] [--tries N] "
            "[--max-ttl-ms N] [--negative-ttl-ms N] [--cache-size N] [--cache-memory BYTES] "
            "[--repeat N] [--cancel N] [--timing] [--pause-ms N] [--free-pending] "
            "TYPE NAME [TYPE NAME ...]\n");
    exit(2);
}

/* Append printf output to a bounded line. */
static void put(char *buf, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put(char *buf, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*len >= DNSQ_LINE_MAX - 1)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *len, DNSQ_LINE_MAX - *len, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n < DNSQ_LINE_MAX - *len ? (size_t)n : DNSQ_LINE_MAX - 1 - *len;
}

static void put_txt(char *buf, size_t *len, const struct dns_txt *t)
{
    put(buf, len, " \"");
    for (size_t i = 0; i < t->len; i++) {
        unsigned char c = (unsigned char)t->text[i];
        if (c == '"' || c == '\\')
            put(buf, len, "\\%c", c);
        else if (c < DNSQ_PRINTABLE_MIN || c > DNSQ_PRINTABLE_MAX)
            put(buf, len, "\\x%02x", c);
        else
            put(buf, len, "%c", c);
    }
    put(buf, len, "\"");
}

/* A name as given on the command line, with spaces and odd bytes as \xHH. */
static void put_name(char *buf, size_t *len, const char *name)
{
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p <= DNSQ_PRINTABLE_MIN || *p > DNSQ_PRINTABLE_MAX || *p == '"' || *p == '\\')
            put(buf, len, "\\x%02x", *p);
        else
            put(buf, len, "%c", *p);
    }
}

static void put_data(char *buf, size_t *len, const struct dns_result *r)
{
    char ip[INET6_ADDRSTRLEN];

    if (r->null_mx)
        put(buf, len, " nullmx");
    for (size_t i = 0; i < r->n; i++) {
        if (r->mx)
            put(buf, len, " %u %s", r->mx[i].pref, r->mx[i].host);
        else if (r->a)
            put(buf, len, " %s", inet_ntop(AF_INET, &r->a[i], ip, sizeof(ip)));
        else if (r->aaaa)
            put(buf, len, " %s", inet_ntop(AF_INET6, &r->aaaa[i], ip, sizeof(ip)));
        else if (r->ptr)
            put(buf, len, " %s", r->ptr[i]);
        else if (r->txt)
            put_txt(buf, len, &r->txt[i]);
    }
}

/* A new output line holding "TYPE NAME"; *len is its length. */
static char *line_begin(const struct job *j, size_t *len)
{
    char *buf = xmalloc(DNSQ_LINE_MAX);

    *len = 0;
    put(buf, len, "%s ", j->type);
    put_name(buf, len, j->name);
    return buf;
}

/* Loop thread: one lookup finished. */
static void on_result(const struct dns_result *r, void *arg)
{
    struct job *j = arg;
    size_t len;
    char *buf;

    j->q = NULL;
    if (j->cancelled || j->done) {
        run.bug = 1;
        fprintf(stderr, "dnsq: BUG: callback for a %s lookup of %s\n",
                j->cancelled ? "cancelled" : "finished", j->name);
    }
    j->done = 1;
    buf = line_begin(j, &len);
    put(buf, &len, " %s", dns_status_str(r->status));
    if (r->status == DNS_OK || r->status == DNS_NXDOMAIN || r->status == DNS_NODATA)
        put(buf, &len, " ttl=%u", r->ttl);
    if (r->cached)
        put(buf, &len, " cached");
    if (run.timing)
        put(buf, &len, " ms=%.0f", mono_ms() - j->started_ms);
    put_data(buf, &len, r);
    free(j->line);
    j->line = buf;
}

static struct dns_query *start(struct job *j)
{
    char ip[INET6_ADDRSTRLEN + 1];
    const char *at;

    if (strcmp(j->type, "A") == 0)
        return dns_lookup_a(run.dns, j->name, on_result, j);
    if (strcmp(j->type, "AAAA") == 0)
        return dns_lookup_aaaa(run.dns, j->name, on_result, j);
    if (strcmp(j->type, "MX") == 0)
        return dns_lookup_mx(run.dns, j->name, on_result, j);
    if (strcmp(j->type, "TXT") == 0)
        return dns_lookup_txt(run.dns, j->name, on_result, j);
    if (strcmp(j->type, "PTR") == 0)
        return dns_lookup_ptr(run.dns, j->name, on_result, j);
    at = strchr(j->name, '@');
    if (strcmp(j->type, "DNSBL") == 0 && at && (size_t)(at - j->name) < sizeof(ip)) {
        snprintf(ip, sizeof(ip), "%.*s", (int)(at - j->name), j->name);
        return dns_lookup_dnsbl(run.dns, ip, at + 1, on_result, j);
    }
    usage();
    return NULL;
}

static void run_round(struct event_base *base, int round, long cancel)
{
    struct dns_stats st;

    for (size_t i = 0; i < run.njobs; i++) {
        struct job *j = &run.jobs[i];
        j->done = j->cancelled = 0;
        free(j->line);
        j->line = NULL;
        j->started_ms = mono_ms();
        j->q = start(j);
    }
    for (size_t i = 0; i < run.njobs && (long)i < cancel; i++) {
        dns_cancel(run.jobs[i].q);
        run.jobs[i].q = NULL;
        run.jobs[i].cancelled = 1;
    }
    event_base_dispatch(base);
    for (size_t i = 0; i < run.njobs; i++) {
        struct job *j = &run.jobs[i];
        if (j->line == NULL) {
            size_t len;
            j->line = line_begin(j, &len);
            put(j->line, &len, " %s", j->cancelled ? "cancelled" : "missing");
            run.bug |= !j->cancelled;
        }
        printf("%s\n", j->line);
    }
    dns_get_stats(run.dns, &st);
    printf("stats round=%d sent=%llu cache_hits=%llu coalesced=%llu deadlines=%llu\n",
           round, st.sent, st.cache_hits, st.coalesced, st.deadlines);
    fflush(stdout);
}

/* Start every lookup again and destroy the resolver before the loop runs. */
static void start_and_free(void)
{
    for (size_t i = 0; i < run.njobs; i++) {
        run.jobs[i].done = 0;
        run.jobs[i].cancelled = 1;      /* any callback now would be a bug */
        run.jobs[i].q = start(&run.jobs[i]);
    }
    dns_free(run.dns);
    printf("freed pending=%zu\n", run.njobs);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / DNSQ_MS_PER_S_INT,
                           .tv_nsec = ms % DNSQ_MS_PER_S_INT * DNSQ_NS_PER_MS_INT };

    while (nanosleep(&ts, &ts) != 0)
        continue;
}

static long num_arg(int argc, char **argv, int *i)
{
    char *end;
    long v;

    if (*i + 1 >= argc)
        usage();
    v = strtol(argv[++*i], &end, 10);
    if (*end != '\0' || v < 0)
        usage();
    return v;
}

int main(int argc, char **argv)
{
    char *servers[DNSQ_MAX_SERVERS];
    struct dns_conf conf = {
        .servers = { servers, 0 }, .timeout_ms = DNSQ_TIMEOUT_MS, .tries = DNSQ_TRIES,
        .max_ttl_ms = DNSQ_MAX_TTL_MS, .negative_ttl_ms = DNSQ_NEGATIVE_TTL_MS,
        .cache_size = DNSQ_CACHE_SIZE, .cache_memory = DNSQ_CACHE_MEMORY,
    };
    long repeat = 1, cancel = 0, pause_ms = 0;
    int free_pending = 0;
    struct event_base *base;
    int i;

    log_init("dnsq", LOG_TO_STDERR, 0);
    for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--server") == 0 && i + 1 < argc && conf.servers.n < DNSQ_MAX_SERVERS)
            servers[conf.servers.n++] = argv[++i];
        else if (strcmp(o, "--timeout-ms") == 0)
            conf.timeout_ms = num_arg(argc, argv, &i);
        else if (strcmp(o, "--tries") == 0)
            conf.tries = num_arg(argc, argv, &i);
        else if (strcmp(o, "--max-ttl-ms") == 0)
            conf.max_ttl_ms = num_arg(argc, argv, &i);
        else if (strcmp(o, "--negative-ttl-ms") == 0)
            conf.negative_ttl_ms = num_arg(argc, argv, &i);
        else if (strcmp(o, "--cache-size") == 0)
            conf.cache_size = num_arg(argc, argv, &i);
        else if (strcmp(o, "--cache-memory") == 0)
            conf.cache_memory = (unsigned long long)num_arg(argc, argv, &i);
        else if (strcmp(o, "--repeat") == 0)
            repeat = num_arg(argc, argv, &i);
        else if (strcmp(o, "--cancel") == 0)
            cancel = num_arg(argc, argv, &i);
        else if (strcmp(o, "--timing") == 0)
            run.timing = 1;
        else if (strcmp(o, "--pause-ms") == 0)
            pause_ms = num_arg(argc, argv, &i);
        else if (strcmp(o, "--free-pending") == 0)
            free_pending = 1;
        else
            usage();
    }
    if (i >= argc || (argc - i) % 2 != 0)
        usage();
    run.njobs = (size_t)(argc - i) / 2;
    run.jobs = xcalloc(run.njobs, sizeof(*run.jobs));
    for (size_t k = 0; k < run.njobs; k++) {
        run.jobs[k].type = argv[i + 2 * k];
        run.jobs[k].name = argv[i + 2 * k + 1];
    }
    base = event_base_new();
    run.dns = dns_new(base, &conf);
    if (run.dns == NULL)
        return 1;
    for (long r = 1; r <= repeat; r++) {
        if (r > 1)
            sleep_ms(pause_ms);
        run_round(base, (int)r, r == 1 ? cancel : 0);
    }
    if (free_pending)
        start_and_free();
    else
        dns_free(run.dns);
    for (size_t k = 0; k < run.njobs; k++)
        free(run.jobs[k].line);
    free(run.jobs);
    event_base_free(base);
    return run.bug ? 1 : 0;
}
