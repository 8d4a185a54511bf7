/*
 * rlcheck.c - test driver for lib/redis, policy/ratelimit and auth/authfail.
 *
 * Builds a config from flags, connects to Redis, then runs commands read from stdin one at
 * a time (the next command starts when the previous one has answered) and prints one line
 * per command, so Python tests can stop, freeze and restart Redis between commands:
 *   wait up|down           -> "state up|down" once the client is in that state
 *   take USER K            -> "take granted=G requested=K remaining=R limit=N window=W
 *                              retry=S first=F limited=none|rcpt|msg error=E ms=T accept=A
 *                              | REPLY"
 *   mail USER              -> "mail ..." (same fields, plus msg_remaining=, msg_limit=)
 *   cancel USER K          -> starts a take, cancels it at once: "cancelled"
 *   afbegin IP             -> "afbegin refused=R by=none|ip|login_ip retry=S reserved=V
 *                              delay=D ip=N/L/C login_ip=N/L/C login=N/L/C error=E ms=T"
 *                              (N/L/C: count, seconds left, crossed 0|1)
 *   afend IP LOGIN|- ok|fail [unreserved]
 *                          -> "afend ..." (same fields); "-": the exchange named no login
 *   afrelease IP           -> "afrelease" at once (its script runs before the next one)
 *   reset USER             -> "reset USER: N keys deleted" (blocking admin call)
 *   show USER [json]       -> the admin output of "posternctl ratelimit show"
 * E is none|timeout|down|script; T is the time the answer took in ms. REPLY is the SMTP
 * reply the session would send for the refused part (or the tempfail reply on error); A is
 * how many RCPTs the session accepts (rl_accept_count: fail_mode applied).
 * Flags: --socket PATH | --address IP:PORT, --timeout MS, --reconnect-min MS,
 * --reconnect-max MS, --class NAME=N/WINDOW_MS[/MSGS_PER_HOUR[/MAX_RCPT[/BURST]]] (repeat),
 * --user LOGIN=CLASS (repeat), --default-class NAME, --fail-mode tempfail|open,
 * --af-window MS, --af-ip-threshold N, --af-login-ip-threshold N, --af-login-threshold N,
 * --af-delay MS, --af-delay-max MS, --af-fail-mode open|closed; --print-script prints the
 * rate-limit Lua source and exits.
 */
#include "auth/authfail.h"
#include "lib/log.h"
#include "lib/redis.h"
#include "lib/xalloc.h"
#include "policy/ratelimit.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLASSES 8
#define MAX_USERS 16
#define MAX_WORDS 5
#define MS_PER_S 1000
#define NS_PER_MS 1000000
#define DEF_TIMEOUT_MS 250          /* the defaults of the config tables */
#define DEF_RECONNECT_MIN_MS 100
#define DEF_RECONNECT_MAX_MS 5000
#define DEF_AF_WINDOW_MS 900000
#define DEF_AF_IP_THRESHOLD 20
#define DEF_AF_LOGIN_IP_THRESHOLD 5
#define DEF_AF_LOGIN_THRESHOLD 10
#define DEF_AF_DELAY_MS 1000
#define DEF_AF_DELAY_MAX_MS 15000
#define DEF_AF_IPV6_PREFIX 64
#define USER_MAX 256
#define CLASS_NAME_MAX 64
#define CLASS_FIELDS 5

struct driver {
    struct event_base *base;
    struct redis_conf rconf;
    struct rl_conf rlconf;
    struct authfail_conf afconf;
    struct rl_class_conf classes[MAX_CLASSES];
    struct rl_user_conf users[MAX_USERS];
    struct redis *redis;
    struct rl *rl;
    struct authfail *af;
    struct evbuffer *in;
    struct event *stdin_ev;
    int busy;                 /* a command is waiting for its answer */
    int eof;
    int waiting_state;        /* -1, or the redis_state a "wait" waits for */
    long long started_ms;
    char user[USER_MAX];
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * MS_PER_S + ts.tv_nsec / NS_PER_MS;
}

static void run_next(struct driver *d);

static void command_done(struct driver *d)
{
    fflush(stdout);
    d->busy = 0;
    run_next(d);
}

static const char *rl_error_name(enum rl_error e)
{
    static const char *const names[] = { "none", "timeout", "down", "script" };
    return names[e];
}

static void print_rl(struct driver *d, const char *what, const struct rl_result *res)
{
    static const char *const limited[] = { "none", "rcpt", "msg" };
    struct rl_reply reply = { 0, "", "" };

    printf("%s granted=%u requested=%u remaining=%lld limit=%lld window=%lld retry=%lld "
           "first=%d limited=%s msg_remaining=%lld msg_limit=%lld error=%s ms=%lld",
           what, res->granted, res->requested, res->rcpt.remaining, res->rcpt.limit,
           res->rcpt.window_ms, res->retry_s, res->first_refusal, limited[res->limited_by],
           res->msg.remaining, res->msg.limit, rl_error_name(res->error),
           now_ms() - d->started_ms);
    printf(" accept=%u", rl_accept_count(&d->rlconf, res));
    if (res->error != RL_OK && d->rlconf.fail_mode == RL_FAIL_TEMPFAIL)
        rl_reply_tempfail(&reply);
    else if (res->error == RL_OK && res->granted < res->requested)
        rl_reply_refused(&reply, res, d->user,
                         strcmp(what, "mail") == 0 ? RL_STAGE_MAIL : RL_STAGE_RCPT);
    if (reply.code)
        printf(" | %d %s %s", reply.code, reply.ecode, reply.text);
    printf("\n");
}

/* Rate-limit answers. Loop thread. */
static void take_done(const struct rl_result *res, void *arg)
{
    struct driver *d = arg;
    print_rl(d, "take", res);
    command_done(d);
}

static void mail_done(const struct rl_result *res, void *arg)
{
    struct driver *d = arg;
    print_rl(d, "mail", res);
    command_done(d);
}

static void print_af(struct driver *d, const char *what, const struct authfail_result *res)
{
    static const char *const scope[] = { "none", "ip", "login_ip", "login" };
    static const char *const err[] = { "none", "timeout", "down", "script" };
    const struct authfail_count *c[] = { &res->ip, &res->login_ip, &res->login };
    static const char *const names[] = { "ip", "login_ip", "login" };
    size_t i;

    printf("%s refused=%d by=%s retry=%lld reserved=%d delay=%lld", what, res->refused,
           scope[res->blocked_by], res->retry_s, res->reserved, res->delay_ms);
    for (i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        printf(" %s=%lld/%lld/%d", names[i], c[i]->count, c[i]->left_s, c[i]->crossed);
    printf(" error=%s ms=%lld\n", err[res->error], now_ms() - d->started_ms);
}

/* Failed-login answers. Loop thread. */
static void afbegin_done(const struct authfail_result *res, void *arg)
{
    print_af(arg, "afbegin", res);
    command_done(arg);
}

static void afend_done(const struct authfail_result *res, void *arg)
{
    print_af(arg, "afend", res);
    command_done(arg);
}

/* Redis client state. Loop thread. */
static void state_changed(enum redis_state state, const char *why, void *arg)
{
    struct driver *d = arg;

    (void)why;
    if (d->waiting_state == (int)state) {
        d->waiting_state = -1;
        printf("state %s\n", state == REDIS_STATE_UP ? "up" : "down");
        command_done(d);
    }
}

static void admin(struct driver *d, const char *cmd, const char *user, int json)
{
    redisContext *c = redis_connect_blocking(&d->rconf);

    if (c != NULL) {
        if (strcmp(cmd, "reset") == 0)
            rl_admin_reset(c, &d->rlconf, user, stdout);
        else
            rl_admin_show(c, &d->rlconf, user, json, stdout);
        redisFree(c);
    } else {
        printf("%s error\n", cmd);
    }
}

/* Start one command; returns 0 when it completed synchronously. */
static int start(struct driver *d, int n, char **w)
{
    d->started_ms = now_ms();
    if (n >= 2 && strcmp(w[0], "wait") == 0) {
        int want = strcmp(w[1], "up") == 0 ? REDIS_STATE_UP : REDIS_STATE_DOWN;
        if (redis_state(d->redis) == (enum redis_state)want) {
            printf("state %s\n", w[1]);
            return 0;
        }
        d->waiting_state = want;
        return 1;
    }
    if (n >= 2)
        snprintf(d->user, sizeof(d->user), "%s", w[1]);
    if (n == 3 && strcmp(w[0], "take") == 0) {
        rl_take_rcpt(d->rl, w[1], (unsigned)atoi(w[2]), take_done, d);
        return 1;
    }
    if (n == 2 && strcmp(w[0], "mail") == 0) {
        rl_check_mail(d->rl, w[1], mail_done, d);
        return 1;
    }
    if (n == 3 && strcmp(w[0], "cancel") == 0) {
        rl_cancel(rl_take_rcpt(d->rl, w[1], (unsigned)atoi(w[2]), take_done, d));
        printf("cancelled\n");
        return 0;
    }
    if (n == 2 && strcmp(w[0], "afbegin") == 0) {
        authfail_begin(d->af, w[1], afbegin_done, d);
        return 1;
    }
    if (n >= 4 && strcmp(w[0], "afend") == 0) {
        authfail_end(d->af, w[1], strcmp(w[2], "-") == 0 ? NULL : w[2],
                     strcmp(w[3], "ok") == 0, n < 5 || strcmp(w[4], "unreserved") != 0,
                     afend_done, d);
        return 1;
    }
    if (n == 2 && strcmp(w[0], "afrelease") == 0) {
        authfail_release(d->af, w[1]);
        printf("afrelease\n");
        return 0;
    }
    if (n >= 2 && (strcmp(w[0], "reset") == 0 || strcmp(w[0], "show") == 0)) {
        admin(d, w[0], w[1], n > 2 && strcmp(w[2], "json") == 0);
        return 0;
    }
    printf("error unknown command\n");
    return 0;
}

static void run_next(struct driver *d)
{
    char *line, *w[MAX_WORDS], *save = NULL;
    size_t len;
    int n;

    while (!d->busy && (line = evbuffer_readln(d->in, &len, EVBUFFER_EOL_LF)) != NULL) {
        for (n = 0; n < MAX_WORDS && (w[n] = strtok_r(n ? NULL : line, " \t", &save)); n++)
            ;
        if (n > 0) {
            d->busy = start(d, n, w);
            fflush(stdout);
        }
        free(line);
    }
    if (!d->busy && d->eof)
        event_base_loopexit(d->base, NULL);
}

/* stdin readable. Loop thread. */
static void stdin_cb(evutil_socket_t fd, short what, void *arg)
{
    struct driver *d = arg;

    (void)what;
    if (evbuffer_read(d->in, fd, -1) <= 0) {
        d->eof = 1;
        event_del(d->stdin_ev);
    }
    run_next(d);
}

static void parse_class(struct driver *d, const char *spec)
{
    struct rl_class_conf *c = &d->classes[d->rlconf.classes.n];
    char name[CLASS_NAME_MAX];
    long long v[CLASS_FIELDS] = { 0 };
    int got = sscanf(spec, "%63[^=]=%lld/%lld/%lld/%lld/%lld", name,
                     &v[0], &v[1], &v[2], &v[3], &v[4]);

    if (got < 3 || d->rlconf.classes.n >= MAX_CLASSES) {
        fprintf(stderr, "rlcheck: bad --class %s\n", spec);
        exit(2);
    }
    c->name = xstrdup(name);
    c->recipients = v[0];
    c->window_ms = v[1];
    c->messages_per_hour = v[2];
    c->max_recipients_per_message = v[3];
    c->burst = v[4];
    d->rlconf.classes.n++;
}

static void parse_user(struct driver *d, const char *spec)
{
    const char *eq = strchr(spec, '=');
    struct rl_user_conf *u = &d->users[d->rlconf.users.n];

    if (eq == NULL || d->rlconf.users.n >= MAX_USERS) {
        fprintf(stderr, "rlcheck: bad --user %s\n", spec);
        exit(2);
    }
    u->name = xstrndup(spec, (size_t)(eq - spec));
    u->class_name = xstrdup(eq + 1);
    d->rlconf.users.n++;
}

static void parse_args(struct driver *d, int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--print-script") == 0) {
            fputs(rl_script_source, stdout);
            exit(0);
        }
        if (v == NULL) {
            fprintf(stderr, "rlcheck: %s needs a value\n", a);
            exit(2);
        }
        i++;
        if (strcmp(a, "--socket") == 0)
            d->rconf.socket = xstrdup(v);
        else if (strcmp(a, "--address") == 0)
            d->rconf.address = xstrdup(v);
        else if (strcmp(a, "--timeout") == 0)
            d->rconf.timeout_ms = atoll(v);
        else if (strcmp(a, "--reconnect-min") == 0)
            d->rconf.reconnect_min_ms = atoll(v);
        else if (strcmp(a, "--reconnect-max") == 0)
            d->rconf.reconnect_max_ms = atoll(v);
        else if (strcmp(a, "--class") == 0)
            parse_class(d, v);
        else if (strcmp(a, "--user") == 0)
            parse_user(d, v);
        else if (strcmp(a, "--default-class") == 0)
            d->rlconf.default_class = xstrdup(v);
        else if (strcmp(a, "--fail-mode") == 0)
            d->rlconf.fail_mode = strcmp(v, "open") == 0 ? RL_FAIL_OPEN : RL_FAIL_TEMPFAIL;
        else if (strcmp(a, "--af-window") == 0)
            d->afconf.window_ms = atoll(v);
        else if (strcmp(a, "--af-ip-threshold") == 0)
            d->afconf.ip_threshold = atoll(v);
        else if (strcmp(a, "--af-login-ip-threshold") == 0)
            d->afconf.login_ip_threshold = atoll(v);
        else if (strcmp(a, "--af-login-threshold") == 0)
            d->afconf.login_threshold = atoll(v);
        else if (strcmp(a, "--af-delay") == 0)
            d->afconf.login_delay_ms = atoll(v);
        else if (strcmp(a, "--af-delay-max") == 0)
            d->afconf.login_delay_max_ms = atoll(v);
        else if (strcmp(a, "--af-fail-mode") == 0)
            d->afconf.fail_mode = strcmp(v, "closed") == 0 ? AUTHFAIL_FAIL_CLOSED
                                                           : AUTHFAIL_FAIL_OPEN;
        else {
            fprintf(stderr, "rlcheck: unknown flag %s\n", a);
            exit(2);
        }
    }
}

static void free_config(struct driver *d)
{
    size_t i;

    for (i = 0; i < d->rlconf.classes.n; i++)
        free(d->classes[i].name);
    for (i = 0; i < d->rlconf.users.n; i++) {
        free(d->users[i].name);
        free(d->users[i].class_name);
    }
    free(d->rlconf.default_class);
    free(d->rconf.socket);
    free(d->rconf.address);
}

int main(int argc, char **argv)
{
    static struct driver d = {
        .rconf = { .timeout_ms = DEF_TIMEOUT_MS, .reconnect_min_ms = DEF_RECONNECT_MIN_MS,
                   .reconnect_max_ms = DEF_RECONNECT_MAX_MS },
        .rlconf = { .enabled = 1 },
        .afconf = { .enabled = 1, .window_ms = DEF_AF_WINDOW_MS,
                    .ip_threshold = DEF_AF_IP_THRESHOLD,
                    .login_ip_threshold = DEF_AF_LOGIN_IP_THRESHOLD,
                    .login_threshold = DEF_AF_LOGIN_THRESHOLD,
                    .login_delay_ms = DEF_AF_DELAY_MS, .login_delay_max_ms = DEF_AF_DELAY_MAX_MS,
                    .ipv6_prefix = DEF_AF_IPV6_PREFIX },
        .waiting_state = -1,
    };

    d.rlconf.classes.items = d.classes;
    d.rlconf.users.items = d.users;
    parse_args(&d, argc, argv);
    if (d.rlconf.default_class == NULL)
        d.rlconf.default_class = xstrdup(RL_DEFAULT_CLASS);
    log_init("rlcheck", LOG_TO_STDERR, 0);
    d.base = event_base_new();
    d.redis = redis_new(d.base, &d.rconf, state_changed, &d);
    d.rl = rl_new(&d.rlconf, d.redis);
    d.af = authfail_new(&d.afconf, d.redis);
    d.in = evbuffer_new();
    d.stdin_ev = event_new(d.base, STDIN_FILENO, EV_READ | EV_PERSIST, stdin_cb, &d);
    event_add(d.stdin_ev, NULL);
    event_base_dispatch(d.base);
    event_free(d.stdin_ev);
    evbuffer_free(d.in);
    authfail_free(d.af);
    rl_free(d.rl);
    redis_free(d.redis);
    event_base_free(d.base);
    free_config(&d);
    return 0;
}
