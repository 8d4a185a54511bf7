/*
 * rcpt_list.h - a domain's list of valid recipients (domains.D.recipients_file), pure.
 *
 * File format: one entry per line, "#" starts a comment, blank lines are ignored:
 *   alice@example.test     that address
 *   bob                    the local part bob at the list's domain
 *   *                      every address (a domain that wants the other sources only)
 * Case-insensitive. A "+extension" is cut before lookup (alice+news@ is alice@).
 */
#ifndef POSTERN_POLICY_RCPT_LIST_H
#define POSTERN_POLICY_RCPT_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct rcpt_list;

/* Parse text (len bytes) into a list; never fails (bad lines are skipped and counted in
 * *skipped when not NULL). Free with rcpt_list_free. */
struct rcpt_list *rcpt_list_parse(const char *text, size_t len, size_t *skipped);
void rcpt_list_free(struct rcpt_list *l);

/* Is addr (local@domain) on the list? */
bool rcpt_list_has(const struct rcpt_list *l, const char *addr);

size_t rcpt_list_count(const struct rcpt_list *l);

/* The Redis keys of the other recipient sources of addr's domain (the caller frees):
 *   rcpt_learned_key   pt:rcpt:{DOMAIN}:learned   set of learned addresses (members:
 *                      redis_key_escape of the address); written by the submission side
 *                      of the check and by the queue after a successful delivery
 *   rcpt_callout_key   pt:rcpt:{DOMAIN}:co:ADDR   "1" valid / "0" unknown, with a TTL */
char *rcpt_learned_key(const char *addr);
char *rcpt_callout_key(const char *addr);

#endif
