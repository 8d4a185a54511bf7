/*
 * spf_record.c - parse one SPF record into terms (see spf_record.h for the contract).
 *
 * Grammar (RFC 7208 section 12), case-insensitive names:
 *   record    = "v=spf1" *( 1*SP ( directive / modifier ) ) *SP
 *   directive = [ "+" / "-" / "?" / "~" ] mechanism
 *   modifier  = name "=" macro-string      name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
 * A term that starts with a valid name followed by "=" is a modifier; anything else is a
 * directive, and an unknown mechanism name is an error. Pure; no I/O.
 */
#include "mailauth/spf_record.h"

#include "mailauth/spf_ip.h"
#include "mailauth/spf_macro.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SPF_VERSION "v=spf1"
#define SPF_VERSION_LEN 6
#define CIDR_DIGITS_MAX 3
#define IP6_TEXT_MAX 45
#define TERM_QUOTE_MAX 60               /* characters of a term quoted in an error */

static const struct {
    const char *name;
    enum spf_mech mech;
} mech_names[] = {
    { "all", SPF_MECH_ALL }, { "include", SPF_MECH_INCLUDE }, { "a", SPF_MECH_A },
    { "mx", SPF_MECH_MX }, { "ptr", SPF_MECH_PTR }, { "ip4", SPF_MECH_IP4 },
    { "ip6", SPF_MECH_IP6 }, { "exists", SPF_MECH_EXISTS },
};

bool spf_record_is_spf1(const char *text, size_t len)
{
    return len >= SPF_VERSION_LEN && strncasecmp(text, SPF_VERSION, SPF_VERSION_LEN) == 0 &&
           (len == SPF_VERSION_LEN || text[SPF_VERSION_LEN] == ' ');
}

static int fail(char *err, const char *term, size_t tlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, const char *term, size_t tlen, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(err, SPF_ERROR_MAX, fmt, ap);
    va_end(ap);
    if (term && n >= 0 && (size_t)n < SPF_ERROR_MAX)
        snprintf(err + n, SPF_ERROR_MAX - (size_t)n, " in \"%.*s%s\"",
                 (int)(tlen > TERM_QUOTE_MAX ? TERM_QUOTE_MAX : tlen), term,
                 tlen > TERM_QUOTE_MAX ? "..." : "");
    return -1;
}

static bool all_digits(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* A prefix length: decimal, no leading zero, at most max. */
static int parse_cidr(const char *s, size_t len, int max)
{
    int v = 0;

    if (!all_digits(s, len) || len > CIDR_DIGITS_MAX || (len > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++)
        v = v * 10 + (s[i] - '0');
    return v <= max ? v : -1;
}

/*
 * The end of an a/mx term: [ ":" domain-spec ] [ "/" ip4-cidr ] [ "//" ip6-cidr ].
 * rest: what follows the mechanism name. Sets t->domain (NUL-terminated in the writable
 * copy `w` of rest) and the prefixes.
 */
static int parse_dual(struct spf_term *t, const char *rest, char *w, size_t len, char *err,
                      const char *term, size_t tlen)
{
    bool has_domain = len > 0 && rest[0] == ':';
    size_t off = has_domain ? 1 : 0, end = len;
    const char *body = rest + off, *why;
    size_t blen = len - off;
    const char *slash = memrchr(body, '/', blen);

    if (slash && all_digits(slash + 1, blen - (size_t)(slash + 1 - body))) {
        size_t p = (size_t)(slash - body), dlen = blen - p - 1;
        if (p > 0 && body[p - 1] == '/') {
            if ((t->cidr6 = parse_cidr(slash + 1, dlen, SPF_IP6_BITS)) < 0)
                return fail(err, term, tlen, "bad IPv6 prefix length");
            end = p - 1;
            slash = end ? memrchr(body, '/', end) : NULL;
            if (slash && all_digits(slash + 1, end - (size_t)(slash + 1 - body))) {
                size_t q = (size_t)(slash - body);
                if ((t->cidr4 = parse_cidr(slash + 1, end - q - 1, SPF_IP4_BITS)) < 0)
                    return fail(err, term, tlen, "bad IPv4 prefix length");
                end = q;
            }
        } else {
            if ((t->cidr4 = parse_cidr(slash + 1, dlen, SPF_IP4_BITS)) < 0)
                return fail(err, term, tlen, "bad IPv4 prefix length");
            end = p;
        }
    } else {
        end = blen;
    }
    if (!has_domain) {
        if (end != 0)
            return fail(err, term, tlen, "unknown mechanism");
        return 0;
    }
    if (spf_domain_spec_check(body, end, &why) < 0)
        return fail(err, term, tlen, "%s", why);
    w[off + end] = '\0';
    t->domain = w + off;
    return 0;
}

/* ":" domain-spec (required), nothing after it. */
static int parse_target(struct spf_term *t, const char *rest, char *w, size_t len,
                        bool required, char *err, const char *term, size_t tlen)
{
    const char *why;

    if (len == 0 && !required)
        return 0;
    if (len == 0 || rest[0] != ':')
        return fail(err, term, tlen, "%s", required ? "missing ':' domain-spec"
                                                    : "unknown mechanism");
    if (spf_domain_spec_check(rest + 1, len - 1, &why) < 0)
        return fail(err, term, tlen, "%s", why);
    t->domain = w + 1;
    return 0;
}

/* "ip4:" / "ip6:" network [ "/" prefix ]. */
static int parse_ip(struct spf_term *t, const char *rest, size_t len, char *err,
                    const char *term, size_t tlen)
{
    bool v4 = t->mech == SPF_MECH_IP4;
    const char *net, *slash;
    size_t nlen;

    if (len < 2 || rest[0] != ':')
        return fail(err, term, tlen, "missing ':' network");
    net = rest + 1;
    slash = memchr(net, '/', len - 1);
    nlen = slash ? (size_t)(slash - net) : len - 1;
    if (slash) {
        int c = parse_cidr(slash + 1, len - 1 - nlen - 1, v4 ? SPF_IP4_BITS : SPF_IP6_BITS);
        if (c < 0)
            return fail(err, term, tlen, "bad prefix length");
        if (v4)
            t->cidr4 = c;
        else
            t->cidr6 = c;
    }
    if (v4) {
        if (spf_ip4_parse_strict(net, nlen, t->net) < 0)
            return fail(err, term, tlen, "bad IPv4 network");
    } else {
        char buf[IP6_TEXT_MAX + 1];
        if (nlen > IP6_TEXT_MAX)
            return fail(err, term, tlen, "bad IPv6 network");
        memcpy(buf, net, nlen);
        buf[nlen] = '\0';
        if (inet_pton(AF_INET6, buf, t->net) != 1)
            return fail(err, term, tlen, "bad IPv6 network");
    }
    return 0;
}

static int parse_directive(struct spf_term *t, const char *s, char *w, size_t len, char *err)
{
    size_t i = 0, nlen, k;
    const char *name;

    t->qualifier = '+';
    t->cidr4 = SPF_IP4_BITS;
    t->cidr6 = SPF_IP6_BITS;
    if (len && strchr("+-~?", s[0])) {
        t->qualifier = s[0];
        i = 1;
    }
    name = s + i;
    while (i < len && isalnum((unsigned char)s[i]))
        i++;
    nlen = (size_t)(s + i - name);
    for (k = 0; k < sizeof(mech_names) / sizeof(mech_names[0]); k++)
        if (strlen(mech_names[k].name) == nlen && strncasecmp(name, mech_names[k].name, nlen) == 0)
            break;
    if (k == sizeof(mech_names) / sizeof(mech_names[0]) || (i < len && s[i] != ':' && s[i] != '/'))
        return fail(err, s, len, "unknown mechanism");
    t->mech = mech_names[k].mech;
    switch (t->mech) {
    case SPF_MECH_ALL:
        return i == len ? 0 : fail(err, s, len, "\"all\" takes no argument");
    case SPF_MECH_INCLUDE:
    case SPF_MECH_EXISTS:
        return parse_target(t, s + i, w + i, len - i, true, err, s, len);
    case SPF_MECH_PTR:
        return parse_target(t, s + i, w + i, len - i, false, err, s, len);
    case SPF_MECH_A:
    case SPF_MECH_MX:
        return parse_dual(t, s + i, w + i, len - i, err, s, len);
    case SPF_MECH_IP4:
    case SPF_MECH_IP6:
        return parse_ip(t, s + i, len - i, err, s, len);
    }
    return fail(err, s, len, "unknown mechanism");
}

/* Length of a modifier name at s (ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )) when it is
 * followed by "="; 0 when the term is not a modifier. */
static size_t modifier_name_len(const char *s, size_t len)
{
    size_t i = 1;

    if (len == 0 || !isalpha((unsigned char)s[0]))
        return 0;
    while (i < len && (isalnum((unsigned char)s[i]) || strchr("-_.", s[i])))
        i++;
    return i < len && s[i] == '=' ? i : 0;
}

static int parse_modifier(struct spf_record *rec, const char *s, char *w, size_t len,
                          size_t nlen, char *err)
{
    const char *val = s + nlen + 1, *why;
    size_t vlen = len - nlen - 1;
    const char **slot = NULL;

    if (nlen == strlen("redirect") && strncasecmp(s, "redirect", nlen) == 0)
        slot = &rec->redirect;
    else if (nlen == strlen("exp") && strncasecmp(s, "exp", nlen) == 0)
        slot = &rec->exp;
    if (slot == NULL) {         /* unknown modifier: checked, then ignored (RFC 7208 6) */
        if (spf_macro_check(val, vlen, SPF_MACRO_EXPLAIN, NULL, &why) < 0)
            return fail(err, s, len, "%s", why);
        return 0;
    }
    if (*slot)
        return fail(err, s, len, "modifier given twice");
    if (spf_domain_spec_check(val, vlen, &why) < 0)
        return fail(err, s, len, "%s", why);
    *slot = w + nlen + 1;
    return 0;
}

enum spf_parse_status spf_record_parse(const char *text, size_t len, struct spf_record **out,
                                       char *err)
{
    struct spf_record *rec;
    char *texts, *work;
    size_t i;

    *out = NULL;
    err[0] = '\0';
    if (!spf_record_is_spf1(text, len))
        return SPF_PARSE_NOT_SPF;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < ' ' || c > '~') {
            snprintf(err, SPF_ERROR_MAX, "character 0x%02x (control or not ASCII) at offset "
                     "%zu of the record", c, i);
            return SPF_PARSE_ERROR;
        }
    }
    rec = xcalloc(1, sizeof(*rec));
    rec->store = xmalloc(2 * (len + 1));
    texts = rec->store;
    work = rec->store + len + 1;
    memcpy(texts, text, len);
    memcpy(work, text, len);
    texts[len] = work[len] = '\0';
    rec->terms = xcalloc(len / 2 + 1, sizeof(*rec->terms));
    for (i = SPF_VERSION_LEN; i < len;) {
        size_t start, tlen, nlen;
        if (text[i] == ' ') {
            texts[i] = work[i] = '\0';
            i++;
            continue;
        }
        start = i;
        while (i < len && text[i] != ' ')
            i++;
        tlen = i - start;
        nlen = modifier_name_len(text + start, tlen);
        if (nlen) {
            if (parse_modifier(rec, text + start, work + start, tlen, nlen, err) < 0)
                goto bad;
        } else {
            struct spf_term *t = &rec->terms[rec->n];
            if (parse_directive(t, text + start, work + start, tlen, err) < 0)
                goto bad;
            t->text = texts + start;
            rec->n++;
        }
    }
    *out = rec;
    return SPF_PARSE_OK;
bad:
    spf_record_free(rec);
    return SPF_PARSE_ERROR;
}

void spf_record_free(struct spf_record *rec)
{
    if (rec == NULL)
        return;
    free(rec->terms);
    free(rec->store);
    free(rec);
}
