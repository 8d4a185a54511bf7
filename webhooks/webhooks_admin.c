/*
 * webhooks_admin.c - "posternctl webhooks" (list endpoints with outbox counts) and
 * "posternctl webhooks test [ENDPOINT]" (drop a webhook.test event into outbox_dir/new/).
 *
 * Reads the outbox directory directly, so it works whether the daemon runs or not; the
 * daemon adopts files from new/ every rescan_interval (and at start). Counts come from
 * file names only (EVENTID.ENDPOINT.json): pending = top level + new/, failed = failed/.
 * Output of the list (text), one line per endpoint, then unconfigured names found:
 *   endpoint ops url=https://hooks.example.com/postern enabled=yes events=* pending=2 failed=0
 *   endpoint old configured=no pending=1 failed=0
 * With json: {"outbox_dir": D, "endpoints": [{"name", "url", "configured", "enabled",
 * "events", "pending", "failed"}]}. Blocking; the calling thread (a CLI's main).
 */
#include "webhooks/webhooks.h"

#include "lib/errout.h"
#include "lib/xalloc.h"
#include "webhooks/event.h"
#include "webhooks/http_post.h"
#include "webhooks/outbox.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ADMIN_ERR_MAX 256
#define MS_PER_S 1000
#define NS_PER_MS 1000000

struct admin_count {
    char *name;
    const struct webhooks_endpoint_conf *conf;   /* NULL: not configured */
    unsigned long pending, failed;
};

struct admin_counts {
    struct admin_count *v;
    size_t n;
};

static struct admin_count *count_for(struct admin_counts *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        if (strcmp(c->v[i].name, name) == 0)
            return &c->v[i];
    c->v = xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
    memset(&c->v[c->n], 0, sizeof(c->v[c->n]));
    c->v[c->n].name = xstrdup(name);
    return &c->v[c->n++];
}

/* Add the files of dir[/sub] to the counts. -errno when the directory cannot be read
 * (a missing one counts as empty). */
static int count_dir(struct admin_counts *c, const char *dir, const char *sub, int failed)
{
    char **names, id[WH_EVENT_ID_SIZE], ep[WH_ENDPOINT_NAME_MAX + 1];
    size_t n, i;
    int rc = wh_outbox_list(dir, sub, &names, &n);

    if (rc < 0)
        return rc == -ENOENT ? 0 : rc;
    for (i = 0; i < n; i++) {
        struct admin_count *a;
        if (wh_outbox_parse_name(names[i], id, sizeof(id), ep, sizeof(ep)) < 0)
            continue;
        a = count_for(c, ep);
        if (failed)
            a->failed++;
        else
            a->pending++;
    }
    wh_outbox_names_free(names, n);
    return 0;
}

static void counts_free(struct admin_counts *c)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        free(c->v[i].name);
    free(c->v);
}

static json_t *count_json(const struct admin_count *a)
{
    const struct webhooks_endpoint_conf *e = a->conf;
    json_t *o = json_pack("{s:s, s:b, s:I, s:I}", "name", a->name, "configured", e != NULL,
                          "pending", (json_int_t)a->pending, "failed",
                          (json_int_t)a->failed);
    struct wh_url u;
    char err[ADMIN_ERR_MAX];
    json_t *ev;
    size_t i;

    if (e == NULL)
        return o;
    /* the whole URL, path included: the admin reads the same config file anyway (only
     * the logs keep to the origin, since a path may hold a token) */
    if (wh_url_parse(e->url, &u, err, sizeof(err)) == 0)
        json_object_set_new(o, "url", json_string(e->url));
    wh_url_clear(&u);
    json_object_set_new(o, "enabled", json_boolean(e->enabled));
    ev = json_array();
    for (i = 0; i < e->events.n; i++)
        json_array_append_new(ev, json_string(e->events.v[i]));
    json_object_set_new(o, "events", ev);
    return o;
}

static void count_print(FILE *out, const struct admin_count *a)
{
    const struct webhooks_endpoint_conf *e = a->conf;
    struct wh_url u;
    char err[ADMIN_ERR_MAX];
    size_t i;

    if (e == NULL) {
        fprintf(out, "endpoint %s configured=no pending=%lu failed=%lu\n", a->name,
                a->pending, a->failed);
        return;
    }
    fprintf(out, "endpoint %s", a->name);
    if (wh_url_parse(e->url, &u, err, sizeof(err)) == 0)
        fprintf(out, " url=%s", e->url);
    wh_url_clear(&u);
    fprintf(out, " enabled=%s events=", e->enabled ? "yes" : "no");
    for (i = 0; i < e->events.n; i++)
        fprintf(out, "%s%s", i ? "," : "", e->events.v[i]);
    fprintf(out, " pending=%lu failed=%lu\n", a->pending, a->failed);
}

int webhooks_admin_list(FILE *out, const struct webhooks_conf *conf, int json)
{
    const struct webhooks_endpoint_conf *e = conf->endpoints.items;
    struct admin_counts c = { NULL, 0 };
    size_t i;
    int rc;
    json_t *arr = json ? json_array() : NULL;

    for (i = 0; i < conf->endpoints.n; i++)
        count_for(&c, e[i].name)->conf = &e[i];
    rc = count_dir(&c, conf->outbox_dir, NULL, 0);
    if (rc == 0)
        rc = count_dir(&c, conf->outbox_dir, WH_OUTBOX_NEW, 0);
    if (rc == 0)
        rc = count_dir(&c, conf->outbox_dir, WH_OUTBOX_FAILED, 1);
    if (rc < 0) {
        fprintf(errout(), "webhooks: cannot read the outbox %s: %s\n", conf->outbox_dir,
                strerror(-rc));
        counts_free(&c);
        json_decref(arr);
        return -1;
    }
    for (i = 0; i < c.n; i++) {
        if (json)
            json_array_append_new(arr, count_json(&c.v[i]));
        else
            count_print(out, &c.v[i]);
    }
    if (json) {
        json_t *o = json_pack("{s:s, s:o}", "outbox_dir", conf->outbox_dir, "endpoints", arr);
        json_dumpf(o, out, JSON_INDENT(2));
        fputc('\n', out);
        json_decref(o);
    }
    counts_free(&c);
    return 0;
}

static long long admin_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * MS_PER_S + ts.tv_nsec / NS_PER_MS;
}

/* Write the test event as outbox_dir/new/ID.ENDPOINT.json. */
static int admin_enqueue(const struct webhooks_conf *conf, const char *endpoint,
                         json_t *payload, const char *id)
{
    struct wh_record r = { .endpoint = (char *)endpoint, .event = payload };
    size_t len;
    char *text = wh_record_encode(&r, &len), *name = wh_outbox_file_name(id, endpoint);
    int rc = text ? wh_outbox_write(conf->outbox_dir, WH_OUTBOX_NEW, name, text, len)
                  : -EINVAL;

    if (rc < 0)
        fprintf(errout(), "webhooks: cannot write %s/%s/%s: %s%s\n", conf->outbox_dir,
                WH_OUTBOX_NEW, name, strerror(-rc),
                rc == -ENOENT ? " (postern creates the outbox when it starts)" : "");
    free(text);
    free(name);
    return rc < 0 ? -1 : 0;
}

int webhooks_admin_test(FILE *out, const struct webhooks_conf *conf, const char *endpoint)
{
    const struct webhooks_endpoint_conf *e = conf->endpoints.items;
    char id[WH_EVENT_ID_SIZE];
    long long now = admin_now_ms();
    size_t i, sent = 0;
    int rc = 0;

    wh_event_id_generate(id, now);
    for (i = 0; i < conf->endpoints.n && rc == 0; i++) {
        json_t *p;
        if (endpoint ? strcmp(e[i].name, endpoint) != 0 : !e[i].enabled)
            continue;
        p = wh_event_payload("webhook.test", now, id,
                             json_pack("{s:s, s:s}", "endpoint", e[i].name, "message",
                                       "test event from posternctl"));
        rc = admin_enqueue(conf, e[i].name, p, id);
        json_decref(p);
        sent += rc == 0;
    }
    if (rc == 0 && sent == 0) {
        fprintf(errout(), "webhooks: %s%s\n", endpoint ? "no endpoint named " : "no enabled "
                "endpoint", endpoint ? endpoint : "");
        return -1;
    }
    if (rc == 0)
        fprintf(out, "%s queued for %zu endpoint%s\n", id, sent, sent == 1 ? "" : "s");
    return rc;
}
