// fuzz-sources: mailauth/dkim_key.c mailauth/dkim_tags.c mailauth/dkim_sig.c lib/base64.c
/*
 * fuzz_dkim_key.c - libFuzzer target for the DKIM key-record parser (mailauth/dkim_key.c):
 * the input is a TXT record as any DNS server may answer it. Checked contracts: a parsed
 * record has a known key type and a decoded p= within DKIM_KEY_P_MAX, and a revoked one
 * has no key bytes.
 * Build: clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -I. THIS <fuzz-sources>
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mailauth/dkim_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dkim_key k;

    if (dkim_key_parse((const char *)data, size, &k) != DKIM_KEY_OK)
        return 0;
    if ((k.type != DKIM_KEY_RSA && k.type != DKIM_KEY_ED25519) || k.p_len > DKIM_KEY_P_MAX ||
        (k.revoked && k.p_len != 0) || (!k.revoked && k.p_len == 0))
        abort();
    return 0;
}
