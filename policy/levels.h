/*
 * levels.h - protection levels: the thresholds and switches that turn a recipient's score
 * into a disposition, as an admin offers them to customers.
 *
 *   "policy": { "levels": {
 *       "high":   { "tag": 3, "spam": 5,  "kill": 8 },      shipped (these values)
 *       "medium": { "tag": 5, "spam": 8,  "kill": 12 },     shipped, the default level
 *       "low":    { "tag": 8, "spam": 12, "kill": 20 },     shipped
 *       "strict-backup": { "tag": 4, "unsure_defer": ["dnsbl"] }   a custom level
 *   } }
 * A shipped level named in the config changes only the keys given; a custom level starts
 * from the key defaults (medium's thresholds). Each level has:
 *   tag, spam, kill   score thresholds: at tag the X-Spam-Flag/Level headers; at spam the
 *                     spam action; at kill a refusal during the SMTP dialogue (550 5.7.1)
 *                     (1000 = never). tag <= spam <= kill.
 *   headers           add X-Spam-Status and X-Spam-Score to every checked message
 *   subject_prefix    the Subject prefix of the "mark" action ("+++SPAM+++ ")
 *   spam_action       mark | quarantine | discard, at the spam score
 *   blacklist         spam (blacklisted senders get the spam action) | refuse (550 5.7.1)
 *   unsure_defer, unsure_accept   checks whose unsure outcome (timeout, service down) this
 *                     level overrides; the others keep their own default
 *   greylist_score    greylisting (where it is on) defers only recipients whose score
 *                     so far is at least this (-1000, the default: whatever the score)
 * The arithmetic itself is in decide.h.
 *
 * Threading: read-only after config load.
 */
#ifndef POSTERN_POLICY_LEVELS_H
#define POSTERN_POLICY_LEVELS_H

#include <stdbool.h>

#include "lib/conf.h"
#include "policy/result.h"

enum blacklist_mode { BLACKLIST_SPAM, BLACKLIST_REFUSE };

/* A check's outcome when it cannot say (timeout, service down). */
enum unsure_rule { UNSURE_ACCEPT, UNSURE_DEFER };

struct level_conf {
    char *name;                    /* the map key */
    double tag, spam, kill;
    bool headers;
    char *subject_prefix;
    int spam_action;               /* index in spam_action names: mark, quarantine, discard */
    int blacklist;                 /* enum blacklist_mode */
    struct conf_strlist unsure_defer;
    struct conf_strlist unsure_accept;
    double greylist_score;         /* greylist only recipients scoring at least this */
    struct conf_strlist blocked_extensions;   /* file types (check_filetype.c) */
    struct conf_strlist blocked_types;
};

/* The level map's key table (for "policy": {"levels": ...}) and its shipped entries. */
extern const struct conf_section level_conf_section;
extern const char level_builtin_json[];

#define LEVEL_DEFAULT "medium"    /* the level of a domain that names none */
#define LEVEL_NEVER   1000.0      /* a threshold this high is never reached */

/* The level called name, or NULL. */
const struct level_conf *level_find(const struct conf_array *levels, const char *name);

/* The spam action as a disposition: DISP_MARK, DISP_QUARANTINE or DISP_DISCARD. */
enum disposition level_spam_disposition(const struct level_conf *l);

/* What this level does when check `check` is unsure: its override, or the check's default. */
enum unsure_rule level_unsure_rule(const struct level_conf *l, const char *check,
                                   enum unsure_rule check_default);

#endif
