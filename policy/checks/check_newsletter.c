/*
 * check_newsletter.c - the newsletter endpoint: bulk-sender rules, signed per-recipient bounce
 * addresses (VERP), bounce and complaint intake, a suppression list per sending login,
 * and sender health feeding the compromised-account breaker (policy/account_breaker.h).
 *
 * A profile for bulk senders (direction submission) lists it; the inbound profile lists
 * it too, with the same bounce_domain and token_key, to take the bounces in.
 * Submission:
 *   RCPT  more recipients than max_recipients: 452 4.5.3 (rule "recipients"); a recipient
 *         on the login's suppression list (pt:sup:{LOGIN}: hard bounce, complaint): 550
 *         5.1.1 / 550 5.7.1 saying so (one HMGET per batch)
 *   END   rules on the header: List-Unsubscribe with an https: URI and
 *         List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058), the From domain
 *         aligned with dkim_domain (relaxed: equal or a subdomain), no Auto-Submitted.
 *         Each rule refuses (550 5.7.1 naming it and what to fix), warns (header
 *         X-Postern-Newsletter-Warning, logged) or is off. Then each recipient gets a
 *         bounce address bounces+TOKEN@bounce_domain (policy/verp.h), kept in Redis
 *         (pt:verp:{TOKEN} -> login, recipient, queue ID, 30 days) and given to delivery as
 *         the transaction fact newsletter.verp ({"rcpt": "bounce address"}); the login's
 *         sent count goes to pt:health:{LOGIN}.
 * Inbound, recipients at bounce_domain:
 *   RCPT  a token that is not ours (forged, or made with another key): 550 5.7.1
 *   END   the bounce is read (check pool) and classified (policy/report_parse.h); the
 *         token's login and recipient get recipient.bounced / recipient.complained, a hard
 *         bounce or complaint puts the address on the login's suppression list (hard:
 *         hard_bounce_ttl, complaint: complaint_ttl, 0 = never expires), and the login's
 *         health counters decide whether the breaker suspends it (bounce or complaint rate
 *         over the limit once min_messages were sent in health_window): one mechanism
 *         with a 5xx to a VERP copy at delivery (policy/newsletter_feed.h). The bounce itself
 *         is then discarded (nobody reads the bounce domain).
 */
#include "policy/checks/checks.h"

#include "lib/fileio.h"
#include "lib/log.h"
#include "lib/redis.h"
#include "lib/smtp_replies.h"
#include "lib/xalloc.h"
#include "policy/newsletter_feed.h"
#include "policy/outage.h"
#include "policy/report_parse.h"
#include "policy/verp.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define NL_BATCH_MAX 1100            /* recipients of one HMGET (the session's own cap) */
#define NL_SCAN_MAX (256u << 10)     /* bytes of a bounce read for its report */
#define NL_VERP_TTL_MS (30LL * 86400000LL)

enum rule_mode { RULE_REFUSE, RULE_WARN, RULE_OFF };
static const char *const rule_names[] = { "refuse", "warn", "off", NULL };

#define NS(f) offsetof(struct nl_settings, f)
#define RULE_KEY(NAME, FIELD, HELP)                                                         \
    { .name = NAME, .type = CONF_ENUM, .offset = NS(FIELD), .def = "refuse",                \
      .choices = rule_names, .help = HELP ": refuse (550 5.7.1), warn (a header) or off" }
static const struct conf_key nl_keys[] = {
    { .name = "bounce_domain", .type = CONF_STRING, .offset = NS(bounce_domain),
      .help = "the domain of the per-recipient bounce addresses (serve it as a local domain "
              "and list this check on the inbound profile too); null: no VERP" },
    { .name = "token_key", .type = CONF_STRING, .offset = NS(token_key), .flags = CONF_SECRET,
      .help = "the secret that signs bounce addresses (the same on every node and profile)" },
    { .name = "dkim_domain", .type = CONF_STRING, .offset = NS(dkim_domain),
      .help = "the From domain must be this domain or under it (DMARC alignment with the "
              "signing domain); null: the login's domain" },
    { .name = "max_recipients", .type = CONF_INT, .offset = NS(max_recipients), .def = "1",
      .min = 1, .max = 1000, .help = "recipients per message (one: unsubscribe links and "
                                     "bounces are per recipient)" },
    RULE_KEY("recipients_rule", recipients_rule, "more than max_recipients"),
    RULE_KEY("unsubscribe_rule", unsubscribe_rule, "no one-click List-Unsubscribe (RFC 8058)"),
    RULE_KEY("alignment_rule", alignment_rule, "From not aligned with dkim_domain"),
    RULE_KEY("auto_submitted_rule", auto_submitted_rule, "an Auto-Submitted header"),
    { .name = "hard_bounce_ttl", .type = CONF_DURATION, .offset = NS(hard_ttl_ms),
      .def = "90d", .min = 0, .max = 3650 * 86400000LL,
      .help = "how long a hard-bounced address stays suppressed (0: never expires)" },
    { .name = "complaint_ttl", .type = CONF_DURATION, .offset = NS(complaint_ttl_ms),
      .def = "0", .min = 0, .max = 3650 * 86400000LL,
      .help = "how long an address that complained stays suppressed (0: never expires)" },
    { .name = "health_window", .type = CONF_DURATION, .offset = NS(health_window_ms),
      .def = "1d", .min = 1000, .max = 30 * 86400000LL,
      .help = "the window of the sender health counters" },
    { .name = "min_messages", .type = CONF_INT, .offset = NS(min_messages), .def = "100",
      .min = 1, .max = 100000000, .help = "messages sent in the window before rates count" },
    { .name = "max_bounce_rate", .type = CONF_NUMBER, .offset = NS(max_bounce_rate),
      .def = "0.05", .help = "hard bounces per message sent above which the login is suspended" },
    { .name = "max_complaint_rate", .type = CONF_NUMBER, .offset = NS(max_complaint_rate),
      .def = "0.003", .help = "complaints per message sent above which the login is suspended" },
    { .name = NULL }
};
static const struct conf_section nl_section = { .name = "newsletter", .keys = nl_keys };

static const struct symbol_def nl_symbols[] = {
    { "NEWSLETTER_RULE", 0, "a bulk-mail rule failed (its name in the text)" },
    { "NEWSLETTER_SUPPRESSED", 0, "the recipient is on the sender's suppression list" },
    { "NEWSLETTER_BOUNCE", 0, "a bounce to a bounce address Postern made" },
    { "NEWSLETTER_BOUNCE_FORGED", 0, "a bounce address Postern never made" },
    { "NEWSLETTER_UNAVAILABLE", 0, "Redis did not answer" },
    { NULL, 0, NULL }
};

struct nl_state {
    const struct engine_env *env;
};

static int nl_init(const struct engine_env *env, const void *settings, void **state)
{
    const struct nl_settings *ns = settings;
    struct nl_state *st;

    if (ns->bounce_domain != NULL && (ns->token_key == NULL || strlen(ns->token_key) < 16)) {
        log_error("newsletter", "bounce_domain %s needs a token_key of at least 16 characters",
                  ns->bounce_domain);
        return -1;
    }
    st = xcalloc(1, sizeof(*st));
    st->env = env;
    if (env->redis != NULL)
        nl_health_script(env->redis);   /* loaded with the others on (re)connect */
    *state = st;
    return 0;
}

static void nl_free(void *state)
{
    free(state);
}

static char *tagged(const char *prefix, const char *name)
{
    char *tag = redis_key_escape(name);
    char *key = xasprintf("%s{%s}", prefix, tag);

    free(tag);
    return key;
}

static const char *domain_of(const char *addr)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;
    return at ? at + 1 : "";
}

static bool is_bounce_rcpt(const struct nl_settings *ns, const char *rcpt)
{
    return ns->bounce_domain != NULL && strcasecmp(domain_of(rcpt), ns->bounce_domain) == 0;
}

/* A rule failed: refuse, or warn with a header. */
static void rule_failed(struct check_call *c, int mode, const char *rule, const char *fix)
{
    char text[200];

    if (mode == RULE_OFF)
        return;
    snprintf(text, sizeof(text), "%s: %s", rule, fix);
    check_symbol(c, CHECK_ALL, "NEWSLETTER_RULE", 1.0, rule);
    if (mode == RULE_REFUSE) {
        check_verdict(c, CHECK_ALL, VERDICT_REFUSE, R_NEWSLETTER_RULE, rule, fix);
    } else {
        check_header(c, CHECK_ALL, "X-Postern-Newsletter-Warning", text);
        log_warn("newsletter", "%s: login %s: rule %s", check_call_queue_id(c) ?
                 check_call_queue_id(c) : "NOQUEUE", check_call_login(c), text);
    }
}

/* ---- header rules ---------------------------------------------------------------------- */

/* The unfolded value of header field name in head, into out; false when absent. */
static bool header_value(const char *head, size_t len, const char *name, char *out, size_t cap)
{
    size_t pos = 0, k = strlen(name), o = 0;
    bool in = false;

    while (pos < len) {
        const char *line = head + pos, *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos, i;
        pos += n + (nl != NULL);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0)
            break;
        if (in && (line[0] == ' ' || line[0] == '\t')) {
            for (i = 0; i < n && o + 1 < cap; i++)
                out[o++] = line[i];
            continue;
        }
        if (in)
            break;
        if (n > k && strncasecmp(line, name, k) == 0 && line[k] == ':') {
            in = true;
            for (i = k + 1; i < n && o + 1 < cap; i++)
                out[o++] = line[i];
        }
    }
    out[o] = '\0';
    return in;
}

static bool contains_ci(const char *s, const char *needle)
{
    size_t k = strlen(needle);

    for (; *s; s++)
        if (strncasecmp(s, needle, k) == 0)
            return true;
    return false;
}

/* The domain of the (last) address in a From value, lower-case, into out. */
static void from_domain(const char *from, char *out, size_t cap)
{
    const char *at = strrchr(from, '@'), *end;
    size_t n = 0;

    out[0] = '\0';
    if (at == NULL)
        return;
    for (end = at + 1; *end && *end != '>' && *end != ' ' && *end != ')' && *end != ';'; end++)
        if (n + 1 < cap)
            out[n++] = (char)((*end >= 'A' && *end <= 'Z') ? *end + 32 : *end);
    out[n] = '\0';
}

static bool aligned(const char *domain, const char *with)
{
    size_t a = strlen(domain), b = strlen(with);

    if (a == 0 || b == 0 || a < b || strcasecmp(domain + a - b, with) != 0)
        return false;
    return a == b || domain[a - b - 1] == '.';
}

/* Every rule; true when the message may go. */
static bool header_rules(struct check_call *c, const struct nl_settings *ns)
{
    const struct engine_message *m = check_call_message(c);
    char v[1024], dom[256];
    const char *want;

    if (m == NULL || m->head == NULL)
        return true;
    if (!header_value(m->head, m->head_len, "List-Unsubscribe", v, sizeof(v)) ||
        !contains_ci(v, "<https:"))
        rule_failed(c, ns->unsubscribe_rule, "unsubscribe",
                    "add List-Unsubscribe with an https: URI");
    else if (!header_value(m->head, m->head_len, "List-Unsubscribe-Post", v, sizeof(v)) ||
             !contains_ci(v, "List-Unsubscribe=One-Click"))
        rule_failed(c, ns->unsubscribe_rule, "unsubscribe",
                    "add List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058)");
    want = ns->dkim_domain ? ns->dkim_domain : domain_of(check_call_login(c));
    if (header_value(m->head, m->head_len, "From", v, sizeof(v)))
        from_domain(v, dom, sizeof(dom));
    else
        dom[0] = '\0';
    if (!aligned(dom, want)) {
        char fix[160];
        snprintf(fix, sizeof(fix), "the From domain must be %s or under it", want);
        rule_failed(c, ns->alignment_rule, "alignment", fix);
    }
    if (header_value(m->head, m->head_len, "Auto-Submitted", v, sizeof(v)) &&
        !contains_ci(v, "no"))
        rule_failed(c, ns->auto_submitted_rule, "auto_submitted",
                    "newsletters are not automatic replies: remove Auto-Submitted");
    return true;
}

/* ---- submission ---------------------------------------------------------------------- */

struct nl_wait {
    struct redis_req *req;
    struct nl_feed *feed;       /* END intake: suppression, health, breaker */
    char token[VERP_TOKEN_LEN + 1];
    size_t rcpt;                /* END intake: the bounce recipient */
    struct report report;
    char *login, *orig_rcpt, *qid;
};

static void wait_free(struct check_call *c, struct nl_wait *w)
{
    free(w->login);
    free(w->orig_rcpt);
    free(w->qid);
    free(w);
    check_call_set_priv(c, NULL);
}

static void on_suppressed(enum redis_result res, const redisReply *reply, void *arg)
{
    struct check_call *c = arg;
    struct nl_wait *w = check_call_priv(c);
    long long now_ms = 0;
    size_t i;
    struct timespec ts;

    w->req = NULL;
    clock_gettime(CLOCK_REALTIME, &ts);
    now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (res != REDIS_RESULT_OK || reply->type != REDIS_REPLY_ARRAY) {
        outage_down(check_call_env(c)->outages, "redis", "newsletter", "no answer");
        check_unsure(c, CHECK_ALL, "NEWSLETTER_UNAVAILABLE");
    } else {
        for (i = 0; i < reply->elements && i < check_call_nrcpt(c); i++) {
            const redisReply *e = reply->element[i];
            const char *colon;
            long long until;
            if (e->type != REDIS_REPLY_STRING || (colon = strchr(e->str, ':')) == NULL)
                continue;
            until = strtoll(colon + 1, NULL, 10);
            if (until != 0 && until < now_ms)
                continue;
            check_symbol(c, (ssize_t)i, "NEWSLETTER_SUPPRESSED", 1.0, NULL);
            if (strncmp(e->str, "complaint", 9) == 0)
                check_verdict(c, (ssize_t)i, VERDICT_REFUSE, R_SUPPRESSED_COMPLAINT,
                              check_call_rcpt(c, i));
            else
                check_verdict(c, (ssize_t)i, VERDICT_REFUSE, R_SUPPRESSED_BOUNCE,
                              check_call_rcpt(c, i));
        }
    }
    wait_free(c, w);
    check_done(c);
}

static enum call_status submission_rcpt(struct check_call *c, const struct nl_settings *ns)
{
    const struct engine_env *env = check_call_env(c);
    size_t i, n = check_call_nrcpt(c), accepted = check_call_accepted(c);
    const char **argv;
    struct nl_wait *w;
    char *key;

    for (i = 0; i < n; i++) {
        if (accepted + i + 1 <= (size_t)ns->max_recipients || ns->recipients_rule == RULE_OFF)
            continue;
        check_symbol(c, (ssize_t)i, "NEWSLETTER_RULE", 1.0, "recipients");
        if (ns->recipients_rule == RULE_REFUSE)
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, R_NEWSLETTER_RECIPIENTS,
                          ns->max_recipients);
    }
    if (env->redis == NULL || check_call_login(c) == NULL || n == 0 || n > NL_BATCH_MAX)
        return CALL_DONE;
    key = tagged("pt:sup:", check_call_login(c));
    argv = xcalloc(n + 2, sizeof(*argv));
    argv[0] = "HMGET";
    argv[1] = key;
    char **members = xcalloc(n, sizeof(*members));
    for (i = 0; i < n; i++)
        argv[i + 2] = members[i] = redis_key_escape(check_call_rcpt(c, i));
    w = xcalloc(1, sizeof(*w));
    check_call_set_priv(c, w);
    w->req = redis_command_argv(env->redis, (int)(n + 2), argv, NULL, on_suppressed, c);
    for (i = 0; i < n; i++)
        free(members[i]);
    free(members);
    free(argv);
    free(key);
    return CALL_PENDING;
}

/* END: rules, then a bounce address per recipient. */
static enum call_status submission_end(struct check_call *c, const struct nl_settings *ns)
{
    const struct engine_env *env = check_call_env(c);
    const char *login = check_call_login(c);
    json_t *verp;
    size_t i, n = check_call_nrcpt(c);

    header_rules(c, ns);
    if (ns->bounce_domain == NULL || env->redis == NULL || login == NULL || n == 0)
        return CALL_DONE;
    verp = json_object();
    for (i = 0; i < n; i++) {
        char token[VERP_TOKEN_LEN + 1], ttl[24], *key, *val, *addr;
        const char *argv[5];
        verp_token_new(ns->token_key, token);
        key = xasprintf("pt:verp:{%s}", token);
        val = xasprintf("%s\n%s\n%s", login, check_call_rcpt(c, i),
                        check_call_queue_id(c) ? check_call_queue_id(c) : "");
        snprintf(ttl, sizeof(ttl), "%lld", NL_VERP_TTL_MS);
        argv[0] = "SET";
        argv[1] = key;
        argv[2] = val;
        argv[3] = "PX";
        argv[4] = ttl;
        redis_command_argv(env->redis, 5, argv, NULL, redis_reply_ignore, NULL);
        addr = xasprintf(VERP_PREFIX "%s@%s", token, ns->bounce_domain);
        json_object_set_new(verp, check_call_rcpt(c, i), json_string(addr));
        free(addr);
        free(val);
        free(key);
    }
    check_fact_set(c, FACT_TX, "newsletter.verp", verp);
    nl_feed_sent(env->redis, ns, login, (unsigned long)n);
    return CALL_DONE;
}

/* ---- inbound: bounces to the bounce domain --------------------------------------------- */

static enum call_status intake_rcpt(struct check_call *c, const struct nl_settings *ns)
{
    size_t i;

    for (i = 0; i < check_call_nrcpt(c); i++) {
        const char *rcpt = check_call_rcpt(c, i);
        char local[128], token[VERP_TOKEN_LEN + 1];
        const char *at = strrchr(rcpt, '@');
        if (!is_bounce_rcpt(ns, rcpt) || at == NULL)
            continue;
        snprintf(local, sizeof(local), "%.*s", (int)(at - rcpt), rcpt);
        if (verp_token_check(ns->token_key, local, token)) {
            check_symbol(c, (ssize_t)i, "NEWSLETTER_BOUNCE", 1.0, NULL);
        } else {
            check_symbol(c, (ssize_t)i, "NEWSLETTER_BOUNCE_FORGED", 1.0, NULL);
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, R_BOUNCE_ADDRESS_UNKNOWN, rcpt);
        }
    }
    return CALL_DONE;
}

static void finish_intake(struct check_call *c, struct nl_wait *w)
{
    check_disposition(c, (ssize_t)w->rcpt, DISP_DISCARD, "newsletter bounce processed");
    wait_free(c, w);
    check_done(c);
}

static void on_fed(void *arg, const char *reason)
{
    struct check_call *c = arg;
    struct nl_wait *w = check_call_priv(c);

    w->feed = NULL;
    if (reason != NULL)
        check_event(c, "account.suspended", nl_feed_suspended_event(w->login, reason));
    finish_intake(c, w);
}

/* The bounce is attributed: events, suppression, health. */
static void record_outcome(struct check_call *c, struct nl_wait *w)
{
    const struct nl_settings *ns = check_call_settings(c);
    struct redis *r = check_call_env(c)->redis;
    const char *kind = report_kind_name(w->report.kind);
    bool complaint = w->report.kind == REPORT_COMPLAINT;

    check_event(c, complaint ? "recipient.complained" : "recipient.bounced",
                nl_feed_event(w->login, w->orig_rcpt, w->qid, kind, w->report.status,
                              w->report.diagnostic));
    log_info("newsletter", "%s: %s for %s of login %s (status %s)", w->qid, kind,
             w->orig_rcpt, w->login, w->report.status[0] ? w->report.status : "none");
    if (w->report.kind == REPORT_SOFT) {
        finish_intake(c, w);
        return;
    }
    w->feed = nl_feed_start(r, ns, w->login, w->orig_rcpt, complaint, on_fed, c);
}

/* The token's mapping: login, recipient, queue ID. */
static void on_mapping(enum redis_result res, const redisReply *reply, void *arg)
{
    struct check_call *c = arg;
    struct nl_wait *w = check_call_priv(c);
    char *nl1, *nl2;

    w->req = NULL;
    if (res != REDIS_RESULT_OK) {
        outage_down(check_call_env(c)->outages, "redis", "newsletter", "no answer");
        check_unsure(c, (ssize_t)w->rcpt, "NEWSLETTER_UNAVAILABLE");
        wait_free(c, w);
        check_done(c);
        return;
    }
    if (reply->type != REDIS_REPLY_STRING || (nl1 = strchr(reply->str, '\n')) == NULL ||
        (nl2 = strchr(nl1 + 1, '\n')) == NULL) {
        log_info("newsletter", "bounce for an expired or unknown token %s: dropped", w->token);
        finish_intake(c, w);
        return;
    }
    w->login = xasprintf("%.*s", (int)(nl1 - reply->str), reply->str);
    w->orig_rcpt = xasprintf("%.*s", (int)(nl2 - nl1 - 1), nl1 + 1);
    w->qid = xstrdup(nl2 + 1);
    record_outcome(c, w);
}

struct intake_job {
    int fd;
    unsigned long long offset, size;
    struct report report;
};

static void job_work(void *p)
{
    struct intake_job *j = p;
    char *buf = xmalloc(j->size ? j->size : 1);
    size_t got;

    got = pread_all(j->fd, buf, j->size, j->offset);
    report_parse(buf, got, &j->report);
    free(buf);
}

static void job_free(void *p)
{
    struct intake_job *j = p;

    close(j->fd);
    free(j);
}

static void job_done(struct check_call *c, void *p)
{
    struct intake_job *j = p;
    struct nl_wait *w = check_call_priv(c);
    char *key = xasprintf("pt:verp:{%s}", w->token);
    const char *argv[2] = { "GET", key };

    w->report = j->report;
    w->req = redis_command_argv(check_call_env(c)->redis, 2, argv, NULL, on_mapping, c);
    free(key);
}

static enum call_status intake_end(struct check_call *c, const struct nl_settings *ns)
{
    const struct engine_message *m = check_call_message(c);
    struct intake_job *j;
    struct nl_wait *w;
    size_t i;

    for (i = 0; i < check_call_nrcpt(c); i++)
        if (is_bounce_rcpt(ns, check_call_rcpt(c, i)))
            break;
    if (i == check_call_nrcpt(c) || m == NULL || check_call_env(c)->redis == NULL)
        return CALL_DONE;
    w = xcalloc(1, sizeof(*w));
    w->rcpt = i;
    {
        const char *rcpt = check_call_rcpt(c, i), *at = strrchr(rcpt, '@');
        char local[128];
        snprintf(local, sizeof(local), "%.*s", (int)(at - rcpt), rcpt);
        if (!verp_token_check(ns->token_key, local, w->token)) {
            free(w);
            return CALL_DONE;   /* refused at RCPT already */
        }
    }
    j = xcalloc(1, sizeof(*j));
    if ((j->fd = fcntl(m->fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        free(j);
        free(w);
        return CALL_DONE;
    }
    j->offset = m->offset;
    j->size = m->size < NL_SCAN_MAX ? m->size : NL_SCAN_MAX;
    check_call_set_priv(c, w);
    if (check_work_submit(c, j, job_work, job_done, job_free) != 0) {
        wait_free(c, w);
        return CALL_DONE;
    }
    return CALL_PENDING;
}

/* ---- dispatch ------------------------------------------------------------------------ */

static enum call_status nl_run(struct check_call *c)
{
    const struct nl_settings *ns = check_call_settings(c);
    bool rcpt = check_call_stage(c) == STAGE_RCPT;

    if (check_call_submission(c))
        return rcpt ? submission_rcpt(c, ns) : submission_end(c, ns);
    if (ns->bounce_domain == NULL)
        return CALL_DONE;
    return rcpt ? intake_rcpt(c, ns) : intake_end(c, ns);
}

static void nl_cancel(struct check_call *c)
{
    struct nl_wait *w = check_call_priv(c);

    if (w == NULL)
        return;
    if (w->req != NULL)
        redis_cancel(w->req);
    nl_feed_cancel(w->feed);
    wait_free(c, w);
}

const struct check_def check_newsletter = {
    .name = "newsletter",
    .description = "bulk-sender rules, signed bounce addresses, bounce intake, suppression",
    .stages = STAGE_BIT(STAGE_RCPT) | STAGE_BIT(STAGE_END),
    .directions = DIR_SUBMISSION | DIR_INBOUND,
    .group = 40,
    .async = true,
    .flags = CHECK_NEEDS_HEADER,
    .unsure = UNSURE_DEFER,
    .reason = "newsletter",
    .unsure_reason = "redis_unavailable",  /* its store is in Redis */
    .symbols = nl_symbols,
    .settings = &nl_section,
    .settings_size = sizeof(struct nl_settings),
    .init = nl_init,
    .free = nl_free,
    .run = nl_run,
    .cancel = nl_cancel,
};
