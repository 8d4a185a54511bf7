/*
 * dkim_tags.h - the tag=value list of DKIM (RFC 6376 section 3.2), used by the
 * DKIM-Signature field (dkim_sig.c) and by key records in DNS (dkim_key.c).
 *
 *   tag-list  = tag-spec *( ";" tag-spec ) [ ";" ]
 *   tag-spec  = [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]
 *   tag-name  = ALPHA *( ALPHA / DIGIT / "_" )
 *   tag-value = VALCHARs (%x21-3A / %x3C-7E) separated by whitespace
 *
 * Pure: no allocation, no I/O; the tags point into the caller's text. Whitespace is SP,
 * HTAB, CR and LF (folding in a header field, none in a TXT record). Bytes of 0x80 and
 * above are accepted in values (internationalized i= of RFC 8616); other control
 * characters are refused. Empty tag-specs (";;", a trailing ";") are accepted. Tag names
 * are case-sensitive; a name given twice makes the whole list invalid (RFC 6376 3.2).
 */
#ifndef POSTERN_DKIM_TAGS_H
#define POSTERN_DKIM_TAGS_H

#include <stdbool.h>
#include <stddef.h>

#define DKIM_TAGS_MAX 32          /* more tags than this: DKIM_TAGS_TOO_MANY */
#define DKIM_TAG_NAME_MAX 32      /* longer tag names: DKIM_TAGS_SYNTAX */

enum dkim_tags_status {
    DKIM_TAGS_OK,
    DKIM_TAGS_SYNTAX,       /* not a tag-list: a bad name, no "=", a control character */
    DKIM_TAGS_DUPLICATE,    /* the same tag twice */
    DKIM_TAGS_TOO_MANY,     /* more than DKIM_TAGS_MAX tags */
};

struct dkim_tag {
    const char *name;       /* into the parsed text, not NUL-terminated */
    size_t name_len;
    const char *value;      /* the value without the whitespace around it (may hold
                               folding whitespace inside: "b", "bh", "h", "p") */
    size_t value_len;
    size_t raw_start;       /* offset of the first byte after "=" */
    size_t raw_end;         /* offset of the ";" that ends the tag-spec, or the length */
};

struct dkim_tags {
    struct dkim_tag tag[DKIM_TAGS_MAX];
    size_t n;
};

/* Parse text[0..len). On an error, out->n holds the tags read before it. */
enum dkim_tags_status dkim_tags_parse(const char *text, size_t len, struct dkim_tags *out);

/* The tag called name (exact case), or NULL. */
const struct dkim_tag *dkim_tags_find(const struct dkim_tags *tags, const char *name);

/* 1 when value equals s exactly. */
bool dkim_tag_is(const struct dkim_tag *t, const char *s);

/* Copy the value without any whitespace into out (NUL-terminated). Returns the length,
 * or -1 when it does not fit in out_size - 1 bytes. For base64 values that may be
 * folded (b=, bh=, p=). */
long dkim_tag_compact(const struct dkim_tag *t, char *out, size_t out_size);

/* Whitespace as the tag-list grammar knows it: SP, HTAB, CR, LF. */
static inline bool dkim_is_fws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

#endif
