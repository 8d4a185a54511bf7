/*
 * dnscheck.c - pure helpers of the inbound DNS checks (see dnscheck.h).
 */
#include "lib/dnscheck.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- data: the words of generic names ------------------------------------------------- */

/* A word matches a token of the host part alone or followed by digits ("dsl", "dsl12");
 * a trailing '#' means digits are required, in the token or as the next token ("host12",
 * "ip68", "host-17", "ip-10-1", not "host" or "host-a"). */
const char *const dnscheck_dynamic_words[] = {
    "dyn", "dynamic", "dynip", "dynamicip", "dyndsl", "dhcp", "dialup", "dial", "dialin",
    "dip", "dsl", "adsl", "vdsl", "xdsl", "sdsl", "hdsl", "pool", "pools", "cable", "catv",
    "hsd", "hsi", "kabel", "fiber", "fibre", "gprs", "wifi", "hotspot",
    "ppp", "pppoe", "pppoa", "client", "clients", "cust", "customer", "customers",
    "broadband", "bband", "cpe", "res", "resnet", "residential", "home", "user",
    "users", "unknown", "unassigned", "nat", "wireless", "wlan", "mobile", "lte",
    "ftth", "fttx", "fttb", "dslam",
    "host#", "ip#", "pc#",
    NULL
};

const char *const dnscheck_static_prefixes[] = {
    "mail", "smtp", "mx", "mta", "relay", "out", NULL
};

/* Tokens that say the generic name is of a fixed address (a business line that may run
 * its own mail server): such a name is "static", not dynamic. */
static const char *const static_words[] = { "static", "fixed", NULL };

/* ---- addresses ------------------------------------------------------------------------ */

struct ipbin {
    int family;                 /* 4 or 6; 0 invalid */
    unsigned char b[16];
};

static struct ipbin ip_parse(const char *s)
{
    struct ipbin ip = { 0, { 0 } };
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

    if (s == NULL)
        return ip;
    if (inet_pton(AF_INET, s, ip.b) == 1) {
        ip.family = 4;
    } else if (inet_pton(AF_INET6, s, ip.b) == 1) {
        ip.family = 6;
        if (memcmp(ip.b, mapped, 12) == 0) {
            memmove(ip.b, ip.b + 12, 4);
            ip.family = 4;
        }
    }
    return ip;
}

static bool ip_equal(struct ipbin a, struct ipbin b)
{
    return a.family != 0 && a.family == b.family &&
           memcmp(a.b, b.b, a.family == 4 ? 4 : 16) == 0;
}

static bool ip_in_list(struct ipbin a, const char *const *list)
{
    for (; list != NULL && *list != NULL; list++)
        if (ip_equal(a, ip_parse(*list)))
            return true;
    return false;
}

/* ---- HELO ----------------------------------------------------------------------------- */

bool dns_hostname_valid(const char *s)
{
    size_t len = s ? strlen(s) : 0, label = 0, i;
    const char *last;
    bool digits_only = true;

    if (len > 0 && s[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return false;
    for (i = 0; i <= len; i++) {
        char ch = i < len ? s[i] : '.';
        if (ch == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char)ch) && ch != '-')
            return false;
        if (ch == '-' && label == 0)
            return false;
        label++;
    }
    /* the last label (the TLD) must not be all digits */
    for (last = s + len; last > s && last[-1] != '.'; last--)
        ;
    for (; last < s + len; last++)
        if (!isdigit((unsigned char)*last))
            digits_only = false;
    return !digits_only;
}

static bool name_in_list(const char *name, size_t len, const char *const *list)
{
    for (; list != NULL && *list != NULL; list++) {
        size_t n = strlen(*list);
        if (n > 0 && (*list)[n - 1] == '.')
            n--;
        if (n == len && strncasecmp(name, *list, len) == 0)
            return true;
    }
    return false;
}

enum helo_class helo_classify(const char *helo, const char *client_ip,
                              const char *const *own_names, const char *const *own_addrs)
{
    struct ipbin client = ip_parse(client_ip), lit;
    size_t len;
    char inner[64];

    if (helo == NULL || *helo == '\0')
        return HELO_CLASS_INVALID;
    len = strlen(helo);
    if (helo[0] == '[') {
        if (len < 3 || helo[len - 1] != ']' || len - 2 >= sizeof(inner))
            return HELO_CLASS_BAD_LITERAL;
        memcpy(inner, helo + 1, len - 2);
        inner[len - 2] = '\0';
        if (strncasecmp(inner, "IPv6:", 5) == 0) {
            lit = ip_parse(inner + 5);
            if (lit.family == 0 || strchr(inner + 5, ':') == NULL)
                return HELO_CLASS_BAD_LITERAL;
        } else {
            lit = ip_parse(inner);
            if (lit.family != 4 || strchr(inner, ':') != NULL)
                return HELO_CLASS_BAD_LITERAL;
        }
        if (ip_equal(lit, client))
            return HELO_CLASS_LITERAL;
        return ip_in_list(lit, own_addrs) ? HELO_CLASS_OURS : HELO_CLASS_BAD_LITERAL;
    }
    lit = ip_parse(helo);
    if (lit.family != 0) {
        if (!ip_equal(lit, client) && ip_in_list(lit, own_addrs))
            return HELO_CLASS_OURS;
        return HELO_CLASS_BARE_IP;
    }
    if (helo[len - 1] == '.')
        len--;
    if (name_in_list(helo, len, own_names))
        return HELO_CLASS_OURS;
    if (!dns_hostname_valid(helo))
        return HELO_CLASS_INVALID;
    return memchr(helo, '.', len) != NULL ? HELO_CLASS_FQDN : HELO_CLASS_NOT_FQDN;
}

const char *helo_class_str(enum helo_class c)
{
    static const char *const names[] = { "fqdn", "literal", "invalid", "bare_ip",
                                         "not_fqdn", "bad_literal", "ours" };
    return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : "?";
}

/* ---- DNSBL ---------------------------------------------------------------------------- */

enum dnsbl_kind dnsbl_kind(uint32_t addr)
{
    if ((addr >> 24) != 127)
        return DNSBL_BOGUS;
    if ((addr & 0xffffff00u) == 0x7fffff00u)
        return DNSBL_REFUSED;
    return DNSBL_LISTED;
}

static int parse_v4(const char *s, size_t n, uint32_t *out)
{
    char buf[16];
    struct in_addr a;

    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET, buf, &a) != 1)
        return -1;
    *out = ntohl(a.s_addr);
    return 0;
}

int dnsbl_code_parse(const char *s, struct dnsbl_code *out, const char **why)
{
    const char *eq = s ? strchr(s, '=') : NULL, *colon, *dash;
    size_t n;
    char *end;

    memset(out, 0, sizeof(*out));
    *why = "expected CODE=SUFFIX or CODE=SUFFIX:SCORE";
    if (eq == NULL || eq == s)
        return -1;
    if (s[0] == '&') {
        unsigned long m;
        char buf[16];
        n = (size_t)(eq - s - 1);
        if (n == 0 || n >= sizeof(buf))
            return -1;
        memcpy(buf, s + 1, n);
        buf[n] = '\0';
        m = strtoul(buf, &end, 0);
        if (*end != '\0' || m == 0 || m > 255) {
            *why = "a bit mask is &1 .. &255";
            return -1;
        }
        out->mask = (uint32_t)m;
    } else {
        dash = memchr(s, '-', (size_t)(eq - s));
        if (parse_v4(s, (size_t)((dash ? dash : eq) - s), &out->lo) < 0) {
            *why = "the code is not an IPv4 address";
            return -1;
        }
        out->hi = out->lo;
        if (dash != NULL) {
            const char *h = dash + 1;
            n = (size_t)(eq - h);
            if (memchr(h, '.', n) != NULL) {
                if (parse_v4(h, n, &out->hi) < 0) {
                    *why = "the end of the range is not an IPv4 address";
                    return -1;
                }
            } else {
                unsigned long v;
                char buf[8];
                if (n == 0 || n >= sizeof(buf))
                    return -1;
                memcpy(buf, h, n);
                buf[n] = '\0';
                v = strtoul(buf, &end, 10);
                if (*end != '\0' || v > 255) {
                    *why = "the end of the range is not 0 .. 255";
                    return -1;
                }
                out->hi = (out->lo & 0xffffff00u) | (uint32_t)v;
            }
        }
        if ((out->lo >> 24) != 127 || out->hi < out->lo) {
            *why = "codes are in 127.0.0.0/8, ranges low to high";
            return -1;
        }
    }
    eq++;
    colon = strchr(eq, ':');
    n = colon ? (size_t)(colon - eq) : strlen(eq);
    if (n == 0 || n >= sizeof(out->suffix)) {
        *why = "the symbol suffix is 1 .. 24 of A-Z 0-9 _";
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (!(isupper((unsigned char)eq[i]) || isdigit((unsigned char)eq[i]) || eq[i] == '_')) {
            *why = "the symbol suffix is 1 .. 24 of A-Z 0-9 _";
            return -1;
        }
    memcpy(out->suffix, eq, n);
    out->suffix[n] = '\0';
    if (colon != NULL) {
        out->score = strtod(colon + 1, &end);
        if (colon[1] == '\0' || *end != '\0' || !isfinite(out->score)) {
            *why = "the score is not a number";
            return -1;
        }
        out->has_score = true;
    }
    *why = NULL;
    return 0;
}

bool dnsbl_code_match(const struct dnsbl_code *c, uint32_t addr)
{
    if (dnsbl_kind(addr) != DNSBL_LISTED)
        return false;
    if (c->mask != 0)
        return ((addr & 0xffu) & c->mask) != 0;
    return addr >= c->lo && addr <= c->hi;
}

int dnsbl_default_symbol(const char *zone, bool rhs, char *out, size_t outlen)
{
    static const char *const generic[] = { "bl", "dnsbl", "rbl", "rhsbl", "list", "lists",
                                           "black", "white", "combined", "all", "dbl",
                                           "www", NULL };
    const char *p = zone, *pick = NULL;
    size_t pick_len = 0, n, i;
    int w;

    while (p != NULL && *p != '\0') {
        const char *dot = strchr(p, '.');
        bool skip = false;
        n = dot ? (size_t)(dot - p) : strlen(p);
        if (dot == NULL)
            break;                  /* never the TLD */
        for (i = 0; generic[i] != NULL; i++)
            if (strlen(generic[i]) == n && strncasecmp(p, generic[i], n) == 0)
                skip = true;
        if (!skip && n > 1) {
            pick = p;
            pick_len = n;
            break;
        }
        p = dot + 1;
    }
    if (pick == NULL) {
        pick = zone;
        pick_len = strlen(zone);
    }
    w = snprintf(out, outlen, "%s", rhs ? "RHSBL_" : "DNSBL_");
    if (w < 0 || (size_t)w + pick_len >= outlen)
        return -1;
    for (i = 0; i < pick_len; i++)
        out[w + i] = isalnum((unsigned char)pick[i]) ? (char)toupper((unsigned char)pick[i])
                                                     : '_';
    out[w + pick_len] = '\0';
    return 0;
}

/* ---- dynamic PTR names ---------------------------------------------------------------- */

static bool word_match(const char *tok, size_t n, const char *const *words)
{
    size_t base = n;

    while (base > 0 && isdigit((unsigned char)tok[base - 1]))
        base--;
    for (; *words != NULL; words++) {
        size_t wl = strlen(*words);
        bool need_digits = wl > 0 && (*words)[wl - 1] == '#';
        if (need_digits)
            wl--;
        if (wl == 0 || wl != base || strncasecmp(tok, *words, wl) != 0)
            continue;
        if (!need_digits || base < n)
            return true;
    }
    return false;
}

static bool v4_embedded(const char *host, const unsigned char *o)
{
    unsigned long nums[64];
    size_t nn = 0, i;
    const char *p = host;
    char buf[16], low[256];

    while (*p != '\0' && nn < 64) {
        if (isdigit((unsigned char)*p)) {
            const char *st = p;
            while (isdigit((unsigned char)*p))
                p++;
            if (p - st == 12) {
                char twelve[13];
                snprintf(twelve, sizeof(twelve), "%03u%03u%03u%03u", o[0], o[1], o[2], o[3]);
                if (memcmp(st, twelve, 12) == 0)
                    return true;
            }
            nums[nn++] = p - st <= 3 ? strtoul(st, NULL, 10) : 1000;
        } else {
            p++;
        }
    }
    for (i = 0; i + 4 <= nn; i++) {
        if (nums[i] == o[0] && nums[i + 1] == o[1] && nums[i + 2] == o[2] && nums[i + 3] == o[3])
            return true;
        if (nums[i] == o[3] && nums[i + 1] == o[2] && nums[i + 2] == o[1] && nums[i + 3] == o[0])
            return true;
    }
    snprintf(buf, sizeof(buf), "%02x%02x%02x%02x", o[0], o[1], o[2], o[3]);
    for (i = 0; host[i] != '\0' && i + 1 < sizeof(low); i++)
        low[i] = (char)tolower((unsigned char)host[i]);
    low[i] = '\0';
    return strstr(low, buf) != NULL;
}

static bool v6_embedded(const char *host, const unsigned char *b)
{
    static const char hex[] = "0123456789abcdef";
    char compact[256], fwd[17], rev[17];
    size_t n = 0, i;

    for (i = 0; host[i] != '\0' && n + 1 < sizeof(compact); i++)
        if (isxdigit((unsigned char)host[i]))
            compact[n++] = (char)tolower((unsigned char)host[i]);
    compact[n] = '\0';
    /* the interface identifier (last 64 bits), forward and nibble-reversed */
    for (i = 0; i < 8; i++) {
        fwd[2 * i] = hex[b[8 + i] >> 4];
        fwd[2 * i + 1] = hex[b[8 + i] & 15];
    }
    fwd[16] = '\0';
    for (i = 0; i < 16; i++)
        rev[i] = fwd[15 - i];
    rev[16] = '\0';
    if (strcmp(fwd, "0000000000000000") == 0)
        return false;
    return strstr(compact, fwd) != NULL || strstr(compact, rev) != NULL;
}

/* The next alphanumeric token of s from *p: its start and length (0 at the end). */
static size_t next_token(const char **p, const char **st)
{
    while (**p != '\0' && !isalnum((unsigned char)**p))
        (*p)++;
    *st = *p;
    while (isalnum((unsigned char)**p))
        (*p)++;
    return (size_t)(*p - *st);
}

static bool all_digits(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return n > 0;
}

/* A token of host is one of words; a word ending in '#' also matches when its token has
 * no digits but the next token is all digits ("host-17"). */
static bool generic_word(const char *host, const char *const *words)
{
    const char *p = host, *st, *nst;
    size_t n = next_token(&p, &st), nn;

    while (n > 0) {
        const char *q = p;
        if (word_match(st, n, words))
            return true;
        nn = next_token(&q, &nst);
        if (all_digits(nst, nn) && !isdigit((unsigned char)st[n - 1])) {
            char joined[256];
            if (n + nn < sizeof(joined)) {   /* "host" + "17": as the token "host17" */
                memcpy(joined, st, n);
                memcpy(joined + n, nst, nn);
                if (word_match(joined, n + nn, words))
                    return true;
            }
        }
        p = q;
        st = nst;
        n = nn;
    }
    return false;
}

static bool has_static_token(const char *host)
{
    const char *p = host, *st;
    size_t n;

    while ((n = next_token(&p, &st)) > 0)
        if (word_match(st, n, static_words))
            return true;
    return false;
}

bool ptr_is_dynamic(const char *name, const char *ip, const char *const *words,
                    const char *const *static_prefixes, const char **why)
{
    struct ipbin a = ip_parse(ip);
    char host[256];
    size_t len, cut, dots = 0, i, first;
    bool embedded;

    if (why != NULL)
        *why = NULL;
    if (name == NULL || (len = strlen(name)) == 0 || len >= sizeof(host))
        return false;
    if (words == NULL)
        words = dnscheck_dynamic_words;
    if (static_prefixes == NULL)
        static_prefixes = dnscheck_static_prefixes;
    memcpy(host, name, len + 1);
    if (host[len - 1] == '.')
        host[--len] = '\0';
    for (first = 0; first < len && host[first] != '.'; first++)
        ;
    for (; *static_prefixes != NULL; static_prefixes++) {
        size_t pl = strlen(*static_prefixes);
        if (pl > 0 && pl <= first && strncasecmp(host, *static_prefixes, pl) == 0)
            return false;
    }
    /* the host part: without the last two labels (at least the first label stays) */
    cut = len;
    for (i = len; i > 0; i--)
        if (host[i - 1] == '.' && ++dots == 2) {
            cut = i - 1;
            break;
        }
    if (dots < 2)
        cut = first;
    host[cut] = '\0';
    embedded = (a.family == 4 && v4_embedded(host, a.b)) ||
               (a.family == 6 && v6_embedded(host, a.b));
    if (has_static_token(host)) {      /* generic, but of a fixed address */
        if (why != NULL && (embedded || generic_word(host, words)))
            *why = "static";
        return false;
    }
    if (embedded) {
        if (why != NULL)
            *why = "address";
        return true;
    }
    if (generic_word(host, words)) {
        if (why != NULL)
            *why = "word";
        return true;
    }
    return false;
}
