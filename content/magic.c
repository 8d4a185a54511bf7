/*
 * magic.c - file types from magic numbers (see magic.h). A table of fixed signatures at
 * fixed offsets, then the few types that need a look around (Mach-O fat headers, HTML and
 * HTA after white space or a byte order mark).
 */
#include "content/magic.h"

#include <string.h>
#include <strings.h>

struct sig {
    enum magic_type type;
    size_t off;
    const char *bytes;
    size_t len;
};

#define SIG(t, o, s) { t, o, s, sizeof(s) - 1 }

static const struct sig sigs[] = {
    SIG(MAGIC_ELF, 0, "\x7f" "ELF"),
    SIG(MAGIC_MACHO, 0, "\xfe\xed\xfa\xce"),
    SIG(MAGIC_MACHO, 0, "\xfe\xed\xfa\xcf"),
    SIG(MAGIC_MACHO, 0, "\xce\xfa\xed\xfe"),
    SIG(MAGIC_MACHO, 0, "\xcf\xfa\xed\xfe"),
    SIG(MAGIC_OLE, 0, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
    SIG(MAGIC_ZIP, 0, "PK\x03\x04"),
    SIG(MAGIC_ZIP, 0, "PK\x05\x06"),
    SIG(MAGIC_ZIP, 0, "PK\x07\x08"),
    SIG(MAGIC_RAR, 0, "Rar!\x1a\x07"),
    SIG(MAGIC_7Z, 0, "7z\xbc\xaf\x27\x1c"),
    SIG(MAGIC_GZIP, 0, "\x1f\x8b"),
    SIG(MAGIC_BZIP2, 0, "BZh"),
    SIG(MAGIC_XZ, 0, "\xfd" "7zXZ\x00"),
    SIG(MAGIC_CAB, 0, "MSCF\x00\x00\x00\x00"),
    SIG(MAGIC_PDF, 0, "%PDF-"),
    SIG(MAGIC_PNG, 0, "\x89PNG\r\n\x1a\n"),
    SIG(MAGIC_JPEG, 0, "\xff\xd8\xff"),
    SIG(MAGIC_GIF, 0, "GIF87a"),
    SIG(MAGIC_GIF, 0, "GIF89a"),
    SIG(MAGIC_RTF, 0, "{\\rtf"),
    SIG(MAGIC_SCRIPT, 0, "#!"),
    SIG(MAGIC_LNK, 0, "\x4c\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00"
                      "\x00\x00\x00\x46"),
};

static bool starts(const unsigned char *b, size_t n, size_t off, const char *s, size_t len)
{
    return n >= off + len && memcmp(b + off, s, len) == 0;
}

/* Case-insensitive search of an ASCII needle in b[0..n). */
static bool has_ci(const unsigned char *b, size_t n, const char *needle)
{
    size_t k = strlen(needle), i;

    for (i = 0; i + k <= n; i++)
        if (strncasecmp((const char *)b + i, needle, k) == 0)
            return true;
    return false;
}

static enum magic_type markup(const unsigned char *b, size_t n)
{
    size_t i = 0;

    if (starts(b, n, 0, "\xef\xbb\xbf", 3))
        i = 3;
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    if (i >= n || b[i] != '<')
        return MAGIC_UNKNOWN;
    if (has_ci(b + i, n - i, "<hta:application"))
        return MAGIC_HTA;
    if (has_ci(b + i, n - i, "<html") || has_ci(b + i, n - i, "<!doctype html") ||
        has_ci(b + i, n - i, "<script") || has_ci(b + i, n - i, "<head") ||
        has_ci(b + i, n - i, "<body"))
        return MAGIC_HTML;
    return MAGIC_UNKNOWN;
}

enum magic_type magic_detect(const unsigned char *b, size_t n)
{
    size_t i;

    if (b == NULL || n == 0)
        return MAGIC_UNKNOWN;
    /* MZ; a PE proper has "PE\0\0" at e_lfanew, but a DOS stub alone runs too */
    if (starts(b, n, 0, "MZ", 2) || starts(b, n, 0, "ZM", 2))
        return MAGIC_PE;
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (starts(b, n, sigs[i].off, sigs[i].bytes, sigs[i].len))
            return sigs[i].type;
    /* fat Mach-O: CAFEBABE and a small architecture count (a Java class has its version
       there, 45 and above) */
    if (starts(b, n, 0, "\xca\xfe\xba\xbe", 4) && n >= 8 && b[4] == 0 && b[5] == 0 &&
        b[6] == 0 && b[7] > 0 && b[7] < 20)
        return MAGIC_MACHO;
    return markup(b, n);
}

const char *magic_name(enum magic_type t)
{
    static const char *const names[MAGIC_COUNT] = {
        "unknown", "pe", "elf", "mach-o", "ole", "zip", "rar", "7z", "gzip", "bzip2", "xz",
        "cab", "pdf", "png", "jpeg", "gif", "rtf", "script", "hta", "html", "lnk",
    };
    return (unsigned)t < MAGIC_COUNT ? names[t] : "unknown";
}

bool magic_is_executable(enum magic_type t)
{
    return t == MAGIC_PE || t == MAGIC_ELF || t == MAGIC_MACHO;
}

const char *const *magic_extensions(enum magic_type t)
{
    static const char *const pe[] = { "exe", "dll", "com", "scr", "sys", "drv", "ocx",
                                      "cpl", "efi", "mui", "ax", "pif", NULL };
    static const char *const elf[] = { "so", "elf", "bin", "o", "ko", "run", "axf", NULL };
    static const char *const macho[] = { "dylib", "bundle", "o", "app", NULL };

    switch (t) {
    case MAGIC_PE:
        return pe;
    case MAGIC_ELF:
        return elf;
    case MAGIC_MACHO:
        return macho;
    default:
        return NULL;
    }
}
