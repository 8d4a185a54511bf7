/*
 * dkim_key.c - parse a DKIM key record from DNS (see dkim_key.h). Pure; called by the
 * verifier once per TXT record found at selector._domainkey.domain.
 */
#include "mailauth/dkim_key.h"

#include "lib/base64.h"
#include "mailauth/dkim_tags.h"

#include <string.h>
#include <strings.h>

#define P_TEXT_MAX (BASE64_ENCODED_SIZE(DKIM_KEY_P_MAX))

const char *dkim_key_strerror(enum dkim_key_status st)
{
    switch (st) {
    case DKIM_KEY_OK:      return "ok";
    case DKIM_KEY_SYNTAX:  return "key record syntax error";
    case DKIM_KEY_VERSION: return "key record version is not DKIM1";
    case DKIM_KEY_NO_P:    return "key record has no p=";
    case DKIM_KEY_TYPE:    return "unknown key type";
    }
    return "?";
}

/* Call fn for each entry of a colon-separated list, whitespace trimmed. */
static void each_item(const struct dkim_tag *t, void (*fn)(const char *, size_t, void *),
                      void *arg)
{
    const char *p = t->value, *end = t->value + t->value_len;

    while (p <= end) {
        const char *colon = memchr(p, ':', (size_t)(end - p)), *e = colon ? colon : end;
        while (p < e && dkim_is_fws((unsigned char)*p))
            p++;
        while (e > p && dkim_is_fws((unsigned char)e[-1]))
            e--;
        fn(p, (size_t)(e - p), arg);
        if (colon == NULL)
            break;
        p = colon + 1;
    }
}

static bool word_is(const char *s, size_t len, const char *w)
{
    return len == strlen(w) && strncasecmp(s, w, len) == 0;
}

static void hash_item(const char *s, size_t len, void *arg)
{
    struct dkim_key *k = arg;
    if (word_is(s, len, "sha1"))
        k->allow_sha1 = true;
    else if (word_is(s, len, "sha256"))
        k->allow_sha256 = true;
}

static void service_item(const char *s, size_t len, void *arg)
{
    struct dkim_key *k = arg;
    if (word_is(s, len, "email") || word_is(s, len, "*"))
        k->service_email = true;
}

static void flag_item(const char *s, size_t len, void *arg)
{
    struct dkim_key *k = arg;
    if (word_is(s, len, "y"))
        k->testing = true;
    else if (word_is(s, len, "s"))
        k->strict = true;
}

static enum dkim_key_status parse_p(const struct dkim_tag *p, struct dkim_key *out)
{
    char text[P_TEXT_MAX];
    long n = dkim_tag_compact(p, text, sizeof(text));

    if (n < 0)
        return DKIM_KEY_SYNTAX;
    if (n == 0) {
        out->revoked = true;
        return DKIM_KEY_OK;
    }
    if (base64_decode(text, (size_t)n, out->p, sizeof(out->p), &out->p_len) != BASE64_OK)
        return DKIM_KEY_SYNTAX;
    return DKIM_KEY_OK;
}

enum dkim_key_status dkim_key_parse(const char *txt, size_t len, struct dkim_key *out)
{
    struct dkim_tags tags;
    const struct dkim_tag *t;

    memset(out, 0, sizeof(*out));
    out->type = DKIM_KEY_RSA;
    if (dkim_tags_parse(txt, len, &tags) != DKIM_TAGS_OK)
        return DKIM_KEY_SYNTAX;
    t = dkim_tags_find(&tags, "v");
    if (t && t != &tags.tag[0])
        return DKIM_KEY_SYNTAX;
    if (t && !dkim_tag_is(t, "DKIM1"))
        return DKIM_KEY_VERSION;
    t = dkim_tags_find(&tags, "k");
    if (t && word_is(t->value, t->value_len, "ed25519"))
        out->type = DKIM_KEY_ED25519;
    else if (t && !word_is(t->value, t->value_len, "rsa"))
        return DKIM_KEY_TYPE;
    if ((t = dkim_tags_find(&tags, "h")) != NULL)
        each_item(t, hash_item, out);
    else
        out->allow_sha1 = out->allow_sha256 = true;
    if ((t = dkim_tags_find(&tags, "s")) != NULL)
        each_item(t, service_item, out);
    else
        out->service_email = true;
    if ((t = dkim_tags_find(&tags, "t")) != NULL)
        each_item(t, flag_item, out);
    if ((t = dkim_tags_find(&tags, "p")) == NULL)
        return DKIM_KEY_NO_P;
    return parse_p(t, out);
}
