/*
 * bounce_refs.h - what a bounce refers to, pure (bytes in, no I/O): for backscatter
 * protection (policy/checks/check_backscatter.c).
 *
 * A real bounce or auto-reply to one of our users quotes the message it answers: DSNs
 * (RFC 3464) attach its header (text/rfc822-headers or message/rfc822), auto-replies set
 * In-Reply-To and References (RFC 5322 3.6.4). Backscatter answers a message we never
 * sent, so none of the Message-IDs it quotes is one we relayed.
 */
#ifndef POSTERN_POLICY_BOUNCE_REFS_H
#define POSTERN_POLICY_BOUNCE_REFS_H

#include <stdbool.h>
#include <stddef.h>

#define BOUNCE_ID_MAX  250     /* longest Message-ID kept, with its <> */
#define BOUNCE_IDS_MAX 16      /* Message-IDs looked up per message */

/* Does the header say the message is a delivery report or an automatic reply
 * (Content-Type multipart/report, Auto-Submitted other than "no", X-Autoreply,
 * Precedence auto_reply)? head is the header block (to the blank line or its end). */
bool bounce_header_is_auto(const char *head, size_t len);

/* The Message-IDs a whole message (header and body) quotes: the <...> tokens of the
 * header's In-Reply-To and References fields, and of every body line that starts
 * "Message-ID:", "In-Reply-To:" or "References:" (any case, continuation lines included:
 * quoted headers of DSNs and of forwarded messages), in order, without duplicates. The
 * message's own Message-ID is not one. Returns how many were written (at most max). */
size_t bounce_quoted_ids(const char *msg, size_t len, char ids[][BOUNCE_ID_MAX + 1],
                         size_t max);

/* The message's own Message-ID (the first Message-ID field of the header block) into
 * out; false when it has none. */
bool bounce_own_id(const char *head, size_t len, char out[BOUNCE_ID_MAX + 1]);

#endif
