/*
 * authfail_conf.c - the "authfail" configuration section (failed-login throttling).
 *
 *   "authfail": { "enabled": true, "window": "15m", "threshold": 5,
 *                 "fail_mode": "open", "ipv6_prefix": 64 }
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
#define AF_IPV6_PREFIX_MIN 16
#define AF_IPV6_PREFIX_MAX 128

static const char *const af_fail_modes[] = { "open", "closed", NULL };

static const struct conf_key authfail_keys[] = {
    { .name = "enabled", .type = CONF_BOOL, .offset = offsetof(struct authfail_conf, enabled),
      .def = "true", .help = "Refuse AUTH from addresses and logins with too many failures" },
    { .name = "window", .type = CONF_DURATION,
      .offset = offsetof(struct authfail_conf, window_ms), .def = "15m",
      .min = AF_WINDOW_MIN_MS, .max = AF_WINDOW_MAX_MS,
      .help = "Counting window, from the first failure; also how long a block lasts" },
    { .name = "threshold", .type = CONF_INT,
      .offset = offsetof(struct authfail_conf, threshold), .def = "5",
      .min = 1, .max = AF_THRESHOLD_MAX,
      .help = "Failed logins per window (per address or per login) that block AUTH" },
    { .name = "fail_mode", .type = CONF_ENUM,
      .offset = offsetof(struct authfail_conf, fail_mode), .def = "open",
      .choices = af_fail_modes,
      .help = "When Redis fails: open (AUTH proceeds, logged) or closed (AUTH refused)" },
    { .name = "ipv6_prefix", .type = CONF_INT,
      .offset = offsetof(struct authfail_conf, ipv6_prefix), .def = "64",
      .min = AF_IPV6_PREFIX_MIN, .max = AF_IPV6_PREFIX_MAX,
      .help = "IPv6 clients are counted per network of this prefix length" },
    { .name = NULL }
};

const struct conf_section authfail_conf_section = {
    .name = "authfail", .keys = authfail_keys,
};
