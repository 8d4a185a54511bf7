/*
 * settings.c - compile the config's lists once, and resolve one address's settings
 * (see settings.h).
 */
#include "policy/settings.h"

#include "lib/xalloc.h"
#include "policy/lists.h"
#include "policy/user_prefs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A domain's compiled lists (the domain_defaults ones for index ndomains). */
struct domain_lists {
    const struct domain_conf *conf;
    struct addr_list *white, *black, *excl;
};

struct settings_base {
    struct settings_inputs in;
    struct domain_lists *domains;   /* in.domains->n + 1 (the last: domain_defaults) */
    struct addr_list *white, *black, *excl;   /* global */
};

static struct addr_list *compile(const struct conf_strlist *l, char *why, size_t whylen,
                                 bool *bad)
{
    struct addr_list *out;

    if (l == NULL)
        return NULL;
    out = addr_list_new((const char *const *)l->v, l->n, why, whylen);
    if (out == NULL)
        *bad = true;
    return out;
}

static void compile_domain(struct domain_lists *dl, const struct domain_conf *d, char *why,
                           size_t whylen, bool *bad)
{
    dl->conf = d;
    dl->white = compile(&d->whitelist, why, whylen, bad);
    dl->black = compile(&d->blacklist, why, whylen, bad);
    dl->excl = compile(&d->exclusions, why, whylen, bad);
}

struct settings_base *settings_base_new(const struct settings_inputs *in, char *why,
                                        size_t whylen)
{
    struct settings_base *b = xcalloc(1, sizeof(*b));
    const struct domain_conf *d = in->domains->items;
    bool bad = false;
    size_t i;

    b->in = *in;
    b->domains = xcalloc(in->domains->n + 1, sizeof(*b->domains));
    for (i = 0; i < in->domains->n; i++)
        compile_domain(&b->domains[i], &d[i], why, whylen, &bad);
    compile_domain(&b->domains[in->domains->n], in->domain_defaults, why, whylen, &bad);
    b->white = compile(in->whitelist, why, whylen, &bad);
    b->black = compile(in->blacklist, why, whylen, &bad);
    b->excl = compile(in->exclusions, why, whylen, &bad);
    for (i = 0; i <= in->domains->n && !bad; i++) {
        const char *lv = b->domains[i].conf->level;
        if (level_find(in->levels, lv) == NULL) {
            snprintf(why, whylen, "level \"%s\" is not defined", lv ? lv : "");
            bad = true;
        }
    }
    if (bad) {
        settings_base_free(b);
        return NULL;
    }
    return b;
}

void settings_base_free(struct settings_base *b)
{
    size_t i;

    if (b == NULL)
        return;
    for (i = 0; i <= b->in.domains->n; i++) {
        addr_list_free(b->domains[i].white);
        addr_list_free(b->domains[i].black);
        addr_list_free(b->domains[i].excl);
    }
    free(b->domains);
    addr_list_free(b->white);
    addr_list_free(b->black);
    addr_list_free(b->excl);
    free(b);
}

static bool in_list(const struct conf_strlist *l, const char *domain)
{
    size_t i;

    for (i = 0; l != NULL && i < l->n; i++)
        if (strcasecmp(l->v[i], domain) == 0)
            return true;
    return false;
}

enum domain_kind settings_domain_kind(const struct settings_base *b, const char *domain)
{
    if (domain == NULL)
        return DOMAIN_OTHER;
    if (in_list(b->in.local_domains, domain))
        return DOMAIN_LOCAL;
    if (in_list(b->in.backup_domains, domain))
        return DOMAIN_BACKUP;
    return DOMAIN_OTHER;
}

static const struct domain_lists *domain_lists(const struct settings_base *b,
                                               const char *domain)
{
    const struct domain_conf *d = b->in.domains->items;
    size_t i;

    for (i = 0; domain != NULL && i < b->in.domains->n; i++)
        if (strcasecmp(d[i].name, domain) == 0)
            return &b->domains[i];
    return &b->domains[b->in.domains->n];
}

static bool is_role(const char *address, const char *at, enum domain_kind kind)
{
    size_t n = at ? (size_t)(at - address) : strlen(address);

    if (at == NULL)     /* RCPT TO:<postmaster> without a domain (RFC 5321 4.5.1) */
        return strcasecmp(address, "postmaster") == 0;
    if (kind == DOMAIN_OTHER)
        return false;
    return (n == 10 && strncasecmp(address, "postmaster", n) == 0) ||
           (n == 5 && strncasecmp(address, "abuse", n) == 0);
}

/* The user's overrides over the domain's values. */
static void apply_prefs(const struct settings_base *b, struct policy_settings *s,
                        const struct user_prefs *u)
{
    const struct level_conf *lv = s->level;
    double tag, spam, kill;

    if ((u->set & UF_BIT(UF_LEVEL)) && level_find(b->in.levels, u->level) != NULL)
        lv = level_find(b->in.levels, u->level);
    tag = u->set & UF_BIT(UF_TAG) ? u->tag : lv->tag;
    spam = u->set & UF_BIT(UF_SPAM) ? u->spam : lv->spam;
    kill = u->set & UF_BIT(UF_KILL) ? u->kill : lv->kill;
    s->level = lv;
    if (tag <= spam && spam <= kill) {
        s->tag = tag;
        s->spam = spam;
        s->kill = kill;
    } else {
        s->tag = lv->tag;
        s->spam = lv->spam;
        s->kill = lv->kill;
    }
    if (u->set & UF_BIT(UF_GREYLISTING))
        s->greylisting = u->greylisting;
    if (u->set & UF_BIT(UF_STRICT_DNS))
        s->strict_dns = u->strict_dns;
    if (u->set & UF_BIT(UF_VIRUS_ACTION))
        s->virus_action = u->virus_action;
    if (u->set & UF_BIT(UF_FILE_ACTION))
        s->file_action = u->file_action;
    s->white[SCOPE_USER] = u->whitelist;
    s->black[SCOPE_USER] = u->blacklist;
    s->excl[SCOPE_USER] = u->exclusions;
}

struct policy_settings *settings_resolve(const struct settings_base *b, const char *address,
                                         bool submission, struct user_prefs *prefs)
{
    struct policy_settings *s = xcalloc(1, sizeof(*s));
    const char *at = strrchr(address, '@');
    const struct domain_lists *dl = domain_lists(b, at ? at + 1 : NULL);
    const struct domain_conf *d = dl->conf;

    s->address = xstrdup(address);
    s->kind = settings_domain_kind(b, at ? at + 1 : NULL);
    s->role = is_role(address, at, s->kind);
    s->domain = d;
    s->level = level_find(b->in.levels, d->level);
    s->tag = s->level->tag;
    s->spam = s->level->spam;
    s->kill = s->level->kill;
    s->greylisting = d->greylisting;
    s->strict_dns = d->strict_dns;
    s->virus_action = d->virus_action;
    s->file_action = d->file_action;
    s->white[SCOPE_DOMAIN] = dl->white;
    s->black[SCOPE_DOMAIN] = dl->black;
    s->excl[SCOPE_DOMAIN] = dl->excl;
    s->white[SCOPE_GLOBAL] = b->white;
    s->black[SCOPE_GLOBAL] = b->black;
    s->excl[SCOPE_GLOBAL] = b->excl;
    if (prefs != NULL) {
        s->prefs = user_prefs_ref(prefs);
        s->user_loaded = true;
        apply_prefs(b, s, prefs);
    }
    if (d->message_changes == CHANGES_HEADERS)
        s->header_only = true;
    else if (d->message_changes == CHANGES_AUTO)
        s->header_only = s->kind == DOMAIN_BACKUP;
    if (submission) {
        s->virus_action = CONTENT_REJECT;
        s->file_action = CONTENT_REJECT;
        s->header_only = true;
    }
    return s;
}

void settings_free(struct policy_settings *s)
{
    if (s == NULL)
        return;
    user_prefs_unref(s->prefs);
    free(s->address);
    free(s);
}

enum list_verdict settings_sender_listed(const struct policy_settings *s, const char *sender,
                                         const char *client_ip)
{
    int sc;

    for (sc = 0; sc < SCOPE_COUNT; sc++) {
        if (addr_list_match_sender(s->white[sc], sender, client_ip))
            return LISTED_WHITE;
        if (addr_list_match_sender(s->black[sc], sender, client_ip))
            return LISTED_BLACK;
    }
    return LISTED_NONE;
}

bool settings_rcpt_excluded(const struct policy_settings *s, const char *rcpt)
{
    int sc;

    for (sc = 0; sc < SCOPE_COUNT; sc++)
        if (addr_list_match_rcpt(s->excl[sc], rcpt))
            return true;
    return false;
}
