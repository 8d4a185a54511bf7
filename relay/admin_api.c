/*
 * admin_api.c - the JSON API of the admin HTTP listener, /api/v1/ (see admin_api.h).
 *
 * Each route is one row of api_routes[]: method, path pattern, and the command line of the
 * admin socket it runs (relay/admin.c, relay/admin_ops.c), so posternctl, the socket and
 * HTTP give the same answers. The answer is one JSON object:
 *   {"status": "ok"|"error"|"tempfail", "text": "...", "output": "...", "data": ...}
 * where output is what posternctl would print and data the same parsed (a JSON answer, JSON
 * lines as an array, status as an object). HTTP status: 200 ok, 400 refused, 404 no such
 * thing, 409 done already, 503 tempfail. A "raw" route answers its output itself when it
 * succeeds (a quarantined message as message/rfc822). docs/api.md, section "Admin API",
 * lists the routes.
 */
#include "relay/admin_api.h"

#include "lib/xalloc.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define API_PREFIX    "/api/v1/"
#define API_SEGS_MAX  4
#define API_ARGS_MAX  16
#define API_ARG_MAX   1024
#define API_WORDS_MAX 12

/* A route: METHOD, a pattern of segments (a segment "*" matches any one), the command
 * line (words; "$1".."$3" the segments the stars matched, "$body:NAME" a string member of
 * the JSON body, "?$body:NAME" the same as two words "--NAME VALUE" when present,
 * "?$query:NAME" likewise from the URL's query string, "?$bool:NAME" the word "--NAME"
 * (with '-' for '_') when the body's member is true). */
struct api_route {
    enum evhttp_cmd_type method;
    const char *pattern;
    const char *argv[API_WORDS_MAX];
};

static const struct api_route api_routes[] = {
    { EVHTTP_REQ_GET,    "status",            { "status" } },
    { EVHTTP_REQ_POST,   "pause",             { "pause" } },
    { EVHTTP_REQ_POST,   "resume",            { "resume" } },
    { EVHTTP_REQ_GET,    "queue",             { "queue", "--json" } },
    { EVHTTP_REQ_POST,   "queue/flush",       { "flush", "?$body:domain" } },
    { EVHTTP_REQ_GET,    "queue/*",           { "queue", "show", "$1", "--json" } },
    { EVHTTP_REQ_DELETE, "queue/*",           { "delete", "$1" } },
    { EVHTTP_REQ_POST,   "queue/*/flush",     { "flush", "$1" } },
    { EVHTTP_REQ_POST,   "queue/*/hold",      { "hold", "$1" } },
    { EVHTTP_REQ_POST,   "queue/*/release",   { "release", "$1" } },
    { EVHTTP_REQ_GET,    "policy/*",          { "policy", "show", "$1" } },
    { EVHTTP_REQ_PUT,    "policy/*/*",        { "policy", "set", "$1", "$2", "$body:value" } },
    { EVHTTP_REQ_DELETE, "policy/*/*",        { "policy", "unset", "$1", "$2" } },
    { EVHTTP_REQ_GET,    "ratelimit/*",       { "ratelimit", "show", "$1", "--json" } },
    { EVHTTP_REQ_DELETE, "ratelimit/*",       { "ratelimit", "reset", "$1" } },
    { EVHTTP_REQ_GET,    "greylist/*",        { "greylist", "show", "$1" } },
    { EVHTTP_REQ_POST,   "greylist/*/allow",  { "greylist", "allow", "$1" } },
    { EVHTTP_REQ_DELETE, "greylist/*",        { "greylist", "forget", "$1" } },
    { EVHTTP_REQ_GET,    "account/*",         { "account", "show", "$1" } },
    { EVHTTP_REQ_POST,   "account/*/release", { "account", "release", "$1" } },
    { EVHTTP_REQ_GET,    "suppress/*",        { "suppress", "list", "$1" } },
    { EVHTTP_REQ_PUT,    "suppress/*/*",      { "suppress", "add", "$1", "$2" } },
    { EVHTTP_REQ_DELETE, "suppress/*/*",      { "suppress", "remove", "$1", "$2" } },
    { EVHTTP_REQ_GET,    "webhooks",          { "webhooks", "--json" } },
    { EVHTTP_REQ_POST,   "webhooks/retry",    { "webhooks", "retry" } },
    { EVHTTP_REQ_GET,    "quarantine",        { "quarantine", "list", "--json",
                                                "?$query:recipient", "?$query:domain",
                                                "?$query:reason", "?$query:offset",
                                                "?$query:limit" } },
    { EVHTTP_REQ_GET,    "quarantine/*",      { "quarantine", "show", "$1", "--json" } },
    { EVHTTP_REQ_GET,    "quarantine/*/message", { "quarantine", "message", "$1" } },
    { EVHTTP_REQ_POST,   "quarantine/*/release", { "quarantine", "release", "$1",
                                                   "?$bool:learn_ham" } },
    { EVHTTP_REQ_DELETE, "quarantine/*",      { "quarantine", "delete", "$1" } },
    { EVHTTP_REQ_POST,   "command",           { NULL } },  /* body {"argv": [...]} */
    { 0, NULL, { NULL } }
};

struct api_call {
    struct api_call *next, *prev;
    struct api_calls *owner;      /* NULL once admin_http is gone: answer into the void */
    struct evhttp_request *req;
    char *word;                   /* the command word, for data shaping */
    char *id;                     /* raw: the entry, for the file name */
    bool list;                    /* its output is JSON lines, one per item */
    bool raw;                     /* answer with the output itself (route's raw) */
};

/* ---- answers -------------------------------------------------------------------------- */

static void reply_json(struct evhttp_request *req, int code, const char *reason, json_t *o)
{
    struct evbuffer *b = evbuffer_new();
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    if (b && text) {
        evbuffer_add(b, text, strlen(text));
        evbuffer_add(b, "\n", 1);
    }
    evhttp_send_reply(req, code, reason, b);
    if (b)
        evbuffer_free(b);
    free(text);
    json_decref(o);
}

static void reply_error(struct evhttp_request *req, int code, const char *reason,
                        const char *text)
{
    reply_json(req, code, reason, json_pack("{s:s, s:s}", "status", "error", "text", text));
}

/* "key: value" lines into an object (a key seen twice becomes an array); after a blank
 * line, "QID STATE TRIES NEXT" lines into "messages". */
static json_t *status_data(const char *body, size_t len)
{
    json_t *o = json_object(), *msgs = json_array();
    const char *p = body, *end = body + len;
    bool lines = false;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char line[1024], id[64], state[32];
        unsigned tries;
        long long next;
        char *colon;

        snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1),
                 p);
        p += n + 1;
        if (line[0] == '\0') {
            lines = true;
            continue;
        }
        if (lines) {
            if (sscanf(line, "%63s %31s %u %lld", id, state, &tries, &next) == 4)
                json_array_append_new(msgs, json_pack("{s:s, s:s, s:i, s:I}", "queue_id", id,
                                                      "state", state, "tries", (int)tries,
                                                      "next_try", (json_int_t)next));
            continue;
        }
        if ((colon = strstr(line, ": ")) == NULL)
            continue;
        *colon = '\0';
        json_t *v = json_string(colon + 2), *have = json_object_get(o, line);
        if (have == NULL) {
            json_object_set_new(o, line, v);
        } else if (json_is_array(have)) {
            json_array_append_new(have, v);
        } else {
            json_t *arr = json_array();
            json_array_append(arr, have);
            json_array_append_new(arr, v);
            json_object_set_new(o, line, arr);
        }
    }
    json_object_set_new(o, "messages", msgs);
    return o;
}

/* The output as JSON: one JSON text, or JSON lines as an array (always an array for a
 * listing: one line per item); NULL when it is text. */
static json_t *output_data(const char *body, size_t len, bool list)
{
    json_t *j = list ? NULL : json_loadb(body, len, JSON_DECODE_ANY, NULL), *arr;
    const char *p = body, *end = body + len;

    if (j != NULL || (len == 0 && !list))
        return j;
    arr = json_array();
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (n > 0) {
            json_t *one = json_loadb(p, n, 0, NULL);
            if (one == NULL) {
                json_decref(arr);
                return NULL;
            }
            json_array_append_new(arr, one);
        }
        p += n + 1;
    }
    return arr;
}

static void call_free(struct api_call *call)
{
    struct api_calls *owner = call->owner;

    if (owner != NULL) {
        if (call->prev)
            call->prev->next = call->next;
        else
            owner->head = call->next;
        if (call->next)
            call->next->prev = call->prev;
    }
    free(call->word);
    free(call->id);
    free(call);
}

static void on_answer(void *arg, enum admin_status st, const char *text, const char *body,
                      size_t len)
{
    static const char *const words[] = { "ok", "error", "tempfail" };
    struct api_call *call = arg;
    json_t *o, *data;
    int code = 200;
    const char *reason = "OK";

    if (call->owner == NULL) {         /* the listener is gone, and the request with it */
        call_free(call);
        return;
    }
    if (body == NULL)
        body = "", len = 0;
    if (call->raw && st == ADMIN_OK) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(call->req);
        struct evbuffer *b = evbuffer_new();
        char disp[128];
        snprintf(disp, sizeof(disp), "attachment; filename=\"%s.eml\"", call->id);
        evhttp_add_header(h, "Content-Type", "message/rfc822");
        evhttp_add_header(h, "Content-Disposition", disp);
        evhttp_add_header(h, "Cache-Control", "no-store");
        if (b)
            evbuffer_add(b, body, len);
        evhttp_send_reply(call->req, 200, "OK", b);
        if (b)
            evbuffer_free(b);
        call_free(call);
        return;
    }
    o = json_pack("{s:s, s:s, s:s#}", "status", words[st], "text", text ? text : "",
                  "output", body, (int)len);
    if (o == NULL)                     /* output that is not UTF-8 */
        o = json_pack("{s:s, s:s}", "status", words[st], "text", text ? text : "");
    data = st != ADMIN_OK ? NULL : strcmp(call->word, "status") == 0 ? status_data(body, len)
                                                                    : output_data(body, len,
                                                                                  call->list);
    if (data != NULL)
        json_object_set_new(o, "data", data);
    if (st == ADMIN_TEMPFAIL)
        code = 503, reason = "Service Unavailable";
    else if (st == ADMIN_ERROR && text && strstr(text, "no such") != NULL)
        code = 404, reason = "Not Found";
    else if (st == ADMIN_ERROR && text && strstr(text, ": already ") != NULL)
        code = 409, reason = "Conflict";
    else if (st == ADMIN_ERROR)
        code = 400, reason = "Bad Request";
    reply_json(call->req, code, reason, o);
    call_free(call);
}

/* ---- routing ------------------------------------------------------------------------------ */

/* Split the path after API_PREFIX into decoded segments; -1 when there are too many or one
 * is empty or does not decode. */
static int split_path(const char *path, char **seg, int *nseg)
{
    const char *p = path;

    *nseg = 0;
    while (*p) {
        size_t n = strcspn(p, "/");
        char *enc, *dec;
        if (n == 0 || *nseg == API_SEGS_MAX)
            return -1;
        enc = xasprintf("%.*s", (int)n, p);
        dec = evhttp_uridecode(enc, 0, NULL);
        free(enc);
        if (dec == NULL || dec[0] == '\0' || strlen(dec) > API_ARG_MAX) {
            free(dec);
            return -1;
        }
        seg[(*nseg)++] = dec;
        p += n;
        if (*p == '/')
            p++;
    }
    return *nseg > 0 ? 0 : -1;
}

static bool route_matches(const struct api_route *r, char **seg, int nseg, int *nstar,
                          char **star)
{
    const char *p = r->pattern;
    int i = 0;

    *nstar = 0;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (i == nseg)
            return false;
        if (n == 1 && p[0] == '*')
            star[(*nstar)++] = seg[i];
        else if (strlen(seg[i]) != n || strncmp(seg[i], p, n) != 0)
            return false;
        i++;
        p += n;
        if (*p == '/')
            p++;
    }
    return i == nseg;
}

static json_t *read_body(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);

    if (len == 0)
        return json_object();
    return json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, NULL);
}

/* Split a query string "k=v&k=v" into q, each part percent-decoded; '+' stays a '+' (an
 * address such as a+tag@example.com needs no %2B; no value here has a space). -1 when a
 * part has no '=' or does not decode. */
static int parse_query(const char *text, struct evkeyvalq *q)
{
    const char *p = text;

    while (*p) {
        size_t n = strcspn(p, "&");
        const char *eq = memchr(p, '=', n);
        char *k, *v, *dk = NULL, *dv = NULL;
        int bad;

        if (eq == NULL || eq == p)
            return -1;
        k = xasprintf("%.*s", (int)(eq - p), p);
        v = xasprintf("%.*s", (int)(n - (size_t)(eq - p) - 1), eq + 1);
        dk = evhttp_uridecode(k, 0, NULL);
        dv = evhttp_uridecode(v, 0, NULL);
        bad = dk == NULL || dv == NULL || evhttp_add_header(q, dk, dv) != 0;
        free(k);
        free(v);
        free(dk);
        free(dv);
        if (bad)
            return -1;
        p += n;
        if (*p == '&')
            p++;
    }
    return 0;
}

/* The URL's query string into q (parameters the route r names only); -1 after answering
 * 400 when it has others or does not parse. */
static int read_query(struct evhttp_request *req, const struct api_route *r,
                      struct evkeyvalq *q)
{
    const char *text = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyval *kv;
    char msg[160];
    int i;

    if (text == NULL || text[0] == '\0')
        return 0;
    if (parse_query(text, q) != 0) {
        reply_error(req, 400, "Bad Request", "the query string does not parse");
        return -1;
    }
    TAILQ_FOREACH(kv, q, next) {
        bool known = false;
        for (i = 0; i < API_WORDS_MAX && r->argv[i]; i++)
            if (strncmp(r->argv[i], "?$query:", 8) == 0 && strcmp(r->argv[i] + 8, kv->key) == 0)
                known = true;
        if (!known || kv->value[0] == '\0' || strlen(kv->value) > API_ARG_MAX) {
            snprintf(msg, sizeof(msg), "%s query parameter \"%.40s\"",
                     known ? "bad value of the" : "unknown", kv->key);
            reply_error(req, 400, "Bad Request", msg);
            return -1;
        }
    }
    return 0;
}

void admin_api_request(struct api_calls *calls, struct evhttp_request *req, const char *path,
                       const struct admin_http_deps *deps)
{
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    char *seg[API_SEGS_MAX], *star[API_SEGS_MAX], *argv[API_ARGS_MAX];
    char flag[API_WORDS_MAX][32];
    const struct api_route *r;
    bool path_known = false;
    json_t *body = NULL;
    struct evkeyvalq query;
    int nseg = 0, nstar, argc = 0, i;
    struct api_call *call;

    TAILQ_INIT(&query);

    if (deps->command == NULL) {
        reply_error(req, 404, "Not Found", "no API on this listener");
        return;
    }
    if (strncmp(path, API_PREFIX, strlen(API_PREFIX)) != 0 ||
        split_path(path + strlen(API_PREFIX), seg, &nseg) < 0) {
        for (i = 0; i < nseg; i++)
            free(seg[i]);
        reply_error(req, 404, "Not Found", "no such API path (see docs/api.md)");
        return;
    }
    for (r = api_routes; r->pattern; r++) {
        if (!route_matches(r, seg, nseg, &nstar, star))
            continue;
        path_known = true;
        if (r->method == method)
            break;
    }
    if (r->pattern == NULL) {
        if (path_known)
            reply_error(req, 405, "Method Not Allowed", "method not allowed on this path");
        else
            reply_error(req, 404, "Not Found", "no such API path (see docs/api.md)");
        goto out;
    }
    if ((body = read_body(req)) == NULL || !json_is_object(body)) {
        reply_error(req, 400, "Bad Request", "the body must be a JSON object");
        goto out;
    }
    if (read_query(req, r, &query) < 0)
        goto out;
    if (r->argv[0] == NULL) {          /* command: {"argv": ["queue", "--json"]} */
        json_t *a = json_object_get(body, "argv"), *v;
        size_t k;
        if (!json_is_array(a) || json_array_size(a) == 0 ||
            json_array_size(a) > API_ARGS_MAX) {
            reply_error(req, 400, "Bad Request", "expected {\"argv\": [\"COMMAND\", ...]}");
            goto out;
        }
        json_array_foreach(a, k, v) {
            if (!json_is_string(v) || json_string_length(v) > API_ARG_MAX ||
                json_string_length(v) == 0) {
                reply_error(req, 400, "Bad Request", "argv: non-empty strings only");
                goto out;
            }
            argv[argc++] = (char *)json_string_value(v);
        }
    } else {
        for (i = 0; i < API_WORDS_MAX && r->argv[i]; i++) {
            const char *w = r->argv[i];
            if (w[0] == '$' && w[1] >= '1' && w[1] <= '9') {
                argv[argc++] = star[w[1] - '1'];
            } else if (strncmp(w, "?$query:", 8) == 0) {
                const char *v = evhttp_find_header(&query, w + 8);
                if (v == NULL)
                    continue;
                snprintf(flag[i], sizeof(flag[i]), "--%s", w + 8);
                argv[argc++] = flag[i];
                argv[argc++] = (char *)v;
            } else if (strncmp(w, "?$bool:", 7) == 0) {
                json_t *v = json_object_get(body, w + 7);
                char *d;
                if (v != NULL && !json_is_boolean(v)) {
                    char msg[128];
                    snprintf(msg, sizeof(msg), "\"%s\" must be true or false", w + 7);
                    reply_error(req, 400, "Bad Request", msg);
                    goto out;
                }
                if (!json_is_true(v))
                    continue;
                snprintf(flag[i], sizeof(flag[i]), "--%s", w + 7);
                for (d = flag[i]; *d; d++)
                    if (*d == '_')
                        *d = '-';
                argv[argc++] = flag[i];
            } else if (strncmp(w, "$body:", 6) == 0 || strncmp(w, "?$body:", 7) == 0) {
                bool optional = w[0] == '?';
                const char *name = w + (optional ? 7 : 6);
                json_t *v = json_object_get(body, name);
                if (v == NULL && optional)
                    continue;
                if (!json_is_string(v) || json_string_length(v) == 0) {
                    char msg[128];
                    snprintf(msg, sizeof(msg), "the body needs {\"%s\": \"...\"}", name);
                    reply_error(req, 400, "Bad Request", msg);
                    goto out;
                }
                if (optional) {       /* flush --domain D */
                    snprintf(flag[i], sizeof(flag[i]), "--%s", name);
                    argv[argc++] = flag[i];
                }
                argv[argc++] = (char *)json_string_value(v);
            } else {
                argv[argc++] = (char *)w;
            }
        }
    }
    call = xcalloc(1, sizeof(*call));
    call->owner = calls;
    call->req = req;
    call->word = xstrdup(argv[0]);
    call->list = (strcmp(argv[0], "queue") == 0 && (argc < 2 || strcmp(argv[1], "show") != 0))
                 || (argc >= 2 && strcmp(argv[0], "quarantine") == 0 &&
                     strcmp(argv[1], "list") == 0);
    /* its route serves a quarantined message as it is, not wrapped in JSON (the command
     * route keeps the JSON answer posternctl --http reads) */
    call->raw = r->argv[0] != NULL && argc == 3 && strcmp(argv[0], "quarantine") == 0 &&
                strcmp(argv[1], "message") == 0;
    call->id = call->raw ? xstrdup(argv[2]) : NULL;
    call->next = calls->head;
    if (calls->head)
        calls->head->prev = call;
    calls->head = call;
    deps->command(deps->arg, argc, argv, on_answer, call);
out:
    evhttp_clear_headers(&query);
    json_decref(body);
    for (i = 0; i < nseg; i++)
        free(seg[i]);
}

void admin_api_orphan(struct api_calls *calls)
{
    struct api_call *c;

    for (c = calls->head; c; c = c->next)
        c->owner = NULL;
    calls->head = NULL;
}
