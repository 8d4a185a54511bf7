/*
 * auth_decoy.h - a believable SCRAM challenge for a user that does not exist.
 *
 * Cyrus' SCRAM server refuses an unknown user at the client's first message but a wrong
 * password only one round later, which lets anyone list the valid logins. Instead,
 * sasl_server.c answers the unknown user with the server-first-message a real user would
 * get (RFC 5802 5.1: the client's nonce plus a server nonce, a salt, the iteration count)
 * and fails the exchange one round later, like a wrong password. The salt is an HMAC of
 * the login under a per-process key, so it is stable for a login within a process run,
 * as Cyrus' own salts are, and of the same length (the hash size).
 * Pure function: sasl_server.c calls it on a worker thread.
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
/* Room that always holds the answer to a client-first-message of len bytes: its nonce
 * (shorter than the message), the server nonce and salt in base64, the iteration count,
 * the attribute names and the NUL (sizeof counts it, each BASE64_ENCODED_SIZE one more). */
#define AUTH_DECOY_SCRAM_SIZE(len) \
    ((len) + sizeof("r=,s=,i=4294967295") + BASE64_ENCODED_SIZE(AUTH_DECOY_NONCE_BYTES) + \
     BASE64_ENCODED_SIZE(AUTH_DECOY_SALT_MAX))

/* Write into out (NUL-terminated) the server-first-message for client_first under mech
 * ("SCRAM-SHA-1" or "SCRAM-SHA-256", any case), using the given server nonce bytes, salt
 * key and iteration count. Returns its length, or -1 when mech is not one of those, the
 * client message is not a client-first-message, or out is too small (never when out_size
 * is AUTH_DECOY_SCRAM_SIZE(len): any client nonce gets an answer, as from Cyrus). */
int auth_decoy_scram(const char *mech, const unsigned char *client_first, size_t len,
                     const unsigned char *key, size_t key_len, const unsigned char *nonce,
                     size_t nonce_len, unsigned iterations, char *out, size_t out_size);

#endif
