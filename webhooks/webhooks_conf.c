/*
 * webhooks_conf.c - the "webhooks" configuration section (keys declared once, here).
 *
 *   "webhooks": {
 *     "outbox_dir": "/var/spool/postern/webhooks",
 *     "timeout": "15s",
 *     "retry_schedule": ["5s", "5m", "30m", "2h", "5h", "10h", "10h"],
 *     "ca_file": null,                       // null: the system CA store
 *     "rescan_interval": "5s",               // outbox_dir/new/ (posternctl webhooks test)
 *     "deferred_after_tries": 3,             // queue runner: message.deferred after N tries
 *     "queue_stuck_after": "1h",             // queue runner: queue.stuck threshold
 *     "coalesce_window": "1m",               // message.rejected: once per client+stage
 *     "endpoints": [
 *       { "name": "ops", "url": "https://hooks.example.com/postern",
 *         "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
 *         "events": ["*"], "ca_file": null, "concurrency": 4, "max_pending": 10000,
 *         "reserved_share": 20, "enabled": true }
 *     ]
 *   }
 * Checked at load: endpoint names ([A-Za-z0-9_-], unique: they name outbox files), URLs
 * (http/https, no user info), secrets (whsec_ + strict base64 of 24..64 bytes), event
 * filters (known types, "prefix.*", "*"), CA files readable, schedule entries durations.
 * In its own file so test drivers can build a struct webhooks_conf by hand.
 * Threading: used at config load only.
 */
#include "webhooks/webhooks.h"

#include "lib/xalloc.h"
#include "webhooks/event.h"
#include "webhooks/http_post.h"
#include "webhooks/outbox.h"
#include "webhooks/sign.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WH_TIMEOUT_MIN_MS 100LL
#define WH_TIMEOUT_MAX_MS (5LL * 60 * 1000)
#define WH_RESCAN_MIN_MS 100LL
#define WH_RESCAN_MAX_MS (3600LL * 1000)
#define WH_TRIES_MAX 1000LL
#define WH_STUCK_MIN_MS 1000LL
#define WH_STUCK_MAX_MS (30LL * 24 * 3600 * 1000)
#define WH_CONCURRENCY_MAX 64LL
#define WH_MAX_PENDING_MAX 10000000LL
#define WH_RESERVED_SHARE_MAX 90LL           /* percent: one type may always use 10% */
#define WH_COALESCE_MAX_MS (3600LL * 1000)
#define WH_SCHEDULE_MAX 32
#define WH_RETRY_MIN_MS 10LL
#define WH_RETRY_MAX_MS (7LL * 24 * 3600 * 1000)
#define WH_ERR_MAX 256

static int endpoint_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct webhooks_endpoint_conf *e = obj;
    char err[WH_ERR_MAX];
    struct wh_url u;
    unsigned char key[WH_KEY_MAX];
    size_t klen, i;
    enum wh_secret_status st;
    int n = 0;

    if (!wh_endpoint_name_valid(e->name))
        n += conf_error(errs, pointer, "name: \"%s\" must be 1..%d of A-Z a-z 0-9 _ -",
                        e->name, WH_ENDPOINT_NAME_MAX);
    if (wh_url_parse(e->url, &u, err, sizeof(err)) < 0)
        n += conf_error(errs, pointer, "url: \"%s\": %s", e->url, err);
    wh_url_clear(&u);
    if ((st = wh_secret_decode(e->secret, key, &klen)) != WH_SECRET_OK)
        n += conf_error(errs, pointer, "secret: %s", wh_secret_strerror(st));
    if (e->events.n == 0)
        n += conf_error(errs, pointer, "events: empty; use [\"*\"] for every event");
    for (i = 0; i < e->events.n; i++)
        if (!wh_event_filter_valid(e->events.v[i]))
            n += conf_error(errs, pointer, "events: unknown event type \"%s\" (see "
                            "docs/webhooks.md)", e->events.v[i]);
    if (e->ca_file && access(e->ca_file, R_OK) < 0)
        n += conf_error(errs, pointer, "ca_file: cannot read %s", e->ca_file);
    return n;
}

#define E(f) offsetof(struct webhooks_endpoint_conf, f)
static const struct conf_key endpoint_keys[] = {
    { .name = "name", .type = CONF_STRING, .offset = E(name), .flags = CONF_REQUIRED,
      .help = "Name in logs and outbox file names: 1..64 of A-Z a-z 0-9 _ -" },
    { .name = "url", .type = CONF_STRING, .offset = E(url), .flags = CONF_REQUIRED,
      .help = "http:// or https:// URL the events are POSTed to" },
    { .name = "secret", .type = CONF_STRING, .offset = E(secret),
      .flags = CONF_REQUIRED | CONF_SECRET,
      .help = "Standard Webhooks signing secret: whsec_ + base64 of 24..64 random bytes" },
    { .name = "events", .type = CONF_STRLIST, .offset = E(events), .def = "[\"*\"]",
      .help = "Event types sent here: names, \"prefix.*\" or \"*\" for all" },
    { .name = "ca_file", .type = CONF_PATH, .offset = E(ca_file),
      .help = "PEM CA certificates for this https endpoint (default: webhooks.ca_file)" },
    { .name = "concurrency", .type = CONF_INT, .offset = E(concurrency), .def = "4",
      .min = 1, .max = WH_CONCURRENCY_MAX,
      .help = "Requests in flight to this endpoint at most" },
    { .name = "max_pending", .type = CONF_INT, .offset = E(max_pending), .def = "10000",
      .min = 1, .max = WH_MAX_PENDING_MAX,
      .help = "Events waiting for this endpoint at most; more are refused (logged, counted)" },
    { .name = "reserved_share", .type = CONF_INT, .offset = E(reserved_share), .def = "20",
      .min = 0, .max = WH_RESERVED_SHARE_MAX,
      .help = "Percent of max_pending that one event type cannot use: it stays free for the "
              "other types, so that a flood of one kind of event never crowds out the rest" },
    { .name = "enabled", .type = CONF_BOOL, .offset = E(enabled), .def = "true",
      .help = "false: events are not sent nor queued for this endpoint" },
    { .name = NULL }
};

static const struct conf_section endpoint_section = {
    .name = "webhooks endpoint", .keys = endpoint_keys, .validate = endpoint_validate,
};

long long *webhooks_conf_schedule(const struct webhooks_conf *conf, size_t *n)
{
    long long *v = xcalloc(conf->retry_schedule.n + 1, sizeof(long long));
    size_t i;

    for (i = 0; i < conf->retry_schedule.n; i++) {
        if (conf_parse_duration_ms(conf->retry_schedule.v[i], &v[i]) < 0) {
            free(v);
            *n = 0;
            return NULL;
        }
    }
    *n = conf->retry_schedule.n;
    return v;
}

static int schedule_validate(const struct webhooks_conf *c, const char *pointer,
                             struct conf_errors *errs)
{
    long long ms;
    size_t i;
    int n = 0;

    if (c->retry_schedule.n > WH_SCHEDULE_MAX)
        n += conf_error(errs, pointer, "retry_schedule: more than %d entries",
                        WH_SCHEDULE_MAX);
    for (i = 0; i < c->retry_schedule.n; i++) {
        if (conf_parse_duration_ms(c->retry_schedule.v[i], &ms) < 0 ||
            ms < WH_RETRY_MIN_MS || ms > WH_RETRY_MAX_MS)
            n += conf_error(errs, pointer, "retry_schedule: \"%s\" is not a duration "
                            "between 10ms and 7d (\"200ms\", \"5s\", \"5m\", \"2h\")",
                            c->retry_schedule.v[i]);
    }
    return n;
}

static int webhooks_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct webhooks_conf *c = obj;
    const struct webhooks_endpoint_conf *e = c->endpoints.items;
    size_t i, j;
    int n = schedule_validate(c, pointer, errs);

    if (c->ca_file && access(c->ca_file, R_OK) < 0)
        n += conf_error(errs, pointer, "ca_file: cannot read %s", c->ca_file);
    for (i = 0; i < c->endpoints.n; i++)
        for (j = 0; j < i; j++)
            if (strcmp(e[i].name, e[j].name) == 0)
                n += conf_error(errs, pointer, "endpoints: the name \"%s\" is used twice",
                                e[i].name);
    return n;
}

#define W(f) offsetof(struct webhooks_conf, f)
static const struct conf_key webhooks_keys[] = {
    { .name = "outbox_dir", .type = CONF_PATH, .offset = W(outbox_dir),
      .def = "/var/spool/postern/webhooks",
      .help = "Durable outbox: one file per pending (event, endpoint); created if missing" },
    { .name = "timeout", .type = CONF_DURATION, .offset = W(timeout_ms), .def = "15s",
      .min = WH_TIMEOUT_MIN_MS, .max = WH_TIMEOUT_MAX_MS,
      .help = "Deadline of one delivery attempt (DNS, connect, TLS, response)" },
    { .name = "retry_schedule", .type = CONF_STRLIST, .offset = W(retry_schedule),
      .def = "[\"5s\", \"5m\", \"30m\", \"2h\", \"5h\", \"10h\", \"10h\"]",
      .help = "Delays before attempts 2, 3, ... (+-10% jitter); then the event has failed" },
    { .name = "ca_file", .type = CONF_PATH, .offset = W(ca_file),
      .help = "PEM CA certificates for https endpoints (default: the system store)" },
    { .name = "rescan_interval", .type = CONF_DURATION, .offset = W(rescan_interval_ms),
      .def = "5s", .min = WH_RESCAN_MIN_MS, .max = WH_RESCAN_MAX_MS,
      .help = "How often outbox_dir/new/ is checked for events from posternctl" },
    { .name = "deferred_after_tries", .type = CONF_INT, .offset = W(deferred_after_tries),
      .def = "3", .min = 1, .max = WH_TRIES_MAX,
      .help = "message.deferred is raised when a delivery has failed this many times" },
    { .name = "queue_stuck_after", .type = CONF_DURATION,
      .offset = W(queue_stuck_after_ms), .def = "1h", .min = WH_STUCK_MIN_MS,
      .max = WH_STUCK_MAX_MS,
      .help = "queue.stuck is raised when the oldest queued message is older than this" },
    { .name = "coalesce_window", .type = CONF_DURATION, .offset = W(coalesce_window_ms),
      .def = "1m", .min = 0, .max = WH_COALESCE_MAX_MS,
      .help = "message.rejected is sent at most once per client address and SMTP stage in "
              "this window; the refusals after the first are sent as one event with a count "
              "when it ends (0: every refusal is sent)" },
    { .name = "endpoints", .type = CONF_ARRAY, .offset = W(endpoints),
      .sub = &endpoint_section, .elem_size = sizeof(struct webhooks_endpoint_conf),
      .help = "Receivers: name, url, secret, events, ca_file, concurrency, max_pending, "
              "reserved_share, enabled" },
    { .name = NULL }
};

const struct conf_section webhooks_conf_section = {
    .name = "webhooks", .keys = webhooks_keys, .validate = webhooks_validate,
};
