/*
 * check_early_talker.c - a client that sends before the greeting banner (postscreen's
 * "pregreet" test): spam bots often do, real MTAs wait for the 220.
 *
 * The session detects it, not this check: on the inbound listener with a greeting delay
 * (smtpd setting, default 0: off; a few seconds is what postscreen does), the session
 * waits that long before its 220 and, when the client has sent anything by then, sets
 *   engine_fact_set(s, FACT_SESSION, "smtpd.early_talk", json_true())
 * before it runs the HELO stage. This check reads that fact at HELO and adds
 * EARLY_TALKER (once per session) for every recipient; with "refuse": true the session's
 * recipients get 550 5.5.1 at RCPT (postmaster@ can still be reached). Never on
 * submission (the check declares inbound and backup only).
 */
#include "policy/checks/checks.h"
#include "policy/checks/skip_networks.h"

#include <jansson.h>
#include <stddef.h>

struct early_settings {
    struct conf_strlist skip_networks;
    bool refuse;
};

static const struct conf_key early_keys[] = {
    { .name = "refuse", .type = CONF_BOOL, .offset = offsetof(struct early_settings, refuse),
      .def = "false", .help = "refuse early talkers (550 5.5.1) instead of scoring them" },
    SKIP_NETWORKS_KEY(struct early_settings, skip_networks),
    { .name = NULL }
};
static int early_section_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct early_settings *s = obj;

    return skip_networks_validate(&s->skip_networks, pointer, errs);
}
static const struct conf_section early_section = {
    .name = "early_talker", .keys = early_keys, .validate = early_section_validate,
};

static const struct symbol_def early_symbols[] = {
    { "EARLY_TALKER", 3.0, "the client sent before the greeting banner" },
    { NULL, 0, NULL }
};

static enum call_status early_run(struct check_call *c)
{
    const struct early_settings *s = check_call_settings(c);

    if (skip_networks_match(&s->skip_networks, check_call_client_ip(c)) ||
        skip_networks_match(check_call_env(c)->dns_skip_networks, check_call_client_ip(c)))
        return CALL_DONE;
    if (!json_is_true(check_fact(c, "smtpd.early_talk")) ||
        json_is_true(check_fact(c, "early_talker.seen")))
        return CALL_DONE;
    check_fact_set(c, FACT_SESSION, "early_talker.seen", json_true());
    check_symbol(c, CHECK_ALL, "EARLY_TALKER", 1, NULL);
    if (s->refuse)
        check_verdict(c, CHECK_ALL, VERDICT_REFUSE, 550, "5.5.1",
                      "Protocol error: you talked before the greeting");
    return CALL_DONE;
}

const struct check_def check_early_talker = {
    .name = "early_talker",
    .description = "the client sent before the greeting banner",
    .stages = STAGE_BIT(STAGE_CONNECT) | STAGE_BIT(STAGE_HELO),
    .directions = DIR_INBOUND | DIR_BACKUP,
    .group = 50,
    .async = false,
    .flags = CHECK_ROLE_BYPASS,
    .unsure = UNSURE_ACCEPT,
    .reason = "early_talker",
    .symbols = early_symbols,
    .settings = &early_section,
    .settings_size = sizeof(struct early_settings),
    .run = early_run,
};
