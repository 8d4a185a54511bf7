/*
 * bounce_refs.c - the Message-IDs a bounce quotes (see bounce_refs.h). Pure.
 */
#include "policy/bounce_refs.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* Next line of text from *pos: its start and length without CR LF. */
static bool next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *n)
{
    const char *nl;

    if (*pos >= len)
        return false;
    *line = text + *pos;
    nl = memchr(*line, '\n', len - *pos);
    *n = nl ? (size_t)(nl - *line) : len - *pos;
    *pos += *n + (nl != NULL);
    if (*n > 0 && (*line)[*n - 1] == '\r')
        (*n)--;
    return true;
}

static bool starts_field(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);

    return n > k && strncasecmp(line, name, k) == 0 && line[k] == ':';
}

/* The value of a header field of head (first occurrence, unfolded into out). */
static bool field_value(const char *head, size_t len, const char *name, char *out, size_t cap)
{
    size_t pos = 0, n, o = 0;
    const char *line;
    bool in = false;

    while (next_line(head, len, &pos, &line, &n)) {
        if (n == 0)
            break;
        if (in && (line[0] == ' ' || line[0] == '\t')) {
            for (size_t i = 0; i < n && o + 1 < cap; i++)
                out[o++] = line[i];
            continue;
        }
        if (in)
            break;
        if (starts_field(line, n, name)) {
            size_t k = strlen(name) + 1;
            in = true;
            for (size_t i = k; i < n && o + 1 < cap; i++)
                out[o++] = line[i];
        }
    }
    out[o] = '\0';
    return in;
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return false;
}

bool bounce_header_is_auto(const char *head, size_t len)
{
    char v[512];
    const char *p;

    if (field_value(head, len, "Content-Type", v, sizeof(v)) && contains_ci(v, "multipart/report"))
        return true;
    if (field_value(head, len, "Auto-Submitted", v, sizeof(v))) {
        for (p = v; *p == ' ' || *p == '\t'; p++)
            ;
        if (strncasecmp(p, "no", 2) != 0 || isalnum((unsigned char)p[2]) || p[2] == '-')
            return true;
    }
    if (field_value(head, len, "X-Autoreply", v, sizeof(v)) ||
        field_value(head, len, "X-Autorespond", v, sizeof(v)))
        return true;
    return field_value(head, len, "Precedence", v, sizeof(v)) && contains_ci(v, "auto_reply");
}

/* Add the <...> tokens of s[0..n) to ids. */
static size_t add_ids(const char *s, size_t n, char ids[][BOUNCE_ID_MAX + 1], size_t count,
                      size_t max)
{
    size_t i = 0;

    while (i < n && count < max) {
        const char *lt = memchr(s + i, '<', n - i), *gt;
        size_t k, idlen;
        if (lt == NULL)
            break;
        gt = memchr(lt, '>', n - (size_t)(lt - s));
        if (gt == NULL)
            break;
        idlen = (size_t)(gt - lt) + 1;
        i = (size_t)(gt - s) + 1;
        if (idlen < 5 || idlen > BOUNCE_ID_MAX || memchr(lt + 1, '<', idlen - 1) != NULL ||
            memchr(lt, '@', idlen) == NULL)
            continue;
        for (k = 0; k < count; k++)
            if (strlen(ids[k]) == idlen && memcmp(ids[k], lt, idlen) == 0)
                break;
        if (k < count)
            continue;
        memcpy(ids[count], lt, idlen);
        ids[count][idlen] = '\0';
        count++;
    }
    return count;
}

size_t bounce_quoted_ids(const char *msg, size_t len, char ids[][BOUNCE_ID_MAX + 1],
                         size_t max)
{
    size_t pos = 0, n, count = 0;
    const char *line;
    bool in = false, body = false;

    while (count < max && next_line(msg, len, &pos, &line, &n)) {
        if (in && n > 0 && (line[0] == ' ' || line[0] == '\t')) {
            count = add_ids(line, n, ids, count, max);
            continue;
        }
        if (n == 0)
            body = true;
        in = (body && starts_field(line, n, "Message-ID")) ||
             starts_field(line, n, "In-Reply-To") || starts_field(line, n, "References");
        if (in)
            count = add_ids(line, n, ids, count, max);
    }
    return count;
}

bool bounce_own_id(const char *head, size_t len, char out[BOUNCE_ID_MAX + 1])
{
    char v[1024], ids[1][BOUNCE_ID_MAX + 1];

    if (!field_value(head, len, "Message-ID", v, sizeof(v)) ||
        add_ids(v, strlen(v), ids, 0, 1) != 1)
        return false;
    memcpy(out, ids[0], strlen(ids[0]) + 1);
    return true;
}
