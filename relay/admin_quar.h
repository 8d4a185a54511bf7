/*
 * admin_quar.h - the admin command `quarantine ...` (admin_quar.c): list, show, release and
 * delete quarantine entries through the shared index in Redis, so it works on any node; the
 * node that holds an entry carries out its release or delete (its job list pt:qj:{NODE}).
 * One of relay/admin_ops.c's commands: posternctl runs it next to the config, the daemon on
 * its worker pool for the admin socket and the HTTP API (/api/v1/quarantine...).
 */
#ifndef POSTERN_ADMIN_QUAR_H
#define POSTERN_ADMIN_QUAR_H

#include <stdio.h>

struct relay_conf;

#define ADMIN_QUAR_USAGE                                                                   \
    "quarantine list [--json] [--recipient ADDR | --domain DOMAIN] [--reason R] "          \
    "[--offset N] [--limit N] | quarantine show ID [--json] | quarantine message ID | "   \
    "quarantine release ID [--learn-ham] | quarantine delete ID"

/* argv[0] is "quarantine" (or its old name "held"), argv[1] the subcommand. Blocking (a
 * Redis connection of its own; a release or delete waits up to 30 s for the holder).
 * Output to out, reasons to errout(); returns a sysexits code (EX_DATAERR: no such entry,
 * EX_CTL_REFUSED: released or deleted already, EX_USAGE: bad arguments). */
int admin_quar_run(const struct relay_conf *c, int argc, char **argv, FILE *out);

#endif
