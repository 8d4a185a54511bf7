/*
 * admin_ops.c - the admin commands that read the spool or Redis (see admin_ops.h).
 *
 * The same code answers posternctl run next to the spool (it calls admin_ops_run itself)
 * and the daemon's admin socket and HTTP API (relay/admin.c runs it on the worker pool):
 * so the answer is the same whichever way it is asked. Every function here blocks (file
 * reads, a blocking Redis connection) and writes its output to `out`, its error reasons
 * to errout() (lib/errout.h), and returns a sysexits(3) code.
 */
#include "relay/admin_ops.h"

#include "lib/errout.h"
#include "lib/qid.h"
#include "lib/redis.h"
#include "lib/xalloc.h"
#include "policy/account_breaker.h"
#include "policy/greylist_admin.h"
#include "policy/ratelimit.h"
#include "policy/result.h"
#include "policy/suppress_admin.h"
#include "policy/user_prefs_admin.h"
#include "relay/admin_quar.h"
#include "relay/queue/queue_file.h"
#include "relay/queue/queue_login.h"
#include "relay/relay_conf.h"
#include "webhooks/webhooks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* ---- queue listing (reads the spool) -------------------------------------------------- */

static const char *state_name(const struct qf_rcpt *r)
{
    if (r->state == QF_DONE)
        return "delivered";
    if (r->state == QF_BOUNCED)
        return "bounced";
    if (queue_file_rcpt_held(r))
        return "held";
    return r->deferred ? "deferred" : "pending";
}

static void fmt_age(char *buf, size_t len, long long s)
{
    long long v;
    char unit;

    if (s < 0)
        s = 0;
    v = s < 120 ? s : s < 7200 ? s / 60 : s < 172800 ? s / 3600 : s / 86400;
    unit = s < 120 ? 's' : s < 7200 ? 'm' : s < 172800 ? 'h' : 'd';
    if (len > 0 && snprintf(buf, len, "%lld%c", v, unit) >= (int)len)
        buf[len - 1] = '\0';
}

static int cmp_arrival(const void *a, const void *b)
{
    const struct queue_file *x = *(struct queue_file *const *)a;
    const struct queue_file *y = *(struct queue_file *const *)b;
    return x->arrival < y->arrival ? -1 : x->arrival > y->arrival;
}

static json_t *json_message(const struct queue_file *qf, long long now)
{
    json_t *rcpts = json_array(), *o;
    size_t i;
    for (i = 0; i < qf->nrcpt; i++) {
        const struct qf_rcpt *r = &qf->rcpts[i];
        json_t *jr = json_pack("{s:s, s:s}", "address", r->addr, "state", state_name(r));
        if (r->dsn[0])
            json_object_set_new(jr, "dsn", json_string(r->dsn));
        if (r->relay)
            json_object_set_new(jr, "relay", json_string(r->relay));
        if (r->text)
            json_object_set_new(jr, r->state == QF_PENDING ? "last_error" : "reply",
                                json_string(r->text));
        if (r->time)
            json_object_set_new(jr, "time", json_integer(r->time));
        json_array_append_new(rcpts, jr);
    }
    o = json_pack("{s:s, s:I, s:I, s:I, s:s, s:b, s:I, s:o}", "queue_id", qf->qid,
                  "arrival_time", (json_int_t)qf->arrival, "age_s",
                  (json_int_t)(now - (long long)qf->arrival), "message_size",
                  (json_int_t)qf->msg_size, "sender", qf->sender, "held", qf->held, "tries",
                  (json_int_t)qf->tries, "recipients", rcpts);
    json_object_set_new(o, "next_try", qf->next_try ? json_integer(qf->next_try) : json_null());
    if (qf->suspended)   /* held while its login is suspended (relay/queue/queue_account.c) */
        json_object_set_new(o, "held_reason", json_string("account suspended"));
    return o;
}

static void text_message(FILE *out, const struct queue_file *qf, long long now)
{
    char age[16], next[64];
    size_t i;

    fmt_age(age, sizeof(age), now - (long long)qf->arrival);
    fprintf(out, "%-20s %9llu %5s  <%s>%s\n", qf->qid, (unsigned long long)qf->msg_size, age,
           qf->sender, qf->held ? "  (held)" : qf->suspended ? "  (held: account suspended)" : "");
    if (qf->tries) {
        char in[16];
        time_t t = (time_t)qf->next_try;
        struct tm tm;
        localtime_r(&t, &tm);
        fmt_age(in, sizeof(in), qf->next_try - now);
        strftime(next, sizeof(next), "%Y-%m-%d %H:%M:%S", &tm);
        fprintf(out, "    tries %u, next try %s (%s%s)\n", qf->tries, next,
               qf->next_try > now ? "in " : "", qf->next_try > now ? in : "due");
    }
    for (i = 0; i < qf->nrcpt; i++) {
        const struct qf_rcpt *r = &qf->rcpts[i];
        fprintf(out, "    <%s> %s", r->addr, state_name(r));
        if (r->text)
            fprintf(out, " (%s%s)", r->state == QF_PENDING ? "last error: " : "", r->text);
        fprintf(out, "\n");
    }
}

/* queue [--json] | queue show ID [--json]: the messages in SPOOL/queue, oldest first. */
static int op_queue(const struct relay_conf *c, int argc, char **argv, FILE *out)
{
    struct queue_file **list = NULL;
    size_t n = 0, cap = 0, i;
    unsigned long long bytes = 0;
    long long now = (long long)time(NULL);
    const char *only = NULL;
    bool json;
    char *qdir;
    struct dirent *e;
    DIR *d;
    int dfd;

    argc--, argv++;               /* past "queue" */
    if (argc >= 2 && strcmp(argv[0], "show") == 0) {
        only = argv[1];
        argc -= 2, argv += 2;
    }
    json = argc == 1 && strcmp(argv[0], "--json") == 0;
    if (argc > 1 || (argc == 1 && !json))
        return EX_USAGE;
    if (only != NULL && !qid_valid(only)) {
        fprintf(errout(), "%s: not a queue ID\n", only);
        return EX_DATAERR;
    }
    qdir = xasprintf("%s/queue", c->spool_dir);
    dfd = open(qdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || (d = fdopendir(dup(dfd))) == NULL) {
        fprintf(errout(), "posternctl: cannot read %s: %s\n", qdir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        free(qdir);
        return EX_NOINPUT;
    }
    while ((e = readdir(d)) != NULL) {
        struct queue_file *qf;
        if (!qid_valid(e->d_name) || (only != NULL && strcmp(e->d_name, only) != 0))
            continue;
        qf = queue_file_load(dfd, e->d_name, NULL);
        if (qf == NULL)
            continue; /* delivered and removed meanwhile, or unreadable */
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            list = realloc(list, cap * sizeof(*list));
            if (list == NULL)
                abort();
        }
        list[n++] = qf;
    }
    closedir(d);
    close(dfd);
    free(qdir);
    if (n)
        qsort(list, n, sizeof(*list), cmp_arrival);
    if (only != NULL && n == 0) {
        fprintf(errout(), "%s: no such message\n", only);
        free(list);
        return EX_CTL_REFUSED;
    }
    if (!json && n)
        fprintf(out, "%-20s %9s %5s  %s\n", "QUEUE ID", "SIZE", "AGE", "SENDER / RECIPIENTS");
    for (i = 0; i < n; i++) {
        bytes += list[i]->msg_size;
        if (json) {
            json_t *o = json_message(list[i], now);
            char *s = json_dumps(o, JSON_COMPACT);
            fprintf(out, "%s\n", s);
            free(s);
            json_decref(o);
        } else {
            text_message(out, list[i], now);
        }
        queue_file_free(list[i]);
    }
    if (!json && only == NULL) {
        if (n == 0)
            fprintf(out, "Mail queue is empty\n");
        else
            fprintf(out, "-- %zu message%s, %llu bytes\n", n, n == 1 ? "" : "s", bytes);
    }
    free(list);
    return EX_OK;
}

/* ---- Redis ------------------------------------------------------------------------------ */

/* A blocking Redis connection from the config, or NULL after saying why. */
static redisContext *op_redis(const struct relay_conf *c)
{
    redisContext *r = redis_connect_blocking(&c->redis);
    if (r == NULL)
        fprintf(errout(), "cannot reach Redis (redis.socket / redis.address)\n");
    return r;
}

/* ratelimit show|reset USER [--json] */
static int op_ratelimit(const struct relay_conf *c, int argc, char **argv, FILE *out)
{
    bool json = argc == 4 && strcmp(argv[3], "--json") == 0;
    bool show = strcmp(argv[1], "show") == 0;
    redisContext *r;
    int rc;

    if ((argc == 4 && !json) || (!show && strcmp(argv[1], "reset") != 0) || (json && !show))
        return EX_USAGE;
    if ((r = op_redis(c)) == NULL)
        return EX_UNAVAILABLE;
    rc = show ? rl_admin_show(r, &c->ratelimit, argv[2], json, out)
              : rl_admin_reset(r, &c->ratelimit, argv[2], out);
    redisFree(r);
    return rc == 0 ? 0 : EX_TEMPFAIL;
}

/* greylist show|allow|forget IP|NETWORK */
static int op_greylist(const struct relay_conf *c, int argc, char **argv, FILE *out)
{
    redisContext *r;
    int rc;

    (void)argc;
    if (strcmp(argv[1], "show") != 0 && strcmp(argv[1], "allow") != 0 &&
        strcmp(argv[1], "forget") != 0)
        return EX_USAGE;
    if ((r = op_redis(c)) == NULL)
        return EX_UNAVAILABLE;
    rc = greylist_admin(r, argv[1], argv[2], out);
    redisFree(r);
    return rc == 0 ? 0 : rc > 0 ? EX_DATAERR : EX_TEMPFAIL;
}

/* account show|suspend|release LOGIN [--drop-queued]: the compromised-account breaker;
 * show adds the login's messages in this node's queue (held: relay/queue/queue_account.c). */
static int op_account(const struct relay_conf *c, int argc, char **argv, FILE *out)
{
    bool show = strcmp(argv[1], "show") == 0, release = strcmp(argv[1], "release") == 0;
    bool drop = argc == 4 && release && strcmp(argv[3], "--drop-queued") == 0;
    unsigned queued, held;
    redisContext *r;
    int rc;

    if ((!show && !release && strcmp(argv[1], "suspend") != 0) || (argc == 4 && !drop))
        return EX_USAGE;
    if ((r = op_redis(c)) == NULL)
        return EX_UNAVAILABLE;
    rc = show ? account_admin_show(r, argv[2], out)
         : release ? account_admin_release(r, argv[2], drop, out)
                   : account_admin_suspend(r, argv[2], NULL, out);
    redisFree(r);
    if (rc == 0 && show && queue_login_count(c->spool_dir, argv[2], &queued, &held) == 0)
        fprintf(out, "queued on this node: %u, held (account suspended): %u\n", queued, held);
    return rc == 0 ? 0 : EX_TEMPFAIL;
}

/* suppress list LOGIN | suppress add|remove LOGIN ADDRESS */
static int op_suppress(const struct relay_conf *c, int argc, char **argv, FILE *out)
{
    bool list = strcmp(argv[1], "list") == 0;
    redisContext *r;
    int rc;

    if ((list && argc != 3) || (!list && argc != 4) ||
        (!list && strcmp(argv[1], "add") != 0 && strcmp(argv[1], "remove") != 0))
        return EX_USAGE;
    if ((r = op_redis(c)) == NULL)
        return EX_UNAVAILABLE;
    rc = suppress_admin(r, argv[1], argv[2], list ? NULL : argv[3], out);
    redisFree(r);
    return rc == 0 ? 0 : EX_TEMPFAIL;
}

/* policy set ADDRESS KEY VALUE | show ADDRESS | unset ADDRESS KEY */
static int op_policy(const struct relay_conf *c, int argc, char **argv, FILE *out)
{
    redisContext *r;
    int rc;

    if ((r = op_redis(c)) == NULL)
        return EX_UNAVAILABLE;
    rc = user_prefs_admin(r, argv[1], argv[2], argc > 3 ? argv[3] : NULL,
                          argc > 4 ? argv[4] : NULL, out);
    redisFree(r);
    return rc == 0 ? 0 : rc > 0 ? EX_DATAERR : EX_TEMPFAIL;
}

/* webhooks [--json]: endpoints (the URL with its path) and their outbox counts. */
static int op_webhooks(const struct relay_conf *c, int argc, char **argv, FILE *out)
{
    if (argc > 2 || (argc == 2 && strcmp(argv[1], "--json") != 0))
        return EX_USAGE;
    return webhooks_admin_list(out, &c->webhooks, argc == 2) == 0 ? 0 : EX_NOINPUT;
}

static const struct admin_op admin_ops[] = {
    { "queue",     0, 3, op_queue },
    { "ratelimit", 2, 3, op_ratelimit },
    { "greylist",  2, 2, op_greylist },
    { "account",   2, 3, op_account },
    { "suppress",  2, 3, op_suppress },
    { "policy",    2, 4, op_policy },
    { "webhooks",  0, 1, op_webhooks },
    { "quarantine", 1, 11, admin_quar_run },
    { "held",      1, 11, admin_quar_run },  /* the old name of quarantine */
    { NULL, 0, 0, NULL }
};

const struct admin_op *admin_op_find(int argc, char **argv)
{
    const struct admin_op *op;

    if (argc < 1)
        return NULL;
    for (op = admin_ops; op->name; op++)
        if (strcmp(op->name, argv[0]) == 0)
            break;
    if (op->name == NULL)
        return NULL;
    /* rows that share a name with a daemon command: only their reading forms are ops */
    if (strcmp(op->name, "webhooks") == 0 && argc >= 2 && strcmp(argv[1], "--json") != 0)
        return NULL;
    return op;
}

int admin_ops_run(const struct relay_conf *c, int argc, char **argv, FILE *out)
{
    const struct admin_op *op = admin_op_find(argc, argv);

    if (op == NULL || argc - 1 < op->min_args || argc - 1 > op->max_args)
        return EX_USAGE;
    return op->run(c, argc, argv, out);
}
