/*
 * web_session.c - login sessions of the web page in Redis (see web.h).
 *
 * pt:web:sess:{ID} is a hash { login, csrf } with a TTL of web.session_ttl, renewed on
 * each request that uses it; ID is 32 random bytes in hex and is the cookie's value.
 * Any node serves any session. The cookie: HttpOnly; Secure; SameSite=Strict, Path=/ui/.
 */
#include "admin/web_int.h"

#include "lib/redis.h"
#include "lib/xalloc.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESS_PREFIX "pt:web:sess:"

static void sess_key(char *out, size_t size, const char *sid)
{
    snprintf(out, size, SESS_PREFIX "{%s}", sid);
}

static void on_loaded(enum redis_result res, const struct redisReply *reply, void *arg)
{
    struct web_req *r = arg;
    size_t i;

    r->rreq = NULL;
    if (res != REDIS_RESULT_OK || reply->type != REDIS_REPLY_ARRAY) {
        web_error(r, 503, "the session store (Redis) is not available; try again later");
        return;
    }
    for (i = 0; i + 1 < reply->elements; i += 2) {
        const struct redisReply *k = reply->element[i], *v = reply->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(k->str, "login") == 0) {
            free(r->login);
            r->login = xstrdup(v->str);
        } else if (strcmp(k->str, "csrf") == 0 && web_is_hex_token(v->str, WEB_CSRF_HEX)) {
            memcpy(r->csrf, v->str, WEB_CSRF_HEX + 1);
        }
    }
    if (r->login != NULL && r->csrf[0] == '\0') {      /* not one of ours */
        free(r->login);
        r->login = NULL;
    }
    if (r->login != NULL) {
        char key[128], ttl[32];
        const char *argv[3] = { "PEXPIRE", key, ttl };
        sess_key(key, sizeof(key), r->sid);
        snprintf(ttl, sizeof(ttl), "%lld", r->w->session_ttl_ms);
        redis_command_argv(r->w->deps.redis, 3, argv, NULL, redis_reply_ignore, NULL);
    }
    r->cont(r);
}

void web_session_load(struct web_req *r, void (*cont)(struct web_req *r))
{
    const char *cookie = web_header(r, "Cookie");
    char key[128];
    const char *argv[2] = { "HGETALL", key };

    r->cont = cont;
    if (cookie == NULL || web_cookie_get(cookie, WEB_COOKIE, r->sid, sizeof(r->sid)) < 0 ||
        !web_is_hex_token(r->sid, WEB_SID_HEX)) {
        r->sid[0] = '\0';
        cont(r);
        return;
    }
    sess_key(key, sizeof(key), r->sid);
    r->rreq = redis_command_argv(r->w->deps.redis, 2, argv, NULL, on_loaded, r);
}

static void on_stored(enum redis_result res, const struct redisReply *reply, void *arg)
{
    struct web_req *r = arg;
    char cookie[256];

    r->rreq = NULL;
    if (res != REDIS_RESULT_OK || reply->type == REDIS_REPLY_ERROR) {
        web_error(r, 503, "the session store (Redis) is not available; try again later");
        return;
    }
    snprintf(cookie, sizeof(cookie), WEB_COOKIE "=%s; Path=/ui/; HttpOnly; Secure; "
             "SameSite=Strict", r->sid);
    web_add_header(r, "Set-Cookie", cookie);
    r->cont(r);
}

void web_session_create(struct web_req *r, const char *login, void (*cont)(struct web_req *r))
{
    char key[128], ttl[32];
    const char *argv[] = { "EVAL",
        "redis.call('HSET', KEYS[1], 'login', ARGV[1], 'csrf', ARGV[2]) "
        "return redis.call('PEXPIRE', KEYS[1], ARGV[3])",
        "1", key, login, r->csrf, ttl };

    r->cont = cont;
    web_random_hex(r->sid, WEB_SID_HEX);
    web_random_hex(r->csrf, WEB_CSRF_HEX);
    free(r->login);
    r->login = xstrdup(login);
    sess_key(key, sizeof(key), r->sid);
    snprintf(ttl, sizeof(ttl), "%lld", r->w->session_ttl_ms);
    r->rreq = redis_command_argv(r->w->deps.redis, 7, argv, NULL, on_stored, r);
}

static void on_deleted(enum redis_result res, const struct redisReply *reply, void *arg)
{
    struct web_req *r = arg;

    (void)res;
    (void)reply;
    r->rreq = NULL;
    web_add_header(r, "Set-Cookie", WEB_COOKIE "=; Path=/ui/; HttpOnly; Secure; "
                   "SameSite=Strict; Max-Age=0");
    free(r->login);
    r->login = NULL;
    r->cont(r);
}

void web_session_destroy(struct web_req *r, void (*cont)(struct web_req *r))
{
    char key[128];
    const char *argv[2] = { "DEL", key };

    r->cont = cont;
    sess_key(key, sizeof(key), r->sid);
    r->rreq = redis_command_argv(r->w->deps.redis, 2, argv, NULL, on_deleted, r);
}

bool web_csrf_ok(const struct web_req *r)
{
    const char *h = web_header(r, "X-CSRF-Token");
    char *field;
    bool ok;

    if (r->login == NULL || r->csrf[0] == '\0')
        return false;
    if (r->api)
        return h != NULL && web_token_equal(h, r->csrf);
    field = web_body_get(r, "csrf");
    ok = field != NULL && web_token_equal(field, r->csrf);
    free(field);
    return ok;
}
