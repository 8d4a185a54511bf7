/*
 * header_edit.h - edits of a message's header section, as pure functions over bytes.
 *
 * Used by the delivery side (relay/queue/queue_policy.c) to apply a recipient's policy
 * result to its copy of a message: add the X-Spam-* fields (formatted by
 * policy/spam_report.c) after removing the X-Spam-* fields that came from outside, prefix
 * the Subject, add the fields checks asked for; and later to drop forged
 * Authentication-Results fields.
 *
 * A struct hdr_edit holds the header fields only: every field with its continuation
 * lines, each line ending in CRLF (a bare LF is kept as it was), without the empty line
 * that ends the section. hdr_split() finds where that section ends in a message. Nothing
 * here does I/O or keeps globals; safe on any thread. Memory: the struct owns p.
 */
#ifndef POSTERN_HEADER_EDIT_H
#define POSTERN_HEADER_EDIT_H

#include <stdbool.h>
#include <stddef.h>

struct hdr_edit {
    char *p;
    size_t len, cap;
};

/*
 * Split msg[0..len): the header fields are msg[0..*fields_len), the body starts at
 * *body_off (after the empty line; the empty line itself is msg[*fields_len..*body_off)).
 * A message without an empty line is all header (*fields_len = *body_off = len, with a
 * last line that may lack its line end). A message that starts with the empty line has
 * no fields.
 */
void hdr_split(const char *msg, size_t len, size_t *fields_len, size_t *body_off);

/* Take a copy of fields[0..len) (a last line without its end gets CRLF). */
void hdr_init(struct hdr_edit *h, const char *fields, size_t len);
void hdr_free(struct hdr_edit *h);

/* Add fields (one or more complete fields, "Name: value\r\n"; a missing final CRLF is
 * added) before the first field / after the last. */
void hdr_prepend(struct hdr_edit *h, const char *fields);
void hdr_append(struct hdr_edit *h, const char *fields);

/* Add fields after the first field when that one is called name (case-insensitive; with
 * its continuation lines), else before the first field: how a relay adds its fields below
 * its own Received: line. */
void hdr_insert_after_first(struct hdr_edit *h, const char *name, const char *fields);

/* Called with each field's name (name[0..nlen), not NUL-terminated) and the whole field
 * with its continuation lines and line ends; true removes it. */
typedef bool (*hdr_pred_fn)(const char *name, size_t nlen, const char *field, size_t flen,
                            void *arg);

/* Remove every field the predicate selects; returns how many went. Lines that are not a
 * field (no colon, or a continuation line before the first field) are kept as they are. */
size_t hdr_remove_if(struct hdr_edit *h, hdr_pred_fn pred, void *arg);

/* Remove every field called name (case-insensitive); returns the count. */
size_t hdr_remove_name(struct hdr_edit *h, const char *name);

/* Remove every field whose name starts with prefix (case-insensitive), such as
 * "X-Spam-"; returns the count. */
size_t hdr_remove_prefix(struct hdr_edit *h, const char *prefix);

/*
 * Put prefix (printable ASCII, such as "+++SPAM+++ ") in front of the first Subject's
 * value. Nothing changes when the value already starts with it (leading white space and
 * trailing spaces of the prefix aside), so a message marked twice is prefixed once. A
 * message without Subject gets "Subject: PREFIX" (trailing spaces dropped) at the end.
 * Folded and RFC 2047 encoded Subjects keep their lines and encoded words: the prefix is
 * plain text followed by a space, which RFC 2047 section 5 allows before an encoded word.
 * Returns true when the header changed.
 */
bool hdr_subject_prefix(struct hdr_edit *h, const char *prefix);

#endif
