/*
 * web_settings.c - a user's protection settings: the page (GET /ui/, POST /ui/settings)
 * and the API (GET/PUT /ui/api/settings, GET /ui/api/me, GET /ui/api/users).
 *
 * The settings are the per-user overrides of policy/user_prefs.h in the Redis hash
 * pt:pol:{ADDRESS}, the storage `posternctl policy set|show|unset` uses: field names come
 * from user_field_name(), every value is checked with user_prefs_field_check() before it
 * is written, and absent fields mean "the domain's setting". Who may change what:
 * web_may_edit() (the login itself, or an admin of the address's domain).
 */
#include "admin/web_int.h"

#include "lib/log.h"
#include "lib/redis.h"
#include "lib/xalloc.h"
#include "policy/domain_conf.h"
#include "policy/levels.h"
#include "policy/user_prefs.h"

#include <event2/http.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WHY_MAX        200
#define SCAN_ROUNDS    50       /* SCAN calls per user listing (COUNT 1000 each) */
#define USERS_MAX      1000     /* addresses listed per domain */

/* ---- the stored fields as they come back from HGETALL (r->names / r->values) ---- */

static void fields_clear(struct web_req *r)
{
    size_t i;

    for (i = 0; i < r->nfields; i++) {
        free(r->names[i]);
        free(r->values[i]);
    }
    free(r->names);
    free(r->values);
    r->names = r->values = NULL;
    r->nfields = 0;
}

static void fields_add(struct web_req *r, const char *name, const char *value)
{
    r->names = xrealloc(r->names, (r->nfields + 1) * sizeof(*r->names));
    r->values = xrealloc(r->values, (r->nfields + 1) * sizeof(*r->values));
    r->names[r->nfields] = xstrdup(name);
    r->values[r->nfields] = value ? xstrdup(value) : NULL;
    r->nfields++;
}

static const char *field_get(const struct web_req *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->nfields; i++)
        if (strcmp(r->names[i], name) == 0)
            return r->values[i];
    return NULL;
}

static const char *domain_of(const char *address)
{
    const char *at = strrchr(address, '@');
    return at ? at + 1 : "";
}

static const struct domain_conf *domain_settings(const struct web_req *r, const char *address)
{
    return domain_conf_find(r->view.domains, r->view.domain_defaults, domain_of(address));
}

/* Read pt:pol:{r->target} into r->names/values, then cont(r). */
static void on_prefs(enum redis_result res, const struct redisReply *reply, void *arg)
{
    struct web_req *r = arg;
    size_t i;

    r->rreq = NULL;
    if (res != REDIS_RESULT_OK || reply->type != REDIS_REPLY_ARRAY) {
        web_error(r, 503, "the settings store (Redis) is not available; try again later");
        return;
    }
    fields_clear(r);
    for (i = 0; i + 1 < reply->elements; i += 2)
        if (reply->element[i]->type == REDIS_REPLY_STRING &&
            reply->element[i + 1]->type == REDIS_REPLY_STRING)
            fields_add(r, reply->element[i]->str, reply->element[i + 1]->str);
    r->cont(r);
}

static void prefs_load(struct web_req *r, void (*cont)(struct web_req *r))
{
    char *key = user_prefs_key(r->target);
    const char *argv[2] = { "HGETALL", key };

    r->cont = cont;
    r->rreq = redis_command_argv(r->w->deps.redis, 2, argv, NULL, on_prefs, r);
    free(key);
}

/* Write r->names/values (NULL value: HDEL) to pt:pol:{r->target}, atomically, then
 * prefs_load(cont). */
static void on_written(enum redis_result res, const struct redisReply *reply, void *arg)
{
    struct web_req *r = arg;

    r->rreq = NULL;
    if (res != REDIS_RESULT_OK || reply->type == REDIS_REPLY_ERROR) {
        web_error(r, 503, "the settings store (Redis) is not available; try again later");
        return;
    }
    prefs_load(r, r->cont);
}

static void prefs_write(struct web_req *r, void (*cont)(struct web_req *r))
{
    /* One script: the fields with values are set, the others deleted, in one step. */
    static const char script[] =
        "for i = 1, #ARGV, 3 do "
        "  if ARGV[i] == 's' then redis.call('HSET', KEYS[1], ARGV[i+1], ARGV[i+2]) "
        "  else redis.call('HDEL', KEYS[1], ARGV[i+1]) end "
        "end return 1";
    char *key = user_prefs_key(r->target);
    size_t argc = 4 + 3 * r->nfields, i, a = 0;
    const char **argv = xcalloc(argc, sizeof(*argv));

    argv[a++] = "EVAL";
    argv[a++] = script;
    argv[a++] = "1";
    argv[a++] = key;
    for (i = 0; i < r->nfields; i++) {
        argv[a++] = r->values[i] ? "s" : "d";
        argv[a++] = r->names[i];
        argv[a++] = r->values[i] ? r->values[i] : "";
    }
    r->cont = cont;
    log_info(WEB_LOG, "%s: login=%s changed the settings of %s (%zu fields)", r->ip,
             r->login, r->target, r->nfields);
    r->rreq = redis_command_argv(r->w->deps.redis, (int)argc, argv, NULL, on_written, r);
    free(argv);
    free(key);
}

/* Check every pending field; 0, or -1 with the reason in why. */
static int fields_check(const struct web_req *r, char *why, size_t len)
{
    size_t i;

    for (i = 0; i < r->nfields; i++) {
        char inner[WHY_MAX];
        if (user_field_from_name(r->names[i]) == UF_COUNT) {
            snprintf(why, len, "unknown setting \"%.40s\"", r->names[i]);
            return -1;
        }
        if (r->values[i] &&
            user_prefs_field_check(r->names[i], r->values[i], inner, sizeof(inner)) < 0) {
            snprintf(why, len, "%s: %s", r->names[i], inner);
            return -1;
        }
        if (r->values[i] && strcmp(r->names[i], "level") == 0 &&
            level_find(r->view.levels, r->values[i]) == NULL) {
            snprintf(why, len, "level: no level \"%.64s\" (see the levels offered)",
                     r->values[i]);
            return -1;
        }
    }
    return 0;
}

/* ---- JSON ------------------------------------------------------------------------ */

static json_t *levels_json(const struct web_req *r)
{
    const struct level_conf *l = r->view.levels->items;
    json_t *o = json_object();
    size_t i;

    for (i = 0; i < r->view.levels->n; i++)
        json_object_set_new(o, l[i].name, json_pack("{s:f, s:f, s:f}", "tag", l[i].tag,
                                                     "spam", l[i].spam, "kill", l[i].kill));
    return o;
}

/* A stored value as JSON: numbers, booleans and lists typed. */
static json_t *value_json(const char *name, const char *value)
{
    enum user_field f = user_field_from_name(name);

    switch (f) {
    case UF_TAG: case UF_SPAM: case UF_KILL:
        return json_real(strtod(value, NULL));
    case UF_GREYLISTING: case UF_STRICT_DNS:
        return json_boolean(strcmp(value, "on") == 0 || strcmp(value, "true") == 0);
    case UF_WHITELIST: case UF_BLACKLIST: case UF_EXCLUSIONS: {
        json_t *a = json_loads(value, JSON_DECODE_ANY, NULL);
        return a ? a : json_array();
    }
    default:
        return json_string(value);
    }
}

static json_t *settings_json(const struct web_req *r)
{
    const struct domain_conf *d = domain_settings(r, r->target);
    json_t *s = json_object();
    size_t i;

    for (i = 0; i < r->nfields; i++)
        if (user_field_from_name(r->names[i]) != UF_COUNT && r->values[i])
            json_object_set_new(s, r->names[i], value_json(r->names[i], r->values[i]));
    return json_pack("{s:s, s:s, s:o, s:{s:s, s:b, s:s, s:s}, s:o}",
                     "user", r->target, "domain", domain_of(r->target), "settings", s,
                     "domain_settings", "level", d && d->level ? d->level : LEVEL_DEFAULT,
                     "greylisting", d ? d->greylisting : 0,
                     "virus_action", content_action_names[d ? d->virus_action : 0],
                     "file_action", content_action_names[d ? d->file_action : 0],
                     "levels", levels_json(r));
}

/* A JSON value as the text user_prefs stores; NULL for JSON null (unset). -1 when the
 * type cannot be a setting. */
static int value_text(const char *name, json_t *v, char **out)
{
    enum user_field f = user_field_from_name(name);

    *out = NULL;
    if (json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        *out = xstrdup(json_string_value(v));
        return 0;
    }
    if (json_is_number(v)) {
        *out = xasprintf("%.17g", json_number_value(v));
        return 0;
    }
    if (json_is_boolean(v)) {
        *out = xstrdup(json_is_true(v) ? "on" : "off");
        return 0;
    }
    if (json_is_array(v) && (f == UF_WHITELIST || f == UF_BLACKLIST || f == UF_EXCLUSIONS)) {
        *out = json_dumps(v, JSON_COMPACT);
        return *out ? 0 : -1;
    }
    return -1;
}

/* ---- the target of a request: ?user= (or the form's user), default the login ---- */

bool web_pick_target(struct web_req *r, const char *given)
{
    free(r->target);
    r->target = web_address(given ? given : r->login);
    if (r->target == NULL) {
        web_error(r, 400, "not an address: expected user@domain");
        return false;
    }
    if (!web_may_edit(r, r->target)) {
        web_error(r, 403, "you may only see and change your own settings (or, as a domain "
                  "admin, those of your domain's users)");
        return false;
    }
    return true;
}

bool web_form_start(struct web_req *r)
{
    char *user;
    bool ok;

    if (r->login == NULL) {
        web_error(r, 401, "not logged in: open /ui/ and log in");
        return false;
    }
    if (!web_csrf_ok(r)) {
        web_error(r, 403, "missing or wrong CSRF token: reload the page and try again");
        return false;
    }
    user = web_body_get(r, "user");
    ok = web_pick_target(r, user);
    free(user);
    return ok;
}

/* ---- API ------------------------------------------------------------------------- */

static void api_settings_answer(struct web_req *r)
{
    web_send_json(r, 200, settings_json(r));
}

static void api_settings_session(struct web_req *r)
{
    char *user, why[WHY_MAX + 64];
    const char *name;
    json_t *v;
    bool ok;

    if (r->login == NULL) {
        web_error(r, 401, "not logged in");
        return;
    }
    user = web_query_get(r, "user");
    ok = web_pick_target(r, user);
    free(user);
    if (!ok)
        return;
    if (r->step == 0) {                               /* GET */
        prefs_load(r, api_settings_answer);
        return;
    }
    if (!web_csrf_ok(r)) {
        web_error(r, 403, "missing or wrong X-CSRF-Token header");
        return;
    }
    r->json = r->body ? json_loadb(r->body, r->body_len, 0, NULL) : NULL;
    if (!json_is_object(r->json) || json_object_size(r->json) == 0) {
        web_error(r, 400, "expected a JSON object of settings, e.g. {\"level\": \"high\"}");
        return;
    }
    json_object_foreach(r->json, name, v) {
        char *text;
        if (user_field_from_name(name) == UF_COUNT || value_text(name, v, &text) < 0) {
            snprintf(why, sizeof(why), "%.40s: unknown setting or wrong type", name);
            web_error(r, 400, why);
            return;
        }
        fields_add(r, name, text);
        free(text);
    }
    if (fields_check(r, why, sizeof(why)) < 0) {
        web_error(r, 400, why);
        return;
    }
    prefs_write(r, api_settings_answer);
}

void web_route_api_settings(struct web_req *r)
{
    r->step = evhttp_request_get_command(r->req) == EVHTTP_REQ_PUT ? 1 : 0;  /* 0: GET */
    web_session_load(r, api_settings_session);
}

static json_t *admin_domains(const struct web_req *r)
{
    const struct conf_strlist *l = r->view.local_domains;
    json_t *a = json_array();
    size_t i;

    for (i = 0; l && i < l->n; i++)
        if (web_is_admin_of(r, r->login, l->v[i]))
            json_array_append_new(a, json_string(l->v[i]));
    return a;
}

static bool is_any_admin(const struct web_req *r)
{
    const struct conf_strlist *l = r->view.local_domains;
    size_t i;

    for (i = 0; l && i < l->n; i++)
        if (web_is_admin_of(r, r->login, l->v[i]))
            return true;
    return false;
}

static void api_me_session(struct web_req *r)
{
    if (r->login == NULL) {
        web_error(r, 401, "not logged in");
        return;
    }
    web_send_json(r, 200, json_pack("{s:s, s:s, s:o, s:o}", "user", r->login, "csrf",
                                    r->csrf, "admin_of", admin_domains(r), "levels",
                                    levels_json(r)));
}

void web_route_api_me(struct web_req *r)
{
    web_session_load(r, api_me_session);
}

/* ---- users of a domain: the addresses with settings (SCAN pt:pol:{*@DOMAIN}) ---- */

static void users_scan(struct web_req *r);

static void on_scan(enum redis_result res, const struct redisReply *reply, void *arg)
{
    struct web_req *r = arg;
    const struct redisReply *keys;
    size_t i, plen = strlen(USER_PREFS_PREFIX) + 1;

    r->rreq = NULL;
    if (res != REDIS_RESULT_OK || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[1]->type != REDIS_REPLY_ARRAY) {
        web_error(r, 503, "the settings store (Redis) is not available; try again later");
        return;
    }
    keys = reply->element[1];
    for (i = 0; i < keys->elements && r->nusers < USERS_MAX; i++) {
        const char *k = keys->element[i]->str;
        size_t n = keys->element[i]->len;
        char *address;
        if (keys->element[i]->type != REDIS_REPLY_STRING || n <= plen || k[n - 1] != '}')
            continue;
        address = xstrndup(k + plen, n - plen - 1);
        if (!web_is_admin_of(r, r->login, domain_of(address))) {
            free(address);                /* a domain this login does not administer */
            continue;
        }
        r->users = xrealloc(r->users, (r->nusers + 1) * sizeof(*r->users));
        r->users[r->nusers++] = address;
    }
    snprintf(r->cursor, sizeof(r->cursor), "%s", reply->element[0]->str);
    if (strcmp(r->cursor, "0") == 0 || ++r->step >= SCAN_ROUNDS || r->nusers >= USERS_MAX) {
        r->cont(r);
        return;
    }
    users_scan(r);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void users_scan(struct web_req *r)
{
    const char *argv[] = { "SCAN", r->cursor, "MATCH", r->scan_pattern, "COUNT", "1000" };

    r->rreq = redis_command_argv(r->w->deps.redis, 6, argv, NULL, on_scan, r);
}

/* List the users with settings of domain (NULL: of every domain r->login administers),
 * then cont(r) with r->users. */
static void users_list(struct web_req *r, const char *domain,
                       void (*cont)(struct web_req *r))
{
    free(r->scan_pattern);
    r->scan_pattern = domain ? xasprintf(USER_PREFS_PREFIX "{*@%s}", domain)
                             : xstrdup(USER_PREFS_PREFIX "{*@*}");
    r->cont = cont;
    r->step = 0;
    snprintf(r->cursor, sizeof(r->cursor), "0");
    users_scan(r);
}

static void api_users_answer(struct web_req *r)
{
    json_t *a = json_array();
    size_t i;

    if (r->nusers > 1)
        qsort(r->users, r->nusers, sizeof(*r->users), cmp_str);
    for (i = 0; i < r->nusers; i++)
        json_array_append_new(a, json_string(r->users[i]));
    web_send_json(r, 200, json_pack("{s:s, s:o}", "domain", domain_of(r->target), "users", a));
}

static void api_users_session(struct web_req *r)
{
    char *domain;

    if (r->login == NULL) {
        web_error(r, 401, "not logged in");
        return;
    }
    domain = web_query_get(r, "domain");
    if (domain == NULL || domain[0] == '\0' || strpbrk(domain, "@*?[]\\{}% ") != NULL) {
        free(domain);
        web_error(r, 400, "expected ?domain=DOMAIN");
        return;
    }
    if (!web_is_admin_of(r, r->login, domain)) {
        free(domain);
        web_error(r, 403, "only an admin of the domain may list its users");
        return;
    }
    r->target = xasprintf("*@%s", domain);
    users_list(r, domain, api_users_answer);
    free(domain);
}

void web_route_api_users(struct web_req *r)
{
    web_session_load(r, api_users_session);
}

/* ---- the page ---------------------------------------------------------------------- */

static void add_option(struct wstr *s, const char *value, const char *label, bool selected)
{
    wstr_adds(s, "<option value=\"");
    wstr_add_html(s, value);
    wstr_adds(s, selected ? "\" selected>" : "\">");
    wstr_add_html(s, label);
    wstr_adds(s, "</option>");
}

static void action_options(struct wstr *s, const char *stored, int domain_value)
{
    char label[80];
    int i;

    snprintf(label, sizeof(label), "domain setting (%s)", content_action_names[domain_value]);
    add_option(s, "", label, stored == NULL);
    for (i = 0; content_action_names[i]; i++)
        add_option(s, content_action_names[i], content_action_names[i],
                   stored && strcmp(stored, content_action_names[i]) == 0);
}

/* A list field's JSON array as one entry per line. */
static void list_lines(struct wstr *s, const char *stored)
{
    json_t *a = stored ? json_loads(stored, JSON_DECODE_ANY, NULL) : NULL;
    size_t i;

    for (i = 0; json_is_array(a) && i < json_array_size(a); i++) {
        const char *e = json_string_value(json_array_get(a, i));
        if (e) {
            wstr_adds(s, e);
            wstr_adds(s, "\n");
        }
    }
    json_decref(a);
}

static void page_render(struct web_req *r)
{
    const struct domain_conf *d = domain_settings(r, r->target);
    const struct level_conf *l = r->view.levels->items;
    const char *level = field_get(r, "level"), *tag = field_get(r, "tag"),
               *spam = field_get(r, "spam"), *kill = field_get(r, "kill"),
               *grey = field_get(r, "greylisting");
    const char *dlevel = d && d->level ? d->level : LEVEL_DEFAULT;
    bool custom = tag || spam || kill;
    struct wstr lv = { 0 }, gv = { 0 }, vv = { 0 }, fv = { 0 }, wl = { 0 }, bl = { 0 },
                ex = { 0 }, users = { 0 }, notice = { 0 };
    const struct level_conf *eff = level_find(r->view.levels, level ? level : dlevel);
    char label[160], t[32], s[32], k[32];
    char *saved = web_query_get(r, "saved");
    size_t i;

    snprintf(label, sizeof(label), "domain setting (%s)", dlevel);
    add_option(&lv, "", label, level == NULL && !custom);
    for (i = 0; i < r->view.levels->n; i++) {
        snprintf(label, sizeof(label), "%s (tag %g, spam %g, kill %g)", l[i].name, l[i].tag,
                 l[i].spam, l[i].kill);
        add_option(&lv, l[i].name, label, !custom && level && strcmp(level, l[i].name) == 0);
    }
    add_option(&lv, "custom", "custom (my own scores below)", custom);
    snprintf(t, sizeof(t), "%g", tag ? strtod(tag, NULL) : eff ? eff->tag : 5);
    snprintf(s, sizeof(s), "%g", spam ? strtod(spam, NULL) : eff ? eff->spam : 8);
    snprintf(k, sizeof(k), "%g", kill ? strtod(kill, NULL) : eff ? eff->kill : 12);
    add_option(&gv, "", d && d->greylisting ? "domain setting (on)" : "domain setting (off)",
               grey == NULL);
    add_option(&gv, "on", "on", grey && strcmp(grey, "on") == 0);
    add_option(&gv, "off", "off", grey && strcmp(grey, "off") == 0);
    action_options(&vv, field_get(r, "virus_action"), d ? d->virus_action : 0);
    action_options(&fv, field_get(r, "file_action"), d ? d->file_action : 0);
    list_lines(&wl, field_get(r, "whitelist"));
    list_lines(&bl, field_get(r, "blacklist"));
    list_lines(&ex, field_get(r, "exclusions"));
    if (saved && strcmp(saved, "1") == 0)
        wstr_adds(&notice, "<p class=\"notice\" role=\"status\">Saved.</p>");
    free(saved);
    if (r->scan_pattern != NULL) {
        if (r->nusers > 1)
            qsort(r->users, r->nusers, sizeof(*r->users), cmp_str);
        wstr_adds(&users, "<section class=\"users\"><h2>Users of your domains</h2>"
                          "<p>Whole quarantine of ");
        for (i = 0; r->view.local_domains && i < r->view.local_domains->n; i++)
            if (web_is_admin_of(r, r->login, r->view.local_domains->v[i])) {
                char *q = evhttp_encode_uri(r->view.local_domains->v[i]);
                wstr_adds(&users, "<a class=\"domain-quarantine\" href=\"/ui/?domain=");
                wstr_add_html(&users, q);
                wstr_adds(&users, "#quarantine\">");
                wstr_add_html(&users, r->view.local_domains->v[i]);
                wstr_adds(&users, "</a> ");
                free(q);
            }
        wstr_adds(&users, "</p><form method=\"get\" action=\"/ui/\"><label>Address "
                          "<input name=\"user\" type=\"email\" required></label> "
                          "<button type=\"submit\">Open</button></form><ul>");
        for (i = 0; i < r->nusers; i++) {
            char *q = evhttp_encode_uri(r->users[i]);
            wstr_adds(&users, "<li><a href=\"/ui/?user=");
            wstr_add_html(&users, q);
            wstr_adds(&users, "\">");
            wstr_add_html(&users, r->users[i]);
            wstr_adds(&users, "</a></li>");
            free(q);
        }
        wstr_adds(&users, "</ul></section>");
    }
    {
        const struct web_var vars[] = {
            { "user", r->target }, { "csrf", r->csrf }, { "notice", notice.p },
            { "level_options", lv.p }, { "tag", t }, { "spam", s }, { "kill", k },
            { "grey_options", gv.p }, { "virus_options", vv.p }, { "file_options", fv.p },
            { "whitelist", wl.p }, { "blacklist", bl.p }, { "exclusions", ex.p },
            { "users", users.p }, { "quarantine", r->scratch.p },
        };
        web_page(r, 200, "Protection settings", "settings.html", vars,
                 sizeof(vars) / sizeof(vars[0]));
    }
    free(lv.p); free(gv.p); free(vv.p); free(fv.p); free(wl.p); free(bl.p); free(ex.p);
    free(users.p); free(notice.p);
}

/* A domain admin's page lists the domain's users first, then reads the settings. */
static void page_quar(struct web_req *r)
{
    web_quar_section(r, page_render);
}

static void page_after_users(struct web_req *r)
{
    prefs_load(r, page_quar);
}

static void home_session(struct web_req *r)
{
    char *user, *domain;
    bool ok;

    if (r->login == NULL) {
        web_login_page(r, NULL);
        return;
    }
    domain = web_query_get(r, "domain");
    if (domain != NULL) {
        if (!web_is_admin_of(r, r->login, domain)) {
            free(domain);
            web_error(r, 403, "only an admin of the domain may see its whole quarantine");
            return;
        }
        r->quar_domain = domain;
    }
    user = web_query_get(r, "user");
    ok = web_pick_target(r, user);
    free(user);
    if (!ok)
        return;
    if (is_any_admin(r)) {
        users_list(r, NULL, page_after_users);
        return;
    }
    prefs_load(r, page_quar);
}

void web_route_home(struct web_req *r)
{
    web_session_load(r, home_session);
}

/* ---- POST /ui/settings: the form ---------------------------------------------------- */

static void form_saved(struct web_req *r)
{
    char *q = evhttp_encode_uri(r->target), *loc = xasprintf("/ui/?user=%s&saved=1", q);

    web_redirect(r, loc);
    free(q);
    free(loc);
}

/* A textarea (one entry per line, blank lines skipped) as a JSON array text; NULL when
 * it holds no entry (unset). */
static char *form_list(const char *text)
{
    json_t *a = json_array();
    const char *p = text;
    char *out = NULL;

    while (p && *p) {
        const char *e = p + strcspn(p, "\r\n");
        const char *b = p, *z = e;
        while (b < z && (*b == ' ' || *b == '\t'))
            b++;
        while (z > b && (z[-1] == ' ' || z[-1] == '\t'))
            z--;
        if (z > b)
            json_array_append_new(a, json_stringn(b, (size_t)(z - b)));
        p = *e ? e + 1 : e;
    }
    if (json_array_size(a) > 0)
        out = json_dumps(a, JSON_COMPACT);
    json_decref(a);
    return out;
}

static void form_session(struct web_req *r)
{
    static const char *const simple[] = { "greylisting", "virus_action", "file_action" };
    static const char *const lists[] = { "whitelist", "blacklist", "exclusions" };
    char *level, why[WHY_MAX + 64];
    size_t i;

    if (!web_form_start(r))
        return;
    level = web_body_get(r, "level");
    if (level == NULL || level[0] == '\0') {
        fields_add(r, "level", NULL);
    } else if (strcmp(level, "custom") == 0) {
        static const char *const scores[] = { "tag", "spam", "kill" };
        fields_add(r, "level", NULL);
        for (i = 0; i < 3; i++) {
            char *v = web_body_get(r, scores[i]);
            if (v == NULL || v[0] == '\0') {
                free(v);
                free(level);
                web_error(r, 400, "a custom level needs its tag, spam and kill scores");
                return;
            }
            fields_add(r, scores[i], v);
            free(v);
        }
    } else {
        fields_add(r, "level", level);
    }
    if (level == NULL || strcmp(level, "custom") != 0) {
        fields_add(r, "tag", NULL);
        fields_add(r, "spam", NULL);
        fields_add(r, "kill", NULL);
    }
    free(level);
    for (i = 0; i < 3; i++) {
        char *v = web_body_get(r, simple[i]);
        fields_add(r, simple[i], v && v[0] ? v : NULL);
        free(v);
    }
    for (i = 0; i < 3; i++) {
        char *v = web_body_get(r, lists[i]), *j = form_list(v);
        fields_add(r, lists[i], j);
        free(v);
        free(j);
    }
    if (fields_check(r, why, sizeof(why)) < 0) {
        web_error(r, 400, why);
        return;
    }
    prefs_write(r, form_saved);
}

void web_route_settings_post(struct web_req *r)
{
    web_session_load(r, form_session);
}
