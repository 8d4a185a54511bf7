/*
 * spf.c - the SPF evaluator: RFC 7208 check_host() as a state machine driven by DNS
 * answers (see spf.h for the contract).
 *
 * Shape of one check:
 *   start      -> identity (MAIL FROM, or postmaster@HELO), initial checks (4.3), a top
 *                 frame for the domain, the deadline timer
 *   frame      -> TXT lookup -> exactly one "v=spf1" record -> parsed whole (permerror on
 *                 any syntax error) -> terms in order (terms_run)
 *   term       -> ip4/ip6/all answer at once; a/mx/ptr/exists/include are counted against
 *                 the lookup limit and wait for their batch of lookups; include pushes a
 *                 child frame whose result comes back to the include term
 *   no match   -> redirect= replaces the frame's domain and record, else neutral
 *   top result -> for fail, the exp= TXT lookup and expansion (failures ignored)
 *   finish     -> pending lookups cancelled, the callback runs from done_ev
 * A step that waits for DNS stores its continuation in `cont`; the lookups of one step
 * form a batch (up to SPF_BATCH_MAX in flight together) and the continuation runs when
 * the last one has answered. %{p} and the ptr mechanism share the validated names of
 * the client (PTR, then A/AAAA of up to 10 names), looked up once per check.
 * Everything runs on the loop thread; the callback is never called from inside
 * spf_check_start() or a resolver call.
 */
#include "mailauth/spf.h"

#include "mailauth/spf_ip.h"
#include "mailauth/spf_macro.h"
#include "mailauth/spf_record.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SPF_BATCH_MAX 10                /* lookups of one step in flight together */
#define SPF_MX_MAX 10                   /* MX hosts per mx mechanism (more: permerror) */
#define SPF_PTR_MAX SPF_VALIDATED_MAX   /* PTR names looked at */
#define SPF_DEPTH_MAX (SPF_LOOKUP_LIMIT + 1)
#define SPF_LABEL_MAX 63
#define SPF_COMMENT_MAX 512
#define MS_PER_S 1000
#define US_PER_MS 1000

enum purpose {
    P_RECORD,                           /* TXT: the SPF record of a frame */
    P_EXP,                              /* TXT: the exp= explanation */
    P_ADDR,                             /* A/AAAA: does one match the client (prefix)? */
    P_EXISTS,                           /* A: any record? */
    P_NAMES,                            /* MX or PTR: the names */
};

struct spf_slot {
    struct spf_check *c;
    void *handle;                       /* while in flight */
    enum dns_status status;
    size_t n;                           /* records in the answer */
    bool match;                         /* P_ADDR */
    int nspf;                           /* P_RECORD: "v=spf1" records seen */
    char *text;                         /* P_RECORD / P_EXP: the record (owned) */
    size_t text_len;
    char **names;                       /* P_NAMES: owned, n_names of them */
    size_t n_names;
};

struct spf_frame {
    struct spf_frame *parent;
    bool included;                      /* entered by include: the result goes to parent */
    bool redirected;                    /* reached by redirect=: "none" is permerror */
    char domain[SPF_DOMAIN_MAX + 1];
    struct spf_record *rec;
    size_t next;                        /* current term; rec->n: the redirect step */
    int phase;                          /* of the current term: 0 = not started */
    bool counted;                       /* current term counted against the limit */
    enum spf_result child;              /* result of the include just evaluated */
};

enum vn_state { VN_UNKNOWN, VN_PENDING, VN_DONE };

struct spf_check {
    struct event_base *base;
    struct spf_resolver res;
    spf_done_cb cb;
    void *arg;
    struct event *deadline_ev, *done_ev;
    bool finished, in_exp;

    struct spf_ip ip;
    char ip_text[SPF_IP_TEXT_MAX], ip_dotted[SPF_IP_REVERSE_MAX];
    char *client_ip, *helo, *receiver, *sender, *local, *sender_domain;
    enum spf_identity identity;
    long long now;

    unsigned lookups, voids, depth;
    struct spf_frame *frame;

    enum purpose purpose;               /* the batch in flight */
    int addr_prefix;                    /* P_ADDR: prefix length for the client's family */
    struct spf_slot slots[SPF_BATCH_MAX];
    size_t nslots, pending;
    void (*cont)(struct spf_check *c);

    enum vn_state vn;                   /* validated names for ptr and %{p} */
    enum dns_status vn_ptr_status;
    char *vn_names[SPF_PTR_MAX];
    size_t vn_n;
    char *vn_cand[SPF_PTR_MAX];
    size_t vn_ncand;
    void (*vn_resume)(struct spf_check *c);

    char *exp_text;                     /* the TXT exp= pointed to, before expansion */
    char exp_domain[SPF_DOMAIN_MAX + 1];

    struct spf_outcome out;
    char *mechanism, *explanation, *comment;
    char mech_domain[SPF_DOMAIN_MAX + 1];
};

enum term_res { T_MATCH, T_NOMATCH, T_WAIT, T_STOP };

static void terms_run(struct spf_check *c);
static void frame_fetch(struct spf_check *c);

/* ---- names and results ------------------------------------------------------------- */

const char *spf_result_str(enum spf_result r)
{
    static const char *const names[] = {
        [SPF_RESULT_NONE] = "none", [SPF_RESULT_NEUTRAL] = "neutral",
        [SPF_RESULT_PASS] = "pass", [SPF_RESULT_FAIL] = "fail",
        [SPF_RESULT_SOFTFAIL] = "softfail", [SPF_RESULT_TEMPERROR] = "temperror",
        [SPF_RESULT_PERMERROR] = "permerror",
    };
    return (unsigned)r < sizeof(names) / sizeof(names[0]) ? names[r] : "?";
}

const char *spf_identity_str(enum spf_identity id)
{
    return id == SPF_ID_HELO ? "helo" : "mailfrom";
}

static enum spf_result qualifier_result(char q)
{
    switch (q) {
    case '-': return SPF_RESULT_FAIL;
    case '~': return SPF_RESULT_SOFTFAIL;
    case '?': return SPF_RESULT_NEUTRAL;
    default: return SPF_RESULT_PASS;
    }
}

static bool status_void(enum dns_status s)
{
    return s == DNS_NXDOMAIN || s == DNS_NODATA || s == DNS_BADNAME;
}

/* RFC 7208 4.3: a domain check_host() can work on: at most 253 characters, labels of 1 to
 * 63 printable characters, at least two labels, not a literal, not an IPv4 address. */
static bool domain_usable(const char *d)
{
    size_t len = strlen(d), label = 0, labels = 0;
    bool digits_only = true;

    if (len && d[len - 1] == '.')
        len--;
    if (len == 0 || len > SPF_DOMAIN_MAX || d[0] == '[')
        return false;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || d[i] == '.') {
            if (label == 0 || label > SPF_LABEL_MAX)
                return false;
            labels++;
            label = 0;
            if (i < len)
                digits_only = true;
            continue;
        }
        if ((unsigned char)d[i] <= ' ' || (unsigned char)d[i] > '~')
            return false;
        if (!isdigit((unsigned char)d[i]))
            digits_only = false;
        label++;
    }
    return labels >= 2 && !digits_only;
}

/* ---- finishing --------------------------------------------------------------------- */

static void slot_reset(struct spf_slot *s)
{
    if (s->handle)
        s->c->res.cancel(s->c->res.ctx, s->handle);
    free(s->text);
    for (size_t i = 0; i < s->n_names; i++)
        free(s->names[i]);
    free(s->names);
    memset(s, 0, sizeof(*s));
}

static void batch_clear(struct spf_check *c)
{
    for (size_t i = 0; i < c->nslots; i++)
        slot_reset(&c->slots[i]);
    c->nslots = c->pending = 0;
}

static void finish(struct spf_check *c, enum spf_result r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void finish(struct spf_check *c, enum spf_result r, const char *fmt, ...)
{
    char text[SPF_COMMENT_MAX];
    va_list ap;

    if (c->finished)
        return;
    c->finished = true;
    batch_clear(c);
    evtimer_del(c->deadline_ev);
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    for (char *p = text; *p; p++)
        if ((unsigned char)*p < ' ' || (unsigned char)*p > '~')
            *p = '?';
    c->comment = xstrdup(text);
    c->out.result = r;
    c->out.comment = c->comment;
    c->out.lookups = c->lookups;
    c->out.void_lookups = c->voids;
    if (r != SPF_RESULT_TEMPERROR && r != SPF_RESULT_PERMERROR && r != SPF_RESULT_NONE &&
        c->mechanism) {
        c->out.mechanism = c->mechanism;
        c->out.mechanism_domain = c->mech_domain;
    }
    c->out.explanation = r == SPF_RESULT_FAIL ? c->explanation : NULL;
    event_active(c->done_ev, EV_TIMEOUT, 0);
}

static void frames_free(struct spf_check *c)
{
    while (c->frame) {
        struct spf_frame *f = c->frame;
        c->frame = f->parent;
        spf_record_free(f->rec);
        free(f);
    }
}

static void check_free(struct spf_check *c)
{
    batch_clear(c);
    frames_free(c);
    event_free(c->deadline_ev);
    event_free(c->done_ev);
    for (size_t i = 0; i < c->vn_n; i++)
        free(c->vn_names[i]);
    for (size_t i = 0; i < c->vn_ncand; i++)
        free(c->vn_cand[i]);
    free(c->client_ip);
    free(c->helo);
    free(c->receiver);
    free(c->sender);
    free(c->local);
    free(c->sender_domain);
    free(c->exp_text);
    free(c->mechanism);
    free(c->explanation);
    free(c->comment);
    free(c);
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    struct spf_check *c = arg;

    (void)fd;
    (void)what;
    c->cb(&c->out, c->arg);
    check_free(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct spf_check *c = arg;

    (void)fd;
    (void)what;
    if (c->in_exp)      /* the result is known; only its explanation is late */
        finish(c, SPF_RESULT_FAIL, "%s", c->mechanism ? c->mechanism : "fail");
    else
        finish(c, SPF_RESULT_TEMPERROR, "SPF evaluation took longer than the deadline");
}

void spf_cancel(struct spf_check *c)
{
    if (c)
        check_free(c);
}

/* ---- lookups ------------------------------------------------------------------------ */

static void slot_take_names(struct spf_slot *s, const struct dns_result *res, size_t keep)
{
    size_t n = res->n < keep ? res->n : keep;

    s->names = xcalloc(n ? n : 1, sizeof(*s->names));
    for (size_t i = 0; i < n; i++)
        s->names[i] = xstrdup(res->type == DNS_T_MX ? res->mx[i].host : res->ptr[i]);
    s->n_names = n;
}

static bool addr_matches(const struct spf_check *c, const struct dns_result *res)
{
    for (size_t i = 0; i < res->n; i++) {
        if (res->type == DNS_T_A &&
            spf_ip_in_net(&c->ip, AF_INET, (const unsigned char *)&res->a[i], c->addr_prefix))
            return true;
        if (res->type == DNS_T_AAAA &&
            spf_ip_in_net(&c->ip, AF_INET6, res->aaaa[i].s6_addr, c->addr_prefix))
            return true;
    }
    return false;
}

static void slot_take_txt(struct spf_check *c, struct spf_slot *s, const struct dns_result *res)
{
    const struct dns_txt *keep = NULL;

    for (size_t i = 0; i < res->n; i++) {
        if (c->purpose == P_RECORD && !spf_record_is_spf1(res->txt[i].text, res->txt[i].len))
            continue;
        s->nspf++;
        if (keep == NULL)
            keep = &res->txt[i];
    }
    if (keep) {
        s->text = xmalloc(keep->len + 1);
        memcpy(s->text, keep->text, keep->len);
        s->text[keep->len] = '\0';
        s->text_len = keep->len;
    }
}

/* Resolver callback, loop thread. */
static void slot_cb(const struct dns_result *res, void *arg)
{
    struct spf_slot *s = arg;
    struct spf_check *c = s->c;

    s->handle = NULL;
    s->status = res->status;
    if (res->status == DNS_OK) {
        s->n = res->n;
        switch (c->purpose) {
        case P_RECORD:
        case P_EXP:
            slot_take_txt(c, s, res);
            break;
        case P_ADDR:
            s->match = addr_matches(c, res);
            break;
        case P_EXISTS:
            break;
        case P_NAMES:
            slot_take_names(s, res, res->type == DNS_T_MX ? SPF_MX_MAX : SPF_PTR_MAX);
            break;
        }
    }
    if (--c->pending == 0)
        c->cont(c);
}

static void batch_begin(struct spf_check *c, enum purpose p, void (*cont)(struct spf_check *))
{
    batch_clear(c);
    c->purpose = p;
    c->cont = cont;
}

static void batch_add(struct spf_check *c, enum dns_type type, const char *name)
{
    struct spf_slot *s = &c->slots[c->nslots++];

    s->c = c;
    c->pending++;
    s->handle = c->res.lookup(c->res.ctx, type, name, slot_cb, s);
}

/* Address lookups match the client's family: A for IPv4, AAAA for IPv6. */
static enum dns_type addr_type(const struct spf_check *c)
{
    return c->ip.family == AF_INET ? DNS_T_A : DNS_T_AAAA;
}

/* ---- macros and validated names ------------------------------------------------------ */

static void vars_for(const struct spf_check *c, const char *domain, struct spf_macro_vars *v)
{
    memset(v, 0, sizeof(*v));
    v->sender = c->sender;
    v->local = c->local;
    v->sender_domain = c->sender_domain;
    v->domain = domain;
    v->ip_dotted = c->ip_dotted;
    v->ip_text = c->ip_text;
    v->ip_version = c->ip.family == AF_INET ? "in-addr" : "ip6";
    v->helo = c->helo ? c->helo : "unknown";
    v->receiver = c->receiver ? c->receiver : "unknown";
    v->timestamp = c->now;
    v->validated = (const char *const *)c->vn_names;
    v->n_validated = c->vn_n;
}

static void vn_finish(struct spf_check *c)
{
    batch_clear(c);
    c->vn = VN_DONE;
    c->vn_resume(c);
}

static void vn_on_addrs(struct spf_check *c)
{
    for (size_t i = 0; i < c->vn_ncand; i++) {
        if (c->slots[i].match && c->vn_n < SPF_PTR_MAX)
            c->vn_names[c->vn_n++] = c->vn_cand[i];
        else
            free(c->vn_cand[i]);
        c->vn_cand[i] = NULL;
    }
    c->vn_ncand = 0;
    vn_finish(c);
}

static void vn_on_ptr(struct spf_check *c)
{
    struct spf_slot *s = &c->slots[0];

    c->vn_ptr_status = s->status;
    if (s->status != DNS_OK || s->n_names == 0) {
        vn_finish(c);
        return;
    }
    for (size_t i = 0; i < s->n_names; i++) {
        c->vn_cand[i] = s->names[i];
        s->names[i] = NULL;
    }
    c->vn_ncand = s->n_names;
    batch_begin(c, P_ADDR, vn_on_addrs);
    c->addr_prefix = c->ip.family == AF_INET ? SPF_IP4_BITS : SPF_IP6_BITS;
    for (size_t i = 0; i < c->vn_ncand; i++)
        batch_add(c, addr_type(c), c->vn_cand[i]);
}

/* Look up the validated names of the client, then call resume. RFC 7208 5.5: PTR, then
 * the addresses of (at most 10) names; a name whose lookup fails is skipped. */
static void vn_start(struct spf_check *c, void (*resume)(struct spf_check *))
{
    char rev[SPF_IP_REVERSE_MAX];

    c->vn = VN_PENDING;
    c->vn_resume = resume;
    spf_ip_reverse_name(&c->ip, rev);
    batch_begin(c, P_NAMES, vn_on_ptr);
    batch_add(c, DNS_T_PTR, rev);
}

/*
 * Expand a domain-spec for the current frame. Returns a new string, or NULL when the
 * check must wait for the validated names (resume runs later) or has finished.
 */
static char *expand_domain(struct spf_check *c, const char *spec, const char *domain,
                           void (*resume)(struct spf_check *))
{
    struct spf_macro_vars v;
    char *out;

    if (spf_macro_uses_p(spec) && c->vn != VN_DONE) {
        vn_start(c, resume);
        return NULL;
    }
    vars_for(c, domain, &v);
    out = spf_macro_expand(spec, SPF_MACRO_DOMAIN, &v);
    if (out == NULL)
        finish(c, SPF_RESULT_PERMERROR, "%s: macro expansion of \"%s\" is too long", domain,
               spec);
    return out;
}

/* ---- limits ----------------------------------------------------------------------- */

static bool count_lookup(struct spf_check *c)
{
    struct spf_frame *f = c->frame;

    if (f->counted)
        return true;
    f->counted = true;
    if (++c->lookups > SPF_LOOKUP_LIMIT) {
        finish(c, SPF_RESULT_PERMERROR, "more than %d DNS-querying mechanisms and modifiers "
               "(RFC 7208 4.6.4)", SPF_LOOKUP_LIMIT);
        return false;
    }
    return true;
}

static bool count_void(struct spf_check *c)
{
    if (++c->voids > SPF_VOID_LIMIT) {
        finish(c, SPF_RESULT_PERMERROR, "more than %d void DNS lookups (RFC 7208 4.6.4)",
               SPF_VOID_LIMIT);
        return false;
    }
    return true;
}

static bool temp_failed(struct spf_check *c, const struct spf_slot *s, const char *what,
                        const char *name)
{
    if (!dns_status_is_temporary(s->status))
        return false;
    finish(c, SPF_RESULT_TEMPERROR, "DNS %s while looking up %s of %s",
           dns_status_str(s->status), what, name);
    return true;
}

/* ---- exp= ------------------------------------------------------------------------- */

static void exp_finish(struct spf_check *c)
{
    struct spf_macro_vars v;

    if (c->exp_text && spf_macro_uses_p(c->exp_text) && c->vn != VN_DONE) {
        vn_start(c, exp_finish);
        return;
    }
    if (c->exp_text) {
        vars_for(c, c->exp_domain, &v);
        c->explanation = spf_macro_expand(c->exp_text, SPF_MACRO_EXPLAIN, &v);
    }
    finish(c, SPF_RESULT_FAIL, "%s: %s matched", c->mech_domain, c->mechanism);
}

static void exp_on_txt(struct spf_check *c)
{
    struct spf_slot *s = &c->slots[0];
    const char *why;

    /* RFC 7208 6.2: exactly one TXT record with a valid explain-string, else ignored */
    if (s->status == DNS_OK && s->n == 1 && s->text &&
        spf_macro_check(s->text, s->text_len, SPF_MACRO_EXPLAIN, NULL, &why) == 0) {
        c->exp_text = s->text;
        s->text = NULL;
    }
    batch_clear(c);
    exp_finish(c);
}

static void exp_start(struct spf_check *c)
{
    char *name = expand_domain(c, c->frame->rec->exp, c->exp_domain, exp_start);

    if (name == NULL)
        return;
    batch_begin(c, P_EXP, exp_on_txt);
    batch_add(c, DNS_T_TXT, name);
    free(name);
}

/* ---- frames ------------------------------------------------------------------------ */

/* The frame's result is known: pass it to the include that asked, or end the check. */
static void frame_done(struct spf_check *c, enum spf_result r, const struct spf_term *t)
{
    struct spf_frame *f = c->frame;

    if (f->included) {
        c->frame = f->parent;
        c->depth--;
        spf_record_free(f->rec);
        free(f);
        c->frame->child = r;
        terms_run(c);
        return;
    }
    if (t == NULL) {
        finish(c, r, "%s: no mechanism matched (default result neutral)", f->domain);
        return;
    }
    c->mechanism = xstrdup(t->text);
    snprintf(c->mech_domain, sizeof(c->mech_domain), "%s", f->domain);
    if (r == SPF_RESULT_FAIL && f->rec->exp) {
        c->in_exp = true;
        snprintf(c->exp_domain, sizeof(c->exp_domain), "%s", f->domain);
        exp_start(c);
        return;
    }
    finish(c, r, "%s: %s matched", f->domain, t->text);
}

static void frame_none(struct spf_check *c, const char *why)
{
    struct spf_frame *f = c->frame;

    if (f->included)
        finish(c, SPF_RESULT_PERMERROR, "include:%s: %s", f->domain, why);
    else if (f->redirected)
        finish(c, SPF_RESULT_PERMERROR, "redirect=%s: %s", f->domain, why);
    else
        finish(c, SPF_RESULT_NONE, "%s: %s", f->domain, why);
}

static void on_record(struct spf_check *c)
{
    struct spf_frame *f = c->frame;
    struct spf_slot *s = &c->slots[0];
    char err[SPF_ERROR_MAX];

    if (temp_failed(c, s, "the SPF record", f->domain))
        return;
    if (s->status != DNS_OK || s->nspf == 0) {
        frame_none(c, s->status == DNS_OK ? "no SPF record"
                                          : s->status == DNS_NODATA ? "no TXT record"
                                          : "no such domain");
        return;
    }
    if (s->nspf > 1) {
        finish(c, SPF_RESULT_PERMERROR, "%s has %d SPF records", f->domain, s->nspf);
        return;
    }
    if (spf_record_parse(s->text, s->text_len, &f->rec, err) != SPF_PARSE_OK) {
        finish(c, SPF_RESULT_PERMERROR, "%s: %s", f->domain, err);
        return;
    }
    batch_clear(c);
    f->next = 0;
    f->phase = 0;
    f->counted = false;
    terms_run(c);
}

static void frame_fetch(struct spf_check *c)
{
    batch_begin(c, P_RECORD, on_record);
    batch_add(c, DNS_T_TXT, c->frame->domain);
}

static struct spf_frame *frame_new(struct spf_frame *parent, const char *domain)
{
    struct spf_frame *f = xcalloc(1, sizeof(*f));

    f->parent = parent;
    snprintf(f->domain, sizeof(f->domain), "%s", domain);
    return f;
}

/* ---- mechanisms ---------------------------------------------------------------------- */

/* Start the lookups of an a, mx or exists term for target. */
static void start_addr_batch(struct spf_check *c, const struct spf_term *t, enum purpose p,
                             enum dns_type type, const char *target)
{
    batch_begin(c, p, terms_run);
    c->addr_prefix = c->ip.family == AF_INET ? t->cidr4 : t->cidr6;
    batch_add(c, type, target);
}

static enum term_res eval_a(struct spf_check *c, struct spf_frame *f, const struct spf_term *t)
{
    struct spf_slot *s = &c->slots[0];

    if (f->phase == 1) {
        if (temp_failed(c, s, "the addresses", t->text))
            return T_STOP;
        if (status_void(s->status))
            return count_void(c) ? T_NOMATCH : T_STOP;
        return s->match ? T_MATCH : T_NOMATCH;
    }
    char *target = t->domain ? expand_domain(c, t->domain, f->domain, terms_run)
                             : xstrdup(f->domain);
    if (target == NULL)
        return T_WAIT;
    f->phase = 1;
    start_addr_batch(c, t, t->mech == SPF_MECH_EXISTS ? P_EXISTS : P_ADDR,
                     t->mech == SPF_MECH_EXISTS ? DNS_T_A : addr_type(c), target);
    free(target);
    return T_WAIT;
}

static enum term_res eval_exists(struct spf_check *c, struct spf_frame *f,
                                 const struct spf_term *t)
{
    struct spf_slot *s = &c->slots[0];

    if (f->phase == 0)
        return eval_a(c, f, t);
    if (temp_failed(c, s, "the A records", t->text))
        return T_STOP;
    if (status_void(s->status))
        return count_void(c) ? T_NOMATCH : T_STOP;
    return T_MATCH;
}

static enum term_res eval_mx(struct spf_check *c, struct spf_frame *f, const struct spf_term *t)
{
    struct spf_slot *s = &c->slots[0];

    if (f->phase == 0) {
        char *target = t->domain ? expand_domain(c, t->domain, f->domain, terms_run)
                                 : xstrdup(f->domain);
        if (target == NULL)
            return T_WAIT;
        f->phase = 1;
        batch_begin(c, P_NAMES, terms_run);
        batch_add(c, DNS_T_MX, target);
        free(target);
        return T_WAIT;
    }
    if (f->phase == 1) {
        char **names;
        size_t n;
        if (temp_failed(c, s, "the MX records", t->text))
            return T_STOP;
        if (status_void(s->status))
            return count_void(c) ? T_NOMATCH : T_STOP;
        if (s->n > SPF_MX_MAX) {
            finish(c, SPF_RESULT_PERMERROR, "%s: %s has %zu MX records (more than %d)",
                   f->domain, t->text, s->n, SPF_MX_MAX);
            return T_STOP;
        }
        if (s->n_names == 0)
            return T_NOMATCH;               /* null MX */
        names = s->names;
        n = s->n_names;
        s->names = NULL;
        s->n_names = 0;
        f->phase = 2;
        batch_begin(c, P_ADDR, terms_run);
        c->addr_prefix = c->ip.family == AF_INET ? t->cidr4 : t->cidr6;
        for (size_t i = 0; i < n; i++) {
            batch_add(c, addr_type(c), names[i]);
            free(names[i]);
        }
        free(names);
        return T_WAIT;
    }
    for (size_t i = 0; i < c->nslots; i++) {
        if (temp_failed(c, &c->slots[i], "the addresses of an MX host for", t->text))
            return T_STOP;
        if (c->slots[i].match)
            return T_MATCH;
    }
    return T_NOMATCH;
}

static enum term_res eval_ptr(struct spf_check *c, struct spf_frame *f, const struct spf_term *t)
{
    enum term_res r = T_NOMATCH;
    char *target;

    if (c->vn != VN_DONE) {
        vn_start(c, terms_run);
        return T_WAIT;
    }
    target = t->domain ? expand_domain(c, t->domain, f->domain, terms_run) : xstrdup(f->domain);
    if (target == NULL)
        return c->finished ? T_STOP : T_WAIT;
    if (status_void(c->vn_ptr_status) && !count_void(c)) {
        free(target);
        return T_STOP;
    }
    for (size_t i = 0; i < c->vn_n; i++)
        if (spf_domain_is_under(c->vn_names[i], target))
            r = T_MATCH;
    free(target);
    return r;
}

static enum term_res eval_include(struct spf_check *c, struct spf_frame *f,
                                  const struct spf_term *t)
{
    char *target;

    if (f->phase == 1) {
        /* RFC 7208 5.2: pass matches; fail, softfail and neutral do not; temperror,
         * permerror and none already ended the check */
        return f->child == SPF_RESULT_PASS ? T_MATCH : T_NOMATCH;
    }
    target = expand_domain(c, t->domain, f->domain, terms_run);
    if (target == NULL)
        return c->finished ? T_STOP : T_WAIT;
    if (c->depth + 1 >= SPF_DEPTH_MAX) {
        free(target);
        finish(c, SPF_RESULT_PERMERROR, "includes nested too deeply");
        return T_STOP;
    }
    f->phase = 1;
    c->frame = frame_new(f, target);
    c->frame->included = true;
    c->depth++;
    free(target);
    frame_fetch(c);
    return T_WAIT;
}

static enum term_res term_eval(struct spf_check *c, struct spf_frame *f, const struct spf_term *t)
{
    switch (t->mech) {
    case SPF_MECH_ALL:
        return T_MATCH;
    case SPF_MECH_IP4:
        return spf_ip_in_net(&c->ip, AF_INET, t->net, t->cidr4) ? T_MATCH : T_NOMATCH;
    case SPF_MECH_IP6:
        return spf_ip_in_net(&c->ip, AF_INET6, t->net, t->cidr6) ? T_MATCH : T_NOMATCH;
    default:
        break;
    }
    if (!count_lookup(c))
        return T_STOP;
    switch (t->mech) {
    case SPF_MECH_A:
        return eval_a(c, f, t);
    case SPF_MECH_EXISTS:
        return eval_exists(c, f, t);
    case SPF_MECH_MX:
        return eval_mx(c, f, t);
    case SPF_MECH_PTR:
        return eval_ptr(c, f, t);
    case SPF_MECH_INCLUDE:
        return eval_include(c, f, t);
    default:
        return T_NOMATCH;
    }
}

/* No term matched: follow redirect= (RFC 7208 6.1), or the default neutral. */
static void frame_redirect(struct spf_check *c)
{
    struct spf_frame *f = c->frame;
    char *target;

    if (!count_lookup(c))
        return;
    target = expand_domain(c, f->rec->redirect, f->domain, terms_run);
    if (target == NULL)
        return;
    spf_record_free(f->rec);
    f->rec = NULL;
    snprintf(f->domain, sizeof(f->domain), "%s", target);
    free(target);
    f->redirected = true;
    f->counted = false;
    frame_fetch(c);
}

/* Evaluate the current frame's terms from where it stands; the continuation of every
 * lookup a term makes. */
static void terms_run(struct spf_check *c)
{
    for (;;) {
        struct spf_frame *f = c->frame;
        const struct spf_term *t;
        enum term_res r;

        if (c->finished)
            return;
        if (f->next >= f->rec->n) {
            if (f->rec->redirect)
                frame_redirect(c);
            else
                frame_done(c, SPF_RESULT_NEUTRAL, NULL);
            return;
        }
        t = &f->rec->terms[f->next];
        r = term_eval(c, f, t);
        if (r == T_WAIT || r == T_STOP)
            return;
        batch_clear(c);
        f->phase = 0;
        f->counted = false;
        if (r == T_MATCH) {
            frame_done(c, qualifier_result(t->qualifier), t);
            return;
        }
        f->next++;
    }
}

/* ---- start -------------------------------------------------------------------------- */

static void set_identity(struct spf_check *c, const struct spf_request *req)
{
    const char *at;

    if (req->sender && req->sender[0]) {
        c->identity = SPF_ID_MAILFROM;
        at = strrchr(req->sender, '@');
        c->local = at && at > req->sender ? xstrndup(req->sender, (size_t)(at - req->sender))
                                           : xstrdup("postmaster");
        c->sender_domain = xstrdup(at ? at + 1 : req->sender);
    } else {
        c->identity = SPF_ID_HELO;
        c->local = xstrdup("postmaster");
        c->sender_domain = xstrdup(req->helo ? req->helo : "");
    }
    c->sender = xasprintf("%s@%s", c->local, c->sender_domain);
}

struct spf_check *spf_check_start(struct event_base *base, const struct spf_resolver *resolver,
                                  const struct spf_request *req, spf_done_cb cb, void *arg)
{
    struct spf_check *c = xcalloc(1, sizeof(*c));
    long long ms = req->deadline_ms > 0 ? req->deadline_ms : SPF_DEFAULT_DEADLINE_MS;
    struct timeval tv = { .tv_sec = ms / MS_PER_S, .tv_usec = (ms % MS_PER_S) * US_PER_MS };
    bool ip_ok;

    c->base = base;
    c->res = *resolver;
    c->cb = cb;
    c->arg = arg;
    c->deadline_ev = evtimer_new(base, on_deadline, c);
    c->done_ev = event_new(base, -1, 0, on_done, c);
    if (c->deadline_ev == NULL || c->done_ev == NULL)
        abort();
    c->client_ip = xstrdup(req->ip ? req->ip : "");
    c->helo = req->helo ? xstrdup(req->helo) : NULL;
    c->receiver = req->receiver ? xstrdup(req->receiver) : NULL;
    c->now = req->now ? (long long)req->now : (long long)time(NULL);
    set_identity(c, req);
    c->out.identity = c->identity;
    c->out.domain = c->sender_domain;
    c->out.sender = c->sender;
    c->out.client_ip = c->client_ip;
    c->out.helo = c->helo;
    ip_ok = spf_ip_parse(c->client_ip, &c->ip) == 0;
    if (ip_ok) {
        spf_ip_text(&c->ip, c->ip_text);
        spf_ip_dotted(&c->ip, c->ip_dotted);
    }
    evtimer_add(c->deadline_ev, &tv);
    if (!ip_ok) {
        finish(c, SPF_RESULT_NONE, "\"%s\" is not an IP address", c->client_ip);
    } else if (!domain_usable(c->sender_domain)) {
        finish(c, SPF_RESULT_NONE, "\"%s\" is not a domain name SPF can check (RFC 7208 4.3)",
               c->sender_domain);
    } else {
        c->frame = frame_new(NULL, c->sender_domain);
        frame_fetch(c);
    }
    return c;
}

/* ---- outcome copies -------------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

struct spf_outcome *spf_outcome_dup(const struct spf_outcome *o)
{
    struct spf_outcome *d = xcalloc(1, sizeof(*d));

    *d = *o;
    d->domain = dup_or_null(o->domain);
    d->sender = dup_or_null(o->sender);
    d->client_ip = dup_or_null(o->client_ip);
    d->helo = dup_or_null(o->helo);
    d->mechanism = dup_or_null(o->mechanism);
    d->mechanism_domain = dup_or_null(o->mechanism_domain);
    d->explanation = dup_or_null(o->explanation);
    d->comment = dup_or_null(o->comment);
    return d;
}

void spf_outcome_free(struct spf_outcome *o)
{
    if (o == NULL)
        return;
    free((char *)o->domain);
    free((char *)o->sender);
    free((char *)o->client_ip);
    free((char *)o->helo);
    free((char *)o->mechanism);
    free((char *)o->mechanism_domain);
    free((char *)o->explanation);
    free((char *)o->comment);
    free(o);
}
