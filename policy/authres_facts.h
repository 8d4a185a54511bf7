/*
 * authres_facts.h - the one Authentication-Results field of a message, from the facts
 * the sender-authentication checks publish:
 *   authres.spf    "spf=pass smtp.mailfrom=a@example.com"          (policy/checks/check_spf.c)
 *   authres.dkim   "dkim=pass header.d=... ; dkim=fail ..."         (policy/checks/check_dkim.c)
 *   authres.dmarc  "dmarc=pass (p=reject ...) header.from=..."     (policy/checks/check_dmarc.c)
 * The DMARC check adds the field itself (check_header) when it runs; a session whose
 * profile runs SPF or DKIM without DMARC builds it with this function from
 * engine_fact(). Pure; any thread.
 */
#ifndef POSTERN_POLICY_AUTHRES_FACTS_H
#define POSTERN_POLICY_AUTHRES_FACTS_H

struct json_t;

/* The field value "HOSTNAME; spf=...; dkim=...; dmarc=..." (unfolded, no CR/LF) from the
 * facts that are strings (any may be NULL), or NULL when none is. Caller frees. */
char *authres_facts_value(const char *hostname, struct json_t *spf, struct json_t *dkim,
                          struct json_t *dmarc);

#endif
