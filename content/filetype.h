/*
 * filetype.h - the file-type policy as a pure function: is this attached file blocked, by
 * which rule, and which file name is to blame.
 *
 * Rules, in the order they are tried: a blocked extension (of the Content-Disposition
 * filename or the Content-Type name), a double extension whose last one is dangerous
 * ("invoice.pdf.exe", also "invoice.pdf   .exe" or "invoice.pdf....exe"), a blocked
 * declared MIME type, executable content (magic numbers) under a name that does not say
 * so, and the names inside a zip archive (extension and double extension rules). Names
 * are compared without case, after dropping a path and the trailing dots and spaces that
 * Windows drops too. Used by policy/checks/check_filetype.c and `posternctl mime`.
 */
#ifndef POSTERN_CONTENT_FILETYPE_H
#define POSTERN_CONTENT_FILETYPE_H

#include <stdbool.h>
#include <stddef.h>

/* The defaults of issue 12 (the list of the mail proxy product Postern follows). */
#define FILETYPE_DEFAULT_EXTENSIONS \
    "ade adp app bas bat chm cmd com cpl crt exe fxp hlp hta inf ins isp js jse lnk mda " \
    "mdb mde mdw mdt mdz msc msi msp mst ops pcd pif prg reg scr sct shb shs vb vbe vbs " \
    "wsc wsf wsh"
#define FILETYPE_DEFAULT_DOUBLE "exe vbs pif scr bat cmd com cpl dll"
#define FILETYPE_DEFAULT_TYPES \
    "application/x-msdownload application/x-msdos-program application/hta " \
    "message/partial message/external-body"

/* Lists are borrowed (lower case or not: compared without case). */
struct filetype_policy {
    const char *const *extensions;   /* blocked extensions, without the dot */
    size_t n_extensions;
    const char *const *double_ext;   /* last extensions that make a double extension bad */
    size_t n_double_ext;
    const char *const *types;        /* blocked declared MIME types */
    size_t n_types;
    bool magic;                      /* check executable content against the name */
    bool archives;                   /* check the names inside zip archives */
};

/* What is known of one part. Any field may be NULL / 0. */
struct filetype_file {
    const char *filename;            /* Content-Disposition filename (UTF-8) */
    const char *name;                /* Content-Type name */
    const char *type;                /* declared type, lower case */
    const unsigned char *head;       /* first decoded bytes */
    size_t head_len;
    const char *const *members;      /* names inside it when it is an archive */
    size_t n_members;
};

enum filetype_rule {
    FT_PASS,
    FT_EXTENSION,
    FT_DOUBLE_EXTENSION,
    FT_MIME_TYPE,
    FT_MAGIC,                        /* executable content under another name */
    FT_ARCHIVE_MEMBER,               /* a blocked name inside an archive */
};

#define FILETYPE_FILE_MAX 256

struct filetype_verdict {
    enum filetype_rule rule;
    char file[FILETYPE_FILE_MAX];    /* the offending name (the member's for archives);
                                        "(no name)" for an unnamed part */
    char detail[64];                 /* the extension, type, or detected content type */
};

/* The first rule that blocks the file, with *v filled (v->rule == FT_PASS: none). */
enum filetype_rule filetype_check(const struct filetype_policy *pol,
                                  const struct filetype_file *f, struct filetype_verdict *v);

/* The rule for one file name alone (extension, double extension), detail gets the
 * extension (detail_size may be 0). */
enum filetype_rule filetype_name_rule(const struct filetype_policy *pol, const char *name,
                                      char *detail, size_t detail_size);

/* "extension", "double extension", "mime type", "content", "archive member", "pass". */
const char *filetype_rule_name(enum filetype_rule r);

/* A policy with the default lists (static storage; magic and archives on). */
const struct filetype_policy *filetype_default_policy(void);

#endif
