/*
 * zip_list.h - the names of the files inside a zip archive, from its bytes as they stream
 * by (the decoded bytes of a MIME part).
 *
 * Two sources, both bounded: the local file headers, read as the data passes (each entry's
 * data is skipped by its size, or searched past when the size comes after it), and the
 * central directory, found at the end in a bounded window of the last bytes. Names from
 * both are merged (an extractor may show either). A zip inside the zip, stored or deflated
 * (zlib, output capped), is listed too, one level deep: its names come as
 * "inner.zip/name". Encrypted entries set a flag. Used by policy/checks/check_filetype.c
 * and `posternctl mime`.
 */
#ifndef POSTERN_CONTENT_ZIP_LIST_H
#define POSTERN_CONTENT_ZIP_LIST_H

#include <stdbool.h>
#include <stddef.h>

#define ZIP_LIST_NAMES_MAX 256      /* names kept */
#define ZIP_LIST_NAME_MAX  256      /* bytes of one name (cut beyond) */

#define ZIP_F_ENCRYPTED   0x1u      /* an entry is encrypted */
#define ZIP_F_TRUNCATED   0x2u      /* more names than kept, or a cut name */
#define ZIP_F_NESTED      0x4u      /* a nested zip was listed */
#define ZIP_F_NESTED_SKIP 0x8u      /* a nested zip could not be listed (method, size,
                                       or deeper than one level) */
#define ZIP_F_BROKEN      0x10u     /* headers that do not parse */

struct zip_list;

/* A lister; free with zip_list_free. */
struct zip_list *zip_list_new(void);
void zip_list_free(struct zip_list *z);
void zip_list_feed(struct zip_list *z, const unsigned char *data, size_t len);
/* The archive is over: reads the central directory. Idempotent. */
void zip_list_end(struct zip_list *z);

size_t zip_list_count(const struct zip_list *z);
const char *zip_list_name(const struct zip_list *z, size_t i);   /* borrowed */
/* The names as an array of n borrowed strings (valid until zip_list_free). */
const char *const *zip_list_names(const struct zip_list *z);
unsigned zip_list_flags(const struct zip_list *z);

#endif
