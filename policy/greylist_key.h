/*
 * greylist_key.h - the parts of a greylisting triplet, pure (no I/O): the client's
 * network and the normalized envelope sender.
 *
 * A retry of the same mail must map to the same triplet although big senders retry from
 * another address of the same pool and re-sign their envelope sender per attempt:
 *   - the client address becomes its network: IPv4 /24 and IPv6 /64 by default;
 *   - the sender is lower-cased; a BATV tag (prvs=TAG=local, btv1==TAG==local) and an
 *     SRS rewrite (SRS0=HASH=TT=domain=local@fwd, SRS1 too) are
 *     undone; a "+extension" is cut; every label of the local part that holds a digit
 *     (VERP ids, per-attempt counters) becomes "#".
 * The null sender stays "" (bounces are greylisted by client and recipient only).
 */
#ifndef POSTERN_POLICY_GREYLIST_KEY_H
#define POSTERN_POLICY_GREYLIST_KEY_H

#include <stddef.h>

/* The network of ip (IPv4 or IPv6 literal) with prefix lengths v4/v6, written as
 * "192.0.2.0/24" or "2001:db8:1:2::/64" into out. 0, or -1 when ip is not an address. */
int greylist_network(const char *ip, int v4_prefix, int v6_prefix, char *out, size_t outlen);

/* The normalized sender of an envelope address (without <>) into out (truncated to fit,
 * always NUL-terminated). */
void greylist_sender(const char *sender, char *out, size_t outlen);

#endif
