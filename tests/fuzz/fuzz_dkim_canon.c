// fuzz-sources: mailauth/dkim_canon.c
/*
 * fuzz_dkim_canon.c - libFuzzer target for DKIM canonicalization (mailauth/dkim_canon.c).
 *
 * The first input byte picks a chunk size; the rest is a message body as a client may
 * send it (any bytes). Checked contracts, for simple and relaxed: the output is the same
 * whether the body is fed in one piece or in chunks (a CR and its LF in different chunks
 * included); the length counter equals the bytes output; a non-empty output ends in CRLF;
 * relaxed output has no SP before a CRLF and no two WSP in a row; a simple output never
 * holds more than it was given plus a final CRLF. The remaining input is also fed to the
 * header canonicalizer, whose output must fit in len + 2 bytes and end in CRLF.
 * Build: clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -I. THIS mailauth/dkim_canon.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/dkim_canon.h"

#define FUZZ_OUT_MAX (1u << 20)

struct out {
    char *buf;
    size_t len;
};

static void collect(void *arg, const char *data, size_t len)
{
    struct out *o = arg;
    if (o->len + len > FUZZ_OUT_MAX)
        abort();
    memcpy(o->buf + o->len, data, len);
    o->len += len;
}

static void run(enum dkim_canon c, const char *in, size_t len, size_t chunk, struct out *o)
{
    struct dkim_body_canon bc;
    size_t i;

    o->len = 0;
    dkim_body_canon_init(&bc, c, collect, o);
    for (i = 0; i < len; i += chunk)
        dkim_body_canon_update(&bc, in + i, len - i < chunk ? len - i : chunk);
    dkim_body_canon_final(&bc);
    if (bc.length != o->len)
        abort();
}

static void check(enum dkim_canon c, const char *in, size_t len, size_t chunk)
{
    static char b1[FUZZ_OUT_MAX], b2[FUZZ_OUT_MAX];
    struct out whole = { b1, 0 }, parts = { b2, 0 };
    size_t i;

    run(c, in, len, len ? len : 1, &whole);
    run(c, in, len, chunk, &parts);
    if (whole.len != parts.len || memcmp(whole.buf, parts.buf, whole.len) != 0)
        abort();
    if (whole.len && (whole.len < 2 || memcmp(whole.buf + whole.len - 2, "\r\n", 2) != 0))
        abort();
    if (c == DKIM_CANON_SIMPLE && whole.len > len + 2)
        abort();
    for (i = 1; c == DKIM_CANON_RELAXED && i < whole.len; i++) {
        char a = whole.buf[i - 1], b = whole.buf[i];
        if ((a == ' ' || a == '\t') && (b == ' ' || b == '\t' ||
                                        (b == '\r' && i + 1 < whole.len &&
                                         whole.buf[i + 1] == '\n')))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data + 1;
    size_t len, chunk, n;
    char *hdr;

    if (size < 1)
        return 0;
    len = size - 1;
    chunk = (size_t)data[0] % 16 + 1;
    check(DKIM_CANON_SIMPLE, in, len, chunk);
    check(DKIM_CANON_RELAXED, in, len, chunk);
    hdr = malloc(len + 2);
    n = dkim_canon_header(DKIM_CANON_RELAXED, in, len, hdr);
    if (n > len + 2 || n < 2 || memcmp(hdr + n - 2, "\r\n", 2) != 0)
        abort();
    n = dkim_canon_header(DKIM_CANON_SIMPLE, in, len, hdr);
    if (n > len + 2)
        abort();
    free(hdr);
    return 0;
}
