/*
 * check_dkim.c - the DKIM check (RFC 6376, RFC 8463, RFC 8301): at END, every
 * DKIM-Signature of the message (up to `max_signatures`, top first) is verified by
 * mailauth/dkim_verify.c, keys through the daemon's resolver.
 *
 * The message is read back from the spool (check_call_message: fd, offset, size) and
 * hashed on the bounded check pool (on the loop when the profile has no pool, as in
 * posternctl); then the key lookups run on the loop, bounded by `timeout`. The settings
 * are those of the "dkim.verify" section (mailauth/dkim_conf.c), declared once there.
 *
 * Says, per signature: DKIM_VALID (with DKIM_WEAK_SHA1 for rsa-sha1, DKIM_L_TAG for l=,
 * DKIM_L_TAG_APPENDED when the body goes on past l=, DKIM_TESTING for t=y keys),
 * DKIM_INVALID (body or signature changed), DKIM_EXPIRED (x= passed), DKIM_NEUTRAL
 * (signature unusable), DKIM_PERMERROR (no key, revoked, bad key), DKIM_TEMPERROR; with
 * no signature DKIM_NONE; DKIM_TOO_MANY when signatures were left unchecked. Facts
 * (transaction): dkim.results (array of {"d","s","result"}), dkim.pass_domains (d= of
 * each pass), dkim.sender_aligned (a pass whose d= has the organizational domain of the
 * MAIL FROM domain: the sender is authenticated, so a bounce to it is no backscatter),
 * authres.dkim (the dkim= clauses, policy/authres_facts.h). Read by the DMARC check.
 */
#include "policy/checks/checks.h"

#include "lib/xalloc.h"
#include "mailauth/dkim_conf.h"
#include "mailauth/dkim_header.h"
#include "mailauth/dkim_verify.h"
#include "mailauth/dmarc_org.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DKIM_CHECK_HEAD_MAX (256 * 1024)   /* a longer header is not verified */
#define DKIM_CHECK_FIELDS 1024              /* header fields looked at */
#define DKIM_CHECK_CHUNK (64 * 1024)        /* body bytes read at a time */

static const struct symbol_def dkim_symbols[] = {
    { "DKIM_VALID", -0.5, "a DKIM signature verified" },
    { "DKIM_INVALID", 1.0, "a DKIM signature does not match: the message was changed" },
    { "DKIM_WEAK_SHA1", 0.5, "a DKIM signature verified with rsa-sha1 (RFC 8301: weak)" },
    { "DKIM_L_TAG", 0.3, "a verified DKIM signature covers only part of the body (l=)" },
    { "DKIM_L_TAG_APPENDED", 1.5, "text was added after the body length a signature covers" },
    { "DKIM_TESTING", 0.0, "a DKIM key is in testing mode (t=y)" },
    { "DKIM_EXPIRED", 0.5, "a DKIM signature has expired (x=)" },
    { "DKIM_NEUTRAL", 0.3, "a DKIM signature cannot be processed (syntax, unknown algorithm)" },
    { "DKIM_PERMERROR", 0.5, "a DKIM key is missing, revoked or unusable" },
    { "DKIM_TEMPERROR", 0.0, "a DKIM key lookup failed temporarily" },
    { "DKIM_NONE", 0.0, "the message has no DKIM signature" },
    { "DKIM_TOO_MANY", 0.5, "the message has more DKIM signatures than are checked" },
    { NULL, 0, NULL }
};

/* Per call (priv): the verifier once the hashing is done. */
struct dkim_wait {
    struct dkim_verify *v;
};

/* The pool job: read and hash the message. */
struct dkim_job {
    int fd;
    unsigned long long off, size;
    struct dkim_verify_conf conf;
    long long now;
    struct dkim_verify *v;      /* the result, or NULL with why */
    const char *why;
};

static ssize_t read_at(int fd, char *buf, size_t len, unsigned long long off)
{
    size_t got = 0;

    while (got < len) {
        ssize_t r = pread(fd, buf + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -1 : (ssize_t)got;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Read the header, set up the verifier, hash the body. Any thread. */
static void job_work(void *arg)
{
    struct dkim_job *j = arg;
    size_t want = j->size < DKIM_CHECK_HEAD_MAX ? (size_t)j->size : DKIM_CHECK_HEAD_MAX;
    char *buf = xmalloc(want + 1), *chunk;
    struct dkim_field *f = xcalloc(DKIM_CHECK_FIELDS, sizeof(*f));
    size_t n = 0, body = 0;
    ssize_t got = read_at(j->fd, buf, want, j->off);
    enum dkim_split_status st;
    unsigned long long pos;

    if (got < 0 || (size_t)got != want) {
        j->why = "cannot read the message";
        goto out;
    }
    st = dkim_header_split(buf, want, f, DKIM_CHECK_FIELDS, &n, &body);
    if (st != DKIM_SPLIT_OK || (body == want && want < j->size)) {
        j->why = st == DKIM_SPLIT_TOO_MANY ? "too many header fields"
               : st == DKIM_SPLIT_MALFORMED ? "malformed header" : "header too large";
        goto out;
    }
    j->v = dkim_verify_new(&j->conf, f, n, j->now);
    dkim_verify_body(j->v, buf + body, want - body);
    chunk = buf;                       /* reuse the buffer for the rest of the body */
    for (pos = j->off + want; pos < j->off + j->size;) {
        size_t len = j->off + j->size - pos < DKIM_CHECK_CHUNK
                         ? (size_t)(j->off + j->size - pos) : DKIM_CHECK_CHUNK;
        if (len > want)
            len = want;
        got = read_at(j->fd, chunk, len, pos);
        if (got <= 0)
            break;
        dkim_verify_body(j->v, chunk, (size_t)got);
        pos += (unsigned long long)got;
    }
    dkim_verify_body_end(j->v);
out:
    free(f);
    free(buf);
}

static void job_free(void *arg)
{
    struct dkim_job *j = arg;

    dkim_verify_free(j->v);
    free(j);
}

/* ---- what the results say ------------------------------------------------------------- */

static const char *const status_symbol[] = {
    [DKIM_NONE] = "DKIM_NONE", [DKIM_PASS] = "DKIM_VALID", [DKIM_FAIL] = "DKIM_INVALID",
    [DKIM_POLICY] = "DKIM_EXPIRED", [DKIM_NEUTRAL] = "DKIM_NEUTRAL",
    [DKIM_TEMPERROR] = "DKIM_TEMPERROR", [DKIM_PERMERROR] = "DKIM_PERMERROR",
};

/* The domain of the envelope sender, or NULL (null sender). */
static const char *sender_domain(const struct check_call *c)
{
    const char *s = check_call_sender(c), *at;

    if (s == NULL || (at = strrchr(s, '@')) == NULL || at[1] == '\0')
        return NULL;
    return at + 1;
}

static void dkim_say(struct check_call *c, const struct dkim_result *r, size_t n,
                     size_t skipped, const char *why)
{
    json_t *results = json_array(), *pass = json_array();
    const char *sd = sender_domain(c);
    bool aligned = false;
    size_t i, need;
    char *ar;

    for (i = 0; i < n; i++) {
        const char *detail = r[i].reason ? r[i].reason : r[i].domain;
        check_symbol(c, CHECK_ALL, status_symbol[r[i].status], 1.0, detail);
        if (r[i].status == DKIM_PASS) {
            if (r[i].weak)
                check_symbol(c, CHECK_ALL, "DKIM_WEAK_SHA1", 1.0, r[i].domain);
            if (r[i].has_l)
                check_symbol(c, CHECK_ALL, r[i].body_truncated ? "DKIM_L_TAG_APPENDED"
                                                               : "DKIM_L_TAG", 1.0,
                             r[i].domain);
            if (r[i].testing)
                check_symbol(c, CHECK_ALL, "DKIM_TESTING", 1.0, r[i].domain);
            json_array_append_new(pass, json_string(r[i].domain));
            if (sd != NULL && dmarc_aligned(sd, r[i].domain, DMARC_ALIGN_RELAXED))
                aligned = true;
        }
        json_array_append_new(results, json_pack("{s:s, s:s, s:s}", "d", r[i].domain, "s",
                                                 r[i].selector, "result",
                                                 dkim_status_name(r[i].status)));
    }
    if (n == 0)
        check_symbol(c, CHECK_ALL, "DKIM_NONE", 1.0, why);
    if (skipped > 0)
        check_symbol(c, CHECK_ALL, "DKIM_TOO_MANY", 1.0, NULL);
    need = dkim_ar_format(NULL, 0, r, n);
    ar = xmalloc(need + 1);
    dkim_ar_format(ar, need + 1, r, n);
    check_fact_set(c, FACT_TX, "dkim.results", results);
    check_fact_set(c, FACT_TX, "dkim.pass_domains", pass);
    check_fact_set(c, FACT_TX, "dkim.sender_aligned", json_boolean(aligned));
    check_fact_set(c, FACT_TX, "authres.dkim", json_string(ar));
    free(ar);
}

static void finish(struct check_call *c)
{
    struct dkim_wait *w = check_call_priv(c);
    const struct dkim_result *r;
    size_t n;

    r = dkim_verify_results(w->v, &n);
    dkim_say(c, r, n, dkim_verify_skipped(w->v), NULL);
    dkim_verify_free(w->v);
    free(w);
    check_call_set_priv(c, NULL);
}

static void on_verified(struct dkim_verify *v, void *arg)
{
    struct check_call *c = arg;

    (void)v;
    finish(c);
    check_done(c);
}

/* After hashing (loop thread): CALL_DONE when nothing is left to wait for. */
static enum call_status hashed(struct check_call *c, struct dkim_job *j)
{
    const struct engine_env *env = check_call_env(c);
    struct dkim_wait *w = check_call_priv(c);
    struct dkim_dns dns;
    size_t n = 0;

    w->v = j->v;
    j->v = NULL;
    if (w->v != NULL)
        dkim_verify_results(w->v, &n);
    if (w->v == NULL || n == 0 || env->dns == NULL) {
        dkim_say(c, NULL, 0, w->v != NULL ? dkim_verify_skipped(w->v) : 0,
                 w->v == NULL ? j->why : n == 0 ? "no signature" : "no resolver");
        dkim_verify_free(w->v);
        free(w);
        check_call_set_priv(c, NULL);
        return CALL_DONE;
    }
    dns = dkim_dns_resolver(env->dns);
    dkim_verify_start(w->v, env->base, &dns, on_verified, c);
    return CALL_PENDING;
}

static void job_done(struct check_call *c, void *arg)
{
    if (hashed(c, arg) == CALL_DONE)
        check_done(c);
}

static enum call_status dkim_run(struct check_call *c)
{
    const struct engine_message *m = check_call_message(c);
    const struct engine_env *env = check_call_env(c);
    struct dkim_job *j;
    enum call_status st;

    if (m == NULL || m->fd < 0) {
        dkim_say(c, NULL, 0, 0, "no message");
        return CALL_DONE;
    }
    j = xcalloc(1, sizeof(*j));
    j->fd = m->fd;
    j->off = m->offset;
    j->size = m->size;
    j->conf = *(const struct dkim_verify_conf *)check_call_settings(c);
    j->now = (long long)time(NULL);
    check_call_set_priv(c, xcalloc(1, sizeof(struct dkim_wait)));
    if (env->check_pool == NULL) {          /* posternctl, tests without a pool */
        job_work(j);
        st = hashed(c, j);
        job_free(j);
        return st;
    }
    if (check_work_submit(c, j, job_work, job_done, job_free) < 0) {
        free(check_call_priv(c));          /* the engine has set 451 4.3.0 */
        check_call_set_priv(c, NULL);
        return CALL_DONE;
    }
    return CALL_PENDING;
}

static void dkim_cancel(struct check_call *c)
{
    struct dkim_wait *w = check_call_priv(c);

    if (w != NULL) {
        dkim_verify_free(w->v);
        free(w);
        check_call_set_priv(c, NULL);
    }
}

const struct check_def check_dkim = {
    .name = "dkim",
    .description = "DKIM signatures (RFC 6376, RFC 8463) of the message",
    .stages = STAGE_BIT(STAGE_END),
    .directions = DIR_INBOUND | DIR_BACKUP,
    .group = 60,
    .async = true,
    .flags = 0,
    .unsure = UNSURE_ACCEPT,
    .reason = "dkim",
    .symbols = dkim_symbols,
    .settings = &dkim_verify_conf_section,
    .settings_size = sizeof(struct dkim_verify_conf),
    .run = dkim_run,
    .cancel = dkim_cancel,
};
