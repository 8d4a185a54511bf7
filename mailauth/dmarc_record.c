/*
 * dmarc_record.c - parse a DMARC policy record (see dmarc_record.h). The tag-list
 * grammar is DKIM's (mailauth/dkim_tags.c); this file gives the tags their DMARC meaning.
 */
#include "mailauth/dmarc_record.h"

#include "mailauth/dkim_tags.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static bool tag_name_is(const struct dkim_tag *t, const char *name)
{
    size_t n = strlen(name);
    return t->name_len == n && strncasecmp(t->name, name, n) == 0;
}

static bool value_is(const struct dkim_tag *t, const char *s)
{
    size_t n = strlen(s);
    return t->value_len == n && strncasecmp(t->value, s, n) == 0;
}

static bool parse_policy(const struct dkim_tag *t, enum dmarc_policy *out)
{
    if (value_is(t, "none"))
        *out = DMARC_POLICY_NONE;
    else if (value_is(t, "quarantine"))
        *out = DMARC_POLICY_QUARANTINE;
    else if (value_is(t, "reject"))
        *out = DMARC_POLICY_REJECT;
    else
        return false;
    return true;
}

static bool parse_align(const struct dkim_tag *t, enum dmarc_align *out)
{
    if (value_is(t, "r"))
        *out = DMARC_ALIGN_RELAXED;
    else if (value_is(t, "s"))
        *out = DMARC_ALIGN_STRICT;
    else
        return false;
    return true;
}

/* 1*3DIGIT, 0..100 */
static bool parse_pct(const struct dkim_tag *t, unsigned *out)
{
    unsigned v = 0;
    size_t i;

    if (t->value_len == 0 || t->value_len > 3)
        return false;
    for (i = 0; i < t->value_len; i++) {
        if (!isdigit((unsigned char)t->value[i]))
            return false;
        v = v * 10 + (unsigned)(t->value[i] - '0');
    }
    if (v > 100)
        return false;
    *out = v;
    return true;
}

/* 1*32DIGIT (ri=) */
static bool all_digits(const struct dkim_tag *t)
{
    size_t i;

    if (t->value_len == 0 || t->value_len > 32)
        return false;
    for (i = 0; i < t->value_len; i++)
        if (!isdigit((unsigned char)t->value[i]))
            return false;
    return true;
}

/* One URI of a reporting list: scheme ":" 1*non-space-non-comma-non-bang [ "!" size ].
 * The "!" of the size suffix is not allowed inside the URI (RFC 7489 6.4: it must be
 * percent-encoded there). */
static bool uri_valid(const char *s, size_t len)
{
    size_t i = 0, j;

    while (len > 0 && (s[0] == ' ' || s[0] == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0 || !isalpha((unsigned char)s[0]))
        return false;
    while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' ||
                       s[i] == '.'))
        i++;
    if (i >= len || s[i] != ':' || i + 1 >= len)
        return false;
    for (j = i + 1; j < len && s[j] != '!'; j++)
        if ((unsigned char)s[j] <= ' ' || (unsigned char)s[j] >= 0x7F)
            return false;
    if (j == i + 1)
        return false;
    if (j < len) {              /* "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] */
        size_t d = j + 1;
        while (d < len && isdigit((unsigned char)s[d]))
            d++;
        if (d == j + 1)
            return false;
        if (d < len && strchr("kmgtKMGT", s[d]) != NULL)
            d++;
        if (d != len)
            return false;
    }
    return true;
}

bool dmarc_uri_list_valid(const char *s, size_t len)
{
    size_t start = 0, i;

    for (i = 0; i <= len; i++) {
        if (i == len || s[i] == ',') {
            if (uri_valid(s + start, i - start))
                return true;
            start = i + 1;
        }
    }
    return false;
}

/* fo=: 0 / 1 / d / s separated by ":" */
static bool fo_valid(const struct dkim_tag *t)
{
    size_t i;
    bool want_opt = true;

    for (i = 0; i < t->value_len; i++) {
        char c = t->value[i];
        if (c == ' ' || c == '\t')
            continue;
        if (want_opt && strchr("01dsDS", c) != NULL && c != '\0')
            want_opt = false;
        else if (!want_opt && c == ':')
            want_opt = true;
        else
            return false;
    }
    return !want_opt;
}

const char *dmarc_policy_name(enum dmarc_policy p)
{
    switch (p) {
    case DMARC_POLICY_QUARANTINE: return "quarantine";
    case DMARC_POLICY_REJECT:     return "reject";
    default:                      return "none";
    }
}

/* Set *why to w unless something already said why. */
static void note(const char **why, const char *w)
{
    if (why != NULL && *why == NULL)
        *why = w;
}

enum dmarc_record_status dmarc_record_parse(const char *txt, size_t len,
                                            struct dmarc_record *out, const char **why)
{
    struct dkim_tags tags;
    enum dkim_tags_status ts;
    bool have_p = false, sp_ok;
    size_t i, k;

    memset(out, 0, sizeof(*out));
    out->pct = 100;
    if (why != NULL)
        *why = NULL;
    /* v=DMARC1 first, exactly (ABNF literals are case-insensitive); whitespace around
     * "=" is allowed by the tag grammar. */
    for (i = 0; i < len && (txt[i] == ' ' || txt[i] == '\t'); i++)
        ;
    if (i + 1 >= len || (txt[i] != 'v' && txt[i] != 'V')) {
        note(why, "does not start with v=DMARC1");
        return DMARC_REC_NOT_DMARC;
    }
    ts = dkim_tags_parse(txt, len, &tags);
    if (tags.n == 0 || !tag_name_is(&tags.tag[0], "v") || !value_is(&tags.tag[0], "DMARC1")) {
        note(why, "does not start with v=DMARC1");
        return DMARC_REC_NOT_DMARC;
    }
    if (ts != DKIM_TAGS_OK) {
        note(why, ts == DKIM_TAGS_DUPLICATE ? "a tag is given twice" : "malformed tag list");
        return DMARC_REC_INVALID;
    }
    for (i = 1; i < tags.n; i++)    /* names differing only in case count as twice too */
        for (k = 1; k < i; k++)
            if (tags.tag[i].name_len == tags.tag[k].name_len &&
                strncasecmp(tags.tag[i].name, tags.tag[k].name, tags.tag[i].name_len) == 0) {
                note(why, "a tag is given twice");
                return DMARC_REC_INVALID;
            }
    sp_ok = false;
    for (i = 1; i < tags.n; i++) {
        const struct dkim_tag *t = &tags.tag[i];
        bool ok = true;

        if (tag_name_is(t, "v")) {
            ok = false;
        } else if (tag_name_is(t, "p")) {
            ok = have_p = parse_policy(t, &out->p);
        } else if (tag_name_is(t, "sp")) {
            ok = sp_ok = parse_policy(t, &out->sp);
        } else if (tag_name_is(t, "adkim")) {
            ok = parse_align(t, &out->adkim);
        } else if (tag_name_is(t, "aspf")) {
            ok = parse_align(t, &out->aspf);
        } else if (tag_name_is(t, "pct")) {
            ok = parse_pct(t, &out->pct);
            if (!ok)
                out->pct = 100;
        } else if (tag_name_is(t, "rua")) {
            ok = out->has_rua = dmarc_uri_list_valid(t->value, t->value_len);
        } else if (tag_name_is(t, "ruf")) {
            ok = out->has_ruf = dmarc_uri_list_valid(t->value, t->value_len);
        } else if (tag_name_is(t, "fo")) {
            ok = fo_valid(t);
        } else if (tag_name_is(t, "rf")) {
            ok = t->value_len > 0;      /* a list of report formats; only afrf is defined */
        } else if (tag_name_is(t, "ri")) {
            ok = all_digits(t);
        } else {
            ok = false;                  /* unknown tags MUST be ignored (6.3) */
        }
        if (!ok) {
            out->ignored++;
            note(why, "a tag was ignored (unknown or bad value)");
        }
    }
    if (!have_p) {
        if (!out->has_rua) {
            if (why != NULL)
                *why = "no valid p= tag";
            return DMARC_REC_NO_POLICY;
        }
        out->p = DMARC_POLICY_NONE;    /* 6.6.3 step 6: act as if p=none */
        out->p_implied = true;
        note(why, "no valid p= tag; p=none because rua= is valid");
    }
    out->has_sp = sp_ok;
    if (!sp_ok)
        out->sp = out->p;
    return DMARC_REC_OK;
}
