/*
 * posternctl - the admin command line of Postern.
 *
 *   posternctl [-f config] COMMAND [ARGS]      (posternctl help lists the commands)
 *
 * It reads the daemon's configuration file to find things: the spool (queue listings are
 * read straight from SPOOL/queue/, which is safe because queue files are only ever appended
 * to and renamed into place whole) and the admin socket (admin.socket, default
 * SPOOL/admin.sock), where the commands that change something are sent to the running
 * daemon (docs/posternctl.md describes the line protocol). Every command is a row of
 * ctl_commands[] below; the help text comes from that table.
 *
 * Exit codes (sysexits(3)): 0 ok, 1 the daemon refused (e.g. no such message), 64 usage,
 * 65 a value refused before it was stored (policy set),
 * 66 the spool cannot be read, 69 the daemon is not reachable, 75 temporary failure
 * (try again), 78 bad configuration.
 */
#include "content/scan_cmd.h"
#include "lib/conf.h"
#include "lib/version.h"
#include "lib/dns.h"
#include "lib/redis.h"
#include "lib/xalloc.h"
#include "content/filetype.h"
#include "content/magic.h"
#include "content/mime.h"
#include "content/zip_list.h"
#include "mailauth/dkim_conf.h"
#include "mailauth/dkim_crypto.h"
#include "mailauth/dkim_keygen.h"
#include "mailauth/dkim_sign.h"
#include "mailauth/dkim_verify.h"
#include "mailauth/dmarc.h"
#include "mailauth/spf.h"
#include "mailauth/spf_header.h"
#include "mailauth/spf_ip.h"
#include "policy/account_breaker.h"
#include "policy/greylist_admin.h"
#include "policy/header_from.h"
#include "policy/ratelimit.h"
#include "policy/suppress_admin.h"
#include "policy/user_prefs_admin.h"
#include "relay/admin.h"
#include "relay/admin_ops.h"
#include "relay/admin_quar.h"
#include "relay/queue/queue_file.h"
#include "relay/relay_conf.h"
#include "tools/posternctl_check.h"
#include "tools/posternctl_spam.h"
#include "webhooks/webhooks.h"

#include <dirent.h>
#include <getopt.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <hiredis/hiredis.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CONFIG   "/etc/postern/postern.json"
#define CTL_EXIT_REFUSED EX_CTL_REFUSED
#define DEFAULT_SPOOL    "/var/spool/postern"
#define CTL_REPLY_MAX    (16u << 20)
#define CTL_TIMEOUT_S    60
#define CTL_LINE_MAX     1024

struct ctl {
    const char *config_path;
    struct relay_conf c;
    bool loaded;
    int load_failed;              /* 1: the file has errors (reported once) */
    const char *socket;           /* --socket: the daemon's admin socket */
    const char *http;             /* --http URL: the daemon's admin HTTP API */
    const char *token;            /* --token (or $POSTERN_ADMIN_TOKEN) for --http */
    const char *cacert, *cert, *key;  /* --cacert, --cert, --key for an https URL */
};

struct ctl_cmd {
    const char *name;
    int min_args, max_args;                          /* after the command word */
    int (*run)(struct ctl *ctl, int argc, char **argv); /* argv[0]: the command word */
    const char *usage;
    const char *help;
};

static const struct ctl_cmd ctl_commands[];

/* ---- config and daemon ---------------------------------------------------------------- */

static int ctl_load(struct ctl *ctl)
{
    struct conf_errors errs = { .file = ctl->config_path, .count = 0, .out = stderr };
    if (ctl->loaded)
        return 0;
    if (ctl->load_failed)
        return -1;
    if (conf_load_file(ctl->config_path, &relay_conf_root, &ctl->c, &errs) < 0) {
        conf_free(&relay_conf_root, &ctl->c);
        ctl->load_failed = 1;
        return -1;
    }
    ctl->loaded = true;
    return 0;
}

/* The admin socket when the configuration cannot be loaded: admin.socket or
 * spool_dir/admin.sock read from the file as far as it parses (comment lines blanked),
 * else the default spool's. The running daemon loaded a good version of the file, whose
 * spool and socket an edit rarely moves. */
static char *ctl_fallback_socket(const char *path)
{
    json_t *j = NULL, *v;
    char *text = NULL, *out = NULL, *line;
    size_t len = 0, n;
    FILE *f = fopen(path, "r");

    if (f != NULL) {
        text = xcalloc(1, CTL_REPLY_MAX + 1);
        len = fread(text, 1, CTL_REPLY_MAX, f);
        fclose(f);
        text[len] = '\0';
        for (line = text; *line; line += n + (line[n] == '\n')) {
            n = strcspn(line, "\n");
            size_t sp = strspn(line, " \t");
            if (line[sp] == '#' || (line[sp] == '/' && line[sp + 1] == '/'))
                memset(line, ' ', n);
        }
        j = json_loads(text, 0, NULL);
    }
    if (j != NULL) {
        v = json_object_get(json_object_get(j, "admin"), "socket");
        if (json_is_string(v))
            out = xstrdup(json_string_value(v));
        else if (json_is_string(v = json_object_get(j, "spool_dir")))
            out = xasprintf("%s/admin.sock", json_string_value(v));
    } else if (text != NULL && (line = strstr(text, "\"spool_dir\"")) != NULL) {
        char dir[1024];
        if (sscanf(line, "\"spool_dir\" : \"%1023[^\"]\"", dir) == 1 ||
            sscanf(line, "\"spool_dir\": \"%1023[^\"]\"", dir) == 1)
            out = xasprintf("%s/admin.sock", dir);
    }
    json_decref(j);
    free(text);
    return out ? out : xstrdup(DEFAULT_SPOOL "/admin.sock");
}

/* The daemon's socket (malloc'd), from --socket, the configuration, or the fallback. */
static char *ctl_socket_path(struct ctl *ctl)
{
    char *path;

    if (ctl->socket)
        return xstrdup(ctl->socket);
    if (ctl_load(ctl) == 0)
        return admin_socket_path(&ctl->c);
    path = ctl_fallback_socket(ctl->config_path);
    fprintf(stderr, "posternctl: %s has errors (above); asking the running daemon at %s\n",
            ctl->config_path, path);
    return path;
}

/* Print a daemon's answer ("ok|error|tempfail", its text, the body) and return the exit
 * code: the body to stdout, an error text to stderr. */
static int ctl_answer(const char *word, const char *status, const char *text,
                      const char *body)
{
    int rc;

    if (strcmp(status, "ok") == 0) {
        if (*text)
            printf("%s\n", text);
        rc = EX_OK;
    } else if (strcmp(status, "tempfail") == 0) {
        fprintf(stderr, "posternctl: %s: %s\n", word, *text ? text : "temporary failure");
        rc = EX_TEMPFAIL;
    } else {
        fprintf(stderr, "posternctl: %s: %s\n", word, *text ? text : "failed");
        rc = CTL_EXIT_REFUSED;
    }
    if (body)
        fputs(body, stdout);
    return rc;
}

/* ---- the admin HTTP API (--http URL) ---------------------------------------------------- */

struct ctl_http_run {
    struct event_base *base;
    int code;
    char *body;
    size_t len;
};

static void ctl_http_done(struct evhttp_request *req, void *arg)
{
    struct ctl_http_run *run = arg;

    if (req != NULL && evhttp_request_get_response_code(req) > 0) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        run->code = evhttp_request_get_response_code(req);
        run->len = evbuffer_get_length(in);
        run->body = xcalloc(1, run->len + 1);
        evbuffer_remove(in, run->body, run->len);
    }
    event_base_loopbreak(run->base);
}

static SSL_CTX *ctl_http_tls(struct ctl *ctl)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if ((ctl->cacert ? SSL_CTX_load_verify_locations(ctx, ctl->cacert, NULL)
                     : SSL_CTX_set_default_verify_paths(ctx)) != 1 ||
        (ctl->cert && (SSL_CTX_use_certificate_chain_file(ctx, ctl->cert) != 1 ||
                       SSL_CTX_use_PrivateKey_file(ctx, ctl->key ? ctl->key : ctl->cert,
                                                   SSL_FILETYPE_PEM) != 1))) {
        fprintf(stderr, "posternctl: cannot load %s\n",
                ctl->cacert ? ctl->cacert : ctl->cert ? ctl->cert : "the trust store");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* POST the command line to URL/api/v1/command and print the answer like the socket's. */
static int ctl_http(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_http_run run = { 0 };
    struct evhttp_uri *uri = evhttp_uri_parse(ctl->http);
    const char *scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
    const char *host = uri ? evhttp_uri_get_host(uri) : NULL;
    const char *base = uri && evhttp_uri_get_path(uri) ? evhttp_uri_get_path(uri) : "";
    const char *token = ctl->token ? ctl->token : getenv("POSTERN_ADMIN_TOKEN");
    bool tls = scheme && strcmp(scheme, "https") == 0;
    int port = uri ? evhttp_uri_get_port(uri) : -1, rc = EX_UNAVAILABLE, i;
    struct evhttp_connection *conn = NULL;
    struct evhttp_request *req;
    struct bufferevent *bev = NULL;
    SSL_CTX *sctx = NULL;
    json_t *args = json_array(), *body, *answer = NULL;
    char *text = NULL, *target = NULL, auth[512];

    if (host == NULL || (!tls && (scheme == NULL || strcmp(scheme, "http") != 0))) {
        fprintf(stderr, "posternctl: --http wants http://HOST:PORT or https://HOST:PORT, not "
                "\"%s\"\n", ctl->http);
        rc = EX_USAGE;
        goto out;
    }
    if (token == NULL && ctl->socket == NULL && !ctl->load_failed && ctl_load(ctl) == 0)
        token = ctl->c.admin.http.token;
    for (i = 0; i < argc; i++)
        json_array_append_new(args, json_string(argv[i]));
    body = json_pack("{s:O}", "argv", args);
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    run.base = event_base_new();
    if (tls) {
        SSL *ssl;
        if ((sctx = ctl_http_tls(ctl)) == NULL || (ssl = SSL_new(sctx)) == NULL)
            goto out;
        SSL_set_tlsext_host_name(ssl, host);
        SSL_set1_host(ssl, host);
        bev = bufferevent_openssl_socket_new(run.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    }
    conn = evhttp_connection_base_bufferevent_new(run.base, NULL, bev, host,
                                                  (unsigned short)(port > 0 ? port : tls ? 443
                                                                                         : 80));
    evhttp_connection_set_timeout(conn, CTL_TIMEOUT_S);
    req = evhttp_request_new(ctl_http_done, &run);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Host", host);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    if (token) {
        snprintf(auth, sizeof(auth), "Bearer %s", token);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Authorization", auth);
    }
    evbuffer_add(evhttp_request_get_output_buffer(req), text, strlen(text));
    target = xasprintf("%s/api/v1/command", strcmp(base, "/") == 0 ? "" : base);
    if (evhttp_make_request(conn, req, EVHTTP_REQ_POST, target) != 0) {
        fprintf(stderr, "posternctl: cannot send to %s\n", ctl->http);
        goto out;
    }
    event_base_dispatch(run.base);
    if (run.code == 0) {
        fprintf(stderr, "posternctl: no answer from %s (is the admin HTTP listener on?)\n",
                ctl->http);
        goto out;
    }
    answer = json_loads(run.body, 0, NULL);
    if (answer == NULL || !json_is_string(json_object_get(answer, "status"))) {
        fprintf(stderr, "posternctl: %s answered HTTP %d: %.200s", ctl->http, run.code,
                run.body);
        rc = run.code == 401 ? EX_NOPERM : EX_PROTOCOL;
        goto out;
    }
    rc = ctl_answer(argv[0], json_string_value(json_object_get(answer, "status")),
                    json_string_value(json_object_get(answer, "text"))
                        ? json_string_value(json_object_get(answer, "text")) : "",
                    json_string_value(json_object_get(answer, "output")));
out:
    json_decref(answer);
    json_decref(args);
    free(text);
    free(target);
    free(run.body);
    if (conn)
        evhttp_connection_free(conn);
    if (run.base)
        event_base_free(run.base);
    if (sctx)
        SSL_CTX_free(sctx);
    if (uri)
        evhttp_uri_free(uri);
    return rc;
}

/*
 * Send one command line to the daemon (its admin socket, or --http) and print its answer.
 * Returns the exit code. For the daemon's own commands, and for every command when the
 * configuration file cannot be loaded (the daemon runs with the version it loaded).
 */
static int ctl_daemon(struct ctl *ctl, int argc, char **argv)
{
    struct sockaddr_un un;
    struct timeval tv = { CTL_TIMEOUT_S, 0 };
    char line[CTL_LINE_MAX + 2], *path, *reply = NULL, *nl, *text;
    size_t len = 0, cap = 0, used = 0;
    int fd, i, rc;

    for (i = 0; i < argc; i++) {
        int n = snprintf(line + used, sizeof(line) - used, "%s%s", i ? " " : "", argv[i]);
        if (n < 0 || (size_t)n >= sizeof(line) - used - 1 || strpbrk(argv[i], " \r\n")) {
            fprintf(stderr, "posternctl: bad argument \"%s\"\n", argv[i]);
            return EX_USAGE;
        }
        used += (size_t)n;
    }
    if (ctl->http)
        return ctl_http(ctl, argc, argv);
    line[used++] = '\n';
    path = ctl_socket_path(ctl);
    memset(&un, 0, sizeof(un));
    un.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(un.sun_path)) {
        fprintf(stderr, "posternctl: admin socket path too long: %s\n", path);
        free(path);
        return EX_CONFIG;
    }
    memcpy(un.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
        fprintf(stderr, "posternctl: cannot reach the daemon at %s: %s (is postern running?)\n",
                path, strerror(errno));
        if (fd >= 0)
            close(fd);
        free(path);
        return ctl->load_failed ? EX_CONFIG : EX_UNAVAILABLE;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (write(fd, line, used) != (ssize_t)used) {
        fprintf(stderr, "posternctl: cannot send to %s: %s\n", path, strerror(errno));
        close(fd);
        free(path);
        return EX_UNAVAILABLE;
    }
    for (;;) {
        ssize_t r;
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            reply = realloc(reply, cap + 1);
            if (reply == NULL)
                abort();
        }
        r = read(fd, reply + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fprintf(stderr, "posternctl: no answer from %s: %s\n", path, strerror(errno));
            close(fd);
            free(path);
            free(reply);
            return EX_TEMPFAIL;
        }
        if (r == 0 || len + (size_t)r > CTL_REPLY_MAX)
            break;
        len += (size_t)r;
    }
    close(fd);
    free(path);
    if (reply == NULL || len == 0) {
        fprintf(stderr, "posternctl: the daemon closed the connection without an answer\n");
        free(reply);
        return EX_TEMPFAIL;
    }
    reply[len] = '\0';
    nl = strchr(reply, '\n');
    if (nl)
        *nl = '\0';
    text = strchr(reply, ' ');
    if (text)
        *text++ = '\0';
    rc = ctl_answer(argv[0], reply, text ? text : "", nl ? nl + 1 : NULL);
    free(reply);
    return rc;
}

/* ---- commands ------------------------------------------------------------------------- */

static int cmd_daemon(struct ctl *ctl, int argc, char **argv)
{
    return ctl_daemon(ctl, argc, argv); /* the whole command line, as it is */
}

/* A command of relay/admin_ops.c: run here next to the spool and Redis, or by the daemon
 * with --http / --socket, or when the configuration file has errors. */
static int cmd_op(struct ctl *ctl, int argc, char **argv)
{
    if (ctl->http || ctl->socket || ctl_load(ctl) < 0)
        return ctl_daemon(ctl, argc, argv);
    return admin_ops_run(&ctl->c, argc, argv, stdout);
}

static void usage(FILE *out)
{
    const struct ctl_cmd *c;
    fprintf(out, "usage: posternctl [-f config] [-s SOCKET | --http URL [--token T]] COMMAND "
                 "[ARGS]\n"
                 "  -f FILE  the daemon's configuration (default " DEFAULT_CONFIG ")\n"
                 "  -s, --socket PATH  ask the daemon at this admin socket\n"
                 "  --http URL         ask the daemon's admin HTTP API (http[s]://HOST:PORT;\n"
                 "                     --token T or $POSTERN_ADMIN_TOKEN, else admin.http.token;\n"
                 "                     https: --cacert FILE, --cert FILE --key FILE)\n"
                 "  With the file broken, commands go to the running daemon's socket.\n"
                 "  -h, --help      this text;  -V, --version  the version\n"
                 "commands:\n");
    for (c = ctl_commands; c->name; c++)
        fprintf(out, "  %-24s %s\n", c->usage, c->help);
    fprintf(out, "exit codes: 0 ok, 1 refused by the daemon, 64 usage, 66 spool unreadable,\n"
                 "            69 daemon not reachable, 75 try again, 78 bad configuration\n");
}

/* s as roff text (a leading dot cannot occur: usage and help start with a letter). */
static void man_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '-')
            fputs("\\-", out);
        else if (*s == '\\')
            fputs("\\e", out);
        else
            fputc(*s, out);
    }
    fputc('\n', out);
}

/* The command table as man(7) text: the COMMANDS part of posternctl(8), which the build
 * generates from this (posternctl --man-commands), so the page never drifts. */
static void usage_man(FILE *out)
{
    const struct ctl_cmd *c;

    for (c = ctl_commands; c->name; c++) {
        fputs(".TP\n.B ", out);
        man_text(out, c->usage);
        man_text(out, c->help);
    }
}

static int cmd_help(struct ctl *ctl, int argc, char **argv)
{
    (void)ctl;
    (void)argc;
    (void)argv;
    usage(stdout);
    return EX_OK;
}

/*
 * The command table: name, argument counts (after the name), handler, usage, help.
 * Rows answered by the daemon use cmd_daemon, which forwards the command line to the admin
 * socket (the daemon's own table is in relay/admin.c). Add new commands here (ratelimit
 * show|reset, webhooks ...): one row each, the help output follows.
 */
/* webhooks [--json] lists endpoints with pending/failed counts; webhooks test [EP] queues a
 * webhook.test event that the daemon picks up from the outbox; webhooks retry asks the
 * daemon to send the outbox now. */
static int cmd_webhooks(struct ctl *ctl, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "test") == 0) {
        if (ctl_load(ctl) < 0)
            return EX_CONFIG;
        return webhooks_admin_test(stdout, &ctl->c.webhooks, argc == 3 ? argv[2] : NULL) == 0
                   ? 0 : EX_UNAVAILABLE;
    }
    if (argc == 2 && strcmp(argv[1], "retry") == 0)
        return ctl_daemon(ctl, argc, argv);
    return cmd_op(ctl, argc, argv);
}

/* ---- spf: one SPF evaluation with the daemon's code (no daemon needed) ------------------- */

#define CTL_SPF_SERVER_MAX 64

struct ctl_spf_run {
    struct spf_outcome *out;
    struct event_base *base;
};

static void ctl_spf_done(const struct spf_outcome *o, void *arg)
{
    struct ctl_spf_run *run = arg;

    run->out = spf_outcome_dup(o);
    event_base_loopbreak(run->base);
}

/* The resolver settings: --dns HOST:PORT with the dns section's defaults, or the config's. */
static int ctl_spf_dns_conf(struct ctl *ctl, const char *server, struct dns_conf *dc)
{
    struct conf_errors errs = { .file = "--dns", .count = 0, .out = stderr };
    char json[CTL_SPF_SERVER_MAX + 32];

    memset(dc, 0, sizeof(*dc));
    if (server == NULL) {
        if (ctl_load(ctl) < 0)
            return EX_CONFIG;
        *dc = ctl->c.dns;
        return 0;
    }
    if (strlen(server) > CTL_SPF_SERVER_MAX || strspn(server, "0123456789abcdefABCDEF.:[]")
                                                   != strlen(server)) {
        fprintf(stderr, "posternctl: --dns wants IP, IP:PORT or [IPv6]:PORT, not \"%s\"\n",
                server);
        return EX_USAGE;
    }
    snprintf(json, sizeof(json), "{\"servers\": [\"%s\"]}", server);
    if (conf_load_buffer("--dns", json, strlen(json), &dns_conf_section, dc, &errs) < 0) {
        conf_free(&dns_conf_section, dc);
        return EX_USAGE;
    }
    return 0;
}

static void ctl_spf_print(const struct spf_outcome *o, const char *receiver)
{
    char *received = spf_received_spf(o, receiver), *ar = spf_auth_results(o);
    const char *text = o->result == SPF_RESULT_FAIL && o->explanation ? o->explanation
                                                                      : o->comment;

    printf("%s %s\n", spf_result_str(o->result), text ? text : "");
    printf("identity: %s %s\n", spf_identity_str(o->identity), o->domain);
    if (o->mechanism)
        printf("mechanism: %s (record of %s)\n", o->mechanism, o->mechanism_domain);
    if (o->explanation)
        printf("explanation: %s\n", o->explanation);
    printf("lookups: %u, void lookups: %u\n", o->lookups, o->void_lookups);
    printf("%s\n", received);
    printf("Authentication-Results: %s; %s\n", receiver, ar);
    free(received);
    free(ar);
}

/* spf [--dns HOST:PORT] IP SENDER [HELO]: evaluate on a private loop, print the result
 * first. Exit 0 whatever the result. */
static int cmd_spf(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_spf_run run = { 0 };
    struct spf_request req = { 0 };
    struct spf_resolver res;
    struct dns_conf dc;
    struct spf_ip ip;
    struct dns *dns;
    const char *server = NULL;
    char host[256];
    int rc, i = 1;

    if (argc > 1 && strcmp(argv[1], "--dns") == 0) {
        if (argc < 3)
            return EX_USAGE;
        server = argv[2];
        i = 3;
    }
    if (argc - i < 2 || argc - i > 3)
        return EX_USAGE;
    if (spf_ip_parse(argv[i], &ip) < 0) {
        fprintf(stderr, "posternctl: \"%s\" is not an IP address\n", argv[i]);
        return EX_USAGE;
    }
    if ((rc = ctl_spf_dns_conf(ctl, server, &dc)) != 0)
        return rc;
    if (gethostname(host, sizeof(host)) < 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    run.base = event_base_new();
    dns = run.base ? dns_new(run.base, &dc) : NULL;
    if (dns == NULL) {
        fprintf(stderr, "posternctl: cannot start the resolver\n");
        if (run.base)
            event_base_free(run.base);
        if (server)
            conf_free(&dns_conf_section, &dc);
        return EX_UNAVAILABLE;
    }
    req.ip = argv[i];
    req.sender = argv[i + 1];
    req.helo = argc - i == 3 ? argv[i + 2] : NULL;
    req.receiver = ctl->loaded && ctl->c.hostname ? ctl->c.hostname : host;
    res = spf_resolver_dns(dns);
    spf_check_start(run.base, &res, &req, ctl_spf_done, &run);
    event_base_dispatch(run.base);
    rc = run.out ? EX_OK : EX_SOFTWARE;
    if (run.out)
        ctl_spf_print(run.out, req.receiver);
    spf_outcome_free(run.out);
    dns_free(dns);
    event_base_free(run.base);
    if (server)
        conf_free(&dns_conf_section, &dc);
    return rc;
}

/* ---- dkim keygen | sign | verify (mailauth/dkim_*) --------------------------------------- */

#define DKIM_MSG_MAX (64u << 20)          /* largest message file read */
#define DKIM_FIELDS_MAX 4096              /* header fields of one message */
#define DKIM_ERR_MAX 512
#define DKIM_AR_MAX 8192

/* Read a whole message file ("-": stdin) with every bare LF turned into CRLF, as the
 * daemon stores mail. NULL (and a message) on failure. */
static char *dkim_read_message(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t n = 0, cap = 0, out_len = 0, i;
    char *raw = NULL, *out;
    int c;

    if (f == NULL) {
        fprintf(stderr, "posternctl: cannot read %s: %s\n", path, strerror(errno));
        return NULL;
    }
    while ((c = getc(f)) != EOF && n < DKIM_MSG_MAX) {
        if (n == cap)
            raw = xrealloc(raw, cap = cap ? cap * 2 : 65536);
        raw[n++] = (char)c;
    }
    if (f != stdin)
        fclose(f);
    out = xmalloc(2 * n + 1);
    for (i = 0; i < n; i++) {
        if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r'))
            out[out_len++] = '\r';
        out[out_len++] = raw[i];
    }
    out[out_len] = '\0';
    free(raw);
    *len = out_len;
    return out;
}

static int dkim_split(const char *msg, size_t len, struct dkim_field *f, size_t *n,
                      size_t *body)
{
    if (dkim_header_split(msg, len, f, DKIM_FIELDS_MAX, n, body) != DKIM_SPLIT_OK) {
        fprintf(stderr, "posternctl: the message header is malformed or has more than %d "
                "fields\n", DKIM_FIELDS_MAX);
        return -1;
    }
    return 0;
}

/* Load a "dkim" section from JSON text (defaults for the missing keys). */
static int dkim_conf_from_json(json_t *j, struct dkim_conf *c)
{
    struct conf_errors errs = { .file = "posternctl", .count = 0, .out = stderr };
    char *text = json_dumps(j, JSON_COMPACT);
    int rc = conf_load_buffer("posternctl", text, strlen(text), &dkim_conf_section, c, &errs);

    free(text);
    return rc;
}

/* dkim keygen DOMAIN SELECTOR [--type rsa|ed25519] [--bits N] [--dir DIR] */
static int dkim_keygen_cmd(int argc, char **argv)
{
    const char *domain = argv[0], *selector = argv[1], *dir = ".";
    enum dkim_keytype type = DKIM_KEY_RSA;
    long bits = DKIM_RSA_BITS_DEFAULT;
    char norm[DKIM_DOMAIN_MAX + 1], err[DKIM_ERR_MAX], *path, *rec, *zone;
    EVP_PKEY *key;
    int i;

    if (argc < 2)
        return EX_USAGE;
    for (i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--type") == 0 && strcmp(argv[i + 1], "rsa") == 0)
            type = DKIM_KEY_RSA;
        else if (strcmp(argv[i], "--type") == 0 && strcmp(argv[i + 1], "ed25519") == 0)
            type = DKIM_KEY_ED25519;
        else if (strcmp(argv[i], "--bits") == 0)
            bits = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0)
            dir = argv[i + 1];
        else
            return EX_USAGE;
    }
    if (i != argc || bits < DKIM_RSA_BITS_MIN || bits > DKIM_RSA_BITS_MAX) {
        fprintf(stderr, "posternctl: RSA keys have %d to %d bits\n", DKIM_RSA_BITS_MIN,
                DKIM_RSA_BITS_MAX);
        return EX_USAGE;
    }
    if (dkim_domain_copy(domain, strlen(domain), norm, sizeof(norm)) < 0 ||
        dkim_domain_copy(selector, strlen(selector), norm, sizeof(norm)) < 0) {
        fprintf(stderr, "posternctl: DOMAIN and SELECTOR must be DNS names\n");
        return EX_USAGE;
    }
    key = dkim_keygen(type, (unsigned)bits);
    if (key == NULL) {
        fprintf(stderr, "posternctl: key generation failed\n");
        return EX_SOFTWARE;
    }
    path = xasprintf("%s/%s.%s.key", dir, domain, selector);
    if (dkim_key_write_private(path, key, err, sizeof(err)) < 0) {
        fprintf(stderr, "posternctl: %s\n", err);
        free(path);
        EVP_PKEY_free(key);
        return EX_CANTCREAT;
    }
    rec = dkim_key_record(key);
    zone = dkim_key_zone_line(selector, domain, rec);
    printf("%s\n", zone);
    fprintf(stderr, "posternctl: private key written to %s (mode 0600). Publish the TXT record "
            "above, then add to the config:\n  \"dkim\": { \"sign\": { \"%s\": { \"keys\": [ "
            "{ \"selector\": \"%s\", \"algorithm\": \"%s\", \"file\": \"%s\" } ] } } }\n", path,
            domain, selector, type == DKIM_KEY_RSA ? "rsa-sha256" : "ed25519-sha256", path);
    free(zone);
    free(rec);
    free(path);
    EVP_PKEY_free(key);
    return EX_OK;
}

/* dkim sign --key FILE --domain D --selector S [--algorithm A] MESSAGE */
static int dkim_sign_cmd(int argc, char **argv)
{
    const char *keyfile = NULL, *domain = NULL, *selector = NULL, *alg = NULL;
    struct dkim_field f[DKIM_FIELDS_MAX];
    struct dkim_conf c;
    struct dkim_signer *signer;
    struct dkim_sign *m;
    char err[DKIM_ERR_MAX], *msg, *sigs;
    size_t len, n, body;
    json_t *j;
    int i, rc;

    for (i = 0; i + 1 < argc - 1; i += 2) {
        if (strcmp(argv[i], "--key") == 0)
            keyfile = argv[i + 1];
        else if (strcmp(argv[i], "--domain") == 0)
            domain = argv[i + 1];
        else if (strcmp(argv[i], "--selector") == 0)
            selector = argv[i + 1];
        else if (strcmp(argv[i], "--algorithm") == 0)
            alg = argv[i + 1];
        else
            return EX_USAGE;
    }
    if (i != argc - 1 || !keyfile || !domain || !selector)
        return EX_USAGE;
    if (alg == NULL) {
        EVP_PKEY *k = dkim_crypto_load_private(keyfile, err, sizeof(err));
        enum dkim_keytype type = DKIM_KEY_RSA;
        if (k != NULL)
            dkim_crypto_key_type(k, &type);
        alg = type == DKIM_KEY_ED25519 ? "ed25519-sha256" : "rsa-sha256";
        EVP_PKEY_free(k);
    }
    j = json_pack("{s:{s:{s:[{s:s, s:s, s:s}]}}}", "sign", domain, "keys", "selector",
                  selector, "algorithm", alg, "file", keyfile);
    memset(&c, 0, sizeof(c));
    rc = dkim_conf_from_json(j, &c);
    json_decref(j);
    signer = rc == 0 ? dkim_signer_load(c.sign.items, err, sizeof(err)) : NULL;
    if (signer == NULL) {
        if (rc == 0)
            fprintf(stderr, "posternctl: %s\n", err);
        conf_free(&dkim_conf_section, &c);
        return EX_CONFIG;
    }
    msg = dkim_read_message(argv[argc - 1], &len);
    rc = msg == NULL ? EX_NOINPUT : dkim_split(msg, len, f, &n, &body) < 0 ? EX_DATAERR : 0;
    if (rc == 0) {
        m = dkim_sign_new(signer);
        dkim_sign_body(m, msg + body, len - body);
        sigs = dkim_sign_finish(m, f, n, (long long)time(NULL), err, sizeof(err));
        if (sigs == NULL) {
            fprintf(stderr, "posternctl: %s\n", err);
            rc = EX_SOFTWARE;
        } else {
            fwrite(sigs, 1, strlen(sigs), stdout);
            fwrite(msg, 1, len, stdout);
        }
        free(sigs);
        dkim_sign_free(m);
    }
    free(msg);
    dkim_signer_free(signer);
    conf_free(&dkim_conf_section, &c);
    return rc;
}

static void dkim_verify_done(struct dkim_verify *v, void *arg)
{
    (void)v;
    event_base_loopbreak(arg);
}

/* One line per signature: RESULT d= s= a= [bits=] i= [flags] [(reason)]. */
static void dkim_print_result(const struct dkim_result *r)
{
    printf("%s d=%s s=%s a=%s", dkim_status_name(r->status), r->domain[0] ? r->domain : "-",
           r->selector[0] ? r->selector : "-", r->alg_known ? dkim_alg_name(r->alg) : "-");
    if (r->key_bits)
        printf(" bits=%u", r->key_bits);
    if (r->auid[0])
        printf(" i=%s", r->auid);
    if (r->has_l)
        printf(" l=%llu%s", r->l, r->body_truncated ? " body-truncated" : "");
    if (r->weak)
        printf(" weak");
    if (r->testing)
        printf(" testing");
    if (r->reason)
        printf(" (%s)", r->reason);
    printf("\n");
}

/* dkim verify [--dns HOST:PORT] MESSAGE */
static int dkim_verify_cmd(int argc, char **argv)
{
    struct dkim_field f[DKIM_FIELDS_MAX];
    struct dkim_conf c;
    struct dns_conf dc;
    struct conf_errors errs = { .file = "posternctl", .count = 0, .out = stderr };
    struct event_base *base;
    struct dns *dns;
    struct dkim_verify *v;
    struct dkim_dns iface;
    const struct dkim_result *res;
    char *msg, *dns_json, ar[DKIM_AR_MAX], host[256];
    size_t len, n, body, i;
    int rc = EX_OK, temp = 0, bad = 0;
    json_t *j;

    if (argc != 1 && !(argc == 3 && strcmp(argv[0], "--dns") == 0))
        return EX_USAGE;
    j = argc == 3 ? json_pack("{s:[s]}", "servers", argv[1]) : json_object();
    dns_json = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    memset(&dc, 0, sizeof(dc));
    memset(&c, 0, sizeof(c));
    j = json_object();
    if (conf_load_buffer("posternctl", dns_json, strlen(dns_json), &dns_conf_section, &dc,
                         &errs) < 0 || dkim_conf_from_json(j, &c) < 0) {
        free(dns_json);
        json_decref(j);
        conf_free(&dns_conf_section, &dc);
        return EX_USAGE;
    }
    free(dns_json);
    json_decref(j);
    msg = dkim_read_message(argv[argc - 1], &len);
    if (msg == NULL || dkim_split(msg, len, f, &n, &body) < 0) {
        free(msg);
        conf_free(&dns_conf_section, &dc);
        return msg == NULL ? EX_NOINPUT : EX_DATAERR;
    }
    base = event_base_new();
    dns = dns_new(base, &dc);
    if (dns == NULL) {
        event_base_free(base);
        free(msg);
        conf_free(&dns_conf_section, &dc);
        return EX_UNAVAILABLE;
    }
    iface = dkim_dns_resolver(dns);
    v = dkim_verify_new(&c.verify, f, n, (long long)time(NULL));
    dkim_verify_start(v, base, &iface, dkim_verify_done, base);
    dkim_verify_body(v, msg + body, len - body);
    dkim_verify_body_end(v);
    event_base_dispatch(base);
    res = dkim_verify_results(v, &n);
    for (i = 0; i < n; i++) {
        dkim_print_result(&res[i]);
        temp += res[i].status == DKIM_TEMPERROR;
        bad += res[i].status != DKIM_PASS && res[i].status != DKIM_TEMPERROR;
    }
    if (dkim_verify_skipped(v))
        printf("skipped %zu signatures (dkim.verify.max_signatures)\n", dkim_verify_skipped(v));
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    dkim_ar_format(ar, sizeof(ar), res, n);
    printf("Authentication-Results: %s; %s\n", host, ar);
    if (n == 0 || bad)
        rc = CTL_EXIT_REFUSED;
    else if (temp)
        rc = EX_TEMPFAIL;
    dkim_verify_free(v);
    dns_free(dns);
    event_base_free(base);
    free(msg);
    conf_free(&dns_conf_section, &dc);
    return rc;
}

/* dkim keygen|sign|verify ...: DKIM keys and checks without the daemon. */
static int cmd_dkim(struct ctl *ctl, int argc, char **argv)
{
    (void)ctl;
    if (strcmp(argv[1], "keygen") == 0)
        return dkim_keygen_cmd(argc - 2, argv + 2);
    if (strcmp(argv[1], "sign") == 0)
        return dkim_sign_cmd(argc - 2, argv + 2);
    if (strcmp(argv[1], "verify") == 0)
        return dkim_verify_cmd(argc - 2, argv + 2);
    return EX_USAGE;
}

/* ---- mime: the part tree of a message file ------------------------------------------- */

struct mime_row {
    struct mime_part p;          /* as at its end */
    struct zip_list *zip;        /* the names inside, when it is a zip */
};

struct mime_tree {
    struct mime_row *rows;
    size_t n;
};

static struct mime_row *mime_row_of(struct mime_tree *t, unsigned id)
{
    size_t i;

    for (i = t->n; i-- > 0;)
        if (t->rows[i].p.id == id)
            return &t->rows[i];
    return NULL;
}

static void mime_tree_begin(void *arg, const struct mime_part *p)
{
    struct mime_tree *t = arg;

    t->rows = xrealloc(t->rows, (t->n + 1) * sizeof(*t->rows));
    memset(&t->rows[t->n], 0, sizeof(t->rows[t->n]));
    t->rows[t->n++].p = *p;
}

static void mime_tree_data(void *arg, const struct mime_part *p, const unsigned char *d,
                           size_t n)
{
    struct mime_row *r = mime_row_of(arg, p->id);

    if (r == NULL)
        return;
    if (r->zip == NULL && p->size == n && magic_detect(p->head, p->head_len) == MAGIC_ZIP)
        r->zip = zip_list_new();
    if (r->zip != NULL)
        zip_list_feed(r->zip, d, n);
}

static void mime_tree_end(void *arg, const struct mime_part *p)
{
    struct mime_row *r = mime_row_of(arg, p->id);

    if (r != NULL)
        r->p = *p;
    if (r != NULL && r->zip != NULL)
        zip_list_end(r->zip);
}

static void print_flags(unsigned flags)
{
    unsigned b;

    for (b = 1; b != 0; b <<= 1)
        if (flags & b)
            printf(" [%s]", mime_flag_name(b));
}

static int cmd_mime(struct ctl *ctl, int argc, char **argv)
{
    static const char *const enc[] = { "7bit", "8bit", "binary", "base64", "quoted-printable",
                                       "uuencode", "unknown" };
    struct mime_callbacks cb = { mime_tree_begin, mime_tree_data, mime_tree_end, NULL };
    struct mime_tree t = { NULL, 0 };
    struct mime_parser *m;
    unsigned char buf[65536];
    size_t n, i, k;
    FILE *f;

    (void)ctl;
    (void)argc;
    if ((f = fopen(argv[1], "rb")) == NULL) {
        fprintf(stderr, "posternctl: %s: %s\n", argv[1], strerror(errno));
        return EX_NOINPUT;
    }
    m = mime_new(NULL, &cb, &t);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        mime_feed(m, buf, n);
    fclose(f);
    mime_end(m);
    for (i = 0; i < t.n; i++) {
        const struct mime_part *p = &t.rows[i].p;
        struct filetype_verdict v;
        struct filetype_file ff = {
            .filename = p->filename, .name = p->name, .type = p->type, .head = p->head,
            .head_len = p->head_len,
            .members = t.rows[i].zip ? zip_list_names(t.rows[i].zip) : NULL,
            .n_members = t.rows[i].zip ? zip_list_count(t.rows[i].zip) : 0,
        };
        printf("%*s%u %s", (int)(2 * p->depth), "", p->id, p->type);
        if (p->charset[0])
            printf(" charset=%s", p->charset);
        if (p->kind == MIME_KIND_LEAF) {
            printf(" %s %llu bytes, detected %s", enc[p->encoding], p->size,
                   magic_name(magic_detect(p->head, p->head_len)));
            if (p->filename[0])
                printf(", filename \"%s\"", p->filename);
            if (p->name[0])
                printf(", name \"%s\"", p->name);
            if (filetype_check(filetype_default_policy(), &ff, &v) != FT_PASS)
                printf(", BLOCKED (%s %s: %s)", filetype_rule_name(v.rule), v.detail, v.file);
        }
        print_flags(p->flags);
        printf("\n");
        for (k = 0; k < ff.n_members; k++)
            printf("%*s  - %s\n", (int)(2 * p->depth), "", ff.members[k]);
        if (t.rows[i].zip != NULL && (zip_list_flags(t.rows[i].zip) & ZIP_F_ENCRYPTED))
            printf("%*s  (encrypted entries)\n", (int)(2 * p->depth), "");
        zip_list_free(t.rows[i].zip);
    }
    printf("parts %u, flags:", mime_part_count(m));
    print_flags(mime_flags(m));
    printf("%s\n", mime_flags(m) ? " -> MIME_MALFORMED" : " none");
    mime_free(m);
    free(t.rows);
    return EX_OK;
}

/* ---- dmarc: one DMARC evaluation with the daemon's code (mailauth/dmarc.c) ----------------- */

#define CTL_DMARC_DKIM_MAX 16

struct ctl_dmarc_run {
    struct event_base *base;
    struct dmarc_outcome out;
    bool done;
};

static void ctl_dmarc_done(const struct dmarc_outcome *o, void *arg)
{
    struct ctl_dmarc_run *run = arg;

    run->out = *o;
    run->done = true;
    event_base_loopbreak(run->base);
}

static void ctl_dkim_done(struct dkim_verify *v, void *arg)
{
    (void)v;
    event_base_loopbreak(arg);
}

/* "RESULT:DOMAIN" (--spf) or "[d=]DOMAIN:RESULT" (--dkim) into domain and pass. */
static int ctl_dmarc_ident(char *arg, bool result_first, struct dmarc_ident *id)
{
    char *colon = strchr(arg, ':');
    const char *result;

    if (colon == NULL)
        return -1;
    *colon = '\0';
    result = result_first ? arg : colon + 1;
    id->domain = result_first ? colon + 1 : (strncmp(arg, "d=", 2) == 0 ? arg + 2 : arg);
    id->pass = strcmp(result, "pass") == 0;
    return id->domain[0] != '\0' ? 0 : -1;
}

/* dmarc [--dns HOST:PORT] [--spf RESULT:DOMAIN] [--dkim [d=]DOMAIN:RESULT]... [--sample N]
 * MESSAGE|FROMDOMAIN: the From domain(s) of a message file (its DKIM signatures verified
 * unless --dkim is given) or one domain; prints the result first. Exit 0 whatever the
 * result. */
static int cmd_dmarc(struct ctl *ctl, int argc, char **argv)
{
    struct dmarc_ident dk[CTL_DMARC_DKIM_MAX];
    struct dmarc_input in = { 0 };
    struct ctl_dmarc_run run = { 0 };
    struct header_from hf = { .status = HFROM_OK, .n = 1 };
    struct dkim_field f[DKIM_FIELDS_MAX];
    struct dkim_verify *v = NULL;
    struct dkim_conf kc;
    struct dkim_dns iface;
    struct dns_conf dc;
    struct dns *dns;
    const char *server = NULL, *target;
    char *msg = NULL, ar[1024], host[256];
    size_t len = 0, n, body, i;
    int rc, a;

    for (a = 1; a + 1 < argc; a += 2) {
        if (strcmp(argv[a], "--dns") == 0)
            server = argv[a + 1];
        else if (strcmp(argv[a], "--spf") == 0) {
            if (ctl_dmarc_ident(argv[a + 1], true, &in.spf) < 0)
                return EX_USAGE;
        } else if (strcmp(argv[a], "--dkim") == 0) {
            if (in.ndkim == CTL_DMARC_DKIM_MAX ||
                ctl_dmarc_ident(argv[a + 1], false, &dk[in.ndkim++]) < 0)
                return EX_USAGE;
        } else if (strcmp(argv[a], "--sample") == 0)
            in.sample = (unsigned)strtoul(argv[a + 1], NULL, 10) % 100;
        else
            break;
    }
    if (a != argc - 1)
        return EX_USAGE;
    target = argv[a];
    in.dkim = dk;
    if ((rc = ctl_spf_dns_conf(ctl, server, &dc)) != 0)
        return rc;
    run.base = event_base_new();
    dns = dns_new(run.base, &dc);
    if (dns == NULL) {
        fprintf(stderr, "posternctl: cannot start the resolver\n");
        rc = EX_UNAVAILABLE;
        goto out;
    }
    iface = dkim_dns_resolver(dns);
    if (strchr(target, '/') != NULL || access(target, R_OK) == 0) {   /* a message file */
        if ((msg = dkim_read_message(target, &len)) == NULL) {
            rc = EX_NOINPUT;
            goto out;
        }
        header_from_domains(msg, len, &hf);
        if (in.ndkim == 0 && dkim_split(msg, len, f, &n, &body) == 0) {
            const struct dkim_result *res;
            json_t *j = json_object();
            memset(&kc, 0, sizeof(kc));
            dkim_conf_from_json(j, &kc);
            json_decref(j);
            v = dkim_verify_new(&kc.verify, f, n, (long long)time(NULL));
            dkim_verify_body(v, msg + body, len - body);
            dkim_verify_body_end(v);
            res = dkim_verify_results(v, &n);
            if (n > 0) {
                dkim_verify_start(v, run.base, &iface, ctl_dkim_done, run.base);
                event_base_dispatch(run.base);
            }
            for (i = 0; i < n && in.ndkim < CTL_DMARC_DKIM_MAX; i++, in.ndkim++) {
                dk[in.ndkim].domain = res[i].domain;
                dk[in.ndkim].pass = res[i].status == DKIM_PASS;
                printf("dkim: %s %s\n", res[i].domain, dkim_status_name(res[i].status));
            }
            conf_free(&dkim_conf_section, &kc);
        }
    } else {
        snprintf(hf.domain[0], sizeof(hf.domain[0]), "%s", target);
    }
    if (hf.status != HFROM_OK && hf.status != HFROM_MULTIPLE_DOMAINS) {
        printf("permerror %s: DMARC cannot be applied\n", header_from_status_name(hf.status));
        goto out;
    }
    if (ctl->loaded && ctl->c.hostname)            /* the authserv-id the daemon uses */
        snprintf(host, sizeof(host), "%s", ctl->c.hostname);
    else if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    for (i = 0; i < hf.n; i++) {
        const struct dmarc_outcome *o = &run.out;
        in.from_domain = hf.domain[i];
        run.done = false;
        dmarc_check_start(run.base, &iface, &in, ctl_dmarc_done, &run);
        event_base_dispatch(run.base);
        if (!run.done)
            continue;
        printf("%s %s\n", dmarc_result_name(o->result), o->comment ? o->comment : "");
        printf("from: %s (organizational domain %s)\n", o->from_domain, o->org_domain);
        if (o->have_record)
            printf("record: _dmarc.%s p=%s sp=%s pct=%u adkim=%s aspf=%s\n"
                   "policy: %s, disposition: %s%s\n", o->record_domain,
                   dmarc_policy_name(o->record.p), dmarc_policy_name(o->record.sp),
                   o->record.pct, o->record.adkim == DMARC_ALIGN_STRICT ? "s" : "r",
                   o->record.aspf == DMARC_ALIGN_STRICT ? "s" : "r",
                   dmarc_policy_name(o->policy), dmarc_policy_name(o->disposition),
                   o->sampled_out ? " (sampled out by pct)" : "");
        printf("aligned: spf %s, dkim %s%s\n", o->spf_aligned ? "yes" : "no",
               o->dkim_aligned ? "yes " : "no", o->dkim_aligned ? o->dkim_domain : "");
        dmarc_ar_format(ar, sizeof(ar), o);
        printf("Authentication-Results: %s; %s\n", host, ar);
    }
    rc = EX_OK;
out:
    dkim_verify_free(v);
    if (dns != NULL)
        dns_free(dns);
    event_base_free(run.base);
    free(msg);
    if (server)
        conf_free(&dns_conf_section, &dc);
    return rc;
}

/* scan [--db DIR] FILE...: through the daemon's own scanner path (content/scan_cmd.c). */
static int cmd_scan(struct ctl *ctl, int argc, char **argv)
{
    (void)ctl;
    return scan_cmd(argc, argv, stdout);
}

static int cmd_spam(struct ctl *ctl, int argc, char **argv)
{
    if (ctl_load(ctl) < 0)
        return EX_CONFIG;
    return posternctl_spam(&ctl->c, argc - 1, argv + 1);
}

static int cmd_check(struct ctl *ctl, int argc, char **argv)
{
    if (ctl_load(ctl) < 0)
        return EX_CONFIG;
    return posternctl_check(&ctl->c, argc - 1, argv + 1);
}

static const struct ctl_cmd ctl_commands[] = {
    { "queue",   0, 3, cmd_op,     "queue [--json] | queue show ID [--json]",
      "list queued messages: ID, size, age, sender, recipients and their state "
      "(--json: one object per line); show: one message" },
    { "flush",   0, 2, cmd_daemon, "flush [ID | --domain DOMAIN]",
      "deliver now: every message, one, or those for a domain (@DOMAIN: and subdomains)" },
    { "hold",    1, 1, cmd_daemon, "hold ID", "keep a message in the queue, undelivered" },
    { "release", 1, 1, cmd_daemon, "release ID", "let a held message be delivered again" },
    { "delete",  1, 1, cmd_daemon, "delete ID", "remove a message from the queue (no DSN)" },
    { "quarantine", 1, 11, cmd_op, ADMIN_QUAR_USAGE,
      "messages the policy quarantined, on every node (shared index in Redis): list them "
      "(by recipient or domain, reason, a page), show one, print its message (on the node "
      "that holds it), release one to its recipient as it arrived (--learn-ham: and train "
      "the classifier), or delete one" },
    { "held",    1, 11, cmd_op,    "held list | held release|delete ID",
      "the old name of quarantine (same subcommands)" },
    { "status",  0, 0, cmd_daemon, "status",
      "the daemon at a glance: pid, uptime, config file, listeners, queue counts (active, "
      "deferred, held, corrupt), whether delivery is paused, Redis, webhook backlog; then "
      "each queued message's state, tries and next try" },
    { "pause",   0, 0, cmd_daemon, "pause",
      "stop delivering (mail is still accepted and queued) until resume or a restart" },
    { "resume",  0, 0, cmd_daemon, "resume", "deliver again after pause" },
    { "ping",    0, 0, cmd_daemon, "ping", "check that the daemon answers" },
    { "ratelimit", 2, 3, cmd_op, "ratelimit show|reset USER [--json]",
      "a user's rate-limit class, use in the current window and retry time; reset clears it" },
    { "greylist", 2, 2, cmd_op, "greylist show|allow|forget IP|NETWORK",
      "a client network's greylisting state (IP: its /24 or /64); allow exempts it, "
      "forget drops its triplets" },
    { "account", 2, 3, cmd_op, "account show|suspend|release LOGIN [--drop-queued]",
      "the compromised-account breaker: whether a login is suspended and why, and its mail "
      "in this node's queue; suspend stops it at once (new mail 450 4.7.1, queued mail held "
      "on every node); release lets it send again and sends its held mail (--drop-queued: "
      "deletes it instead, no DSN)" },
    { "policy",  2, 4, cmd_op, "policy set ADDRESS KEY VALUE | policy show ADDRESS | "
      "policy unset ADDRESS KEY|all",
      "a user's overrides of their domain's policy settings in Redis (level, tag, spam, "
      "kill, greylisting, strict_dns, virus_action, file_action, whitelist, blacklist, "
      "exclusions), seen by every node" },
    { "suppress", 2, 3, cmd_op, "suppress list LOGIN | suppress add|remove LOGIN ADDRESS",
      "a newsletter sender's suppression list (hard bounces, complaints, manual entries)" },
    { "webhooks", 0, 2, cmd_webhooks,
      "webhooks [--json] | webhooks test [ENDPOINT] | webhooks retry",
      "endpoints (URL with its path) with pending and failed event counts; test queues a "
      "webhook.test event; retry makes the daemon send the outbox now" },
    { "spf",     2, 5, cmd_spf,    "spf [--dns HOST:PORT] IP SENDER [HELO]",
      "evaluate SPF for one client as the daemon would; prints the result first "
      "(SENDER \"\": the null sender, HELO is checked)" },
    { "dkim", 2, 10, cmd_dkim,
      "dkim keygen DOMAIN SELECTOR [--type rsa|ed25519] [--bits N] [--dir DIR] | "
      "dkim sign --key FILE --domain D --selector S [--algorithm A] MESSAGE | "
      "dkim verify [--dns HOST:PORT] MESSAGE",
      "write a DKIM key pair and print its DNS record; sign a message file; verify its "
      "signatures (docs/posternctl.md)" },
    { "dmarc", 1, 20, cmd_dmarc,
      "dmarc [--dns HOST:PORT] [--spf RESULT:DOMAIN] [--dkim [d=]DOMAIN:RESULT]... "
      "[--sample N] MESSAGE|FROMDOMAIN",
      "evaluate DMARC as the daemon would (a message's From, its DKIM signatures verified); "
      "prints the result first" },
    { "scan", 1, 1000, cmd_scan,
      "scan [--db DIR] [--conf JSON] [--offset N] [--no-cache] [--repeat N] [--parallel N] "
      "FILE...",
      "scan files for viruses with the daemon's scanner program; prints RESULT NAME PATH "
      "(clean, virus, unscanned, encrypted, error, unavailable)" },
    { "mime",    1, 1, cmd_mime,   "mime FILE",
      "the MIME part tree of a message file: types, names, detected types, zip contents, "
      "blocked files (default lists) and malformations" },
    { "spam", 1, 4096, cmd_spam, POSTERNCTL_SPAM_USAGE,
      "the spam classifier's model in Redis: learn messages as spam or ham, forget it, "
      "show its size; score messages offline as the daemon would: SCORE ACTION PATH" },
    { "check", 3, 4096, cmd_check, POSTERNCTL_CHECK_USAGE,
      "run a message through a profile's policy checks offline, as the daemon would (real "
      "DNS, Redis and scanner when configured; nothing is queued): each stage's reply, "
      "each recipient's action, score, symbols and headers, the facts" },
    { "help",    0, 0, cmd_help,   "help", "this list" },
    { NULL, 0, 0, NULL, NULL, NULL }
};

static const struct option ctl_longopts[] = {
    { "http", required_argument, NULL, 'H' },
    { "token", required_argument, NULL, 'T' },
    { "socket", required_argument, NULL, 's' },
    { "cacert", required_argument, NULL, 'C' },
    { "cert", required_argument, NULL, 'c' },
    { "key", required_argument, NULL, 'k' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { "man-commands", no_argument, NULL, 'M' },
    { NULL, 0, NULL, 0 }
};

int main(int argc, char **argv)
{
    struct ctl ctl;
    const struct ctl_cmd *c;
    int opt, rc;

    memset(&ctl, 0, sizeof(ctl));
    ctl.config_path = DEFAULT_CONFIG;
    while ((opt = getopt_long(argc, argv, "+f:s:hV", ctl_longopts, NULL)) != -1) {
        switch (opt) {
        case 'f': ctl.config_path = optarg; break;
        case 'H': ctl.http = optarg; break;
        case 'T': ctl.token = optarg; break;
        case 's': ctl.socket = optarg; break;
        case 'C': ctl.cacert = optarg; break;
        case 'c': ctl.cert = optarg; break;
        case 'k': ctl.key = optarg; break;
        case 'h': usage(stdout); return EX_OK;
        case 'V': printf("posternctl %s\n", POSTERN_VERSION); return EX_OK;
        case 'M': usage_man(stdout); return EX_OK;
        default: usage(stderr); return EX_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EX_USAGE;
    }
    for (c = ctl_commands; c->name; c++)
        if (strcmp(c->name, argv[optind]) == 0)
            break;
    if (c->name == NULL) {
        fprintf(stderr, "posternctl: unknown command \"%s\"\n", argv[optind]);
        usage(stderr);
        return EX_USAGE;
    }
    argc -= optind;
    argv += optind;
    if (argc - 1 < c->min_args || argc - 1 > c->max_args) {
        fprintf(stderr, "usage: posternctl %s\n", c->usage);
        return EX_USAGE;
    }
    rc = c->run(&ctl, argc, argv);
    if (rc == EX_USAGE)
        fprintf(stderr, "usage: posternctl %s\n", c->usage);
    if (ctl.loaded)
        conf_free(&relay_conf_root, &ctl.c);
    return rc;
}
