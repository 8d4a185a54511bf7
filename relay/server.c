/*
 * server.c - start, reload and graceful stop of the daemon (see server.h).
 */
#include "relay/server.h"
#include "relay/server_health.h"
#include "relay/server_web.h"

#include "policy/account_breaker.h"
#include "policy/account_cache.h"

#include "auth/sasl_server.h"
#include "content/scan_client.h"
#include "lib/dns.h"
#include "lib/log.h"
#include "lib/redis.h"
#include "policy/levels.h"
#include "relay/quar/quar_runner.h"
#include "lib/sd_notify.h"
#include "lib/workpool.h"
#include "lib/xalloc.h"
#include "policy/account_breaker.h"
#include "policy/check_api.h"
#include "policy/check_registry.h"
#include "policy/profile.h"
#include "policy/outage.h"
#include "policy/user_store.h"
#include "relay/admin.h"
#include "relay/deliver/backup_probe.h"
#include "relay/deliver/callout.h"
#include "relay/smtpd/listener.h"
#include "relay/queue/queue.h"
#include "relay/relay_conf.h"
#include "relay/smtpd/smtp_session.h"
#include "relay/queue/queue_watch.h"
#include "relay/spool/spool.h"
#include "webhooks/webhooks.h"

#include <errno.h>
#include <jansson.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define DRAIN_CHECK_MS 50

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct server *srv = arg;
    (void)what;
    if (sig == SIGHUP)
        server_reload(srv);
    else
        server_shutdown(srv);
}

struct strike {
    struct server *srv;
    char *login;
    char reason[16];
};

/* The breaker answered a strike: one account.suspended event when it suspended. */
static void on_strike(enum redis_result res, const struct redisReply *reply, void *arg)
{
    struct strike *st = arg;

    if (account_reply(res, reply) == 1) {
        log_warn("master", "login %s suspended: %lld refusals as %s within %llds",
                 st->login, st->srv->cf->c.account.strikes, st->reason,
                 st->srv->cf->c.account.window_ms / 1000);
        server_event(st->srv, "account.suspended",
                     json_pack("{s:s, s:s, s:I, s:I, s:I}", "login", st->login, "reason",
                               st->reason, "strikes",
                               (json_int_t)st->srv->cf->c.account.strikes, "window_s",
                               (json_int_t)(st->srv->cf->c.account.window_ms / 1000),
                               "queued_held",
                               (json_int_t)queue_login_queued(st->srv->queue, st->login)));
    }
    free(st->login);
    free(st);
}

/* An authenticated user's mail refused as spam or virus is a strike against the login
 * (policy/account_breaker.h): enough of them suspend it. */
static void count_strike(struct server *srv, json_t *data)
{
    const char *login = json_string_value(json_object_get(data, "login"));
    const char *reason = json_string_value(json_object_get(data, "reason"));
    json_int_t code = json_integer_value(json_object_get(data, "code"));
    struct strike *st;

    if (login == NULL || reason == NULL || code < 500 || srv->redis == NULL ||
        srv->account_script == NULL || srv->cf->c.account.strikes == 0 ||
        (strcmp(reason, "spam") != 0 && strcmp(reason, "virus") != 0))
        return;
    st = xcalloc(1, sizeof(*st));
    st->srv = srv;
    st->login = xstrdup(login);
    snprintf(st->reason, sizeof(st->reason), "%s", reason);
    account_strike(srv->redis, srv->account_script, login, st->reason,
                   srv->cf->c.account.strikes, srv->cf->c.account.window_ms, on_strike, st);
}

void server_event(void *arg, const char *type, struct json_t *data)
{
    struct server *srv = arg;
    char *text = data ? json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    log_info("master", "event %s %s", type, text ? text : "{}");
    free(text);
    if (data == NULL)
        data = json_object();
    if (strcmp(type, "message.rejected") == 0)
        count_strike(srv, data);
    webhook_emit(srv->webhooks, type, data); /* takes the reference; NULL wh is fine */
}

static long long monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec;
}

static void on_redis_state(enum redis_state state, const char *why, void *arg)
{
    struct server *srv = arg;
    const char *where = redis_where(srv->redis);
    if (state == REDIS_STATE_DOWN) {
        srv->redis_down_since = monotonic_s();
        server_event(srv, "redis.unavailable",
                     json_pack("{s:s, s:s*}", "address", where, "error", why));
    } else if (srv->redis_down_since >= 0) {
        server_event(srv, "redis.recovered",
                     json_pack("{s:s, s:I}", "address", where, "down_s",
                               (json_int_t)(monotonic_s() - srv->redis_down_since)));
        srv->redis_down_since = -1;
    }
}

/* The backup-MX probe saw a primary come back: deliver its domain's queue now. */
static void hook_probe_flush(void *arg, const char *domain)
{
    struct server *srv = arg;

    if (srv->queue != NULL)
        queue_flush_domain(srv->queue, domain, false);
}

/* ---- the hooks smtpd/ is given (ETRN: relay/smtpd/smtpd.h) ---- */

static int hook_etrn_flush(void *arg, const char *domain, bool subdomains, unsigned *count)
{
    struct server *srv = arg;

    return srv->queue ? queue_etrn(srv->queue, domain, subdomains, count) : -1;
}

struct etrn_check {
    struct backup_check *bc;
    smtpd_etrn_check_fn cb;
    void *arg;
};

static void hook_etrn_checked(void *arg, enum backup_check_result r)
{
    struct etrn_check *c = arg;
    smtpd_etrn_check_fn cb = c->cb;
    void *cb_arg = c->arg;

    free(c);
    cb(cb_arg, r == BACKUP_CHECK_PRIMARY ? ETRN_CHECK_PRIMARY
               : r == BACKUP_CHECK_OTHER ? ETRN_CHECK_OTHER : ETRN_CHECK_UNKNOWN);
}

static void *hook_etrn_check(void *arg, const char *domain, const char *client_ip,
                             smtpd_etrn_check_fn cb, void *cb_arg)
{
    struct server *srv = arg;
    struct etrn_check *c;

    if (srv->probe == NULL)
        return NULL;
    c = xcalloc(1, sizeof(*c));
    c->cb = cb;
    c->arg = cb_arg;
    c->bc = backup_probe_check(srv->probe, domain, client_ip, hook_etrn_checked, c);
    return c;
}

static void hook_etrn_check_cancel(void *arg, void *handle)
{
    struct etrn_check *c = handle;

    (void)arg;
    if (c != NULL) {
        backup_check_cancel(c->bc);
        free(c);
    }
}

/* The virus scanner became usable or not: the outage tracker raises
 * policy.check_unavailable once per outage, and logs the recovery. */
static void on_scanner(bool available, const char *why, void *arg)
{
    struct server *srv = arg;

    if (available)
        outage_up(srv->outages, "virus");
    else
        outage_down(srv->outages, "virus", "virus", why);
}

/* The callout service's view of the daemon: the current config, the primaries' state. */
static struct config *callout_config(void *arg)
{
    return ((struct server *)arg)->cf;
}

static bool callout_primary_down(void *arg, const char *domain)
{
    return backup_probe_down(((struct server *)arg)->probe, domain);
}

/* The queued backlog of a domain, for the backup-domain cap (before the queue runner
 * exists: nothing). */
static void server_backlog(void *arg, const char *domain, unsigned long long *msgs,
                           unsigned long long *bytes)
{
    struct server *srv = arg;

    *msgs = *bytes = 0;
    if (srv->queue != NULL)
        queue_backlog(srv->queue, domain, msgs, bytes);
}

/* The config's runtime objects over the daemon's services (config_activate). */
static int server_activate(struct server *srv, struct config *cf)
{
    struct engine_env env = {
        .base = srv->base, .dns = srv->dns, .redis = srv->redis, .check_pool = srv->checkwp,
        .outages = srv->outages, .event = server_event, .event_arg = srv,
        .scanner = srv->scanner, .accounts = srv->accounts,
        .callout = srv->callout ? callout_service(srv->callout) : NULL,
        .backlog = server_backlog, .backlog_arg = srv,
    };

    if (srv->accounts != NULL)
        account_cache_set_max_age(srv->accounts, cf->c.account.cache_ms);

    return config_activate(cf, srv->redis, &env, srv->users);
}

/* Raise the soft limit on open files to the hard one, and say so when even that is below
 * what the configuration may use: a socket and a spool file per session, a socket and a
 * queue file per delivery, the spool's spare files, and a margin for the rest. */
static void server_raise_fd_limit(const struct config *cf)
{
    struct rlimit rl;
    long long need = 2 * cf->c.limits.connections + 2 * cf->c.queue.concurrency +
                     SPOOL_SPARE_MAX + 64;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (long long)rl.rlim_cur < need)
        log_warn("master", "open file limit %llu is below the %lld this configuration may "
                 "need (limits.connections, queue.concurrency); raise it (LimitNOFILE=, "
                 "ulimit -n)", (unsigned long long)rl.rlim_cur, need);
}

int server_start(struct server *srv, struct config *cf)
{
    unsigned queued, removed;

    srv->cf = cf;
    srv->start_cf = config_ref(cf);
    server_raise_fd_limit(cf);
    {
        /* The changelist folds the add/remove pairs of one loop turn (a reply written at
         * once, reads paused while a check runs) into at most one epoll_ctl per fd. */
        struct event_config *ec = event_config_new();
        if (ec == NULL)
            return -1;
        event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
        srv->base = event_base_new_with_config(ec);
        event_config_free(ec);
    }
    if (srv->base == NULL)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    /* Bind first: a start that cannot get its ports touches nothing in the spool. */
    srv->smtpd.base = srv->base;
    srv->smtpd.cf = cf;
    srv->smtpd.event = server_event;
    srv->smtpd.event_arg = srv;
    srv->smtpd.etrn_flush = hook_etrn_flush;
    srv->smtpd.etrn_check = hook_etrn_check;
    srv->smtpd.etrn_check_cancel = hook_etrn_check_cancel;
    srv->smtpd.hook_arg = srv;
    if (listeners_open(&srv->smtpd) < 0)
        return -1;
    srv->wp = workpool_new(srv->base, (int)cf->c.workers);
    srv->syncwp = workpool_new(srv->base, (int)cf->c.sync_workers);
    srv->smtpd.wp = srv->wp;
    if (srv->wp == NULL || srv->syncwp == NULL) {
        log_error("master", "cannot start worker threads");
        return -1;
    }
    srv->spool = spool_open(cf->c.spool_dir, srv->syncwp);
    if (srv->spool == NULL) {
        log_error("master", "cannot open spool %s: %s", cf->c.spool_dir, strerror(errno));
        return -1;
    }
    srv->smtpd.spool = srv->spool;
    if (spool_recover(srv->spool, &queued, &removed) < 0) {
        log_error("master", "cannot recover spool %s: %s", cf->c.spool_dir, strerror(errno));
        return -1;
    }
    log_info("master", "spool %s: %u queued messages, %u partial files removed",
             cf->c.spool_dir, queued, removed);
    srv->dns = dns_new(srv->base, &cf->c.dns);
    srv->smtpd.dns = srv->dns;
    if (srv->dns == NULL)
        return -1;
    srv->webhooks = webhooks_new(srv->base, srv->wp, srv->dns, &cf->c.webhooks);
    if (srv->webhooks == NULL)
        return -1;
    srv->redis_down_since = -1;
    srv->started = (long long)time(NULL);
    if (relay_conf_needs_redis(&cf->c)) {
        srv->redis = redis_new(srv->base, &cf->c.redis, on_redis_state, srv);
        if (srv->redis == NULL)
            return -1;
        srv->account_script = account_script(srv->redis);
        srv->accounts = account_cache_new(cf->c.account.cache_ms);
        if (account_cache_watch(srv->accounts, srv->base, &cf->c.redis) < 0)
            return -1;
    }
    if (relay_conf_needs_redis(&cf->c)) {
        if (sasl_server_setup(&cf->c.auth) < 0)
            return -1;
        srv->sasl = true;
        log_info("master", "SMTP AUTH mechanisms: %s", sasl_server_mechanisms());
    }
    srv->checkwp = workpool_new_bounded(srv->base, (int)cf->c.policy.check_workers,
                                        (unsigned)cf->c.policy.check_queue);
    srv->outages = outage_new(server_event, srv);
    if (srv->checkwp == NULL || srv->outages == NULL) {
        log_error("master", "cannot start the policy check pool");
        return -1;
    }
    if (srv->redis)
        srv->users = user_store_redis_new(srv->redis);
    if (cf->c.virus.enabled) {
        srv->scanner = scan_client_new(srv->base, &cf->c.virus, NULL, on_scanner, srv);
        if (srv->scanner == NULL)
            return -1;
    }
    {
        struct callout_deps cd = { .base = srv->base, .dns = srv->dns,
                                   .config = callout_config,
                                   .primary_down = callout_primary_down, .arg = srv };
        srv->callout = callout_new(&cd);
    }
    if (server_activate(srv, cf) < 0)
        return -1;
    srv->queue = queue_new(&(struct queue_deps){
        .base = srv->base, .wp = srv->wp, .spool = srv->spool, .dns = srv->dns,
        .redis = srv->redis, .accounts = srv->accounts, .quarrun = &srv->quarrun, .cf = &srv->cf,
        .event = server_event, .event_arg = srv });
    if (srv->queue == NULL)
        return -1;
    spool_set_queued_hook(srv->spool, queue_queued_hook, srv->queue);
    {
        struct quar_env qe = { .base = srv->base, .wp = srv->wp, .redis = srv->redis,
                               .spool = srv->spool, .queue = srv->queue, .cf = &srv->cf };
        srv->quarrun = quar_runner_new(&qe);
        if (srv->quarrun == NULL)
            return -1;
        srv->quar = quar_runner_index(srv->quarrun);
    }
    queue_start(srv->queue);
    srv->watch = queue_watch_new(&(struct queue_watch_deps){
        .base = srv->base, .wp = srv->wp, .spool = srv->spool, .cf = &srv->cf,
        .webhooks = srv->webhooks });
    srv->probe = backup_probe_new(&(struct backup_probe_deps){
        .base = srv->base, .dns = srv->dns, .cf = &srv->cf,
        .shutting_down = &srv->shutting_down, .event = server_event, .event_arg = srv,
        .flush_domain = hook_probe_flush, .flush_arg = srv });
    srv->admin = admin_new(srv);
    if (srv->admin == NULL)
        return -1;
    if (server_health_start(srv) < 0) return -1; /* admin HTTP: /metrics, /readyz */
    if (server_web_start(srv) < 0)
        return -1;
    srv->sig_term = evsignal_new(srv->base, SIGTERM, on_signal, srv);
    srv->sig_int = evsignal_new(srv->base, SIGINT, on_signal, srv);
    srv->sig_hup = evsignal_new(srv->base, SIGHUP, on_signal, srv);
    evsignal_add(srv->sig_term, NULL);
    evsignal_add(srv->sig_int, NULL);
    evsignal_add(srv->sig_hup, NULL);
    return 0;
}

void server_reload(struct server *srv)
{
    struct config *cf;
    const struct listener_conf *a, *b;
    size_t i;

    (void)sd_notify_send("RELOADING=1");
    cf = config_load(srv->cf->path);
    if (cf == NULL) {
        log_error("master", "reload of %s failed; keeping the running configuration",
                  srv->cf->path);
        (void)sd_notify_send("READY=1\nSTATUS=reload failed; running the previous "
                             "configuration");
        return;
    }
    a = srv->cf->c.listeners.items;
    b = cf->c.listeners.items;
    for (i = 0; i < cf->c.listeners.n && cf->c.listeners.n == srv->cf->c.listeners.n; i++)
        if (strcmp(a[i].address, b[i].address) != 0 || strcmp(a[i].profile, b[i].profile) != 0 ||
            a[i].tls != b[i].tls || a[i].auth != b[i].auth)
            break;
    if (i != cf->c.listeners.n || cf->c.listeners.n != srv->cf->c.listeners.n)
        log_warn("master", "listener changes need a restart; keeping the current listeners");
    if (strcmp(cf->c.spool_dir, srv->cf->c.spool_dir) != 0)
        log_warn("master", "spool_dir changes need a restart; keeping %s", srv->cf->c.spool_dir);
    if (cf->c.workers != srv->cf->c.workers || cf->c.sync_workers != srv->cf->c.sync_workers)
        log_warn("master", "workers and sync_workers changes need a restart; keeping %lld and "
                 "%lld threads", srv->cf->c.workers, srv->cf->c.sync_workers);
    if (server_activate(srv, cf) < 0) {
        log_error("master", "reload of %s failed: the policy engine cannot start; keeping "
                  "the running configuration", cf->path);
        config_unref(cf);
        (void)sd_notify_send("READY=1\nSTATUS=reload failed; running the previous "
                             "configuration");
        return;
    }
    webhooks_reload(srv->webhooks, &cf->c.webhooks);
    if (srv->scanner != NULL)
        scan_client_reload(srv->scanner);   /* the database may have changed */
    if (cf->c.virus.enabled != srv->cf->c.virus.enabled)
        log_warn("master", "virus.enabled changes need a restart");
    config_unref(srv->cf);
    srv->cf = cf;
    srv->smtpd.cf = cf;
    log_info("master", "reloaded configuration from %s", cf->path);
    (void)sd_notify_send("READY=1\nSTATUS=accepting mail");
}

static void server_maybe_done(struct server *srv)
{
    if (srv->smtpd.nsessions == 0 && spool_commits_pending(srv->spool) == 0 && queue_idle(srv->queue))
        event_base_loopexit(srv->base, NULL);
}

static void on_drain_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    server_maybe_done(arg);
}

static void on_shutdown_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;
    (void)fd;
    (void)what;
    log_warn("master", "shutdown timeout: closing %u sessions", srv->smtpd.nsessions);
    if (spool_commits_pending(srv->spool) == 0)
        event_base_loopexit(srv->base, NULL);
}

void server_shutdown(struct server *srv)
{
    struct smtp_session *s;
    struct timeval tv;

    if (srv->shutting_down) {
        log_warn("master", "second stop signal: exiting now");
        event_base_loopbreak(srv->base);
        return;
    }
    srv->shutting_down = true;
    srv->smtpd.shutting_down = true;
    (void)sd_notify_send("STOPPING=1");
    log_info("master", "stopping: no new connections, %u sessions finishing",
             srv->smtpd.nsessions);
    listeners_close(&srv->smtpd);
    queue_shutdown(srv->queue);
    for (s = srv->smtpd.sessions; s; s = s->next)
        smtp_session_shutdown(s);
    tv.tv_sec = 0;
    tv.tv_usec = DRAIN_CHECK_MS * 1000;
    srv->drain_timer = event_new(srv->base, -1, EV_PERSIST, on_drain_check, srv);
    event_add(srv->drain_timer, &tv);
    tv.tv_sec = srv->cf->c.timeouts.shutdown_ms / 1000;
    tv.tv_usec = (srv->cf->c.timeouts.shutdown_ms % 1000) * 1000;
    srv->shutdown_timer = evtimer_new(srv->base, on_shutdown_timeout, srv);
    evtimer_add(srv->shutdown_timer, &tv);
}

static void event_free_opt(struct event *ev)
{
    if (ev)
        event_free(ev);
}

void server_stop(struct server *srv)
{
    while (srv->smtpd.sessions)
        smtp_session_free(srv->smtpd.sessions);
    smtp_sign_warn_stop(&srv->smtpd);
    listeners_free(&srv->smtpd);
    server_web_stop(srv);    /* before the worker pool: its SASL steps are cancelled */
    queue_watch_free(srv->watch);
    backup_probe_free(srv->probe);
    srv->probe = NULL;
    callout_free(srv->callout);     /* sessions are gone: no request is left; connections */
    srv->callout = NULL;
    if (srv->webhooks)
        webhooks_free(srv->webhooks);
    srv->webhooks = NULL; /* events raised while stopping are only logged */
    queue_stop(srv->queue);  /* cancels deliveries; its pending writes finish below */
    quar_runner_stop(srv->quarrun);
    workpool_free(srv->syncwp); /* finishes pending commits; their callbacks may use wp */
    workpool_free(srv->wp); /* finishes queue file updates and outbox writes */
    queue_free(srv->queue);
    quar_runner_free(srv->quarrun);  /* and srv->quar, before Redis */
    srv->quarrun = NULL;
    srv->quar = NULL;
    server_health_stop();
    admin_free(srv->admin);
    spool_close(srv->spool);
    if (srv->sasl)
        sasl_server_teardown();
    event_free_opt(srv->sig_term);
    event_free_opt(srv->sig_int);
    event_free_opt(srv->sig_hup);
    event_free_opt(srv->drain_timer);
    event_free_opt(srv->shutdown_timer);
    free(srv->smtpd.ip_counts);
    if (srv->cf)
        config_unref(srv->cf);
    if (srv->scanner)
        scan_client_free(srv->scanner);
    if (srv->checkwp)
        workpool_free(srv->checkwp);
    if (srv->users)
        user_store_free(srv->users);
    outage_free(srv->outages);
    account_cache_free(srv->accounts);
    /* The start configuration goes before Redis, DNS and the loop: its engine's checks
     * (the spam model's refresh, ...) cancel their Redis requests and free their timers.
     * Redis and DNS read nothing of their configuration once stopping. */
    if (srv->start_cf)
        config_unref(srv->start_cf);
    srv->start_cf = NULL;
    if (srv->redis)
        redis_free(srv->redis);
    if (srv->dns)
        dns_free(srv->dns);
    if (srv->base)
        event_base_free(srv->base);
    log_info("master", "stopped");
}
