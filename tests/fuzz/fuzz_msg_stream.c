// fuzz-sources: lib/msg_stream.c
/*
 * fuzz_msg_stream.c - libFuzzer target for lib/msg_stream.c, the message stream that
 * counts header fields, folds or breaks long lines and inserts Message-ID and Date.
 *
 * Input: byte 0 selects the options (bit 0 break long lines, bit 1 seal the header, bit 2
 * insert Message-ID, bit 3 insert Date); the rest is the message data. It is run once in
 * one piece and once split at up to four points derived from the input. Checked: both
 * runs agree (output and every result); out_total is what the callback got; the From
 * value is bounded; without breaking or insertions the output is the input; the output
 * only grows, by at most 3 bytes per break plus the inserted fields and empty line; when
 * breaking, a CR LF-only input gives no line longer than MSG_LINE_MAX, and removing the
 * inserted line breaks gives it back when nothing else is inserted.
 * Run by tests/fuzz/run.sh with the seeds in tests/fuzz/corpus/msg_stream/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/msg_stream.h"
#include "tests/fuzz/fuzz_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MSGID "<fuzz@example.test>"
#define DATE "Wed, 1 Jan 2025 00:00:00 +0000"

struct sink {
    char *buf;
    size_t len, cap;
};

static void sink_out(void *arg, const char *p, size_t n)
{
    struct sink *k = arg;
    CHECK(n > 0);
    if (k->len + n > k->cap) {
        k->cap = 2 * (k->len + n);
        k->buf = realloc(k->buf, k->cap);
        CHECK(k->buf != NULL);
    }
    memcpy(k->buf + k->len, p, n);
    k->len += n;
}

static void run(const char *in, size_t len, const struct msg_stream_opts *o,
                const size_t *cuts, size_t ncuts, struct msg_stream *m, struct sink *k)
{
    size_t start = 0, i;

    memset(k, 0, sizeof(*k));
    msg_stream_init(m, o, sink_out, k);
    for (i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        msg_stream_feed(m, in + start, end - start);
        start = end;
    }
    msg_stream_finish(m);
    CHECK(m->out_total == k->len);
    CHECK(m->from_len <= MSG_FROM_MAX);
}

static bool crlf_only(const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (s[i] == '\r' && (i + 1 == len || s[i + 1] != '\n'))
            return false;
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
            return false;
    }
    return true;
}

static void check_lines_fit(const char *s, size_t len)
{
    size_t start = 0, i;
    for (i = 0; i + 1 < len; i++)
        if (s[i] == '\r' && s[i + 1] == '\n') {
            CHECK(i - start <= MSG_LINE_MAX);
            start = i + 2;
        }
    CHECK(len - start <= MSG_LINE_MAX);
}

/* Remove the breaks the stream inserted: every CR LF (and the SP after it, in a header
 * line) that is not in the input at that place. Returns true when that gives the input. */
static bool unbreaks_to_input(const char *out, size_t out_len, const char *in, size_t len)
{
    size_t i = 0, j = 0;
    while (i < out_len) {
        if (j < len && out[i] == in[j]) {
            i++;
            j++;
        } else if (i + 1 < out_len && out[i] == '\r' && out[i + 1] == '\n') {
            i += 2;
            if (i < out_len && out[i] == ' ' && (j >= len || in[j] != ' '))
                i++;
        } else {
            return false;
        }
    }
    return j == len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data + 1;
    struct msg_stream_opts o;
    size_t len, cuts[MAX_CUTS], ncuts, extra;
    struct msg_stream *one, *split;
    struct sink a, b;

    if (size < 1)
        return 0;
    memset(&o, 0, sizeof(o));
    o.break_long_lines = data[0] & 1;
    o.seal_header = data[0] & 2;
    o.message_id = data[0] & 4 ? MSGID : NULL;
    o.date = data[0] & 8 ? DATE : NULL;
    len = size - 1;
    one = malloc(sizeof(*one));
    split = malloc(sizeof(*split));
    CHECK(one && split);
    ncuts = fuzz_make_cuts(data, size, len, cuts);
    run(in, len, &o, NULL, 0, one, &a);
    run(in, len, &o, cuts, ncuts, split, &b);

    CHECK(a.len == b.len && (a.len == 0 || memcmp(a.buf, b.buf, a.len) == 0));
    CHECK(one->received == split->received && one->from == split->from);
    CHECK(one->message_id == split->message_id && one->date == split->date);
    CHECK(one->header_8bit == split->header_8bit && one->header_ended == split->header_ended);
    CHECK(one->from_len == split->from_len && one->from_cut == split->from_cut);
    CHECK(memcmp(one->from_value, split->from_value, one->from_len) == 0);
    CHECK(one->long_lines == split->long_lines && one->breaks == split->breaks);

    extra = (one->added_message_id ? strlen("Message-ID: " MSGID "\r\n") : 0) +
            (one->added_date ? strlen("Date: " DATE "\r\n") : 0) + 4;
    CHECK(a.len >= len && a.len <= len + 3 * one->breaks + extra);
    if (!o.break_long_lines)
        CHECK(one->breaks == 0);
    if (!o.break_long_lines && !o.seal_header && !o.message_id && !o.date)
        CHECK(a.len == len && (len == 0 || memcmp(a.buf, in, len) == 0));
    if (o.break_long_lines && crlf_only(in, len) && !o.message_id && !o.date)
        check_lines_fit(a.buf, a.len);
    if (!o.seal_header && !o.message_id && !o.date && crlf_only(in, len))
        CHECK(unbreaks_to_input(a.buf, a.len, in, len));
    free(a.buf);
    free(b.buf);
    free(one);
    free(split);
    return 0;
}
