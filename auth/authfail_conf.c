/*
 * authfail_conf.c - the "authfail" configuration section (failed-login throttling).
 *
 *   "authfail": { "enabled": true, "window": "15m", "ip_threshold": 20,
 *                 "login_ip_threshold": 5, "login_threshold": 10, "login_delay": "1s",
 *                 "login_delay_max": "15s", "fail_mode": "open", "ipv6_prefix": 64 }
 * Hooked into the root table by relay/ as
 * { "authfail", CONF_SECTION, offsetof(root, authfail), .sub = &authfail_conf_section }.
 * In its own file so test drivers do not pull in the config engine.
 * Threading: used at config load only.
 */
#include "auth/authfail.h"

#include "lib/conf.h"

#include <stddef.h>

#define AF_WINDOW_MIN_MS 1000LL
#define AF_WINDOW_MAX_MS (7LL * 24 * 3600 * 1000)
#define AF_THRESHOLD_MAX 1000000LL
#define AF_DELAY_MAX_MS 60000LL   /* a held verdict keeps a session slot: a minute at most */
#define AF_IPV6_PREFIX_MIN 16
#define AF_IPV6_PREFIX_MAX 128

static const char *const af_fail_modes[] = { "open", "closed", NULL };

static int authfail_validate(void *obj, const char *pointer, struct conf_errors *errs);

#define AFC(f) offsetof(struct authfail_conf, f)
static const struct conf_key authfail_keys[] = {
    { .name = "enabled", .type = CONF_BOOL, .offset = AFC(enabled), .def = "true",
      .help = "Count failed logins in Redis: block guessing addresses, slow guessed logins" },
    { .name = "window", .type = CONF_DURATION, .offset = AFC(window_ms), .def = "15m",
      .min = AF_WINDOW_MIN_MS, .max = AF_WINDOW_MAX_MS,
      .help = "Counting window, from the first failure; also how long a block lasts" },
    { .name = "ip_threshold", .type = CONF_INT, .offset = AFC(ip_threshold), .def = "20",
      .min = 1, .max = AF_THRESHOLD_MAX,
      .help = "Failed logins per window from one client address (IPv6: per ipv6_prefix), "
              "any logins, that block AUTH from that address (421, before SASL runs)" },
    { .name = "login_ip_threshold", .type = CONF_INT, .offset = AFC(login_ip_threshold),
      .def = "5", .min = 1, .max = AF_THRESHOLD_MAX,
      .help = "Failed logins per window of one login from one address that block that "
              "login from that address (whatever the password)" },
    { .name = "login_threshold", .type = CONF_INT, .offset = AFC(login_threshold),
      .def = "10", .min = 1, .max = AF_THRESHOLD_MAX,
      .help = "Failed logins per window of one login from all addresses that raise the "
              "auth.bruteforce alert and start delaying that login's verdicts (never a block)" },
    { .name = "login_delay", .type = CONF_DURATION, .offset = AFC(login_delay_ms),
      .def = "1s", .min = 0, .max = AF_DELAY_MAX_MS,
      .help = "First delay of a login over login_threshold; doubles with each further "
              "failure (0: no delay)" },
    { .name = "login_delay_max", .type = CONF_DURATION, .offset = AFC(login_delay_max_ms),
      .def = "15s", .min = 0, .max = AF_DELAY_MAX_MS,
      .help = "Longest delay of a login's verdict (a timer: the session waits, nothing blocks)" },
    { .name = "fail_mode", .type = CONF_ENUM, .offset = AFC(fail_mode), .def = "open",
      .choices = af_fail_modes,
      .help = "When Redis fails: open (AUTH proceeds uncounted, logged) or closed "
              "(AUTH refused with 454 4.7.0)" },
    { .name = "ipv6_prefix", .type = CONF_INT, .offset = AFC(ipv6_prefix), .def = "64",
      .min = AF_IPV6_PREFIX_MIN, .max = AF_IPV6_PREFIX_MAX,
      .help = "IPv6 clients are counted per network of this prefix length" },
    { .name = NULL }
};

const struct conf_section authfail_conf_section = {
    .name = "authfail", .keys = authfail_keys, .validate = authfail_validate,
};

static int authfail_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct authfail_conf *c = obj;

    if (c->login_delay_max_ms < c->login_delay_ms)
        return conf_error(errs, pointer, "login_delay_max (%lld ms) is below login_delay "
                          "(%lld ms)", c->login_delay_max_ms, c->login_delay_ms);
    return 0;
}
