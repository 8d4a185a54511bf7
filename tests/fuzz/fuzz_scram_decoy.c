// fuzz-sources: auth/auth_decoy.c lib/base64.c -lcrypto -lsasl2
/*
 * fuzz_scram_decoy.c - libFuzzer target for auth/auth_decoy.c, the SCRAM exchange an
 * unknown login gets (its parsers read bytes a client chose).
 *
 * Input: byte 0 picks the mechanism (bit 0: SCRAM-SHA-1 or SCRAM-SHA-256); bytes 1-2 are
 * the length (big-endian) of the client-first-message that follows; the rest is the
 * client-final-message. Checked: with AUTH_DECOY_SCRAM_SIZE room the first answer never
 * fails for lack of room, it is NUL-terminated at the length returned, it starts with
 * "r=", echoes the client nonce and ends with the iteration count, and one byte less room
 * fails cleanly; the final message is judged without crashing, with one of the two
 * verdicts, and one with the right nonce, binding and proof length is a wrong proof.
 * Run by tests/fuzz/run.sh with the seeds in tests/fuzz/corpus/scram_decoy/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth_decoy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
    do { if (!(cond)) { fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__); \
         abort(); } } while (0)

#define HEAD 3                    /* mechanism byte, 16-bit length */
#define ITERATIONS 2              /* the work does not matter here, only the text */
#define FINAL_MAX 512
#define ZERO_PROOF_256 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define ZERO_PROOF_1 "AAAAAAAAAAAAAAAAAAAAAAAAAAA="

/* A client-final-message that passes every check but the proof, for a first message that
 * starts with the GS2 header "n,," (base64 "biws"). */
static void well_formed_final(const char *mech, const char *server_first, const uint8_t *first,
                              size_t first_len)
{
    const char *s = strstr(server_first, ",s=");
    char final[FINAL_MAX];
    int n;

    if (first_len < 3 || memcmp(first, "n,,", 3) != 0 || s == NULL ||
        memchr(server_first + 2, ',', (size_t)(s - server_first - 2)) != NULL)
        return;
    n = snprintf(final, sizeof(final), "c=biws,r=%.*s,p=%s", (int)(s - server_first - 2),
                 server_first + 2, mech[10] == '1' ? ZERO_PROOF_1 : ZERO_PROOF_256);
    if (n < 0 || (size_t)n >= sizeof(final))
        return;
    CHECK(auth_decoy_scram_final(mech, first, first_len, server_first,
                                 (const unsigned char *)final, (size_t)n) ==
          AUTH_DECOY_WRONG_PROOF);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned char key[AUTH_DECOY_KEY_BYTES] = { 7 };
    static const unsigned char nonce[AUTH_DECOY_NONCE_BYTES] = { 1, 2, 3 };
    const char *mech;
    size_t first_len, room;
    const uint8_t *first, *final;
    char *out;
    int n;
    enum auth_decoy_final v;

    if (size < HEAD)
        return 0;
    mech = data[0] & 1 ? "SCRAM-SHA-256" : "SCRAM-SHA-1";
    first_len = (size_t)data[1] << 8 | data[2];
    if (first_len > size - HEAD)
        first_len = size - HEAD;
    first = data + HEAD;
    final = first + first_len;
    room = AUTH_DECOY_SCRAM_SIZE(first_len);
    out = malloc(room);
    CHECK(out != NULL);
    n = auth_decoy_scram(mech, first, first_len, key, sizeof(key), nonce, sizeof(nonce),
                         ITERATIONS, out, room);
    if (n >= 0) {
        CHECK((size_t)n < room && strlen(out) == (size_t)n);
        CHECK(strncmp(out, "r=", 2) == 0 && strstr(out, ",s=") != NULL);
        CHECK(n > 4 && strcmp(out + n - 4, ",i=2") == 0);
        CHECK(auth_decoy_scram(mech, first, first_len, key, sizeof(key), nonce, sizeof(nonce),
                               ITERATIONS, out, (size_t)n) == -1);
        n = auth_decoy_scram(mech, first, first_len, key, sizeof(key), nonce, sizeof(nonce),
                             ITERATIONS, out, room);
        v = auth_decoy_scram_final(mech, first, first_len, out, final,
                                   size - HEAD - first_len);
        CHECK(v == AUTH_DECOY_MALFORMED || v == AUTH_DECOY_WRONG_PROOF);
        well_formed_final(mech, out, first, first_len);
    }
    free(out);
    return 0;
}
