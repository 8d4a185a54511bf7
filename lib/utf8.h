/*
 * utf8.h - is this a well-formed UTF-8 sequence (RFC 3629)? The one validator of the tree:
 * the SMTP parser checks SMTPUTF8 addresses and parameters with it, the webhooks layer
 * makes event strings valid with it (webhooks/event_pack.c). Pure; any thread.
 */
#ifndef POSTERN_UTF8_H
#define POSTERN_UTF8_H

#include <stddef.h>

/* Length of the well-formed UTF-8 sequence at p (1 for ASCII), or 0 when it is malformed:
 * a bad lead or continuation byte, an overlong form, a UTF-16 surrogate, a code point
 * above U+10FFFF, or a sequence cut by avail (the bytes available at p; 0 gives 0). */
size_t utf8_seq_len(const unsigned char *p, size_t avail);

#endif
