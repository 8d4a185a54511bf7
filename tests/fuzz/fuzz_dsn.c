// fuzz-sources: lib/dsn.c lib/utf8.c lib/xalloc.c
/*
 * fuzz_dsn.c - libFuzzer target for lib/dsn.c, the delivery status notification builder,
 * with the parts a stranger controls: the envelope addresses and the returned header
 * section (8-bit, UTF-8 or not, boundary look-alikes, missing empty line).
 *
 * Input: byte 0 picks the action and a small or large headers_max; the rest is split at
 * NUL bytes into sender, two recipients and the header section. Checked: a report is
 * refused only for an empty sender or CR/LF in an address; a built one has the length it
 * says, starts with the From: line, ends with its closing boundary, which occurs only on
 * the four boundary lines (never inside a header, address or reply it copies); it is
 * flagged 8-bit exactly when it has a non-ASCII byte, and uses the RFC 6533 global types
 * when an address is non-ASCII.
 * Run by tests/fuzz/run.sh with the seeds in tests/fuzz/corpus/dsn/.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dsn.h"
#include "lib/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
    do { if (!(cond)) { fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); \
         abort(); } } while (0)

#define FIELDS 4

static bool has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy, *field[FIELDS] = { "", "", "", "" };
    struct dsn_rcpt rc[2];
    struct dsn_report r;
    struct dsn_message m;
    char *p, *end;
    size_t i, k;
    bool refuse, utf8_addr;
    const char *close;

    if (size < 1)
        return 0;
    copy = malloc(size + 1);
    CHECK(copy != NULL);
    memcpy(copy, data, size);
    copy[size] = '\0';
    end = copy + size;
    p = copy + 1;
    for (k = 0; k < FIELDS - 1 && p < end; k++) {
        char *nul = memchr(p, '\0', (size_t)(end - p));
        field[k] = p;
        p = nul != NULL ? nul + 1 : end;
    }
    if (p < end)
        field[FIELDS - 1] = p;          /* the header section: the rest */
    memset(rc, 0, sizeof(rc));
    for (i = 0; i < 2; i++) {
        rc[i].addr = field[1 + i];
        rc[i].status = "5.1.1";
        rc[i].diagnostic = "550 5.1.1 no such user";
        rc[i].remote_mta = "mx.remote.test";
        rc[i].last_attempt = 1795448400LL;
    }
    memset(&r, 0, sizeof(r));
    r.action = (data[0] & 1) ? DSN_DELAYED : DSN_FAILED;
    r.reporting_mta = "mx.example";
    r.qid = "5BN6Xh6QXkzm0xr";
    r.sender = field[0];
    r.arrival = 1795440000LL;
    r.now = 1795448400LL;
    r.retry_until = 1795880000LL;
    r.message_id = "5BN6Xz1.1795448400@mx.example";
    r.rcpts = rc;
    r.nrcpt = 2;
    r.headers = field[3];
    r.headers_len = strlen(field[3]);
    r.headers_max = (data[0] & 2) ? 64 : 16384;

    refuse = field[0][0] == '\0' || has_crlf(field[0]) || has_crlf(field[1]) ||
             has_crlf(field[2]);
    if (dsn_build(&r, &m) < 0) {
        CHECK(refuse && m.text == NULL);
        free(copy);
        return 0;
    }
    CHECK(!refuse);
    CHECK(m.text != NULL && strlen(m.text) == m.len);
    CHECK(strncmp(m.text, "From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\n", 55) == 0);
    close = m.text + m.len;
    CHECK(m.len > 4 && memcmp(close - 4, "--\r\n", 4) == 0);
    CHECK(m.eightbit == !utf8_is_ascii(m.text, m.len));
    utf8_addr = !utf8_is_ascii(field[0], strlen(field[0])) ||
                !utf8_is_ascii(field[1], strlen(field[1])) ||
                !utf8_is_ascii(field[2], strlen(field[2]));
    if (utf8_addr)
        CHECK(strstr(m.text, "report-type=global-delivery-status;") != NULL &&
              strstr(m.text, "Content-Type: message/global-delivery-status\r\n") != NULL);
    {   /* the closing boundary line "--B--": "--B" occurs only on the four boundary
         * lines (three parts and the close), never in what the report copies */
        const char *line = close - 4, *at;
        char *dashed;
        size_t count = 0;
        while (line > m.text && line[-1] != '\n')
            line--;
        dashed = strndup(line, (size_t)(close - 4 - line));
        CHECK(dashed != NULL && dashed[0] == '-' && dashed[1] == '-');
        for (at = m.text; (at = strstr(at, dashed)) != NULL; at++) {
            CHECK(at > m.text + 1 && at[-2] == '\r' && at[-1] == '\n');
            count++;
        }
        CHECK(count == 4);
        free(dashed);
    }
    free(m.text);
    free(copy);
    return 0;
}
