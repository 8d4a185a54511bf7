/*
 * dkim_header.c - header field names and the message splitter of dkim_header.h. Pure.
 */
#include "mailauth/dkim_header.h"

#include <string.h>
#include <strings.h>

int dkim_field_set(struct dkim_field *f, const char *raw, size_t len)
{
    const char *colon = memchr(raw, ':', len);
    size_t n = colon ? (size_t)(colon - raw) : len;

    while (n > 0 && (raw[n - 1] == ' ' || raw[n - 1] == '\t'))
        n--;
    f->raw = raw;
    f->raw_len = len;
    f->name = raw;
    f->name_len = n;
    return colon ? 0 : -1;
}

bool dkim_field_is(const struct dkim_field *f, const char *name)
{
    return f->name_len == strlen(name) && strncasecmp(f->name, name, f->name_len) == 0;
}

/* Offset just past the CRLF that ends the line starting at pos (len if none). */
static size_t line_end(const char *msg, size_t len, size_t pos)
{
    while (pos < len) {
        const char *lf = memchr(msg + pos, '\n', len - pos);
        if (lf == NULL)
            return len;
        pos = (size_t)(lf - msg) + 1;
        if (lf > msg && lf[-1] == '\r')
            return pos;
    }
    return len;
}

enum dkim_split_status dkim_header_split(const char *msg, size_t len, struct dkim_field *fields,
                                         size_t max, size_t *n, size_t *body)
{
    size_t pos = 0;

    *n = 0;
    *body = len;
    while (pos < len) {
        size_t start = pos, end;
        if (len - pos >= 2 && msg[pos] == '\r' && msg[pos + 1] == '\n') {
            *body = pos + 2;
            return DKIM_SPLIT_OK;
        }
        if (msg[pos] == ' ' || msg[pos] == '\t')
            return DKIM_SPLIT_MALFORMED;  /* a continuation with no field before it */
        end = line_end(msg, len, pos);
        while (end < len && (msg[end] == ' ' || msg[end] == '\t'))
            end = line_end(msg, len, end);
        if (*n == max)
            return DKIM_SPLIT_TOO_MANY;
        if (dkim_field_set(&fields[*n], msg + start, end - start) < 0)
            return DKIM_SPLIT_MALFORMED;
        (*n)++;
        pos = end;
    }
    return DKIM_SPLIT_OK;
}
