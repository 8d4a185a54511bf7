/*
 * data_scan.c - the SMTP DATA stream scanner (see data_scan.h for the contract).
 *
 * Owns end-of-data detection, dot-unstuffing and the bare CR / bare LF / NUL / long-line
 * flags. Called by the SMTP session for every chunk read after "354", and by the unit
 * tests and tests/fuzz/fuzz_data_scan.c. One explicit state machine, one byte at a time:
 *
 *   LINE_START --'.'--> DOT --CR--> DOT_CR --LF--> DONE      (the end marker)
 *       |                |             `--other--> the CR was bare, the dot was stuffing
 *       |                `--other--> the dot was stuffing: drop it, handle the byte in-line
 *       `--other--> IN_LINE --CR--> CR --LF--> LINE_START    (a real CR LF)
 *                                    `--other--> the CR was bare
 *
 * A CR inside a line is written at once (it is a CR in the output whatever follows); only
 * a line-start '.' and the CR after it are held back, because ". CR LF" writes nothing.
 *
 * Output budget: the caller gives 2 bytes of room per input byte. Every byte writes at
 * most 2, except that in normalize mode ". CR x" at a line start writes CR LF x (3 bytes)
 * for x. When the '.' and CR came in an earlier call, that one excess byte is parked in
 * s->pend and written first thing by the next byte (which always has room for it, since
 * every byte adds 2 to the budget); the byte that ends the data writes nothing, so
 * nothing is parked once *done is set.
 */
#include "lib/data_scan.h"

#include <assert.h>
#include <string.h>

enum ds_state {
    DS_LINE_START,   /* at the start, or just after CR LF */
    DS_IN_LINE,
    DS_CR,           /* in a line, after a CR (already written) */
    DS_DOT,          /* a '.' at a line start, held back */
    DS_DOT_CR,       /* ". CR" at a line start, both held back */
    DS_DONE,         /* the end marker was consumed */
};

/* The caller's output buffer for one call, with the room earned so far. */
struct ds_out {
    struct data_scan *s;
    char *buf;
    size_t len;
    size_t room;     /* 2 * input bytes looked at so far */
};

static void ds_put(struct ds_out *o, char c)
{
    if (o->len < o->room) {
        o->buf[o->len++] = c;
    } else {
        assert(!o->s->has_pend);   /* see "Output budget" above */
        o->s->pend = c;
        o->s->has_pend = true;
    }
}

/* One more input byte: two more bytes of room; write the parked byte, if any. */
static void ds_grow(struct ds_out *o)
{
    o->room += 2;
    if (o->s->has_pend) {
        o->buf[o->len++] = o->s->pend;
        o->s->has_pend = false;
    }
}

static void ds_count(struct data_scan *s, size_t n)
{
    s->line_len += n;
    if (s->max_line != 0 && s->line_len > s->max_line)
        s->flags |= DATA_LONG_LINE;
}

/* The CR already written was not followed by LF: flag it, complete it in normalize mode. */
static void ds_bare_cr(struct data_scan *s, struct ds_out *o)
{
    s->flags |= DATA_BARE_CR;
    if (s->normalize)
        ds_put(o, '\n');
    ds_count(s, 1);
}

/* A byte inside a line (not a held-back line-start '.'). */
static void ds_in_line(struct data_scan *s, struct ds_out *o, char c)
{
    s->lf_last = c == '\n';
    s->state = c == '\r' ? DS_CR : DS_IN_LINE;
    if (c == '\r') {
        ds_put(o, '\r');
        return;
    }
    if (c == '\n') {
        s->flags |= DATA_BARE_LF;
        if (s->normalize)
            ds_put(o, '\r');
    } else if (c == '\0') {
        s->flags |= DATA_NUL;
    }
    ds_put(o, c);
    ds_count(s, 1);
}

/* Process one input byte; true when it completed the end marker. */
static bool ds_step(struct data_scan *s, struct ds_out *o, char c)
{
    switch (s->state) {
    case DS_LINE_START:
        if (c != '.' || s->raw)
            break;
        ds_count(s, 1);
        s->state = DS_DOT;
        return false;
    case DS_DOT:
        if (c != '\r')
            break;   /* ".x": the dot was stuffing and is dropped */
        s->state = DS_DOT_CR;
        return false;
    case DS_DOT_CR:
        if (c == '\n') {
            s->state = DS_DONE;
            return true;
        }
        ds_put(o, '\r');   /* ". CR x": dot dropped, the CR was bare */
        ds_bare_cr(s, o);
        break;
    case DS_CR:
        if (c == '\n') {
            ds_put(o, '\n');
            s->line_len = 0;
            s->state = DS_LINE_START;
            return false;
        }
        ds_bare_cr(s, o);
        break;
    default:
        break;
    }
    ds_in_line(s, o, c);
    return false;
}

void data_scan_init(struct data_scan *s, size_t max_line, bool normalize)
{
    memset(s, 0, sizeof *s);
    s->max_line = max_line;
    s->normalize = normalize;
    s->state = DS_LINE_START;
}

void data_scan_init_raw(struct data_scan *s, size_t max_line, bool normalize)
{
    data_scan_init(s, max_line, normalize);
    s->raw = true;
}

void data_scan_finish(struct data_scan *s, char *out, size_t *out_len)
{
    struct ds_out o = { s, out, 0, 2 };

    assert(s->raw && !s->has_pend);   /* raw mode never holds a byte back */
    if (s->state == DS_CR) {
        ds_bare_cr(s, &o);             /* normalize mode writes its LF */
    } else if (s->state == DS_IN_LINE && !(s->normalize && s->lf_last)) {
        ds_put(&o, '\r');
        ds_put(&o, '\n');
    }
    s->state = DS_DONE;
    *out_len = o.len;
    s->out_total += o.len;
}

size_t data_scan_feed(struct data_scan *s, const char *in, size_t in_len,
                      char *out, size_t *out_len, bool *done)
{
    struct ds_out o = { s, out, 0, 0 };
    size_t i = 0;

    *done = s->state == DS_DONE;
    while (!*done && i < in_len) {
        ds_grow(&o);
        *done = ds_step(s, &o, in[i++]);
    }
    *out_len = o.len;
    s->out_total += o.len;
    return i;
}
