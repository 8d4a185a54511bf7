/*
 * smtpc.c - command-line driver of relay/deliver/smtp_client.c for the integration tests
 * (tests/integration/test_smtp_client.py, against tests/integration/smtp_sink.py).
 *
 * Usage: smtpc --connect 127.0.0.1:PORT|[::1]:PORT|unix:/path [--host NAME] [--lmtp]
 *              [--tls none|opportunistic|required] [--verify] [--cafile F] [--servername N]
 *              [--auth user:pass] [--auth-plaintext] [--helo NAME]
 *              --from A --to B [--to C ...] --msg FILE [--offset N] [--prepend LINE ...]
 *              [--8bit] [--smtputf8] [--repeat N] [--timeout-ms N] [--data-chunk N]
 *              [--cancel-after-ms N] [--no-chunking] [-v]
 * The message body is FILE from byte N on (wire form: CRLF, not dot-stuffed); each
 * --prepend LINE is sent before it as a header line (CRLF added). --repeat N sends the
 * message N times over the same connection. --timeout-ms sets every stage timeout (the
 * defaults are the "smtp_client" config section's). --cancel-after-ms frees the client
 * N ms after the start, whatever it is doing.
 * Output, one line per event, in order:
 *   conn ok tls=TLSv1.3|none verified=0|1 relay=HOST[IP]:PORT
 *   conn fail CODE ENH status=S stage=T local=0|1 session=0|1 relay=R text=TEXT
 *   rcpt ADDR CODE ENH status=S stage=T local=0|1 session=0|1 text=TEXT  (per recipient)
 *   msg K done                      (after the recipients of message K, 1-based)
 *   msg K unusable                  (the connection could not take message K)
 *   cancelled                       (--cancel-after-ms fired)
 *   BUG ...                         (a callback after cancellation; exit status 1)
 * ENH is "-" when there is none. Exit status 0 when the run completed (whatever the
 * delivery results), 1 on a BUG or a local error, 2 on usage errors. Single-threaded.
 */
#include "relay/deliver/smtp_client.h"

#include "lib/log.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SMTPC_MAX_RCPTS   64
#define SMTPC_HEAD_MAX    600     /* "rcpt " and an address */
#define SMTPC_MS_PER_S    1000
#define SMTPC_US_PER_MS   1000
#define SMTPC_DECIMAL     10
/* Defaults: the same as the "smtp_client" config section's (relay/deliver/smtp_client_conf.c). */
#define SMTPC_CONNECT_MS     30000
#define SMTPC_FIVE_MIN_MS    300000
#define SMTPC_DATA_MS        120000
#define SMTPC_DATA_BLOCK_MS  180000
#define SMTPC_DATA_DONE_MS   600000
#define SMTPC_RSET_MS        20000
#define SMTPC_LINE_MAX       2048
#define SMTPC_LINES_MAX      100
#define SMTPC_DATA_CHUNK     65536

struct run {
    struct event_base *base;
    struct smtp_client *client;
    struct smtp_client_msg msg;
    const char *rcpts[SMTPC_MAX_RCPTS];
    long repeat;
    long sent;
    struct event *cancel_ev;    /* --cancel-after-ms, dropped once the run is over */
    int cancelled;
    int bug;
};

static void usage(void)
{
    fprintf(stderr, "usage: smtpc --connect ADDR [--host NAME] [--lmtp] [--tls POLICY] "
                    "[--verify] [--cafile F] [--servername N] [--auth U:P] [--auth-plaintext] "
                    "[--helo NAME] --from A --to B... --msg FILE [--offset N] [--prepend L]... "
                    "[--8bit] [--smtputf8] [--repeat N] [--timeout-ms N] [--data-chunk N] "
                    "[--cancel-after-ms N] [--no-chunking] [-v]\n");
    exit(2);
}

static long number(const char *s)
{
    char *end;
    long v = strtol(s, &end, SMTPC_DECIMAL);
    if (*s == '\0' || *end != '\0' || v < 0)
        usage();
    return v;
}

/* "127.0.0.1:25", "[::1]:25" or "unix:/path" into ss. */
static socklen_t parse_addr(const char *s, struct sockaddr_storage *ss)
{
    const char *colon = strrchr(s, ':');
    char host[INET6_ADDRSTRLEN + 2];
    size_t hl;

    memset(ss, 0, sizeof(*ss));
    if (strncmp(s, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)ss;
        if (strlen(s + 5) >= sizeof(un->sun_path))
            usage();
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, s + 5);
        return sizeof(*un);
    }
    if (colon == NULL || (hl = (size_t)(colon - s)) >= sizeof(host))
        usage();
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1)
            usage();
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((unsigned short)number(colon + 1));
        return sizeof(*in6);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
            usage();
        in->sin_family = AF_INET;
        in->sin_port = htons((unsigned short)number(colon + 1));
        return sizeof(*in);
    }
}

static void print_result(const char *head, const struct smtp_result *r)
{
    printf("%s %d %s status=%s stage=%s local=%d session=%d", head, r->code,
           r->enhanced[0] ? r->enhanced : "-", smtp_status_name(r->status),
           smtp_stage_name(r->stage), r->local, r->session);
}

static void send_next(struct run *run);

/* The client is gone (quit, failed or unusable): nothing left to cancel. */
static void run_over(struct run *run)
{
    run->client = NULL;
    if (run->cancel_ev != NULL)
        evtimer_del(run->cancel_ev);
}

/* Loop thread. */
static void on_sent(struct smtp_client *c, const struct smtp_client_report *rep, void *arg)
{
    struct run *run = arg;
    size_t i;
    char head[SMTPC_HEAD_MAX];

    if (run->cancelled) {
        printf("BUG sent callback after cancellation\n");
        run->bug = 1;
        return;
    }
    for (i = 0; i < rep->nrcpts; i++) {
        snprintf(head, sizeof(head), "rcpt %s", run->msg.rcpts[i]);
        print_result(head, &rep->rcpt[i]);
        printf(" text=%s\n", rep->rcpt[i].text);
    }
    printf("msg %ld done\n", run->sent);
    fflush(stdout);
    (void)c;
    send_next(run);
}

static void send_next(struct run *run)
{
    if (run->sent == run->repeat) {
        smtp_client_quit(run->client);
        run_over(run);
        return;
    }
    run->sent++;
    if (smtp_client_send(run->client, &run->msg, on_sent, run) < 0) {
        printf("msg %ld unusable\n", run->sent);
        smtp_client_free(run->client);
        run_over(run);
    }
}

/* Loop thread. */
static void on_ready(struct smtp_client *c, const struct smtp_result *err, void *arg)
{
    struct run *run = arg;
    const char *tls = smtp_client_tls_version(c);

    if (run->cancelled) {
        printf("BUG ready callback after cancellation\n");
        run->bug = 1;
        return;
    }
    if (err != NULL) {
        print_result("conn fail", err);
        printf(" relay=%s text=%s\n", smtp_client_relay(c), err->text);
        smtp_client_free(c);
        run_over(run);
        return;
    }
    printf("conn ok tls=%s verified=%d relay=%s\n", tls ? tls : "none",
           smtp_client_tls_verified(c), smtp_client_relay(c));
    fflush(stdout);
    send_next(run);
}

/* Loop thread: --cancel-after-ms. */
static void on_cancel(evutil_socket_t fd, short what, void *arg)
{
    struct run *run = arg;
    (void)fd;
    (void)what;
    if (run->client == NULL)
        return;
    smtp_client_free(run->client);
    run->client = NULL;
    run->cancelled = 1;
    printf("cancelled\n");
    fflush(stdout);
}

struct args {
    const char *connect, *host, *tls, *cafile, *servername, *auth, *helo, *from, *msg;
    char *prepend;
    size_t prepend_len;
    long offset, timeout_ms, data_chunk, cancel_ms;
    int lmtp, verify, auth_plaintext, verbose, no_chunking;
};

static void add_prepend(struct args *a, const char *line)
{
    size_t n = strlen(line);
    a->prepend = xrealloc(a->prepend, a->prepend_len + n + 2);
    memcpy(a->prepend + a->prepend_len, line, n);
    memcpy(a->prepend + a->prepend_len + n, "\r\n", 2);
    a->prepend_len += n + 2;
}

static void parse_args(int argc, char **argv, struct args *a, struct run *run)
{
    int i;
    for (i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(o, "--lmtp")) a->lmtp = 1, takes = 0;
        else if (!strcmp(o, "--verify")) a->verify = 1, takes = 0;
        else if (!strcmp(o, "--auth-plaintext")) a->auth_plaintext = 1, takes = 0;
        else if (!strcmp(o, "--8bit")) run->msg.flags |= SMTP_MSG_8BIT, takes = 0;
        else if (!strcmp(o, "--smtputf8")) run->msg.flags |= SMTP_MSG_SMTPUTF8, takes = 0;
        else if (!strcmp(o, "-v")) a->verbose = 1, takes = 0;
        else if (!strcmp(o, "--no-chunking")) a->no_chunking = 1, takes = 0;
        else if (v == NULL) usage();
        else if (!strcmp(o, "--connect")) a->connect = v;
        else if (!strcmp(o, "--host")) a->host = v;
        else if (!strcmp(o, "--tls")) a->tls = v;
        else if (!strcmp(o, "--cafile")) a->cafile = v;
        else if (!strcmp(o, "--servername")) a->servername = v;
        else if (!strcmp(o, "--auth")) a->auth = v;
        else if (!strcmp(o, "--helo")) a->helo = v;
        else if (!strcmp(o, "--from")) a->from = v;
        else if (!strcmp(o, "--msg")) a->msg = v;
        else if (!strcmp(o, "--prepend")) add_prepend(a, v);
        else if (!strcmp(o, "--offset")) a->offset = number(v);
        else if (!strcmp(o, "--repeat")) run->repeat = number(v);
        else if (!strcmp(o, "--timeout-ms")) a->timeout_ms = number(v);
        else if (!strcmp(o, "--data-chunk")) a->data_chunk = number(v);
        else if (!strcmp(o, "--cancel-after-ms")) a->cancel_ms = number(v);
        else if (!strcmp(o, "--to") && run->msg.nrcpts < SMTPC_MAX_RCPTS)
            run->rcpts[run->msg.nrcpts++] = v;
        else usage();
        i += takes;
    }
    if (a->connect == NULL || a->from == NULL || a->msg == NULL || run->msg.nrcpts == 0 ||
        run->repeat < 1 || a->data_chunk < 1)
        usage();
}

static void fill_conf(const struct args *a, struct smtp_client_conf *conf)
{
    long long t = a->timeout_ms;
    conf->connect_ms = t ? t : SMTPC_CONNECT_MS;
    conf->greeting_ms = conf->helo_ms = conf->starttls_ms = conf->auth_ms = t ? t : SMTPC_FIVE_MIN_MS;
    conf->mail_ms = conf->rcpt_ms = conf->quit_ms = t ? t : SMTPC_FIVE_MIN_MS;
    conf->data_ms = t ? t : SMTPC_DATA_MS;
    conf->data_block_ms = t ? t : SMTPC_DATA_BLOCK_MS;
    conf->data_done_ms = t ? t : SMTPC_DATA_DONE_MS;
    conf->rset_ms = t ? t : SMTPC_RSET_MS;
    conf->reply_line_max = SMTPC_LINE_MAX;
    conf->reply_lines_max = SMTPC_LINES_MAX;
    conf->data_chunk = (unsigned long long)a->data_chunk;
    conf->chunking = !a->no_chunking;   /* smtp_client.chunking's default */
}

static int tls_policy(const char *name)
{
    int i;
    for (i = 0; smtp_tls_policy_names[i] != NULL; i++)
        if (!strcmp(name, smtp_tls_policy_names[i]))
            return i;
    usage();
    return 0;
}

int main(int argc, char **argv)
{
    struct args a = { .tls = "none", .helo = "client.postern.test", .data_chunk = SMTPC_DATA_CHUNK };
    struct run run = { .repeat = 1 };
    struct smtp_client_conf conf;
    struct smtp_client_opts opts = { 0 };
    struct sockaddr_storage ss;
    socklen_t sl;
    struct stat st;
    SSL_CTX *ctx = NULL;
    char *user = NULL, *colon;

    signal(SIGPIPE, SIG_IGN);
    run.msg.rcpts = run.rcpts;
    parse_args(argc, argv, &a, &run);
    log_init("postern", LOG_TO_STDERR, a.verbose);
    sl = parse_addr(a.connect, &ss);
    fill_conf(&a, &conf);
    run.msg.sender = a.from;
    run.msg.prepend = a.prepend;
    run.msg.prepend_len = a.prepend_len;
    run.msg.fd = open(a.msg, O_RDONLY | O_CLOEXEC);
    if (run.msg.fd < 0 || fstat(run.msg.fd, &st) < 0 || st.st_size < a.offset) {
        perror(a.msg);
        return 1;
    }
    run.msg.offset = a.offset;
    run.msg.length = (size_t)(st.st_size - a.offset);
    opts.conf = &conf;
    opts.helo_name = a.helo;
    opts.lmtp = a.lmtp;
    opts.tls = tls_policy(a.tls);
    opts.tls_verify = a.verify;
    opts.tls_name = a.servername;
    opts.auth_plaintext = a.auth_plaintext;
    if (a.auth != NULL) {
        user = xstrdup(a.auth);
        colon = strchr(user, ':');
        if (colon == NULL)
            usage();
        *colon = '\0';
        opts.auth_user = user;
        opts.auth_pass = colon + 1;
    }
    if (opts.tls != SMTP_TLS_NONE && (ctx = smtp_client_ssl_ctx_new(a.cafile)) == NULL)
        return 1;
    run.base = event_base_new();
    run.client = smtp_client_new(run.base, ctx, &opts);
    if (a.cancel_ms > 0) {
        struct timeval tv = { a.cancel_ms / SMTPC_MS_PER_S,
                              a.cancel_ms % SMTPC_MS_PER_S * SMTPC_US_PER_MS };
        run.cancel_ev = evtimer_new(run.base, on_cancel, &run);
        evtimer_add(run.cancel_ev, &tv);
    }
    smtp_client_connect(run.client, (struct sockaddr *)&ss, sl, a.host ? a.host : "localhost",
                        on_ready, &run);
    event_base_dispatch(run.base);
    smtp_client_free(run.client);
    if (run.cancel_ev != NULL)
        event_free(run.cancel_ev);
    event_base_free(run.base);
    SSL_CTX_free(ctx);
    free(user);
    free(a.prepend);
    close(run.msg.fd);
    return run.bug ? 1 : 0;
}
