/*
 * dkim_canon.c - simple and relaxed canonicalization of header fields and of the body,
 * the body as a streaming filter (see dkim_canon.h). Pure.
 */
#include "mailauth/dkim_canon.h"

#include <ctype.h>
#include <string.h>

#define CRLF_BATCH 32   /* CRLFs passed to the sink per call when flushing held line ends */

static bool is_wsp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static size_t strip_crlf(const char *raw, size_t len)
{
    return len >= 2 && raw[len - 2] == '\r' && raw[len - 1] == '\n' ? len - 2 : len;
}

static size_t relaxed_header(const char *raw, size_t len, char *out)
{
    const char *colon = memchr(raw, ':', len);
    size_t n = 0, i, name_end = colon ? (size_t)(colon - raw) : len, value_start;
    bool space = false;

    while (name_end > 0 && is_wsp((unsigned char)raw[name_end - 1]))
        name_end--;
    for (i = 0; i < name_end; i++)
        out[n++] = (char)tolower((unsigned char)raw[i]);
    if (colon == NULL)
        return n;
    out[n++] = ':';
    value_start = n;
    for (i = (size_t)(colon - raw) + 1; i < len; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c == '\r' && i + 1 < len && raw[i + 1] == '\n') {
            i++;                      /* unfold: the CRLF goes, the WSP after it stays */
            continue;
        }
        if (is_wsp(c)) {
            space = true;
            continue;
        }
        if (space && n > value_start)
            out[n++] = ' ';
        space = false;
        out[n++] = (char)c;
    }
    return n;
}

size_t dkim_canon_header(enum dkim_canon c, const char *raw, size_t len, char *out)
{
    size_t n;

    len = strip_crlf(raw, len);
    if (c == DKIM_CANON_SIMPLE) {
        memcpy(out, raw, len);
        n = len;
    } else {
        n = relaxed_header(raw, len, out);
    }
    out[n++] = '\r';
    out[n++] = '\n';
    return n;
}

/* ---- body ------------------------------------------------------------------------------ */

static void emit(struct dkim_body_canon *bc, const char *p, size_t len)
{
    if (len == 0)
        return;
    bc->length += len;
    bc->sink(bc->arg, p, len);
}

static void flush_crlf(struct dkim_body_canon *bc)
{
    static const char crlfs[] = "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
                                "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";
    while (bc->crlf_pending > 0) {
        unsigned long long k = bc->crlf_pending < CRLF_BATCH ? bc->crlf_pending : CRLF_BATCH;
        emit(bc, crlfs, (size_t)k * 2);
        bc->crlf_pending -= k;
    }
}

/* Everything held back before a content byte: line ends, then (relaxed) one SP. */
static void before_content(struct dkim_body_canon *bc)
{
    flush_crlf(bc);
    if (bc->wsp)
        emit(bc, " ", 1);
    bc->wsp = false;
    bc->content = true;
}

/* A CR that turned out not to start a CRLF is content. */
static void held_cr_is_content(struct dkim_body_canon *bc)
{
    bc->cr = false;
    before_content(bc);
    emit(bc, "\r", 1);
}

void dkim_body_canon_init(struct dkim_body_canon *bc, enum dkim_canon canon,
                          dkim_canon_sink sink, void *arg)
{
    memset(bc, 0, sizeof(*bc));
    bc->canon = canon;
    bc->sink = sink;
    bc->arg = arg;
}

void dkim_body_canon_update(struct dkim_body_canon *bc, const char *data, size_t len)
{
    size_t i, run = 0;       /* data[run..i) is content to pass on as it is */
    bool relaxed = bc->canon == DKIM_CANON_RELAXED;

    if (bc->done)
        return;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        if (bc->cr) {
            if (c == '\n') {
                bc->cr = false;
                bc->wsp = false;
                bc->crlf_pending++;
                run = i + 1;
                continue;
            }
            held_cr_is_content(bc);
            run = i;
        }
        if (c == '\r' || (relaxed && is_wsp(c))) {
            emit(bc, data + run, i - run);
            run = i + 1;
            if (c == '\r')
                bc->cr = true;
            else
                bc->wsp = true;
            continue;
        }
        if (run == i && (bc->crlf_pending > 0 || bc->wsp || !bc->content))
            before_content(bc);
    }
    emit(bc, data + run, len - run);
}

void dkim_body_canon_final(struct dkim_body_canon *bc)
{
    if (bc->done)
        return;
    if (bc->cr)
        held_cr_is_content(bc);
    bc->wsp = false;
    bc->crlf_pending = 0;
    if (bc->content || bc->canon == DKIM_CANON_SIMPLE)
        emit(bc, "\r\n", 2);
    bc->done = true;
}
