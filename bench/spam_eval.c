/*
 * spam_eval.c - `make spam-eval`: 10-fold cross-validation of the spam classifier on the
 * training corpus (../shared/spam-corpus, prepared by its prepare.sh), comparing the
 * Robinson/Fisher naive Bayes with an online logistic regression on the same features,
 * and the shipped scoring (classifier + rules, exactly content/spam_score.h) on the same
 * folds. Prints spam recall at ham false-positive rates of 0.1%, 0.5% and 1%, AUC, and
 * scoring and learning speed (messages/s, one core).
 *
 *   spam_eval CORPUS_DIR      (the directory holding train.txt and corpus/)
 */
#include "content/spam_autolearn.h"
#include "content/spam_model.h"
#include "content/spam_score.h"
#include "content/spam_tok.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FOLDS 10

struct msg {
    char *data;
    size_t len;
    bool spam;
    int fold;
    struct spam_features f;
};

struct res {
    double s;
    bool spam;
};

/* CPU time of this thread: the speeds are per core, and other work on a shared machine
 * does not count against them. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    char *b;

    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    b = malloc((size_t)st.st_size + 1);
    if (b && read(fd, b, (size_t)st.st_size) != st.st_size) {
        free(b);
        b = NULL;
    }
    close(fd);
    if (b) {
        b[st.st_size] = '\0';
        *len = (size_t)st.st_size;
    }
    return b;
}

static int cmp_res(const void *a, const void *b)
{
    double x = ((const struct res *)a)->s, y = ((const struct res *)b)->s;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* recall at FPR, AUC (ties counted half) */
static void metrics(struct res *r, size_t n, const char *label)
{
    size_t ns = 0, nh = 0, i, j;
    double auc = 0, rec[3];
    const double fprs[3] = { 0.001, 0.005, 0.01 };
    size_t hamseen = 0, spamseen = 0;

    for (i = 0; i < n; i++)
        (r[i].spam ? ns++ : nh++);
    qsort(r, n, sizeof(*r), cmp_res);
    /* AUC: walk groups of equal score */
    for (i = 0; i < n; i = j) {
        size_t gs = 0, gh = 0;
        for (j = i; j < n && r[j].s == r[i].s; j++)
            (r[j].spam ? gs++ : gh++);
        auc += (double)gh * (spamseen + gs / 2.0);
        spamseen += gs;
        hamseen += gh;
    }
    auc /= (double)ns * (double)nh;
    for (int k = 0; k < 3; k++) {
        /* the lowest threshold whose ham above it is <= fpr * nh (ties included) */
        size_t allowed = (size_t)floor(fprs[k] * (double)nh + 1e-9), best = 0;
        spamseen = hamseen = 0;
        for (i = 0; i < n; i = j) {
            size_t gs = 0, gh = 0;
            for (j = i; j < n && r[j].s == r[i].s; j++)
                (r[j].spam ? gs++ : gh++);
            if (hamseen + gh > allowed)
                break;
            spamseen += gs;
            hamseen += gh;
            best = spamseen;
        }
        rec[k] = 100.0 * (double)best / (double)ns;
    }
    printf("  %-34s %7.2f%% %7.2f%% %7.2f%%  %.5f\n", label, rec[0], rec[1], rec[2], auc);
}

/* What autolearn at its default thresholds would have learned of each held-out message,
 * from the offline score (classifier + content rules; the daemon adds the DNS, SPF, DKIM,
 * DMARC, bulk ... symbols, so it reaches the spam threshold more often). */
static void autolearn_report(const struct msg *m, const struct spam_al_input *al, size_t n)
{
    struct spam_autolearn_conf c;
    struct conf_errors errs = { .file = "defaults", .out = stderr };
    size_t got[3][2] = { { 0 } }, i;

    memset(&c, 0, sizeof(c));
    if (conf_load_buffer("defaults", "{}", 2, &spam_autolearn_section, &c, &errs) < 0)
        return;
    for (i = 0; i < n; i++) {
        const char *why;
        got[spam_autolearn_decide(&c, &al[i], &why)][m[i].spam]++;
    }
    printf("\n  autolearn at its defaults (spam >= %g with >= %g from rules, ham <= %g), "
           "offline score:\n", c.spam, c.spam_rules, c.ham);
    printf("  learned as spam: %zu spam, %zu ham (wrong); as ham: %zu ham, %zu spam (wrong); "
           "not learned: %zu\n", got[SPAM_AL_SPAM][1], got[SPAM_AL_SPAM][0],
           got[SPAM_AL_HAM][0], got[SPAM_AL_HAM][1], got[SPAM_AL_NONE][0] + got[SPAM_AL_NONE][1]);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "../shared/spam-corpus";
    char path[4096], line[4096];
    FILE *fp;
    struct msg *m = NULL;
    size_t n = 0, cap = 0, i, bytes = 0;
    struct res *r_nb, *r_lr, *r_lrseq, *r_ship, *r_rules;
    struct spam_al_input *al;
    double t0, t_tok, t_learn = 0, t_score = 0;
    size_t n_learned = 0, n_scored = 0;
    unsigned seed = 12345;
    static size_t hits[SPAM_RULES_MAX][2];

    snprintf(path, sizeof(path), "%s/train.txt", dir);
    fp = fopen(path, "r");
    if (fp == NULL) {
        fprintf(stderr, "spam-eval: cannot open %s (run ../shared/spam-corpus/prepare.sh)\n",
                path);
        return 2;
    }
    while (fgets(line, sizeof(line), fp)) {
        char label[16], rel[4000];
        if (sscanf(line, "%15s %3999s", label, rel) != 2)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            m = realloc(m, cap * sizeof(*m));
        }
        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        memset(&m[n], 0, sizeof(m[n]));
        m[n].data = slurp(path, &m[n].len);
        if (m[n].data == NULL) {
            fprintf(stderr, "spam-eval: cannot read %s (run prepare.sh)\n", path);
            return 2;
        }
        m[n].spam = strcmp(label, "spam") == 0;
        bytes += m[n].len;
        n++;
    }
    fclose(fp);
    /* folds: a fixed shuffle */
    {
        size_t *idx = malloc(n * sizeof(*idx));
        for (i = 0; i < n; i++)
            idx[i] = i;
        for (i = n - 1; i > 0; i--) {
            size_t j = (size_t)rand_r(&seed) % (i + 1), t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        for (i = 0; i < n; i++)
            m[idx[i]].fold = (int)(i % FOLDS);
        free(idx);
    }
    t0 = now();
    for (i = 0; i < n; i++)
        spam_analyze(m[i].data, m[i].len, &m[i].f, NULL);
    t_tok = now() - t0;
    printf("spam-eval: %zu messages (%zu KB), %d-fold cross-validation\n", n, bytes / 1024,
           FOLDS);

    r_nb = calloc(n, sizeof(*r_nb));
    r_lr = calloc(n, sizeof(*r_lr));
    r_lrseq = calloc(n, sizeof(*r_lrseq));
    r_ship = calloc(n, sizeof(*r_ship));
    r_rules = calloc(n, sizeof(*r_rules));
    al = calloc(n, sizeof(*al));
    for (int k = 0; k < FOLDS; k++) {
        struct spam_model nb, lr, lrs;
        spam_model_init(&nb, 1 << 18);
        spam_model_init(&lr, 1 << 18);
        spam_model_init(&lrs, 1 << 18);
        /* naive Bayes: the shipped learning path, from the raw message */
        t0 = now();
        for (i = 0; i < n; i++) {
            if (m[i].fold == k)
                continue;
            spam_score_learn(&nb, m[i].data, m[i].len, m[i].spam, 1);
            n_learned++;
        }
        t_learn += now() - t0;
        /* logistic regression, interleaved (shuffled order), 5 passes */
        for (int ep = 0; ep < 5; ep++)
            for (i = 0; i < n; i++)
                if (m[i].fold != k)
                    spam_lr_learn(&lr, &m[i].f, m[i].spam);
        /* logistic regression as `learn --spam DIR; learn --ham DIR` would feed it */
        for (int pass = 0; pass < 2; pass++)
            for (i = 0; i < n; i++)
                if (m[i].fold != k && m[i].spam == (pass == 0))
                    spam_lr_learn(&lrs, &m[i].f, m[i].spam);
        t0 = now();
        for (i = 0; i < n; i++) {
            struct spam_score sc;
            if (m[i].fold != k)
                continue;
            spam_score_message(&nb, m[i].data, m[i].len, &sc);
            for (size_t q = 0; q < sc.nrules; q++)
                hits[sc.rules[q] - spam_rule_defs][m[i].spam]++;
            r_ship[i].s = sc.total;
            r_ship[i].spam = m[i].spam;
            r_rules[i].s = sc.bayes_points;
            r_rules[i].spam = m[i].spam;
            al[i].total = sc.total;
            al[i].gtube = sc.facts.gtube;
            for (size_t q = 0; q < sc.nrules; q++) {
                al[i].rules += sc.rules[q]->score;
                if (sc.rules[q]->score > al[i].max_rule)
                    al[i].max_rule = sc.rules[q]->score;
            }
            n_scored++;
        }
        t_score += now() - t0;
        for (i = 0; i < n; i++) {
            if (m[i].fold != k)
                continue;
            r_nb[i].s = spam_nb_prob(&nb, &m[i].f);
            r_nb[i].spam = m[i].spam;
            r_lr[i].s = spam_lr_prob(&lr, &m[i].f);
            r_lr[i].spam = m[i].spam;
            r_lrseq[i].s = spam_lr_prob(&lrs, &m[i].f);
            r_lrseq[i].spam = m[i].spam;
        }
        spam_model_clear(&nb);
        spam_model_clear(&lr);
        spam_model_clear(&lrs);
    }
    printf("\n  %-34s %8s %8s %8s  %s\n", "spam recall at ham FPR", "0.1%", "0.5%", "1%", "AUC");
    metrics(r_nb, n, "naive Bayes (Robinson/Fisher)");
    metrics(r_lr, n, "logistic regr. (shuffled, 5 ep.)");
    metrics(r_lrseq, n, "logistic regr. (spam, then ham)");
    printf("  shipped (naive Bayes):\n");
    metrics(r_rules, n, "classifier alone (BAYES_ points)");
    metrics(r_ship, n, "classifier + rules");
    printf("\n  %-24s %6s %6s %6s\n", "rule", "score", "ham", "spam");
    for (i = 0; spam_rule_defs[i].name; i++)
        printf("  %-24s %6.1f %6zu %6zu\n", spam_rule_defs[i].name, spam_rule_defs[i].score,
               hits[i][0], hits[i][1]);
    autolearn_report(m, al, n);
    printf("\n  tokenizing:      %8.0f msgs/s\n", n / t_tok);
    printf("  scoring:         %8.0f msgs/s (parse, features, classifier, rules; one core)\n",
           n_scored / t_score);
    printf("  learning:        %8.0f msgs/s (parse, features, counts; in memory)\n",
           n_learned / t_learn);
    for (i = 0; i < n; i++) {
        free(m[i].data);
        spam_features_free(&m[i].f);
    }
    free(m);
    free(r_nb); free(r_lr); free(r_lrseq); free(r_ship); free(r_rules);
    return 0;
}
