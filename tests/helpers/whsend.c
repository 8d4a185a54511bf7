/*
 * whsend.c - test driver of webhooks/ for tests/integration/test_webhooks.py.
 *
 * Usage: whsend --config FILE [--outbox DIR] [--workers N] [--deadline MS]
 *               [--coalesce KEY:WINDOW_MS] [--emit TYPE[=JSON]]... [--no-emit]
 *               [--wait-delivered N] [--reload-after MS]
 *        whsend --config FILE [--outbox DIR] --list [--json]
 *        whsend --config FILE [--outbox DIR] --test [ENDPOINT|--all]
 * FILE is JSON with a "webhooks" section (the daemon's syntax, loaded by lib/conf) and
 * an optional "dns" section. The first form starts webhooks on a libevent loop (which
 * loads and schedules the outbox), raises each --emit event (data: a JSON object; a
 * --coalesce before an --emit makes it a webhook_emit_once), and runs the loop until
 * every event is delivered, failed or parked behind a disabled endpoint, and the outbox
 * is written (plus, with --wait-delivered N, until N deliveries), or until the deadline
 * (default 20000 ms). --reload-after MS reloads FILE once at that time. --no-emit raises
 * nothing: only drain the outbox (restart scenarios reuse --outbox DIR across runs).
 * Log lines go to stderr; stdout gets, at the end:
 *   emitted TYPE rc=R                     (one per --emit, at start)
 *   endpoint NAME disabled=D pending=P parked=K delivered=N failed=F refused=R
 *   summary emitted=E delivered=N failed=F pending=P parked=K retries=R coalesced=C
 *           disk_errors=X refused=R deadline=0|1
 * --list and --test run the admin functions of posternctl and exit.
 * Exit status: 0 done, 1 deadline reached, 2 usage or config error.
 */
#include "lib/conf.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/workpool.h"
#include "lib/xalloc.h"
#include "webhooks/webhooks.h"

#include <event2/event.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EMITS 64
#define DEF_DEADLINE_MS 20000
#define DEF_WORKERS 2
#define POLL_MS 20
#define MS_PER_S 1000
#define US_PER_MS 1000
#define EXIT_DEADLINE 1
#define EXIT_USAGE 2

struct whsend_conf {
    struct webhooks_conf webhooks;
    struct dns_conf dns;
};

static const struct conf_key root_keys[] = {
    { .name = "webhooks", .type = CONF_SECTION,
      .offset = offsetof(struct whsend_conf, webhooks), .sub = &webhooks_conf_section },
    { .name = "dns", .type = CONF_SECTION, .offset = offsetof(struct whsend_conf, dns),
      .sub = &dns_conf_section },
    { .name = NULL }
};
static const struct conf_section root_section = { .name = "whsend", .keys = root_keys };

struct emit {
    const char *arg;             /* TYPE or TYPE=JSON */
    const char *key;             /* --coalesce KEY, or NULL */
    long long window_ms;
};

struct driver {
    const char *config, *outbox;
    struct whsend_conf conf;
    struct emit emits[MAX_EMITS];
    size_t nemits;
    long long deadline_ms, reload_ms;
    long long wait_delivered;
    int workers;
    int no_emit;
    struct event_base *base;
    struct workpool *wp;
    struct dns *dns;
    struct webhooks *wh;
    struct event *poll, *deadline, *reload;
    int deadline_hit;
};

static int usage(void)
{
    fprintf(stderr, "usage: whsend --config FILE [--outbox DIR] [--workers N] "
            "[--deadline MS] [--coalesce KEY:WINDOW_MS] [--emit TYPE[=JSON]]... [--no-emit] "
            "[--wait-delivered N] [--reload-after MS] | --list [--json] | "
            "--test [ENDPOINT|--all]\n");
    return EXIT_USAGE;
}

static int load_conf(struct driver *dr, struct whsend_conf *out)
{
    struct conf_errors errs = { .out = stderr };

    memset(out, 0, sizeof(*out));
    if (conf_load_file(dr->config, &root_section, out, &errs) < 0) {
        conf_free(&root_section, out);
        return -1;
    }
    if (dr->outbox) {
        free(out->webhooks.outbox_dir);
        out->webhooks.outbox_dir = xstrdup(dr->outbox);
    }
    return 0;
}

static void tv_from_ms(struct timeval *tv, long long ms)
{
    tv->tv_sec = ms / MS_PER_S;
    tv->tv_usec = (ms % MS_PER_S) * US_PER_MS;
}

static int finished(const struct driver *dr)
{
    struct webhooks_stats s;

    webhooks_get_stats(dr->wh, &s);
    return s.pending == s.parked && s.in_flight == 0 && s.disk_busy == 0 &&
           (long long)s.delivered >= dr->wait_delivered;
}

static void poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct driver *dr = arg;
    struct timeval tv;

    (void)fd;
    (void)what;
    if (finished(dr)) {
        event_base_loopexit(dr->base, NULL);
        return;
    }
    tv_from_ms(&tv, POLL_MS);
    evtimer_add(dr->poll, &tv);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct driver *dr = arg;

    (void)fd;
    (void)what;
    dr->deadline_hit = 1;
    event_base_loopexit(dr->base, NULL);
}

static void reload_cb(evutil_socket_t fd, short what, void *arg)
{
    struct driver *dr = arg;
    struct whsend_conf fresh;

    (void)fd;
    (void)what;
    if (load_conf(dr, &fresh) < 0)
        return;
    printf("reload rc=%d\n", webhooks_reload(dr->wh, &fresh.webhooks));
    conf_free(&root_section, &dr->conf);
    dr->conf = fresh;
}

static void emit_one(struct driver *dr, const struct emit *e)
{
    const char *eq = strchr(e->arg, '=');
    char *type = eq ? xstrndup(e->arg, (size_t)(eq - e->arg)) : xstrdup(e->arg);
    json_t *data = eq ? json_loads(eq + 1, 0, NULL) : json_object();
    int rc;

    if (e->key)
        rc = webhook_emit_once(dr->wh, type, e->key, e->window_ms, data);
    else
        rc = webhook_emit(dr->wh, type, data);
    printf("emitted %s rc=%d\n", type, rc);
    free(type);
}

static void print_results(const struct driver *dr)
{
    struct webhooks_stats s;
    struct webhooks_endpoint_stats es;
    size_t i;

    for (i = 0; i < webhooks_endpoint_count(dr->wh); i++) {
        webhooks_get_endpoint_stats(dr->wh, i, &es);
        printf("endpoint %s disabled=%d pending=%u parked=%u delivered=%llu failed=%llu "
               "refused=%llu\n", es.name, es.disabled, es.pending, es.parked, es.delivered,
               es.failed, es.refused);
    }
    webhooks_get_stats(dr->wh, &s);
    printf("summary emitted=%llu delivered=%llu failed=%llu pending=%u parked=%u "
           "retries=%llu coalesced=%llu disk_errors=%llu refused=%llu deadline=%d\n",
           s.emitted, s.delivered, s.failed, s.pending, s.parked, s.retries, s.coalesced,
           s.disk_errors, s.refused, dr->deadline_hit);
}

static int run(struct driver *dr)
{
    struct timeval tv;
    size_t i;

    dr->base = event_base_new();
    dr->wp = workpool_new(dr->base, dr->workers);
    dr->dns = dns_new(dr->base, &dr->conf.dns);
    dr->wh = webhooks_new(dr->base, dr->wp, dr->dns, &dr->conf.webhooks);
    if (dr->wp == NULL || dr->dns == NULL || dr->wh == NULL)
        return EXIT_USAGE;
    for (i = 0; i < dr->nemits && !dr->no_emit; i++)
        emit_one(dr, &dr->emits[i]);
    dr->poll = evtimer_new(dr->base, poll_cb, dr);
    dr->deadline = evtimer_new(dr->base, deadline_cb, dr);
    dr->reload = evtimer_new(dr->base, reload_cb, dr);
    tv_from_ms(&tv, POLL_MS);
    evtimer_add(dr->poll, &tv);
    tv_from_ms(&tv, dr->deadline_ms);
    evtimer_add(dr->deadline, &tv);
    if (dr->reload_ms > 0) {
        tv_from_ms(&tv, dr->reload_ms);
        evtimer_add(dr->reload, &tv);
    }
    event_base_dispatch(dr->base);
    print_results(dr);
    fflush(stdout);
    webhooks_free(dr->wh);
    workpool_free(dr->wp);
    dns_free(dr->dns);
    event_free(dr->poll);
    event_free(dr->deadline);
    event_free(dr->reload);
    event_base_free(dr->base);
    return dr->deadline_hit ? EXIT_DEADLINE : 0;
}

/* Parse "KEY:WINDOW_MS" into the next emit's coalescing key. */
static int parse_coalesce(struct emit *e, const char *arg)
{
    const char *colon = strrchr(arg, ':');
    char *end;

    if (colon == NULL)
        return -1;
    e->key = xstrndup(arg, (size_t)(colon - arg));
    e->window_ms = strtoll(colon + 1, &end, 10);
    return *end == '\0' && e->window_ms > 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct driver dr = { .deadline_ms = DEF_DEADLINE_MS, .workers = DEF_WORKERS };
    struct emit next = { 0 };
    const char *admin = NULL, *test_ep = NULL;
    int i, json = 0, rc;

    log_init("whsend", LOG_TO_STDERR, 1);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--config") == 0 && v)            dr.config = argv[++i];
        else if (strcmp(a, "--outbox") == 0 && v)       dr.outbox = argv[++i];
        else if (strcmp(a, "--workers") == 0 && v)      dr.workers = atoi(argv[++i]);
        else if (strcmp(a, "--deadline") == 0 && v)     dr.deadline_ms = atoll(argv[++i]);
        else if (strcmp(a, "--reload-after") == 0 && v) dr.reload_ms = atoll(argv[++i]);
        else if (strcmp(a, "--wait-delivered") == 0 && v)
            dr.wait_delivered = atoll(argv[++i]);
        else if (strcmp(a, "--coalesce") == 0 && v) {
            if (parse_coalesce(&next, argv[++i]) < 0)
                return usage();
        } else if (strcmp(a, "--emit") == 0 && v && dr.nemits < MAX_EMITS) {
            next.arg = argv[++i];
            dr.emits[dr.nemits++] = next;
            memset(&next, 0, sizeof(next));
        } else if (strcmp(a, "--no-emit") == 0)         dr.no_emit = 1;
        else if (strcmp(a, "--list") == 0)              admin = "list";
        else if (strcmp(a, "--json") == 0)              json = 1;
        else if (strcmp(a, "--test") == 0) {
            admin = "test";
            if (v && strcmp(v, "--all") != 0 && v[0] != '-')
                test_ep = argv[++i];
        } else if (strcmp(a, "--all") == 0)             test_ep = NULL;
        else
            return usage();
    }
    if (dr.config == NULL || load_conf(&dr, &dr.conf) < 0)
        return dr.config ? EXIT_USAGE : usage();
    if (admin && strcmp(admin, "list") == 0)
        rc = webhooks_admin_list(stdout, &dr.conf.webhooks, json) < 0 ? EXIT_USAGE : 0;
    else if (admin)
        rc = webhooks_admin_test(stdout, &dr.conf.webhooks, test_ep) < 0 ? EXIT_USAGE : 0;
    else
        rc = run(&dr);
    for (i = 0; (size_t)i < dr.nemits; i++)
        free((char *)dr.emits[i].key);
    free((char *)next.key);
    conf_free(&root_section, &dr.conf);
    return rc;
}
