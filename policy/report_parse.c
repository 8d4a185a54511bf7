/*
 * report_parse.c - classify a bounce (see report_parse.h). Pure.
 */
#include "policy/report_parse.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The value of a "Name: value" line (not unfolded), or NULL. */
static const char *value_of(const char *line, size_t n, const char *name, size_t *vlen)
{
    size_t k = strlen(name);

    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return NULL;
    line += k + 1;
    n -= k + 1;
    while (n > 0 && (*line == ' ' || *line == '\t'))
        line++, n--;
    while (n > 0 && isspace((unsigned char)line[n - 1]))
        n--;
    *vlen = n;
    return line;
}

static bool contains_ci(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle), i;

    for (i = 0; i + k <= n; i++)
        if (strncasecmp(s + i, needle, k) == 0)
            return true;
    return false;
}

static void copy(char *dst, size_t cap, const char *src, size_t n)
{
    size_t i, o = 0;

    for (i = 0; i < n && o + 1 < cap; i++)
        dst[o++] = (unsigned char)src[i] < 0x20 ? ' ' : src[i];
    dst[o] = '\0';
}

void report_parse(const char *msg, size_t len, struct report *out)
{
    size_t pos = 0;
    bool delayed = false, complaint = false;

    memset(out, 0, sizeof(*out));
    while (pos < len) {
        const char *line = msg + pos, *nl = memchr(line, '\n', len - pos), *v;
        size_t n = nl ? (size_t)(nl - line) : len - pos, vlen;
        pos += n + (nl != NULL);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (contains_ci(line, n, "report-type=feedback-report") ||
            contains_ci(line, n, "report-type=\"feedback-report\"")) {
            complaint = true;
        } else if ((v = value_of(line, n, "Feedback-Type", &vlen)) != NULL) {
            complaint = true;
            if (out->diagnostic[0] == '\0')
                copy(out->diagnostic, sizeof(out->diagnostic), v, vlen);
        } else if ((v = value_of(line, n, "Action", &vlen)) != NULL) {
            delayed |= vlen >= 7 && strncasecmp(v, "delayed", 7) == 0;
        } else if ((v = value_of(line, n, "Status", &vlen)) != NULL && out->status[0] == '\0' &&
                   vlen >= 5 && (v[0] == '2' || v[0] == '4' || v[0] == '5') && v[1] == '.') {
            size_t k = 0;
            while (k < vlen && (isdigit((unsigned char)v[k]) || v[k] == '.'))
                k++;
            copy(out->status, sizeof(out->status), v, k);
        } else if ((v = value_of(line, n, "Diagnostic-Code", &vlen)) != NULL &&
                   out->diagnostic[0] == '\0') {
            copy(out->diagnostic, sizeof(out->diagnostic), v, vlen);
        }
    }
    if (complaint)
        out->kind = REPORT_COMPLAINT;
    else if (out->status[0] == '5' && !delayed)
        out->kind = REPORT_HARD;
    else
        out->kind = REPORT_SOFT;   /* 4.x.x, delayed, or no status: never suppress on a guess */
}

const char *report_kind_name(enum report_kind k)
{
    return k == REPORT_HARD ? "hard" : k == REPORT_COMPLAINT ? "complaint" : "soft";
}
