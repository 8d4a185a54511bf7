/*
 * ratelimit_conf.c - the "ratelimit" configuration section (keys declared once, here).
 *
 *   "ratelimit": {
 *     "enabled": true,
 *     "fail_mode": "tempfail",              // or "open": accept and log when Redis fails
 *     "default_class": "default",
 *     "classes": {
 *       "default":    { "recipients": 60,    "window": "5m" },
 *       "newsletter": { "recipients": 10000, "window": "1h", "messages_per_hour": 200,
 *                       "max_recipients_per_message": 1000 }
 *     },
 *     "users": { "news@example.com": { "class": "newsletter" } }
 *   }
 * A class named "default" exists even when not listed (60 recipients per 5m, cap 100 per
 * message). Users are a map login -> { "class": NAME } so that more per-user settings can be
 * added later without changing the syntax. Every class named by users and default_class
 * must exist. Hooked into the root table by relay/ as
 * { "ratelimit", CONF_SECTION, offsetof(root, ratelimit), .sub = &rl_conf_section }.
 * In its own file so test drivers using the limiter do not pull in the config engine.
 * Threading: used at config load only.
 */
#include "policy/ratelimit.h"

#include "lib/xalloc.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define RL_STR2(x) #x
#define RL_STR(x) RL_STR2(x)
#define RL_COUNT_MAX 100000000LL        /* recipients or messages in one window */
#define RL_WINDOW_MIN_MS 1000LL
#define RL_WINDOW_MAX_MS (31LL * 24 * 3600 * 1000)
#define RL_RCPT_PER_MSG_MAX 1000000LL

static const char *const rl_fail_modes[] = { "tempfail", "open", NULL };

static int rl_class_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct rl_class_conf *c = obj;

    if (c->burst > c->recipients)
        return conf_error(errs, pointer, "burst (%lld) is larger than recipients (%lld)",
                          c->burst, c->recipients);
    return 0;
}

static const struct conf_key rl_class_keys[] = {
    { .name = "recipients", .type = CONF_INT,
      .offset = offsetof(struct rl_class_conf, recipients), .def = RL_STR(RL_DEF_RECIPIENTS),
      .min = 1, .max = RL_COUNT_MAX,
      .help = "Recipients a user of this class may send in any window of `window`" },
    { .name = "window", .type = CONF_DURATION,
      .offset = offsetof(struct rl_class_conf, window_ms), .def = RL_STR(RL_DEF_WINDOW_S) "s",
      .min = RL_WINDOW_MIN_MS, .max = RL_WINDOW_MAX_MS,
      .help = "Length of the sliding window of the recipient limit" },
    { .name = "burst", .type = CONF_INT, .offset = offsetof(struct rl_class_conf, burst),
      .def = "0", .min = 0, .max = RL_COUNT_MAX,
      .help = "Most recipients at once (token bucket capacity); 0 = recipients" },
    { .name = "messages_per_hour", .type = CONF_INT,
      .offset = offsetof(struct rl_class_conf, messages_per_hour), .def = "0",
      .min = 0, .max = RL_COUNT_MAX,
      .help = "Messages (MAIL FROM) per sliding hour; 0 = no limit" },
    { .name = "max_recipients_per_message", .type = CONF_INT,
      .offset = offsetof(struct rl_class_conf, max_recipients_per_message),
      .def = RL_STR(RL_DEF_MAX_RCPT_PER_MSG), .min = 0, .max = RL_RCPT_PER_MSG_MAX,
      .help = "Recipients of one message beyond this get 452 4.5.3; 0 = no cap" },
    { .name = NULL }
};

static const struct conf_section rl_class_section = {
    .name = "ratelimit class", .keys = rl_class_keys, .validate = rl_class_validate,
};

static const struct conf_key rl_user_keys[] = {
    { .name = "class", .type = CONF_STRING,
      .offset = offsetof(struct rl_user_conf, class_name), .flags = CONF_REQUIRED,
      .help = "Rate-limit class of this login (a key of ratelimit.classes)" },
    { .name = NULL }
};

static const struct conf_section rl_user_section = {
    .name = "ratelimit user", .keys = rl_user_keys,
};

/* JSON pointer of a map member: '~' and '/' in the name are escaped (RFC 6901). */
static char *rl_pointer(const char *base, const char *member, const char *name)
{
    size_t n = strlen(base) + strlen(member) + 2 * strlen(name) + sizeof("//");
    char *p = xmalloc(n), *o;

    o = p + snprintf(p, n, "%s/%s/", base, member);
    for (; *name; name++) {
        if (*name == '~' || *name == '/') {
            *o++ = '~';
            *o++ = *name == '~' ? '0' : '1';
        } else {
            *o++ = *name;
        }
    }
    *o = '\0';
    return p;
}

static int rl_conf_validate(void *obj, const char *pointer, struct conf_errors *errs)
{
    const struct rl_conf *c = obj;
    const struct rl_user_conf *u = c->users.items;
    size_t i;
    int n = 0;

    if (c->default_class == NULL || rl_class_find(c, c->default_class) == NULL)
        n += conf_error(errs, pointer, "default_class: no class \"%s\" in classes",
                        c->default_class ? c->default_class : "");
    for (i = 0; i < c->users.n; i++) {
        if (rl_class_find(c, u[i].class_name) == NULL) {
            char *p = rl_pointer(pointer, "users", u[i].name);
            n += conf_error(errs, p, "class: no class \"%s\" in ratelimit.classes",
                            u[i].class_name);
            free(p);
        }
    }
    return n;
}

static const struct conf_key rl_keys[] = {
    { .name = "enabled", .type = CONF_BOOL, .offset = offsetof(struct rl_conf, enabled),
      .def = "true", .help = "Limit authenticated senders (recipients, messages)" },
    { .name = "fail_mode", .type = CONF_ENUM, .offset = offsetof(struct rl_conf, fail_mode),
      .def = "tempfail", .choices = rl_fail_modes,
      .help = "When Redis fails or is slow: tempfail (451 4.3.0) or open (accept, log)" },
    { .name = "default_class", .type = CONF_STRING,
      .offset = offsetof(struct rl_conf, default_class), .def = RL_DEFAULT_CLASS,
      .help = "Class of users not listed in users" },
    { .name = "classes", .type = CONF_MAP, .offset = offsetof(struct rl_conf, classes),
      .sub = &rl_class_section, .elem_size = sizeof(struct rl_class_conf),
      .help = "Named limit classes; \"default\" exists even when not listed" },
    { .name = "users", .type = CONF_MAP, .offset = offsetof(struct rl_conf, users),
      .sub = &rl_user_section, .elem_size = sizeof(struct rl_user_conf),
      .help = "Per-login class overrides: login -> { \"class\": NAME }" },
    { .name = NULL }
};

const struct conf_section rl_conf_section = {
    .name = "ratelimit", .keys = rl_keys, .validate = rl_conf_validate,
};
