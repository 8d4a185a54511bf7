/*
 * check_virus.c - the virus check: at the end of DATA the spooled message is scanned by the
 * scanner program (content/scan_client.h, through env->scanner) before its 250.
 *
 *   virus found   VIRUS_FOUND (text: the signature); submission: always 554 5.7.1 Virus
 *                 found: NAME (Postern never relays a virus); inbound: each recipient's
 *                 virus_action (settings.h): reject (554, the default), quarantine, wrap,
 *                 mark (X-Virus-Status: Infected NAME), delete, off. A message.virus event
 *                 either way.
 *   unscanned     a scan limit was hit: VIRUS_UNSCANNED and the unsure rule (never clean,
 *                 never "virus found")
 *   encrypted     VIRUS_ENCRYPTED, then the profile's `encrypted` setting: mark (default:
 *                 X-Virus-Status: Suspicious NAME), reject (554 5.7.1), defer (the unsure
 *                 rule), accept
 *   unavailable   no engine yet, scanner died, timeout, error: VIRUS_UNAVAILABLE, the
 *                 unsure rule (default defer, 451 4.3.0) and policy.check_unavailable
 *                 through the outage tracker (service "virus")
 * Never bypassed by whitelists or role addresses. env->scanner NULL (virus.enabled false):
 * the check does nothing.
 */
#include "policy/checks/checks.h"

#include "content/scan_client.h"
#include "lib/metrics.h"
#include "lib/xalloc.h"
#include "policy/domain_conf.h"
#include "policy/outage.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define SERVICE "virus"

enum encrypted_action { ENC_MARK, ENC_REJECT, ENC_DEFER, ENC_ACCEPT };
static const char *const encrypted_names[] = { "mark", "reject", "defer", "accept", NULL };

struct virus_settings {
    int encrypted;                 /* enum encrypted_action */
};

static const struct conf_key virus_keys[] = {
    { .name = "encrypted", .type = CONF_ENUM, .offset = offsetof(struct virus_settings, encrypted),
      .def = "mark", .choices = encrypted_names,
      .help = "an encrypted archive or document (cannot be scanned): mark (X-Virus-Status: "
              "Suspicious), reject (554 5.7.1), defer (the unsure rule) or accept" },
    { .name = NULL }
};
static const struct conf_section virus_settings_section = { .name = "virus", .keys = virus_keys };

static const struct symbol_def virus_symbols[] = {
    { "VIRUS_FOUND", 0, "the scanner found a virus (text: its signature name)" },
    { "VIRUS_UNSCANNED", 0, "a scan limit was hit (size, files, nesting, time): not scanned" },
    { "VIRUS_ENCRYPTED", 0, "an encrypted archive or document that cannot be scanned" },
    { "VIRUS_UNAVAILABLE", 0, "no scan result: scanner starting, without engine, died or "
                              "timed out" },
    { NULL, 0, NULL }
};

static const struct check_reply virus_unsure_reply = {
    451, "4.3.0", "Error: virus scan not possible now, try again later"
};

struct virus_wait {
    struct scan_req *req;
};

static void unavailable(struct check_call *c, const char *why)
{
    const struct engine_env *env = check_call_env(c);

    outage_down(env->outages, SERVICE, "virus", why);
    check_symbol(c, CHECK_ALL, "VIRUS_UNAVAILABLE", 1.0, why);
    check_unsure(c, CHECK_ALL, NULL);
}

static void raise_event(struct check_call *c, const char *name)
{
    json_t *rcpts = json_array(), *data;
    const char *login = check_call_login(c), *qid = check_call_queue_id(c);
    size_t i;

    for (i = 0; i < check_call_nrcpt(c); i++)
        json_array_append_new(rcpts, json_string(check_call_rcpt(c, i)));
    data = json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o}",
                     "signature", name,
                     "direction", check_call_submission(c) ? "submission" : "inbound",
                     "client", check_call_client_ip(c),
                     "client_name", check_call_client_name(c),
                     "login", login != NULL ? json_string(login) : json_null(),
                     "sender", check_call_sender(c) != NULL
                                   ? json_string(check_call_sender(c)) : json_null(),
                     "queue_id", qid != NULL ? json_string(qid) : json_null(),
                     "recipients", rcpts);
    if (data != NULL)
        check_event(c, "message.virus", data);
}

static void found(struct check_call *c, const char *name)
{
    char why[200], hdr[200];
    size_t i;

    metrics_inc(M_VIRUS_FOUND);
    check_symbol(c, CHECK_ALL, "VIRUS_FOUND", 1.0, name);
    raise_event(c, name);
    snprintf(why, sizeof(why), "virus %s", name);
    if (check_call_submission(c)) {
        check_verdict(c, CHECK_ALL, VERDICT_REFUSE, 554, "5.7.1", "Virus found: %s", name);
        return;
    }
    for (i = 0; i < check_call_nrcpt(c); i++) {
        const struct policy_settings *s = check_call_rcpt_settings(c, i);
        int action = s != NULL ? s->virus_action : CONTENT_REJECT;

        switch (action) {
        case CONTENT_QUARANTINE:
            check_disposition(c, (ssize_t)i, DISP_QUARANTINE, why);
            break;
        case CONTENT_WRAP:
            check_disposition(c, (ssize_t)i, DISP_WRAP, why);
            break;
        case CONTENT_MARK:
            snprintf(hdr, sizeof(hdr), "Infected %s", name);
            check_header(c, (ssize_t)i, "X-Virus-Status", hdr);
            break;
        case CONTENT_DELETE:
            check_disposition(c, (ssize_t)i, DISP_DISCARD, why);
            break;
        case CONTENT_OFF:
            break;
        default:
            check_verdict(c, (ssize_t)i, VERDICT_REFUSE, 554, "5.7.1", "Virus found: %s", name);
            break;
        }
    }
}

static void encrypted(struct check_call *c, const char *name)
{
    const struct virus_settings *vs = check_call_settings(c);
    char hdr[200];

    check_symbol(c, CHECK_ALL, "VIRUS_ENCRYPTED", 1.0, name);
    switch (vs != NULL ? vs->encrypted : ENC_MARK) {
    case ENC_REJECT:
        check_verdict(c, CHECK_ALL, VERDICT_REFUSE, 554, "5.7.1",
                      "Encrypted content cannot be scanned: %s", name);
        break;
    case ENC_DEFER:
        check_unsure(c, CHECK_ALL, NULL);
        break;
    case ENC_ACCEPT:
        break;
    default:
        snprintf(hdr, sizeof(hdr), "Suspicious %s", name);
        check_header(c, CHECK_ALL, "X-Virus-Status", hdr);
        break;
    }
}

static void on_scan(const struct scan_result *r, void *arg)
{
    struct check_call *c = arg;
    const struct engine_env *env = check_call_env(c);

    free(check_call_priv(c));
    check_call_set_priv(c, NULL);
    if (r->status != SCAN_UNAVAILABLE && r->status != SCAN_ERROR)
        outage_up(env->outages, SERVICE);
    check_fact_set(c, FACT_TX, "virus.result",
                   json_sprintf("%s%s%s", scan_status_name(r->status),
                                r->detail[0] != '\0' ? " " : "", r->detail));
    switch (r->status) {
    case SCAN_CLEAN:
        break;
    case SCAN_VIRUS:
        found(c, r->detail);
        break;
    case SCAN_UNSCANNED:
        check_symbol(c, CHECK_ALL, "VIRUS_UNSCANNED", 1.0, r->detail);
        check_unsure(c, CHECK_ALL, NULL);
        break;
    case SCAN_ENCRYPTED:
        encrypted(c, r->detail);
        break;
    case SCAN_ERROR:
        check_symbol(c, CHECK_ALL, "VIRUS_UNAVAILABLE", 1.0, r->detail);
        check_unsure(c, CHECK_ALL, NULL);
        break;
    default:
        unavailable(c, r->detail);
        break;
    }
    check_done(c);
}

static enum call_status virus_run(struct check_call *c)
{
    const struct engine_env *env = check_call_env(c);
    const struct engine_message *m = check_call_message(c);
    struct virus_wait *w;

    if (env->scanner == NULL)
        return CALL_DONE;                  /* virus.enabled: false */
    if (m == NULL || m->fd < 0) {
        unavailable(c, "no spooled message");
        return CALL_DONE;
    }
    if (!scan_client_available(env->scanner)) {
        unavailable(c, scan_client_why(env->scanner));
        return CALL_DONE;
    }
    w = xcalloc(1, sizeof(*w));
    check_call_set_priv(c, w);
    w->req = scan_submit(env->scanner, m->fd, m->offset, m->size, on_scan, c);
    if (w->req == NULL) {
        free(w);
        check_call_set_priv(c, NULL);
        unavailable(c, "scan request failed");
        return CALL_DONE;
    }
    return CALL_PENDING;
}

static void virus_cancel(struct check_call *c)
{
    struct virus_wait *w = check_call_priv(c);

    if (w == NULL)
        return;
    scan_cancel(w->req);
    free(w);
    check_call_set_priv(c, NULL);
}

const struct check_def check_virus = {
    .name = "virus",
    .description = "scan the message for viruses (libclamav in the confined scanner process)",
    .stages = STAGE_BIT(STAGE_END),
    .directions = DIR_ALL,
    .group = 30,
    .async = true,
    .flags = CHECK_USES_SETTINGS,      /* never CHECK_ROLE_BYPASS / CHECK_WHITELIST_BYPASS */
    .unsure = UNSURE_DEFER,
    .unsure_reply = &virus_unsure_reply,
    .mixed = DISP_NONE,
    .reason = "virus",
    .symbols = virus_symbols,
    .settings = &virus_settings_section,
    .settings_size = sizeof(struct virus_settings),
    .run = virus_run,
    .cancel = virus_cancel,
};
