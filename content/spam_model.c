/*
 * spam_model.c - the classifier's feature table and its learners (spam_model.h).
 */
#include "content/spam_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LR_RATE   0.5
#define LR_MARGIN 2.5

void spam_model_init(struct spam_model *m, size_t cap_hint)
{
    size_t cap = 1024;

    memset(m, 0, sizeof(*m));
    while (cap < cap_hint * 2)
        cap <<= 1;
    m->tab = calloc(cap, sizeof(*m->tab));
    m->cap = m->tab ? cap : 0;
}

void spam_model_clear(struct spam_model *m)
{
    free(m->tab);
    memset(m, 0, sizeof(*m));
}

const struct spam_entry *spam_model_get(const struct spam_model *m, uint64_t key)
{
    size_t mask = m->cap - 1, i;

    if (m->cap == 0)
        return NULL;
    for (i = (size_t)key & mask;; i = (i + 1) & mask) {
        if (m->tab[i].key == key)
            return &m->tab[i];
        if (m->tab[i].key == 0)
            return NULL;
    }
}

static int grow(struct spam_model *m)
{
    size_t nc = m->cap ? m->cap * 2 : 1024, i;
    struct spam_entry *nt = calloc(nc, sizeof(*nt));

    if (nt == NULL)
        return -1;
    for (i = 0; i < m->cap; i++) {
        size_t j;
        if (m->tab[i].key == 0)
            continue;
        for (j = (size_t)m->tab[i].key & (nc - 1); nt[j].key; j = (j + 1) & (nc - 1))
            ;
        nt[j] = m->tab[i];
    }
    free(m->tab);
    m->tab = nt;
    m->cap = nc;
    return 0;
}

struct spam_entry *spam_model_slot(struct spam_model *m, uint64_t key)
{
    size_t mask, i;

    if ((m->used + 1) * 4 > m->cap * 3 && grow(m) < 0)
        return NULL;
    mask = m->cap - 1;
    for (i = (size_t)key & mask;; i = (i + 1) & mask) {
        if (m->tab[i].key == key)
            return &m->tab[i];
        if (m->tab[i].key == 0) {
            m->tab[i].key = key;
            m->used++;
            return &m->tab[i];
        }
    }
}

/* ---- naive Bayes ------------------------------------------------------------------------ */

void spam_nb_learn(struct spam_model *m, const struct spam_features *f, bool spam, int sign,
                   uint32_t stamp)
{
    size_t i;

    for (i = 0; i < f->n; i++) {
        struct spam_entry *e = sign > 0 ? spam_model_slot(m, f->v[i])
                                        : (struct spam_entry *)spam_model_get(m, f->v[i]);
        uint32_t *c;
        if (e == NULL)
            continue;
        c = spam ? &e->ns : &e->nh;
        if (sign > 0)
            (*c)++;
        else if (*c > 0)
            (*c)--;
        e->stamp = stamp;
    }
    if (sign > 0)
        (spam ? m->nspam++ : m->nham++);
    else if (spam ? m->nspam > 0 : m->nham > 0)
        (spam ? m->nspam-- : m->nham--);
}

/* Probability that chi-square with v (even) degrees of freedom is >= x2. */
static double chi2q(double x2, unsigned v)
{
    double m = x2 / 2.0, sum, term;
    unsigned i;

    sum = term = exp(-m);
    for (i = 1; i < v / 2; i++) {
        term *= m / i;
        sum += term;
    }
    return sum < 1.0 ? sum : 1.0;
}

struct clue {
    double f, dev;
};

static int cmp_clue(const void *a, const void *b)
{
    double x = ((const struct clue *)a)->dev, y = ((const struct clue *)b)->dev;
    return x < y ? 1 : x > y ? -1 : 0;
}

double spam_nb_prob(const struct spam_model *m, const struct spam_features *f)
{
    struct clue stackbuf[512], *clues = stackbuf;
    double ns = (double)m->nspam, nh = (double)m->nham, lh = 0, ls = 0, S, H;
    size_t i, n = 0;

    if (m->nspam < SPAM_MIN_LEARNED || m->nham < SPAM_MIN_LEARNED)
        return -1;
    if (f->n > sizeof(stackbuf) / sizeof(stackbuf[0]))
        clues = malloc(f->n * sizeof(*clues));
    if (clues == NULL)
        return -1;
    for (i = 0; i < f->n; i++) {
        const struct spam_entry *e = spam_model_get(m, f->v[i]);
        double bs, bh, p, cnt, fw;
        if (e == NULL || (e->ns == 0 && e->nh == 0))
            continue;
        bs = e->ns / ns;
        bh = e->nh / nh;
        p = bs / (bs + bh);
        cnt = (double)e->ns + e->nh;
        fw = (SPAM_NB_S * 0.5 + cnt * p) / (SPAM_NB_S + cnt);
        if (fabs(fw - 0.5) < SPAM_NB_MINDEV)
            continue;
        clues[n].f = fw;
        clues[n].dev = fabs(fw - 0.5);
        n++;
    }
    if (n > SPAM_NB_MAXCLUES) {
        qsort(clues, n, sizeof(*clues), cmp_clue);
        n = SPAM_NB_MAXCLUES;
    }
    for (i = 0; i < n; i++) {
        double fw = clues[i].f;
        if (fw < 1e-6) fw = 1e-6;
        if (fw > 1 - 1e-6) fw = 1 - 1e-6;
        lh += log(fw);
        ls += log(1.0 - fw);
    }
    if (clues != stackbuf)
        free(clues);
    if (n == 0)
        return 0.5;
    S = 1.0 - chi2q(-2.0 * ls, 2 * (unsigned)n);
    H = 1.0 - chi2q(-2.0 * lh, 2 * (unsigned)n);
    return (S - H + 1.0) / 2.0;
}

/* ---- logistic regression ------------------------------------------------------------------ */

static double lr_margin(const struct spam_model *m, const struct spam_features *f)
{
    double z = m->bias, x = f->n ? 1.0 / sqrt((double)f->n) : 0;
    size_t i;

    for (i = 0; i < f->n; i++) {
        const struct spam_entry *e = spam_model_get(m, f->v[i]);
        if (e)
            z += e->w * x;
    }
    return z;
}

double spam_lr_prob(const struct spam_model *m, const struct spam_features *f)
{
    return 1.0 / (1.0 + exp(-lr_margin(m, f)));
}

bool spam_lr_learn(struct spam_model *m, const struct spam_features *f, bool spam)
{
    double z = lr_margin(m, f), y = spam ? 1.0 : 0.0, g, x;
    size_t i;

    if (spam ? z >= LR_MARGIN : z <= -LR_MARGIN)
        return false;
    g = LR_RATE * (y - 1.0 / (1.0 + exp(-z)));
    x = f->n ? 1.0 / sqrt((double)f->n) : 0;
    m->bias += (float)(g * 0.1);
    for (i = 0; i < f->n; i++) {
        struct spam_entry *e = spam_model_slot(m, f->v[i]);
        if (e)
            e->w += (float)(g * x * 10.0);
    }
    return true;
}
