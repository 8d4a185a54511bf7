/*
 * admin_ops.h - the admin commands that read the spool or Redis, shared by posternctl and
 * the daemon (its admin socket and HTTP API).
 *
 *   queue [--json] | queue show ID [--json]     the queue, read from SPOOL/queue
 *   held list                                   recipients the policy held
 *   ratelimit show|reset USER [--json]          a user's rate-limit state
 *   greylist show|allow|forget IP|NETWORK       a client network's greylisting
 *   account show|suspend|release LOGIN [--drop-queued]  the compromised-account breaker
 *   suppress list LOGIN | add|remove LOGIN ADDR a newsletter sender's suppression list
 *   policy set|show|unset ADDRESS [KEY [VALUE]] per-user overrides
 *   webhooks [--json]                           endpoints and outbox counts
 *   quarantine list|show|message|release|delete the shared quarantine (admin_quar.h)
 *
 * Blocking (file reads, a blocking Redis connection with redis.timeout): posternctl calls
 * them directly; the daemon only on a worker thread. Output goes to `out`, the reason of a
 * failure to errout() (lib/errout.h). Returns a sysexits(3) code (EX_CTL_REFUSED: no such
 * message).
 */
#ifndef POSTERN_ADMIN_OPS_H
#define POSTERN_ADMIN_OPS_H

#include <stdio.h>

struct relay_conf;

#define EX_CTL_REFUSED 1          /* the request was understood and refused */

struct admin_op {
    const char *name;
    int min_args, max_args;       /* after the command word */
    int (*run)(const struct relay_conf *c, int argc, char **argv, FILE *out);
};

/* The op for a command line (argv[0] the command word), or NULL when it is none (the
 * daemon's own commands: flush, hold, webhooks retry, ...). */
const struct admin_op *admin_op_find(int argc, char **argv);

/* Run the command line; EX_USAGE when it is no op or has the wrong arguments. */
int admin_ops_run(const struct relay_conf *c, int argc, char **argv, FILE *out);

#endif
