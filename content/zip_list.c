/*
 * zip_list.c - names inside a zip archive, streaming (see zip_list.h).
 *
 * State machine over the local file headers (APPNOTE.TXT 4.3.7): signature, the fixed
 * header, the name, the extra field, the data (skipped by its compressed size; when the
 * size follows the data, bit 3, the data is searched for the next signature). A ring of
 * the last TAIL_MAX bytes is kept for the central directory (4.3.12) and its end record
 * (4.3.16), read at zip_list_end. A member named *.zip is fed, stored or inflated (zlib,
 * at most NESTED_OUT_MAX bytes), to a second lister that does not nest further.
 */
#include "content/zip_list.h"

#include "lib/xalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define TAIL_MAX        (128 * 1024)
#define NESTED_OUT_MAX  (32u * 1024 * 1024)
#define SIG_LOCAL       0x04034b50u
#define SIG_CENTRAL     0x02014b50u
#define SIG_END         0x06054b50u
#define SIG_DESC        0x08074b50u

enum zstate { ZS_SIG, ZS_HDR, ZS_NAME, ZS_SKIP, ZS_DATA, ZS_SCAN, ZS_STOP };

struct zip_list {
    unsigned depth;                 /* 0 = the archive itself, 1 = a nested one */
    char (*names)[ZIP_LIST_NAME_MAX];
    const char **ptrs;
    size_t n;
    unsigned flags;
    bool ended;
    /* local headers */
    enum zstate st;
    unsigned char hdr[30];
    size_t hlen;
    uint64_t remaining;             /* bytes of the name, the field to skip, or the data */
    enum zstate after_skip;
    char name[ZIP_LIST_NAME_MAX];
    size_t name_len;
    unsigned eflags, method;
    unsigned entries;               /* local headers read */
    uint32_t csize;
    uint32_t roll;                  /* ZS_SCAN: the last four bytes */
    /* a nested zip being listed */
    struct zip_list *inner;
    char inner_name[ZIP_LIST_NAME_MAX];
    z_stream zs;
    bool inflating;
    uint64_t inner_out;
    /* the last bytes, for the central directory */
    unsigned char *tail;
    uint64_t total;
};

static unsigned le16(const unsigned char *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void add_name(struct zip_list *z, const char *prefix, const char *name, size_t len)
{
    char buf[ZIP_LIST_NAME_MAX];
    size_t i;
    int k;

    if (len == 0)
        return;
    k = snprintf(buf, sizeof(buf), "%s%s%.*s", prefix ? prefix : "", prefix ? "/" : "",
                 (int)len, name);
    if (k < 0 || (size_t)k >= sizeof(buf))
        z->flags |= ZIP_F_TRUNCATED;
    for (i = 0; i < z->n; i++)
        if (strcmp(z->names[i], buf) == 0)
            return;
    if (z->n >= ZIP_LIST_NAMES_MAX) {
        z->flags |= ZIP_F_TRUNCATED;
        return;
    }
    memcpy(z->names[z->n], buf, sizeof(buf));
    z->ptrs[z->n] = z->names[z->n];
    z->n++;
}

static bool is_zip_name(const char *name, size_t len)
{
    return len > 4 && strncasecmp(name + len - 4, ".zip", 4) == 0;
}

struct zip_list *zip_list_new(void)
{
    struct zip_list *z = xcalloc(1, sizeof(*z));

    z->names = xcalloc(ZIP_LIST_NAMES_MAX, sizeof(*z->names));
    z->ptrs = xcalloc(ZIP_LIST_NAMES_MAX, sizeof(*z->ptrs));
    z->tail = xcalloc(1, TAIL_MAX);
    return z;
}

static void inner_stop(struct zip_list *z, bool merge)
{
    size_t i;

    if (z->inner == NULL)
        return;
    if (merge) {
        zip_list_end(z->inner);
        for (i = 0; i < z->inner->n; i++)
            add_name(z, z->inner_name, z->inner->names[i], strlen(z->inner->names[i]));
        z->flags |= ZIP_F_NESTED | (z->inner->flags & (ZIP_F_ENCRYPTED | ZIP_F_TRUNCATED));
    }
    if (z->inflating)
        inflateEnd(&z->zs);
    z->inflating = false;
    zip_list_free(z->inner);
    z->inner = NULL;
}

void zip_list_free(struct zip_list *z)
{
    if (z == NULL)
        return;
    inner_stop(z, false);
    free(z->names);
    free(z->ptrs);
    free(z->tail);
    free(z);
}

/* Compressed bytes of a nested zip member. */
static void inner_feed(struct zip_list *z, const unsigned char *p, size_t n)
{
    unsigned char out[16384];

    if (z->inner == NULL)
        return;
    if (!z->inflating) {
        zip_list_feed(z->inner, p, n);
        return;
    }
    z->zs.next_in = (unsigned char *)p;
    z->zs.avail_in = (uInt)n;
    while (z->zs.avail_in > 0) {
        int rc;
        z->zs.next_out = out;
        z->zs.avail_out = sizeof(out);
        rc = inflate(&z->zs, Z_NO_FLUSH);
        if (sizeof(out) - z->zs.avail_out > 0) {
            zip_list_feed(z->inner, out, sizeof(out) - z->zs.avail_out);
            z->inner_out += sizeof(out) - z->zs.avail_out;
        }
        if (rc == Z_STREAM_END)
            break;
        if (rc != Z_OK || z->inner_out > NESTED_OUT_MAX) {
            z->flags |= ZIP_F_NESTED_SKIP;
            inner_stop(z, true);     /* keep what was listed so far */
            return;
        }
    }
}

/* The header and name of a local entry are read. */
static void entry_start(struct zip_list *z)
{
    bool unknown_size;

    z->eflags = le16(z->hdr + 6);
    z->method = le16(z->hdr + 8);
    z->csize = le32(z->hdr + 18);
    if (z->eflags & 1)
        z->flags |= ZIP_F_ENCRYPTED;
    z->entries++;
    add_name(z, NULL, z->name, z->name_len);
    unknown_size = ((z->eflags & 8) && z->csize == 0) || z->csize == 0xffffffffu;
    if (is_zip_name(z->name, z->name_len)) {
        if (z->depth > 0 || (z->eflags & 1) || unknown_size ||
            (z->method != 0 && z->method != 8)) {
            z->flags |= ZIP_F_NESTED_SKIP;
        } else {
            z->inner = zip_list_new();
            z->inner->depth = z->depth + 1;
            snprintf(z->inner_name, sizeof(z->inner_name), "%.*s", (int)z->name_len, z->name);
            z->inner_out = 0;
            if (z->method == 8) {
                memset(&z->zs, 0, sizeof(z->zs));
                if (inflateInit2(&z->zs, -15) == Z_OK) {
                    z->inflating = true;
                } else {
                    z->flags |= ZIP_F_NESTED_SKIP;
                    zip_list_free(z->inner);
                    z->inner = NULL;
                }
            }
        }
    }
    z->remaining = le16(z->hdr + 28);          /* the extra field */
    z->after_skip = unknown_size ? ZS_SCAN : ZS_DATA;
    z->st = ZS_SKIP;
    z->roll = 0;
}

static void sig_seen(struct zip_list *z, uint32_t sig)
{
    if (sig == SIG_LOCAL) {
        memcpy(z->hdr, "PK\x03\x04", 4);
        z->hlen = 4;
        z->st = ZS_HDR;
    } else if (sig == SIG_DESC) {
        z->remaining = 12;        /* crc, sizes (32-bit form) */
        z->after_skip = ZS_SIG;
        z->st = ZS_SKIP;
        z->hlen = 0;
    } else {
        z->st = ZS_STOP;          /* central directory, or not a local header */
        if (sig != SIG_CENTRAL && sig != SIG_END && z->entries > 0)
            z->flags |= ZIP_F_BROKEN;
    }
}

static void local_feed(struct zip_list *z, const unsigned char *p, size_t n)
{
    size_t i = 0;

    while (i < n && z->st != ZS_STOP) {
        size_t k;
        switch (z->st) {
        case ZS_SIG:
            z->hdr[z->hlen++] = p[i++];
            if (z->hlen == 4)
                sig_seen(z, le32(z->hdr));
            break;
        case ZS_HDR:
            k = 30 - z->hlen < n - i ? 30 - z->hlen : n - i;
            memcpy(z->hdr + z->hlen, p + i, k);
            z->hlen += k;
            i += k;
            if (z->hlen == 30) {
                z->remaining = le16(z->hdr + 26);
                z->name_len = 0;
                z->st = ZS_NAME;
                if (z->remaining == 0)
                    entry_start(z);
            }
            break;
        case ZS_NAME:
            if (z->name_len + 1 < sizeof(z->name))
                z->name[z->name_len++] = (char)p[i];
            else
                z->flags |= ZIP_F_TRUNCATED;
            i++;
            if (--z->remaining == 0)
                entry_start(z);
            break;
        case ZS_SKIP:
            k = z->remaining < n - i ? (size_t)z->remaining : n - i;
            i += k;
            z->remaining -= k;
            if (z->remaining == 0) {
                z->st = z->after_skip;
                z->hlen = 0;
                if (z->st == ZS_DATA)
                    z->remaining = z->csize;
            }
            if (z->st == ZS_DATA && z->remaining == 0) {
                inner_stop(z, true);
                z->st = ZS_SIG;
            }
            break;
        case ZS_DATA:
            k = z->remaining < n - i ? (size_t)z->remaining : n - i;
            inner_feed(z, p + i, k);
            i += k;
            z->remaining -= k;
            if (z->remaining == 0) {
                inner_stop(z, true);
                z->st = ZS_SIG;
                z->hlen = 0;
            }
            break;
        case ZS_SCAN:
            z->roll = z->roll >> 8 | (uint32_t)p[i++] << 24;
            if (z->roll == SIG_LOCAL || z->roll == SIG_CENTRAL || z->roll == SIG_DESC ||
                z->roll == SIG_END) {
                inner_stop(z, false);
                sig_seen(z, z->roll);
            }
            break;
        case ZS_STOP:
            break;
        }
    }
}

void zip_list_feed(struct zip_list *z, const unsigned char *data, size_t len)
{
    size_t i, at;

    if (z->ended || len == 0)
        return;
    local_feed(z, data, len);
    /* the ring of the last TAIL_MAX bytes */
    if (len >= TAIL_MAX) {
        data += len - TAIL_MAX;
        z->total += len - TAIL_MAX;
        len = TAIL_MAX;
    }
    at = (size_t)(z->total % TAIL_MAX);
    i = TAIL_MAX - at < len ? TAIL_MAX - at : len;
    memcpy(z->tail + at, data, i);
    memcpy(z->tail, data + i, len - i);
    z->total += len;
}

/* The central directory from the last bytes. */
static void central(struct zip_list *z)
{
    size_t have = z->total < TAIL_MAX ? (size_t)z->total : TAIL_MAX;
    unsigned char *b = xmalloc(have > 0 ? have : 1);
    size_t start = (size_t)((z->total - have) % TAIL_MAX), i, e;
    uint32_t cd_size;
    unsigned count, k;

    for (i = 0; i < have; i++)
        b[i] = z->tail[(start + i) % TAIL_MAX];
    for (e = have >= 22 ? have - 22 + 1 : 0; e-- > 0;)
        if (le32(b + e) == SIG_END)
            break;
    if (have < 22 || e == (size_t)-1 || le32(b + e) != SIG_END) {
        free(b);
        if (z->total > 0 && z->n == 0)
            z->flags |= ZIP_F_BROKEN;
        return;
    }
    count = le16(b + e + 10);
    cd_size = le32(b + e + 12);
    if (cd_size > e) {
        z->flags |= ZIP_F_TRUNCATED;   /* the directory is not all in the window */
        free(b);
        return;
    }
    i = e - cd_size;
    for (k = 0; k < count && i + 46 <= e && le32(b + i) == SIG_CENTRAL; k++) {
        unsigned nlen = le16(b + i + 28), elen = le16(b + i + 30), clen = le16(b + i + 32);
        if (le16(b + i + 8) & 1)
            z->flags |= ZIP_F_ENCRYPTED;
        if (i + 46 + nlen > e)
            break;
        add_name(z, NULL, (const char *)b + i + 46,
                 nlen < ZIP_LIST_NAME_MAX ? nlen : ZIP_LIST_NAME_MAX - 1);
        i += 46 + (size_t)nlen + elen + clen;
    }
    if (k < count)
        z->flags |= ZIP_F_BROKEN;
    free(b);
}

void zip_list_end(struct zip_list *z)
{
    if (z->ended)
        return;
    inner_stop(z, true);
    central(z);
    z->ended = true;
}

size_t zip_list_count(const struct zip_list *z)
{
    return z->n;
}

const char *zip_list_name(const struct zip_list *z, size_t i)
{
    return i < z->n ? z->names[i] : NULL;
}

const char *const *zip_list_names(const struct zip_list *z)
{
    return z->ptrs;
}

unsigned zip_list_flags(const struct zip_list *z)
{
    return z->flags;
}
