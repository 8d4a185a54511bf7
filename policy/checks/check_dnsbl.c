/*
 * check_dnsbl.c - DNS blocklists and allowlists: the client address (IPv4 reversed, IPv6 by
 * nibbles) against the zones of type "ip" at CONNECT, the HELO name (HELO) and the
 * sender domain (MAIL) against the zones of type "domain" (RHSBL). Every zone of a stage
 * is queried at once.
 *
 * Each zone (profile setting "zones", a map by zone name) names its symbol (default from
 * the zone: zen.spamhaus.org -> DNSBL_ZEN, RHSBL_... for domain zones) and its score for
 * any listing, and optionally rules per return code ("127.0.0.2=SBL:4", "127.0.0.4-7=XBL",
 * "&8=ABUSE:3": lib/dnscheck.h dnsbl_code_parse) that give SYMBOL_SUFFIX instead. An
 * allowlist zone ("allow": true, negative scores) also sets the session fact
 * dnswl.listed (greylisting skips those clients).
 *
 * Never a listing: answers outside 127.0.0.0/8 (a resolver that wildcards NXDOMAIN), and
 * 127.255.255.x (Spamhaus: query refused, open or public resolver, rate limited, no key):
 * those give DNSBL_REFUSED (score 0), are logged once per hour per zone and raise
 * policy.check_unavailable once per outage (service "dnsbl:ZONE"). Temporary failures
 * give DNSBL_TEMPFAIL (score 0); the stage deadline gives DNSBL_TIMEOUT; both accept.
 *
 * A zone with "refuse": "always" (or "strict": recipients with strict_dns) refuses
 * listed clients at RCPT: 554 5.7.1 Service unavailable; Client host [IP] blocked using
 * ZONE (Postfix' text). Default "never": scores only.
 */
#include "policy/checks/checks.h"
#include "policy/checks/skip_networks.h"

#include "lib/dns_batch.h"
#include "lib/dnscheck.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "policy/outage.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ZONES_MAX 32
#define CODES_MAX 32
#define SYM_MAX   64

enum { ZONE_IP, ZONE_DOMAIN };
enum { REFUSE_NEVER, REFUSE_STRICT, REFUSE_ALWAYS };

struct zone_conf {
    char *name;                   /* the zone: the map key */
    char *symbol;
    double score;
    struct conf_strlist codes;
    int type;
    bool ipv6;
    bool allow;
    int refuse;
};

struct dnsbl_settings {
    struct conf_strlist skip_networks;
    struct conf_array zones;      /* struct zone_conf */
};

static const char *const type_choices[] = { "ip", "domain", NULL };
static const char *const refuse_choices[] = { "never", "strict", "always", NULL };

static int zone_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    struct zone_conf *z = obj;
    struct dnsbl_code code;
    const char *why;
    int bad = 0;
    size_t i;

    if (!dns_hostname_valid(z->name) || strchr(z->name, '.') == NULL)
        bad += conf_error(errs, pointer, "\"%s\" is not a DNS zone", z->name);
    if (z->symbol != NULL && (strlen(z->symbol) > 40 || !symbol_name_valid(z->symbol)))
        bad += conf_error(errs, pointer, "symbol \"%s\" is not 1..40 of A-Z 0-9 _", z->symbol);
    if (z->codes.n > CODES_MAX)
        bad += conf_error(errs, pointer, "at most %d codes", CODES_MAX);
    for (i = 0; i < z->codes.n; i++)
        if (dnsbl_code_parse(z->codes.v[i], &code, &why) < 0)
            bad += conf_error(errs, pointer, "codes: \"%s\": %s", z->codes.v[i], why);
    return bad;
}

#define ZS(f) offsetof(struct zone_conf, f)
static const struct conf_key zone_keys[] = {
    { .name = "symbol", .type = CONF_STRING, .offset = ZS(symbol),
      .help = "the symbol of a listing (default: DNSBL_ or RHSBL_ and the zone's name)" },
    { .name = "score", .type = CONF_NUMBER, .offset = ZS(score), .def = "3",
      .help = "score of a listing no code rule names (negative for an allowlist)" },
    { .name = "codes", .type = CONF_STRLIST, .offset = ZS(codes),
      .help = "return codes: \"127.0.0.2=SBL:4\", \"127.0.0.4-7=XBL\", \"&8=ABUSE:3\" give "
              "SYMBOL_SUFFIX with that score (else the zone's)" },
    { .name = "type", .type = CONF_ENUM, .offset = ZS(type), .def = "ip",
      .choices = type_choices,
      .help = "ip: the client address; domain: the HELO name and the sender domain" },
    { .name = "ipv6", .type = CONF_BOOL, .offset = ZS(ipv6), .def = "true",
      .help = "query IPv6 clients (nibble form) too" },
    { .name = "allow", .type = CONF_BOOL, .offset = ZS(allow), .def = "false",
      .help = "an allowlist (DNSWL): sets the fact dnswl.listed" },
    { .name = "refuse", .type = CONF_ENUM, .offset = ZS(refuse), .def = "never",
      .choices = refuse_choices,
      .help = "refuse listed clients at RCPT (554 5.7.1): never, strict (strict_dns "
              "recipients) or always" },
    { .name = NULL }
};
static const struct conf_section zone_section = { .name = "dnsbl zone", .keys = zone_keys,
                                                  .validate = zone_validate };

static const struct conf_key dnsbl_keys[] = {
    { .name = "zones", .type = CONF_MAP, .offset = offsetof(struct dnsbl_settings, zones),
      .sub = &zone_section, .elem_size = sizeof(struct zone_conf),
      .help = "the zones to query, by name: {\"zen.spamhaus.org\": {\"codes\": [...]}}" },
    SKIP_NETWORKS_KEY(struct dnsbl_settings, skip_networks),
    { .name = NULL }
};

static int dnsbl_section_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct dnsbl_settings *s = obj;

    return skip_networks_validate(&s->skip_networks, pointer, errs);
}
static const struct conf_section dnsbl_section = {
    .name = "dnsbl", .keys = dnsbl_keys, .validate = dnsbl_section_validate,
};

static const struct symbol_def dnsbl_symbols[] = {
    { "DNSBL_REFUSED", 0, "a DNSBL refused the query (127.255.255.x): not a listing" },
    { "DNSBL_TEMPFAIL", 0, "a DNSBL lookup failed temporarily" },
    { NULL, 0, NULL }
};

/* ---- instance state -------------------------------------------------------------------- */

struct zone {
    const struct zone_conf *conf;
    char symbol[SYM_MAX];
    struct dnsbl_code codes[CODES_MAX];
    char code_sym[CODES_MAX][SYM_MAX + 26];
    size_t ncodes;
    time_t refused_logged;
};

struct dnsbl_state {
    const struct engine_env *env;
    struct zone zones[ZONES_MAX];
    size_t n;
};

static void zone_symbol(const struct zone_conf *z, char *out, size_t outlen)
{
    if (z->symbol != NULL)
        snprintf(out, outlen, "%s", z->symbol);
    else if (dnsbl_default_symbol(z->name, z->type == ZONE_DOMAIN, out, outlen) < 0)
        snprintf(out, outlen, "%s", z->type == ZONE_DOMAIN ? "RHSBL_LISTED" : "DNSBL_LISTED");
}

static void dnsbl_settings_symbols(const void *settings,
                                   void (*add)(void *ctx, const struct symbol_def *def),
                                   void *ctx)
{
    const struct dnsbl_settings *s = settings;
    const struct zone_conf *z = s->zones.items;
    size_t i, j;

    for (i = 0; i < s->zones.n; i++) {
        char sym[SYM_MAX], csym[SYM_MAX + 26], desc[320];
        struct dnsbl_code code;
        const char *why;
        zone_symbol(&z[i], sym, sizeof(sym));
        snprintf(desc, sizeof(desc), "listed on %s", z[i].name);
        add(ctx, &(struct symbol_def){ sym, z[i].score, desc });
        for (j = 0; j < z[i].codes.n; j++) {
            if (dnsbl_code_parse(z[i].codes.v[j], &code, &why) < 0)
                continue;
            snprintf(csym, sizeof(csym), "%s_%s", sym, code.suffix);
            snprintf(desc, sizeof(desc), "listed on %s (%s)", z[i].name, z[i].codes.v[j]);
            add(ctx, &(struct symbol_def){ csym, code.has_score ? code.score : z[i].score,
                                           desc });
        }
    }
}

static int dnsbl_init(const struct engine_env *env, const void *settings, void **state)
{
    const struct dnsbl_settings *s = settings;
    const struct zone_conf *z = s->zones.items;
    struct dnsbl_state *st;
    size_t i, j;

    if (s->zones.n > ZONES_MAX) {
        log_error("policy", "dnsbl: at most %d zones", ZONES_MAX);
        return -1;
    }
    st = xcalloc(1, sizeof(*st));
    st->env = env;
    for (i = 0; i < s->zones.n; i++) {
        struct zone *zo = &st->zones[st->n++];
        const char *why;
        zo->conf = &z[i];
        zone_symbol(&z[i], zo->symbol, sizeof(zo->symbol));
        for (j = 0; j < z[i].codes.n && j < CODES_MAX; j++)
            if (dnsbl_code_parse(z[i].codes.v[j], &zo->codes[zo->ncodes], &why) == 0) {
                char sym[sizeof(zo->code_sym[0])];
                snprintf(sym, sizeof(sym), "%s_%s", zo->symbol, zo->codes[zo->ncodes].suffix);
                memcpy(zo->code_sym[zo->ncodes], sym, sizeof(sym));
                zo->ncodes++;
            }
    }
    *state = st;
    return 0;
}

static void dnsbl_free(void *state)
{
    free(state);
}

/* ---- a call ---------------------------------------------------------------------------- */

struct dnsbl_call;
struct zone_arg {
    struct dnsbl_call *dc;
    struct zone *z;
    char what[256];               /* the IP or domain queried */
};

struct dnsbl_call {
    struct check_call *c;
    struct dns_batch *b;
    struct zone_arg args[ZONES_MAX];
    bool refused_sym, temp_sym;
};

static void listed(struct dnsbl_call *dc, struct zone_arg *za, uint32_t addr)
{
    struct check_call *c = dc->c;
    struct zone *z = za->z;
    char text[300];
    bool matched = false, negative = false;
    size_t i;

    snprintf(text, sizeof(text), "%s %u.%u.%u.%u", za->what, addr >> 24, (addr >> 16) & 255,
             (addr >> 8) & 255, addr & 255);
    for (i = 0; i < z->ncodes; i++)
        if (dnsbl_code_match(&z->codes[i], addr)) {
            check_symbol(c, CHECK_ALL, z->code_sym[i], 1, text);
            matched = true;
            negative |= (z->codes[i].has_score ? z->codes[i].score : z->conf->score) < 0;
        }
    if (!matched) {
        check_symbol(c, CHECK_ALL, z->symbol, 1, text);
        negative = z->conf->score < 0;
    }
    /* an allowlist's code with a score >= 0 (DNSWL's 127.0.0.255 "over the limit" given
       as "127.0.0.255=LIMIT:0") is not an allowlisting */
    if (z->conf->allow && negative)
        check_fact_set(c, FACT_SESSION, "dnswl.listed", json_true());
    if (z->conf->refuse != REFUSE_NEVER && z->conf->type == ZONE_IP && !z->conf->allow)
        check_fact_set(c, FACT_SESSION, "dnsbl.refuse",
                       json_pack("{s:s, s:s}", "zone", z->conf->name, "mode",
                                 z->conf->refuse == REFUSE_ALWAYS ? "always" : "strict"));
}

static void on_answer(const struct dns_result *res, void *arg)
{
    struct zone_arg *za = arg;
    struct dnsbl_call *dc = za->dc;
    const struct engine_env *env = check_call_env(dc->c);
    char service[300];
    bool refused = false, any_listed = false;
    size_t i;

    snprintf(service, sizeof(service), "dnsbl:%s", za->z->conf->name);
    if (res->status != DNS_OK) {
        if (dns_status_is_temporary(res->status) && !dc->temp_sym) {
            dc->temp_sym = true;
            check_symbol(dc->c, CHECK_ALL, "DNSBL_TEMPFAIL", 1, za->z->conf->name);
        } else if (!dns_status_is_temporary(res->status) && env->outages != NULL) {
            outage_up(env->outages, service);
        }
        return;
    }
    for (i = 0; i < res->n; i++) {
        uint32_t addr = ntohl(res->a[i].s_addr);
        switch (dnsbl_kind(addr)) {
        case DNSBL_REFUSED:
            refused = true;
            break;
        case DNSBL_LISTED:
            any_listed = true;
            listed(dc, za, addr);
            break;
        case DNSBL_BOGUS:
            break;
        }
    }
    if (refused) {
        time_t now = time(NULL);
        if (!dc->refused_sym) {
            dc->refused_sym = true;
            check_symbol(dc->c, CHECK_ALL, "DNSBL_REFUSED", 1, za->z->conf->name);
        }
        if (za->z->refused_logged == 0 || now - za->z->refused_logged >= 3600) {
            za->z->refused_logged = now;
            log_warn("policy", "dnsbl: %s refused the query (127.255.255.x: open resolver, "
                     "rate limit or missing key); its answers are ignored",
                     za->z->conf->name);
        }
        if (env->outages != NULL)
            outage_down(env->outages, service, "dnsbl", "query refused (127.255.255.x)");
    } else if (any_listed && env->outages != NULL) {
        outage_up(env->outages, service);
    }
}

static void call_free(struct dnsbl_call *dc)
{
    dns_batch_free(dc->b);
    free(dc);
}

static void on_done(void *arg)
{
    struct dnsbl_call *dc = arg;
    struct check_call *c = dc->c;

    check_call_set_priv(c, NULL);
    call_free(dc);
    check_done(c);
}

static enum call_status dnsbl_lookups(struct check_call *c)
{
    struct dnsbl_state *st = check_call_state(c);
    const struct engine_env *env = check_call_env(c);
    enum engine_stage stage = check_call_stage(c);
    const char *what = NULL, *at;
    struct in6_addr v6;
    bool is_v6;
    struct dnsbl_call *dc;
    size_t i, n = 0;

    if (stage == STAGE_CONNECT) {
        what = check_call_client_ip(c);
    } else if (stage == STAGE_HELO) {
        what = check_call_helo(c);
        if (what == NULL || !dns_hostname_valid(what) || strchr(what, '.') == NULL)
            return CALL_DONE;
    } else {
        const char *sender = check_call_sender(c);
        if (sender == NULL || (at = strrchr(sender, '@')) == NULL || at[1] == '[' ||
            !dns_hostname_valid(at + 1))
            return CALL_DONE;
        what = at + 1;
    }
    if (st == NULL || what == NULL || env->dns == NULL)
        return CALL_DONE;
    is_v6 = stage == STAGE_CONNECT && inet_pton(AF_INET6, what, &v6) == 1 &&
            !IN6_IS_ADDR_V4MAPPED(&v6);
    dc = xcalloc(1, sizeof(*dc));
    dc->c = c;
    dc->b = dns_batch_new(env->dns, on_done, dc);
    for (i = 0; i < st->n; i++) {
        struct zone *z = &st->zones[i];
        struct zone_arg *za = &dc->args[n];
        if ((z->conf->type == ZONE_IP) != (stage == STAGE_CONNECT) || (is_v6 && !z->conf->ipv6))
            continue;
        za->dc = dc;
        za->z = z;
        snprintf(za->what, sizeof(za->what), "%s", what);
        n++;
        if (z->conf->type == ZONE_IP) {
            dns_batch_dnsbl(dc->b, what, z->conf->name, on_answer, za);
        } else {
            char name[600];
            size_t wl = strlen(what);
            if (wl > 0 && what[wl - 1] == '.')
                wl--;      /* "host.example." */
            snprintf(name, sizeof(name), "%.*s.%s", (int)wl, what, z->conf->name);
            dns_batch_lookup(dc->b, DNS_T_A, name, on_answer, za);
        }
    }
    if (dns_batch_seal(dc->b)) {
        call_free(dc);
        return CALL_DONE;
    }
    check_call_set_priv(c, dc);
    return CALL_PENDING;
}

static enum call_status dnsbl_rcpt(struct check_call *c)
{
    json_t *r = check_fact(c, "dnsbl.refuse");
    const char *zone = json_string_value(json_object_get(r, "zone"));
    const char *mode = json_string_value(json_object_get(r, "mode"));
    size_t i;

    if (zone == NULL || mode == NULL)
        return CALL_DONE;
    for (i = 0; i < check_call_nrcpt(c); i++) {
        const struct policy_settings *ps = check_call_rcpt_settings(c, i);
        if (strcmp(mode, "always") != 0 && (ps == NULL || !ps->strict_dns))
            continue;
        check_verdict(c, (ssize_t)i, VERDICT_REFUSE, 554, "5.7.1",
                      "Service unavailable; Client host [%s] blocked using %s",
                      check_call_client_ip(c), zone);
    }
    return CALL_DONE;
}

static enum call_status dnsbl_run(struct check_call *c)
{
    const struct dnsbl_settings *s = check_call_settings(c);

    if (skip_networks_match(&s->skip_networks, check_call_client_ip(c)) ||
        skip_networks_match(check_call_env(c)->dns_skip_networks, check_call_client_ip(c)))
        return CALL_DONE;
    return check_call_stage(c) == STAGE_RCPT ? dnsbl_rcpt(c) : dnsbl_lookups(c);
}

static void dnsbl_cancel(struct check_call *c)
{
    struct dnsbl_call *dc = check_call_priv(c);

    if (dc != NULL)
        call_free(dc);
    check_call_set_priv(c, NULL);
}

const struct check_def check_dnsbl = {
    .name = "dnsbl",
    .description = "DNS blocklists and allowlists: client address, HELO name, sender domain",
    .stages = STAGE_BIT(STAGE_CONNECT) | STAGE_BIT(STAGE_HELO) | STAGE_BIT(STAGE_MAIL) |
              STAGE_BIT(STAGE_RCPT),
    .directions = DIR_INBOUND | DIR_BACKUP,
    .group = 50,
    .async = true,
    .flags = CHECK_ROLE_BYPASS | CHECK_WHITELIST_BYPASS | CHECK_USES_SETTINGS,
    .unsure = UNSURE_ACCEPT,
    .reason = "dnsbl",
    .symbols = dnsbl_symbols,
    .settings = &dnsbl_section,
    .settings_size = sizeof(struct dnsbl_settings),
    .settings_symbols = dnsbl_settings_symbols,
    .init = dnsbl_init,
    .free = dnsbl_free,
    .run = dnsbl_run,
    .cancel = dnsbl_cancel,
};
