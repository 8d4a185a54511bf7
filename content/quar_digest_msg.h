/*
 * quar_digest_msg.h - the text of a quarantine digest mail: a multipart/alternative message
 * (plain text and HTML) listing each entry's sender, subject, date, score and reason, with a
 * release link and a "not spam: release and learn" link (<ui_url>q/TOKEN, tokens from
 * quar_token.h). Virus entries get no links (an admin releases them with posternctl).
 * Pure: entries in, message bytes out (CRLF line ends, 7-bit: other bytes become '?',
 * everything shown in the HTML part is escaped).
 * Called by relay/quar/quar_digest.c, which queues it as ordinary mail.
 */
#ifndef POSTERN_QUAR_DIGEST_MSG_H
#define POSTERN_QUAR_DIGEST_MSG_H

#include <stddef.h>

#include "content/quar.h"

struct quar_digest_params {
    const char *from;             /* From: address */
    const char *to;               /* the recipient (or the domain's report address) */
    const char *hostname;         /* for Message-ID */
    const char *ui_url;           /* the web page's URL, ending in '/' (web.base_url):
                                     links are UI_URLq/TOKEN */
    const void *key;              /* token key, or NULL: no links */
    size_t keylen;
    const char *token_rcpt;       /* whom the tokens are for: the recipient, or "@domain" */
    long long now, expires;       /* Date: and the links' expiry */
    const char *unique;           /* a unique word for Message-ID and the MIME boundary */
};

/* The whole message, malloc'd, NUL-terminated; *len its length. */
char *quar_digest_format(const struct quar_digest_params *p, const struct quar_entry *e,
                         size_t n, size_t *len);

#endif
