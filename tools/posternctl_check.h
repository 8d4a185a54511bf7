/*
 * posternctl_check.h - `posternctl check` (posternctl_check.c): one message through a
 * profile's policy checks offline, with the daemon's engine. The main program dispatches
 * "check" here.
 */
#ifndef POSTERN_TOOLS_POSTERNCTL_CHECK_H
#define POSTERN_TOOLS_POSTERNCTL_CHECK_H

struct relay_conf;

#define POSTERNCTL_CHECK_USAGE                                                             \
    "check [--profile NAME] [--client IP] [--helo NAME] [--auth LOGIN] [--from ADDRESS] " \
    "--rcpt ADDRESS [--rcpt ADDRESS]... [--skip CHECK,...] [--no-redis] MESSAGE|-"

/* argv: the options and the message file, after the command word. The profile's
 * settings may be changed while it runs (--skip) and are restored. Returns a sysexits
 * code, or 1 when the message would be refused or deferred. */
int posternctl_check(struct relay_conf *c, int argc, char **argv);

#endif
