/*
 * msg_stream.c - the message as it streams to the spool (see msg_stream.h for the
 * contract). Called by relay/smtpd/smtp_data.c for every chunk of DATA, by its unit tests and by
 * tests/fuzz/fuzz_msg_stream.c.
 *
 * Header: each input line is gathered in line[] (at most MSG_LINE_MAX bytes and a CR) and
 * looked at when its LF arrives, or when it reaches the limit (then the part gathered so
 * far is a "segment": it is folded off, or passed on as it is when lines are only
 * flagged). The first segment of a line says what the line is: a field, a continuation,
 * the empty line, or a line that is no header field at all. Each segment of a From: field
 * is appended to from_value as it is passed on, so folding (ours or the client's) is
 * undone by leaving out the CR LF alone.
 *
 * Body: nothing is copied. memchr finds each LF; the input is passed on in runs that are
 * only cut where a break is inserted, so a message that needs no change costs one memchr
 * pass and one callback per feed.
 */
#include "lib/msg_stream.h"

#include <string.h>
#include <strings.h>

/* What the current header line belongs to. */
enum {
    FIELD_NONE,       /* no field yet: a continuation line here is not a header line */
    FIELD_OTHER,
    FIELD_FROM,       /* the first From: field, whose value is kept */
    FIELD_FROM_MORE,  /* a later one (counted, not kept) */
};

/* What the first segment of a header line is. */
enum line_kind { LINE_FIELD, LINE_CONTINUATION, LINE_EMPTY, LINE_NOT_HEADER };

static void emit(struct msg_stream *m, const char *p, size_t n)
{
    if (n == 0)
        return;
    m->out(m->out_arg, p, n);
    m->out_total += n;
}

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* Classify a line's first segment; for a field, *value is the offset after its colon. */
static enum line_kind line_classify(struct msg_stream *m, const char *p, size_t n,
                                    size_t *value)
{
    size_t i = 0, name_len;

    *value = 0;
    if (n == 0)
        return LINE_EMPTY;
    if (is_wsp(p[0]))
        return m->field == FIELD_NONE ? LINE_NOT_HEADER : LINE_CONTINUATION;
    while (i < n && (unsigned char)p[i] > ' ' && (unsigned char)p[i] < 0x7f && p[i] != ':')
        i++;
    name_len = i;
    while (i < n && is_wsp(p[i]))   /* RFC 5322 4.5.8 (obsolete): spaces before the colon */
        i++;
    if (name_len == 0 || i == n || p[i] != ':')
        return LINE_NOT_HEADER;
    *value = i + 1;
#define NAME_IS(s) (name_len == sizeof(s) - 1 && strncasecmp(p, s, name_len) == 0)
    if (NAME_IS("From")) {
        m->field = m->from++ == 0 ? FIELD_FROM : FIELD_FROM_MORE;
        return LINE_FIELD;
    }
    m->field = FIELD_OTHER;
    if (NAME_IS("Received"))
        m->received++;
    else if (NAME_IS("Message-ID"))
        m->message_id++;
    else if (NAME_IS("Date"))
        m->date++;
#undef NAME_IS
    return LINE_FIELD;
}

/* A segment of a header line is passed on: note what it holds. */
static void head_note(struct msg_stream *m, const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n && !m->header_8bit; i++)
        if ((unsigned char)p[i] >= 0x80)
            m->header_8bit = true;
    if (m->field == FIELD_FROM) {
        size_t room = MSG_FROM_MAX - m->from_len;
        if (n > room) {
            n = room;
            m->from_cut = true;
        }
        memcpy(m->from_value + m->from_len, p, n);
        m->from_len += n;
    }
}

static void insert_field(struct msg_stream *m, const char *name, const char *value)
{
    emit(m, name, strlen(name));
    emit(m, value, strlen(value));
    emit(m, "\r\n", 2);
}

/* The header is over: insert what is missing. sealed: it ended at a non-header line. */
static void header_end(struct msg_stream *m, bool sealed)
{
    m->header_ended = true;
    if (m->message_id == 0 && m->opts.message_id) {
        insert_field(m, "Message-ID: ", m->opts.message_id);
        m->added_message_id = true;
    }
    if (m->date == 0 && m->opts.date) {
        insert_field(m, "Date: ", m->opts.date);
        m->added_date = true;
    }
    if (sealed && m->opts.seal_header)
        emit(m, "\r\n", 2);
}

/* Classify the first segment of a line; false when the header ends before it. */
static bool head_first_segment(struct msg_stream *m, size_t content, size_t *value)
{
    enum line_kind k = line_classify(m, m->line, content, value);

    if (k == LINE_EMPTY || k == LINE_NOT_HEADER) {
        header_end(m, k == LINE_NOT_HEADER);
        m->in_body = true;
        return false;
    }
    return true;
}

/* The LF of a header line arrived. */
static void head_line_end(struct msg_stream *m)
{
    size_t len = m->line_len, content = len, value = 0;
    bool header = true;

    if (content > 0 && m->line[content - 1] == '\r')
        content--;
    if (m->line_first)
        header = head_first_segment(m, content, &value);
    if (header)
        head_note(m, m->line + value, content - value);
    m->line[len] = '\n';
    emit(m, m->line, len + 1);
    m->line_len = 0;
    m->line_first = true;
    m->line_long = false;
}

/* Where to fold a full line: before the next byte when it is a space or tab, else before
 * the last space or tab of the line; either must follow a non-space (and, in a field's
 * first segment, the colon), so that unfolding gives the value back. 0 when there is none. */
static size_t fold_point(const struct msg_stream *m, size_t from, char next)
{
    size_t k, first = from;

    while (first < m->line_len && is_wsp(m->line[first]))
        first++;
    if (is_wsp(next) && first < m->line_len)
        return m->line_len;
    for (k = m->line_len; k > first + 1; k--)
        if (is_wsp(m->line[k - 1]))
            return k - 1;
    return 0;
}

/* The header line in line[] is full and goes on with next: fold it (or pass it on when
 * lines are only flagged). Returns false when the line turned out to start the body. */
static bool head_fold(struct msg_stream *m, char next)
{
    size_t value = 0, at, len = m->line_len;

    if (m->line_first && !head_first_segment(m, len, &value)) {
        emit(m, m->line, len);
        m->line_len = len;     /* the body goes on from this line's length */
        return false;
    }
    m->line_first = false;
    if (!m->line_long) {
        m->long_lines++;
        m->line_long = true;
    }
    if (!m->opts.break_long_lines) {
        head_note(m, m->line + value, len - value);
        emit(m, m->line, len);
        m->line_len = 0;
        return true;
    }
    m->breaks++;
    at = fold_point(m, value, next);
    if (at > 0) {
        head_note(m, m->line + value, at - value);
        emit(m, m->line, at);
        emit(m, "\r\n", 2);
        memmove(m->line, m->line + at, len - at);
        m->line_len = len - at;
        return true;
    }
    head_note(m, m->line + value, len - value);
    emit(m, m->line, len);
    emit(m, "\r\n", 2);
    m->line[0] = ' ';          /* the continuation's leading space, part of the value */
    m->line_len = 1;
    return true;
}

/* Header bytes; returns how many were used (fewer when the body starts). */
static size_t head_feed(struct msg_stream *m, const char *in, size_t len)
{
    size_t i = 0;

    while (i < len && !m->in_body) {
        size_t room, k;
        const char *nl;

        if (m->line_len >= MSG_LINE_MAX) {      /* at the limit: decide byte by byte */
            char c = in[i];
            if (c == '\n') {
                i++;
                head_line_end(m);
            } else if (c == '\r' && m->line_len == MSG_LINE_MAX) {
                m->line[m->line_len++] = c;     /* maybe the CR of CR LF */
                i++;
            } else {
                head_fold(m, c);
            }
            continue;
        }
        room = MSG_LINE_MAX - m->line_len;
        k = len - i < room ? len - i : room;
        nl = memchr(in + i, '\n', k);
        if (nl)
            k = (size_t)(nl - (in + i));
        memcpy(m->line + m->line_len, in + i, k);
        m->line_len += k;
        i += k;
        if (nl) {
            i++;
            head_line_end(m);
        }
    }
    return i;
}

/* Body bytes: passed on in runs, cut only where a long line is broken. */
static void body_feed(struct msg_stream *m, const char *p, size_t n)
{
    const char *run = p;

    while (n > 0) {
        size_t avail = m->line_len < MSG_LINE_MAX ? MSG_LINE_MAX - m->line_len : 0;
        size_t look = n < avail + 1 ? n : avail + 1, k;
        const char *nl = memchr(p, '\n', look);

        if (nl) {
            k = (size_t)(nl - p) + 1;
            p += k;
            n -= k;
            m->line_len = 0;
            m->line_long = false;
            continue;
        }
        if (n <= avail) {
            m->line_len += n;
            p += n;
            break;
        }
        p += avail;
        n -= avail;
        m->line_len += avail;
        /* Here line_len >= MSG_LINE_MAX and *p is not LF. */
        if (*p == '\r' && m->line_len == MSG_LINE_MAX) {
            p++;          /* maybe the CR of CR LF: decided by the next byte */
            n--;
            m->line_len++;
            continue;
        }
        if (!m->line_long) {
            m->long_lines++;
            m->line_long = true;
        }
        if (m->opts.break_long_lines) {
            emit(m, run, (size_t)(p - run));
            emit(m, "\r\n", 2);
            run = p;
            m->line_len = 0;
            m->breaks++;
        } else {
            nl = memchr(p, '\n', n);
            k = nl ? (size_t)(nl - p) + 1 : n;
            p += k;
            n -= k;
            m->line_len = nl ? 0 : MSG_LINE_MAX + 2;
            m->line_long = nl == NULL;
        }
    }
    emit(m, run, (size_t)(p - run));
}

void msg_stream_init(struct msg_stream *m, const struct msg_stream_opts *opts,
                     msg_stream_out_fn out, void *out_arg)
{
    memset(m, 0, offsetof(struct msg_stream, line));
    m->opts = *opts;
    m->out = out;
    m->out_arg = out_arg;
    m->field = FIELD_NONE;
    m->line_first = true;
}

void msg_stream_feed(struct msg_stream *m, const char *in, size_t len)
{
    size_t used = 0;

    if (!m->in_body)
        used = head_feed(m, in, len);
    if (used < len)
        body_feed(m, in + used, len - used);
}

void msg_stream_finish(struct msg_stream *m)
{
    size_t value = 0, len = m->line_len;
    bool unterminated = len > 0;

    if (m->in_body)
        return;
    /* The data ended inside a header line (no LF: only from a client whose data does not
     * end with CR LF, which the scanner never gives). Pass it on, then end it if fields
     * follow. */
    if (unterminated && (!m->line_first || head_first_segment(m, len, &value)))
        head_note(m, m->line + value, len - value);
    emit(m, m->line, len);
    m->line_len = 0;
    if (m->header_ended)
        return;
    if (unterminated && ((m->message_id == 0 && m->opts.message_id) ||
                         (m->date == 0 && m->opts.date)))
        emit(m, "\r\n", 2);
    header_end(m, false);
}
