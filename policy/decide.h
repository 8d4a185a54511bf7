/*
 * decide.h - the arithmetic that turns a recipient's score and verdicts into a
 * disposition, and the rule for one reply to a message with several recipients. Pure.
 *
 * One recipient (decide_rcpt), in this order:
 *   - excluded (an exclusion list names the recipient): not checked for spam at all: pass,
 *     no X-Spam headers;
 *   - whitelisted sender: never spam: pass (symbols are still listed in X-Spam-Status);
 *   - blacklisted sender: spam, with the level's spam action, or a refusal when the level
 *     says blacklist: refuse (the score does not matter);
 *   - otherwise the score against the thresholds: >= kill refuse (550 5.7.1), >= spam the
 *     spam action (mark, quarantine or discard), >= tag tag, else pass;
 *   - a role address (postmaster@, abuse@) is never refused for spam: it gets the spam
 *     action instead;
 *   - on submission the spam action is tag (no Subject prefix), kill still refuses;
 *   - then the checks' verdicts and actions: the most severe of all wins (refuse, defer,
 *     quarantine, discard, wrap, mark, tag, pass);
 *   - header-only recipients (backup domains, submission): mark and wrap become tag.
 *
 * The multi-recipient rule (decide_message), for the one reply after DATA:
 *   - if every recipient would be refused or deferred, the message is refused: with a 4xx
 *     when any of them would only be deferred, else with the 5xx;
 *   - otherwise the message is accepted for all, and each recipient gets its disposition
 *     after acceptance (decide_applied). A recipient whose own decision was refuse or
 *     defer then gets its `mixed` disposition instead:
 *       refused for spam (kill score or blacklist refusal) -> its level's spam action
 *         (mark by default: Subject prefix and headers; or quarantine / discard);
 *       refused by a check (virus reject, ...) -> what that check declares (default:
 *         quarantine);
 *       deferred (a check unsure with rule defer, greylisting after DATA, ...) -> what
 *         that check declares; by default what its score gives (pass, tag, mark ...).
 *     Nobody is ever sent a bounce for it.
 */
#ifndef POSTERN_POLICY_DECIDE_H
#define POSTERN_POLICY_DECIDE_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/result.h"

struct decide_input {
    double score;
    double tag, spam, kill;           /* the recipient's thresholds */
    enum disposition spam_action;     /* DISP_MARK, DISP_QUARANTINE or DISP_DISCARD */
    bool blacklist_refuses;           /* the level refuses blacklisted senders */
    bool excluded, whitelisted, blacklisted, role, submission, header_only;
    enum disposition verdict;         /* the most severe a check gave (DISP_NONE: none) */
    enum disposition verdict_mixed;   /* its substitute in a mixed message (DISP_NONE:
                                         what the score gives) */
};

struct decision {
    enum disposition disp;    /* for this recipient alone */
    enum disposition mixed;   /* instead of refuse/defer, when the message is accepted */
    bool spam;                /* X-Spam-Status: Yes */
    bool headers;             /* the X-Spam-* headers apply (not excluded) */
    bool spam_refusal;        /* disp is refuse because of the score or the blacklist */
};

void decide_rcpt(const struct decide_input *in, struct decision *out);

/* The more severe of two dispositions (DISP_NONE counts as nothing). */
enum disposition disposition_max(enum disposition a, enum disposition b);

enum message_verdict { MESSAGE_ACCEPT, MESSAGE_DEFER, MESSAGE_REFUSE };

/* The reply for a message whose recipients got decisions d[0..n): *reply_from is the
 * recipient whose refusal or deferral is the reply (the first refusing one for a 5xx, the
 * first deferring one for a 4xx). n == 0 accepts. */
enum message_verdict decide_message(const struct decision *d, size_t n, size_t *reply_from);

/* What recipient d gets once the message is accepted. */
enum disposition decide_applied(const struct decision *d);

/* The protection level's own action for a recipient (postern_spam_actions_total): what
 * the score and the lists give, the checks' verdicts left out, with the same role,
 * submission and header-only rules. In an accepted message (accepted) a refusal for spam
 * becomes the spam action it gets instead; otherwise DISP_REFUSE stays. One of DISP_PASS,
 * DISP_TAG, DISP_MARK, DISP_QUARANTINE, DISP_DISCARD, DISP_REFUSE. */
enum disposition decide_level_action(const struct decide_input *in, bool accepted);

/* The metric label of a level action: "none" (pass), "tag", "subject" (mark: the Subject
 * prefix), "quarantine", "discard", "refuse"; "other" for anything else. */
const char *decide_action_label(enum disposition d);

#endif
