// fuzz-sources: policy/bounce_refs.c policy/rcpt_list.c policy/greylist_key.c lib/xalloc.c lib/log.c
/*
 * fuzz_policy_text.c - libFuzzer target for the small parsers of text a client controls
 * that policy checks read: what a bounce quotes (policy/bounce_refs.c), a recipients file
 * (policy/rcpt_list.c, the admin's but often generated), and the greylisting sender
 * normalization (policy/greylist_key.c). The first byte picks nothing: every parser sees
 * every input.
 */
#include "policy/bounce_refs.h"
#include "policy/greylist_key.h"
#include "policy/rcpt_list.h"

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
    (void)greylist_network(s, 24, 64, out, sizeof(out));
    free(s);
    return 0;
}
