/*
 * spam_bulk.h - fuzzy fingerprints of a message body for bulk detection: the same text
 * sent to many recipients gives the same fingerprints even when each copy is personalised.
 *
 * Normalisation: the decoded text parts (HTML reduced to its text), lower case; words with
 * digits dropped (order numbers, amounts, dates, tracking ids), e-mail addresses dropped,
 * URLs reduced to their host (tracking paths and per-recipient query strings go), the
 * words right after a greeting (dear, hi, hello, ...) and the recipient's own name and
 * local part dropped. The normalised words give 4-word shingles; the SPAM_BULK_K smallest
 * shingle hashes (bottom-k MinHash) are cut into SPAM_BULK_FPS bands, each band one
 * fingerprint, so a copy that differs in a few places still shares most of them.
 * Pure: bytes in, numbers out.
 */
#ifndef POSTERN_CONTENT_SPAM_BULK_H
#define POSTERN_CONTENT_SPAM_BULK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPAM_BULK_K         8
#define SPAM_BULK_FPS       4      /* bands of SPAM_BULK_K / SPAM_BULK_FPS hashes */
#define SPAM_BULK_MIN_WORDS 12     /* shorter bodies get no fingerprint */

struct spam_bulk_info {
    uint64_t fp[SPAM_BULK_FPS];
    size_t nfp;                    /* 0: body too short to say */
    bool list_unsubscribe;         /* has a List-Unsubscribe header field */
    char from_domain[128];         /* the header From's domain, lower case ("" if none) */
};

/* Fingerprints of msg for a message to rcpt (may be NULL: its name is then not removed). */
void spam_bulk_analyze(const char *msg, size_t len, const char *rcpt,
                       struct spam_bulk_info *out);

#endif
