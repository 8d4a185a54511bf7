/*
 * utf8.h - UTF-8 checks (RFC 3629) for internationalized mail (RFC 6530-6533) and for
 * every other place that needs valid UTF-8: the one validator of the tree.
 *
 * Pure functions over bytes, no allocation; any thread. The SMTP parser checks SMTPUTF8
 * addresses and parameters with it; the webhooks layer makes event strings valid with it
 * (webhooks/event_pack.c); whether a message needs SMTPUTF8 (RFC 6531 3.2: an address or
 * a header field with non-ASCII text) is decided with it by the outbound client
 * (relay/deliver/smtp_client_tx.c), and whether a delivery status notification is an
 * internationalized one (RFC 6533) by lib/dsn.c.
 */
#ifndef POSTERN_UTF8_H
#define POSTERN_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* No byte of s[0..n) is above 0x7f. */
bool utf8_is_ascii(const char *s, size_t n);

/* s[0..n) is well-formed UTF-8 (RFC 3629: shortest forms only, no surrogates, nothing
 * above U+10FFFF). ASCII is well-formed UTF-8. */
bool utf8_is_valid(const char *s, size_t n);

/* Length of the well-formed UTF-8 sequence at p (1 for ASCII), or 0 when it is malformed:
 * a bad lead or continuation byte, an overlong form, a UTF-16 surrogate, a code point
 * above U+10FFFF, or a sequence cut by avail (the bytes available at p; 0 gives 0). */
size_t utf8_seq_len(const unsigned char *p, size_t avail);

/*
 * A resumable scan of a message's header section for non-ASCII bytes. Zero the struct,
 * then feed the message from its first byte in pieces of any size; each call returns how
 * many bytes of the piece it used (all of them unless it finished in this piece). It
 * finishes (done) at the first non-ASCII header byte (non_ascii set) or at the empty line
 * that ends the header section (CRLF CRLF; a bare LF line end counts too); a message
 * without an empty line is all header. Nothing after the header section is looked at.
 */
struct utf8_header_scan {
    bool done;
    bool non_ascii;
    unsigned char state;          /* private: where in a line the scan is */
};

size_t utf8_header_scan(struct utf8_header_scan *st, const char *p, size_t n);

#endif
