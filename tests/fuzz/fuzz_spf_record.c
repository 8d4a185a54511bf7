// fuzz-sources: mailauth/spf_record.c mailauth/spf_macro.c mailauth/spf_ip.c lib/xalloc.c
/*
 * fuzz_spf_record.c - libFuzzer target for the SPF record parser and the macro expander
 * (mailauth/spf_record.c, mailauth/spf_macro.c). The input is one TXT record as DNS
 * delivers it (any bytes). Every parsed domain-spec is expanded, and the input is also
 * checked and expanded as explanation text, the two places where record text meets
 * macro code.
 */
#include "mailauth/spf_macro.h"
#include "mailauth/spf_record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_TEXT_MAX 4096

static const char *const validated[] = { "mx.example.com", "mail.example.org" };

static const struct spf_macro_vars vars = {
    .sender = "strong-bad@email.example.com", .local = "strong-bad",
    .sender_domain = "email.example.com", .domain = "email.example.com",
    .ip_dotted = "192.0.2.3", .ip_text = "192.0.2.3", .ip_version = "in-addr",
    .helo = "mx.example.org", .receiver = "mx.example.net", .timestamp = 1234567890,
    .validated = validated, .n_validated = 2,
};

static void expand(const char *s, enum spf_macro_ctx ctx)
{
    free(spf_macro_expand(s, ctx, &vars));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct spf_record *rec;
    char err[SPF_ERROR_MAX], text[FUZZ_TEXT_MAX + 1];
    const char *why;

    if (spf_record_parse((const char *)data, size, &rec, err) == SPF_PARSE_OK) {
        for (size_t i = 0; i < rec->n; i++)
            if (rec->terms[i].domain)
                expand(rec->terms[i].domain, SPF_MACRO_DOMAIN);
        if (rec->redirect)
            expand(rec->redirect, SPF_MACRO_DOMAIN);
        if (rec->exp)
            expand(rec->exp, SPF_MACRO_DOMAIN);
        spf_record_free(rec);
    }
    if (size <= FUZZ_TEXT_MAX && memchr(data, '\0', size) == NULL) {
        memcpy(text, data, size);
        text[size] = '\0';
        if (spf_macro_check(text, size, SPF_MACRO_EXPLAIN, NULL, &why) == 0)
            expand(text, SPF_MACRO_EXPLAIN);
    }
    return 0;
}
