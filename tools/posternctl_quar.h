/*
 * posternctl_quar.h - `posternctl quarantine ...` (posternctl_quar.c): list, show, release
 * and delete quarantine entries through the shared index in Redis, so it works on any node;
 * the node that holds an entry carries out its release or delete.
 */
#ifndef POSTERN_TOOLS_POSTERNCTL_QUAR_H
#define POSTERN_TOOLS_POSTERNCTL_QUAR_H

struct relay_conf;

#define POSTERNCTL_QUAR_USAGE                                                              \
    "quarantine list [--json] [--recipient ADDR] [--reason R] | quarantine show ID | "    \
    "quarantine release ID [--learn-ham] | quarantine delete ID"

/* argv[0] is the subcommand ("list", ...). Returns a sysexits code. */
int posternctl_quar(const struct relay_conf *c, int argc, char **argv);

#endif
