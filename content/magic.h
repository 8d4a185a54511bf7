/*
 * magic.h - the real type of a file from its first bytes (magic numbers).
 *
 * Pure: give it the first decoded bytes of a part (mime_part.head, MIME_HEAD_MAX bytes is
 * plenty). Used by content/filetype.c (executable content under a harmless name, archives
 * to list) and by `posternctl mime`.
 */
#ifndef POSTERN_CONTENT_MAGIC_H
#define POSTERN_CONTENT_MAGIC_H

#include <stdbool.h>
#include <stddef.h>

enum magic_type {
    MAGIC_UNKNOWN,
    MAGIC_PE,        /* MZ (DOS/Windows executable, DLL, SCR, CPL...) */
    MAGIC_ELF,
    MAGIC_MACHO,     /* thin or fat Mach-O */
    MAGIC_OLE,       /* OLE compound file: MSI, old Office documents */
    MAGIC_ZIP,       /* also docx/xlsx/jar/apk: a zip */
    MAGIC_RAR,
    MAGIC_7Z,
    MAGIC_GZIP,
    MAGIC_BZIP2,
    MAGIC_XZ,
    MAGIC_CAB,
    MAGIC_PDF,
    MAGIC_PNG,
    MAGIC_JPEG,
    MAGIC_GIF,
    MAGIC_RTF,
    MAGIC_SCRIPT,    /* #! */
    MAGIC_HTA,       /* HTML with an <HTA:APPLICATION> element */
    MAGIC_HTML,
    MAGIC_LNK,       /* Windows shortcut */
    MAGIC_COUNT
};

/* The type of a file starting with b[0..n). */
enum magic_type magic_detect(const unsigned char *b, size_t n);

/* "pe", "elf", "zip", ... ("unknown"). */
const char *magic_name(enum magic_type t);

/* Native executable code (PE, ELF, Mach-O): content a harmless file name must not hide. */
bool magic_is_executable(enum magic_type t);

/* The file name extensions under which content of type t is expected (NULL-terminated
 * list, lower case, without the dot); NULL when any name is fine. */
const char *const *magic_extensions(enum magic_type t);

#endif
