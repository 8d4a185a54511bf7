/*
 * verp.h - signed per-recipient bounce addresses for newsletter senders, pure.
 *
 * A newsletter message leaves with the envelope sender bounces+TOKEN@BOUNCE_DOMAIN, one
 * token per (message, recipient). TOKEN is 26 base32 characters: a random 10-byte id
 * and the first 6 bytes of HMAC-SHA256(key, id), so a bounce to an address Postern never
 * made is recognised without a lookup and refused (backscatter). What the id stands for
 * (login, recipient, queue ID) is kept in Redis by the newsletter check.
 */
#ifndef POSTERN_POLICY_VERP_H
#define POSTERN_POLICY_VERP_H

#include <stdbool.h>
#include <stddef.h>

#define VERP_TOKEN_LEN 26        /* base32 of 16 bytes, no padding */
#define VERP_PREFIX    "bounces+"

/* A new token into out (VERP_TOKEN_LEN + 1 bytes), from 10 random bytes. */
void verp_token_new(const char *key, char out[VERP_TOKEN_LEN + 1]);

/* Is local (the local part of a bounce address) "bounces+TOKEN" with a token signed by
 * key? On success the token goes into out. Case-insensitive (some MTAs lower-case). */
bool verp_token_check(const char *key, const char *local, char out[VERP_TOKEN_LEN + 1]);

#endif
