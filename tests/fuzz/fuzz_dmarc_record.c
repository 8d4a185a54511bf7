// fuzz-sources: mailauth/dmarc_record.c mailauth/dkim_tags.c
/*
 * fuzz_dmarc_record.c - libFuzzer target for the DMARC record parser
 * (mailauth/dmarc_record.c over the tag-list parser of mailauth/dkim_tags.c). The input
 * is one TXT record as DNS delivers it (any bytes, NUL included). The result must be
 * self-consistent whatever the input.
 */
#include "mailauth/dmarc_record.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dmarc_record r;
    const char *why = NULL;
    enum dmarc_record_status st = dmarc_record_parse((const char *)data, size, &r, &why);

    if (st == DMARC_REC_OK) {
        if (r.pct > 100 || r.p > DMARC_POLICY_REJECT || r.sp > DMARC_POLICY_REJECT)
            abort();
        if (!r.has_sp && r.sp != r.p)
            abort();
        if (r.p_implied && (!r.has_rua || r.p != DMARC_POLICY_NONE))
            abort();
    } else if (why == NULL) {
        abort();
    }
    (void)dmarc_uri_list_valid((const char *)data, size);
    return 0;
}
