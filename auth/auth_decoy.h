/*
 * auth_decoy.h - a believable SCRAM exchange for a user that does not exist.
 *
 * Cyrus' SCRAM server refuses an unknown user at the client's first message but a wrong
 * password only one round later, which lets anyone list the valid logins. Instead,
 * sasl_server.c answers the unknown user with the server-first-message a real user would
 * get (RFC 5802 5.1: the client's nonce plus a server nonce, a salt, the iteration count)
 * and, one round later, answers the client-final-message as Cyrus answers it for a real
 * user with a wrong password: malformed messages are refused as malformed (Cyrus' checks,
 * in Cyrus' order, with Cyrus' base64 decoder), well-formed ones fail like a wrong proof.
 * The salt is an HMAC of the login under a per-process key, so it is stable for a login
 * within a process run, as Cyrus' own salts are, and of the same length (the hash size).
 * Both functions answer only what Cyrus accepted up to its user lookup, so they take
 * whatever Cyrus takes there (an empty nonce, any bytes but ',' in it).
 * Pure functions: sasl_server.c calls them on a worker thread and on the loop thread.
 */
#ifndef POSTERN_AUTH_DECOY_H
#define POSTERN_AUTH_DECOY_H

#include <stddef.h>

#include "lib/base64.h"

/* Server nonce bytes (Cyrus sends 24, i.e. 32 base64 characters). */
#define AUTH_DECOY_NONCE_BYTES 24
/* Bytes of the per-process salt key. */
#define AUTH_DECOY_KEY_BYTES 32
/* Longest salt: the largest hash (SHA-512, EVP_MAX_MD_SIZE). */
#define AUTH_DECOY_SALT_MAX 64
/* Longest SCRAM message Cyrus reads (its MAX_CLIENTIN_LEN); longer ones are malformed. */
#define AUTH_DECOY_CLIENT_MAX 2048
/* Room that always holds the answer to a client-first-message of len bytes: its nonce
 * (shorter than the message), the server nonce and salt in base64, the iteration count,
 * the attribute names and the NUL (sizeof counts it, each BASE64_ENCODED_SIZE one more). */
#define AUTH_DECOY_SCRAM_SIZE(len) \
    ((len) + sizeof("r=,s=,i=4294967295") + BASE64_ENCODED_SIZE(AUTH_DECOY_NONCE_BYTES) + \
     BASE64_ENCODED_SIZE(AUTH_DECOY_SALT_MAX))

/* Write into out (NUL-terminated) the server-first-message for client_first under mech
 * ("SCRAM-SHA-1" or "SCRAM-SHA-256", any case), using the given server nonce bytes, salt
 * key and iteration count. Returns its length, or -1 when mech is not one of those, the
 * client message is not a client-first-message Cyrus would look a user up for, or out is
 * too small (never when out_size is AUTH_DECOY_SCRAM_SIZE(len)). */
int auth_decoy_scram(const char *mech, const unsigned char *client_first, size_t len,
                     const unsigned char *key, size_t key_len, const unsigned char *nonce,
                     size_t nonce_len, unsigned iterations, char *out, size_t out_size);

enum auth_decoy_final {
    AUTH_DECOY_MALFORMED,   /* Cyrus refuses it as malformed (SASL_BADPROT) */
    AUTH_DECOY_WRONG_PROOF, /* well formed: a wrong password for Cyrus */
};

/* Judge client_final[0..len), the answer to server_first (what auth_decoy_scram wrote for
 * client_first[0..first_len)) under mech, as Cyrus judges a real user's. */
enum auth_decoy_final auth_decoy_scram_final(const char *mech,
                                             const unsigned char *client_first,
                                             size_t first_len, const char *server_first,
                                             const unsigned char *client_final, size_t len);

#endif
