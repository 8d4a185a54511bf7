/*
 * spam_msg.c - takes a message apart for the spam code (spam_msg.h) with the streaming
 * MIME parser of content/mime.h, the one the file-type, virus and wrap code use: what the
 * classifier reads is what the other checks see. This file only gathers: the top-level
 * header fields (trimmed, tabs as spaces), the decoded bytes of text parts (bounded), and
 * their conversion to UTF-8 (content/charset.h).
 */
#include "content/spam_msg.h"

#include "content/charset.h"
#include "content/mime.h"
#include "lib/utf8.h"
#include "lib/xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct walk {
    const struct spam_msg_cb *cb;
    size_t text_used;          /* decoded text bytes kept, all parts */
    char *buf;                 /* the text part being collected */
    size_t len, cap;
    bool collecting;
    char *conv;                /* its UTF-8 conversion */
    size_t conv_cap;
};

static bool is_text(const struct mime_part *p)
{
    const char *sub = mime_subtype(p);

    if (strncmp(p->type, "text/", 5) != 0 || p->uuencoded)
        return false;
    /* an attached text file of another kind (text/x-vcard ...) is an attachment */
    return !(p->attachment && strcmp(sub, "plain") != 0 && strcmp(sub, "html") != 0);
}

static const char *cte_name(const struct mime_part *p)
{
    static const char *const names[] = {
        [MIME_ENC_7BIT] = "7bit", [MIME_ENC_8BIT] = "8bit", [MIME_ENC_BINARY] = "binary",
        [MIME_ENC_BASE64] = "base64", [MIME_ENC_QP] = "quoted-printable",
        [MIME_ENC_UUENCODE] = "x-uuencode", [MIME_ENC_UNKNOWN] = "unknown",
    };

    if (!p->encoding_declared)
        return "";
    return names[p->encoding];
}

/* The spam_part view of a MIME part (data not set). */
static void to_spam_part(const struct mime_part *p, struct spam_part *sp)
{
    memset(sp, 0, sizeof(*sp));
    snprintf(sp->ctype, sizeof(sp->ctype), "%s", p->type);
    snprintf(sp->charset, sizeof(sp->charset), "%s", p->charset);
    snprintf(sp->cte, sizeof(sp->cte), "%s", cte_name(p));
    snprintf(sp->filename, sizeof(sp->filename), "%s", mime_part_filename(p));
    sp->attachment = p->attachment;
    sp->multipart = p->kind == MIME_KIND_MULTIPART;
    sp->depth = (int)p->depth;
    sp->len = (size_t)p->size;
}

static void on_field(void *arg, const struct mime_part *p, const char *name, size_t nlen,
                     const char *v, size_t vl)
{
    struct walk *w = arg;
    char val[8192];
    size_t i, o = 0, s = 0;

    if (p->depth != 0 || w->cb->header == NULL || nlen == 0)
        return;
    for (i = 0; i < vl && o + 1 < sizeof(val); i++)
        if (v[i] != '\r' && v[i] != '\n')
            val[o++] = v[i] == '\t' ? ' ' : v[i];
    while (s < o && val[s] == ' ')
        s++;
    while (o > s && val[o - 1] == ' ')
        o--;
    val[o] = '\0';
    w->cb->header(w->cb->arg, name, nlen, val + s, o - s);
}

static void on_begin(void *arg, const struct mime_part *p)
{
    struct walk *w = arg;
    struct spam_part sp;

    if (p->uuencoded)     /* a file inside a text part: that text goes on around it */
        return;
    if (p->kind != MIME_KIND_LEAF) {
        /* containers first, as the tokenizer expects */
        to_spam_part(p, &sp);
        if (w->cb->part)
            w->cb->part(w->cb->arg, &sp);
        return;
    }
    w->len = 0;
    w->collecting = is_text(p) && w->text_used < SPAM_MSG_TEXT_MAX;
}

static void on_data(void *arg, const struct mime_part *p, const unsigned char *d, size_t n)
{
    struct walk *w = arg;

    if (!w->collecting || p->uuencoded)
        return;
    if (n > SPAM_MSG_TEXT_MAX - w->text_used)
        n = SPAM_MSG_TEXT_MAX - w->text_used;
    if (w->len + n + 1 > w->cap) {
        w->cap = (w->len + n + 1) * 2;
        w->buf = xrealloc(w->buf, w->cap);
    }
    memcpy(w->buf + w->len, d, n);
    w->len += n;
    w->text_used += n;
}

/* The collected text in UTF-8: *out (w->buf or w->conv), its length returned. */
static size_t text_utf8(struct walk *w, const struct mime_part *p, const char **out,
                        bool *bad_charset)
{
    const char *cs = p->charset;
    bool ascii_cs = cs[0] == '\0' || strcmp(cs, "us-ascii") == 0 || strcmp(cs, "ascii") == 0;
    bool utf8_cs = strcmp(cs, "utf-8") == 0 || strcmp(cs, "utf8") == 0;
    size_t need;

    *out = w->buf;
    *bad_charset = false;
    if (utf8_is_ascii(w->buf, w->len))
        return w->len;
    if (utf8_cs || ascii_cs) {
        /* 8-bit bytes in us-ascii, or invalid UTF-8: kept as they are (their bytes are
         * tokens too), and the mismatch is a fact for the rules */
        *bad_charset = ascii_cs || !utf8_is_valid(w->buf, w->len);
        return w->len;
    }
    need = w->len * 3 + 4;
    if (need > w->conv_cap) {
        w->conv_cap = need;
        w->conv = xrealloc(w->conv, need);
    }
    *out = w->conv;
    return charset_to_utf8(cs, w->buf, w->len, w->conv, need, NULL);
}

static void on_end(void *arg, const struct mime_part *p)
{
    struct walk *w = arg;
    struct spam_part sp;

    if (p->kind != MIME_KIND_LEAF)
        return;
    to_spam_part(p, &sp);
    if (p->uuencoded) {
        if (w->cb->part)
            w->cb->part(w->cb->arg, &sp);
        return;
    }
    if (w->collecting) {
        if (w->cap == 0) {
            w->cap = 64;
            w->buf = xrealloc(w->buf, w->cap);
        }
        w->buf[w->len] = '\0';
        sp.len = text_utf8(w, p, &sp.data, &sp.bad_charset);
    }
    w->collecting = false;
    if (w->cb->part)
        w->cb->part(w->cb->arg, &sp);
}

void spam_msg_walk(const char *msg, size_t len, const struct spam_msg_cb *cb)
{
    static const struct mime_callbacks mcb = {
        .part_begin = on_begin, .part_data = on_data, .part_end = on_end,
        .header_field = on_field,
    };
    const struct mime_limits lim = {
        .max_depth = SPAM_MSG_DEPTH_MAX, .max_parts = SPAM_MSG_PARTS_MAX, .max_header = 0,
    };
    struct walk w = { .cb = cb };
    struct mime_parser *m = mime_new(&lim, &mcb, &w);

    mime_feed(m, msg, len);
    mime_end(m);
    mime_free(m);
    free(w.buf);
    free(w.conv);
}
