/*
 * posternctl_check.c - `posternctl check`: one message through a profile's policy checks,
 * offline, with the daemon's own engine (policy/engine.h built by config_engine_new, as
 * config_activate builds it), and the real resolver, Redis and virus scanner when the
 * config names them. Nothing is queued and nothing is delivered.
 *
 * It plays the SMTP dialogue the engine sees (CONNECT, HELO, AUTH, MAIL, one RCPT batch,
 * DATA, END) and prints, in order:
 *   STAGE: REPLY                      the reply the daemon would give at each stage
 *   rcpt <ADDR>: REPLY                each recipient's answer at RCPT
 *   rcpt <ADDR>: symbols=...          the symbols behind a recipient's refusal (end:
 *                                     behind the message's)
 *   result <ADDR>: action=... score=S/R level=L symbols=NAME(score),...
 *   header <ADDR>: X-Spam-...         the header fields its copy would get
 *   symbol NAME score [text]          every symbol of each accepted recipient, with detail
 *   fact KEY = JSON                   the session's and transaction's facts
 *   event TYPE JSON                   events the checks raised (webhooks)
 * Checks that keep state in Redis do what a real attempt would do (a rate-limit unit is
 * spent, a greylisting triplet is recorded); --skip leaves named checks out, --no-redis
 * runs without Redis (those checks then follow their unsure rule). Redis is used when the
 * daemon would use it (relay_conf_needs_redis).
 * Exit: 0 accepted for at least one recipient, 1 refused or deferred, 64 usage, 66 the
 * message cannot be read, 69 a service cannot start, 78 bad configuration or profile.
 */
#include "tools/posternctl_check.h"

#include "auth/sender_owner.h"
#include "content/scan_client.h"
#include "lib/dns.h"
#include "lib/redis.h"
#include "lib/smtp_parse.h"
#include "lib/workpool.h"
#include "lib/xalloc.h"
#include "policy/engine.h"
#include "policy/outage.h"
#include "policy/spam_report.h"
#include "policy/user_store.h"
#include "relay/relay_conf.h"

#include <errno.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <unistd.h>

#define CHECK_MSG_MAX     (64u << 20)   /* largest message file read */
#define CHECK_HEAD_MAX    (64 * 1024)   /* header bytes given to END checks (as smtpd) */
#define CHECK_RCPT_MAX    1000
#define CHECK_REDIS_WAIT_MS 2000        /* how long to wait for Redis to answer at start */
#define CHECK_SCANNER_WAIT_MS 60000     /* ... and for the virus scanner to load its database */
#define CHECK_EXIT_REFUSED 1

struct check_run {
    struct event_base *base;
    struct dns *dns;
    struct redis *redis;
    struct user_store *store;
    struct workpool *pool;
    struct outage *outages;
    struct scan_client *scanner;
    struct engine *engine;
    struct engine_session *s;
    bool done;
    int scanner_state;                  /* 0 unknown, 1 available, -1 not */
};

struct check_args {
    const char *profile, *client, *helo, *login, *from, *path;
    const char *rcpt[CHECK_RCPT_MAX];
    size_t nrcpt;
    const char *skip;
    bool no_redis;
};

static void on_event(void *arg, const char *type, json_t *data)
{
    char *text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);

    (void)arg;
    printf("event %s %s\n", type, text ? text : "{}");
    free(text);
    json_decref(data);
}

static void stage_done(void *arg)
{
    ((struct check_run *)arg)->done = true;
}

/* Run a stage to its end on the private loop. */
static void run_stage(struct check_run *run, enum engine_stage stage)
{
    run->done = false;
    if (engine_run(run->s, stage, stage_done, run) == ENGINE_DONE)
        return;
    while (!run->done)
        event_base_loop(run->base, EVLOOP_ONCE);
}

static void print_reply(const char *what, const struct engine_reply *r, int ok_code,
                        const char *ok_text)
{
    if (r == NULL || r->code == 0)
        printf("%s: %d %s\n", what, ok_code, ok_text);
    else
        printf("%s: %d %s %s (check %s%s%s)%s\n", what, r->code, r->ecode, r->text,
               r->check ? r->check : "policy", r->reason ? ", reason " : "",
               r->reason ? r->reason : "", r->disconnect ? " and disconnect" : "");
}

/* A stage's reply; true when the dialogue goes on. */
static bool stage_reply(struct check_run *run, const char *what, int ok_code,
                        const char *ok_text)
{
    const struct engine_reply *r = engine_reply(run->s);

    print_reply(what, r, ok_code, ok_text);
    return r == NULL || r->code == 0 || (r->code < 400);
}

/* The message file with every bare LF made CRLF, as the daemon stores mail, in an
 * unlinked temporary file. -1 after a message on stderr. */
static int message_file(const char *path, unsigned long long *size)
{
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    FILE *out;
    char tmpl[] = "/tmp/posternctl-check.XXXXXX";
    int fd, c, prev = 0;
    unsigned long long n = 0;

    if (in == NULL) {
        fprintf(stderr, "posternctl: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    fd = mkstemp(tmpl);
    if (fd < 0 || (out = fdopen(dup(fd), "wb")) == NULL) {
        fprintf(stderr, "posternctl: cannot make a temporary file: %s\n", strerror(errno));
        if (fd >= 0)
            close(fd);
        if (in != stdin)
            fclose(in);
        return -1;
    }
    unlink(tmpl);
    while ((c = getc(in)) != EOF && n < CHECK_MSG_MAX) {
        if (c == '\n' && prev != '\r') {
            putc('\r', out);
            n++;
        }
        putc(c, out);
        n++;
        prev = c;
    }
    if (prev != '\n' && n > 0) {
        fputs("\r\n", out);
        n += 2;
    }
    if (in != stdin)
        fclose(in);
    if (fclose(out) != 0) {
        fprintf(stderr, "posternctl: cannot write a temporary file: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    *size = n;
    return fd;
}

/* The facts smtpd gives END checks from the header: message.from_count and
 * message.from (the address of the only From:). */
static void header_facts(struct engine_session *s, const char *head, size_t len)
{
    const char *p = head, *end = head + len, *value = NULL;
    size_t vlen = 0;
    int count = 0;
    char addr[SMTP_ADDR_MAX + 1];

    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        const char *next = eol ? eol + 2 : end;
        if (len > 0 && (size_t)(end - p) >= 5 && strncasecmp(p, "From:", 5) == 0) {
            const char *v = p + 5, *q = next;
            count++;
            while (q < end && (*q == ' ' || *q == '\t')) {   /* folded lines */
                const char *e2 = memmem(q, (size_t)(end - q), "\r\n", 2);
                q = e2 ? e2 + 2 : end;
            }
            value = v;
            vlen = (size_t)(q - v);
            next = q;
        }
        p = next;
    }
    engine_fact_set(s, FACT_TX, "message.from_count", json_integer(count));
    if (count == 1 && sender_from_address(value, vlen, addr, sizeof(addr)) == SENDER_FROM_OK)
        engine_fact_set(s, FACT_TX, "message.from", json_string(addr));
}

static void print_symbols(const char *prefix, json_t *syms)
{
    const char *k;
    json_t *v;
    bool first = true;

    printf("%s: symbols=", prefix);
    json_object_foreach(syms, k, v) {
        printf("%s%s(%.2f)", first ? "" : ",", k, json_number_value(v));
        first = false;
    }
    printf("%s\n", first ? "none" : "");
}

static void print_result(struct check_run *run, size_t i)
{
    const struct rcpt_result *r = engine_result(run->s, i);
    const char *addr = engine_result_addr(run->s, i);
    char *line = spam_log_format(NULL, r, NULL), *h, *p, *nl, *text;
    size_t k;

    text = strstr(line, "action=");    /* after the queue ID of the log line */
    printf("result <%s>: %s\n", addr, text ? text : line);
    free(line);
    h = spam_headers_format(r);
    for (p = h; p != NULL && *p != '\0'; p = nl) {
        nl = strstr(p, "\r\n");
        if (nl == NULL)
            nl = p + strlen(p);
        if (*p == ' ' || *p == '\t')
            printf("    %.*s\n", (int)(nl - p), p);    /* a folded line */
        else
            printf("header <%s>: %.*s\n", addr, (int)(nl - p), p);
        if (*nl != '\0')
            nl += 2;
    }
    free(h);
    for (k = 0; k < r->nadd; k++)
        printf("header <%s>: %s\n", addr, r->add_headers[k]);
    for (k = 0; k < r->nsyms; k++)
        printf("symbol <%s>: %s %.2f%s%s\n", addr, r->syms[k].name, r->syms[k].score,
               r->syms[k].text ? " " : "", r->syms[k].text ? r->syms[k].text : "");
}

static void print_facts(struct check_run *run)
{
    json_t *facts = engine_facts(run->s), *v;
    const char *k;

    json_object_foreach(facts, k, v) {
        char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        printf("fact %s = %s\n", k, text ? text : "null");
        free(text);
    }
    json_decref(facts);
}

/* The dialogue. Returns the exit code. */
static int dialogue(struct check_run *run, const struct check_args *a,
                    const struct engine_profile *p)
{
    size_t i, accepted;
    unsigned long long size = 0;
    struct engine_message m = { .fd = -1 };
    char *head = NULL;
    int rc = CHECK_EXIT_REFUSED;
    bool go;

    run->s = engine_session_new(run->engine, p, "check", a->client);
    engine_session_set_tls(run->s, a->login != NULL);
    engine_fact_set(run->s, FACT_SESSION, "smtpd.auth",
                    json_string(a->login ? "required" : "off"));
    engine_fact_set(run->s, FACT_SESSION, "smtpd.early_talk", json_false());
    run_stage(run, STAGE_CONNECT);
    if (!stage_reply(run, "connect", 220, "(greeting)"))
        goto out;
    if (a->helo != NULL) {
        engine_session_set_helo(run->s, a->helo);
        run_stage(run, STAGE_HELO);
        if (!stage_reply(run, "helo", 250, "Ok"))
            goto out;
    }
    if (a->login != NULL) {
        engine_session_set_login(run->s, a->login);
        run_stage(run, STAGE_AUTH);
        if (!stage_reply(run, "auth", 235, "2.7.0 Authentication successful"))
            goto out;
    }
    engine_tx_begin(run->s, a->from, "");
    run_stage(run, STAGE_MAIL);
    if (!stage_reply(run, "mail", 250, "2.1.0 Ok"))
        goto out;
    for (i = 0; i < a->nrcpt; i++)
        engine_rcpt_add(run->s, a->rcpt[i]);
    run_stage(run, STAGE_RCPT);
    for (i = 0; i < a->nrcpt; i++) {
        const struct engine_reply *r = engine_rcpt_reply(run->s, i);
        char what[600];
        snprintf(what, sizeof(what), "rcpt <%s>", a->rcpt[i]);
        print_reply(what, r, 250, "2.1.5 Ok");
        if (r != NULL && r->code != 0) {
            json_t *syms = engine_refusal_symbols(run->s, i);
            print_symbols(what, syms);
            json_decref(syms);
        }
    }
    if (engine_accepted(run->s) == 0) {
        printf("data: 554 5.5.1 Error: no valid recipients\n");
        goto out;
    }
    run_stage(run, STAGE_DATA);
    if (!stage_reply(run, "data", 354, "End data with <CR><LF>.<CR><LF>"))
        goto out;
    m.fd = message_file(a->path, &size);
    if (m.fd < 0) {
        rc = EX_NOINPUT;
        goto out;
    }
    m.size = size;
    if (engine_profile_needs_header(p)) {
        size_t want = size < CHECK_HEAD_MAX ? (size_t)size : CHECK_HEAD_MAX;
        ssize_t got;
        const char *eoh;
        head = xmalloc(want + 1);
        got = pread(m.fd, head, want, 0);
        head[got > 0 ? got : 0] = '\0';
        eoh = got > 0 ? memmem(head, (size_t)got, "\r\n\r\n", 4) : NULL;
        m.head = head;
        m.head_len = eoh ? (size_t)(eoh - head) + 2 : (size_t)(got > 0 ? got : 0);
        header_facts(run->s, head, m.head_len);
    } else {
        char buf[CHECK_HEAD_MAX + 1];
        ssize_t got = pread(m.fd, buf, CHECK_HEAD_MAX, 0);
        const char *eoh;
        buf[got > 0 ? got : 0] = '\0';
        eoh = got > 0 ? memmem(buf, (size_t)got, "\r\n\r\n", 4) : NULL;
        header_facts(run->s, buf, eoh ? (size_t)(eoh - buf) + 2 : (size_t)(got > 0 ? got : 0));
    }
    engine_set_message(run->s, &m);
    run_stage(run, STAGE_END);
    {
        char ok[ENGINE_TEXT_MAX + 64];
        snprintf(ok, sizeof(ok), "2.0.0 Ok: queued as (not queued: posternctl check)%s",
                 engine_note(run->s));
        go = stage_reply(run, "end", 250, ok);
    }
    if (!go) {
        json_t *syms = engine_refusal_symbols(run->s, ENGINE_MESSAGE);
        print_symbols("end", syms);
        json_decref(syms);
    } else {
        rc = EX_OK;
        accepted = engine_accepted(run->s);
        for (i = 0; i < accepted; i++)
            if (engine_result(run->s, i) != NULL)
                print_result(run, i);
    }
out:
    print_facts(run);
    if (m.fd >= 0)
        close(m.fd);
    free(head);
    return rc;
}

/* Leave the checks named in skip (comma-separated) out of profile pc: they are moved
 * past the array's end, and *n_saved keeps the real count for restore. */
static size_t skip_checks(struct profile_conf *pc, const char *skip)
{
    struct conf_named *ck = pc->checks.items, tmp;
    size_t n = pc->checks.n, saved = n, i = 0;

    while (skip != NULL && i < n) {
        const char *q = skip;
        bool hit = false;
        size_t len = strlen(ck[i].name);
        while (*q) {
            const char *comma = strchr(q, ',');
            size_t l = comma ? (size_t)(comma - q) : strlen(q);
            if (l == len && strncmp(q, ck[i].name, l) == 0)
                hit = true;
            q += l + (comma ? 1 : 0);
        }
        if (hit) {
            tmp = ck[i];
            ck[i] = ck[n - 1];
            ck[n - 1] = tmp;
            n--;
        } else {
            i++;
        }
    }
    pc->checks.n = n;
    return saved;
}

static void on_scanner(bool available, const char *why, void *arg)
{
    struct check_run *run = arg;

    run->scanner_state = available ? 1 : -1;
    if (!available)
        fprintf(stderr, "posternctl: the virus scanner is not available: %s\n", why);
}

static void wait_for_scanner(struct check_run *run)
{
    int i;

    for (i = 0; i < CHECK_SCANNER_WAIT_MS / 10 && run->scanner_state == 0; i++) {
        struct timeval tv = { 0, 10000 };
        event_base_loopexit(run->base, &tv);
        event_base_dispatch(run->base);
    }
}

static void wait_for_redis(struct check_run *run)
{
    int i;

    for (i = 0; i < CHECK_REDIS_WAIT_MS / 10 && redis_state(run->redis) != REDIS_STATE_UP; i++) {
        struct timeval tv = { 0, 10000 };
        event_base_loopexit(run->base, &tv);
        event_base_dispatch(run->base);
    }
    if (redis_state(run->redis) != REDIS_STATE_UP)
        fprintf(stderr, "posternctl: Redis at %s does not answer; checks that need it "
                "follow their unsure rule\n", redis_where(run->redis));
}

static int parse_args(struct check_args *a, int argc, char **argv)
{
    int i;

    for (i = 0; i < argc; i++) {
        const char *o = argv[i];
        const char **dst = NULL;
        if (strcmp(o, "--no-redis") == 0) {
            a->no_redis = true;
            continue;
        }
        if (o[0] != '-' || strcmp(o, "-") == 0) {
            if (a->path != NULL)
                return -1;
            a->path = o;
            continue;
        }
        if (i + 1 >= argc)
            return -1;
        if (strcmp(o, "--profile") == 0) dst = &a->profile;
        else if (strcmp(o, "--client") == 0 || strcmp(o, "--ip") == 0) dst = &a->client;
        else if (strcmp(o, "--helo") == 0) dst = &a->helo;
        else if (strcmp(o, "--auth") == 0) dst = &a->login;
        else if (strcmp(o, "--from") == 0) dst = &a->from;
        else if (strcmp(o, "--skip") == 0) dst = &a->skip;
        else if (strcmp(o, "--rcpt") == 0) {
            if (a->nrcpt == CHECK_RCPT_MAX)
                return -1;
            a->rcpt[a->nrcpt++] = argv[++i];
            continue;
        } else
            return -1;
        *dst = argv[++i];
    }
    if (a->path == NULL || a->nrcpt == 0)
        return -1;
    if (a->from == NULL)
        a->from = "";
    if (a->client == NULL)
        a->client = "127.0.0.1";
    if (a->profile == NULL)
        a->profile = a->login ? "submission" : "inbound";
    return 0;
}

int posternctl_check(struct relay_conf *c, int argc, char **argv)
{
    struct check_args a = { 0 };
    struct check_run run = { 0 };
    struct engine_env env = { 0 };
    struct profile_conf *pc;
    const struct engine_profile *p;
    size_t saved = 0;
    int rc;

    if (parse_args(&a, argc, argv) < 0)
        return EX_USAGE;
    pc = (struct profile_conf *)profile_find(&c->policy.profiles, a.profile);
    if (pc == NULL) {
        fprintf(stderr, "posternctl: no profile \"%s\" in policy.profiles\n", a.profile);
        return EX_CONFIG;
    }
    if (a.skip != NULL)
        saved = skip_checks(pc, a.skip);
    run.base = event_base_new();
    run.dns = run.base ? dns_new(run.base, &c->dns) : NULL;
    run.outages = outage_new(NULL, NULL);
    run.pool = run.base ? workpool_new_bounded(run.base, (int)c->policy.check_workers,
                                               (unsigned)c->policy.check_queue) : NULL;
    if (run.base == NULL || run.dns == NULL || run.outages == NULL || run.pool == NULL) {
        fprintf(stderr, "posternctl: cannot start the resolver or the check pool\n");
        rc = EX_UNAVAILABLE;
        goto out;
    }
    if (!a.no_redis && relay_conf_needs_redis(c)) {
        run.redis = redis_new(run.base, &c->redis, NULL, NULL);
        wait_for_redis(&run);
        run.store = user_store_redis_new(run.redis);
    }
    if (c->virus.enabled) {
        run.scanner = scan_client_new(run.base, &c->virus, NULL, on_scanner, &run);
        if (run.scanner == NULL) {
            rc = EX_UNAVAILABLE;
            goto out;
        }
        wait_for_scanner(&run);
    }
    env.base = run.base;
    env.dns = run.dns;
    env.redis = run.redis;
    env.check_pool = run.pool;
    env.outages = run.outages;
    env.scanner = run.scanner;
    env.event = on_event;
    env.event_arg = &run;
    run.engine = config_engine_new(c, &env, run.store);
    if (run.engine == NULL) {
        rc = EX_CONFIG;
        goto out;
    }
    p = engine_profile_find(run.engine, a.profile);
    printf("profile: %s (%s)%s%s\n", a.profile,
           engine_profile_submission(p) ? "submission" : "inbound",
           a.skip ? ", skipping " : "", a.skip ? a.skip : "");
    rc = dialogue(&run, &a, p);
out:
    if (run.s)
        engine_session_free(run.s);
    if (run.engine)
        engine_free(run.engine);
    if (run.store)
        user_store_free(run.store);
    if (run.scanner)
        scan_client_free(run.scanner);
    if (run.pool)
        workpool_free(run.pool);
    if (run.outages)
        outage_free(run.outages);
    if (run.redis)
        redis_free(run.redis);
    if (run.dns)
        dns_free(run.dns);
    if (run.base)
        event_base_free(run.base);
    if (a.skip != NULL)
        pc->checks.n = saved;
    return rc;
}
