/*
 * decide.c - per-recipient disposition and the multi-recipient rule (see decide.h).
 */
#include "policy/decide.h"

enum disposition disposition_max(enum disposition a, enum disposition b)
{
    return a > b ? a : b;   /* the enum is ordered by severity */
}

/* What the score (and lists) give, before the checks' verdicts. */
static void decide_spam(const struct decide_input *in, struct decision *out)
{
    enum disposition spam_disp = in->submission ? DISP_TAG : in->spam_action;

    out->disp = DISP_PASS;
    out->mixed = DISP_NONE;
    out->spam = false;
    out->headers = !in->excluded;
    out->spam_refusal = false;
    if (in->excluded || in->whitelisted)
        return;
    if (in->blacklisted) {
        out->spam = true;
        out->disp = in->blacklist_refuses && !in->role && !in->submission ? DISP_REFUSE
                                                                          : spam_disp;
    } else if (in->score >= in->kill) {
        out->spam = true;
        out->disp = in->role && !in->submission ? spam_disp : DISP_REFUSE;
    } else if (in->score >= in->spam) {
        out->spam = true;
        out->disp = spam_disp;
    } else if (in->score >= in->tag) {
        out->spam = true;
        out->disp = DISP_TAG;
    }
    if (out->disp == DISP_REFUSE) {
        out->spam_refusal = true;
        out->mixed = spam_disp;
    }
}

static enum disposition header_only(enum disposition d)
{
    return d == DISP_MARK || d == DISP_WRAP ? DISP_TAG : d;
}

void decide_rcpt(const struct decide_input *in, struct decision *out)
{
    enum disposition by_score;

    decide_spam(in, out);
    by_score = out->disp == DISP_REFUSE ? out->mixed : out->disp;
    /* a check's refusal also wins over a refusal for spam: its reply says more */
    if (in->verdict > out->disp || (in->verdict == DISP_REFUSE && out->disp == DISP_REFUSE)) {
        out->disp = in->verdict;
        out->spam_refusal = false;
        if (in->verdict == DISP_REFUSE)
            out->mixed = in->verdict_mixed != DISP_NONE ? in->verdict_mixed : DISP_QUARANTINE;
        else if (in->verdict == DISP_DEFER)
            out->mixed = in->verdict_mixed != DISP_NONE ? in->verdict_mixed : by_score;
    }
    /* in a mixed message the refusal/deferral becomes an action that must not be milder
     * than what the score alone gives */
    if (out->mixed != DISP_NONE)
        out->mixed = disposition_max(out->mixed, by_score);
    if (in->header_only) {
        out->disp = header_only(out->disp);
        out->mixed = header_only(out->mixed);
    }
}

enum message_verdict decide_message(const struct decision *d, size_t n, size_t *reply_from)
{
    size_t i, first_refuse = n, first_defer = n;

    for (i = 0; i < n; i++) {
        if (d[i].disp == DISP_REFUSE && first_refuse == n)
            first_refuse = i;
        else if (d[i].disp == DISP_DEFER && first_defer == n)
            first_defer = i;
        else if (d[i].disp != DISP_REFUSE && d[i].disp != DISP_DEFER)
            return MESSAGE_ACCEPT;
    }
    if (n == 0)
        return MESSAGE_ACCEPT;
    if (first_defer < n) {
        *reply_from = first_defer;
        return MESSAGE_DEFER;
    }
    *reply_from = first_refuse;
    return MESSAGE_REFUSE;
}

enum disposition decide_applied(const struct decision *d)
{
    if (d->disp == DISP_REFUSE || d->disp == DISP_DEFER)
        return d->mixed != DISP_NONE ? d->mixed : DISP_PASS;
    return d->disp;
}

enum disposition decide_level_action(const struct decide_input *in, bool accepted)
{
    struct decide_input level = *in;
    struct decision d;

    level.verdict = DISP_NONE;
    level.verdict_mixed = DISP_NONE;
    decide_rcpt(&level, &d);
    return accepted ? decide_applied(&d) : d.disp;
}

const char *decide_action_label(enum disposition d)
{
    switch (d) {
    case DISP_PASS: return "none";
    case DISP_TAG: return "tag";
    case DISP_MARK: return "subject";
    case DISP_QUARANTINE: return "quarantine";
    case DISP_DISCARD: return "discard";
    case DISP_REFUSE: return "refuse";
    default: return "other";
    }
}
