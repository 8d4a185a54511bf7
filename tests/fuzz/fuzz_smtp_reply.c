// fuzz-sources: lib/smtp_reply_parse.c
/*
 * fuzz_smtp_reply.c - libFuzzer target for lib/smtp_reply_parse.c.
 *
 * The input is a stream of server replies, as the outbound client would receive it. It is
 * framed reply by reply (as relay/deliver/smtp_client.c drains its input), each reply's text is
 * joined and its EHLO keywords read, and the parser's contracts are checked: consumed bytes
 * stay within the input, OK replies have 1..lines_max lines that lie inside the input and
 * within line_max, codes are 200..599, and the joined text is printable ASCII.
 * The first input byte picks small limits so that the bound paths are reached too.
 * Build: clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -I. THIS lib/smtp_reply_parse.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/smtp_reply_parse.h"

#define FUZZ_TEXT_CAP 1024
#define FUZZ_LINE_MAX_STEP 8      /* line_max = 8 * (low nibble + 1): 8..128 */
#define FUZZ_NIBBLE 0x0f
#define FUZZ_NIBBLE_BITS 4
#define PRINTABLE_MIN 0x20
#define PRINTABLE_MAX 0x7e

static void check_reply(const uint8_t *buf, size_t len, const struct smtp_reply_limits *lim,
                        const struct smtp_reply *r, size_t used)
{
    static char text[FUZZ_TEXT_CAP];
    struct smtp_ehlo e;
    size_t i, n;

    if (used == 0 || used > len || r->nlines == 0 || r->nlines > lim->lines_max ||
        r->code < 200 || r->code > 599)
        abort();
    for (i = 0; i < r->nlines; i++) {
        const uint8_t *t = (const uint8_t *)r->lines[i].text;
        if (t < buf || t + r->lines[i].len > buf + used || r->lines[i].len > lim->line_max)
            abort();
    }
    n = smtp_reply_text(r, text, sizeof(text));
    if (n >= sizeof(text) || text[n] != '\0')
        abort();
    for (i = 0; i < n; i++)
        if ((unsigned char)text[i] < PRINTABLE_MIN || (unsigned char)text[i] > PRINTABLE_MAX)
            abort();
    smtp_ehlo_parse(r, &e);
    if (r->code / 100 != 2 && (e.ext != 0 || e.auth != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct smtp_reply r;
    struct smtp_reply_limits lim;
    size_t off = 1;

    if (size < 1)
        return 0;
    lim.line_max = FUZZ_LINE_MAX_STEP * ((size_t)(data[0] & FUZZ_NIBBLE) + 1);
    lim.lines_max = (size_t)(data[0] >> FUZZ_NIBBLE_BITS) + 1;
    while (off < size) {
        size_t used = 0;
        enum smtp_reply_status st = smtp_reply_parse((const char *)data + off, size - off, &lim,
                                                     &r, &used);
        if (st != SMTP_REPLY_OK) {
            if (used != 0)
                abort();
            break;
        }
        check_reply(data + off, size - off, &lim, &r, used);
        off += used;
    }
    return 0;
}
