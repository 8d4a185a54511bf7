/*
 * dkim_canon.h - DKIM canonicalization (RFC 6376 section 3.4): "simple" and "relaxed",
 * for one header field and, as a streaming filter, for the body.
 *
 * The body canonicalizer is fed the body in chunks of any size as it arrives (CRLF line
 * ends, dot-unstuffed: what goes to the spool) and hands the canonical bytes to a sink,
 * holding back only what it cannot decide yet: a CR that may start a CRLF, whitespace
 * that may end a line (relaxed), and the empty lines that may end the body (a count,
 * never a buffer). At the end: simple turns trailing empty lines into one CRLF and an
 * empty body into CRLF; relaxed reduces whitespace first (erratum 1384), then drops
 * trailing empty lines, and adds a CRLF to a last line that lacks one (erratum 1377); an
 * empty relaxed body stays empty. Pure: no allocation, no I/O. Used by dkim_hash.c (body
 * hashes for verifying and signing) and by the fuzz target fuzz_dkim_canon.c.
 */
#ifndef POSTERN_DKIM_CANON_H
#define POSTERN_DKIM_CANON_H

#include "mailauth/dkim_sig.h"

#include <stdbool.h>
#include <stddef.h>

/*
 * Canonicalize one header field: raw is the whole field as it appears in the message
 * (name, ":", value with its folded lines), with or without its final CRLF. out needs
 * len + 2 bytes. Returns the length written, which includes a final CRLF.
 *   simple:  the field unchanged.
 *   relaxed: name in lower case, no whitespace around the colon, value unfolded, runs of
 *            SP/HTAB as one SP, no whitespace at either end of the value.
 */
size_t dkim_canon_header(enum dkim_canon c, const char *raw, size_t len, char *out);

/* Receives canonical body bytes, in order. */
typedef void (*dkim_canon_sink)(void *arg, const char *data, size_t len);

struct dkim_body_canon {
    enum dkim_canon canon;
    dkim_canon_sink sink;
    void *arg;
    unsigned long long crlf_pending;  /* line ends not passed on yet (maybe trailing) */
    unsigned long long length;        /* canonical bytes passed to the sink so far */
    bool cr;                          /* the last byte seen was a CR, held back */
    bool wsp;                         /* relaxed: whitespace seen, held back */
    bool content;                     /* some byte other than a line end was passed on */
    bool done;                        /* dkim_body_canon_final() was called */
};

void dkim_body_canon_init(struct dkim_body_canon *bc, enum dkim_canon canon,
                          dkim_canon_sink sink, void *arg);
/* Feed the next len bytes of the body. Ignored after dkim_body_canon_final(). */
void dkim_body_canon_update(struct dkim_body_canon *bc, const char *data, size_t len);
/* The body has ended: pass on what is held back, as the rules above say. Idempotent. */
void dkim_body_canon_final(struct dkim_body_canon *bc);

#endif
