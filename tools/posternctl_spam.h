/*
 * posternctl_spam.h - `posternctl spam ...` (posternctl_spam.c): learn, forget, stats and
 * offline scoring with the daemon's code. The main program dispatches "spam" here.
 */
#ifndef POSTERN_TOOLS_POSTERNCTL_SPAM_H
#define POSTERN_TOOLS_POSTERNCTL_SPAM_H

struct relay_conf;

#define POSTERNCTL_SPAM_USAGE                                                              \
    "spam learn --spam|--ham [--max-features N] [--expire-days D] FILE|DIR|MBOX... | "    \
    "spam forget [--spam|--ham FILE|DIR|MBOX...] | spam stats [--json] | "                \
    "spam score [--json] [--level L] FILE...|-"

/* argv[0] is the subcommand ("learn", ...). Returns a sysexits code. */
int posternctl_spam(const struct relay_conf *c, int argc, char **argv);

#endif
