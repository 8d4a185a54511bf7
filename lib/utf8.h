/*
 * utf8.h - UTF-8 checks for internationalized mail (RFC 6530-6533).
 *
 * Pure functions over bytes, no allocation. Whether a message needs SMTPUTF8 (RFC 6531
 * 3.2: an address or a header field with non-ASCII text) is decided with them by the
 * outbound client (relay/smtp_client_tx.c), and whether a delivery status notification
 * is an internationalized one (RFC 6533) by lib/dsn.c.
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
