/*
 * test_virus.c - the virus scanning path with the real scanner program: scan_client
 * starting build/postern-scan (found next to this test's directory) on a signature
 * database written here (EICAR built from two halves, a custom marker), and the virus
 * check in the policy engine on top of it.
 *
 *   scan client: results, the envelope offset, cancel, the per-scan timeout; SIGSEGV to
 *     the scanner mid-scan gives exactly the in-flight scans "unavailable", then it
 *     restarts; a changed database is swapped in with no failed scan during the swap
 *   check: inbound reject (554 5.7.1 Virus found: NAME) and the message.virus event,
 *     per-recipient actions (mark, delete, quarantine), submission always refuses, clean
 *     passes, scanner unavailable defers (451 4.3.0) with policy.check_unavailable,
 *     unscanned defers, role addresses and whitelisted senders are not bypassed
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "content/scan_client.h"
#include "content/virus_conf.h"
#include "lib/log.h"
#include "policy/engine.h"
#include "policy/outage.h"
#include "policy/user_store.h"
#include "tests/unit/engine_testharness.h"

static char scanner_path[PATH_MAX];
static char dir[] = "/tmp/test_virus.XXXXXX";
static char dbdir[256];
static char eicar[69];
static const char marker[] = "POSTERN-UNIT-MARKER-5d1e";

static const char envelope[] = "ENVELOPE 0123456789\n";

/* ---- files ------------------------------------------------------------------------------- */

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static char *hex(const char *s)
{
    static char buf[256];
    size_t i;

    for (i = 0; s[i] != '\0'; i++)
        sprintf(buf + 2 * i, "%02x", (unsigned char)s[i]);
    return buf;
}

/* A spooled message: envelope, then a mail whose body is body (repeated n times). Returns
 * an open descriptor. */
static int spool(const char *name, const char *body, size_t n)
{
    char path[512];
    FILE *f;
    size_t i;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(envelope, f);
    fputs("From: a@b.test\r\nTo: c@d.test\r\nSubject: t\r\n\r\n", f);
    for (i = 0; i < n; i++)
        fprintf(f, "%s\r\n", body);
    fclose(f);
    return open(path, O_RDONLY);
}

static off_t fsize(int fd)
{
    struct stat st;

    fstat(fd, &st);
    return st.st_size;
}

/* ---- the scan client ------------------------------------------------------------------- */

struct fx {
    struct event_base *base;
    struct scan_client *sc;
    struct virus_conf vc;
    /* the policy engine */
    struct pt_root cfg;
    struct outage *outages;
    struct workpool *pool;
    struct user_store *store;
    struct engine *e;
    struct engine_session *s;
    int unavailable_events, virus_events;
    char last_signature[128];
};
static struct fx *fx;

struct got {
    int n, want;
    enum scan_status st[64];
    char detail[64][128];
};

static void on_result(const struct scan_result *r, void *arg)
{
    struct got *g = arg;

    g->st[g->n] = r->status;
    snprintf(g->detail[g->n], sizeof(g->detail[0]), "%s", r->detail);
    g->n++;
}

static void spin_until(bool (*cond)(void *), void *arg, int seconds)
{
    struct timeval tick = { 0, 10000 };
    int i;

    for (i = 0; i < seconds * 100 && !cond(arg); i++) {
        event_base_loopexit(fx->base, &tick);
        event_base_dispatch(fx->base);
    }
    assert_true(cond(arg));
}

static bool is_available(void *arg)
{
    (void)arg;
    return scan_client_available(fx->sc);
}

static bool got_n(void *arg)
{
    struct got *g = arg;

    return g->n >= g->want;
}

static enum scan_status scan_one(int fd, struct got *g)
{
    g->n = 0;
    g->want = 1;
    assert_non_null(scan_submit(fx->sc, fd, strlen(envelope), (uint64_t)fsize(fd) - strlen(envelope),
                                on_result, g));
    spin_until(got_n, g, 30);
    return g->st[0];
}

static void write_db(bool with_marker)
{
    char path[512], text[1024];

    snprintf(path, sizeof(path), "%s/test.ndb", dbdir);
    snprintf(text, sizeof(text), "Unit.EICAR:0:*:%s\n", hex("EICAR-STANDARD-ANTIVIRUS-TEST-FILE"));
    write_file(path, text, strlen(text));
    if (with_marker) {
        snprintf(path, sizeof(path), "%s/marker.ndb", dbdir);
        snprintf(text, sizeof(text), "Unit.Marker:0:*:%s\n", hex(marker));
        write_file(path, text, strlen(text));
    }
}

static void on_event(void *arg, const char *type, json_t *data)
{
    struct fx *f = arg;

    if (strcmp(type, "policy.check_unavailable") == 0)
        f->unavailable_events++;
    if (strcmp(type, "message.virus") == 0) {
        f->virus_events++;
        snprintf(f->last_signature, sizeof(f->last_signature), "%s",
                 json_string_value(json_object_get(data, "signature")));
    }
    json_decref(data);
}

static int setup(void **state)
{
    struct conf_errors errs = { .file = "t", .out = stderr };
    char json[PATH_MAX + 512];

    (void)state;
    fx = calloc(1, sizeof(*fx));
    fx->base = event_base_new();
    fx->outages = outage_new(on_event, fx);
    fx->pool = workpool_new_bounded(fx->base, 1, 1);
    fx->store = user_store_memory_new(fx->base);
    snprintf(json, sizeof(json), "{\"scanner\": \"%s\", \"database\": \"%s\", "
             "\"restart_min\": \"50ms\", \"timeout\": \"20s\"}", scanner_path, dbdir);
    assert_int_equal(conf_load_buffer("t", json, strlen(json), &virus_conf_section, &fx->vc,
                                      &errs), 0);
    write_db(false);
    return 0;
}

static int teardown(void **state)
{
    char path[512];

    (void)state;
    if (fx->s != NULL)
        engine_session_free(fx->s);
    if (fx->e != NULL)
        engine_free(fx->e);
    pt_free(&fx->cfg);
    scan_client_free(fx->sc);
    conf_free(&virus_conf_section, &fx->vc);
    workpool_free(fx->pool);
    user_store_free(fx->store);
    outage_free(fx->outages);
    event_base_free(fx->base);
    free(fx);
    snprintf(path, sizeof(path), "%s/marker.ndb", dbdir);
    unlink(path);
    return 0;
}

static void start_scanner(void)
{
    struct scan_client_opts o = { .no_cache = true };

    fx->sc = scan_client_new(fx->base, &fx->vc, &o, NULL, NULL);
    assert_non_null(fx->sc);
    spin_until(is_available, NULL, 30);
}

static void results_offset_and_cancel(void **state)
{
    struct got g = { 0 };
    int fv, fc;

    (void)state;
    start_scanner();
    fv = spool("v.eml", eicar, 1);
    fc = spool("c.eml", "hello world", 10);
    assert_int_equal(scan_one(fv, &g), SCAN_VIRUS);
    assert_string_equal(g.detail[0], "Unit.EICAR.UNOFFICIAL");
    assert_int_equal(scan_one(fc, &g), SCAN_CLEAN);
    /* cancelled: no callback, and the client goes on */
    g.n = 0;
    scan_cancel(scan_submit(fx->sc, fv, 0, (uint64_t)fsize(fv), on_result, &g));
    assert_int_equal(scan_client_inflight(fx->sc), 0);
    assert_int_equal(scan_one(fc, &g), SCAN_CLEAN);
    assert_int_equal(g.n, 1);
    close(fv);
    close(fc);
}

static void sigsegv_mid_scan_fails_exactly_the_inflight_scans(void **state)
{
    struct got g = { 0 }, after = { 0 };
    int big, fv, i;
    pid_t pid;

    (void)state;
    start_scanner();
    fv = spool("v.eml", eicar, 1);
    /* ~16 MB of text: each scan takes long enough to be in flight at the kill */
    big = spool("big.eml", "The quick brown fox jumps over the lazy dog 0123456789 0123456789",
                250000);
    assert_int_equal(scan_one(fv, &after), SCAN_VIRUS);   /* answered before: unaffected */
    g.want = 5;
    for (i = 0; i < 5; i++)
        assert_non_null(scan_submit(fx->sc, big, strlen(envelope),
                                    (uint64_t)fsize(big) - strlen(envelope), on_result, &g));
    assert_int_equal(scan_client_inflight(fx->sc), 5);
    pid = scan_client_pid(fx->sc);
    assert_true(pid > 0);
    assert_int_equal(kill(pid, SIGSEGV), 0);
    spin_until(got_n, &g, 30);
    assert_int_equal(g.n, 5);
    for (i = 0; i < 5; i++) {
        assert_int_equal(g.st[i], SCAN_UNAVAILABLE);
        assert_string_equal(g.detail[i], "scanner died");
    }
    assert_int_equal(after.n, 1);                       /* no second callback */
    assert_false(scan_client_available(fx->sc));
    assert_null(scan_submit(fx->sc, fv, 0, 10, on_result, &g));   /* refused while down */
    spin_until(is_available, NULL, 30);                 /* restarted */
    assert_int_equal(scan_client_restarts(fx->sc), 1);
    assert_true(scan_client_pid(fx->sc) != pid);
    assert_int_equal(scan_one(fv, &after), SCAN_VIRUS);
    close(fv);
    close(big);
}

/* The running scanner is confined: seccomp filter mode, no_new_privs, no capabilities. */
static void scanner_is_confined(void **state)
{
    char path[64], line[256];
    bool seccomp = false, nnp = false, nocaps = false;
    FILE *f;

    (void)state;
    start_scanner();
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)scan_client_pid(fx->sc));
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strcmp(line, "Seccomp:\t2\n") == 0)
            seccomp = true;
        if (strcmp(line, "NoNewPrivs:\t1\n") == 0)
            nnp = true;
        if (strcmp(line, "CapEff:\t0000000000000000\n") == 0)
            nocaps = true;
    }
    fclose(f);
    assert_true(seccomp);
    assert_true(nnp);
    assert_true(nocaps);
}

static void a_scan_without_reply_times_out(void **state)
{
    struct got g = { 0 };
    int big;

    (void)state;
    fx->vc.timeout_ms = 1;                 /* below any real scan of 16 MB */
    start_scanner();
    big = spool("big.eml", "The quick brown fox jumps over the lazy dog 0123456789 0123456789",
                250000);
    g.want = 1;
    assert_non_null(scan_submit(fx->sc, big, 0, (uint64_t)fsize(big), on_result, &g));
    spin_until(got_n, &g, 30);
    assert_int_equal(g.st[0], SCAN_UNAVAILABLE);
    assert_string_equal(g.detail[0], "timeout");
    assert_int_equal(scan_client_inflight(fx->sc), 0);
    close(big);
}

static bool two_engines(void *arg)
{
    (void)arg;
    return scan_client_engines(fx->sc) >= 2;
}

static void reload_swaps_without_failed_scans(void **state)
{
    struct got g = { 0 };
    int fm, fv, rounds = 0;

    (void)state;
    start_scanner();
    fm = spool("m.eml", marker, 1);
    fv = spool("v.eml", eicar, 1);
    assert_int_equal(scan_one(fm, &g), SCAN_CLEAN);     /* not in the database yet */
    write_db(true);
    scan_client_reload(fx->sc);
    while (!two_engines(NULL) && rounds++ < 3000)       /* scans go on during the swap */
        assert_int_equal(scan_one(fv, &g), SCAN_VIRUS);
    assert_true(two_engines(NULL));
    assert_true(scan_client_available(fx->sc));
    assert_int_equal(scan_one(fm, &g), SCAN_VIRUS);
    assert_string_equal(g.detail[0], "Unit.Marker.UNOFFICIAL");
    assert_int_equal(scan_one(fv, &g), SCAN_VIRUS);
    close(fm);
    close(fv);
}

/* ---- the check in the engine --------------------------------------------------------------- */

static void start_engine(const char *profile, bool with_scanner)
{
    char *json = NULL;
    struct engine_env env = {
        .base = fx->base, .check_pool = fx->pool, .outages = fx->outages,
        .hostname = "mx.test", .event = on_event, .event_arg = fx,
        .scanner = with_scanner ? fx->sc : NULL,
    };

    assert_true(asprintf(&json,
        "{\"relay\": {\"local_domains\": [\"a.test\", \"mark.test\", \"del.test\", \"q.test\"]},"
        " \"domains\": {\"mark.test\": {\"virus_action\": \"mark\"},"
        "   \"del.test\": {\"virus_action\": \"delete\"},"
        "   \"q.test\": {\"virus_action\": \"quarantine\"},"
        "   \"a.test\": {\"whitelist\": [\"@friend.test\"]}},"
        " \"policy\": {\"profiles\": {\"p\": %s}}}", profile) > 0);
    fx->e = eh_engine_new(json, &fx->cfg, &env, fx->store);
    free(json);
    fx->s = engine_session_new(fx->e, engine_profile_find(fx->e, "p"), "mx", "192.0.2.10");
}

static void run(enum engine_stage st)
{
    eh_run(fx->base, fx->s, st);
}

/* One transaction from sender to rcpts, message fd; returns the END reply text or NULL. */
static const char *deliver(const char *sender, const char *const *rcpts, int fd)
{
    struct engine_message m = { .fd = fd, .offset = strlen(envelope),
                                .size = (unsigned long long)fsize(fd) - strlen(envelope) };
    const struct engine_reply *r;

    engine_tx_begin(fx->s, sender, "QID1");
    run(STAGE_MAIL);
    for (; *rcpts != NULL; rcpts++)
        engine_rcpt_add(fx->s, *rcpts);
    run(STAGE_RCPT);
    run(STAGE_DATA);
    engine_set_message(fx->s, &m);
    run(STAGE_END);
    static char buf[600];

    r = engine_reply(fx->s);
    if (r == NULL || r->code == 0)
        return NULL;
    snprintf(buf, sizeof(buf), "%d %s %s", r->code, r->ecode, r->text);
    return buf;
}

static bool has_symbol(size_t i, const char *name)
{
    const struct rcpt_result *r = engine_result(fx->s, i);
    size_t k;

    for (k = 0; r != NULL && k < r->nsyms; k++)
        if (strcmp(r->syms[k].name, name) == 0)
            return true;
    return false;
}

#define VIRUS_PROFILE "{\"checks\": {\"virus\": {}}}"

static void check_inbound_virus_is_refused_with_event(void **state)
{
    static const char *const rc[] = { "postmaster@a.test", NULL };
    const char *reply;
    int fv;

    (void)state;
    start_scanner();
    start_engine(VIRUS_PROFILE, true);
    fv = spool("v.eml", eicar, 1);
    /* a whitelisted sender to a role address: neither bypasses the virus check */
    reply = deliver("x@friend.test", rc, fv);
    assert_non_null(reply);
    assert_non_null(strstr(reply, "554 5.7.1 Virus found: Unit.EICAR.UNOFFICIAL"));
    assert_int_equal(fx->virus_events, 1);
    assert_string_equal(fx->last_signature, "Unit.EICAR.UNOFFICIAL");
    close(fv);
}

static void check_clean_passes_and_actions_apply(void **state)
{
    static const char *const one[] = { "u@a.test", NULL };
    static const char *const mixed[] = { "u@mark.test", "u@del.test", "u@q.test", NULL };
    const struct rcpt_result *r;
    int fv, fc;

    (void)state;
    start_scanner();
    start_engine(VIRUS_PROFILE, true);
    fc = spool("c.eml", "hello", 3);
    fv = spool("v.eml", eicar, 1);
    assert_null(deliver("s@sender.test", one, fc));
    engine_tx_end(fx->s);
    assert_null(deliver("s@sender.test", mixed, fv));    /* accepted: no one rejects */
    assert_true(has_symbol(0, "VIRUS_FOUND"));
    r = engine_result(fx->s, 0);
    assert_non_null(r);
    assert_int_equal(r->nadd, 1);
    assert_string_equal(r->add_headers[0], "X-Virus-Status: Infected Unit.EICAR.UNOFFICIAL");
    assert_int_equal(engine_result(fx->s, 1)->disp, DISP_DISCARD);
    assert_int_equal(engine_result(fx->s, 2)->disp, DISP_QUARANTINE);
    close(fv);
    close(fc);
}

static void check_submission_always_refuses(void **state)
{
    static const char *const rc[] = { "u@mark.test", "x@elsewhere.test", NULL };
    const char *reply;
    int fv;

    (void)state;
    start_scanner();
    start_engine("{\"direction\": \"submission\", \"checks\": {\"virus\": {}}}", true);
    engine_session_set_login(fx->s, "user@a.test");
    fv = spool("v.eml", eicar, 1);
    reply = deliver("user@a.test", rc, fv);
    assert_non_null(reply);
    assert_non_null(strstr(reply, "554 5.7.1 Virus found: Unit.EICAR.UNOFFICIAL"));
    close(fv);
}

static void check_unavailable_scanner_defers(void **state)
{
    static const char *const rc[] = { "u@a.test", NULL };
    const char *reply;
    int fv;

    (void)state;
    start_scanner();
    start_engine(VIRUS_PROFILE, true);
    fv = spool("v.eml", eicar, 1);
    kill(scan_client_pid(fx->sc), SIGKILL);
    while (scan_client_available(fx->sc))
        event_base_loop(fx->base, EVLOOP_ONCE);
    reply = deliver("s@sender.test", rc, fv);
    assert_non_null(reply);
    assert_non_null(strstr(reply, "451 4.3.0"));
    assert_true(has_symbol(0, "VIRUS_UNAVAILABLE") || engine_result(fx->s, 0) == NULL);
    assert_int_equal(fx->unavailable_events, 1);
    close(fv);
}

static void check_unscanned_defers(void **state)
{
    static const char *const rc[] = { "u@a.test", NULL };
    const char *reply;
    int big;

    (void)state;
    fx->vc.max_filesize = 4096;                        /* the message is larger */
    start_scanner();
    start_engine(VIRUS_PROFILE, true);
    big = spool("big.eml", "harmless text harmless text harmless text", 1000);
    reply = deliver("s@sender.test", rc, big);
    assert_non_null(reply);
    assert_non_null(strstr(reply, "451 4.3.0"));
    assert_int_equal(fx->virus_events, 0);
    close(big);
}

static void check_off_without_scanner(void **state)
{
    static const char *const rc[] = { "u@a.test", NULL };
    int fv;

    (void)state;
    start_engine(VIRUS_PROFILE, false);                /* virus.enabled: false */
    fv = spool("v.eml", eicar, 1);
    assert_null(deliver("s@sender.test", rc, fv));
    close(fv);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(results_offset_and_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(sigsegv_mid_scan_fails_exactly_the_inflight_scans,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(reload_swaps_without_failed_scans, setup, teardown),
        cmocka_unit_test_setup_teardown(scanner_is_confined, setup, teardown),
        cmocka_unit_test_setup_teardown(a_scan_without_reply_times_out, setup, teardown),
        cmocka_unit_test_setup_teardown(check_inbound_virus_is_refused_with_event, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(check_clean_passes_and_actions_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(check_submission_always_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(check_unavailable_scanner_defers, setup, teardown),
        cmocka_unit_test_setup_teardown(check_unscanned_defers, setup, teardown),
        cmocka_unit_test_setup_teardown(check_off_without_scanner, setup, teardown),
    };
    char self[PATH_MAX], cmd[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    int rc;

    (void)argc;
    (void)argv;
    assert_true(n > 0);
    self[n] = '\0';
    /* BUILD/tests/test_virus -> BUILD/postern-scan */
    snprintf(scanner_path, sizeof(scanner_path), "%s/postern-scan", dirname(dirname(self)));
    if (access(scanner_path, X_OK) != 0) {
        fprintf(stderr, "test_virus: %s missing (make all-tests)\n", scanner_path);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    log_init("test_virus", LOG_TO_STDERR, 0);
    snprintf(eicar, sizeof(eicar), "%s%s", "X5O!P%@AP[4\\PZX54(P^)7CC)7}$",
             "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");
    if (mkdtemp(dir) == NULL)
        return 1;
    snprintf(dbdir, sizeof(dbdir), "%s/db", dir);
    mkdir(dbdir, 0700);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
