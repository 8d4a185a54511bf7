/*
 * spam_bulk.c - bulk fingerprints of a message body (spam_bulk.h).
 */
#include "content/spam_bulk.h"

#include "content/spam_msg.h"
#include "content/spam_tok.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define WORDS_MAX 20000

struct bulk {
    uint64_t *w;                /* normalised word hashes */
    size_t n, cap;
    int skip;                   /* words still to drop after a greeting */
    char rcpt_local[64];
    struct spam_bulk_info *out;
};

static const char *const greetings[] = { "dear", "hi", "hello", "hey", "hallo", "bonjour",
                                         "hola", "liebe", "lieber", "greetings", NULL };

static void add_word(struct bulk *b, const char *s, size_t n)
{
    char w[48];
    size_t i;

    if (n < 2 || n >= sizeof(w))
        return;
    for (i = 0; i < n; i++) {
        if (isdigit((unsigned char)s[i]) || s[i] == '@')
            return;
        w[i] = (char)tolower((unsigned char)s[i]);
    }
    w[n] = '\0';
    if (b->skip > 0) {
        b->skip--;
        return;
    }
    for (i = 0; greetings[i]; i++)
        if (strcmp(w, greetings[i]) == 0) {
            b->skip = 2;       /* "Dear John Smith" */
            return;
        }
    if (b->rcpt_local[0] && strstr(b->rcpt_local, w) != NULL && n >= 3)
        return;                 /* the recipient's own name */
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 512;
        uint64_t *nw;
        if (nc > WORDS_MAX || (nw = realloc(b->w, nc * sizeof(*nw))) == NULL)
            return;
        b->w = nw;
        b->cap = nc;
    }
    b->w[b->n++] = spam_hash(w, n, 0x62756c6bULL);
}

static void add_text(struct bulk *b, const char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t st;
        while (i < n && !isalnum((unsigned char)s[i]) && (unsigned char)s[i] < 0x80)
            i++;
        st = i;
        /* a URL: its host only */
        if (n - i > 8 && (strncasecmp(s + i, "http://", 7) == 0 ||
                          strncasecmp(s + i, "https://", 8) == 0)) {
            size_t h = i + (s[i + 4] == ':' ? 7 : 8), he = h;
            while (he < n && (isalnum((unsigned char)s[he]) || s[he] == '.' || s[he] == '-'))
                he++;
            add_word(b, s + h, he - h);
            while (he < n && !isspace((unsigned char)s[he]) && s[he] != '"' && s[he] != '<')
                he++;
            i = he;
            continue;
        }
        while (i < n && (isalnum((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80 ||
                         s[i] == '@' || (s[i] == '.' && i + 1 < n &&
                                         isalnum((unsigned char)s[i + 1]))))
            i++;
        if (i > st) {
            /* an e-mail address is dropped whole */
            if (memchr(s + st, '@', i - st) == NULL)
                add_word(b, s + st, i - st);
        }
        if (i == st)
            i++;
    }
}

/* HTML: the text between tags, entities as spaces; script and style skipped. */
static void add_html(struct bulk *b, const char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        if (s[i] == '<') {
            bool skip = n - i > 7 && (strncasecmp(s + i, "<script", 7) == 0 ||
                                      strncasecmp(s + i, "<style", 6) == 0);
            const char *gt = memchr(s + i, '>', n - i);
            if (gt == NULL)
                return;
            i = (size_t)(gt - s) + 1;
            if (skip) {
                const char *e = memmem(s + i, n - i, "</", 2);
                while (e && !(strncasecmp(e, "</script", 8) == 0 ||
                              strncasecmp(e, "</style", 7) == 0))
                    e = memmem(e + 2, (size_t)(s + n - e - 2), "</", 2);
                i = e ? (size_t)(e - s) : n;
            }
            continue;
        }
        {
            size_t st = i;
            while (i < n && s[i] != '<')
                i++;
            add_text(b, s + st, i - st);
        }
    }
}

static void on_header(void *arg, const char *name, size_t nl, const char *v, size_t vl)
{
    struct bulk *b = arg;

    if (nl == 16 && strncasecmp(name, "list-unsubscribe", 16) == 0)
        b->out->list_unsubscribe = true;
    if (nl == 4 && strncasecmp(name, "from", 4) == 0) {
        const char *at = memchr(v, '@', vl);
        size_t o = 0;
        const char *p;
        for (p = at ? at + 1 : v + vl; p < v + vl && o + 1 < sizeof(b->out->from_domain) &&
             (isalnum((unsigned char)*p) || *p == '.' || *p == '-'); p++)
            b->out->from_domain[o++] = (char)tolower((unsigned char)*p);
        b->out->from_domain[o] = '\0';
    }
}

static void on_part(void *arg, const struct spam_part *p)
{
    struct bulk *b = arg;

    if (p->data == NULL)
        return;
    if (strcmp(p->ctype, "text/html") == 0)
        add_html(b, p->data, p->len);
    else if (strcmp(p->ctype, "text/plain") == 0)
        add_text(b, p->data, p->len);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void spam_bulk_analyze(const char *msg, size_t len, const char *rcpt,
                       struct spam_bulk_info *out)
{
    struct bulk b;
    struct spam_msg_cb cb = { on_header, on_part, &b };
    uint64_t mins[SPAM_BULK_K];
    size_t nmin = 0, i, j;

    memset(out, 0, sizeof(*out));
    memset(&b, 0, sizeof(b));
    b.out = out;
    if (rcpt) {
        for (i = 0; rcpt[i] && rcpt[i] != '@' && i + 1 < sizeof(b.rcpt_local); i++)
            b.rcpt_local[i] = (char)tolower((unsigned char)rcpt[i]);
        b.rcpt_local[i] = '\0';
    }
    spam_msg_walk(msg, len, &cb);
    if (b.n >= SPAM_BULK_MIN_WORDS) {
        /* bottom-k of the 4-word shingle hashes (distinct) */
        for (i = 0; i + 4 <= b.n; i++) {
            uint64_t h = spam_hash(&b.w[i], 4 * sizeof(b.w[0]), 0x7368696eULL);
            bool dup = false;
            for (j = 0; j < nmin; j++)
                dup |= mins[j] == h;
            if (dup)
                continue;
            if (nmin < SPAM_BULK_K) {
                mins[nmin++] = h;
            } else {
                size_t mx = 0;
                for (j = 1; j < nmin; j++)
                    if (mins[j] > mins[mx])
                        mx = j;
                if (h < mins[mx])
                    mins[mx] = h;
            }
        }
        qsort(mins, nmin, sizeof(mins[0]), cmp_u64);
        if (nmin == SPAM_BULK_K)
            for (i = 0; i < SPAM_BULK_FPS; i++) {
                size_t per = SPAM_BULK_K / SPAM_BULK_FPS;
                out->fp[i] = spam_hash(&mins[i * per], per * sizeof(mins[0]), i + 1);
                out->nfp++;
            }
    }
    free(b.w);
}
