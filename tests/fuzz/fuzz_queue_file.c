// fuzz-sources: relay/queue/queue_file.c policy/result_record.c policy/result.c lib/dsn.c lib/utf8.c lib/xalloc.c
/*
 * fuzz_queue_file.c - libFuzzer target for the queue file parser (relay/queue/queue_file.c) and
 * the DSN builder that consumes what it reads (lib/dsn.c).
 *
 * The input is a whole queue file: envelope, message, records, as posternctl and the queue
 * runner read it after a crash (anything may be cut or garbled). Checked contracts: the
 * envelope parser never reads past the input and reports a message inside it, records
 * never mark an index outside the recipients, pending counts add up, and a DSN built over
 * the message's header bytes ends with its closing boundary, which does not occur earlier
 * in the attached headers.
 * Build: clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -I. THIS relay/queue/queue_file.c
 *        policy/result_record.c policy/result.c lib/dsn.c lib/utf8.c lib/xalloc.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dsn.h"
#include "relay/queue/queue_file.h"

static void check_dsn(const char *head, size_t len)
{
    struct dsn_rcpt rc = { "rcpt@example.test", "5.1.1", "mx.example.test",
                           "550 5.1.1 no such user", NULL, 1 };
    struct dsn_report r;
    struct dsn_message m;
    const char *b, *p;

    memset(&r, 0, sizeof(r));
    r.action = DSN_FAILED;
    r.reporting_mta = "mx.example";
    r.qid = "FUZZ";
    r.sender = "sender@example.org";
    r.message_id = "fuzz@mx.example";
    r.rcpts = &rc;
    r.nrcpt = 1;
    r.headers = head;
    r.headers_len = len;
    r.headers_max = 4096;
    if (dsn_build(&r, &m) != 0 || m.text[m.len] != '\0')
        abort();
    /* the first boundary line after the attached headers is the closing one, at the end */
    b = strstr(m.text, "boundary=\"");
    /* before any input byte (text/rfc822-headers, or message/global-headers for UTF-8) */
    p = strstr(m.text, "Content-Description: Undelivered Message Headers\r\n");
    if (b == NULL || p == NULL)
        abort();
    {
        char dashed[256];
        const char *e = strchr(b + 10, '"'), *hit;
        size_t n;
        if (e == NULL || (n = (size_t)(e - (b + 10))) + 3 > sizeof(dashed))
            abort();
        dashed[0] = dashed[1] = '-';
        memcpy(dashed + 2, b + 10, n);
        dashed[n + 2] = '\0';
        hit = memmem(p, m.len - (size_t)(p - m.text), dashed, n + 2);
        if (hit == NULL || (size_t)(hit - m.text) + n + 6 != m.len ||
            memcmp(hit + n + 2, "--\r\n", 4) != 0)
            abort();
    }
    free(m.text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct queue_file *qf = calloc(1, sizeof(*qf));
    size_t env_len = 0, i, pending = 0;
    const char *why;

    if (qf == NULL)
        return 0;
    if (queue_file_parse_envelope(buf, size, qf, &env_len, &why) == QF_PARSE_OK) {
        uint64_t end = qf->msg_offset + qf->msg_size;
        if (env_len > size || qf->msg_offset != env_len || qf->nrcpt == 0)
            abort();
        if (end <= size) {
            queue_file_apply_records(qf, buf + end, size - (size_t)end);
            check_dsn(buf + env_len, (size_t)qf->msg_size);
        }
        for (i = 0; i < qf->nrcpt; i++) {
            if (qf->rcpts[i].state > QF_BOUNCED)
                abort();
            pending += qf->rcpts[i].state == QF_PENDING;
            if (queue_file_rcpt_held(&qf->rcpts[i]) &&
                (qf->rcpts[i].policy == NULL || qf->rcpts[i].policy->rcpt != i))
                abort();
        }
        if (pending != queue_file_pending(qf))
            abort();
    }
    queue_file_free(qf);
    return 0;
}
