/*
 * header_from.c - the From domains of a message for DMARC (see header_from.h).
 */
#include "policy/header_from.h"

#include "auth/sender_owner.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

const char *header_from_status_name(enum header_from_status st)
{
    switch (st) {
    case HFROM_OK:               return "ok";
    case HFROM_MULTIPLE_DOMAINS: return "multiple domains";
    case HFROM_NONE:             return "no From field";
    case HFROM_MULTIPLE_FIELDS:  return "several From fields";
    default:                     return "unparseable From";
    }
}

/* Add the domain of addr ("local@domain") unless it is there already. */
static bool add_domain(struct header_from *out, const char *addr)
{
    const char *at = strrchr(addr, '@');
    size_t i, n;

    if (at == NULL || at[1] == '\0' || strlen(at + 1) > HFROM_DOMAIN_MAX)
        return false;
    for (i = 0; i < out->n; i++)
        if (strcasecmp(out->domain[i], at + 1) == 0)
            return true;
    if (out->n == HFROM_DOMAINS_MAX)
        return false;
    n = strlen(at + 1);
    for (i = 0; i < n; i++) {
        char c = at[1 + i];
        out->domain[out->n][i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out->domain[out->n][n] = '\0';
    out->n++;
    return true;
}

/* One mailbox v[0..len) of a list. */
static bool one_mailbox(struct header_from *out, const char *v, size_t len)
{
    char addr[1024];

    return sender_from_address(v, len, addr, sizeof(addr)) == SENDER_FROM_OK &&
           add_domain(out, addr);
}

void header_from_value(const char *v, size_t len, struct header_from *out)
{
    size_t i, start = 0;
    unsigned depth = 0;
    bool quoted = false, angle = false, ok = true;

    memset(out, 0, sizeof(*out));
    /* split at the commas outside quotes, comments and angle brackets; the scanner of
     * each piece refuses anything else that is not one mailbox (groups included) */
    for (i = 0; i <= len && ok; i++) {
        char c = i < len ? v[i] : ',';
        if (i < len && (quoted || depth > 0) && c == '\\') {
            i++;
            continue;
        }
        if (i < len && quoted) {
            quoted = c != '"';
        } else if (i < len && depth > 0) {
            depth += c == '(' ? 1u : c == ')' ? (unsigned)-1 : 0u;
        } else if (c == '"') {
            quoted = true;
        } else if (c == '(') {
            depth = 1;
        } else if (c == '<') {
            angle = true;
        } else if (c == '>') {
            angle = false;
        } else if (c == ',' && !angle) {
            ok = one_mailbox(out, v + start, i - start);
            start = i + 1;
        }
    }
    if (!ok || quoted || depth > 0 || out->n == 0) {
        out->status = HFROM_UNPARSEABLE;
        out->n = 0;
        return;
    }
    out->status = out->n == 1 ? HFROM_OK : HFROM_MULTIPLE_DOMAINS;
}

static size_t line_end(const char *h, size_t len, size_t i)
{
    const char *nl = memchr(h + i, '\n', len - i);
    return nl ? (size_t)(nl - h) + 1 : len;
}

void header_from_domains(const char *head, size_t len, struct header_from *out)
{
    char value[HFROM_VALUE_MAX];
    size_t i = 0, vlen = 0, fields = 0;
    bool too_long = false;

    memset(out, 0, sizeof(*out));
    while (i < len) {
        size_t start = i, end = line_end(head, len, i), p = start + 4;
        if (end - start <= 2 && (head[start] == '\n' || head[start] == '\r'))
            break;
        while (end < len && (head[end] == ' ' || head[end] == '\t'))
            end = line_end(head, len, end);
        i = end;
        if (end - start < 5 || strncasecmp(head + start, "From", 4) != 0)
            continue;
        while (p < end && (head[p] == ' ' || head[p] == '\t'))
            p++;
        if (p >= end || head[p] != ':')
            continue;
        if (++fields > 1)
            continue;
        for (p++; p < end; p++) {             /* unfold: drop CR and LF */
            if (head[p] == '\r' || head[p] == '\n')
                continue;
            if (vlen == sizeof(value)) {
                too_long = true;
                break;
            }
            value[vlen++] = head[p];
        }
    }
    if (fields == 0) {
        out->status = HFROM_NONE;
        return;
    }
    if (fields > 1) {
        out->status = HFROM_MULTIPLE_FIELDS;
        return;
    }
    if (too_long) {
        out->status = HFROM_UNPARSEABLE;
        return;
    }
    header_from_value(value, vlen, out);
}
