/*
 * sender_owner.c - sender ownership for authenticated submission (see sender_owner.h).
 *
 * Owns no state: the map is auth_conf.senders, filled by the config engine from
 * "auth.senders" and by sender_map_read() from "auth.sender_map", then sorted by login.
 * sender_owned() binary-searches it; a login may have several entries (one from the
 * config, one from the file), which are all consulted.
 * The From: extraction is a small RFC 5322 scanner for one mailbox: it drops comments
 * and folding whitespace, keeps quoted strings whole, takes the angle address when there
 * is one (the display name is ignored) and refuses lists and groups, so a message can
 * never pass the check with a second, unowned address hidden in its From: header.
 * Pure functions; config load (loop thread) and sessions (loop thread) call them.
 */
#include "auth/sender_owner.h"

#include "auth/auth_conf.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHAR_DEL 0x7F

/* ---- ownership ------------------------------------------------------------------------ */

static int sender_cmp_login(const void *key, const void *elem)
{
    return strcasecmp(key, ((const struct auth_sender *)elem)->login);
}

static int sender_cmp_entries(const void *a, const void *b)
{
    return strcasecmp(((const struct auth_sender *)a)->login,
                      ((const struct auth_sender *)b)->login);
}

void sender_map_sort(struct conf_array *senders)
{
    if (senders->n > 1)
        qsort(senders->items, senders->n, sizeof(struct auth_sender), sender_cmp_entries);
}

/* The domain of a bare address (after its last '@'), or NULL if it has none or an empty
 * local part. */
static const char *addr_domain(const char *addr)
{
    const char *at = strrchr(addr, '@');
    if (at == NULL || at == addr || at[1] == '\0')
        return NULL;
    return at + 1;
}

static bool entry_allows(const struct auth_sender *e, const char *addr, const char *domain)
{
    size_t i;
    for (i = 0; i < e->addresses.n; i++) {
        const char *p = e->addresses.v[i];
        if (p[0] == '@' ? strcasecmp(p + 1, domain) == 0 : strcasecmp(p, addr) == 0)
            return true;
    }
    return false;
}

bool sender_owned(const struct auth_conf *conf, const char *login, const char *mail_from_addr)
{
    const struct auth_sender *base = conf->senders.items, *hit, *e, *end;
    const char *domain;

    if (login == NULL || mail_from_addr == NULL || (domain = addr_domain(mail_from_addr)) == NULL)
        return false;
    hit = conf->senders.n ? bsearch(login, base, conf->senders.n, sizeof(*base),
                                    sender_cmp_login)
                          : NULL;
    if (hit == NULL)
        return addr_domain(login) != NULL && strcasecmp(login, mail_from_addr) == 0;
    end = base + conf->senders.n;
    for (e = hit; e > base && strcasecmp(e[-1].login, login) == 0; e--)
        ;
    for (; e < end && strcasecmp(e->login, login) == 0; e++) {
        if (entry_allows(e, mail_from_addr, domain))
            return true;
    }
    return false;
}

bool sender_pattern_valid(const char *s)
{
    const char *at = strrchr(s, '@'), *p;

    if (at == NULL || at[1] == '\0')
        return false;
    for (p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c == CHAR_DEL || c == '<' || c == '>' || c == ',')
            return false;
    }
    return true;
}

/* ---- From: header --------------------------------------------------------------------- */

/* The scanner's output so far: the address being collected and what was seen. */
struct from_scan {
    char *out;
    size_t size, len;
    bool in_angle, angle_done;
    bool gap;        /* whitespace or a comment since the last byte */
    bool phrase;     /* words separated by a gap: a display name, not an address */
    bool too_long;
};

static bool is_fws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Skip a comment starting at v[i] == '(' (nested, with quoted pairs). Returns the index
 * after it, or len + 1 when it is not closed. */
static size_t skip_comment(const char *v, size_t len, size_t i)
{
    int depth = 0;
    for (; i < len; i++) {
        if (v[i] == '\\')
            i++;
        else if (v[i] == '(')
            depth++;
        else if (v[i] == ')' && --depth == 0)
            return i + 1;
    }
    return len + 1;
}

/* Append one byte of address text. Words separated by whitespace or a comment are only
 * allowed around '.' and '@' (RFC 5322 obsolete syntax); anything else is a phrase, which
 * is fine as a display name but not as an address. */
static void scan_put(struct from_scan *s, char c)
{
    if (s->gap && s->len > 0 && c != '.' && c != '@' && s->out[s->len - 1] != '.' &&
        s->out[s->len - 1] != '@')
        s->phrase = true;
    s->gap = false;
    if (s->len + 1 >= s->size)
        s->too_long = true;
    else
        s->out[s->len++] = c;
}

/* Copy a quoted string starting at v[i] == '"'; returns the index after it, 0 on error. */
static size_t scan_quoted(struct from_scan *s, const char *v, size_t len, size_t i)
{
    size_t j;
    for (j = i + 1; j < len && v[j] != '"'; j++) {
        if (v[j] == '\\' && j + 1 < len)
            j++;
    }
    if (j >= len)
        return 0;
    for (; i <= j; i++)
        scan_put(s, v[i]);
    return j + 1;
}

/* Handle the structural characters < > , : ; outside quotes and comments. */
static enum sender_from_status scan_special(struct from_scan *s, char c)
{
    if (c == ',' || c == ':' || c == ';')
        return s->in_angle ? SENDER_FROM_SYNTAX : SENDER_FROM_MULTIPLE;
    if (c == '<') {
        if (s->in_angle || s->angle_done)
            return SENDER_FROM_SYNTAX;
        s->in_angle = true;
        s->len = 0;          /* what came before was the display name */
        s->gap = s->phrase = s->too_long = false;
        return SENDER_FROM_OK;
    }
    if (!s->in_angle)         /* '>' without '<' */
        return SENDER_FROM_SYNTAX;
    s->in_angle = false;
    s->angle_done = true;
    return SENDER_FROM_OK;
}

/* True when addr is "local@domain": one '@' outside quotes, both sides non-empty. */
static bool from_addr_valid(const char *addr)
{
    bool quoted = false;
    const char *at = NULL, *p;

    for (p = addr; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < ' ' || c == CHAR_DEL)
            return false;
        if (quoted && c == '\\' && p[1] != '\0')
            p++;
        else if (c == '"')
            quoted = !quoted;
        else if (!quoted && c == '@') {
            if (at != NULL)
                return false;
            at = p;
        } else if (!quoted && (c == '\\' || c == '(' || c == ')'))
            return false;
    }
    return !quoted && at != NULL && at != addr && at[1] != '\0';
}

/* Scan one character position; returns the next index or 0 with *st set on error. */
static size_t scan_step(struct from_scan *s, const char *v, size_t len, size_t i,
                        enum sender_from_status *st)
{
    char c = v[i];

    if (is_fws(c)) {
        s->gap = true;
        return i + 1;
    }
    if (c == '(') {
        size_t next = skip_comment(v, len, i);
        s->gap = true;
        if (next > len)
            *st = SENDER_FROM_SYNTAX;
        return next > len ? 0 : next;
    }
    if (s->angle_done) {       /* only comments and whitespace may follow <addr> */
        *st = c == ',' ? SENDER_FROM_MULTIPLE : SENDER_FROM_SYNTAX;
        return 0;
    }
    if (c == '"') {
        size_t next = scan_quoted(s, v, len, i);
        if (next == 0)
            *st = SENDER_FROM_SYNTAX;
        return next;
    }
    if (c == '<' || c == '>' || c == ',' || c == ':' || c == ';') {
        *st = scan_special(s, c);
        return *st == SENDER_FROM_OK ? i + 1 : 0;
    }
    if (c == '\\') {
        *st = SENDER_FROM_SYNTAX;
        return 0;
    }
    scan_put(s, c);
    return i + 1;
}

enum sender_from_status sender_from_address(const char *value, size_t len, char *out,
                                            size_t out_size)
{
    struct from_scan s = { .out = out, .size = out_size };
    enum sender_from_status st = SENDER_FROM_OK;
    size_t i = 0;

    if (out_size == 0)
        return SENDER_FROM_TOO_LONG;
    out[0] = '\0';
    while (i < len) {
        i = scan_step(&s, value, len, i, &st);
        if (st != SENDER_FROM_OK)
            return st;
    }
    if (s.in_angle || s.phrase)
        return SENDER_FROM_SYNTAX;
    if (s.too_long)
        return SENDER_FROM_TOO_LONG;
    out[s.len] = '\0';
    if (s.len == 0)
        return SENDER_FROM_EMPTY;
    if (!from_addr_valid(out)) {
        out[0] = '\0';
        return SENDER_FROM_SYNTAX;
    }
    return SENDER_FROM_OK;
}

bool sender_header_from_matches(const struct auth_conf *conf, const char *login,
                                const char *from_value, size_t len)
{
    char addr[SENDER_MAP_LINE_MAX];

    if (sender_from_address(from_value, len, addr, sizeof(addr)) != SENDER_FROM_OK)
        return false;
    return sender_owned(conf, login, addr);
}

/* ---- sender_map file ------------------------------------------------------------------ */

#define MAP_SEPARATORS " \t,"

static void map_error(char *err, size_t errlen, const char *path, unsigned line,
                      const char *what)
{
    snprintf(err, errlen, "%s:%u: %s", path, line, what);
}

/* Parse "login  addr, addr ..." (line is modified) into a new element of senders. */
static const char *map_parse_line(char *line, struct conf_array *senders)
{
    struct auth_sender *e;
    char *save = NULL, *login, *tok;

    login = strtok_r(line, " \t", &save);
    if (login == NULL)
        return NULL;
    senders->items = xrealloc(senders->items, (senders->n + 1) * sizeof(*e));
    e = (struct auth_sender *)senders->items + senders->n++;
    memset(e, 0, sizeof(*e));
    e->login = xstrdup(login);
    while ((tok = strtok_r(NULL, MAP_SEPARATORS, &save)) != NULL) {
        if (!sender_pattern_valid(tok))
            return "expected addresses like user@domain or @domain";
        e->addresses.v = xrealloc(e->addresses.v, (e->addresses.n + 1) * sizeof(char *));
        e->addresses.v[e->addresses.n++] = xstrdup(tok);
    }
    return e->addresses.n == 0 ? "a login needs at least one address" : NULL;
}

int sender_map_read(const char *path, struct conf_array *senders, char *err, size_t errlen)
{
    char buf[SENDER_MAP_LINE_MAX + 2];
    unsigned lineno = 0;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(buf, sizeof(buf), f) != NULL) {
        size_t n = strlen(buf);
        const char *what;
        lineno++;
        if (n > 0 && buf[n - 1] != '\n' && !feof(f)) {
            map_error(err, errlen, path, lineno, "line too long");
            fclose(f);
            return -1;
        }
        buf[strcspn(buf, "\r\n")] = '\0';
        if (buf[strspn(buf, " \t")] == '#')
            continue;
        if ((what = map_parse_line(buf, senders)) != NULL) {
            map_error(err, errlen, path, lineno, what);
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}
