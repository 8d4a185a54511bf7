/*
 * filetype.c - the file-type policy (see filetype.h). Names are normalised once (base
 * name, trailing dots and spaces gone, lower case) and split into their extensions.
 */
#include "content/filetype.h"

#include "content/magic.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define EXT_MAX 16

static bool in_list(const char *const *list, size_t n, const char *s)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (list[i] != NULL && strcasecmp(list[i], s) == 0)
            return true;
    return false;
}

static bool trailing_junk(char c)
{
    return c == '.' || c == ' ' || c == '\t';
}

/* The base name of name, lower case, without trailing dots and blanks, into out. */
static void normalise(const char *name, char *out, size_t out_size)
{
    const char *b = name, *p;
    size_t n = 0;

    for (p = name; *p != '\0'; p++)
        if (*p == '/' || *p == '\\')
            b = p + 1;
    for (p = b; *p != '\0' && n + 1 < out_size; p++)
        out[n++] = (char)tolower((unsigned char)*p);
    while (n > 0 && trailing_junk(out[n - 1]))
        n--;
    out[n] = '\0';
}

/* The extension at the end of s[0..len) (after its last dot): into ext, its start in *at.
 * False when there is none or it is not 1..EXT_MAX characters without blanks. */
static bool last_ext(const char *s, size_t len, char *ext, size_t *at)
{
    size_t i = len, k;

    while (i > 0 && s[i - 1] != '.')
        i--;
    if (i == 0 || len - i == 0 || len - i > EXT_MAX)
        return false;
    for (k = i; k < len; k++)
        if (s[k] == ' ' || s[k] == '\t')
            return false;
    memcpy(ext, s + i, len - i);
    ext[len - i] = '\0';
    *at = i - 1;
    return true;
}

enum filetype_rule filetype_name_rule(const struct filetype_policy *pol, const char *name,
                                      char *detail, size_t detail_size)
{
    char norm[FILETYPE_FILE_MAX], ext[EXT_MAX + 1], prev[EXT_MAX + 1];
    size_t len, at, at2;

    if (name == NULL || name[0] == '\0')
        return FT_PASS;
    normalise(name, norm, sizeof(norm));
    len = strlen(norm);
    if (!last_ext(norm, len, ext, &at))
        return FT_PASS;
    if (detail_size > 0)
        snprintf(detail, detail_size, "%s", ext);
    if (in_list(pol->double_ext, pol->n_double_ext, ext)) {
        /* what is before it, without the blanks and dots that pad it */
        size_t end = at;
        while (end > 0 && trailing_junk(norm[end - 1]))
            end--;
        if (end > 0 && last_ext(norm, end, prev, &at2) && at2 > 0)
            return FT_DOUBLE_EXTENSION;
    }
    if (in_list(pol->extensions, pol->n_extensions, ext))
        return FT_EXTENSION;
    return FT_PASS;
}

static enum filetype_rule verdict(struct filetype_verdict *v, enum filetype_rule r,
                                  const char *file, const char *detail)
{
    v->rule = r;
    snprintf(v->file, sizeof(v->file), "%s", file && file[0] ? file : "(no name)");
    snprintf(v->detail, sizeof(v->detail), "%s", detail ? detail : "");
    return r;
}

/* True when name's extension is one of exts. */
static bool ext_in(const char *name, const char *const *exts)
{
    char norm[FILETYPE_FILE_MAX], ext[EXT_MAX + 1];
    size_t at, n;

    if (name == NULL || exts == NULL)
        return false;
    normalise(name, norm, sizeof(norm));
    if (!last_ext(norm, strlen(norm), ext, &at))
        return false;
    for (n = 0; exts[n] != NULL; n++)
        if (strcmp(exts[n], ext) == 0)
            return true;
    return false;
}

enum filetype_rule filetype_check(const struct filetype_policy *pol,
                                  const struct filetype_file *f, struct filetype_verdict *v)
{
    const char *names[2] = { f->filename, f->name };
    char detail[EXT_MAX + 1];
    enum filetype_rule r;
    size_t i;

    memset(v, 0, sizeof(*v));
    for (i = 0; i < 2; i++)
        if ((r = filetype_name_rule(pol, names[i], detail, sizeof(detail))) != FT_PASS)
            return verdict(v, r, names[i], detail);
    if (f->type != NULL && in_list(pol->types, pol->n_types, f->type))
        return verdict(v, FT_MIME_TYPE, f->filename && f->filename[0] ? f->filename : f->name,
                       f->type);
    if (pol->magic && f->head_len > 0) {
        enum magic_type t = magic_detect(f->head, f->head_len);
        if (magic_is_executable(t)) {
            const char *const *exts = magic_extensions(t);
            bool named = (f->filename && f->filename[0]) || (f->name && f->name[0]);
            /* both names must say so: a harmless one on either side is the disguise */
            bool ok = named && (!(f->filename && f->filename[0]) || ext_in(f->filename, exts)) &&
                      (!(f->name && f->name[0]) || ext_in(f->name, exts));
            if (!ok)
                return verdict(v, FT_MAGIC, f->filename && f->filename[0] ? f->filename : f->name,
                               magic_name(t));
        }
    }
    if (pol->archives)
        for (i = 0; i < f->n_members; i++)
            if ((r = filetype_name_rule(pol, f->members[i], detail, sizeof(detail))) != FT_PASS)
                return verdict(v, FT_ARCHIVE_MEMBER, f->members[i], detail);
    v->rule = FT_PASS;
    return FT_PASS;
}

const char *filetype_rule_name(enum filetype_rule r)
{
    switch (r) {
    case FT_EXTENSION:
        return "extension";
    case FT_DOUBLE_EXTENSION:
        return "double extension";
    case FT_MIME_TYPE:
        return "mime type";
    case FT_MAGIC:
        return "content";
    case FT_ARCHIVE_MEMBER:
        return "archive member";
    case FT_PASS:
        break;
    }
    return "pass";
}

const struct filetype_policy *filetype_default_policy(void)
{
    static const char *const ext[] = {
        "ade", "adp", "app", "bas", "bat", "chm", "cmd", "com", "cpl", "crt", "exe", "fxp",
        "hlp", "hta", "inf", "ins", "isp", "js", "jse", "lnk", "mda", "mdb", "mde", "mdw",
        "mdt", "mdz", "msc", "msi", "msp", "mst", "ops", "pcd", "pif", "prg", "reg", "scr",
        "sct", "shb", "shs", "vb", "vbe", "vbs", "wsc", "wsf", "wsh",
    };
    static const char *const dbl[] = {
        "exe", "vbs", "pif", "scr", "bat", "cmd", "com", "cpl", "dll",
    };
    static const char *const types[] = {
        "application/x-msdownload", "application/x-msdos-program", "application/hta",
        "message/partial", "message/external-body",
    };
    static const struct filetype_policy pol = {
        .extensions = ext, .n_extensions = sizeof(ext) / sizeof(ext[0]),
        .double_ext = dbl, .n_double_ext = sizeof(dbl) / sizeof(dbl[0]),
        .types = types, .n_types = sizeof(types) / sizeof(types[0]),
        .magic = true, .archives = true,
    };
    return &pol;
}
