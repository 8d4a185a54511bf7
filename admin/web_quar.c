/*
 * web_quar.c - the quarantine on the web page: the list on the user's page (search and
 * sort on the server, a filter and column sort in app.js), release / release and learn /
 * delete (POST /ui/quarantine, /ui/api/quarantine/...), the API listing, and the digest
 * links /ui/q/TOKEN, whose GET only shows a confirmation page and whose POST acts.
 *
 * Everything goes through content/quar.h: who may act on an entry is its owner rule
 * (the recipient itself, or "@domain" for a domain admin), a release is carried out once
 * however often it is asked (a second one answers "already"), and virus entries are
 * released only by an admin through posternctl, never from here.
 */
#include "admin/web_int.h"

#include "content/quar.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <event2/http.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define QUAR_PAGE_ROWS 500      /* entries shown on the page */
#define QUAR_API_ROWS  1000     /* most entries one API call returns */

static const char *const sort_names[] = { "date", "score", "sender", "subject", NULL };

static int sort_of(const char *s)
{
    int i;

    for (i = 0; s && sort_names[i]; i++)
        if (strcmp(s, sort_names[i]) == 0)
            return i;
    return QUAR_SORT_DATE;
}

static const char *domain_of(const char *address)
{
    const char *at = strrchr(address, '@');
    return at ? at + 1 : "";
}

/* The owner rule for acting on target's entries as r->login. malloc'd. */
static char *owner_for(const struct web_req *r)
{
    if (strcasecmp(r->login, r->target) == 0)
        return xstrdup(r->target);
    return xasprintf("@%s", domain_of(r->target));
}

static void add_date(struct wstr *s, long long t)
{
    char buf[32];
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) && strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", &tm) > 0)
        wstr_adds(s, buf);
}

static json_t *entry_json(const struct quar_entry *e)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:I, s:I}",
                     "id", e->id, "rcpt", e->rcpt, "sender", e->sender, "from", e->from,
                     "subject", e->subject, "reason", e->reason, "detail", e->detail,
                     "symbols", e->symbols, "score", e->score, "date", (json_int_t)e->date,
                     "size", (json_int_t)e->size);
}

/* ---- the section of the user's page ---------------------------------------------- */

static const char *done_text(const char *done)
{
    static const char *const texts[][2] = {
        { "release", "The message was released: it is on its way to the mailbox." },
        { "learn", "The message was released and learned as not spam." },
        { "delete", "The message was deleted." },
        { "already", "That message was already released or deleted." },
        { "denied", "That message cannot be released here (ask your administrator)." },
        { "gone", "That message is no longer in the quarantine." },
    };
    size_t i;

    for (i = 0; done && i < sizeof(texts) / sizeof(texts[0]); i++)
        if (strcmp(done, texts[i][0]) == 0)
            return texts[i][1];
    return NULL;
}

static void on_section_list(void *arg, int err, const struct quar_entry *e, size_t n,
                            size_t total)
{
    struct web_req *r = arg;
    struct wstr *s = &r->scratch;
    char *q = web_query_get(r, "q"), *sort = web_query_get(r, "sort"),
         *done = web_query_get(r, "done");
    const char *note = done_text(done);
    size_t i;
    int k;

    r->qop = NULL;
    wstr_adds(s, "<section class=\"quarantine\" id=\"quarantine\"><h2>Quarantine");
    if (r->quar_domain) {
        wstr_adds(s, " of ");
        wstr_add_html(s, r->quar_domain);
    }
    wstr_adds(s, "</h2>");
    if (note) {
        wstr_adds(s, "<p class=\"notice\" role=\"status\">");
        wstr_add_html(s, note);
        wstr_adds(s, "</p>");
    }
    wstr_adds(s, "<form method=\"get\" action=\"/ui/\" class=\"search\">"
                 "<input type=\"hidden\" name=\"");
    wstr_adds(s, r->quar_domain ? "domain" : "user");
    wstr_adds(s, "\" value=\"");
    wstr_add_html(s, r->quar_domain ? r->quar_domain : r->target);
    wstr_adds(s, "\"><label>Search <input name=\"q\" type=\"search\" value=\"");
    wstr_add_html(s, q);
    wstr_adds(s, "\"></label> <label>Sort by <select name=\"sort\">");
    for (k = 0; sort_names[k]; k++) {
        wstr_adds(s, "<option value=\"");
        wstr_adds(s, sort_names[k]);
        wstr_adds(s, sort_of(sort) == k ? "\" selected>" : "\">");
        wstr_adds(s, sort_names[k]);
        wstr_adds(s, "</option>");
    }
    wstr_adds(s, "</select></label> <button type=\"submit\">Search</button></form>");
    if (err != 0) {
        wstr_adds(s, "<p class=\"error\">The quarantine cannot be read now; try again "
                     "later.</p></section>");
    } else if (n == 0) {
        wstr_adds(s, "<p id=\"quarantine-empty\">No messages in quarantine.</p></section>");
    } else {
        wstr_addf(s, "<p>%zu message%s.</p><input id=\"quarantine-search\" class=\"hidden\" "
                     "type=\"search\" placeholder=\"Filter\" aria-label=\"Filter\">", total,
                  total == 1 ? "" : "s");
        wstr_adds(s, "<table id=\"quarantine-table\"><thead><tr>"
                     "<th data-sort=\"date\">Date</th>");
        if (r->quar_domain)
            wstr_adds(s, "<th data-sort=\"rcpt\">Recipient</th>");
        wstr_adds(s, "<th data-sort=\"sender\">From</th>"
                     "<th data-sort=\"subject\">Subject</th><th data-sort=\"score\">Score"
                     "</th><th data-sort=\"reason\">Reason</th><th>Action</th></tr>"
                     "</thead><tbody>");
        for (i = 0; i < n; i++) {
            wstr_adds(s, "<tr data-id=\"");
            wstr_add_html(s, e[i].id);
            wstr_addf(s, "\"><td data-value=\"%lld\">", e[i].date);
            add_date(s, e[i].date);
            if (r->quar_domain) {
                wstr_adds(s, "</td><td>");
                wstr_add_html(s, e[i].rcpt);
            }
            wstr_adds(s, "</td><td>");
            wstr_add_html(s, e[i].from[0] ? e[i].from : e[i].sender);
            if (e[i].from[0] && e[i].sender[0]) {
                wstr_adds(s, "<br><small>");
                wstr_add_html(s, e[i].sender);
                wstr_adds(s, "</small>");
            }
            wstr_adds(s, "</td><td class=\"subject\">");
            wstr_add_html(s, e[i].subject);
            wstr_addf(s, "</td><td data-value=\"%.2f\">%.1f</td><td title=\"", e[i].score,
                      e[i].score);
            wstr_add_html(s, e[i].detail);
            wstr_adds(s, "\">");
            wstr_add_html(s, e[i].reason);
            wstr_adds(s, "</td><td><form method=\"post\" action=\"/ui/quarantine\">"
                         "<input type=\"hidden\" name=\"csrf\" value=\"");
            wstr_add_html(s, r->csrf);
            wstr_adds(s, "\"><input type=\"hidden\" name=\"user\" value=\"");
            wstr_add_html(s, r->quar_domain ? e[i].rcpt : r->target);
            if (r->quar_domain) {
                wstr_adds(s, "\"><input type=\"hidden\" name=\"domain\" value=\"");
                wstr_add_html(s, r->quar_domain);
            }
            wstr_adds(s, "\"><input type=\"hidden\" name=\"id\" value=\"");
            wstr_add_html(s, e[i].id);
            wstr_adds(s, "\">");
            if (strcmp(e[i].reason, "virus") != 0)
                wstr_adds(s, "<button type=\"submit\" name=\"action\" value=\"release\">"
                             "Release</button> <button type=\"submit\" name=\"action\" "
                             "value=\"learn\">Not spam</button> ");
            wstr_adds(s, "<button type=\"submit\" name=\"action\" value=\"delete\">Delete"
                         "</button></form></td></tr>");
        }
        wstr_adds(s, "</tbody></table></section>");
    }
    free(q);
    free(sort);
    free(done);
    r->cont(r);
}

void web_quar_section(struct web_req *r, void (*cont)(struct web_req *r))
{
    char *q = web_query_get(r, "q"), *sort = web_query_get(r, "sort");
    struct quar_query query = {
        .rcpt = r->quar_domain ? NULL : r->target, .domain = r->quar_domain, .search = q && q[0] ? q : NULL, .sort = sort_of(sort),
        .ascending = sort_of(sort) >= QUAR_SORT_SENDER, .limit = QUAR_PAGE_ROWS,
    };

    r->cont = cont;
    free(r->scratch.p);
    memset(&r->scratch, 0, sizeof(r->scratch));
    if (r->w->deps.quar == NULL) {
        wstr_adds(&r->scratch, "");
        free(q);
        free(sort);
        cont(r);
        return;
    }
    r->qop = quar_list(r->w->deps.quar, &query, on_section_list, r);
    free(q);
    free(sort);
}

/* ---- acting: the page's form and the API ------------------------------------------ */

static const char *done_word(int err, bool learn, bool del)
{
    switch (err) {
    case 0:         return del ? "delete" : learn ? "learn" : "release";
    case EALREADY:  return "already";
    case EPERM:     return "denied";
    case ENOENT:    return "gone";
    default:        return NULL;
    }
}

static void on_form_done(void *arg, int err, const char *text)
{
    struct web_req *r = arg;
    const char *word = done_word(err, r->step == 1, r->step == 2);
    char *q, *loc;

    r->qop = NULL;
    log_info(WEB_LOG, "%s: login=%s quarantine %s for %s: %s", r->ip, r->login,
             r->step == 2 ? "delete" : "release", r->target, text ? text : "-");
    if (word == NULL) {
        web_error(r, 503, "the quarantine cannot be reached now; try again later");
        return;
    }
    q = evhttp_encode_uri(r->quar_domain ? r->quar_domain : r->target);
    loc = xasprintf("/ui/?%s=%s&done=%s#quarantine", r->quar_domain ? "domain" : "user", q,
                    word);
    web_redirect(r, loc);
    free(q);
    free(loc);
}

static void on_api_done(void *arg, int err, const char *text)
{
    struct web_req *r = arg;

    r->qop = NULL;
    log_info(WEB_LOG, "%s: login=%s quarantine %s for %s: %s", r->ip, r->login,
             r->step == 2 ? "delete" : "release", r->target, text ? text : "-");
    switch (err) {
    case 0:
        web_send_json(r, 200, json_pack("{s:b, s:s}", "done", 1, "text", text ? text : ""));
        return;
    case EALREADY:
        web_send_json(r, 200, json_pack("{s:b, s:b, s:s}", "done", 0, "already", 1,
                                        "text", text ? text : ""));
        return;
    case EPERM:
        web_error(r, 403, text ? text : "not allowed");
        return;
    case ENOENT:
        web_error(r, 404, "no such quarantine entry");
        return;
    default:
        web_error(r, 503, "the quarantine cannot be reached now; try again later");
    }
}

/* Release (step 0), release and learn (1) or delete (2) entry id for r->target. */
static void act(struct web_req *r, const char *id, quar_done_fn cb)
{
    char *owner;

    if (r->w->deps.quar == NULL) {
        web_error(r, 503, "the quarantine is not available");
        return;
    }
    if (id == NULL || !quar_id_valid(id)) {
        web_error(r, 400, "not a quarantine entry ID");
        return;
    }
    owner = owner_for(r);
    if (r->step == 2)
        r->qop = quar_delete(r->w->deps.quar, id, owner, cb, r);
    else
        r->qop = quar_release(r->w->deps.quar, id, owner, r->step == 1 ? QUAR_F_LEARN : 0,
                              cb, r);
    free(owner);
}

static void form_session(struct web_req *r)
{
    char *id, *action;

    if (!web_form_start(r))
        return;
    r->quar_domain = web_body_get(r, "domain");
    if (r->quar_domain && !web_is_admin_of(r, r->login, r->quar_domain)) {
        free(r->quar_domain);
        r->quar_domain = NULL;
    }
    action = web_body_get(r, "action");
    r->step = action == NULL ? -1 : strcmp(action, "release") == 0 ? 0
              : strcmp(action, "learn") == 0 ? 1 : strcmp(action, "delete") == 0 ? 2 : -1;
    free(action);
    if (r->step < 0) {
        web_error(r, 400, "action must be release, learn or delete");
        return;
    }
    id = web_body_get(r, "id");
    act(r, id, on_form_done);
    free(id);
}

void web_route_quar_post(struct web_req *r)
{
    web_session_load(r, form_session);
}

static void api_act_session(struct web_req *r)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(r->req));
    json_t *id, *user, *learn;

    if (r->login == NULL) {
        web_error(r, 401, "not logged in");
        return;
    }
    if (!web_csrf_ok(r)) {
        web_error(r, 403, "missing or wrong X-CSRF-Token header");
        return;
    }
    r->json = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
    id = json_object_get(r->json, "id");
    user = json_object_get(r->json, "user");
    learn = json_object_get(r->json, "learn");
    if (!json_is_object(r->json) || !json_is_string(id) ||
        (user != NULL && !json_is_string(user)) || (learn != NULL && !json_is_boolean(learn))) {
        web_error(r, 400, "expected {\"id\": ID, \"user\": ADDRESS (optional), "
                  "\"learn\": BOOLEAN (optional)}");
        return;
    }
    if (!web_pick_target(r, user ? json_string_value(user) : NULL))
        return;
    r->step = strstr(path, "/delete") ? 2 : json_is_true(learn) ? 1 : 0;
    act(r, json_string_value(id), on_api_done);
}

void web_route_api_quar_act(struct web_req *r)
{
    web_session_load(r, api_act_session);
}

/* ---- the API listing --------------------------------------------------------------- */

static void on_api_list(void *arg, int err, const struct quar_entry *e, size_t n,
                        size_t total)
{
    struct web_req *r = arg;
    json_t *a;
    size_t i;

    r->qop = NULL;
    if (err != 0) {
        web_error(r, 503, "the quarantine cannot be reached now; try again later");
        return;
    }
    a = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(a, entry_json(&e[i]));
    web_send_json(r, 200, json_pack("{s:o, s:I}", "entries", a, "total", (json_int_t)total));
}

static void api_list_session(struct web_req *r)
{
    char *user, *domain, *search, *reason, *sort, *order, *offset, *limit;
    struct quar_query query = { .limit = QUAR_API_ROWS };
    long lim = QUAR_API_ROWS, off = 0;
    bool ok = true;

    if (r->login == NULL) {
        web_error(r, 401, "not logged in");
        return;
    }
    if (r->w->deps.quar == NULL) {
        web_error(r, 503, "the quarantine is not available");
        return;
    }
    user = web_query_get(r, "user");
    domain = web_query_get(r, "domain");
    search = web_query_get(r, "search");
    reason = web_query_get(r, "reason");
    sort = web_query_get(r, "sort");
    order = web_query_get(r, "order");
    offset = web_query_get(r, "offset");
    limit = web_query_get(r, "limit");
    if (domain != NULL) {
        if (!web_is_admin_of(r, r->login, domain)) {
            web_error(r, 403, "only an admin of the domain may list its quarantine");
            ok = false;
        }
        query.domain = domain;
    } else if (!web_pick_target(r, user)) {
        ok = false;
    } else {
        query.rcpt = r->target;
    }
    if (ok && ((sort && sort_of(sort) == QUAR_SORT_DATE && strcmp(sort, "date") != 0) ||
               (order && strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0) ||
               (offset && sscanf(offset, "%ld", &off) != 1) || off < 0 ||
               (limit && sscanf(limit, "%ld", &lim) != 1) || lim < 1 || lim > QUAR_API_ROWS)) {
        web_error(r, 400, "sort: date|score|sender|subject, order: asc|desc, offset >= 0, "
                  "limit 1..1000");
        ok = false;
    }
    if (ok) {
        query.search = search && search[0] ? search : NULL;
        query.reason = reason && reason[0] ? reason : NULL;
        query.sort = sort_of(sort);
        query.ascending = order && strcmp(order, "asc") == 0;
        query.offset = (size_t)off;
        query.limit = (size_t)lim;
        r->qop = quar_list(r->w->deps.quar, &query, on_api_list, r);
    }
    free(user);
    free(domain);
    free(search);
    free(reason);
    free(sort);
    free(order);
    free(offset);
    free(limit);
}

void web_route_api_quar(struct web_req *r)
{
    web_session_load(r, api_list_session);
}

/* ---- digest links: /ui/q/TOKEN ------------------------------------------------------ */

static void link_message(struct web_req *r, int code, const char *title, const char *text)
{
    const struct web_var vars[] = { { "message", text } };

    web_page(r, code, title, "link.html", vars, 1);
}

static void on_link_done(void *arg, int err, const char *text)
{
    struct web_req *r = arg;

    r->qop = NULL;
    log_info(WEB_LOG, "%s: digest link release: %s", r->ip, text ? text : "-");
    switch (err) {
    case 0:
        link_message(r, 200, "Released", text && text[0] ? text
                     : "The message was released: it is on its way to your mailbox.");
        return;
    case EALREADY:
        link_message(r, 200, "Already released", "This message was already released or "
                     "deleted. Nothing more to do.");
        return;
    case EPERM:
        link_message(r, 403, "Not released", "This message cannot be released with a link "
                     "(ask your administrator).");
        return;
    case ENOENT:
        link_message(r, 404, "Not found", "This message is no longer in the quarantine.");
        return;
    case EINVAL:
        link_message(r, 400, "Invalid link", "This link is not valid.");
        return;
    case ETIMEDOUT:
        link_message(r, 410, "Link expired", "This link has expired.");
        return;
    default:
        link_message(r, 503, "Try again later", "The quarantine cannot be reached now; "
                     "try again later.");
    }
}

static void on_link_entry(void *arg, int err, const struct quar_entry *e)
{
    struct web_req *r = arg;
    struct wstr date = { 0 };
    struct quar_token t;
    char score[32];

    r->qop = NULL;
    if (err == ENOENT) {
        link_message(r, 200, "Already released", "This message was already released or "
                     "deleted, or is no longer in the quarantine.");
        return;
    }
    if (err != 0) {
        link_message(r, 503, "Try again later", "The quarantine cannot be reached now; try "
                     "again later.");
        return;
    }
    (void)quar_token_verify(r->view.quar_key, strlen(r->view.quar_key), r->target,
                            (long long)time(NULL), &t);
    add_date(&date, e->date);
    snprintf(score, sizeof(score), "%.1f", e->score);
    {
        const struct web_var vars[] = {
            { "token", r->target }, { "from", e->from[0] ? e->from : e->sender },
            { "subject", e->subject }, { "date", date.p ? date.p : "" }, { "score", score },
            { "reason", e->reason }, { "rcpt", e->rcpt },
            { "button", t.action == QUAR_ACT_RELEASE_LEARN ? "Release and mark as not spam"
                                                           : "Release" },
        };
        web_page(r, 200, "Release this message?", "confirm.html", vars,
                 sizeof(vars) / sizeof(vars[0]));
    }
    free(date.p);
}

void web_route_link(struct web_req *r, const char *token)
{
    const char *key = r->view.quar_key;
    struct quar_token t;
    enum quar_token_status st;

    if (key == NULL || r->w->deps.quar == NULL) {
        web_error(r, 404, "digest links are not enabled here");
        return;
    }
    if (strlen(token) == 0 || strlen(token) > QUAR_TOKEN_MAX) {
        link_message(r, 400, "Invalid link", "This link is not valid.");
        return;
    }
    r->target = xstrdup(token);                  /* kept for the confirmation form */
    if (evhttp_request_get_command(r->req) == EVHTTP_REQ_POST) {
        r->qop = quar_release_token(r->w->deps.quar, key, strlen(key), token,
                                    (long long)time(NULL), on_link_done, r);
        return;
    }
    /* GET (a person, or a link scanner): show what would be released, change nothing */
    st = quar_token_verify(key, strlen(key), token, (long long)time(NULL), &t);
    if (st == QUAR_TOKEN_BAD) {
        link_message(r, 400, "Invalid link", "This link is not valid.");
        return;
    }
    if (st == QUAR_TOKEN_EXPIRED) {
        link_message(r, 410, "Link expired", "This link has expired.");
        return;
    }
    r->qop = quar_get(r->w->deps.quar, t.entry, on_link_entry, r);
}
