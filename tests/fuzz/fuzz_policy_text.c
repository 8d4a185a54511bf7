// fuzz-sources: policy/bounce_refs.c policy/rcpt_list.c policy/greylist_key.c policy/report_parse.c policy/verp.c lib/redis_key.c lib/xalloc.c lib/log.c -lcrypto
/*
 * fuzz_policy_text.c - libFuzzer target for the small parsers of text a client controls
 * that policy checks read: what a bounce quotes (policy/bounce_refs.c), a recipients file
 * (policy/rcpt_list.c, the admin's but often generated), and the greylisting sender
 * normalization (policy/greylist_key.c), bounce reports (policy/report_parse.c) and
 * bounce-address tokens (policy/verp.c). Every parser sees every input.
 */
#include "policy/bounce_refs.h"
#include "policy/greylist_key.h"
#include "policy/rcpt_list.h"
#include "policy/report_parse.h"
#include "policy/verp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char ids[BOUNCE_IDS_MAX][BOUNCE_ID_MAX + 1], own[BOUNCE_ID_MAX + 1], out[320];
    char *s = malloc(size + 1);
    struct rcpt_list *l;

    memcpy(s, data, size);
    s[size] = '\0';
    (void)bounce_header_is_auto(s, size);
    (void)bounce_quoted_ids(s, size, ids, BOUNCE_IDS_MAX);
    (void)bounce_own_id(s, size, own);
    l = rcpt_list_parse(s, size, NULL);
    (void)rcpt_list_has(l, s);
    (void)rcpt_list_has(l, "alice+x@example.test");
    rcpt_list_free(l);
    greylist_sender(s, out, sizeof(out));
    {
        struct report r;
        char tok[VERP_TOKEN_LEN + 1];
        report_parse(s, size, &r);
        (void)verp_token_check("fuzz-key-0123456789", s, tok);
    }
    (void)greylist_network(s, 24, 64, out, sizeof(out));
    free(s);
    return 0;
}
