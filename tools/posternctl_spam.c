/*
 * posternctl_spam.c - `posternctl spam`: the classifier model in Redis (learn, forget,
 * stats) and offline scoring (score) with exactly the daemon's code: the model loaded the
 * way each node's snapshot is (content/spam_store.h), the message scored by
 * content/spam_score.h, its symbols as the spam check gives them (check_spam_symbols),
 * their scores from the config's symbol table, and the action from the protection level
 * by the engine's own arithmetic (policy/decide.h).
 *
 *   learn --spam|--ham [--max-features N] [--expire-days D] PATH...
 *        PATH: a message file, an mbox ("From " lines), or a directory (walked, dot files
 *        skipped). Counts are pushed every LEARN_BATCH messages; progress on stderr.
 *   forget                      drop the model (every node reloads within its refresh)
 *   forget --spam|--ham PATH... unlearn messages learned before (e.g. learned as the
 *                               wrong class: forget --spam X, then learn --ham X)
 *   stats [--json]
 *   score [--json] [--level L] PATH...   ("-": read paths from stdin, one a line)
 *        one line per message: SCORE ACTION PATH (an mbox gives PATH:N per message)
 */
#include "tools/posternctl_spam.h"

#include "content/spam_score.h"
#include "content/spam_store.h"
#include "lib/redis.h"
#include "lib/xalloc.h"
#include "policy/checks/check_spam.h"
#include "policy/decide.h"
#include "policy/levels.h"
#include "policy/symbols.h"
#include "relay/relay_conf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define LEARN_BATCH    2000
#define PROGRESS_EVERY 500
#define PATH_MAX_LEN   4096

typedef void (*msg_fn)(void *ctx, const char *path, const char *msg, size_t len);

static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    char *b = NULL;
    size_t got = 0;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        b = malloc((size_t)st.st_size + 1);
        while (b && got < (size_t)st.st_size) {
            ssize_t n = read(fd, b + got, (size_t)st.st_size - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
    }
    close(fd);
    if (b) {
        b[got] = '\0';
        *len = got;
    }
    return b;
}

/* An mbox: messages start at "From " lines; the separator line is not part of them. */
static void each_in_mbox(const char *path, const char *b, size_t len, msg_fn fn, void *ctx)
{
    size_t i = 0, n = 0;
    char name[PATH_MAX_LEN + 16];

    while (i < len) {
        const char *nl = memchr(b + i, '\n', len - i);
        size_t start = nl ? (size_t)(nl - b) + 1 : len, end = start;
        /* find the next "\nFrom " */
        for (;;) {
            const char *p = end < len ? memmem(b + end, len - end, "\nFrom ", 6) : NULL;
            end = p ? (size_t)(p - b) + 1 : len;
            break;
        }
        snprintf(name, sizeof(name), "%s:%zu", path, ++n);
        fn(ctx, name, b + start, end - start);
        i = end;
    }
}

static int each_message(const char *path, msg_fn fn, void *ctx)
{
    struct stat st;

    if (stat(path, &st) < 0) {
        fprintf(stderr, "posternctl: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        struct dirent **ents;
        int n = scandir(path, &ents, NULL, alphasort), i, bad = 0;
        if (n < 0) {
            fprintf(stderr, "posternctl: %s: %s\n", path, strerror(errno));
            return -1;
        }
        for (i = 0; i < n; i++) {
            char sub[PATH_MAX_LEN];
            if (ents[i]->d_name[0] != '.' &&
                snprintf(sub, sizeof(sub), "%s/%s", path, ents[i]->d_name) < (int)sizeof(sub))
                bad |= each_message(sub, fn, ctx);
            free(ents[i]);
        }
        free(ents);
        return bad;
    }
    {
        size_t len = 0;
        char *b = slurp(path, &len);
        if (b == NULL) {
            fprintf(stderr, "posternctl: %s: cannot read\n", path);
            return -1;
        }
        if (len > 5 && memcmp(b, "From ", 5) == 0)
            each_in_mbox(path, b, len, fn, ctx);
        else
            fn(ctx, path, b, len);
        free(b);
    }
    return 0;
}

static redisContext *connect_redis(const struct relay_conf *c)
{
    if (c->redis.socket == NULL && c->redis.address == NULL) {
        fprintf(stderr, "posternctl: spam: the config names no redis\n");
        return NULL;
    }
    return redis_connect_blocking(&c->redis);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- learn ------------------------------------------------------------------------------- */

struct learn {
    redisContext *rc;
    struct spam_model delta;
    bool spam;
    int sign;                    /* +1 learn, -1 unlearn (forget --spam|--ham) */
    unsigned long long n, pending, cap, expire;
    double t0;
    int failed;
};

static int learn_flush(struct learn *l)
{
    if (l->pending == 0)
        return 0;
    if (spam_store_learn(l->rc, &l->delta, l->sign, l->cap, l->expire) < 0)
        return -1;
    spam_model_clear(&l->delta);
    spam_model_init(&l->delta, 1 << 16);
    l->pending = 0;
    return 0;
}

static void learn_one(void *ctx, const char *path, const char *msg, size_t len)
{
    struct learn *l = ctx;

    (void)path;
    if (l->failed)
        return;
    spam_score_learn(&l->delta, msg, len, l->spam, 1);   /* counts; l->sign applies in Redis */
    l->n++;
    l->pending++;
    if (l->pending >= LEARN_BATCH && learn_flush(l) < 0)
        l->failed = 1;
    if (l->n % PROGRESS_EVERY == 0)
        fprintf(stderr, "posternctl: spam %s: %llu messages (%.0f/s)\n",
                l->sign > 0 ? "learn" : "forget", l->n, (double)l->n / (now() - l->t0 + 1e-9));
}

/* learn (sign +1) or forget (-1) messages */
static int cmd_learn(const struct relay_conf *c, int argc, char **argv, int sign)
{
    struct learn l;
    int i, which = -1, bad = 0, nfiles = 0;
    struct spam_store_stats st;

    memset(&l, 0, sizeof(l));
    l.sign = sign;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--spam") == 0)
            which = 1;
        else if (strcmp(argv[i], "--ham") == 0)
            which = 0;
        else if (strcmp(argv[i], "--max-features") == 0 && i + 1 < argc)
            l.cap = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--expire-days") == 0 && i + 1 < argc)
            l.expire = strtoull(argv[++i], NULL, 10);
        else if (argv[i][0] == '-' && argv[i][1] != '\0')
            return EX_USAGE;
        else
            nfiles++;
    }
    if (which < 0 || nfiles == 0)
        return EX_USAGE;
    if ((l.rc = connect_redis(c)) == NULL)
        return EX_UNAVAILABLE;
    l.spam = which == 1;
    l.t0 = now();
    spam_model_init(&l.delta, 1 << 16);
    for (i = 1; i < argc && !l.failed; i++) {
        if (strcmp(argv[i], "--max-features") == 0 || strcmp(argv[i], "--expire-days") == 0) {
            i++;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0')
            continue;
        bad |= each_message(argv[i], learn_one, &l);
    }
    if (!l.failed && learn_flush(&l) < 0)
        l.failed = 1;
    spam_model_clear(&l.delta);
    if (!l.failed && spam_store_stats(l.rc, &st) == 0)
        printf("%s %llu %s message%s in %.1f s; model: %llu spam, %llu ham, %llu "
               "features\n", sign > 0 ? "learned" : "forgot", l.n, l.spam ? "spam" : "ham",
               l.n == 1 ? "" : "s",
               now() - l.t0, st.nspam, st.nham, st.features);
    redisFree(l.rc);
    return l.failed ? EX_UNAVAILABLE : bad ? EX_NOINPUT : EX_OK;
}

/* ---- score ------------------------------------------------------------------------------- */

struct scorer {
    const struct relay_conf *c;
    const struct spam_model *m;
    struct symtab *syms;
    const struct level_conf *level;
    bool json;
    double total;
    json_t *symbols;
};

static void add_symbol(void *ctx, const char *name, double weight, const char *text)
{
    struct scorer *s = ctx;
    const struct symbol *sym = symtab_find(s->syms, name);
    double sc = (sym ? sym->score : 1.0) * weight;

    (void)text;
    s->total += sc;
    if (s->symbols)
        json_object_set_new(s->symbols, name, json_real(sc));
}

static void score_one(void *ctx, const char *path, const char *msg, size_t len)
{
    struct scorer *s = ctx;
    struct spam_score sc;
    struct decide_input in;
    struct decision d;

    spam_score_message(s->m, msg, len > SPAM_READ_MAX_DEFAULT ? SPAM_READ_MAX_DEFAULT : len,
                       &sc);
    s->total = 0;
    s->symbols = s->json ? json_object() : NULL;
    check_spam_symbols(&sc, add_symbol, s);
    memset(&in, 0, sizeof(in));
    in.score = s->total;
    in.tag = s->level->tag;
    in.spam = s->level->spam;
    in.kill = s->level->kill;
    in.spam_action = level_spam_disposition(s->level);
    in.verdict = DISP_NONE;
    in.verdict_mixed = DISP_NONE;
    decide_rcpt(&in, &d);
    if (s->json) {
        json_t *o = json_pack("{s:s, s:f, s:s, s:s, s:o}", "path", path, "score", s->total,
                              "action", disposition_name(d.disp), "level", s->level->name,
                              "symbols", s->symbols);
        char *txt;
        if (sc.bayes_prob >= 0)
            json_object_set_new(o, "bayes", json_real(sc.bayes_prob));
        txt = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
        printf("%s\n", txt);
        free(txt);
        json_decref(o);
    } else {
        printf("%.2f %s %s\n", s->total, disposition_name(d.disp), path);
    }
    s->symbols = NULL;
}

static int cmd_score(const struct relay_conf *c, int argc, char **argv)
{
    struct scorer s;
    struct spam_model m;
    struct conf_errors errs = { .file = "config", .count = 0, .out = stderr };
    const char *level = c->domain_defaults.level ? c->domain_defaults.level : LEVEL_DEFAULT;
    redisContext *rc;
    int i, bad = 0, nfiles = 0;

    memset(&s, 0, sizeof(s));
    s.c = c;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            s.json = true;
        else if (strcmp(argv[i], "--level") == 0 && i + 1 < argc)
            level = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1] != '\0')
            return EX_USAGE;
        else
            nfiles++;
    }
    if (nfiles == 0)
        return EX_USAGE;
    if ((s.level = level_find(&c->policy.levels, level)) == NULL) {
        fprintf(stderr, "posternctl: spam score: no level \"%s\"\n", level);
        return EX_USAGE;
    }
    if ((s.syms = symtab_new(&c->policy.profiles, &c->policy.symbols, "/policy", &errs)) == NULL)
        return EX_CONFIG;
    if ((rc = connect_redis(c)) == NULL || spam_store_load(rc, &m, NULL) < 0) {
        if (rc)
            redisFree(rc);
        symtab_free(s.syms);
        return EX_UNAVAILABLE;
    }
    redisFree(rc);
    s.m = &m;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--level") == 0) {
            i++;
            continue;
        }
        if (strcmp(argv[i], "-") == 0) {
            char line[PATH_MAX_LEN];
            while (fgets(line, sizeof(line), stdin)) {
                line[strcspn(line, "\r\n")] = '\0';
                if (line[0])
                    bad |= each_message(line, score_one, &s);
                fflush(stdout);
            }
        } else if (argv[i][0] != '-') {
            bad |= each_message(argv[i], score_one, &s);
        }
    }
    spam_model_clear(&m);
    symtab_free(s.syms);
    return bad ? EX_NOINPUT : EX_OK;
}

/* ---- forget, stats ------------------------------------------------------------------------- */

static int cmd_forget(const struct relay_conf *c, int argc, char **argv)
{
    redisContext *rc;
    int rv;

    (void)argv;
    if (argc != 1)
        return EX_USAGE;
    if ((rc = connect_redis(c)) == NULL)
        return EX_UNAVAILABLE;
    rv = spam_store_forget(rc);
    redisFree(rc);
    if (rv == 0)
        printf("spam model deleted\n");
    return rv == 0 ? EX_OK : EX_UNAVAILABLE;
}

static int cmd_stats(const struct relay_conf *c, int argc, char **argv)
{
    struct spam_store_stats st;
    bool json = argc == 2 && strcmp(argv[1], "--json") == 0;
    redisContext *rc;
    int rv;

    if (argc > 2 || (argc == 2 && !json))
        return EX_USAGE;
    if ((rc = connect_redis(c)) == NULL)
        return EX_UNAVAILABLE;
    rv = spam_store_stats(rc, &st);
    redisFree(rc);
    if (rv < 0)
        return EX_UNAVAILABLE;
    if (json)
        printf("{\"spam\":%llu,\"ham\":%llu,\"features\":%llu,\"bytes\":%llu,"
               "\"version\":%llu,\"max_features\":%llu,\"expire_days\":%llu,"
               "\"updated\":%llu}\n", st.nspam, st.nham, st.features, st.bytes, st.ver,
               st.cap, st.expire_days, st.updated);
    else
        printf("spam messages:  %llu\nham messages:   %llu\nfeatures:       %llu (max %llu, "
               "expire after %llu days unlearned)\nsize:           %llu bytes\n"
               "version:        %llu\nupdated:        %llu\n", st.nspam, st.nham,
               st.features, st.cap, st.expire_days, st.bytes, st.ver, st.updated);
    return EX_OK;
}

int posternctl_spam(const struct relay_conf *c, int argc, char **argv)
{
    if (argc < 1)
        return EX_USAGE;
    if (strcmp(argv[0], "learn") == 0)
        return cmd_learn(c, argc, argv, 1);
    if (strcmp(argv[0], "forget") == 0 && argc > 1)
        return cmd_learn(c, argc, argv, -1);
    if (strcmp(argv[0], "score") == 0)
        return cmd_score(c, argc, argv);
    if (strcmp(argv[0], "forget") == 0)
        return cmd_forget(c, argc, argv);
    if (strcmp(argv[0], "stats") == 0)
        return cmd_stats(c, argc, argv);
    return EX_USAGE;
}
