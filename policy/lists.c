/*
 * lists.c - white/black/exclusion list entries and matching (see lists.h).
 *
 * A list is an array of parsed entries matched in order (lists are short: tens of
 * entries per domain or user). Address comparisons are ASCII case-insensitive.
 */
#include "policy/lists.h"

#include "lib/netaddr.h"
#include "lib/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ENTRY_MAX 320   /* longest entry: an address of 254 octets and some room */

enum entry_kind {
    ENTRY_ADDRESS,     /* user@example.com */
    ENTRY_DOMAIN,      /* @example.com */
    ENTRY_SUBDOMAINS,  /* @.example.com */
    ENTRY_LOCALPART,   /* postmaster@ */
    ENTRY_NETWORK,     /* 192.0.2.0/24, 2001:db8::1 */
};

struct entry {
    enum entry_kind kind;
    char *text;           /* the address, domain (without @ or @.) or local part */
    struct netaddr net;
};

struct addr_list {
    struct entry *v;
    size_t n;
};

static bool domain_ok(const char *d)
{
    size_t i;

    if (d[0] == '\0' || d[0] == '.' || d[strlen(d) - 1] == '.')
        return false;
    for (i = 0; d[i] != '\0'; i++)
        if (d[i] <= ' ' || d[i] == '@' || d[i] == 0x7f || (d[i] == '.' && d[i + 1] == '.'))
            return false;
    return true;
}

static bool local_ok(const char *s, size_t n)
{
    size_t i;

    if (n == 0)
        return false;
    for (i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] == '@' || s[i] == 0x7f)
            return false;
    return true;
}

/* Parse entry into e (text not yet copied: e->text points into entry). */
static int entry_parse(const char *entry, struct entry *e, char *why, size_t whylen)
{
    const char *at = strrchr(entry, '@');
    size_t len = strlen(entry);

    memset(e, 0, sizeof(*e));
    if (len == 0 || len > ENTRY_MAX) {
        snprintf(why, whylen, "entry \"%.60s\" is empty or longer than %d octets", entry,
                 ENTRY_MAX);
        return -1;
    }
    if (at == NULL) {
        if (netaddr_parse(entry, &e->net) == 0) {
            e->kind = ENTRY_NETWORK;
            return 0;
        }
        snprintf(why, whylen, "\"%.60s\" is neither an address, an @domain, a local part@ "
                 "nor an IP network", entry);
        return -1;
    }
    if (at == entry) {
        e->kind = at[1] == '.' ? ENTRY_SUBDOMAINS : ENTRY_DOMAIN;
        e->text = (char *)(at[1] == '.' ? at + 2 : at + 1);
        if (domain_ok(e->text))
            return 0;
    } else if (at[1] == '\0') {
        e->kind = ENTRY_LOCALPART;
        e->text = (char *)entry;
        if (local_ok(entry, len - 1))
            return 0;
    } else {
        e->kind = ENTRY_ADDRESS;
        e->text = (char *)entry;
        if (local_ok(entry, (size_t)(at - entry)) && domain_ok(at + 1))
            return 0;
    }
    snprintf(why, whylen, "\"%.60s\" is not a valid address, @domain or local part@", entry);
    return -1;
}

int addr_list_entry_check(const char *entry, char *why, size_t whylen)
{
    struct entry e;

    return entry_parse(entry, &e, why, whylen);
}

int addr_list_validate(const struct conf_strlist *l, const char *pointer, const char *key,
                       struct conf_errors *errs)
{
    char at[320], why[160];
    int bad = 0;
    size_t i;

    for (i = 0; i < l->n; i++) {
        if (addr_list_entry_check(l->v[i], why, sizeof(why)) == 0)
            continue;
        snprintf(at, sizeof(at), "%s/%s/%zu", pointer, key, i);
        bad += conf_error(errs, at, "%s", why);
    }
    return bad;
}

struct addr_list *addr_list_new(const char *const *entries, size_t n, char *why, size_t whylen)
{
    struct addr_list *l = xcalloc(1, sizeof(*l));
    size_t i;

    l->v = n ? xcalloc(n, sizeof(*l->v)) : NULL;
    for (i = 0; i < n; i++) {
        if (entry_parse(entries[i], &l->v[i], why, whylen) < 0) {
            l->n = i;
            addr_list_free(l);
            return NULL;
        }
        if (l->v[i].kind == ENTRY_LOCALPART)
            l->v[i].text = xstrndup(entries[i], strlen(entries[i]) - 1);
        else if (l->v[i].text != NULL)
            l->v[i].text = xstrdup(l->v[i].text);
    }
    l->n = n;
    return l;
}

void addr_list_free(struct addr_list *l)
{
    size_t i;

    if (l == NULL)
        return;
    for (i = 0; i < l->n; i++)
        free(l->v[i].text);
    free(l->v);
    free(l);
}

size_t addr_list_size(const struct addr_list *l)
{
    return l ? l->n : 0;
}

/* Does domain d equal t, or (subdomains) end with "." t? */
static bool domain_match(const char *d, const char *t, bool subdomains)
{
    size_t dl = strlen(d), tl = strlen(t);

    if (!subdomains)
        return strcasecmp(d, t) == 0;
    return dl > tl + 1 && d[dl - tl - 1] == '.' && strcasecmp(d + dl - tl, t) == 0;
}

static bool entry_matches_addr(const struct entry *e, const char *addr)
{
    const char *at = strrchr(addr, '@');

    switch (e->kind) {
    case ENTRY_ADDRESS:    return strcasecmp(e->text, addr) == 0;
    case ENTRY_DOMAIN:     return at && domain_match(at + 1, e->text, false);
    case ENTRY_SUBDOMAINS: return at && domain_match(at + 1, e->text, true);
    case ENTRY_LOCALPART:
        /* a bare "postmaster" (RCPT TO:<postmaster>) is that local part too */
        if (at == NULL)
            return strcasecmp(addr, e->text) == 0;
        return strlen(e->text) == (size_t)(at - addr) &&
               strncasecmp(addr, e->text, (size_t)(at - addr)) == 0;
    case ENTRY_NETWORK:    return false;
    }
    return false;
}

bool addr_list_match_sender(const struct addr_list *l, const char *sender, const char *client_ip)
{
    size_t i;

    for (i = 0; l != NULL && i < l->n; i++) {
        const struct entry *e = &l->v[i];
        if (e->kind == ENTRY_NETWORK) {
            if (client_ip != NULL && netaddr_contains(&e->net, client_ip))
                return true;
        } else if (sender != NULL && sender[0] != '\0' && entry_matches_addr(e, sender)) {
            return true;
        }
    }
    return false;
}

bool addr_list_match_rcpt(const struct addr_list *l, const char *rcpt)
{
    size_t i;

    for (i = 0; l != NULL && i < l->n; i++)
        if (entry_matches_addr(&l->v[i], rcpt))
            return true;
    return false;
}
