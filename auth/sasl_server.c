/*
 * sasl_server.c - Cyrus SASL server glue for SMTP AUTH (see sasl_server.h).
 *
 * Owns the process-wide SASL state (options copied from the config at setup, the
 * callbacks Cyrus keeps pointers to) and, per session, one sasl_conn_t.
 *
 * Cyrus setup, as measured in shared/research/spikes.md section 3:
 *   - pthread mutexes are installed before sasl_server_init (Cyrus' defaults are no-ops);
 *   - options come from SASL_CB_GETOPT (it wins over any config file), and
 *     SASL_CB_GETCONFPATH points at a directory that cannot exist, so neither
 *     /etc/sasl2/postern.conf nor a stray postern.conf is ever read;
 *   - callbacks are stored with the double cast (int (*)(void))(void (*)(void))fn;
 *   - an absent initial response is passed as NULL, an empty one ("=") as "" (length 0).
 *
 * Threads and lifetimes: a session has at most one op (one start or step) in flight.
 * While it is, only the worker uses the sasl_conn_t; the loop thread does not touch the
 * connection (every loop-side function that would asserts there is no op). The op owns
 * copies of its input and output, so the worker never reads the session. When the op's
 * done function runs on the loop thread it either delivers the result, or drops it
 * (cancelled), or, when the session was freed meanwhile, disposes of the connection and
 * the session then: the connection is never released under a running worker.
 * After each finished exchange (any result but MORE) the connection is marked stale and
 * replaced by a fresh one at the next start, so no state of a failed, cancelled or
 * completed exchange (SCRAM's "sent last" flag, a half-done LOGIN) can leak into the next.
 */
#include "auth/sasl_server.h"

#include "auth/auth_conf.h"
#include "auth/auth_decoy.h"
#include "lib/log.h"
#include "lib/workpool.h"
#include "lib/xalloc.h"

#include <assert.h>
#include <ctype.h>
#include <pthread.h>
#include <sasl/sasl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#define AUTH_APPNAME "postern"       /* Cyrus app name: selects <app>.conf, logs */
#define AUTH_SERVICE "smtp"          /* registered service name (RFC 4954) */
#define AUTH_LOG "smtpd"             /* log component */
/* Searched for postern.conf: a path under /dev/null can never hold a file. */
#define AUTH_SASL_CONFDIR "/dev/null"
#define AUTH_REASON_MAX 256          /* log text of one failure */
#define AUTH_LOG_LINE_MAX 512        /* one Cyrus log message */
/* SCRAM iterations, set explicitly so that real and decoy challenges agree (Cyrus'
 * default; with a plaintext sasldb the server pays them at every login). */
#define AUTH_SCRAM_ITERATIONS 4096
#define AUTH_SCRAM_ITERATIONS_TEXT "4096"
#define AUTH_CHAR_DEL 0x7f
#define AUTH_MECH_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


/* ---- process-wide state ---------------------------------------------------------------- */

static struct {
    bool ready;
    bool mutex_set;
    char *sasldb_path;
    char *saslauthd_path;
    const char *pwcheck;
    char *mech_list;                  /* effective mechanisms, space-separated */
    unsigned char decoy_key[AUTH_DECOY_KEY_BYTES];  /* salts of decoy SCRAM challenges */
} g_auth;

static void *auth_mutex_alloc(void)
{
    pthread_mutex_t *m = xmalloc(sizeof(*m));
    pthread_mutex_init(m, NULL);
    return m;
}

static int auth_mutex_lock(void *m)
{
    return pthread_mutex_lock(m) == 0 ? SASL_OK : SASL_FAIL;
}

static int auth_mutex_unlock(void *m)
{
    return pthread_mutex_unlock(m) == 0 ? SASL_OK : SASL_FAIL;
}

static void auth_mutex_free(void *m)
{
    pthread_mutex_destroy(m);
    free(m);
}

/* SASL_CB_GETOPT: Cyrus' options from Postern's config. Any thread (Cyrus calls it from
 * whichever thread runs SASL); reads g_auth, which is fixed between setup and teardown. */
static int auth_getopt(void *context, const char *plugin_name, const char *option,
                       const char **result, unsigned *len)
{
    const char *v = NULL;
    (void)context;
    (void)plugin_name;

    if (strcmp(option, "sasldb_path") == 0)
        v = g_auth.sasldb_path;
    else if (strcmp(option, "pwcheck_method") == 0)
        v = g_auth.pwcheck;
    else if (strcmp(option, "auxprop_plugin") == 0)
        v = "sasldb";
    else if (strcmp(option, "mech_list") == 0)
        v = g_auth.mech_list;
    else if (strcmp(option, "saslauthd_path") == 0)
        v = g_auth.saslauthd_path;
    else if (strcmp(option, "scram_iteration_counter") == 0)
        v = AUTH_SCRAM_ITERATIONS_TEXT;
    if (v == NULL)
        return SASL_FAIL;              /* not ours: Cyrus uses its default */
    *result = v;
    if (len != NULL)
        *len = (unsigned)strlen(v);
    return SASL_OK;
}

/* SASL_CB_GETCONFPATH: where Cyrus looks for postern.conf (nowhere). Any thread. */
static int auth_getconfpath(void *context, char **path)
{
    (void)context;
    *path = (char *)AUTH_SASL_CONFDIR;
    return SASL_OK;
}

/* SASL_CB_LOG: Cyrus' messages into Postern's log, sanitised; password traces dropped.
 * Per-login failure details (SASL_LOG_FAIL) are debug lines: the same text reaches
 * relay/ as auth_result.reason, which it logs once with the client's address.
 * Any thread. */
static int auth_sasl_log(void *context, int level, const char *message)
{
    char clean[AUTH_LOG_LINE_MAX];
    (void)context;

    if (message == NULL || level == SASL_LOG_PASS)
        return SASL_OK;
    log_sanitize(clean, sizeof(clean), message, strlen(message));
    if (level <= SASL_LOG_ERR)
        log_error(AUTH_LOG, "SASL: %s", clean);
    else if (level == SASL_LOG_WARN)
        log_warn(AUTH_LOG, "SASL: %s", clean);
    else if (level == SASL_LOG_NOTE)
        log_info(AUTH_LOG, "SASL: %s", clean);
    else
        log_debug(AUTH_LOG, "SASL: %s", clean);
    return SASL_OK;
}

/* Cyrus' callback type has no prototype; the double cast silences -Wcast-function-type. */
#define AUTH_CB(fn) ((int (*)(void))(void (*)(void))(fn))

static const sasl_callback_t auth_callbacks[] = {
    { SASL_CB_GETOPT, AUTH_CB(auth_getopt), NULL },
    { SASL_CB_GETCONFPATH, AUTH_CB(auth_getconfpath), NULL },
    { SASL_CB_LOG, AUTH_CB(auth_sasl_log), NULL },
    { SASL_CB_LIST_END, NULL, NULL },
};

/* Mechanisms that need the plaintext secret on the server (not possible via saslauthd). */
static bool auth_mech_needs_secret(const char *mech)
{
    return strcasecmp(mech, "PLAIN") != 0 && strcasecmp(mech, "LOGIN") != 0;
}

static bool auth_mech_installed(const char *mech)
{
    const char **all = sasl_global_listmech();
    for (; all != NULL && *all != NULL; all++) {
        if (strcasecmp(*all, mech) == 0)
            return true;
    }
    return false;
}

/* The configured mechanisms that can work here, space-separated (malloc'd); logs the
 * ones dropped. */
static char *auth_effective_mechs(const struct auth_conf *conf)
{
    size_t i, used = 0, size = 1;
    char *list;

    for (i = 0; i < conf->mechanisms.n; i++)
        size += strlen(conf->mechanisms.v[i]) + 1;
    list = xmalloc(size);
    list[0] = '\0';
    for (i = 0; i < conf->mechanisms.n; i++) {
        const char *m = conf->mechanisms.v[i];
        if (!auth_mech_installed(m)) {
            log_warn(AUTH_LOG, "auth: mechanism %s dropped: its Cyrus SASL plugin is not "
                     "installed (Debian: libsasl2-modules)", m);
            continue;
        }
        if (conf->pwcheck_method == AUTH_PWCHECK_SASLAUTHD && auth_mech_needs_secret(m)) {
            log_warn(AUTH_LOG, "auth: mechanism %s dropped: it needs the password on the "
                     "server, which pwcheck_method saslauthd cannot provide", m);
            continue;
        }
        used += (size_t)snprintf(list + used, size - used, "%s%s", used ? " " : "", m);
    }
    return list;
}

static void auth_globals_free(void)
{
    free(g_auth.sasldb_path);
    free(g_auth.saslauthd_path);
    free(g_auth.mech_list);
    g_auth.sasldb_path = g_auth.saslauthd_path = g_auth.mech_list = NULL;
    g_auth.ready = false;
}

int sasl_server_setup(const struct auth_conf *conf)
{
    int rc;

    if (g_auth.ready)
        return 0;
    g_auth.sasldb_path = conf->sasldb ? xstrdup(conf->sasldb) : NULL;
    g_auth.saslauthd_path = conf->saslauthd_path ? xstrdup(conf->saslauthd_path) : NULL;
    g_auth.pwcheck = conf->pwcheck_method == AUTH_PWCHECK_SASLAUTHD ? "saslauthd" : "auxprop";
    if (!g_auth.mutex_set) {
        sasl_set_mutex(auth_mutex_alloc, auth_mutex_lock, auth_mutex_unlock, auth_mutex_free);
        g_auth.mutex_set = true;
    }
    if (getrandom(g_auth.decoy_key, sizeof(g_auth.decoy_key), 0) !=
        (ssize_t)sizeof(g_auth.decoy_key)) {
        log_error(AUTH_LOG, "auth: no random bytes for SCRAM decoys: %m");
        auth_globals_free();
        return -1;
    }
    rc = sasl_server_init(auth_callbacks, AUTH_APPNAME);
    if (rc != SASL_OK) {
        log_error(AUTH_LOG, "auth: cannot initialise Cyrus SASL: %s",
                  sasl_errstring(rc, NULL, NULL));
        auth_globals_free();
        return -1;
    }
    g_auth.mech_list = auth_effective_mechs(conf);
    if (g_auth.mech_list[0] == '\0') {
        log_error(AUTH_LOG, "auth: none of the configured mechanisms is available");
        sasl_server_done();
        auth_globals_free();
        return -1;
    }
    g_auth.ready = true;
    sasl_server_check_access();
    log_info(AUTH_LOG, "auth: SASL ready, mechanisms %s, pwcheck_method %s", g_auth.mech_list,
             g_auth.pwcheck);
    return 0;
}

int sasl_server_check_access(void)
{
    if (!g_auth.ready || strcmp(g_auth.pwcheck, "auxprop") != 0)
        return 0;
    if (g_auth.sasldb_path != NULL && access(g_auth.sasldb_path, R_OK) == 0)
        return 0;
    log_warn(AUTH_LOG, "auth: sasldb %s is not readable by uid %u: every login will fail",
             g_auth.sasldb_path ? g_auth.sasldb_path : "(unset)", (unsigned)getuid());
    return -1;
}

void sasl_server_teardown(void)
{
    if (!g_auth.ready)
        return;
    sasl_server_done();
    auth_globals_free();
}

const char *sasl_server_mechanisms(void)
{
    return g_auth.mech_list ? g_auth.mech_list : "";
}

/* ---- sessions -------------------------------------------------------------------------- */

struct auth_sess {
    struct workpool *wp;
    const struct auth_conf *conf;
    sasl_conn_t *conn;
    char *fqdn, *local, *remote;
    bool tls;
    unsigned ssf;
    char *peer_cn;
    char *mechs;                      /* what to advertise now */
    char mech[SASL_MECHNAMEMAX + 1];  /* of the exchange in progress */
    struct auth_op *op;               /* the step in flight, or NULL */
    bool in_exchange;                 /* the last result was MORE */
    bool stale;                       /* renew conn before the next start */
    struct sess_decoy *decoy;         /* a decoy SCRAM challenge was sent (auth_decoy.h) */
    bool freeing;                     /* auth_sess_free() called while op in flight */
};

/* A decoy exchange in progress: what its second step is judged against. */
struct sess_decoy {
    char *login;                      /* the login tried, as Cyrus named it (or NULL) */
    unsigned char *client_first;      /* the client's first message */
    size_t client_first_len;
    char *server_first;               /* the decoy's answer to it */
};

enum auth_op_kind { OP_START, OP_STEP, OP_REFUSE };

struct auth_op {
    struct auth_sess *sess;
    sasl_conn_t *conn;                /* the only thing the worker touches */
    auth_cb cb;
    void *arg;
    bool cancelled;                   /* loop thread only */
    enum auth_op_kind kind;
    enum auth_status refused;         /* OP_REFUSE: the result, decided on the loop */
    char mech[SASL_MECHNAMEMAX + 1];
    unsigned char *in;
    size_t in_len;
    bool in_present;
    /* results, written by the worker */
    int rc;
    unsigned char *out;
    size_t out_len;
    char *username;
    bool decoy;                       /* out is a decoy challenge for an unknown user */
    char reason[AUTH_REASON_MAX];
};

void auth_ipport(char *buf, size_t size, const char *ip, unsigned port)
{
    snprintf(buf, size, "%s;%u", ip, port);
}

static void sess_update_mechs(struct auth_sess *s)
{
    const char *list = NULL;
    unsigned len = 0;
    int count = 0;

    free(s->mechs);
    if (s->conf->require_tls && !s->tls)
        s->mechs = xstrdup("");
    else if (sasl_listmech(s->conn, NULL, "", " ", "", &list, &len, &count) == SASL_OK &&
             list != NULL)
        s->mechs = xstrndup(list, len);
    else
        s->mechs = xstrdup("");
}

/* Security properties: no SASL security layer (SMTP has none), no anonymous login, and
 * no plaintext mechanisms until TLS is up. */
static int sess_apply_props(struct auth_sess *s)
{
    sasl_security_properties_t sp;
    sasl_ssf_t ext = s->ssf;
    int rc;

    memset(&sp, 0, sizeof(sp));
    sp.security_flags = SASL_SEC_NOANONYMOUS | (s->tls ? 0 : SASL_SEC_NOPLAINTEXT);
    rc = sasl_setprop(s->conn, SASL_SEC_PROPS, &sp);
    if (rc == SASL_OK && s->tls)
        rc = sasl_setprop(s->conn, SASL_SSF_EXTERNAL, &ext);
    if (rc == SASL_OK && s->tls && s->peer_cn != NULL)
        rc = sasl_setprop(s->conn, SASL_AUTH_EXTERNAL, s->peer_cn);
    return rc;
}

static void sess_decoy_free(struct auth_sess *s)
{
    if (s->decoy == NULL)
        return;
    free(s->decoy->login);
    free(s->decoy->client_first);
    free(s->decoy->server_first);
    free(s->decoy);
    s->decoy = NULL;
}

/* (Re)create the session's connection. Loop thread, no op in flight. */
static int sess_conn_open(struct auth_sess *s)
{
    int rc;

    if (s->conn != NULL)
        sasl_dispose(&s->conn);
    s->stale = s->in_exchange = false;
    sess_decoy_free(s);
    rc = sasl_server_new(AUTH_SERVICE, s->fqdn, s->conf->realm, s->local, s->remote, NULL, 0,
                         &s->conn);
    if (rc == SASL_OK)
        rc = sess_apply_props(s);
    if (rc != SASL_OK) {
        log_error(AUTH_LOG, "auth: cannot create a SASL connection: %s",
                  sasl_errstring(rc, NULL, NULL));
        if (s->conn != NULL)
            sasl_dispose(&s->conn);
        s->conn = NULL;
        return -1;
    }
    return 0;
}

static char *xstrdup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

struct auth_sess *auth_sess_new(struct workpool *wp, const struct auth_conf *conf,
                                const char *server_fqdn, const char *local_ipport,
                                const char *remote_ipport)
{
    struct auth_sess *s;

    if (!g_auth.ready) {
        log_error(AUTH_LOG, "auth: SASL is not set up");
        return NULL;
    }
    s = xcalloc(1, sizeof(*s));
    s->wp = wp;
    s->conf = conf;
    s->fqdn = xstrdup_or_null(server_fqdn);
    s->local = xstrdup_or_null(local_ipport);
    s->remote = xstrdup_or_null(remote_ipport);
    if (sess_conn_open(s) < 0) {
        auth_sess_free(s);
        return NULL;
    }
    sess_update_mechs(s);
    return s;
}

int auth_sess_set_tls(struct auth_sess *s, unsigned ssf, const char *peer_cn)
{
    assert(s->op == NULL);
    s->tls = true;
    s->ssf = ssf;
    free(s->peer_cn);
    s->peer_cn = xstrdup_or_null(peer_cn);
    if (sess_conn_open(s) < 0) {
        free(s->mechs);
        s->mechs = xstrdup("");
        return -1;
    }
    sess_update_mechs(s);
    return 0;
}

const char *auth_sess_mechs(const struct auth_sess *s)
{
    return s->mechs ? s->mechs : "";
}

bool auth_sess_needs_tls(const struct auth_sess *s)
{
    return s->conf->require_tls && !s->tls;
}

void auth_sess_reset(struct auth_sess *s)
{
    assert(s->op == NULL);
    s->stale = true;
    s->in_exchange = false;
}

static void sess_destroy(struct auth_sess *s)
{
    if (s->conn != NULL)
        sasl_dispose(&s->conn);
    free(s->fqdn);
    free(s->local);
    free(s->remote);
    free(s->peer_cn);
    free(s->mechs);
    sess_decoy_free(s);
    free(s);
}

void auth_sess_free(struct auth_sess *s)
{
    if (s == NULL)
        return;
    if (s->op != NULL) {
        s->op->cancelled = true;
        s->freeing = true;           /* op_done() destroys it once the worker is done */
        return;
    }
    sess_destroy(s);
}

void auth_op_cancel(struct auth_op *op)
{
    if (op != NULL)
        op->cancelled = true;
}

/* ---- one step ---------------------------------------------------------------------------- */

static void op_free(struct auth_op *op)
{
    free(op->in);
    free(op->out);
    free(op->username);
    free(op);
}

/* Copy Cyrus' error detail for the log. Worker thread. */
static void op_set_reason(struct auth_op *op, const char *detail)
{
    char text[AUTH_REASON_MAX];
    snprintf(text, sizeof(text), "%s: %s", op->mech, detail ? detail : "failed");
    log_sanitize(op->reason, sizeof(op->reason), text, strlen(text));
}

/* SCRAM refused an unknown user at its first message: answer like for a real user and
 * fail one round later (auth_decoy.h). Worker thread. */
static void op_try_decoy(struct auth_op *op)
{
    unsigned char nonce[AUTH_DECOY_NONCE_BYTES];
    size_t size;
    char *msg;
    int n;

    if (strncasecmp(op->mech, "SCRAM-", strlen("SCRAM-")) != 0 || op->in == NULL ||
        getrandom(nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce))
        return;
    size = AUTH_DECOY_SCRAM_SIZE(op->in_len);
    msg = xmalloc(size);
    n = auth_decoy_scram(op->mech, op->in, op->in_len, g_auth.decoy_key,
                         sizeof(g_auth.decoy_key), nonce, sizeof(nonce), AUTH_SCRAM_ITERATIONS,
                         msg, size);
    if (n < 0) {
        free(msg);
        return;
    }
    free(op->out);
    op->out = (unsigned char *)msg;
    op->out_len = (size_t)n;
    op->rc = SASL_CONTINUE;
    op->decoy = true;
}

/* Run sasl_server_start/step. Worker thread: touches only op and op->conn. */
static void op_work(void *arg)
{
    struct auth_op *op = arg;
    const char *out = NULL;
    unsigned out_len = 0;
    const void *user = NULL;

    if (op->kind == OP_REFUSE)
        return;
    if (op->kind == OP_START)
        op->rc = sasl_server_start(op->conn, op->mech,
                                   op->in_present ? (const char *)op->in : NULL,
                                   (unsigned)op->in_len, &out, &out_len);
    else
        op->rc = sasl_server_step(op->conn, (const char *)op->in, (unsigned)op->in_len, &out,
                                  &out_len);
    if ((op->rc == SASL_OK || op->rc == SASL_CONTINUE) && out != NULL) {
        op->out = xmalloc(out_len + 1u);
        memcpy(op->out, out, out_len);
        op->out[out_len] = '\0';
        op->out_len = out_len;
    }
    if (op->rc != SASL_CONTINUE && sasl_getprop(op->conn, SASL_USERNAME, &user) == SASL_OK &&
        user != NULL)
        op->username = xstrdup(user); /* on failure: the login tried, for its own counter */
    else if (op->rc == SASL_OK)
        op->rc = SASL_FAIL;          /* cannot happen with a sane plugin: refuse */
    if (op->rc != SASL_OK && op->rc != SASL_CONTINUE)
        op_set_reason(op, sasl_errdetail(op->conn));
    if (op->rc == SASL_NOUSER)
        op_try_decoy(op);
}

/* Cyrus result -> protocol-neutral status. Unknown user and bad password are both FAIL;
 * SASL_FAIL ("generic failure") is what Cyrus returns when the password backend cannot be
 * reached (saslauthd down), so it is TEMP. */
static enum auth_status auth_status_of(int rc)
{
    switch (rc) {
    case SASL_OK:       return AUTH_OK;
    case SASL_CONTINUE: return AUTH_MORE;
    case SASL_NOMECH:
    case SASL_TOOWEAK:
    case SASL_ENCRYPT:  return AUTH_BADMECH;
    case SASL_BADPROT:  return AUTH_BADPROT;
    case SASL_FAIL:
    case SASL_TRYAGAIN:
    case SASL_UNAVAIL:
    case SASL_NOMEM:    return AUTH_TEMP;
    default:            return AUTH_FAIL;
    }
}

/* Remember a decoy challenge for the next step: takes op's input and login. Loop thread. */
static void sess_decoy_keep(struct auth_sess *s, struct auth_op *op)
{
    s->decoy = xcalloc(1, sizeof(*s->decoy));
    s->decoy->login = op->username;
    s->decoy->client_first = op->in;
    s->decoy->client_first_len = op->in_len;
    s->decoy->server_first = xstrdup((const char *)op->out);
    op->username = NULL;
    op->in = NULL;
}

int auth_login_canonical(const char *login, const char *realm, char *out, size_t size)
{
    size_t i, n = strlen(login);
    bool bare = strchr(login, '@') == NULL;
    int len;

    for (i = 0; i < n; i++) {
        if ((unsigned char)login[i] < ' ' || login[i] == AUTH_CHAR_DEL)
            return -1;
    }
    len = snprintf(out, size, "%s%s%s", login, bare ? "@" : "", bare ? realm : "");
    if (n == 0 || len < 0 || (size_t)len >= size || len > AUTH_LOGIN_MAX)
        return -1;
    for (i = 0; i < (size_t)len; i++)
        out[i] = (char)tolower((unsigned char)out[i]);
    return 0;
}

/* Give a verdict's username in its canonical form (in login), or none when it has none:
 * a login that cannot be canonical (control characters, too long) never authenticates.
 * Loop thread. */
static void op_canonical_login(const struct auth_sess *s, struct auth_op *op,
                               struct auth_result *res, char *login)
{
    const char *realm = s->conf->realm ? s->conf->realm : s->fqdn ? s->fqdn : "";

    if (op->username == NULL)
        return;
    if (auth_login_canonical(op->username, realm, login, AUTH_LOGIN_MAX + 1) == 0) {
        res->username = login;
        return;
    }
    if (res->status == AUTH_OK) {
        res->status = AUTH_FAIL;
        snprintf(op->reason, sizeof(op->reason), "%s: login refused (control characters, or "
                 "longer than %d bytes)", op->mech, AUTH_LOGIN_MAX);
    }
}

/* Deliver an op's result. Loop thread, from the workpool. */
static void op_done(void *arg)
{
    struct auth_op *op = arg;
    struct auth_sess *s = op->sess;
    struct auth_result res;
    char login[AUTH_LOGIN_MAX + 1];

    s->op = NULL;
    if (s->freeing) {
        sess_destroy(s);
        op_free(op);
        return;
    }
    res.status = op->kind == OP_REFUSE ? op->refused : auth_status_of(op->rc);
    s->in_exchange = res.status == AUTH_MORE && !op->cancelled;
    sess_decoy_free(s);
    if (s->in_exchange && op->decoy)
        sess_decoy_keep(s, op);
    if (!s->in_exchange)
        s->stale = true;
    if (op->cancelled) {
        op_free(op);
        return;
    }
    res.challenge = op->out ? op->out : (const unsigned char *)"";
    res.challenge_len = op->out_len;
    res.username = NULL;
    res.reason = op->reason;
    if (res.status == AUTH_OK || res.status == AUTH_FAIL)
        op_canonical_login(s, op, &res, login);
    op->cb(&res, op->arg);
    op_free(op);
}

static struct auth_op *op_new(struct auth_sess *s, enum auth_op_kind kind, auth_cb cb,
                              void *arg)
{
    struct auth_op *op = xcalloc(1, sizeof(*op));

    assert(s->op == NULL && !s->freeing);
    op->sess = s;
    op->kind = kind;
    op->cb = cb;
    op->arg = arg;
    return op;
}

static void op_refuse(struct auth_op *op, enum auth_status st, const char *why)
{
    op->kind = OP_REFUSE;
    op->refused = st;
    log_sanitize(op->reason, sizeof(op->reason), why, strlen(why));
}

static void op_take_input(struct auth_op *op, const unsigned char *data, size_t len)
{
    op->in = xmalloc(len + 1);
    if (len > 0)
        memcpy(op->in, data, len);
    op->in[len] = '\0';
    op->in_len = len;
}

static struct auth_op *op_submit(struct auth_sess *s, struct auth_op *op)
{
    op->conn = s->conn;
    s->op = op;
    workpool_submit(s->wp, op_work, op_done, op);
    return op;
}

/* True when mech is a mechanism name (RFC 4422 3.1: [A-Z0-9-_]{1,20}, any case here)
 * and one of the words of list (case-insensitive). */
static bool mech_listed(const char *list, const char *mech)
{
    size_t n = strlen(mech);
    const char *p = list;

    if (n == 0 || n > SASL_MECHNAMEMAX || strspn(mech, AUTH_MECH_CHARS) != n)
        return false;
    while ((p = strcasestr(p, mech)) != NULL) {
        bool starts = p == list || p[-1] == ' ';
        bool ends = p[n] == '\0' || p[n] == ' ';
        if (starts && ends)
            return true;
        p += n;
    }
    return false;
}

struct auth_op *auth_sess_start(struct auth_sess *s, const char *mech,
                                const unsigned char *ir, size_t ir_len, int ir_present,
                                auth_cb cb, void *arg)
{
    struct auth_op *op = op_new(s, OP_START, cb, arg);
    char why[AUTH_REASON_MAX];

    if (!mech_listed(auth_sess_mechs(s), mech)) {
        snprintf(why, sizeof(why), "mechanism %.*s not offered", SASL_MECHNAMEMAX, mech);
        op_refuse(op, AUTH_BADMECH, why);
        return op_submit(s, op);
    }
    snprintf(op->mech, sizeof(op->mech), "%s", mech);
    memcpy(s->mech, op->mech, sizeof(s->mech));
    if (ir_len > AUTH_DATA_MAX) {
        op_refuse(op, AUTH_BADPROT, "initial response too long");
        return op_submit(s, op);
    }
    if ((s->stale || s->in_exchange || s->conn == NULL) && sess_conn_open(s) < 0) {
        op_refuse(op, AUTH_TEMP, "no SASL connection");
        return op_submit(s, op);
    }
    op->in_present = ir_present != 0;
    op_take_input(op, ir, ir_present ? ir_len : 0);
    return op_submit(s, op);
}

/* The client's answer to a decoy challenge: refused as Cyrus refuses a real user's answer,
 * malformed or with a wrong proof (it cannot be right). */
static void op_decoy_final(const struct auth_sess *s, struct auth_op *op,
                           const unsigned char *data, size_t len)
{
    const struct sess_decoy *d = s->decoy;

    if (auth_decoy_scram_final(op->mech, d->client_first, d->client_first_len,
                               d->server_first, data, len) == AUTH_DECOY_MALFORMED) {
        op_refuse(op, AUTH_BADPROT, "malformed SCRAM message (after a decoy challenge)");
        return;
    }
    op_refuse(op, AUTH_FAIL, "user not found (after a decoy SCRAM challenge)");
    op->username = d->login ? xstrdup(d->login) : NULL;
}

struct auth_op *auth_sess_step(struct auth_sess *s, const unsigned char *data, size_t len,
                               auth_cb cb, void *arg)
{
    struct auth_op *op = op_new(s, OP_STEP, cb, arg);

    memcpy(op->mech, s->mech, sizeof(op->mech));
    if (!s->in_exchange || s->stale || s->conn == NULL)
        op_refuse(op, AUTH_BADPROT, "no exchange in progress");
    else if (len > AUTH_DATA_MAX)
        op_refuse(op, AUTH_BADPROT, "response too long");
    else if (s->decoy)
        op_decoy_final(s, op, data, len);
    else
        op_take_input(op, data, len);
    return op_submit(s, op);
}

const char *auth_status_name(enum auth_status st)
{
    switch (st) {
    case AUTH_OK:      return "ok";
    case AUTH_MORE:    return "more";
    case AUTH_FAIL:    return "fail";
    case AUTH_TEMP:    return "temp";
    case AUTH_BADMECH: return "badmech";
    case AUTH_BADPROT: return "badprot";
    }
    return "unknown";
}
