/*
 * mime.c - the streaming MIME parser (see mime.h).
 *
 * Input is cut into lines (LF ends a line, a CR before it is dropped and remembered as
 * part of the line end). A line longer than LINE_CAP is handed on in pieces: only the
 * first piece is "at line start" (can be a boundary or start a header field). Each line
 * goes to the innermost open part, a frame on a stack bounded by the depth limit:
 *
 *   HEADER    collecting the part's header; Content-* fields are kept (bounded), the
 *             empty line decides what the part is;
 *   LEAF      decoding the body (base64, quoted-printable, uuencode, as is); a uuencoded
 *             "begin" inside an as-is body opens a UUE child frame until its "end";
 *   PREAMBLE, INPART, EPILOGUE   a multipart before, between and after its boundaries;
 *   MESSAGE   message/rfc822: its child frame is the enclosed message.
 *
 * A line "--B" that matches the boundary of an open multipart (innermost first) closes
 * every frame above that multipart and opens its next part ("--B--": the multipart is
 * over). The line end before a boundary belongs to the boundary (RFC 2046 5.1.1), so an
 * as-is body delivers each line end only when the next line turns out to be data.
 */
#include "content/mime.h"

#include "content/mime_header.h"
#include "lib/base64.h"
#include "lib/hex.h"
#include "lib/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LINE_CAP      4096   /* bytes of one line handled at once */
#define FIELD_MAX     8192   /* bytes of one kept (Content-*) header field */
#define BOUNDARY_MAX  200    /* RFC 2046 allows 70 */
#define LINE_LIMIT    998    /* RFC 5322 2.1.1 */

enum fstate { FS_HEADER, FS_LEAF, FS_UUE, FS_PREAMBLE, FS_INPART, FS_EPILOGUE, FS_MESSAGE };

enum field_kind { FK_NONE, FK_TYPE, FK_ENCODING, FK_DISPOSITION, FK_OTHER };

#define FNAME_MAX     128    /* bytes of a reported field name */

struct frame {
    struct mime_part p;
    enum fstate st;
    bool reported;              /* part_begin was called (within max_parts) */
    bool digest;
    char boundary[BOUNDARY_MAX + 1];
    size_t blen;
    /* header */
    size_t hdr_bytes;
    bool seen_type, seen_enc, seen_disp;
    /* decoders */
    unsigned char q[4];
    int nq;
    char qp_carry[2];
    size_t qp_carry_len;
    char eol[2];                /* pending line end of an as-is or quoted-printable body */
    size_t eol_len;
    bool uue_begun, uue_done;   /* Content-Transfer-Encoding: x-uuencode, or a UUE frame */
};

struct mime_parser {
    struct mime_limits lim;
    struct mime_callbacks cb;
    void *arg;
    struct frame *stack;
    unsigned cap, sp;           /* frames allocated, frames open */
    unsigned nparts;
    unsigned flags;
    bool ended;
    /* the line being assembled */
    char line[LINE_CAP];
    size_t line_len;
    bool line_cont;             /* the current line already gave a piece */
    size_t line_total;
    /* the header field being assembled */
    char field[FIELD_MAX];
    size_t field_len;
    enum field_kind field_kind;
    bool field_cut;
    char fname[FNAME_MAX];      /* its name, for cb.header_field */
    size_t fname_len;
    /* input offsets (mime_part.off_*) */
    unsigned long long fed;         /* bytes fed before the current mime_feed call */
    unsigned long long line_off;    /* offset of m->line[0] */
    unsigned long long cur_off;     /* of the line (piece) being handled */
    unsigned long long cur_end;     /* after it, with its line end */
    size_t prev_eol;                /* line end length of the line before it */
    unsigned long long body_at;     /* off_body for the next end_headers */
    unsigned long long open_at;     /* off_begin for the next push_frame */
    unsigned long long close_at;    /* off_end for the next close_top */
};

static void dispatch(struct mime_parser *m, const char *s, size_t len, bool complete,
                     bool at_start, const char *eol, size_t eol_len);

/* ---- small helpers ------------------------------------------------------------------- */

static void flag(struct mime_parser *m, struct frame *f, unsigned bit)
{
    m->flags |= bit;
    if (f != NULL)
        f->p.flags |= bit;
}

static struct frame *top(struct mime_parser *m)
{
    return &m->stack[m->sp - 1];
}

static void emit(struct mime_parser *m, struct frame *f, const void *data, size_t n)
{
    if (n == 0)
        return;
    if (f->p.head_len < MIME_HEAD_MAX) {
        size_t k = MIME_HEAD_MAX - f->p.head_len;
        if (k > n)
            k = n;
        memcpy(f->p.head + f->p.head_len, data, k);
        f->p.head_len += k;
    }
    f->p.size += n;
    if (f->reported && m->cb.part_data != NULL)
        m->cb.part_data(m->arg, &f->p, data, n);
}

static void emit_eol(struct mime_parser *m, struct frame *f)
{
    if (f->eol_len > 0)
        emit(m, f, f->eol, f->eol_len);
    f->eol_len = 0;
}

static void keep_eol(struct frame *f, const char *eol, size_t eol_len)
{
    memcpy(f->eol, eol, eol_len);
    f->eol_len = eol_len;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* ---- frames -------------------------------------------------------------------------- */

static void push_frame(struct mime_parser *m, struct frame *parent, enum fstate st,
                       const char *type)
{
    struct frame *f;

    if (m->sp >= m->cap)    /* callers check the depth first; this is the backstop */
        abort();
    f = &m->stack[m->sp++];
    memset(f, 0, sizeof(*f));
    f->st = st;
    f->p.id = m->nparts++;
    f->p.parent = parent ? parent->p.id : 0;
    f->p.depth = parent ? parent->p.depth + 1 : 0;
    f->p.kind = MIME_KIND_LEAF;
    f->p.off_begin = f->p.off_body = f->p.off_end = m->open_at;
    snprintf(f->p.type, sizeof(f->p.type), "%s", type);
    f->reported = f->p.id < m->lim.max_parts;
    if (!f->reported)
        flag(m, NULL, MIME_F_TOO_MANY_PARTS);
}

static void begin(struct mime_parser *m, struct frame *f)
{
    if (f->reported && m->cb.part_begin != NULL)
        m->cb.part_begin(m->arg, &f->p);
}

static void finish_field(struct mime_parser *m, struct frame *f);
static void end_headers(struct mime_parser *m, struct frame *f, bool closing);

/* Base64: the quantum in f->q; out gets the decoded bytes. */
static size_t b64_put(struct mime_parser *m, struct frame *f, int c, unsigned char *out)
{
    int v = base64_value(c);

    if (v >= 0) {
        f->q[f->nq++] = (unsigned char)v;
        if (f->nq < 4)
            return 0;
        f->nq = 0;
        out[0] = (unsigned char)(f->q[0] << 2 | f->q[1] >> 4);
        out[1] = (unsigned char)(f->q[1] << 4 | f->q[2] >> 2);
        out[2] = (unsigned char)(f->q[2] << 6 | f->q[3]);
        return 3;
    }
    if (c == '=') {
        size_t n = 0;
        if (f->nq >= 2)
            out[n++] = (unsigned char)(f->q[0] << 2 | f->q[1] >> 4);
        if (f->nq == 3)
            out[n++] = (unsigned char)(f->q[1] << 4 | f->q[2] >> 2);
        if (f->nq == 1)
            flag(m, f, MIME_F_BAD_BASE64);
        f->nq = 0;
        return n;
    }
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
        flag(m, f, MIME_F_BAD_BASE64);
    return 0;
}

static void b64_flush(struct mime_parser *m, struct frame *f)
{
    unsigned char out[3];
    size_t n;

    if (f->nq == 0)
        return;
    flag(m, f, MIME_F_BAD_BASE64);
    n = b64_put(m, f, '=', out);
    emit(m, f, out, n);
}

/* Closes the innermost frame: flushes its decoder, reports its end, pops it. */
static void close_top(struct mime_parser *m)
{
    struct frame *f = top(m);
    /* a part opened by a boundary line and closed by the next one ends where it began
     * (the line end before the second boundary is the first one's) */
    unsigned long long end = m->close_at > f->p.off_begin ? m->close_at : f->p.off_begin;

    if (f->st == FS_HEADER) {
        finish_field(m, f);
        m->body_at = end;
        end_headers(m, f, true);
    }
    if (f->st == FS_LEAF || f->st == FS_UUE) {
        if (f->p.encoding == MIME_ENC_BASE64)
            b64_flush(m, f);
        if (f->qp_carry_len > 0) {
            flag(m, f, MIME_F_BAD_QP);
            emit(m, f, f->qp_carry, f->qp_carry_len);
        }
        if ((f->st == FS_UUE || f->p.encoding == MIME_ENC_UUENCODE) && !f->uue_done &&
            (f->st == FS_UUE || f->uue_begun))
            flag(m, f, MIME_F_BAD_UUENCODE);
    }
    if (f->p.kind == MIME_KIND_MULTIPART && f->st != FS_EPILOGUE)
        flag(m, f, MIME_F_NO_CLOSE_BOUNDARY);
    f->p.off_end = end > f->p.off_body ? end : f->p.off_body;
    if (f->reported && m->cb.part_end != NULL)
        m->cb.part_end(m->arg, &f->p);
    m->sp--;
}

/* ---- header -------------------------------------------------------------------------- */

static enum mime_encoding encoding_of(const char *tok)
{
    static const struct { const char *name; enum mime_encoding enc; } tab[] = {
        { "7bit", MIME_ENC_7BIT }, { "8bit", MIME_ENC_8BIT }, { "binary", MIME_ENC_BINARY },
        { "base64", MIME_ENC_BASE64 }, { "quoted-printable", MIME_ENC_QP },
        { "x-uuencode", MIME_ENC_UUENCODE }, { "uuencode", MIME_ENC_UUENCODE },
        { "x-uue", MIME_ENC_UUENCODE }, { "", MIME_ENC_7BIT },
    };
    size_t i;

    for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
        if (strcmp(tok, tab[i].name) == 0)
            return tab[i].enc;
    return MIME_ENC_UNKNOWN;
}

static void finish_field(struct mime_parser *m, struct frame *f)
{
    unsigned fl = 0;
    char tok[64];

    if (m->field_kind == FK_NONE)
        return;
    m->field[m->field_len] = '\0';
    if (m->field_cut && m->field_kind != FK_OTHER)
        flag(m, f, MIME_F_HEADER_TOO_LONG);
    if (m->cb.header_field != NULL && f->reported)
        m->cb.header_field(m->arg, &f->p, m->fname, m->fname_len, m->field, m->field_len);
    switch (m->field_kind) {
    case FK_TYPE:
        if (f->seen_type) {
            fl |= MIME_F_BAD_HEADER_VALUE;
            break;
        }
        f->seen_type = true;
        f->p.type_declared = true;
        if (!mime_hdr_type(m->field, f->p.type, sizeof(f->p.type))) {
            fl |= MIME_F_BAD_HEADER_VALUE;
            snprintf(f->p.type, sizeof(f->p.type), "text/plain");   /* RFC 2045 5.2 */
        }
        if (mime_hdr_param(m->field, "charset", false, f->p.charset, sizeof(f->p.charset),
                           &fl)) {
            char *c;
            for (c = f->p.charset; *c != '\0'; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c - 'A' + 'a');
        }
        mime_hdr_param(m->field, "name", true, f->p.name, sizeof(f->p.name), &fl);
        {
            char b[BOUNDARY_MAX + 2];
            if (mime_hdr_param(m->field, "boundary", false, b, sizeof(b), &fl)) {
                f->blen = strlen(b);
                if (f->blen > BOUNDARY_MAX) {
                    fl |= MIME_F_BAD_HEADER_VALUE;
                    f->blen = 0;
                }
                memcpy(f->boundary, b, f->blen);
                f->boundary[f->blen] = '\0';
            }
        }
        break;
    case FK_ENCODING:
        if (f->seen_enc) {
            fl |= MIME_F_BAD_HEADER_VALUE;
            break;
        }
        f->seen_enc = true;
        f->p.encoding_declared = true;
        mime_hdr_token(m->field, tok, sizeof(tok));
        f->p.encoding = encoding_of(tok);
        if (f->p.encoding == MIME_ENC_UNKNOWN)
            flag(m, f, MIME_F_BAD_ENCODING);
        break;
    case FK_DISPOSITION:
        if (f->seen_disp) {
            fl |= MIME_F_BAD_HEADER_VALUE;
            break;
        }
        f->seen_disp = true;
        mime_hdr_token(m->field, tok, sizeof(tok));
        f->p.attachment = strcmp(tok, "attachment") == 0;
        mime_hdr_param(m->field, "filename", true, f->p.filename, sizeof(f->p.filename),
                       &fl);
        break;
    case FK_NONE:
    case FK_OTHER:
        break;
    }
    if (fl != 0)
        flag(m, f, fl);
    m->field_kind = FK_NONE;
    m->field_len = 0;
    m->field_cut = false;
}

static void field_append(struct mime_parser *m, const char *s, size_t len)
{
    if (m->field_kind == FK_NONE)
        return;
    if (len > FIELD_MAX - 1 - m->field_len) {
        len = FIELD_MAX - 1 - m->field_len;
        m->field_cut = true;
    }
    memcpy(m->field + m->field_len, s, len);
    m->field_len += len;
}

static bool identity(enum mime_encoding e)
{
    return e == MIME_ENC_7BIT || e == MIME_ENC_8BIT || e == MIME_ENC_BINARY;
}

static bool identity_or_qp(enum mime_encoding e)
{
    return identity(e) || e == MIME_ENC_QP || e == MIME_ENC_UNKNOWN;
}

/* The header is over: decide what the part is and report it. closing: the part ends here
 * too (no child frame is opened). */
static void end_headers(struct mime_parser *m, struct frame *f, bool closing)
{
    bool multi = strncmp(f->p.type, "multipart/", 10) == 0;
    bool msg = strcmp(f->p.type, "message/rfc822") == 0 ||
               strcmp(f->p.type, "message/global") == 0;
    bool deeper_ok = f->p.depth + 1 <= m->lim.max_depth;

    f->st = FS_LEAF;
    f->p.off_body = m->body_at;
    if (multi) {
        if (f->blen == 0)
            flag(m, f, MIME_F_NO_BOUNDARY);
        else if (!identity(f->p.encoding))
            flag(m, f, MIME_F_BAD_ENCODING);
        else if (!deeper_ok)
            flag(m, f, MIME_F_DEPTH);
        else {
            f->p.kind = MIME_KIND_MULTIPART;
            f->st = FS_PREAMBLE;
            f->digest = strcmp(f->p.type, "multipart/digest") == 0;
        }
    } else if (msg) {
        if (!identity(f->p.encoding))
            flag(m, f, MIME_F_BAD_ENCODING);
        else if (!deeper_ok)
            flag(m, f, MIME_F_DEPTH);
        else {
            f->p.kind = MIME_KIND_MESSAGE;
            f->st = FS_MESSAGE;
        }
    }
    begin(m, f);
    if (f->st == FS_MESSAGE && !closing) {
        m->open_at = f->p.off_body;
        push_frame(m, f, FS_HEADER, "text/plain");
    }
}

static bool valid_field_name(const char *s, size_t len, size_t *colon)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ':') {
            *colon = i;
            return i > 0;
        }
        if (c <= ' ' || c >= 0x7f)
            return false;
    }
    return false;
}

static void header_line(struct mime_parser *m, struct frame *f, const char *s, size_t len,
                        bool complete, bool at_start, const char *eol, size_t eol_len)
{
    size_t i, colon = 0;

    if (f->hdr_bytes <= m->lim.max_header) {
        f->hdr_bytes += len + eol_len;
        if (f->hdr_bytes > m->lim.max_header)
            flag(m, f, MIME_F_HEADER_TOO_LONG);
    }
    for (i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80) {
            flag(m, f, MIME_F_HEADER_8BIT);
            break;
        }
    if (!at_start || (len > 0 && is_ws(s[0]))) {   /* a piece, or a folded line */
        field_append(m, s, len);
        return;
    }
    finish_field(m, f);
    if (len == 0 && complete) {
        m->body_at = m->cur_end;
        end_headers(m, f, false);
        return;
    }
    if (!valid_field_name(s, len, &colon)) {
        /* not a field: the header ended without its empty line; the line is body */
        flag(m, f, MIME_F_HEADER_NO_COLON);
        m->body_at = m->cur_off;
        end_headers(m, f, false);
        dispatch(m, s, len, complete, at_start, eol, eol_len);
        return;
    }
    if (f->hdr_bytes > m->lim.max_header)
        return;
    if (colon == 12 && strncasecmp(s, "content-type", 12) == 0)
        m->field_kind = FK_TYPE;
    else if (colon == 25 && strncasecmp(s, "content-transfer-encoding", 25) == 0)
        m->field_kind = FK_ENCODING;
    else if (colon == 19 && strncasecmp(s, "content-disposition", 19) == 0)
        m->field_kind = FK_DISPOSITION;
    else if (m->cb.header_field != NULL && f->reported)
        m->field_kind = FK_OTHER;
    else
        return;
    m->fname_len = colon < FNAME_MAX ? colon : FNAME_MAX - 1;
    memcpy(m->fname, s, m->fname_len);
    m->fname[m->fname_len] = '\0';
    field_append(m, s + colon + 1, len - colon - 1);
}

/* ---- bodies -------------------------------------------------------------------------- */

/* "begin 644 name": the name into out. */
static bool uue_begin(const char *s, size_t len, char *out, size_t out_size)
{
    size_t i = 6, d = 0;

    if (len < 9 || memcmp(s, "begin ", 6) != 0)
        return false;
    while (i < len && s[i] >= '0' && s[i] <= '7' && d < 5)
        i++, d++;
    if (d < 3 || d > 4 || i >= len || s[i] != ' ' || i + 1 >= len)
        return false;
    i++;
    while (len > i && is_ws(s[len - 1]))
        len--;
    if (len == i)
        return false;
    snprintf(out, out_size, "%.*s", (int)(len - i), s + i);
    return true;
}

static bool uue_end(const char *s, size_t len)
{
    while (len > 0 && is_ws(s[len - 1]))
        len--;
    return len == 3 && memcmp(s, "end", 3) == 0;
}

static void uue_line(struct mime_parser *m, struct frame *f, const char *s, size_t len,
                     bool complete)
{
    unsigned char out[LINE_CAP];
    size_t want, i, o = 0;

    if (!complete) {
        flag(m, f, MIME_F_BAD_UUENCODE);
        return;
    }
    if (len == 0)
        return;
    want = (size_t)((s[0] - 0x20) & 0x3f);
    if (want == 0)
        return;
    for (i = 1; o < want; i += 4) {
        unsigned v[4], k;
        if (i >= len) {            /* shorter than announced (cut trailing blanks are
                                      read as zero within the last group) */
            flag(m, f, MIME_F_BAD_UUENCODE);
            break;
        }
        for (k = 0; k < 4; k++)
            v[k] = i + k < len ? (unsigned)((s[i + k] - 0x20) & 0x3f) : 0;
        out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
        if (o < want)
            out[o++] = (unsigned char)(v[1] << 4 | v[2] >> 2);
        if (o < want)
            out[o++] = (unsigned char)(v[2] << 6 | v[3]);
    }
    emit(m, f, out, o);
}

static void qp_line(struct mime_parser *m, struct frame *f, const char *s, size_t len,
                    bool complete, const char *eol, size_t eol_len)
{
    char in[LINE_CAP + 2];
    unsigned char out[LINE_CAP + 2];
    size_t n = 0, i, o = 0;
    bool soft = false;

    emit_eol(m, f);
    memcpy(in, f->qp_carry, f->qp_carry_len);
    n = f->qp_carry_len;
    f->qp_carry_len = 0;
    memcpy(in + n, s, len);
    n += len;
    if (complete) {
        while (n > 0 && is_ws(in[n - 1]))
            n--;
    } else if (n >= 1 && in[n - 1] == '=') {
        f->qp_carry[0] = '=';
        f->qp_carry_len = 1;
        n--;
    } else if (n >= 2 && in[n - 2] == '=') {
        memcpy(f->qp_carry, in + n - 2, 2);
        f->qp_carry_len = 2;
        n -= 2;
    }
    for (i = 0; i < n; i++) {
        if (in[i] != '=') {
            out[o++] = (unsigned char)in[i];
        } else if (i + 1 == n && complete) {
            soft = true;
        } else if (i + 2 < n && hex_value((unsigned char)in[i + 1]) >= 0 &&
                   hex_value((unsigned char)in[i + 2]) >= 0) {
            out[o++] = (unsigned char)(hex_value((unsigned char)in[i + 1]) * 16 +
                                       hex_value((unsigned char)in[i + 2]));
            i += 2;
        } else {
            flag(m, f, MIME_F_BAD_QP);
            out[o++] = '=';
        }
    }
    emit(m, f, out, o);
    if (complete && !soft)
        keep_eol(f, eol, eol_len);
}

static void leaf_line(struct mime_parser *m, struct frame *f, const char *s, size_t len,
                      bool complete, bool at_start, const char *eol, size_t eol_len)
{
    unsigned char out[LINE_CAP];
    char name[MIME_NAME_MAX];
    size_t i, o = 0;

    switch (f->p.encoding) {
    case MIME_ENC_BASE64:
        for (i = 0; i < len; i++)
            o += b64_put(m, f, (unsigned char)s[i], out + o);
        emit(m, f, out, o);
        return;
    case MIME_ENC_QP:
        qp_line(m, f, s, len, complete, eol, eol_len);
        return;
    case MIME_ENC_UUENCODE:
        if (f->uue_done)
            return;
        if (!f->uue_begun) {
            if (at_start && complete && uue_begin(s, len, name, sizeof(name))) {
                f->uue_begun = true;
                if (f->p.filename[0] == '\0')
                    snprintf(f->p.filename, sizeof(f->p.filename), "%s", name);
            }
            return;
        }
        if (at_start && complete && uue_end(s, len))
            f->uue_done = true;
        else
            uue_line(m, f, s, len, complete);
        return;
    default:
        break;
    }
    if (at_start && complete && f->p.depth + 1 <= m->lim.max_depth &&
        uue_begin(s, len, name, sizeof(name))) {
        struct frame *u;
        emit_eol(m, f);
        m->open_at = m->cur_off;
        push_frame(m, f, FS_UUE, "application/octet-stream");
        u = top(m);
        u->p.off_body = m->cur_end;
        u->p.encoding = MIME_ENC_UUENCODE;
        u->p.uuencoded = true;
        u->p.attachment = true;
        snprintf(u->p.filename, sizeof(u->p.filename), "%s", name);
        begin(m, u);
        return;
    }
    emit_eol(m, f);
    emit(m, f, s, len);
    if (complete)
        keep_eol(f, eol, eol_len);
}

/* ---- lines --------------------------------------------------------------------------- */

/* The frame (index) whose boundary the line is, or -1. *closing: "--B--". */
static int boundary_of(struct mime_parser *m, const char *s, size_t len, bool *closing)
{
    int i;

    for (i = (int)m->sp - 1; i >= 0; i--) {
        struct frame *f = &m->stack[i];
        size_t j;
        if (f->p.kind != MIME_KIND_MULTIPART || len < 2 + f->blen ||
            memcmp(s + 2, f->boundary, f->blen) != 0)
            continue;
        j = 2 + f->blen;
        *closing = len >= j + 2 && s[j] == '-' && s[j + 1] == '-';
        if (*closing)
            j += 2;
        while (j < len && (is_ws(s[j]) || s[j] == '\r'))
            j++;
        if (j < len)
            flag(m, f, MIME_F_BOUNDARY_JUNK);
        return i;
    }
    return -1;
}

static void on_boundary(struct mime_parser *m, unsigned k, bool closing)
{
    struct frame *f;

    if (top(m)->st == FS_HEADER && m->sp - 1 > k)
        flag(m, top(m), MIME_F_BOUNDARY_IN_HEADER);
    /* the line end before the boundary line belongs to it */
    m->close_at = m->cur_off - (m->prev_eol <= m->cur_off ? m->prev_eol : 0);
    while (m->sp - 1 > k)
        close_top(m);
    f = top(m);
    if (f->st == FS_EPILOGUE)
        flag(m, f, MIME_F_BOUNDARY_JUNK);   /* a boundary after the closing one */
    if (closing) {
        f->st = FS_EPILOGUE;
        return;
    }
    f->st = FS_INPART;
    if (m->sp >= m->cap) {
        flag(m, f, MIME_F_DEPTH);
        return;
    }
    m->open_at = m->cur_end;
    push_frame(m, f, FS_HEADER, f->digest ? "message/rfc822" : "text/plain");
}

static void dispatch(struct mime_parser *m, const char *s, size_t len, bool complete,
                     bool at_start, const char *eol, size_t eol_len)
{
    struct frame *f = top(m);

    switch (f->st) {
    case FS_HEADER:
        header_line(m, f, s, len, complete, at_start, eol, eol_len);
        break;
    case FS_LEAF:
        leaf_line(m, f, s, len, complete, at_start, eol, eol_len);
        break;
    case FS_UUE:
        if (at_start && complete && uue_end(s, len)) {
            f->uue_done = true;
            m->close_at = m->cur_end;
            close_top(m);
        } else {
            uue_line(m, f, s, len, complete);
        }
        break;
    default:   /* preamble, epilogue: ignored */
        break;
    }
}

static void on_line(struct mime_parser *m, const char *s, size_t len, bool complete,
                    const char *eol, size_t eol_len)
{
    bool at_start = !m->line_cont;
    bool closing = false;
    int k;

    m->cur_off = m->line_off;
    m->cur_end = m->line_off + len + eol_len;
    if (m->line_total <= LINE_LIMIT && m->line_total + len > LINE_LIMIT)
        flag(m, top(m), MIME_F_LONG_LINE);
    m->line_total += len;
    m->line_cont = !complete;
    if (complete)
        m->line_total = 0;
    if (at_start && complete && len >= 2 && s[0] == '-' && s[1] == '-' &&
        (k = boundary_of(m, s, len, &closing)) >= 0) {
        on_boundary(m, (unsigned)k, closing);
    } else {
        dispatch(m, s, len, complete, at_start, eol, eol_len);
    }
    m->prev_eol = complete ? eol_len : 0;
}

/* ---- API ----------------------------------------------------------------------------- */

struct mime_parser *mime_new(const struct mime_limits *lim, const struct mime_callbacks *cb,
                             void *arg)
{
    struct mime_parser *m = xcalloc(1, sizeof(*m));

    m->lim.max_depth = lim && lim->max_depth ? lim->max_depth : 20;
    if (m->lim.max_depth > MIME_DEPTH_HARD)
        m->lim.max_depth = MIME_DEPTH_HARD;
    m->lim.max_parts = lim && lim->max_parts ? lim->max_parts : 1000;
    m->lim.max_header = lim && lim->max_header ? lim->max_header : 256 * 1024;
    if (cb != NULL)
        m->cb = *cb;
    m->arg = arg;
    m->cap = m->lim.max_depth + 2;   /* depth 0 .. max_depth, and a uuencoded file */
    m->stack = xcalloc(m->cap, sizeof(*m->stack));
    push_frame(m, NULL, FS_HEADER, "text/plain");
    return m;
}

void mime_free(struct mime_parser *m)
{
    if (m == NULL)
        return;
    free(m->stack);
    free(m);
}

void mime_feed(struct mime_parser *m, const void *data, size_t len)
{
    const char *p = data, *end = p + len;

    if (m->ended)
        return;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t take = (size_t)((nl ? nl : end) - p);
        size_t room = LINE_CAP - m->line_len;

        if (take > room)
            take = room;
        memcpy(m->line + m->line_len, p, take);
        m->line_len += take;
        p += take;
        if (p < end && *p == '\n' && nl == p) {
            bool cr = m->line_len > 0 && m->line[m->line_len - 1] == '\r';
            p++;
            if (cr)
                m->line_len--;
            on_line(m, m->line, m->line_len, true, cr ? "\r\n" : "\n", cr ? 2 : 1);
            m->line_len = 0;
            m->line_off = m->fed + (unsigned long long)(p - (const char *)data);
        } else if (m->line_len == LINE_CAP) {
            /* a piece of a long line; a CR at its end may belong to the line end */
            size_t n = m->line[LINE_CAP - 1] == '\r' ? LINE_CAP - 1 : LINE_CAP;
            on_line(m, m->line, n, false, "", 0);
            memmove(m->line, m->line + n, LINE_CAP - n);
            m->line_len = LINE_CAP - n;
            m->line_off += n;
        }
    }
    m->fed += len;
}

void mime_end(struct mime_parser *m)
{
    if (m->ended)
        return;
    if (m->line_len > 0 || m->line_cont)
        on_line(m, m->line, m->line_len, true, "", 0);
    m->line_len = 0;
    /* the last line end of the message is data (no boundary follows to own it) */
    if (top(m)->st == FS_LEAF && identity_or_qp(top(m)->p.encoding))
        emit_eol(m, top(m));
    m->close_at = m->fed;
    while (m->sp > 0)
        close_top(m);
    m->ended = true;
}

unsigned mime_flags(const struct mime_parser *m)
{
    return m->flags;
}

unsigned mime_part_count(const struct mime_parser *m)
{
    return m->nparts;
}

const char *mime_subtype(const struct mime_part *p)
{
    const char *s = strchr(p->type, '/');
    return s ? s + 1 : "";
}

const char *mime_part_filename(const struct mime_part *p)
{
    return p->filename[0] ? p->filename : p->name;
}

const char *mime_flag_name(unsigned flag)
{
    static const char *const names[] = {
        "missing closing boundary", "header line without colon", "8-bit header",
        "boundary inside a header", "overlong line", "bad base64", "bad quoted-printable",
        "header too long", "nesting too deep", "too many parts", "multipart without boundary",
        "bad transfer encoding", "unterminated uuencode", "bad header value",
        "text after boundary",
    };
    unsigned i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (flag & (1u << i))
            return names[i];
    return "";
}
