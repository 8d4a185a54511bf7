/*
 * profile.h - policy profiles: which checks run for a listener, with which settings.
 *
 *   "policy": { "profiles": {
 *       "inbound":     { "direction": "inbound",    "checks": { ... } },   shipped
 *       "submission":  { "direction": "submission", "checks": { ... } },   shipped
 *       "submissions": { "direction": "submission", "checks": { ... } },   shipped
 *       "newsletter":  { "direction": "submission", "deadline": "5s",
 *                        "checks": { "ratelimit": { "class": "bulk" } } }  a custom one
 *   } }
 * A listener names its profile (phase 2 of the engine work: the listener's "profile" key
 * becomes a name in this map, with its own "tls" and "auth" keys; "submissions" keeps
 * meaning implicit TLS for a listener that does not say). A profile says:
 *   direction     inbound (MX and backup MX: the recipient's settings apply) or submission
 *                 (authenticated senders: the sender's settings apply, outbound defaults)
 *   checks        the checks that run, each with its own settings (the keys that check
 *                 declares); a check absent from the map does not run. A shipped profile
 *                 named in the config keeps its shipped checks unless "checks" is given.
 *   deadline      how long the checks of one stage may take (CONNECT .. DATA)
 *   end_deadline  the same for END (content scans take longer)
 *
 * Threading: read-only after config load.
 */
#ifndef POSTERN_POLICY_PROFILE_H
#define POSTERN_POLICY_PROFILE_H

#include "lib/conf.h"

enum profile_direction { DIRECTION_INBOUND, DIRECTION_SUBMISSION };

struct profile_conf {
    char *name;                /* the map key */
    int direction;             /* enum profile_direction */
    long long deadline_ms;
    long long end_deadline_ms;
    struct conf_array checks;  /* struct conf_named: a check's name and its settings */
};

extern const struct conf_section profile_conf_section;
extern const char profile_builtin_json[];

/* The profile called name, or NULL. */
const struct profile_conf *profile_find(const struct conf_array *profiles, const char *name);

#endif
