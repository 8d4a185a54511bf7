/*
 * quar_token.h - the signed tokens of the quarantine digest's links (<web base>/ui/q/TOKEN).
 *
 * A token names one quarantine entry, the recipient it was made for, what the link does
 * (release, or release and learn as ham) and when it expires, and carries an HMAC-SHA256 of
 * all of that under the key of quarantine.token_key. So a link needs no login, a user's token
 * cannot name another entry or another recipient, and a token past its expiry is refused.
 * Format (URL-safe, no padding): base64url("q1|ENTRY|RCPT|ACTION|EXPIRES") "." base64url(MAC).
 * Using a token twice is harmless: the release it asks for happens once (quar.h).
 *
 * Pure functions (OpenSSL's HMAC only): any thread. Called by the digest (relay/quar/) and
 * by the web page's /ui/q/TOKEN handler.
 */
#ifndef POSTERN_QUAR_TOKEN_H
#define POSTERN_QUAR_TOKEN_H

#include <stddef.h>

#define QUAR_TOKEN_MAX 1024          /* longest token accepted (and made) */
#define QUAR_TOKEN_KEY_MIN 16        /* shortest key accepted (bytes) */

enum quar_action {
    QUAR_ACT_RELEASE,                /* "release": deliver to the recipient */
    QUAR_ACT_RELEASE_LEARN,          /* "learn": deliver and train the classifier as ham */
};

/* "release" / "learn". */
const char *quar_action_name(enum quar_action a);

enum quar_token_status {
    QUAR_TOKEN_OK,
    QUAR_TOKEN_BAD,                  /* malformed, or the MAC does not match (forged) */
    QUAR_TOKEN_EXPIRED,              /* well signed, but past its expiry */
};

/* What a valid token says (strings point into the struct). */
struct quar_token {
    char entry[64];
    char rcpt[320];
    enum quar_action action;
    long long expires;               /* unix seconds */
};

/* Make a token; NULL when an argument cannot be encoded (entry or rcpt too long or holding
 * '|'), or keylen < QUAR_TOKEN_KEY_MIN. The caller frees it. */
char *quar_token_make(const void *key, size_t keylen, const char *entry, const char *rcpt,
                      enum quar_action action, long long expires);

/* Check token against key at time now; on QUAR_TOKEN_OK (and QUAR_TOKEN_EXPIRED) *out is
 * filled. The MAC is compared in constant time. */
enum quar_token_status quar_token_verify(const void *key, size_t keylen, const char *token,
                                         long long now, struct quar_token *out);

#endif
