/*
 * dkim_header.h - header fields as DKIM sees them, and a small pure splitter of a whole
 * message into its header fields and body (for tools, tests and the in-memory verify and
 * sign helpers; the daemon's own header parser gives the verifier and signer the same
 * (name, raw field) list while DATA streams).
 */
#ifndef POSTERN_DKIM_HEADER_H
#define POSTERN_DKIM_HEADER_H

#include <stdbool.h>
#include <stddef.h>

/* One header field, borrowed from the caller. raw is the whole field as received: the
 * name, ":", the value with its folded lines, with or without the final CRLF. name is its
 * name (any case, no trailing whitespace); dkim_field_set() fills it from raw. */
struct dkim_field {
    const char *name;
    size_t name_len;
    const char *raw;
    size_t raw_len;
};

/* Fill f from a raw field (name: the bytes before the first ":", trailing SP/HTAB
 * dropped). Returns 0, or -1 when raw has no ":" (f is still filled, name = raw). */
int dkim_field_set(struct dkim_field *f, const char *raw, size_t len);

/* 1 when the field is called name (case-insensitive). */
bool dkim_field_is(const struct dkim_field *f, const char *name);

enum dkim_split_status {
    DKIM_SPLIT_OK,
    DKIM_SPLIT_TOO_MANY,      /* more than max fields */
    DKIM_SPLIT_MALFORMED,     /* a line that is neither a field nor a continuation */
};

/*
 * Split msg (CRLF line ends) into header fields and body: fields[0..*n) point into msg,
 * each with its final CRLF; *body is the offset of the body (after the empty line), or len
 * when there is none. A line starting with SP or HTAB continues the field before it.
 */
enum dkim_split_status dkim_header_split(const char *msg, size_t len, struct dkim_field *fields,
                                         size_t max, size_t *n, size_t *body);

#endif
