/*
 * test_sasl_server.c - unit tests of auth/sasl_server.c against real Cyrus SASL.
 *
 * The group setup makes a sasldb in a temp dir with saslpasswd2 (the same commands an
 * admin and tools/demo-setup.sh use), initialises the server side with
 * sasl_server_setup() and the Cyrus client side in the same process, and runs a libevent
 * loop with a real workpool: every exchange goes through the asynchronous API (steps on a
 * worker thread, results on the loop). PLAIN and LOGIN are also driven with hand-made
 * client messages, so empty, prefix and malformed answers can be sent; CRAM-MD5 and
 * SCRAM-SHA-256 are driven by the Cyrus client. Behaviour that needs a fresh SASL
 * library state (missing plugins, saslauthd) runs in a forked child.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <sasl/sasl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth/auth_conf.h"
#include "auth/auth_decoy.h"
#include "auth/sasl_server.h"
#include "lib/log.h"
#include "lib/workpool.h"

#define T_FQDN "mail.example.test"
#define T_LOCAL "127.0.0.1;587"
#define T_REMOTE "127.0.0.1;40000"
#define T_SSF 256
#define T_TIMEOUT_S 10
#define T_WORKERS 2
#define T_CHAL_MAX (AUTH_DATA_MAX + 512)   /* a SCRAM challenge echoes the client nonce */
#define T_PATH_MAX 512
#define T_DIR_MAX 64
#define DEMO_LOGIN "demo@example.test"
#define DEMO_PASS "demo-password"
/* sasldb users whose names hold control characters (printf escapes) */
#define CTL_NL_USER "ev\\nil"
#define CTL_SOH_USER "ct\\001l"

/* ---- fixture ---------------------------------------------------------------------------- */

static char *mechs_all[] = { "PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256" };

static struct {
    struct event_base *base;
    struct workpool *wp;
    char dir[T_DIR_MAX];
    char db[T_PATH_MAX];
    struct auth_conf conf;         /* require_tls, every mechanism */
    struct auth_conf conf_notls;   /* require_tls false */
    struct auth_conf conf_realm;   /* realm example.test */
    bool have_scram;
} T;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    int rc;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void conf_init(struct auth_conf *c)
{
    memset(c, 0, sizeof(*c));
    c->mechanisms.v = mechs_all;
    c->mechanisms.n = sizeof(mechs_all) / sizeof(mechs_all[0]);
    c->sasldb = T.db;
    c->pwcheck_method = AUTH_PWCHECK_AUXPROP;
    c->require_tls = true;
}

static int group_setup(void **state)
{
    (void)state;
    log_init("postern", LOG_TO_STDERR, 0);
    snprintf(T.dir, sizeof(T.dir), "/tmp/test_sasl_XXXXXX");
    if (mkdtemp(T.dir) == NULL)
        return -1;
    snprintf(T.db, sizeof(T.db), "%s/sasldb2", T.dir);
    /* The demo command (tools/demo-setup.sh), twice: it must be idempotent. */
    if (sh("printf '%%s' '%s' | saslpasswd2 -f '%s' -p -c -u example.test demo", DEMO_PASS,
           T.db) != 0 ||
        sh("printf '%%s' '%s' | saslpasswd2 -f '%s' -p -c -u example.test demo", DEMO_PASS,
           T.db) != 0 ||
        sh("printf 's3cret' | saslpasswd2 -f '%s' -p -c alice@example.org", T.db) != 0 ||
        sh("echo 'with-newline' | saslpasswd2 -f '%s' -p -c nl@example.test", T.db) != 0 ||
        sh("printf 'bare-pw' | saslpasswd2 -f '%s' -p -c -u " T_FQDN " bare", T.db) != 0 ||
        sh("printf 'mixed-pw' | saslpasswd2 -f '%s' -p -c -u example.test Mixed", T.db) != 0 ||
        sh("printf 'ctl-pw' | saslpasswd2 -f '%s' -p -c -u example.test \"$(printf '"
           CTL_NL_USER "')\"", T.db) != 0 ||
        sh("printf 'ctl-pw' | saslpasswd2 -f '%s' -p -c -u example.test \"$(printf '"
           CTL_SOH_USER "')\"", T.db) != 0)
        return -1;
    conf_init(&T.conf);
    conf_init(&T.conf_notls);
    T.conf_notls.require_tls = false;
    conf_init(&T.conf_realm);
    T.conf_realm.realm = "example.test";
    if (sasl_server_setup(&T.conf) != 0 || sasl_client_init(NULL) != SASL_OK)
        return -1;
    T.have_scram = strstr(sasl_server_mechanisms(), "SCRAM-SHA-256") != NULL;
    T.base = event_base_new();
    T.wp = workpool_new(T.base, T_WORKERS);
    return T.base && T.wp ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    workpool_free(T.wp);
    event_base_free(T.base);
    sasl_server_teardown();
    sasl_client_done();
    sh("rm -rf '%s'", T.dir);
    return 0;
}

/* ---- running the loop --------------------------------------------------------------------- */

struct run {
    bool done;
    int calls;
    int results;                    /* server results seen in this exchange */
    enum auth_status status;
    char username[256];
    char reason[256];
    unsigned char chal[T_CHAL_MAX];
    size_t chal_len;
    struct auth_sess *free_in_cb;   /* free this session from inside the callback */
};

static void on_result(const struct auth_result *r, void *arg)
{
    struct run *run = arg;
    run->done = true;
    run->calls++;
    run->results++;
    run->status = r->status;
    snprintf(run->username, sizeof(run->username), "%s", r->username ? r->username : "");
    snprintf(run->reason, sizeof(run->reason), "%s", r->reason ? r->reason : "");
    assert_true(r->challenge_len < sizeof(run->chal));
    memcpy(run->chal, r->challenge, r->challenge_len);
    run->chal[r->challenge_len] = '\0';
    run->chal_len = r->challenge_len;
    if (r->status == AUTH_OK)
        assert_non_null(r->username);
    if (run->free_in_cb) {
        auth_sess_free(run->free_in_cb);
        run->free_in_cb = NULL;
    }
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(bool *)arg = true;
}

/* Run the loop until pred(arg) holds; fails the test after T_TIMEOUT_S. */
static void loop_until(bool (*pred)(void *), void *arg)
{
    bool timed_out = false;
    struct timeval tv = { T_TIMEOUT_S, 0 };
    struct event *t = evtimer_new(T.base, on_timeout, &timed_out);
    evtimer_add(t, &tv);
    while (!pred(arg) && !timed_out)
        event_base_loop(T.base, EVLOOP_ONCE);
    event_free(t);
    assert_false(timed_out);
}

static bool run_done(void *arg)
{
    return ((struct run *)arg)->done;
}

static bool pool_idle(void *arg)
{
    (void)arg;
    return workpool_pending(T.wp) == 0;
}

static void wait_run(struct run *run)
{
    loop_until(run_done, run);
}

static struct auth_sess *sess_new(const struct auth_conf *conf, bool tls)
{
    struct auth_sess *s = auth_sess_new(T.wp, conf, T_FQDN, T_LOCAL, T_REMOTE);
    assert_non_null(s);
    if (tls)
        assert_int_equal(auth_sess_set_tls(s, T_SSF, NULL), 0);
    return s;
}

/* ---- hand-made exchanges ------------------------------------------------------------------ */

struct msg {
    const char *data;   /* NULL as the first message: no initial response */
    size_t len;
};
#define MSG(s) { s, sizeof(s) - 1 }
#define NO_IR { NULL, 0 }

/* Start mech with msgs[0] as the initial response, answer each MORE with the next
 * message. Returns the last status (MORE when the messages ran out). */
static enum auth_status exchange(struct auth_sess *s, const char *mech, const struct msg *msgs,
                                 size_t n, struct run *run)
{
    size_t i = 1;
    memset(run, 0, sizeof(*run));
    auth_sess_start(s, mech, (const unsigned char *)msgs[0].data, msgs[0].len,
                    msgs[0].data != NULL, on_result, run);
    wait_run(run);
    while (run->status == AUTH_MORE && i < n) {
        run->done = false;
        auth_sess_step(s, (const unsigned char *)msgs[i].data, msgs[i].len, on_result, run);
        i++;
        wait_run(run);
    }
    return run->status;
}

static enum auth_status plain(struct auth_sess *s, const char *resp, size_t len,
                              struct run *run)
{
    struct msg m[1] = { { resp, len } };
    return exchange(s, "PLAIN", m, 1, run);
}

static enum auth_status login(struct auth_sess *s, const char *user, const char *pass,
                              struct run *run)
{
    struct msg m[3] = { NO_IR, { user, strlen(user) }, { pass, strlen(pass) } };
    return exchange(s, "LOGIN", m, 3, run);
}

/* ---- Cyrus client exchanges ---------------------------------------------------------------- */

struct creds {
    const char *user, *pass;
    sasl_secret_t *secret;
};

static int cli_simple(void *ctx, int id, const char **result, unsigned *len)
{
    struct creds *c = ctx;
    if (id != SASL_CB_AUTHNAME && id != SASL_CB_USER)
        return SASL_FAIL;
    *result = id == SASL_CB_AUTHNAME ? c->user : "";
    if (len)
        *len = (unsigned)strlen(*result);
    return SASL_OK;
}

static int cli_pass(sasl_conn_t *conn, void *ctx, int id, sasl_secret_t **psecret)
{
    struct creds *c = ctx;
    size_t n = strlen(c->pass);
    (void)conn;
    (void)id;
    free(c->secret);
    c->secret = malloc(sizeof(sasl_secret_t) + n);
    c->secret->len = n;
    memcpy(c->secret->data, c->pass, n + 1);
    *psecret = c->secret;
    return SASL_OK;
}

#define CLI_CB(fn) ((int (*)(void))(void (*)(void))(fn))

/* Authenticate as user/pass with the Cyrus client. Returns the server's last status;
 * *client_rc gets the client's last result. */
static enum auth_status client_exchange(struct auth_sess *s, const char *mech, const char *user,
                                        const char *pass, struct run *run, int *client_rc)
{
    struct creds c = { user, pass, NULL };
    sasl_callback_t cbs[] = {
        { SASL_CB_AUTHNAME, CLI_CB(cli_simple), &c },
        { SASL_CB_USER, CLI_CB(cli_simple), &c },
        { SASL_CB_PASS, CLI_CB(cli_pass), &c },
        { SASL_CB_LIST_END, NULL, NULL },
    };
    sasl_conn_t *cc = NULL;
    const char *out = NULL, *chosen = NULL;
    unsigned outlen = 0;
    int rc;

    memset(run, 0, sizeof(*run));
    assert_int_equal(sasl_client_new("smtp", T_FQDN, NULL, NULL, cbs, 0, &cc), SASL_OK);
    rc = sasl_client_start(cc, mech, NULL, &out, &outlen, &chosen);
    assert_true(rc == SASL_OK || rc == SASL_CONTINUE);
    auth_sess_start(s, mech, (const unsigned char *)out, outlen, out != NULL, on_result, run);
    wait_run(run);
    while (run->status == AUTH_MORE) {
        rc = sasl_client_step(cc, (const char *)run->chal, (unsigned)run->chal_len, NULL, &out,
                              &outlen);
        if (rc != SASL_OK && rc != SASL_CONTINUE)
            break;
        run->done = false;
        auth_sess_step(s, (const unsigned char *)(out ? out : ""), outlen, on_result, run);
        wait_run(run);
    }
    *client_rc = rc;
    sasl_dispose(&cc);
    free(c.secret);
    return run->status;
}

/* ---- mechanism lists ---------------------------------------------------------------------- */

static bool has_word(const char *list, const char *w)
{
    size_t n = strlen(w);
    const char *p = list;
    for (; (p = strstr(p, w)) != NULL; p += n) {
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
            return true;
    }
    return false;
}

static void no_mechanisms_before_tls_when_tls_is_required(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, false);
    (void)state;
    assert_string_equal(auth_sess_mechs(s), "");
    assert_true(auth_sess_needs_tls(s));
    auth_sess_free(s);
}

static void mechanism_list_before_tls_has_no_plain_or_login(void **state)
{
    struct auth_sess *s = sess_new(&T.conf_notls, false);
    const char *m = auth_sess_mechs(s);
    (void)state;
    assert_false(has_word(m, "PLAIN"));
    assert_false(has_word(m, "LOGIN"));
    assert_true(has_word(m, "CRAM-MD5"));
    assert_false(auth_sess_needs_tls(s));
    auth_sess_free(s);
}

static void mechanism_list_after_tls_has_plain_and_login(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    const char *m = auth_sess_mechs(s);
    (void)state;
    assert_true(has_word(m, "PLAIN"));
    assert_true(has_word(m, "LOGIN"));
    assert_true(has_word(m, "CRAM-MD5"));
    assert_int_equal(has_word(m, "SCRAM-SHA-256"), T.have_scram);
    assert_false(has_word(m, "ANONYMOUS"));
    assert_false(has_word(m, "EXTERNAL"));
    assert_false(has_word(m, "DIGEST-MD5"));
    assert_false(auth_sess_needs_tls(s));
    auth_sess_free(s);
}

static void plain_before_tls_is_refused_as_bad_mechanism(void **state)
{
    struct auth_sess *s = sess_new(&T.conf_notls, false);
    struct run run;
    (void)state;
    assert_int_equal(plain(s, "\0" DEMO_LOGIN "\0" DEMO_PASS,
                           sizeof("\0" DEMO_LOGIN "\0" DEMO_PASS) - 1, &run), AUTH_BADMECH);
    auth_sess_free(s);
}

static void any_auth_before_tls_is_refused_when_tls_is_required(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, false);
    struct run run;
    struct msg m[1] = { NO_IR };
    (void)state;
    assert_int_equal(exchange(s, "CRAM-MD5", m, 1, &run), AUTH_BADMECH);
    assert_int_equal(run.calls, 1);
    auth_sess_free(s);
}

static void unknown_mechanisms_are_refused(void **state)
{
    static const char *const bad[] = {
        "GSSAPI", "X-FOO", "DIGEST-MD5", "ANONYMOUS", "EXTERNAL", "", "PLAIN LOGIN",
        "PLAI", "PLAINX", "A-MECHANISM-NAME-TOO-LONG",
    };
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    struct msg m[1] = { NO_IR };
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(exchange(s, bad[i], m, 1, &run), AUTH_BADMECH);
        assert_string_equal(run.username, "");
    }
    /* and the session still works */
    assert_int_equal(login(s, DEMO_LOGIN, DEMO_PASS, &run), AUTH_OK);
    auth_sess_free(s);
}

/* ---- PLAIN ------------------------------------------------------------------------------- */

#define PLAIN_RESP(authz, user, pass) authz "\0" user "\0" pass
#define P(s) s, sizeof(s) - 1

static void plain_with_the_right_password_authenticates(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    (void)state;
    assert_int_equal(plain(s, P(PLAIN_RESP("", DEMO_LOGIN, DEMO_PASS)), &run), AUTH_OK);
    assert_string_equal(run.username, DEMO_LOGIN);
    assert_int_equal(run.results, 1);
    auth_sess_free(s);
}

static void plain_mechanism_name_is_case_insensitive(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    struct msg m[1] = { { P(PLAIN_RESP("", DEMO_LOGIN, DEMO_PASS)) } };
    (void)state;
    assert_int_equal(exchange(s, "plain", m, 1, &run), AUTH_OK);
    auth_sess_free(s);
}

static void plain_without_initial_response_sends_an_empty_challenge(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    struct msg m[2] = { NO_IR, { P(PLAIN_RESP("", DEMO_LOGIN, DEMO_PASS)) } };
    (void)state;
    assert_int_equal(exchange(s, "PLAIN", m, 1, &run), AUTH_MORE);
    assert_int_equal(run.chal_len, 0);
    assert_int_equal(exchange(s, "PLAIN", m, 2, &run), AUTH_OK);
    assert_int_equal(run.results, 2);
    assert_string_equal(run.username, DEMO_LOGIN);
    auth_sess_free(s);
}

static void plain_empty_initial_response_is_not_an_absent_one(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    struct msg m[1] = { { "", 0 } };
    (void)state;
    /* "AUTH PLAIN =": an empty response, which PLAIN cannot parse. */
    assert_int_equal(exchange(s, "PLAIN", m, 1, &run), AUTH_BADPROT);
    auth_sess_free(s);
}

static void plain_wrong_password_fails(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    (void)state;
    assert_int_equal(plain(s, P(PLAIN_RESP("", DEMO_LOGIN, "wrong")), &run), AUTH_FAIL);
    assert_string_equal(run.username, DEMO_LOGIN); /* the login tried: its counter grows */
    assert_true(strlen(run.reason) > 0);
    auth_sess_free(s);
}

static void plain_empty_password_fails(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    (void)state;
    assert_int_equal(plain(s, P(PLAIN_RESP("", DEMO_LOGIN, "")), &run), AUTH_FAIL);
    auth_sess_free(s);
}

static void plain_prefix_or_extension_of_the_password_fails(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    (void)state;
    assert_int_equal(plain(s, P(PLAIN_RESP("", DEMO_LOGIN, "demo-passwor")), &run), AUTH_FAIL);
    assert_int_equal(plain(s, P(PLAIN_RESP("", DEMO_LOGIN, "d")), &run), AUTH_FAIL);
    assert_int_equal(plain(s, P(PLAIN_RESP("", DEMO_LOGIN, "demo-password1")), &run),
                     AUTH_FAIL);
    assert_int_equal(plain(s, P(PLAIN_RESP("", DEMO_LOGIN, "Demo-password")), &run),
                     AUTH_FAIL);
    /* a NUL inside the password must not cut the comparison short */
    assert_int_equal(plain(s, P("\0" DEMO_LOGIN "\0demo-password\0x"), &run), AUTH_BADPROT);
    auth_sess_free(s);
}

static void plain_unknown_user_fails_exactly_like_a_wrong_password(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run wrong, unknown;
    (void)state;
    plain(s, P(PLAIN_RESP("", DEMO_LOGIN, "wrong")), &wrong);
    plain(s, P(PLAIN_RESP("", "nobody@example.test", "wrong")), &unknown);
    assert_int_equal(unknown.status, AUTH_FAIL);
    assert_int_equal(unknown.status, wrong.status);
    assert_int_equal(unknown.results, wrong.results);
    assert_int_equal(unknown.chal_len, wrong.chal_len);
    /* the same user in another realm is another user */
    assert_int_equal(plain(s, P(PLAIN_RESP("", "demo@example.org", DEMO_PASS)), &unknown),
                     AUTH_FAIL);
    auth_sess_free(s);
}

static void plain_authorization_as_another_user_fails(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    (void)state;
    assert_int_equal(plain(s, P(PLAIN_RESP("alice@example.org", DEMO_LOGIN, DEMO_PASS)), &run),
                     AUTH_FAIL);
    assert_int_equal(plain(s, P(PLAIN_RESP(DEMO_LOGIN, DEMO_LOGIN, DEMO_PASS)), &run), AUTH_OK);
    assert_string_equal(run.username, DEMO_LOGIN);
    auth_sess_free(s);
}

static void plain_malformed_responses_are_bad_protocol(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    (void)state;
    assert_int_equal(plain(s, P(DEMO_LOGIN), &run), AUTH_BADPROT);
    assert_int_equal(plain(s, P("\0" DEMO_LOGIN), &run), AUTH_BADPROT);
    auth_sess_free(s);
}

static void over_long_responses_are_bad_protocol(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    static char big[AUTH_DATA_MAX + 1];
    struct run run;
    struct msg m[2] = { NO_IR, { big, sizeof(big) } };
    (void)state;
    memset(big, 'a', sizeof(big));
    assert_int_equal(plain(s, big, sizeof(big), &run), AUTH_BADPROT);
    assert_int_equal(exchange(s, "LOGIN", m, 2, &run), AUTH_BADPROT);
    auth_sess_free(s);
}

/* ---- realms ------------------------------------------------------------------------------- */

static void login_made_with_at_domain_authenticates(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    (void)state;
    /* saslpasswd2 -c alice@example.org (no -u) */
    assert_int_equal(plain(s, P(PLAIN_RESP("", "alice@example.org", "s3cret")), &run), AUTH_OK);
    assert_string_equal(run.username, "alice@example.org");
    auth_sess_free(s);
}

static void saslpasswd2_reading_a_line_with_newline_drops_it(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    (void)state;
    /* echo 'with-newline' | saslpasswd2 -p ... */
    assert_int_equal(plain(s, P(PLAIN_RESP("", "nl@example.test", "with-newline")), &run),
                     AUTH_OK);
    auth_sess_free(s);
}

static void bare_login_uses_the_configured_realm(void **state)
{
    struct auth_sess *s = sess_new(&T.conf_realm, true);
    struct run run;
    (void)state;
    assert_int_equal(plain(s, P(PLAIN_RESP("", "demo", DEMO_PASS)), &run), AUTH_OK);
    assert_string_equal(run.username, DEMO_LOGIN);
    /* a login with a domain keeps its own realm */
    assert_int_equal(plain(s, P(PLAIN_RESP("", "alice@example.org", "s3cret")), &run), AUTH_OK);
    assert_int_equal(plain(s, P(PLAIN_RESP("", "bare", "bare-pw")), &run), AUTH_FAIL);
    auth_sess_free(s);
}

static void bare_login_without_realm_uses_the_server_name(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    (void)state;
    assert_int_equal(plain(s, P(PLAIN_RESP("", "demo", DEMO_PASS)), &run), AUTH_FAIL);
    /* saslpasswd2 -u mail.example.test -c bare */
    assert_int_equal(plain(s, P(PLAIN_RESP("", "bare", "bare-pw")), &run), AUTH_OK);
    assert_string_equal(run.username, "bare@" T_FQDN);
    auth_sess_free(s);
}

/* ---- canonical logins ---------------------------------------------------------------------- */

static void canonical_login_edges(void **state)
{
    char out[AUTH_LOGIN_MAX + 1], big[AUTH_LOGIN_MAX + 2];
    (void)state;
    assert_int_equal(auth_login_canonical("Bob", "Example.Test", out, sizeof(out)), 0);
    assert_string_equal(out, "bob@example.test");
    assert_int_equal(auth_login_canonical("b@x@y", "realm", out, sizeof(out)), 0);
    assert_string_equal(out, "b@x@y");                      /* has a realm: kept */
    assert_int_equal(auth_login_canonical("", "realm", out, sizeof(out)), -1);
    assert_int_equal(auth_login_canonical("a\x7f@x", "realm", out, sizeof(out)), -1);
    assert_int_equal(auth_login_canonical("a\t@x", "realm", out, sizeof(out)), -1);
    assert_int_equal(auth_login_canonical("caf\xc3\xa9@x", "realm", out, sizeof(out)), 0);
    memset(big, 'a', sizeof(big));
    big[AUTH_LOGIN_MAX - 2] = '\0';                      /* + "@r" = AUTH_LOGIN_MAX */
    assert_int_equal(auth_login_canonical(big, "r", out, sizeof(out)), 0);
    assert_int_equal(strlen(out), AUTH_LOGIN_MAX);
    assert_int_equal(auth_login_canonical(big, "rr", out, sizeof(out)), -1);
    assert_int_equal(auth_login_canonical("a@x", "r", out, 3), -1);  /* out too small */
}

/* PLAIN with resp[0..len) gives status st and the username user ("": none). */
static void plain_gives(struct auth_sess *s, const char *resp, size_t len, enum auth_status st,
                        const char *user)
{
    struct run run;
    assert_int_equal(plain(s, resp, len, &run), st);
    assert_string_equal(run.username, user);
}

static void bare_login_and_login_at_the_server_name_are_one_login(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    (void)state;
    plain_gives(s, P(PLAIN_RESP("", "bare", "bare-pw")), AUTH_OK, "bare@" T_FQDN);
    plain_gives(s, P(PLAIN_RESP("", "bare@" T_FQDN, "bare-pw")), AUTH_OK, "bare@" T_FQDN);
    /* a failure counts under the same login */
    plain_gives(s, P(PLAIN_RESP("", "bare", "wrong")), AUTH_FAIL, "bare@" T_FQDN);
    auth_sess_free(s);
}

static void logins_are_canonical_in_lower_case(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    (void)state;
    /* saslpasswd2 -u example.test -c Mixed: sasldb wants the exact case, but limits,
     * counters and ownership see one login */
    plain_gives(s, P(PLAIN_RESP("", "Mixed@example.test", "mixed-pw")), AUTH_OK,
                "mixed@example.test");
    plain_gives(s, P(PLAIN_RESP("", "mixed@example.test", "mixed-pw")), AUTH_FAIL,
                "mixed@example.test");
    plain_gives(s, P(PLAIN_RESP("", "DEMO@Example.Test", "wrong")), AUTH_FAIL, DEMO_LOGIN);
    auth_sess_free(s);
}

static void logins_with_control_characters_are_refused(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    (void)state;
    /* the password is right, but the name would inject lines into the spool envelope */
    plain_gives(s, P(PLAIN_RESP("", "ev\nil@example.test", "ctl-pw")), AUTH_FAIL, "");
    plain_gives(s, P(PLAIN_RESP("", "ct\001l@example.test", "ctl-pw")), AUTH_FAIL, "");
    plain_gives(s, P(PLAIN_RESP("", "no\rbody@example.test", "x")), AUTH_FAIL, "");
    auth_sess_free(s);
}

/* ---- LOGIN ---------------------------------------------------------------------------------- */

static void login_right_password_authenticates(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    (void)state;
    assert_int_equal(login(s, DEMO_LOGIN, DEMO_PASS, &run), AUTH_OK);
    assert_string_equal(run.username, DEMO_LOGIN);
    assert_int_equal(run.results, 3);
    auth_sess_free(s);
}

static void login_sends_the_usual_prompts(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    struct msg m[2] = { NO_IR, MSG(DEMO_LOGIN) };
    (void)state;
    assert_int_equal(exchange(s, "LOGIN", m, 1, &run), AUTH_MORE);
    assert_string_equal((char *)run.chal, "Username:");
    assert_int_equal(exchange(s, "LOGIN", m, 2, &run), AUTH_MORE);
    assert_string_equal((char *)run.chal, "Password:");
    auth_sess_reset(s);
    auth_sess_free(s);
}

static void login_wrong_empty_prefix_and_unknown_all_fail_alike(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run wrong, r;
    (void)state;
    assert_int_equal(login(s, DEMO_LOGIN, "wrong", &wrong), AUTH_FAIL);
    assert_int_equal(login(s, DEMO_LOGIN, "", &r), AUTH_FAIL);
    assert_int_equal(r.results, wrong.results);
    assert_int_equal(login(s, DEMO_LOGIN, "demo-pass", &r), AUTH_FAIL);
    assert_int_equal(login(s, "nobody@example.test", "wrong", &r), AUTH_FAIL);
    assert_int_equal(r.results, wrong.results);
    auth_sess_free(s);
}

static void login_with_an_initial_response_skips_the_username_prompt(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    struct msg m[2] = { MSG(DEMO_LOGIN), MSG(DEMO_PASS) };
    (void)state;
    assert_int_equal(exchange(s, "LOGIN", m, 2, &run), AUTH_OK);
    assert_int_equal(run.results, 2);
    auth_sess_free(s);
}

/* ---- CRAM-MD5 and SCRAM-SHA-256 with the Cyrus client ------------------------------------ */

static void cram_md5_right_wrong_and_unknown(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run, wrong;
    int crc;
    (void)state;
    assert_int_equal(client_exchange(s, "CRAM-MD5", DEMO_LOGIN, DEMO_PASS, &run, &crc), AUTH_OK);
    assert_string_equal(run.username, DEMO_LOGIN);
    assert_int_equal(client_exchange(s, "CRAM-MD5", DEMO_LOGIN, "wrong", &wrong, &crc),
                     AUTH_FAIL);
    assert_int_equal(client_exchange(s, "CRAM-MD5", DEMO_LOGIN, "demo-passwor", &run, &crc),
                     AUTH_FAIL);
    assert_int_equal(client_exchange(s, "CRAM-MD5", "nobody@example.test", "x", &run, &crc),
                     AUTH_FAIL);
    assert_int_equal(run.results, wrong.results);
    auth_sess_free(s);
}

static void cram_md5_works_before_tls_when_tls_is_optional(void **state)
{
    struct auth_sess *s = sess_new(&T.conf_notls, false);
    struct run run;
    int crc;
    (void)state;
    assert_int_equal(client_exchange(s, "CRAM-MD5", DEMO_LOGIN, DEMO_PASS, &run, &crc), AUTH_OK);
    auth_sess_free(s);
}

static void scram_sha_256_right_and_wrong(void **state)
{
    struct auth_sess *s;
    struct run run, wrong;
    int crc;
    (void)state;
    if (!T.have_scram)
        skip();
    s = sess_new(&T.conf, true);
    assert_int_equal(client_exchange(s, "SCRAM-SHA-256", DEMO_LOGIN, DEMO_PASS, &run, &crc),
                     AUTH_OK);
    assert_int_equal(crc, SASL_OK);
    assert_string_equal(run.username, DEMO_LOGIN);
    assert_int_equal(client_exchange(s, "SCRAM-SHA-256", DEMO_LOGIN, "wrong", &wrong, &crc),
                     AUTH_FAIL);
    assert_int_equal(client_exchange(s, "SCRAM-SHA-256", "nobody@example.test", "x", &run,
                                     &crc), AUTH_FAIL);
    assert_int_equal(run.results, wrong.results);      /* no early refusal */
    /* a second exchange on the same session starts afresh */
    assert_int_equal(client_exchange(s, "SCRAM-SHA-256", DEMO_LOGIN, DEMO_PASS, &run, &crc),
                     AUTH_OK);
    auth_sess_free(s);
}

/* The server-first-message of a SCRAM exchange: r=NONCE,s=SALT,i=N. */
static void scram_first(struct auth_sess *s, const char *client_first, struct run *run)
{
    struct msg m[1] = { { client_first, strlen(client_first) } };
    assert_int_equal(exchange(s, "SCRAM-SHA-256", m, 1, run), AUTH_MORE);
}

static void scram_unknown_user_gets_a_challenge_like_a_real_user(void **state)
{
    struct auth_sess *s;
    struct run real, fake, again;
    char final[256];
    const char *salt_real, *salt_fake;
    (void)state;
    if (!T.have_scram)
        skip();
    s = sess_new(&T.conf, true);
    scram_first(s, "n,,n=" DEMO_LOGIN ",r=cLiEnTnOnCe+/1", &real);
    scram_first(s, "n,,n=nobody@example.test,r=cLiEnTnOnCe+/1", &fake);
    assert_int_equal(strncmp((char *)real.chal, "r=cLiEnTnOnCe+/1", 16), 0);
    assert_int_equal(strncmp((char *)fake.chal, "r=cLiEnTnOnCe+/1", 16), 0);
    assert_int_equal(real.chal_len, fake.chal_len);
    salt_real = strstr((char *)real.chal, ",s=");
    salt_fake = strstr((char *)fake.chal, ",s=");
    assert_non_null(salt_real);
    assert_non_null(salt_fake);
    assert_int_equal(salt_real - (char *)real.chal, salt_fake - (char *)fake.chal);
    assert_string_equal(strstr((char *)real.chal, ",i="), strstr((char *)fake.chal, ",i="));
    /* the decoy salt of a login is stable, like a real one */
    scram_first(s, "n,,n=nobody@example.test,r=other", &again);
    assert_string_equal(strstr((char *)again.chal, ",s="), salt_fake);
    /* a client-final-message with a wrong proof fails both, one round later */
    snprintf(final, sizeof(final), "c=biws,%.*s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
             (int)(strchr((char *)again.chal, ',') - (char *)again.chal), (char *)again.chal);
    again.done = false;
    auth_sess_step(s, (const unsigned char *)final, strlen(final), on_result, &again);
    wait_run(&again);
    assert_int_equal(again.status, AUTH_FAIL);
    scram_first(s, "n,,n=" DEMO_LOGIN ",r=cLiEnTnOnCe+/1", &real);
    snprintf(final, sizeof(final), "c=biws,%.*s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
             (int)(strchr((char *)real.chal, ',') - (char *)real.chal), (char *)real.chal);
    real.done = false;
    auth_sess_step(s, (const unsigned char *)final, strlen(final), on_result, &real);
    wait_run(&real);
    assert_int_equal(real.status, AUTH_FAIL);
    auth_sess_free(s);
}

/* A session with TLS for the SCRAM tests, which are skipped when the plugin is missing. */
static struct auth_sess *scram_sess(void)
{
    if (!T.have_scram)
        skip();
    return sess_new(&T.conf, true);
}

/* A client-first-message for login with a client nonce of n characters. */
static char *scram_client_first(const char *login, size_t n)
{
    size_t head = strlen("n,,n=,r=") + strlen(login);
    char *m = malloc(head + n + 1);
    assert_non_null(m);
    snprintf(m, head + 1, "n,,n=%s,r=", login);
    memset(m + head, 'N', n);
    m[head + n] = '\0';
    return m;
}

/* The decoy answers every client-first-message Cyrus answers for a real user: any client
 * nonce that fits in a response gets the same status and a challenge of the same shape.
 * (Cyrus itself refuses client-first-messages over 2048 bytes, for everyone, before it
 * looks the user up: 2023 and 2024 are that edge with these 25-byte heads.) */
static void scram_long_client_nonce_gets_the_same_reply_for_known_and_unknown(void **state)
{
    static const size_t sizes[] = { 400, 487, 488, 600, 2000, 2023, 2024, AUTH_DATA_MAX - 64 };
    struct auth_sess *s = scram_sess();
    struct run real, fake;
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        /* logins of the same length, so that the messages are the same length too */
        char *known = scram_client_first(DEMO_LOGIN, sizes[i]);
        char *unknown = scram_client_first("nobo@example.test", sizes[i]);
        struct msg mk[1] = { { known, strlen(known) } }, mu[1] = { { unknown, strlen(unknown) } };
        assert_int_equal(strlen(known), strlen(unknown));
        exchange(s, "SCRAM-SHA-256", mk, 1, &real);
        exchange(s, "SCRAM-SHA-256", mu, 1, &fake);
        if (real.status != fake.status || real.chal_len != fake.chal_len)
            fail_msg("nonce of %zu: known user %s (%zu bytes), unknown user %s (%zu bytes)",
                     sizes[i], auth_status_name(real.status), real.chal_len,
                     auth_status_name(fake.status), fake.chal_len);
        if (real.status == AUTH_MORE)
            assert_int_equal(strstr((char *)real.chal, ",s=") - (char *)real.chal,
                             strstr((char *)fake.chal, ",s=") - (char *)fake.chal);
        else
            assert_int_equal(real.status, AUTH_BADPROT);
        free(known);
        free(unknown);
    }
    auth_sess_free(s);
}

/* The failure after a decoy names the login tried, like a wrong password does, so that
 * its counters (and the delay they bring) are the same for a login that does not exist. */
static void scram_decoy_failure_names_the_login_tried(void **state)
{
    struct auth_sess *s;
    struct run run;
    char final[256];
    (void)state;
    if (!T.have_scram)
        skip();
    s = sess_new(&T.conf, true);
    scram_first(s, "n,,n=Nobody@Example.test,r=abc", &run);
    snprintf(final, sizeof(final), "c=biws,%.*s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
             (int)(strchr((char *)run.chal, ',') - (char *)run.chal), (char *)run.chal);
    run.done = false;
    auth_sess_step(s, (const unsigned char *)final, strlen(final), on_result, &run);
    wait_run(&run);
    assert_int_equal(run.status, AUTH_FAIL);
    assert_string_equal(run.username, "nobody@example.test");
    auth_sess_free(s);
}

/* One SCRAM-SHA-256 exchange of a hand-made client-first-message (with %s for the login)
 * and, when the server answered it, a client-final-message (with %s for the nonce it
 * sent); run->status is the last answer. */
static void scram_pair(struct auth_sess *s, const char *first_fmt, const char *login,
                       const char *final_fmt, struct run *run)
{
    char first[256], final[512], nonce[256];
    struct msg m[1] = { { first, 0 } };
    const char *comma;

    snprintf(first, sizeof(first), first_fmt, login);
    m[0].len = strlen(first);
    if (exchange(s, "SCRAM-SHA-256", m, 1, run) != AUTH_MORE || final_fmt == NULL)
        return;
    comma = strchr((char *)run->chal, ',');
    assert_non_null(comma);
    snprintf(nonce, sizeof(nonce), "%.*s", (int)(comma - (char *)run->chal - 2),
             (char *)run->chal + 2);
    snprintf(final, sizeof(final), final_fmt, nonce);
    run->done = false;
    auth_sess_step(s, (const unsigned char *)final, strlen(final), on_result, run);
    wait_run(run);
}

/* Whatever the client sends, a login that does not exist gets the answers a real login
 * gets (with a wrong password): the same status at the same step. */
static void scram_unknown_user_is_answered_like_a_real_one_for_any_message(void **state)
{
#define PROOF "p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    static const struct { const char *first, *final; } cases[] = {
        { "n,,n=%s,r=", "c=biws,r=%s," PROOF },                   /* empty client nonce */
        { "n,,n=%s,r=a\001b c", "c=biws,r=%s," PROOF },           /* any bytes in it */
        { "n,,n=%s,r=abc,x=ext", "c=biws,r=%s," PROOF },          /* an extension */
        { "y,,n=%s,r=abc", "c=eSws,r=%s," PROOF },
        { "p=tls-unique,,n=%s,r=abc", "c=cD10bHMtdW5pcXVlLCw=,r=%s," PROOF },
        { "p=tls-unique,,n=%s,r=abc", "c=cD10bHMtdW5pcXVlLCx4eHg=,r=%s," PROOF },
        { "n,a=%s,n=x,r=abc", NULL },
        { "n,,n=%s,r=abc", "" },
        { "n,,n=%s,r=abc", "xyz" },
        { "n,,n=%s,r=abc", "c=biws" },
        { "n,,n=%s,r=abc", "c=b!ws,r=%s," PROOF },                /* bad base64 */
        { "n,,n=%s,r=abc", "c=biw,r=%s," PROOF },                 /* short base64 */
        { "n,,n=%s,r=abc", "c=eSws,r=%s," PROOF },                /* other GS2 header */
        { "n,,n=%s,r=abc", "c=biwsYWJj,r=%s," PROOF },            /* longer binding */
        { "n,,n=%s,r=abc", "c=biws,r=WRONG," PROOF },
        { "n,,n=%s,r=abc", "c=biws,r=%s" },
        { "n,,n=%s,r=abc", "c=biws,x=%s," PROOF },
        { "n,,n=%s,r=abc", "c=biws,r=%s,x=1" },
        { "n,,n=%s,r=abc", "c=biws,r=%s,x=1," PROOF },            /* extension before */
        { "n,,n=%s,r=abc", "c=biws,r=%s," PROOF ",x=1" },         /* data after proof */
        { "n,,n=%s,r=abc", "c=biws,r=%s,p=AAAA" },                /* short proof */
        { "n,,n=%s,r=abc", "c=biws,r=%s,p=!AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" },
        { "n,,n=%s,r=abc", "c=biws,r=%s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==" },
        { "n,,n=%s,r=abc", "c=biws,r=%s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=" },
        { "n,,n=%s,r=abc", "c=biws,r=%s," PROOF },                /* well formed */
        { "n,,n=%s,r=abc", "r=%s,c=biws," PROOF },
    };
    struct auth_sess *s = scram_sess();
    struct run real, fake;
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        scram_pair(s, cases[i].first, DEMO_LOGIN, cases[i].final, &real);
        scram_pair(s, cases[i].first, "nobo@example.test", cases[i].final, &fake);
        if (real.status != fake.status || real.results != fake.results)
            fail_msg("case %zu (%s / %s): known user %s after %d answers (%s), unknown user "
                     "%s after %d (%s)", i, cases[i].first, cases[i].final ? cases[i].final : "-",
                     auth_status_name(real.status), real.results, real.reason,
                     auth_status_name(fake.status), fake.results, fake.reason);
    }
    auth_sess_free(s);
#undef PROOF
}

static void scram_malformed_first_message_is_bad_protocol_for_anyone(void **state)
{
    struct auth_sess *s;
    struct run run;
    struct msg known[1] = { MSG("n,,n=" DEMO_LOGIN) }, unknown[1] = { MSG("n,,n=nobody@x") };
    (void)state;
    if (!T.have_scram)
        skip();
    s = sess_new(&T.conf, true);
    assert_int_equal(exchange(s, "SCRAM-SHA-256", known, 1, &run), AUTH_BADPROT);
    assert_int_equal(exchange(s, "SCRAM-SHA-256", unknown, 1, &run), AUTH_BADPROT);
    auth_sess_free(s);
}

static int decoy(const char *mech, const char *client_first, char *out, size_t size)
{
    static const unsigned char key[AUTH_DECOY_KEY_BYTES] = { 1 }, nonce[3] = { 'a', 'b', 'c' };
    return auth_decoy_scram(mech, (const unsigned char *)client_first, strlen(client_first),
                            key, sizeof(key), nonce, sizeof(nonce), 4096, out, size);
}

/* The decoy answers what Cyrus looks a user up for, no more and no less. */
static void decoy_parser_accepts_only_client_first_messages(void **state)
{
    static const char *const bad[] = {
        "", "n", "n,a", "n,,", "n,,n=", "n,,n=u", "n,,r=x,n=u", "x,,n=u,r=x",
        "n,z=1,n=u,r=x", "n,,n=u,s=x", "n,,m=x,n=u,r=x", "p,,n=u,r=x", "p=x", "n,a=z",
    };
    char out[256];
    size_t i;
    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (decoy("SCRAM-SHA-256", bad[i], out, sizeof(out)) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
    assert_int_equal(decoy("PLAIN", "n,,n=u,r=x", out, sizeof(out)), -1);
    assert_int_equal(decoy("SCRAM-SHA-256", "n,,n=u,r=x", out, 20), -1);
    assert_true(decoy("scram-sha-256", "n,,n=u,r=cn", out, sizeof(out)) > 0);
    assert_int_equal(strncmp(out, "r=cnYWJj,s=", 11), 0);         /* base64("abc") */
    assert_int_equal(strlen(strstr(out, ",s=")), strlen(",s=,i=4096") + 44);
    assert_true(decoy("SCRAM-SHA-1", "y,a=z,n=u,r=cn,e=ext", out, sizeof(out)) > 0);
    assert_int_equal(strlen(strstr(out, ",s=")), strlen(",s=,i=4096") + 28);
    assert_true(decoy("SCRAM-SHA-256", "p=tls-unique,,n=u,r=cn", out, sizeof(out)) > 0);
    /* an empty nonce and any bytes in it, as Cyrus takes them */
    assert_int_equal(decoy("SCRAM-SHA-256", "n,,n=u,r=", out, sizeof(out)),
                     (int)strlen("r=YWJj,s=,i=4096") + 44);
    assert_int_equal(strncmp(out, "r=YWJj,s=", 9), 0);
    assert_true(decoy("SCRAM-SHA-256", "n,,n=u,r=a\x01 b,x=1", out, sizeof(out)) > 0);
    assert_int_equal(strncmp(out, "r=a\x01 bYWJj,", 10), 0);
}

/* ---- cancellation and lifetimes ----------------------------------------------------------- */

static void client_cancel_then_a_new_exchange_works(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    struct msg m[2] = { NO_IR, MSG(DEMO_LOGIN) };
    (void)state;
    assert_int_equal(exchange(s, "LOGIN", m, 2, &run), AUTH_MORE);
    auth_sess_reset(s);                        /* the client sent "*" */
    memset(&run, 0, sizeof(run));
    auth_sess_step(s, (const unsigned char *)DEMO_PASS, strlen(DEMO_PASS), on_result, &run);
    wait_run(&run);
    assert_int_equal(run.status, AUTH_BADPROT); /* nothing to continue */
    assert_int_equal(login(s, DEMO_LOGIN, DEMO_PASS, &run), AUTH_OK);
    auth_sess_free(s);
}

static void step_without_an_exchange_is_bad_protocol(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    (void)state;
    memset(&run, 0, sizeof(run));
    auth_sess_step(s, (const unsigned char *)"x", 1, on_result, &run);
    wait_run(&run);
    assert_int_equal(run.status, AUTH_BADPROT);
    /* nor after a finished exchange */
    assert_int_equal(plain(s, P(PLAIN_RESP("", DEMO_LOGIN, "wrong")), &run), AUTH_FAIL);
    run.done = false;
    auth_sess_step(s, (const unsigned char *)"x", 1, on_result, &run);
    wait_run(&run);
    assert_int_equal(run.status, AUTH_BADPROT);
    auth_sess_free(s);
}

static void cancelled_op_never_calls_back_and_the_session_lives_on(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    struct auth_op *op;
    (void)state;
    memset(&run, 0, sizeof(run));
    op = auth_sess_start(s, "PLAIN", (const unsigned char *)PLAIN_RESP("", DEMO_LOGIN, DEMO_PASS),
                         sizeof(PLAIN_RESP("", DEMO_LOGIN, DEMO_PASS)) - 1, 1, on_result, &run);
    auth_op_cancel(op);
    loop_until(pool_idle, NULL);
    assert_int_equal(run.calls, 0);
    assert_int_equal(plain(s, P(PLAIN_RESP("", DEMO_LOGIN, DEMO_PASS)), &run), AUTH_OK);
    auth_op_cancel(NULL);
    auth_sess_free(s);
}

static void freeing_the_session_with_a_step_in_flight_is_deferred(void **state)
{
    struct run run[8];
    int i;
    (void)state;
    memset(run, 0, sizeof(run));
    for (i = 0; i < 8; i++) {
        struct auth_sess *s = sess_new(&T.conf, true);
        struct auth_op *op = auth_sess_start(
            s, "PLAIN", (const unsigned char *)PLAIN_RESP("", DEMO_LOGIN, DEMO_PASS),
            sizeof(PLAIN_RESP("", DEMO_LOGIN, DEMO_PASS)) - 1, 1, on_result, &run[i]);
        if (i % 2)
            auth_op_cancel(op);                /* the owner cancels first, or not */
        auth_sess_free(s);                     /* the worker may be inside Cyrus right now */
    }
    loop_until(pool_idle, NULL);
    for (i = 0; i < 8; i++)
        assert_int_equal(run[i].calls, 0);
}

static void the_callback_may_free_the_session(void **state)
{
    struct auth_sess *s = sess_new(&T.conf, true);
    struct run run;
    (void)state;
    memset(&run, 0, sizeof(run));
    run.free_in_cb = s;
    auth_sess_start(s, "PLAIN", (const unsigned char *)PLAIN_RESP("", DEMO_LOGIN, DEMO_PASS),
                    sizeof(PLAIN_RESP("", DEMO_LOGIN, DEMO_PASS)) - 1, 1, on_result, &run);
    wait_run(&run);
    assert_int_equal(run.status, AUTH_OK);
    assert_null(run.free_in_cb);
    auth_sess_free(NULL);
}

/* Many sessions at once on two workers: the Cyrus mutexes and the one-conn-per-thread
 * rule hold under load. */
#define PAR_SESSIONS 24
struct par {
    struct auth_sess *s;
    struct run run;
    bool good;
};

static bool all_done(void *arg)
{
    struct par *p = arg;
    int i;
    for (i = 0; i < PAR_SESSIONS; i++) {
        if (!p[i].run.done)
            return false;
    }
    return true;
}

static void concurrent_sessions_get_their_own_results(void **state)
{
    static struct par p[PAR_SESSIONS];
    int i, ok = 0;
    (void)state;
    for (i = 0; i < PAR_SESSIONS; i++) {
        const char *resp = i % 3 ? "\0" DEMO_LOGIN "\0" DEMO_PASS : "\0" DEMO_LOGIN "\0bad";
        size_t len = i % 3 ? sizeof("\0" DEMO_LOGIN "\0" DEMO_PASS) - 1
                           : sizeof("\0" DEMO_LOGIN "\0bad") - 1;
        memset(&p[i].run, 0, sizeof(p[i].run));
        p[i].good = i % 3 != 0;
        p[i].s = sess_new(&T.conf, true);
        auth_sess_start(p[i].s, "PLAIN", (const unsigned char *)resp, len, 1, on_result,
                        &p[i].run);
    }
    loop_until(all_done, p);
    for (i = 0; i < PAR_SESSIONS; i++) {
        assert_int_equal(p[i].run.status, p[i].good ? AUTH_OK : AUTH_FAIL);
        assert_int_equal(p[i].run.calls, 1);
        ok += p[i].run.status == AUTH_OK;
        auth_sess_free(p[i].s);
    }
    assert_int_equal(ok, PAR_SESSIONS - PAR_SESSIONS / 3);
}

/* ---- setup in a fresh process -------------------------------------------------------------- */

/* Run fn in a child whose SASL state is fresh (the parent's is torn down there).
 * Returns the child's exit status. */
static int in_child(int (*fn)(void))
{
    pid_t pid;
    int st;
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* only this thread exists in the child: a new loop and pool */
        sasl_server_teardown();
        sasl_client_done();
        T.base = event_base_new();
        T.wp = workpool_new(T.base, 1);
        _exit(fn());
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char plugdir[T_PATH_MAX];

/* With only the PLAIN and sasldb plugins installed, CRAM-MD5 is dropped. */
static int child_missing_plugin(void)
{
    struct auth_conf c;
    char *mechs[] = { "PLAIN", "CRAM-MD5" }, *only_cram[] = { "CRAM-MD5" };
    conf_init(&c);
    c.mechanisms.v = mechs;
    c.mechanisms.n = 2;
    setenv("SASL_PATH", plugdir, 1);
    if (sasl_server_setup(&c) != 0 || strcmp(sasl_server_mechanisms(), "PLAIN") != 0)
        return 1;
    sasl_server_teardown();
    c.mechanisms.v = only_cram;
    c.mechanisms.n = 1;
    return sasl_server_setup(&c) == -1 ? 0 : 2;
}

static void setup_drops_mechanisms_whose_plugin_is_missing(void **state)
{
    (void)state;
    snprintf(plugdir, sizeof(plugdir), "%s/plugins", T.dir);
    assert_int_equal(sh("mkdir -p '%s' && for p in libplain libsasldb; do "
                        "ln -sf /usr/lib/x86_64-linux-gnu/sasl2/$p.so* '%s'/; done",
                        plugdir, plugdir), 0);
    assert_int_equal(in_child(child_missing_plugin), 0);
}

/* saslauthd cannot serve CRAM-MD5; with its socket missing, PLAIN gets a temporary
 * failure (454), not a 535 that would make the user doubt a good password. */
static int child_saslauthd(void)
{
    struct auth_conf c;
    struct auth_sess *s;
    struct run run;
    char *mechs[] = { "PLAIN", "CRAM-MD5" };
    char sock[T_PATH_MAX];
    conf_init(&c);
    c.mechanisms.v = mechs;
    c.mechanisms.n = 2;
    c.pwcheck_method = AUTH_PWCHECK_SASLAUTHD;
    snprintf(sock, sizeof(sock), "%s/no-saslauthd/mux", T.dir);
    c.saslauthd_path = sock;
    if (sasl_server_setup(&c) != 0 || strcmp(sasl_server_mechanisms(), "PLAIN") != 0)
        return 1;
    s = auth_sess_new(T.wp, &c, T_FQDN, T_LOCAL, T_REMOTE);
    if (s == NULL || auth_sess_set_tls(s, T_SSF, NULL) != 0)
        return 2;
    plain(s, P(PLAIN_RESP("", DEMO_LOGIN, DEMO_PASS)), &run);
    auth_sess_free(s);
    sasl_server_teardown();
    fprintf(stderr, "saslauthd down: %s (%s)\n", auth_status_name(run.status), run.reason);
    return run.status == AUTH_TEMP ? 0 : 3;
}

static void saslauthd_drops_secret_mechanisms_and_is_temporary_when_down(void **state)
{
    (void)state;
    assert_int_equal(in_child(child_saslauthd), 0);
}

/* A sasldb that cannot be read: setup warns, and nobody gets in. */
static int child_missing_sasldb(void)
{
    struct auth_conf c;
    struct auth_sess *s;
    struct run run;
    char db[T_PATH_MAX];
    conf_init(&c);
    snprintf(db, sizeof(db), "%s/missing-sasldb2", T.dir);
    c.sasldb = db;
    if (sasl_server_setup(&c) != 0 || sasl_server_check_access() != -1)
        return 1;
    s = auth_sess_new(T.wp, &c, T_FQDN, T_LOCAL, T_REMOTE);
    if (s == NULL || auth_sess_set_tls(s, T_SSF, NULL) != 0)
        return 2;
    plain(s, P(PLAIN_RESP("", DEMO_LOGIN, DEMO_PASS)), &run);
    auth_sess_free(s);
    sasl_server_teardown();
    fprintf(stderr, "sasldb missing: %s (%s)\n", auth_status_name(run.status), run.reason);
    return run.status == AUTH_OK || run.status == AUTH_MORE ? 3 : 0;
}

static void unreadable_sasldb_is_reported_and_lets_nobody_in(void **state)
{
    (void)state;
    assert_int_equal(sasl_server_check_access(), 0);
    assert_int_equal(in_child(child_missing_sasldb), 0);
}

static void status_names_are_stable(void **state)
{
    (void)state;
    assert_string_equal(auth_status_name(AUTH_BADPROT), "badprot");
    assert_string_equal(auth_status_name(AUTH_OK), "ok");
}

static void ipport_is_formatted_for_cyrus(void **state)
{
    char buf[64];
    (void)state;
    auth_ipport(buf, sizeof(buf), "192.0.2.1", 25);
    assert_string_equal(buf, "192.0.2.1;25");
    auth_ipport(buf, sizeof(buf), "2001:db8::1", 587);
    assert_string_equal(buf, "2001:db8::1;587");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_mechanisms_before_tls_when_tls_is_required),
        cmocka_unit_test(mechanism_list_before_tls_has_no_plain_or_login),
        cmocka_unit_test(mechanism_list_after_tls_has_plain_and_login),
        cmocka_unit_test(plain_before_tls_is_refused_as_bad_mechanism),
        cmocka_unit_test(any_auth_before_tls_is_refused_when_tls_is_required),
        cmocka_unit_test(unknown_mechanisms_are_refused),
        cmocka_unit_test(plain_with_the_right_password_authenticates),
        cmocka_unit_test(plain_mechanism_name_is_case_insensitive),
        cmocka_unit_test(plain_without_initial_response_sends_an_empty_challenge),
        cmocka_unit_test(plain_empty_initial_response_is_not_an_absent_one),
        cmocka_unit_test(plain_wrong_password_fails),
        cmocka_unit_test(plain_empty_password_fails),
        cmocka_unit_test(plain_prefix_or_extension_of_the_password_fails),
        cmocka_unit_test(plain_unknown_user_fails_exactly_like_a_wrong_password),
        cmocka_unit_test(plain_authorization_as_another_user_fails),
        cmocka_unit_test(plain_malformed_responses_are_bad_protocol),
        cmocka_unit_test(over_long_responses_are_bad_protocol),
        cmocka_unit_test(login_made_with_at_domain_authenticates),
        cmocka_unit_test(saslpasswd2_reading_a_line_with_newline_drops_it),
        cmocka_unit_test(bare_login_uses_the_configured_realm),
        cmocka_unit_test(bare_login_without_realm_uses_the_server_name),
        cmocka_unit_test(canonical_login_edges),
        cmocka_unit_test(bare_login_and_login_at_the_server_name_are_one_login),
        cmocka_unit_test(logins_are_canonical_in_lower_case),
        cmocka_unit_test(logins_with_control_characters_are_refused),
        cmocka_unit_test(login_right_password_authenticates),
        cmocka_unit_test(login_sends_the_usual_prompts),
        cmocka_unit_test(login_wrong_empty_prefix_and_unknown_all_fail_alike),
        cmocka_unit_test(login_with_an_initial_response_skips_the_username_prompt),
        cmocka_unit_test(cram_md5_right_wrong_and_unknown),
        cmocka_unit_test(cram_md5_works_before_tls_when_tls_is_optional),
        cmocka_unit_test(scram_sha_256_right_and_wrong),
        cmocka_unit_test(scram_unknown_user_gets_a_challenge_like_a_real_user),
        cmocka_unit_test(scram_long_client_nonce_gets_the_same_reply_for_known_and_unknown),
        cmocka_unit_test(scram_decoy_failure_names_the_login_tried),
        cmocka_unit_test(scram_unknown_user_is_answered_like_a_real_one_for_any_message),
        cmocka_unit_test(scram_malformed_first_message_is_bad_protocol_for_anyone),
        cmocka_unit_test(decoy_parser_accepts_only_client_first_messages),
        cmocka_unit_test(client_cancel_then_a_new_exchange_works),
        cmocka_unit_test(step_without_an_exchange_is_bad_protocol),
        cmocka_unit_test(cancelled_op_never_calls_back_and_the_session_lives_on),
        cmocka_unit_test(freeing_the_session_with_a_step_in_flight_is_deferred),
        cmocka_unit_test(the_callback_may_free_the_session),
        cmocka_unit_test(concurrent_sessions_get_their_own_results),
        cmocka_unit_test(setup_drops_mechanisms_whose_plugin_is_missing),
        cmocka_unit_test(saslauthd_drops_secret_mechanisms_and_is_temporary_when_down),
        cmocka_unit_test(unreadable_sasldb_is_reported_and_lets_nobody_in),
        cmocka_unit_test(status_names_are_stable),
        cmocka_unit_test(ipport_is_formatted_for_cyrus),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
