// fuzz-sources: policy/result_record.c policy/result.c lib/xalloc.c
/*
 * fuzz_result_record.c - libFuzzer target for the parser of the policy records stored in
 * queue files (policy/result_record.c).
 *
 * The input is one line as the queue runner would read it after a crash (cut, garbled or
 * forged by anyone who could write the spool). Checked contracts: the parser never reads
 * outside the given length; a line it accepts has a valid disposition, sorted unique
 * valid symbol names, bounded counts, and texts without CR, LF or NUL; and formatting an
 * accepted result and parsing that again gives the same result (the round trip the
 * delivery side relies on after a restart).
 * Build: clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -I. THIS
 *        policy/result_record.c policy/result.c lib/xalloc.c
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/result_record.h"

static void check_text(const char *s)
{
    if (s != NULL && (strchr(s, '\r') || strchr(s, '\n') || strlen(s) > RESULT_TEXT_MAX))
        abort();
}

static void check_same(const struct rcpt_result *a, const struct rcpt_result *b)
{
    size_t i;

    if (a->rcpt != b->rcpt || a->disp != b->disp || a->headers != b->headers ||
        a->spam_flag != b->spam_flag || a->nsyms != b->nsyms || a->nadd != b->nadd ||
        strcmp(a->level, b->level) != 0 || (a->subject_prefix == NULL) != (b->subject_prefix == NULL) ||
        (a->reason == NULL) != (b->reason == NULL))
        abort();
    if (a->subject_prefix && strcmp(a->subject_prefix, b->subject_prefix) != 0)
        abort();
    if (a->reason && strcmp(a->reason, b->reason) != 0)
        abort();
    for (i = 0; i < a->nsyms; i++)
        if (strcmp(a->syms[i].name, b->syms[i].name) != 0)
            abort();
    for (i = 0; i < a->nadd; i++)
        if (strcmp(a->add_headers[i], b->add_headers[i]) != 0)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so ASan sees any read past the end */
    char *line = malloc(size ? size : 1);
    struct rcpt_result r, again;
    char *rec;
    size_t i;

    memcpy(line, data, size);
    if (result_record_parse(line, size, &r) == 0) {
        if (r.disp <= DISP_NONE || r.disp >= DISP_DEFER || r.nsyms > RESULT_SYMBOLS_MAX ||
            r.nadd > RESULT_HEADERS_MAX || r.level == NULL)
            abort();
        for (i = 0; i < r.nsyms; i++)
            if (!symbol_name_valid(r.syms[i].name) ||
                (i > 0 && strcmp(r.syms[i - 1].name, r.syms[i].name) >= 0))
                abort();
        check_text(r.subject_prefix);
        check_text(r.reason);
        for (i = 0; i < r.nadd; i++)
            check_text(r.add_headers[i]);
        rec = result_record_format(&r);
        if (result_record_parse(rec, strlen(rec) - 1, &again) != 0)
            abort();
        check_same(&r, &again);
        rcpt_result_clear(&again);
        free(rec);
        rcpt_result_clear(&r);
    }
    free(line);
    return 0;
}
