// fuzz-sources: content/quar_token.c lib/base64.c lib/xalloc.c lib/log.c -lcrypto
/*
 * fuzz_quar_token.c - libFuzzer target for the digest links' token verifier
 * (content/quar_token.c): the input is the TOKEN part of /ui/q/TOKEN (any bytes, as a web
 * client sends them). Nothing may crash; a token that verifies must say the same thing
 * when made again with the same key (no second encoding of one payload is accepted).
 */
#include "content/quar_token.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char key[] = "fuzz-key-0123456789abcdef";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *tok = malloc(size + 1);
    struct quar_token t;
    enum quar_token_status st;

    memcpy(tok, data, size);
    tok[size] = '\0';
    st = quar_token_verify(key, sizeof(key) - 1, tok, 0, &t);
    if (st == QUAR_TOKEN_OK) {
        char *again = quar_token_make(key, sizeof(key) - 1, t.entry, t.rcpt, t.action,
                                      t.expires);
        if (again == NULL || strcmp(again, tok) != 0)
            abort();
        free(again);
    }
    free(tok);
    return 0;
}
